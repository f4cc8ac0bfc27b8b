/* A field-sales app in C on the crmsync C API: sign in (once; afterwards
 * the refresh token kept in the encrypted store signs in), sync, list the
 * rep's open leads, edit one offline, sync again, print conflicts.
 *
 *   field_app --server HOST:PORT --store PATH --tenant T --user U
 *             [--password P] [--key K] [--ca CA.pem] [--phone NUMBER]
 *
 * Records are JSON (proto3 JSON mapping of crmsync.v1); a real app parses
 * them with its JSON library, this example only picks out a few strings.
 * Exit status: 0 on success, 1 when a call failed (its message on stderr). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <crmsync/crmsync_client.h>

#define ENTITY_TYPE_LEAD 12

static int fail(const char* what, crmsync_status s) {
  fprintf(stderr, "field_app: %s failed (status %d): %s\n", what, (int)s, crmsync_last_error());
  return 1;
}

/* Copies the string value of the first "key":"..." at or after `from` into
 * out; returns a pointer past it, or NULL. */
static const char* json_string(const char* from, const char* key, char* out, size_t size) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
  const char* p = strstr(from, pattern);
  if (p == NULL) return NULL;
  p += strlen(pattern);
  const char* end = strchr(p, '"');
  if (end == NULL) return NULL;
  size_t n = (size_t)(end - p) < size - 1 ? (size_t)(end - p) : size - 1;
  memcpy(out, p, n);
  out[n] = '\0';
  return end;
}

static void on_auth_required(void* user_data, const char* message) {
  (void)user_data;
  fprintf(stderr, "field_app: please sign in again (%s)\n", message);
}

static void on_log(void* user_data, crmsync_log_level level, const char* message) {
  (void)user_data;
  if (level >= CRMSYNC_LOG_WARNING) fprintf(stderr, "field_app: sdk: %s\n", message);
}

static void print_notice(void* user_data, const crmsync_notice* n) {
  (void)user_data;
  printf("notice: %s on %s: %s\n", n->kind, n->record_id, n->message);
  for (size_t i = 0; i < n->conflict_count; ++i) printf("  conflict %s\n", n->conflict_ids[i]);
}

int main(int argc, char** argv) {
  const char *server = NULL, *store = NULL, *tenant = NULL, *user = NULL, *password = NULL;
  const char *key = NULL, *ca = NULL, *phone = "+33 1 40 20 50 50";
  static const struct option long_options[] = {
      {"server", required_argument, NULL, 's'},   {"store", required_argument, NULL, 'd'},
      {"tenant", required_argument, NULL, 't'},   {"user", required_argument, NULL, 'u'},
      {"password", required_argument, NULL, 'p'}, {"key", required_argument, NULL, 'k'},
      {"ca", required_argument, NULL, 'c'},       {"phone", required_argument, NULL, 'n'},
      {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
  int opt;
  while ((opt = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
    switch (opt) {
      case 's': server = optarg; break;
      case 'd': store = optarg; break;
      case 't': tenant = optarg; break;
      case 'u': user = optarg; break;
      case 'p': password = optarg; break;
      case 'k': key = optarg; break;
      case 'c': ca = optarg; break;
      case 'n': phone = optarg; break;
      case 'h':
        printf(
            "usage: field_app --server HOST:PORT --store PATH --tenant T --user U\n"
            "                 [--password P] [--key K] [--ca CA.pem] [--phone NUMBER]\n");
        return 0;
      default: return 2;
    }
  }
  if (server == NULL || store == NULL || tenant == NULL || user == NULL) {
    fprintf(stderr, "field_app: --server, --store, --tenant and --user are required (--help)\n");
    return 2;
  }
  printf("crmsync %s\n", crmsync_version());

  char ca_pem[16384] = "";
  if (ca != NULL) {
    FILE* f = fopen(ca, "r");
    if (f == NULL) {
      perror(ca);
      return 2;
    }
    size_t n = fread(ca_pem, 1, sizeof ca_pem - 1, f);
    ca_pem[n] = '\0';
    fclose(f);
  }
  char user_id[128];
  snprintf(user_id, sizeof user_id, "u-%s", user);

  crmsync_options o;
  crmsync_options_init(&o);
  o.db_path = store;
  o.key = key;
  o.user_id = user_id;
  o.server_address = server;
  o.ca_pem = ca != NULL ? ca_pem : NULL;
  o.tenant = tenant;
  o.username = user;
  o.password = password; /* NULL after the first run: the stored token signs in */
  o.sign_in_required = 1;
  o.record_format = CRMSYNC_FORMAT_JSON;
  o.platform = "example";
  o.app_version = "1.0";
  o.on_auth_required = on_auth_required;
  o.on_log = on_log;
  crmsync_client* c = NULL;
  crmsync_status s = crmsync_open(&o, &c);
  if (s != CRMSYNC_OK) return fail("open", s);

  int rc = 1;
  crmsync_buffer leads = {0};
  if ((s = crmsync_sync_now(c)) != CRMSYNC_OK) {
    fail("sync", s);
    goto done;
  }
  if ((s = crmsync_my_open_leads(c, &leads)) != CRMSYNC_OK) {
    fail("list leads", s);
    goto done;
  }
  char first_id[128] = "", id[128], last[128];
  int count = 0;
  /* The array holds RecordStates: {"ref":{..,"id":".."},"data":{"lead":{..}},..}. */
  for (const char* p = (const char*)leads.data; (p = strstr(p, "{\"ref\":")) != NULL;) {
    if ((p = json_string(p, "id", id, sizeof id)) == NULL) break;
    if (json_string(p, "lastName", last, sizeof last) == NULL) last[0] = '\0';
    printf("lead %s %s\n", id, last);
    if (count++ == 0) snprintf(first_id, sizeof first_id, "%s", id);
  }
  printf("%d open leads\n", count);
  if (count == 0) {
    rc = 0;
    goto done;
  }

  /* Offline: the edit is visible at once and waits in the outbox. */
  crmsync_set_offline(c, 1);
  char json[512];
  snprintf(json, sizeof json, "{\"lead\":{\"id\":\"%s\",\"phone\":\"%s\"}}", first_id, phone);
  if ((s = crmsync_update(c, json, 0, NULL)) != CRMSYNC_OK) {
    fail("update", s);
    goto done;
  }
  int64_t pending = 0;
  crmsync_pending_count(c, &pending);
  printf("edited %s offline: phone %s, %lld pending\n", first_id, phone, (long long)pending);
  if ((s = crmsync_sync_now(c)) != CRMSYNC_FAILED_PRECONDITION) {
    fprintf(stderr, "field_app: sync while offline should be refused\n");
    goto done;
  }

  /* Back online: push, pull, and what the server said. */
  crmsync_set_offline(c, 0);
  if ((s = crmsync_sync_now(c)) != CRMSYNC_OK) {
    fail("sync", s);
    goto done;
  }
  crmsync_progress p;
  crmsync_sync_progress(c, &p);
  printf("synced: pushed %lld, %lld pending\n", (long long)p.pushed, (long long)p.pending);
  crmsync_notices(c, print_notice, NULL);
  rc = 0;

done:
  crmsync_buffer_free(&leads);
  crmsync_close(c);
  return rc;
}
