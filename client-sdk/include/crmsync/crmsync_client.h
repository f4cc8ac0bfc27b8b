/* C API of the crmsync client SDK, for mobile bindings (Swift, Kotlin/JNI,
 * Dart FFI) and C programs.
 *
 * Records cross the boundary as serialized protobuf messages of the
 * crmsync.v1 API (proto/crmsync/v1): a write takes a `crmsync.v1.Record`,
 * reads return `crmsync.v1.RecordState`, lists return a sequence of
 * length-delimited RecordStates (varint length, then the bytes: the format
 * of protobuf's writeDelimitedTo / parseDelimitedFrom; crmsync_list_next
 * walks it in C).
 *
 * Errors: every function returns a crmsync_status (the gRPC/absl code
 * numbers); on failure crmsync_last_error() gives a message. No exception
 * ever crosses this boundary.
 *
 * Ownership: a crmsync_client* comes from crmsync_open and goes back through
 * crmsync_close. Buffers filled by the library are owned by the caller and
 * released with crmsync_buffer_free. Strings passed in are copied.
 *
 * Blocking and threads: a handle may be used from several threads at once.
 * Writes, reads and queries block on local disk only; crmsync_sync_now
 * blocks on the network (use crmsync_sync_start for background sync).
 * Callbacks run on SDK threads; they must not call crmsync_close,
 * crmsync_sync_now or crmsync_sync_stop.
 */
#ifndef CRMSYNC_CRMSYNC_CLIENT_H_
#define CRMSYNC_CRMSYNC_CLIENT_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum crmsync_status {
  CRMSYNC_OK = 0,
  CRMSYNC_CANCELLED = 1,
  CRMSYNC_UNKNOWN = 2,
  CRMSYNC_INVALID_ARGUMENT = 3,
  CRMSYNC_DEADLINE_EXCEEDED = 4,
  CRMSYNC_NOT_FOUND = 5,
  CRMSYNC_ALREADY_EXISTS = 6,
  CRMSYNC_PERMISSION_DENIED = 7,
  CRMSYNC_RESOURCE_EXHAUSTED = 8,
  /* Also: offline switch on, store wiped, upgrade required. */
  CRMSYNC_FAILED_PRECONDITION = 9,
  CRMSYNC_ABORTED = 10,
  CRMSYNC_INTERNAL = 13,
  /* The server could not be reached. */
  CRMSYNC_UNAVAILABLE = 14,
  CRMSYNC_DATA_LOSS = 15,
  CRMSYNC_UNAUTHENTICATED = 16
} crmsync_status;

/* Opaque handle: one local store and its sync engine. */
typedef struct crmsync_client crmsync_client;

/* Bytes owned by the caller once filled; free with crmsync_buffer_free. */
typedef struct crmsync_buffer {
  uint8_t* data;
  size_t size;
} crmsync_buffer;

/* A pushed edit the user should know about (conflict or rejection).
 * `result` is a serialized crmsync.v1.MutationResult. Pointers are valid
 * during the callback only. */
typedef struct crmsync_push_event {
  int32_t entity_type;
  const char* record_id;
  int32_t outcome;       /* crmsync.v1.MutationOutcome */
  int32_t reject_reason; /* crmsync.v1.RejectReason */
  const char* message;
  const uint8_t* result;
  size_t result_size;
} crmsync_push_event;

typedef void (*crmsync_push_event_fn)(void* user_data, const crmsync_push_event* event);
/* A record of the local view changed because of sync; removed = 1 when it
 * is gone (deleted, left scope, erased). */
typedef void (*crmsync_change_fn)(void* user_data, int32_t entity_type, const char* record_id,
                                  int removed);
/* The server revoked the device and the local store was erased. */
typedef void (*crmsync_wiped_fn)(void* user_data);

