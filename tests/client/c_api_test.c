/* The C API exercised from C against a real crm-syncd (started here as a
 * child process on loopback with the demo tenant). Records are built and
 * read as raw protobuf bytes, as a binding without generated code would. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "c_test_support.h"
#include "crmsync/crmsync_client.h"

/* ---- Minimal protobuf writer / reader. */
typedef struct {
  uint8_t data[4096];
  size_t size;
} pb;

static void put_varint(pb* b, uint64_t v) {
  while (v >= 0x80) {
    b->data[b->size++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  b->data[b->size++] = (uint8_t)v;
}
static void put_bytes(pb* b, int field, const void* p, size_t n) {
  put_varint(b, ((uint64_t)field << 3) | 2);
  put_varint(b, n);
  memcpy(b->data + b->size, p, n);
  b->size += n;
}
static void put_string(pb* b, int field, const char* s) { put_bytes(b, field, s, strlen(s)); }
static void put_int(pb* b, int field, uint64_t v) {
  put_varint(b, ((uint64_t)field << 3) | 0);
  put_varint(b, v);
}
static int get_varint(const uint8_t* p, size_t n, size_t* pos, uint64_t* v) {
  int shift = 0;
  *v = 0;
  while (*pos < n && shift < 64) {
    uint8_t c = p[(*pos)++];
    *v |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) return 1;
    shift += 7;
  }
  return 0;
}
/* Finds length-delimited field `field` of a message; returns 1 if found. */
static int find_field(const uint8_t* p, size_t n, int field, const uint8_t** out, size_t* len) {
  size_t pos = 0;
  while (pos < n) {
    uint64_t key, v;
    if (!get_varint(p, n, &pos, &key)) return 0;
    switch (key & 7) {
      case 0:
        if (!get_varint(p, n, &pos, &v)) return 0;
        break;
      case 1: pos += 8; break;
      case 5: pos += 4; break;
      case 2:
        if (!get_varint(p, n, &pos, &v) || v > n - pos) return 0;
        if ((int)(key >> 3) == field) {
          *out = p + pos;
          *len = (size_t)v;
          return 1;
        }
        pos += (size_t)v;
        break;
      default: return 0;
    }
  }
  return 0;
}
static int contains(const uint8_t* p, size_t n, const char* s) { return test_count(p, n, s) > 0; }
static int count_list(const crmsync_buffer* list) {
  size_t off = 0;
  const uint8_t* item;
  size_t len;
  int n = 0, r;
  while ((r = crmsync_list_next(list, &off, &item, &len)) == 1) ++n;
  return r == 0 ? n : -1;
}

/* The Record (field 2 of RecordState) of `id`, plus `extra` appended: a
 * serialized message merges field by field, so appending sets fields. */
static int record_with(crmsync_client* c, int type, const char* id, const pb* extra, pb* out) {
  crmsync_buffer state = {0};
  if (crmsync_get(c, type, id, &state) != CRMSYNC_OK) return 0;
  const uint8_t* data;
  size_t len;
  int ok = find_field(state.data, state.size, 2, &data, &len);
  if (ok) {
    memcpy(out->data, data, len);
    out->size = len;
    memcpy(out->data + out->size, extra->data, extra->size);
    out->size += extra->size;
  }
  crmsync_buffer_free(&state);
  return ok;
}

/* ---- Callbacks. */
static int conflicts, rejections, changes;
static void on_conflict(void* u, const crmsync_push_event* e) {
  (void)u;
  if (e->outcome == 3) ++conflicts; /* MUTATION_OUTCOME_CONFLICT */
}
static void on_rejected(void* u, const crmsync_push_event* e) {
  (void)u;
  if (e->reject_reason == 3) ++rejections; /* REJECT_REASON_RECORD_DELETED */
}
static void on_change(void* u, int32_t type, const char* id, int removed) {
  (void)u;
  (void)type;
  (void)id;
  (void)removed;
  ++changes;
}

static crmsync_client* open_device(const char* dir, const char* address, const char* device,
                                   const char* user) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s.db", dir, device);
  char user_id[64];
  snprintf(user_id, sizeof user_id, "u-%s", user);
  crmsync_options o;
  crmsync_options_init(&o);
  o.db_path = path;
  o.key = "c-api-key";
  o.device_id = device;
  o.user_id = user_id;
  o.server_address = address;
  o.tenant = "demo";
  o.username = user;
  o.on_conflict = on_conflict;
  o.on_rejected = on_rejected;
  o.on_change = on_change;
  crmsync_client* c = NULL;
  CHECK(crmsync_open(&o, &c) == CRMSYNC_OK);
  return c;
}

