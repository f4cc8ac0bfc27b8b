/* What an app and a till do through the C API, from C, against a real
 * crm-syncd with real sign-in (no development identity): records as JSON,
 * password sign-in kept as a refresh token in the encrypted store, sign-out
 * and the re-authentication callback, set edits, conflicts resolved from
 * the notices, owner and changed-since queries, the log callback and
 * progress; a till signs in with its API key, redeems a coupon and credits
 * and debits points. */
#define _GNU_SOURCE /* strptime, timegm */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "c_test_support.h"
#include "crmsync/crmsync_client.h"

enum {
  LEAD = 12,
  OPPORTUNITY = 13,
  CALENDAR_EVENT = 15,
  REDEMPTION = 17,
  LOYALTY = 18,
  CONFLICT = 19,
  CUSTOM_FIELD = 22
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int count_of(const crmsync_buffer* b, const char* needle) {
  return test_count(b->data, b->size, needle);
}

/* ---- Callbacks. */
typedef struct {
  int logs, debug_logs, auth_required, conflicts, rejected;
  char conflict_id[128];
  int notices;
} app_state;

static void on_log(void* u, crmsync_log_level level, const char* message) {
  app_state* s = (app_state*)u;
  ++s->logs;
  if (level == CRMSYNC_LOG_DEBUG) ++s->debug_logs;
  CHECK(message != NULL && message[0] != '\0');
}
static void on_auth_required(void* u, const char* message) {
  ++((app_state*)u)->auth_required;
  CHECK(strstr(message, "sign-in required") != NULL);
}
static void on_conflict(void* u, const crmsync_push_event* e) {
  app_state* s = (app_state*)u;
  ++s->conflicts;
  /* The result is JSON in a JSON handle. */
  CHECK(e->result_size > 0 && e->result[0] == '{');
}
static void on_rejected(void* u, const crmsync_push_event* e) {
  (void)e;
  ++((app_state*)u)->rejected;
}
static void on_notice(void* u, const crmsync_notice* n) {
  app_state* s = (app_state*)u;
  ++s->notices;
  if (strcmp(n->kind, "conflict") == 0 && n->conflict_count > 0) {
    snprintf(s->conflict_id, sizeof s->conflict_id, "%s", n->conflict_ids[0]);
  }
}

static crmsync_client* open_app(const char* dir, const char* address, const char* name,
                                const char* user, const char* password, app_state* state) {
  char path[512], user_id[64];
  snprintf(path, sizeof path, "%s/%s.db", dir, name);
  snprintf(user_id, sizeof user_id, "u-%s", user);
  crmsync_options o;
  crmsync_options_init(&o);
  o.db_path = path;
  o.key = "app-store-key";
  o.device_id = name;
  o.user_id = user_id;
  o.server_address = address;
  o.tenant = "demo";
  o.username = user;
  o.password = password;
  o.sign_in_required = 1;
  o.record_format = CRMSYNC_FORMAT_JSON;
  o.platform = "c-test";
  o.app_version = "9.9.9";
  o.on_log = on_log;
  o.log_level = CRMSYNC_LOG_DEBUG;
  o.on_auth_required = on_auth_required;
  o.on_conflict = on_conflict;
  o.on_rejected = on_rejected;
  o.user_data = state;
  crmsync_client* c = NULL;
  CHECK(crmsync_open(&o, &c) == CRMSYNC_OK);
  return c;
}

static void test_app(const char* dir, const char* address) {
  app_state phone_state, tablet_state;
  memset(&phone_state, 0, sizeof phone_state);
  memset(&tablet_state, 0, sizeof tablet_state);

  /* Password sign-in once; the store keeps the refresh token. */
  crmsync_client* phone =
      open_app(dir, address, "app-phone", "alice", "alice-demo-password", &phone_state);
  if (phone == NULL) return;
  CHECK(crmsync_sync_now(phone) == CRMSYNC_OK);
  CHECK(phone_state.debug_logs > 0);
  crmsync_progress p;
  CHECK(crmsync_sync_progress(phone, &p) == CRMSYNC_OK);
  CHECK(p.state == CRMSYNC_STATE_IDLE && p.pending == 0 && p.cycles == 1);
  CHECK(p.last_success_ms > now_ms() - 60000 && p.last_error[0] == '\0');
  crmsync_close(phone);

  /* Reopened without the password: the stored refresh token signs in. */
  phone = open_app(dir, address, "app-phone", "alice", NULL, &phone_state);
  if (phone == NULL) return;
  CHECK(crmsync_sync_progress(phone, &p) == CRMSYNC_OK);
  CHECK(p.last_success_ms > 0); /* kept across restarts */
  CHECK(crmsync_sync_now(phone) == CRMSYNC_OK);
  CHECK(phone_state.auth_required == 0);

  /* Queries as JSON arrays. */
  crmsync_buffer list = {0};
  CHECK(crmsync_list_by_owner(phone, LEAD, "u-alice", &list) == CRMSYNC_OK);
  CHECK(list.data[0] == '[' && list.data[list.size - 1] == ']' && list.data[list.size] == 0);
  CHECK(count_of(&list, "\"ref\":") == 3);
  crmsync_buffer_free(&list);
  CHECK(crmsync_list_by_owner(phone, LEAD, "u-nobody", &list) == CRMSYNC_OK);
  CHECK(list.size == 2 && memcmp(list.data, "[]", 2) == 0);
  crmsync_buffer_free(&list);

  /* A JSON create (size 0: NUL-terminated), then set edits on its tags. */
  const int64_t before = now_ms() - 1;
  crmsync_buffer state = {0};
  CHECK(crmsync_create(phone,
                       "{\"lead\":{\"id\":\"lead-json-1\",\"firstName\":\"Grace\","
                       "\"lastName\":\"Hopper\",\"ownerUserId\":\"u-alice\","
                       "\"status\":\"LEAD_STATUS_NEW\"}}",
                       0, &state) == CRMSYNC_OK);
  CHECK(count_of(&state, "\"lastName\":\"Hopper\"") == 1);
  crmsync_buffer_free(&state);
  crmsync_edit e;
  memset(&e, 0, sizeof e);
  e.operation = CRMSYNC_OP_SET_ADD;
  e.entity_type = LEAD;
  e.record_id = "lead-json-1";
  e.record = "{\"lead\":{\"id\":\"lead-json-1\",\"tags\":[\"vip\",\"fair-2026\"]}}";
  e.fields = "tags";
  CHECK(crmsync_apply(phone, &e, &state) == CRMSYNC_OK);
  CHECK(count_of(&state, "\"vip\"") == 1 && count_of(&state, "\"fair-2026\"") == 1);
  crmsync_buffer_free(&state);
  e.operation = CRMSYNC_OP_SET_REMOVE;
  e.record = "{\"lead\":{\"id\":\"lead-json-1\",\"tags\":[\"vip\"]}}";
  CHECK(crmsync_apply(phone, &e, &state) == CRMSYNC_OK);
  CHECK(count_of(&state, "\"vip\"") == 0 && count_of(&state, "\"fair-2026\"") == 1);
  crmsync_buffer_free(&state);

  /* Changed since: the new lead, not the ones synced before. */
  CHECK(crmsync_changed_since(phone, 0, before, 0, &list) == CRMSYNC_OK);
  CHECK(count_of(&list, "lead-json-1") > 0 && count_of(&list, "\"ref\":") == 1);
  crmsync_buffer_free(&list);
  CHECK(crmsync_changed_since(phone, LEAD, 0, 2, &list) == CRMSYNC_OK);
  CHECK(count_of(&list, "\"ref\":") == 2); /* the limit */
  crmsync_buffer_free(&list);

  int64_t pending = 0;
  CHECK(crmsync_pending_count(phone, &pending) == CRMSYNC_OK && pending == 3);
  CHECK(crmsync_sync_now(phone) == CRMSYNC_OK);
  CHECK(crmsync_pending_count(phone, &pending) == CRMSYNC_OK && pending == 0);

  /* A second device of Alice's edits the same amount: a manual conflict,
   * found in the notices and resolved from the phone. */
  crmsync_client* tablet =
      open_app(dir, address, "app-tablet", "alice", "alice-demo-password", &tablet_state);
  if (tablet == NULL) return;
  CHECK(crmsync_sync_now(tablet) == CRMSYNC_OK);
  CHECK(crmsync_get(tablet, LEAD, "lead-json-1", &state) == CRMSYNC_OK);
  CHECK(count_of(&state, "\"tags\":[\"fair-2026\"]") == 1 && count_of(&state, "\"vip\"") == 0);
  crmsync_buffer_free(&state);
  CHECK(crmsync_update(tablet,
                       "{\"opportunity\":{\"id\":\"opp-alice-1\",\"amount\":"
                       "{\"currencyCode\":\"EUR\",\"amountMinor\":\"1400000\"}}}",
                       0, NULL) == CRMSYNC_OK);
  CHECK(crmsync_update(phone,
                       "{\"opportunity\":{\"id\":\"opp-alice-1\",\"amount\":"
                       "{\"currencyCode\":\"EUR\",\"amountMinor\":\"1300000\"}}}",
                       0, NULL) == CRMSYNC_OK);
  CHECK(crmsync_sync_now(tablet) == CRMSYNC_OK);
  CHECK(crmsync_sync_now(phone) == CRMSYNC_OK);
  CHECK(phone_state.conflicts == 1);
  CHECK(crmsync_notices(phone, on_notice, &phone_state) == CRMSYNC_OK);
  CHECK(phone_state.notices == 1 && phone_state.conflict_id[0] != '\0');
  CHECK(crmsync_get(phone, CONFLICT, phone_state.conflict_id, &state) == CRMSYNC_OK);
  CHECK(count_of(&state, "CONFLICT_STATUS_OPEN") == 1);
  crmsync_buffer_free(&state);
  CHECK(crmsync_resolve_conflict(phone, OPPORTUNITY, "opp-alice-1", phone_state.conflict_id,
                                 "{\"opportunity\":{\"id\":\"opp-alice-1\",\"amount\":"
                                 "{\"currencyCode\":\"EUR\",\"amountMinor\":\"1350000\"}}}",
                                 0, "amount", NULL) == CRMSYNC_OK);
  CHECK(crmsync_sync_now(phone) == CRMSYNC_OK);
  CHECK(crmsync_sync_now(tablet) == CRMSYNC_OK);
  CHECK(crmsync_get(tablet, OPPORTUNITY, "opp-alice-1", &state) == CRMSYNC_OK);
  CHECK(count_of(&state, "\"amountMinor\":\"1350000\"") == 1);
  crmsync_buffer_free(&state);
  CHECK(crmsync_get(tablet, CONFLICT, phone_state.conflict_id, &state) == CRMSYNC_OK);
  CHECK(count_of(&state, "CONFLICT_STATUS_RESOLVED") == 1);
  crmsync_buffer_free(&state);
  /* The resolved conflict's notice went away by itself. */
  phone_state.notices = 0;
  CHECK(crmsync_notices(phone, on_notice, &phone_state) == CRMSYNC_OK);
  CHECK(phone_state.notices == 0);
  CHECK(crmsync_clear_notices(phone) == CRMSYNC_OK);

  /* The other queries of the local view. */
  CHECK(crmsync_list(phone, LEAD, &list) == CRMSYNC_OK);
  CHECK(count_of(&list, "\"id\":\"lead-json-1\"") > 0);
  crmsync_buffer_free(&list);
  CHECK(crmsync_opportunities_of_account(phone, "acc-alice-1", &list) == CRMSYNC_OK);
  CHECK(count_of(&list, "\"id\":\"opp-alice-1\"") > 0);
  crmsync_buffer_free(&list);
  /* The calendar of the day the demo event starts. */
  CHECK(crmsync_get(phone, CALENDAR_EVENT, "cal-alice-1", &state) == CRMSYNC_OK);
  const char* starts = strstr((const char*)state.data, "\"startsAt\":\"");
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  CHECK(starts != NULL && strptime(starts + 12, "%Y-%m-%dT%H:%M:%S", &tm) != NULL);
  const int64_t event_ms = (int64_t)timegm(&tm) * 1000;
  crmsync_buffer_free(&state);
  CHECK(crmsync_todays_calendar(phone, event_ms, 0, &list) == CRMSYNC_OK);
  CHECK(count_of(&list, "\"id\":\"cal-alice-1\"") > 0);
  crmsync_buffer_free(&list);
  CHECK(crmsync_search(phone, "Hopper", &list) == CRMSYNC_OK);
  CHECK(count_of(&list, "\"ref\":") == 1);
  crmsync_buffer_free(&list);
  /* A cancel with no cycle running does not stick to the next one. */
  CHECK(crmsync_sync_cancel(phone) == CRMSYNC_OK);
  CHECK(crmsync_sync_now(phone) == CRMSYNC_OK);

  /* Bad input is refused with a message and changes nothing. */
  CHECK(crmsync_create(phone, "{\"lead\":", 0, NULL) == CRMSYNC_INVALID_ARGUMENT);
  CHECK(strstr(crmsync_last_error(), "JSON") != NULL);
  CHECK(crmsync_create(phone, "{\"lead\":{\"noSuchField\":1}}", 0, NULL) ==
        CRMSYNC_INVALID_ARGUMENT);
  CHECK(crmsync_list(phone, 999, &list) == CRMSYNC_INVALID_ARGUMENT);
  CHECK(strstr(crmsync_last_error(), "999") != NULL);
  memset(&e, 0, sizeof e);
  e.operation = 42;
  CHECK(crmsync_apply(phone, &e, NULL) == CRMSYNC_INVALID_ARGUMENT);
  CHECK(crmsync_pending_count(phone, &pending) == CRMSYNC_OK && pending == 0);

  /* Signed out: sync needs the user, and says so through the callback. */
  CHECK(crmsync_sign_out(phone) == CRMSYNC_OK);
  CHECK(crmsync_sync_now(phone) == CRMSYNC_UNAUTHENTICATED);
  CHECK(phone_state.auth_required == 1);
  CHECK(crmsync_sync_progress(phone, &p) == CRMSYNC_OK);
  CHECK(p.state == CRMSYNC_STATE_FAILED && strstr(p.last_error, "sign-in required") != NULL);
  CHECK(crmsync_sign_in(phone, "alice", "wrong-password") == CRMSYNC_UNAUTHENTICATED);
  CHECK(crmsync_sign_in(phone, "alice", "alice-demo-password") == CRMSYNC_OK);
  CHECK(crmsync_sync_now(phone) == CRMSYNC_OK);
  crmsync_close(phone);
  /* ... and the new refresh token was stored too. */
  phone = open_app(dir, address, "app-phone", "alice", NULL, &phone_state);
  CHECK(phone != NULL && crmsync_sync_now(phone) == CRMSYNC_OK);
  CHECK(phone_state.auth_required == 1);

  /* Background sync reports its live connection. */
  CHECK(crmsync_sync_start(tablet) == CRMSYNC_OK);
  for (int i = 0; i < 500; ++i) { /* up to 10 s */
    CHECK(crmsync_sync_progress(tablet, &p) == CRMSYNC_OK);
    if (p.connected) break;
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  CHECK(p.connected == 1);
  CHECK(crmsync_sync_stop(tablet) == CRMSYNC_OK);
  CHECK(crmsync_sync_progress(tablet, &p) == CRMSYNC_OK);
  CHECK(p.connected == 0);
  crmsync_close(tablet);
  crmsync_close(phone);
}

static void test_till(const char* dir, const char* address) {
  app_state till_state;
  memset(&till_state, 0, sizeof till_state);
  char path[512];
  snprintf(path, sizeof path, "%s/till.db", dir);
  crmsync_options o;
  crmsync_options_init(&o);
  o.db_path = path;
  o.key = "till-key";
  o.device_id = "till-c-1";
  o.user_id = "u-till-paris";
  o.server_address = address;
  o.tenant = "demo";
  o.api_key = "crmk.demo-till.demo-till-secret-not-for-production";
  o.on_rejected = on_rejected;
  o.user_data = &till_state;
  crmsync_client* till = NULL;
  CHECK(crmsync_open(&o, &till) == CRMSYNC_OK);
  if (till == NULL) return;
  CHECK(crmsync_sync_now(till) == CRMSYNC_OK);

  /* Protobuf handle: a list walks with crmsync_list_next. */
  crmsync_buffer list = {0};
  CHECK(crmsync_coupons_near(till, 48.8606, 2.3376, 0, now_ms(), &list) == CRMSYNC_OK);
  size_t off = 0, len = 0;
  const uint8_t* item = NULL;
  int coupons = 0;
  while (crmsync_list_next(&list, &off, &item, &len) == 1) ++coupons;
  CHECK(coupons >= 1);
  crmsync_buffer_free(&list);

  crmsync_redeem_request r;
  memset(&r, 0, sizeof r);
  r.coupon_id = "coupon-welcome";
  r.store_id = "store-paris";
  r.loyalty_account_id = "loyalty-0001";
  r.latitude = 48.8606;
  r.longitude = 2.3376;
  r.accuracy_m = 15;
  r.id = "red-c-1";
  crmsync_buffer state = {0};
  CHECK(crmsync_redeem(till, &r, &state) == CRMSYNC_OK);
  CHECK(test_count(state.data, state.size, "red-c-1") > 0);
  crmsync_buffer_free(&state);
  r.coupon_id = "coupon-not-held";
  r.id = NULL;
  CHECK(crmsync_redeem(till, &r, NULL) == CRMSYNC_NOT_FOUND);
  r.coupon_id = "coupon-welcome";
  r.latitude = 123;
  CHECK(crmsync_redeem(till, &r, NULL) == CRMSYNC_INVALID_ARGUMENT);

  CHECK(crmsync_add_points(till, "loyalty-0001", 50, NULL) == CRMSYNC_OK);
  CHECK(crmsync_add_points(till, "loyalty-0001", 0, NULL) == CRMSYNC_INVALID_ARGUMENT);
  CHECK(crmsync_add_points(till, "no-such-card", 5, NULL) == CRMSYNC_NOT_FOUND);
  CHECK(crmsync_sync_now(till) == CRMSYNC_OK);
  CHECK(till_state.rejected == 0);
  /* The server accepted the redemption. */
  crmsync_client* json = NULL;
  crmsync_close(till);
  o.record_format = CRMSYNC_FORMAT_JSON;
  CHECK(crmsync_open(&o, &json) == CRMSYNC_OK);
  if (json == NULL) return;
  CHECK(crmsync_get(json, REDEMPTION, "red-c-1", &state) == CRMSYNC_OK);
  CHECK(test_count(state.data, state.size, "REDEMPTION_STATUS_ACCEPTED") == 1);
  crmsync_buffer_free(&state);
  CHECK(crmsync_get(json, LOYALTY, "loyalty-0001", &state) == CRMSYNC_OK);
  char* balance = strstr((char*)state.data, "\"pointsBalance\":\"");
  CHECK(balance != NULL);
  long points = balance != NULL ? strtol(balance + strlen("\"pointsBalance\":\""), NULL, 10) : 0;
  crmsync_buffer_free(&state);
  /* A debit below zero is refused by the server, and the app is told. */
  CHECK(crmsync_add_points(json, "loyalty-0001", -(points + 1), NULL) == CRMSYNC_OK);
  CHECK(crmsync_sync_now(json) == CRMSYNC_OK);
  CHECK(till_state.rejected == 1);
  crmsync_close(json);
}

/* Custom fields through the C API: an admin's app defines one (a
 * CustomField record, reference data), a rep's app receives the definition,
 * writes the field in JSON, entry by entry, and another of her devices
 * reads it; a value the definition refuses comes back as a rejection. */
static void test_custom_fields(const char* dir, const char* address) {
  app_state admin_state, phone_state, tablet_state;
  memset(&admin_state, 0, sizeof admin_state);
  memset(&phone_state, 0, sizeof phone_state);
  memset(&tablet_state, 0, sizeof tablet_state);
  crmsync_client* admin =
      open_app(dir, address, "app-admin", "admin", "admin-demo-password", &admin_state);
  if (admin == NULL) return;
  CHECK(crmsync_create(admin,
                       "{\"customField\":{\"id\":\"lead.region\",\"entityType\":"
                       "\"ENTITY_TYPE_LEAD\",\"name\":\"region\",\"kind\":"
                       "\"CUSTOM_FIELD_KIND_ONE_OF\",\"options\":[\"North\",\"South\"],"
                       "\"label\":\"Sales region\"}}",
                       0, NULL) == CRMSYNC_OK);
  CHECK(crmsync_sync_now(admin) == CRMSYNC_OK);
  CHECK(admin_state.rejected == 0);
  crmsync_close(admin);

  crmsync_client* phone =
      open_app(dir, address, "app-phone-cf", "alice", "alice-demo-password", &phone_state);
  if (phone == NULL) return;
  CHECK(crmsync_sync_now(phone) == CRMSYNC_OK);
  crmsync_buffer buf = {0};
  CHECK(crmsync_get(phone, CUSTOM_FIELD, "lead.region", &buf) == CRMSYNC_OK);
  CHECK(count_of(&buf, "\"Sales region\"") == 1);
  crmsync_buffer_free(&buf);
  CHECK(crmsync_create(phone,
                       "{\"lead\":{\"id\":\"lead-cf-1\",\"lastName\":\"Ames\","
                       "\"ownerUserId\":\"u-alice\",\"custom\":{\"region\":{\"choice\":"
                       "\"North\"}}}}",
                       0, NULL) == CRMSYNC_OK);
  CHECK(crmsync_sync_now(phone) == CRMSYNC_OK);
  /* An update naming one entry changes that field only. */
  CHECK(crmsync_update(phone,
                       "{\"lead\":{\"id\":\"lead-cf-1\",\"custom\":{\"region\":"
                       "{\"choice\":\"South\"}}}}",
                       0, NULL) == CRMSYNC_OK);
  CHECK(crmsync_sync_now(phone) == CRMSYNC_OK);
  CHECK(phone_state.rejected == 0);

  crmsync_client* tablet =
      open_app(dir, address, "app-tablet-cf", "alice", "alice-demo-password", &tablet_state);
  if (tablet == NULL) {
    crmsync_close(phone);
    return;
  }
  CHECK(crmsync_sync_now(tablet) == CRMSYNC_OK);
  CHECK(crmsync_get(tablet, LEAD, "lead-cf-1", &buf) == CRMSYNC_OK);
  CHECK(count_of(&buf, "\"choice\":\"South\"") == 1);
  CHECK(count_of(&buf, "\"lastName\":\"Ames\"") == 1);
  crmsync_buffer_free(&buf);
  CHECK(crmsync_update(tablet,
                       "{\"lead\":{\"id\":\"lead-cf-1\",\"custom\":{\"region\":"
                       "{\"choice\":\"Mars\"}}}}",
                       0, NULL) == CRMSYNC_OK);
  CHECK(crmsync_sync_now(tablet) == CRMSYNC_OK);
  CHECK(tablet_state.rejected == 1);
  crmsync_close(tablet);
  crmsync_close(phone);
}

int main(void) {
  CHECK(strcmp(crmsync_version(), CRMSYNC_VERSION_STRING) == 0);
  crmsync_options o;
  memset(&o, 0, sizeof o);
  crmsync_client* c = NULL;
  o.db_path = "/nonexistent/x.db";
  CHECK(crmsync_open(&o, &c) == CRMSYNC_INVALID_ARGUMENT);
  CHECK(strstr(crmsync_last_error(), "crmsync_options_init") != NULL);

  char dir[256];
  if (!test_make_dir(dir, sizeof dir)) return 2;
  char address[64];
  if (!test_start_server(CRMSYNC_SYNCD_PATH, dir, 0, address, sizeof address)) {
    fprintf(stderr, "crm-syncd did not start\n");
    return 2;
  }
  test_app(dir, address);
  test_till(dir, address);
  test_custom_fields(dir, address);
  test_stop_server();
  if (test_failures == 0) test_remove_dir(dir);
  if (test_failures == 0) printf("c_api_app_test: all checks passed\n");
  return test_failures == 0 ? 0 : 1;
}