typedef struct crmsync_options {
  /* Required: path of the local store file. */
  const char* db_path;
  /* Encryption key; NULL or "" = not encrypted. */
  const char* key;
  /* Device id for a new store; NULL = generated. */
  const char* device_id;
  /* User id stamped on local edits (e.g. "u-alice"). */
  const char* user_id;
  /* Server "host:port"; NULL = no sync (local only). */
  const char* server_address;
  /* PEM of the server's CA; NULL = plaintext (development servers only). */
  const char* ca_pem;
  /* Tenant slug and username. With `password`, the SDK signs in through
   * AuthService and keeps its tokens fresh; without, they are sent as the
   * development identity (servers run with --dev-identity only). */
  const char* tenant;
  const char* username;
  const char* password;
  /* A fixed access token ("authorization: Bearer ..."); wins over the
   * above when set. */
  const char* bearer_token;
  /* Callbacks (each may be NULL) and their user data. */
  crmsync_push_event_fn on_conflict;
  crmsync_push_event_fn on_rejected;
  crmsync_change_fn on_change;
  crmsync_wiped_fn on_wiped;
  void* user_data;
  /* Client certificate chain and private key (PEM) for servers that require
   * one (mTLS, e.g. store terminals); NULL = none. Both or neither, and
   * only together with ca_pem. */
  const char* client_cert_pem;
  const char* client_key_pem;
} crmsync_options;

typedef struct crmsync_progress {
  /* 0 idle, 1 syncing, 2 backoff, 3 offline, 4 failed, 5 wiped. */
  int32_t state;
  int64_t pushed;
  int64_t pulled;
  int64_t pending;
  int64_t cycles;
  int64_t resets;
} crmsync_progress;

/* Message of the last failed call on this thread ("" if none). Valid until
 * the next call on this thread. */
const char* crmsync_last_error(void);

crmsync_status crmsync_open(const crmsync_options* options, crmsync_client** out);
/* Stops sync and closes the store. NULL is allowed. */
void crmsync_close(crmsync_client* client);
void crmsync_buffer_free(crmsync_buffer* buffer);

/* Walks a list buffer: on success points item (and item_size) at the next
 * RecordState's bytes and advances *offset; returns 0 at the end, -1 on a
 * malformed buffer. */
int crmsync_list_next(const crmsync_buffer* list, size_t* offset, const uint8_t** item,
                      size_t* item_size);

/* ---- Local-first writes (crmsync.v1.Record in, RecordState out; `out` may
 * be NULL). */
crmsync_status crmsync_create(crmsync_client* client, const void* record, size_t size,
                              crmsync_buffer* out);
crmsync_status crmsync_update(crmsync_client* client, const void* record, size_t size,
                              crmsync_buffer* out);
crmsync_status crmsync_delete(crmsync_client* client, int32_t entity_type, const char* id);

/* ---- Reads and queries of the local view. */
crmsync_status crmsync_get(crmsync_client* client, int32_t entity_type, const char* id,
                           crmsync_buffer* out);
crmsync_status crmsync_list(crmsync_client* client, int32_t entity_type, crmsync_buffer* out);
crmsync_status crmsync_my_open_leads(crmsync_client* client, crmsync_buffer* out);
crmsync_status crmsync_opportunities_of_account(crmsync_client* client, const char* account_id,
                                                crmsync_buffer* out);
crmsync_status crmsync_todays_calendar(crmsync_client* client, int64_t now_ms,
                                       int32_t utc_offset_minutes, crmsync_buffer* out);
crmsync_status crmsync_search(crmsync_client* client, const char* text, crmsync_buffer* out);
crmsync_status crmsync_coupons_near(crmsync_client* client, double latitude, double longitude,
                                    double radius_m, int64_t now_ms, crmsync_buffer* out);

/* ---- Sync (FAILED_PRECONDITION when opened without server_address). */
/* One blocking cycle: push, pull until caught up, verify. */
crmsync_status crmsync_sync_now(crmsync_client* client);
/* Background sync: subscribe, push local writes soon, back off when down. */
crmsync_status crmsync_sync_start(crmsync_client* client);
crmsync_status crmsync_sync_stop(crmsync_client* client);
/* Cancels the cycle in progress at its next step. */
crmsync_status crmsync_sync_cancel(crmsync_client* client);
crmsync_status crmsync_sync_progress(crmsync_client* client, crmsync_progress* out);
crmsync_status crmsync_pending_count(crmsync_client* client, int64_t* out);
/* The offline switch: 1 = never contact the server. Persisted. */
crmsync_status crmsync_set_offline(crmsync_client* client, int offline);

#ifdef __cplusplus
}
#endif

#endif /* CRMSYNC_CRMSYNC_CLIENT_H_ */
