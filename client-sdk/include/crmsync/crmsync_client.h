/* C API of the crmsync client SDK, for apps in C and for mobile bindings
 * (Swift, Kotlin/JNI, Dart FFI). Link with libcrmsync-client (pkg-config
 * crmsync-client, or CMake find_package(crmsync-client) -> crmsync::client).
 *
 * Records: a write takes a `crmsync.v1.Record`, reads return
 * `crmsync.v1.RecordState` (proto/crmsync/v1, installed under
 * share/crmsync/proto). In which form is the handle's choice
 * (crmsync_options.record_format):
 *   CRMSYNC_FORMAT_PROTOBUF  serialized protobuf bytes; a list is a sequence
 *                            of length-delimited RecordStates (varint
 *                            length, then the bytes; crmsync_list_next walks
 *                            it)
 *   CRMSYNC_FORMAT_JSON      the proto3 JSON mapping, UTF-8, e.g.
 *                            {"lead":{"id":"l-1","lastName":"Lovelace"}};
 *                            a list is a JSON array; output buffers are
 *                            also NUL-terminated (size excludes the NUL)
 * Enums in JSON are names ("LEAD_STATUS_NEW"); numbers are accepted too.
 *
 * Errors: every function returns a crmsync_status (the gRPC/absl code
 * numbers); on failure crmsync_last_error() gives a message. No exception
 * ever crosses this boundary.
 *
 * Ownership: a crmsync_client* comes from crmsync_open and goes back through
 * crmsync_close. Buffers filled by the library are owned by the caller and
 * released with crmsync_buffer_free. Strings passed in are copied; strings
 * and pointers handed to callbacks are valid during the callback only.
 *
 * Blocking and threads: a handle may be used from several threads at once.
 * Writes, reads and queries block on local disk only (milliseconds; still,
 * keep them off a UI thread that must never stall). crmsync_sync_now and
 * crmsync_sign_in block on the network; crmsync_sync_start syncs on an SDK
 * thread instead. Callbacks run on SDK threads (or, for on_log and
 * on_auth_required, on the thread of the call that caused them); they must
 * return quickly and must not call crmsync_close, crmsync_sync_now,
 * crmsync_sync_stop or crmsync_sign_in (hand the work to another thread).
 *
 * ABI: options are passed in a struct whose first member is its size, set
 * by crmsync_options_init, so a program built against older headers keeps
 * working with a newer library of the same SONAME (libcrmsync-client.so.0).
 */
#ifndef CRMSYNC_CRMSYNC_CLIENT_H_
#define CRMSYNC_CRMSYNC_CLIENT_H_

#include <stddef.h>
#include <stdint.h>

#include "crmsync/crmsync_version.h"

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

/* Form of the records crossing the API (see the top of this file). */
typedef enum crmsync_format { CRMSYNC_FORMAT_PROTOBUF = 0, CRMSYNC_FORMAT_JSON = 1 } crmsync_format;

typedef enum crmsync_log_level {
  CRMSYNC_LOG_DEBUG = 0,
  CRMSYNC_LOG_INFO = 1,
  CRMSYNC_LOG_WARNING = 2,
  CRMSYNC_LOG_ERROR = 3
} crmsync_log_level;

/* A pushed edit the user should know about (conflict or rejection).
 * `result` is a crmsync.v1.MutationResult in the handle's record format
 * (JSON: NUL-terminated). Pointers are valid during the callback only. */
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
/* A record of the local view changed because of sync (not because of this
 * app's own writes); removed = 1 when it is gone (deleted, left scope,
 * erased). For refreshing what the UI shows. */
typedef void (*crmsync_change_fn)(void* user_data, int32_t entity_type, const char* record_id,
                                  int removed);