int main(void) {
  char dir[256];
  if (!test_make_dir(dir, sizeof dir)) return 2;
  char address[64];
  if (!test_start_server(CRMSYNC_SYNCD_PATH, dir, 1, address, sizeof address)) {
    fprintf(stderr, "crm-syncd did not start\n");
    return 2;
  }
  crmsync_client* phone = open_device(dir, address, "c-phone", "alice");
  crmsync_client* tablet = open_device(dir, address, "c-tablet", "alice");
  if (phone == NULL || tablet == NULL) return 1;

  /* Bootstrap. */
  CHECK(crmsync_sync_now(phone) == CRMSYNC_OK);
  CHECK(crmsync_sync_now(tablet) == CRMSYNC_OK);
  crmsync_buffer list = {0};
  CHECK(crmsync_my_open_leads(phone, &list) == CRMSYNC_OK);
  CHECK(count_list(&list) == 3);
  crmsync_buffer_free(&list);
  CHECK(crmsync_search(phone, "Leroy", &list) == CRMSYNC_OK);
  CHECK(count_list(&list) == 3);
  crmsync_buffer_free(&list);
  CHECK(changes > 0);

  /* Create locally, visible at once, pushed by sync, pulled by the tablet. */
  pb lead = {{0}, 0}, record = {{0}, 0};
  put_string(&lead, 1, "lead-from-c");
  put_string(&lead, 2, "Ada");
  put_string(&lead, 3, "Lovelace");
  put_string(&lead, 10, "u-alice");
  put_bytes(&record, 12, lead.data, lead.size);
  crmsync_buffer state = {0};
  CHECK(crmsync_create(phone, record.data, record.size, &state) == CRMSYNC_OK);
  CHECK(contains(state.data, state.size, "Lovelace"));
  crmsync_buffer_free(&state);
  int64_t pending = -1;
  CHECK(crmsync_pending_count(phone, &pending) == CRMSYNC_OK && pending == 1);
  CHECK(crmsync_sync_now(phone) == CRMSYNC_OK);
  CHECK(crmsync_pending_count(phone, &pending) == CRMSYNC_OK && pending == 0);
  CHECK(crmsync_sync_now(tablet) == CRMSYNC_OK);
  CHECK(crmsync_get(tablet, 12, "lead-from-c", &state) == CRMSYNC_OK);
  CHECK(contains(state.data, state.size, "Lovelace"));
  crmsync_buffer_free(&state);

  /* Lineage, online: who set the first name, from which device. */
  crmsync_buffer history = {0};
  CHECK(crmsync_field_history(tablet, 12, "lead-from-c", "first_name", 0, &history) == CRMSYNC_OK);
  CHECK(contains(history.data, history.size, "Ada"));
  CHECK(contains(history.data, history.size, "c-phone"));
  CHECK(!contains(history.data, history.size, "Lovelace")); /* one field asked */
  crmsync_buffer_free(&history);
  CHECK(crmsync_field_history(tablet, 12, "lead-from-c", NULL, 0, &history) == CRMSYNC_OK);
  CHECK(contains(history.data, history.size, "Lovelace"));
  crmsync_buffer_free(&history);
  CHECK(crmsync_field_history(tablet, 12, "lead-from-c", "colour", 0, &history) ==
        CRMSYNC_INVALID_ARGUMENT);
  CHECK(strstr(crmsync_last_error(), "colour") != NULL);
  CHECK(crmsync_field_history(tablet, 12, "no-such-lead", NULL, 0, &history) == CRMSYNC_NOT_FOUND);
  CHECK(crmsync_field_history(tablet, 12, "lead-from-c", NULL, -1, &history) ==
        CRMSYNC_INVALID_ARGUMENT);

  /* The customer's timeline, offline: the demo account's contact and
   * opportunity, newest first; one item when asked for one. */
  crmsync_buffer timeline = {0};
  CHECK(crmsync_timeline(phone, 10, "acc-alice-1", 0, 0, &timeline) == CRMSYNC_OK);
  CHECK(contains(timeline.data, timeline.size, "opp-alice-1"));
  CHECK(contains(timeline.data, timeline.size, "con-alice-1"));
  crmsync_buffer_free(&timeline);
  CHECK(crmsync_timeline(phone, 10, "acc-alice-1", 1, 0, &timeline) == CRMSYNC_OK);
  CHECK(contains(timeline.data, timeline.size, "opp-alice-1") +
            contains(timeline.data, timeline.size, "con-alice-1") ==
        1);
  crmsync_buffer_free(&timeline);
  CHECK(crmsync_timeline(phone, 14, "act-1", 0, 0, &timeline) == CRMSYNC_INVALID_ARGUMENT);

  /* Merging duplicates: Ada entered again with her phone, merged into the
   * first lead at the next sync; the copy goes, the phone number stays. */
  pb again = {{0}, 0};
  put_string(&again, 1, "lead-from-c-2");
  put_string(&again, 2, "Ada");
  put_string(&again, 3, "Lovelace");
  put_string(&again, 6, "+44 20 7946 0000");
  put_string(&again, 10, "u-alice");
  record.size = 0;
  put_bytes(&record, 12, again.data, again.size);
  CHECK(crmsync_create(phone, record.data, record.size, NULL) == CRMSYNC_OK);
  CHECK(crmsync_merge(phone, 12, "lead-from-c", "lead-from-c-2", NULL, "first_name") == CRMSYNC_OK);
  CHECK(crmsync_merge(phone, 12, "lead-from-c", "", NULL, NULL) == CRMSYNC_INVALID_ARGUMENT);
  CHECK(crmsync_merge(phone, 12, "no-such-lead", "lead-from-c", NULL, NULL) == CRMSYNC_NOT_FOUND);
  CHECK(crmsync_merge(phone, 12, "lead-from-c", "lead-from-c-2", "no_such_field", NULL) ==
        CRMSYNC_INVALID_ARGUMENT);
  crmsync_edit merge_edit;
  memset(&merge_edit, 0, sizeof merge_edit);
  merge_edit.operation = 8; /* OPERATION_MERGE: only through crmsync_merge */
  merge_edit.entity_type = 12;
  merge_edit.record_id = "lead-from-c";
  CHECK(crmsync_apply(phone, &merge_edit, NULL) == CRMSYNC_INVALID_ARGUMENT);
  CHECK(crmsync_sync_now(phone) == CRMSYNC_OK);
  CHECK(crmsync_get(phone, 12, "lead-from-c-2", &state) == CRMSYNC_NOT_FOUND);
  CHECK(crmsync_get(phone, 12, "lead-from-c", &state) == CRMSYNC_OK);
  CHECK(contains(state.data, state.size, "+44 20 7946 0000"));
  crmsync_buffer_free(&state);

  /* Errors are codes with messages. */
  CHECK(crmsync_get(phone, 12, "no-such-lead", &state) == CRMSYNC_NOT_FOUND);
  CHECK(strlen(crmsync_last_error()) > 0);
  CHECK(crmsync_create(phone, "\xff\xff", 2, NULL) == CRMSYNC_INVALID_ARGUMENT);
  CHECK(crmsync_open(NULL, NULL) == CRMSYNC_INVALID_ARGUMENT);

  /* Manual conflict on the opportunity amount. */
  pb money = {{0}, 0}, opp = {{0}, 0}, extra = {{0}, 0};
  put_string(&money, 1, "EUR");
  put_int(&money, 2, 1300000);
  put_bytes(&opp, 5, money.data, money.size);
  put_bytes(&extra, 13, opp.data, opp.size);
  CHECK(record_with(phone, 13, "opp-alice-1", &extra, &record));
  CHECK(crmsync_update(phone, record.data, record.size, NULL) == CRMSYNC_OK);
  money.size = opp.size = extra.size = 0;
  put_string(&money, 1, "EUR");
  put_int(&money, 2, 1400000);
  put_bytes(&opp, 5, money.data, money.size);
  put_bytes(&extra, 13, opp.data, opp.size);
  CHECK(record_with(tablet, 13, "opp-alice-1", &extra, &record));
  CHECK(crmsync_update(tablet, record.data, record.size, NULL) == CRMSYNC_OK);
  CHECK(crmsync_sync_now(phone) == CRMSYNC_OK);
  CHECK(crmsync_sync_now(tablet) == CRMSYNC_OK);
  CHECK(conflicts == 1);

  /* Delete on the tablet wins over an offline edit on the phone. */
  CHECK(crmsync_delete(tablet, 12, "lead-alice-3") == CRMSYNC_OK);
  CHECK(crmsync_sync_now(tablet) == CRMSYNC_OK);
  CHECK(crmsync_set_offline(phone, 1) == CRMSYNC_OK);
  extra.size = lead.size = 0;
  put_string(&lead, 15, "edited offline");
  put_bytes(&extra, 12, lead.data, lead.size);
  CHECK(record_with(phone, 12, "lead-alice-3", &extra, &record));
  CHECK(crmsync_update(phone, record.data, record.size, NULL) == CRMSYNC_OK);
  CHECK(crmsync_sync_now(phone) == CRMSYNC_FAILED_PRECONDITION); /* offline */
  CHECK(crmsync_set_offline(phone, 0) == CRMSYNC_OK);
  CHECK(crmsync_sync_now(phone) == CRMSYNC_OK);
  CHECK(rejections == 1);
  CHECK(crmsync_get(phone, 12, "lead-alice-3", &state) == CRMSYNC_NOT_FOUND);

  crmsync_progress progress;
  CHECK(crmsync_sync_progress(phone, &progress) == CRMSYNC_OK);
  CHECK(progress.cycles >= 3 && progress.pending == 0);

  /* Background sync starts and stops cleanly. */
  CHECK(crmsync_sync_start(tablet) == CRMSYNC_OK);
  CHECK(crmsync_sync_stop(tablet) == CRMSYNC_OK);

  crmsync_close(phone);
  crmsync_close(tablet);

  /* The store is encrypted: the wrong key is refused. */
  char path[512];
  snprintf(path, sizeof path, "%s/c-phone.db", dir);
  crmsync_options wrong;
  crmsync_options_init(&wrong);
  wrong.db_path = path;
  wrong.key = "not-the-key";
  crmsync_client* c = NULL;
  CHECK(crmsync_open(&wrong, &c) == CRMSYNC_PERMISSION_DENIED);
  CHECK(c == NULL);

  /* A client certificate needs its key and TLS (mTLS servers). */
  crmsync_options half;
  crmsync_options_init(&half);
  snprintf(path, sizeof path, "%s/c-till.db", dir);
  half.db_path = path;
  half.server_address = address;
  half.ca_pem = "-----BEGIN CERTIFICATE-----\n";
  half.client_cert_pem = "-----BEGIN CERTIFICATE-----\n";
  CHECK(crmsync_open(&half, &c) == CRMSYNC_INVALID_ARGUMENT);
  CHECK(strstr(crmsync_last_error(), "client_key_pem") != NULL);
  CHECK(c == NULL);

  test_stop_server();
  test_remove_dir(dir);
  if (test_failures == 0) printf("c_api_test: all checks passed\n");
  return test_failures == 0 ? 0 : 1;
}