/* The server revoked the device and the local store was erased. */
typedef void (*crmsync_wiped_fn)(void* user_data);
/* A message of the SDK's log at or above options.log_level. */
typedef void (*crmsync_log_fn)(void* user_data, crmsync_log_level level, const char* message);
/* No access token can be had without the user: the stored refresh token was
 * refused (expired, device revoked) or there is none, and no password or
 * API key is at hand. Sync fails with CRMSYNC_UNAUTHENTICATED until the app
 * calls crmsync_sign_in (not from inside this callback). May be called once
 * per failed attempt. */
typedef void (*crmsync_auth_required_fn)(void* user_data, const char* message);

typedef struct crmsync_options {
  /* sizeof(crmsync_options) as the caller knows it; set by
   * crmsync_options_init. Required. */
  uint32_t struct_size;
  /* Required: path of the local store file. */
  const char* db_path;
  /* Encryption key (SQLCipher); NULL or "" = not encrypted. See
   * docs/client-sdk.md for where to keep it (platform keystore). */
  const char* key;
  /* Device id for a new store; NULL = generated. */
  const char* device_id;
  /* User id stamped on local edits (e.g. "u-alice"). */
  const char* user_id;
  /* Server "host:port"; NULL = no sync (local only). */
  const char* server_address;
  /* PEM of the server's CA; NULL = plaintext (development servers only). */
  const char* ca_pem;
  /* Sign-in (AuthService), in order of precedence:
   *   bearer_token       a fixed access token, sent as is
   *   api_key            store terminals: the tenant's terminal API key
   *   password           a person: signs in with tenant + username once;
   *                      the refresh token is kept in the local store and
   *                      renewed by itself, the password is not kept
   *   a stored refresh token (from an earlier password sign-in)
   *   none of these      the development identity (tenant, username) of
   *                      servers run with --dev-identity; with
   *                      sign_in_required = 1, on_auth_required instead */
  const char* tenant;
  const char* username;
  const char* password;
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
  /* Form of records (default CRMSYNC_FORMAT_PROTOBUF). */
  crmsync_format record_format;
  const char* api_key;
  /* 1 = never fall back to the development identity: without a password,
   * API key or stored refresh token, call on_auth_required. */
  int sign_in_required;
  crmsync_auth_required_fn on_auth_required;
  /* Sent with every request (the server's device list shows them);
   * NULL = "c-api" and "". */
  const char* platform;
  const char* app_version;
  crmsync_log_fn on_log;
  crmsync_log_level log_level; /* default CRMSYNC_LOG_INFO */
} crmsync_options;

/* Zeroes `options` and sets struct_size and the defaults. */
void crmsync_options_init(crmsync_options* options);

typedef enum crmsync_sync_state {
  CRMSYNC_STATE_IDLE = 0,
  CRMSYNC_STATE_SYNCING = 1,
  /* The server was unreachable; retrying with back-off. */
  CRMSYNC_STATE_BACKOFF = 2,
  /* The offline switch is on. */
  CRMSYNC_STATE_OFFLINE = 3,
  /* The last cycle failed for a reason retrying does not fix (see
   * last_error: sign-in required, upgrade required...). */
  CRMSYNC_STATE_FAILED = 4,
  CRMSYNC_STATE_WIPED = 5
} crmsync_sync_state;

typedef struct crmsync_progress {
  int32_t state; /* crmsync_sync_state */
  /* Counts of the current (or last) cycle. */
  int64_t pushed;
  int64_t pulled;
  /* Local edits not yet acknowledged by the server. */
  int64_t pending;
  int64_t cycles;
  int64_t resets;
  /* When a cycle last succeeded (Unix ms, kept across restarts); 0 = never. */
  int64_t last_success_ms;
  /* 1 while background sync holds a live stream to the server (changes made
   * elsewhere arrive within a second). */
  int32_t connected;
  /* Message of the last failure ("" after a successful cycle). */
  char last_error[256];
} crmsync_progress;

/* A notice about a pushed edit the user should see (crmsync_notices). */
typedef struct crmsync_notice {
  int64_t id;
  const char* kind; /* "conflict", "rejected", "merged", "wiped" */
  int32_t entity_type;
  const char* record_id;
  const char* message;
  int64_t at_ms;
  /* For "conflict": ids of the Conflict records the server opened. */
  const char* const* conflict_ids;
  size_t conflict_count;
} crmsync_notice;
typedef void (*crmsync_notice_fn)(void* user_data, const crmsync_notice* notice);

/* Version of the loaded library, e.g. "0.1.0" (the headers' version is
 * CRMSYNC_VERSION_STRING). */
const char* crmsync_version(void);

/* Message of the last failed call on this thread ("" if none). Valid until
 * the next call on this thread. */
const char* crmsync_last_error(void);

/* Opens (or creates) the local store; does not contact the server. */
crmsync_status crmsync_open(const crmsync_options* options, crmsync_client** out);
/* Stops sync and closes the store. NULL is allowed. */
void crmsync_close(crmsync_client* client);
void crmsync_buffer_free(crmsync_buffer* buffer);

/* Walks a list buffer of CRMSYNC_FORMAT_PROTOBUF: on success points item
 * (and item_size) at the next RecordState's bytes and advances *offset;
 * returns 0 at the end, -1 on a malformed buffer. */
int crmsync_list_next(const crmsync_buffer* list, size_t* offset, const uint8_t** item,
                      size_t* item_size);

/* ---- Local-first writes. Each updates the local view at once and queues
 * one mutation for sync, in one transaction (durable when it returns).
 * `record` is a crmsync.v1.Record in the handle's format (`size` bytes;
 * for JSON, size may be 0 for a NUL-terminated string). `out` (may be
 * NULL) receives the new local view, a RecordState. */
/* Creates a record; an empty id is filled with a new UUIDv7. ALREADY_EXISTS
 * if the id is taken locally. */
crmsync_status crmsync_create(crmsync_client* client, const void* record, size_t size,
                              crmsync_buffer* out);
/* Updates a held record (NOT_FOUND otherwise). Which fields change:
 *   JSON      the fields the entity object names, and only those
 *             ({"lead":{"id":"l-1","phone":"+33..."}} changes the phone;
 *             a field named with its default value, e.g. "", is cleared;
 *             custom fields one by one: {"lead":{"id":"l-1","custom":
 *             {"region":{"choice":"North"}}}} changes custom.region only,
 *             and {"region":{}} clears it)
 *   protobuf  every field whose value differs from the local view (protobuf
 *             bytes cannot tell an absent field from a cleared one: send
 *             the whole record, or name the fields with crmsync_apply) */
crmsync_status crmsync_update(crmsync_client* client, const void* record, size_t size,
                              crmsync_buffer* out);
crmsync_status crmsync_delete(crmsync_client* client, int32_t entity_type, const char* id);

/* Operations other than create/update/delete (crmsync.v1.Operation). */
typedef enum crmsync_operation {
  CRMSYNC_OP_UPSERT = 1,
  CRMSYNC_OP_DELETE = 2,
  /* Adds the counter deltas of `fields` (e.g. "points_balance"). */
  CRMSYNC_OP_INCREMENT = 3,
  /* Adds / removes the elements in the repeated fields of `record`. */
  CRMSYNC_OP_SET_ADD = 4,
  CRMSYNC_OP_SET_REMOVE = 5,
  /* Records a claim on a unique resource (a Redemption; see crmsync_redeem). */
  CRMSYNC_OP_REDEEM = 6,
  /* See crmsync_resolve_conflict. */
  CRMSYNC_OP_RESOLVE_CONFLICT = 7
} crmsync_operation;

typedef struct crmsync_edit {
  int32_t operation; /* crmsync_operation */
  /* The record edited: entity type and id. */
  int32_t entity_type;
  const char* record_id;
  /* Values (a crmsync.v1.Record in the handle's format); NULL for DELETE. */
  const void* record;
  size_t record_size;
  /* Comma-separated field paths the edit touches ("points_balance",
   * "amount,stage"); NULL or "" = every field that differs (UPSERT) or
   * every field set (REDEEM). */
  const char* fields;
  /* RESOLVE_CONFLICT: the Conflict record's id. */
  const char* conflict_id;
} crmsync_edit;

/* Any local-first edit (the generic form of the functions around it).
 * Merges go through crmsync_merge. */
crmsync_status crmsync_apply(crmsync_client* client, const crmsync_edit* edit, crmsync_buffer* out);

/* Merges record `merged_id` into the held record `survivor_id` (two leads,
 * contacts or accounts of one customer). Queued like any edit; the server
 * decides the survivor's fields (the more precise value wins;
 * `take_fields` / `keep_fields`, comma-separated top-level field names or
 * NULL, override that per field), moves activities, events and
 * opportunities to the survivor and leaves the other as a tombstone naming
 * it. The local view changes when the result and the next pull arrive.
 * NOT_FOUND if the survivor is not held. */
crmsync_status crmsync_merge(crmsync_client* client, int32_t entity_type, const char* survivor_id,
                             const char* merged_id, const char* take_fields,
                             const char* keep_fields);

/* Resolves a manual conflict on record (entity_type, record_id): `record`
 * holds the chosen value of the fields in `fields`; record = NULL and
 * fields = NULL dismiss it (the server's value stays). The Conflict record
 * closes on every device after the next sync. */
crmsync_status crmsync_resolve_conflict(crmsync_client* client, int32_t entity_type,
                                        const char* record_id, const char* conflict_id,
                                        const void* record, size_t size, const char* fields,
                                        crmsync_buffer* out);

/* Store terminals: records a PENDING Redemption of a coupon the store holds
 * (NOT_FOUND otherwise); the server confirms or rejects it at the next sync
 * against the coupon's limits and geofence (a rejection arrives through
 * on_rejected and the Redemption's status). `out` gets the Redemption. */
typedef struct crmsync_redeem_request {
  const char* coupon_id;          /* required */
  const char* store_id;           /* required */
  const char* loyalty_account_id; /* NULL = anonymous */
  double latitude;                /* the terminal's position, degrees */
  double longitude;
  double accuracy_m; /* GPS accuracy radius, >= 0 */
  const char* id;    /* NULL = generated */
} crmsync_redeem_request;
crmsync_status crmsync_redeem(crmsync_client* client, const crmsync_redeem_request* request,
                              crmsync_buffer* out);

/* Credits (delta > 0) or debits (delta < 0) a LoyaltyAccount's points. A
 * counter: concurrent terminals' changes add up; the server refuses a debit
 * that would take the balance below zero (on_rejected). */
crmsync_status crmsync_add_points(crmsync_client* client, const char* account_id, int64_t delta,
                                  crmsync_buffer* out);

/* ---- Reads and queries of the local view. */
crmsync_status crmsync_get(crmsync_client* client, int32_t entity_type, const char* id,
                           crmsync_buffer* out);
/* Live records of one type, ordered by id. */
crmsync_status crmsync_list(crmsync_client* client, int32_t entity_type, crmsync_buffer* out);
/* Live records of one type owned by a user (e.g. "u-alice"), by name. */
crmsync_status crmsync_list_by_owner(crmsync_client* client, int32_t entity_type,
                                     const char* owner_user_id, crmsync_buffer* out);
/* Live records (of entity_type; 0 = every type) changed, locally or by
 * sync, at or after since_ms (Unix ms), oldest change first; at most
 * `limit` (0 = all). */
crmsync_status crmsync_changed_since(crmsync_client* client, int32_t entity_type, int64_t since_ms,
                                     int32_t limit, crmsync_buffer* out);
crmsync_status crmsync_my_open_leads(crmsync_client* client, crmsync_buffer* out);
crmsync_status crmsync_opportunities_of_account(crmsync_client* client, const char* account_id,
                                                crmsync_buffer* out);
crmsync_status crmsync_todays_calendar(crmsync_client* client, int64_t now_ms,
                                       int32_t utc_offset_minutes, crmsync_buffer* out);
crmsync_status crmsync_search(crmsync_client* client, const char* text, crmsync_buffer* out);
/* Everything the device holds about an account, contact or lead
 * (activities, calendar events, opportunities, an account's contacts),
 * newest first, offline. `out` receives a crmsync.v1.GetTimelineResponse in
 * the handle's format (each item: the record, when, which channel);
 * `limit` items (0 = all) after skipping `offset`. */
crmsync_status crmsync_timeline(crmsync_client* client, int32_t entity_type, const char* id,
                                int32_t limit, int32_t offset, crmsync_buffer* out);
/* Coupons redeemable at now_ms whose geofence lies within radius_m of the
 * position (0: contains it), nearest first. */
crmsync_status crmsync_coupons_near(crmsync_client* client, double latitude, double longitude,
                                    double radius_m, int64_t now_ms, crmsync_buffer* out);

/* ---- Notices: conflicts, rejections and merges of this device's pushed
 * edits, kept until cleared. Calls fn once per notice, oldest first. */
crmsync_status crmsync_notices(crmsync_client* client, crmsync_notice_fn fn, void* user_data);
crmsync_status crmsync_clear_notices(crmsync_client* client);

/* ---- Sign-in (FAILED_PRECONDITION for a handle opened with bearer_token,
 * or without server_address). */
/* Signs in now (blocks on the network) and keeps the refresh token in the
 * local store; the password is not kept. UNAUTHENTICATED for a wrong
 * password, UNAVAILABLE when the server cannot be reached. */
crmsync_status crmsync_sign_in(crmsync_client* client, const char* username, const char* password);
/* Forgets the tokens (and the stored refresh token); sync then needs
 * crmsync_sign_in. Local data and unsent edits stay. */
crmsync_status crmsync_sign_out(crmsync_client* client);

/* ---- Sync (FAILED_PRECONDITION when opened without server_address). */
/* One blocking cycle: push, pull until caught up, verify. */
crmsync_status crmsync_sync_now(crmsync_client* client);
/* Lineage, online (blocks on the network): where the values of a record's
 * fields came from. `out` receives a crmsync.v1.GetFieldHistoryResponse in
 * the handle's format: the server's kept values, newest first, each with
 * its path, value, version, clock reading, channel, precision, author and
 * device, and whether it is the current value. `field` NULL or "" = every
 * field; `limit` 0 = all the server keeps per field. NOT_FOUND for a record
 * the user may not read (or deleted); INVALID_ARGUMENT for an unknown
 * field; UNAVAILABLE offline. */
crmsync_status crmsync_field_history(crmsync_client* client, int32_t entity_type, const char* id,
                                     const char* field, int32_t limit, crmsync_buffer* out);
/* Background sync: subscribe, push local writes soon, back off when down. */
crmsync_status crmsync_sync_start(crmsync_client* client);
crmsync_status crmsync_sync_stop(crmsync_client* client);
/* Cancels the cycle in progress at its next step. */
crmsync_status crmsync_sync_cancel(crmsync_client* client);
/* Progress and connection state; works without server_address too (state
 * idle, pending and last_success_ms from the store). */
crmsync_status crmsync_sync_progress(crmsync_client* client, crmsync_progress* out);
crmsync_status crmsync_pending_count(crmsync_client* client, int64_t* out);
/* The offline switch: 1 = never contact the server. Persisted. */
crmsync_status crmsync_set_offline(crmsync_client* client, int offline);

#ifdef __cplusplus
}
#endif

#endif /* CRMSYNC_CRMSYNC_CLIENT_H_ */
