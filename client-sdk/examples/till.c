/* A store till in C on the crmsync C API: signs in with the store's API
 * key, syncs, lists the coupons redeemable where it stands, redeems one for
 * a customer and credits points, offline-first, then syncs and prints the
 * server's verdict.
 *
 *   till --server HOST:PORT --store PATH --tenant T --api-key KEY
 *        --store-id S --coupon C --customer LOYALTY_ID --at LAT,LON
 *        [--points N] [--ca CA.pem [--cert TILL.pem --key TILL.key]]
 *
 * --cert and --key: the till's client certificate, for servers that require
 * one (mTLS, crm-syncd --tls-client-ca).
 *
 * Exit status: 0 when the redemption was accepted, 1 otherwise. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <crmsync/crmsync_client.h>

#define ENTITY_TYPE_REDEMPTION 17
#define ENTITY_TYPE_LOYALTY_ACCOUNT 18

static int fail(const char* what, crmsync_status s) {
  fprintf(stderr, "till: %s failed (status %d): %s\n", what, (int)s, crmsync_last_error());
  return 1;
}

/* Reads a PEM file into buf (NUL-terminated); 0 on failure. */
static int read_file(const char* path, char* buf, size_t size) {
  FILE* f = fopen(path, "r");
  if (f == NULL) {
    perror(path);
    return 0;
  }
  size_t n = fread(buf, 1, size - 1, f);
  buf[n] = '\0';
  fclose(f);
  return 1;
}

static void on_rejected(void* user_data, const crmsync_push_event* e) {
  (void)user_data;
  printf("rejected by the server: %s %s\n", e->record_id, e->message);
}

int main(int argc, char** argv) {
  const char *server = NULL, *store = NULL, *tenant = NULL, *api_key = NULL, *store_id = NULL;
  const char *coupon = NULL, *customer = NULL, *at = NULL, *ca = NULL, *cert = NULL, *key = NULL;
  long points = 10;
  static const struct option long_options[] = {
      {"server", required_argument, NULL, 's'},   {"store", required_argument, NULL, 'd'},
      {"tenant", required_argument, NULL, 't'},   {"api-key", required_argument, NULL, 'k'},
      {"store-id", required_argument, NULL, 'i'}, {"coupon", required_argument, NULL, 'c'},
      {"customer", required_argument, NULL, 'u'}, {"at", required_argument, NULL, 'a'},
      {"points", required_argument, NULL, 'p'},   {"ca", required_argument, NULL, 'C'},
      {"cert", required_argument, NULL, 'E'},     {"key", required_argument, NULL, 'K'},
      {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
  int opt;
  while ((opt = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
    switch (opt) {
      case 's': server = optarg; break;
      case 'd': store = optarg; break;
      case 't': tenant = optarg; break;
      case 'k': api_key = optarg; break;
      case 'i': store_id = optarg; break;
      case 'c': coupon = optarg; break;
      case 'u': customer = optarg; break;
      case 'a': at = optarg; break;
      case 'p': points = strtol(optarg, NULL, 10); break;
      case 'C': ca = optarg; break;
      case 'E': cert = optarg; break;
      case 'K': key = optarg; break;
      case 'h':
        printf(
            "usage: till --server HOST:PORT --store PATH --tenant T --api-key KEY\n"
            "            --store-id S --coupon C --customer LOYALTY_ID --at LAT,LON\n"
            "            [--points N] [--ca CA.pem]\n");
        return 0;
      default: return 2;
    }
  }
  double lat = 0, lon = 0;
  if (server == NULL || store == NULL || tenant == NULL || api_key == NULL || store_id == NULL ||
      coupon == NULL || customer == NULL || at == NULL || sscanf(at, "%lf,%lf", &lat, &lon) != 2) {
    fprintf(stderr, "till: missing or malformed options (--help)\n");
    return 2;
  }
  static char ca_pem[16384], cert_pem[16384], key_pem[16384];
  if ((ca != NULL && !read_file(ca, ca_pem, sizeof ca_pem)) ||
      (cert != NULL && !read_file(cert, cert_pem, sizeof cert_pem)) ||
      (key != NULL && !read_file(key, key_pem, sizeof key_pem))) {
    return 2;
  }

  crmsync_options o;
  crmsync_options_init(&o);
  o.db_path = store;
  o.server_address = server;
  o.ca_pem = ca != NULL ? ca_pem : NULL;
  o.client_cert_pem = cert != NULL ? cert_pem : NULL;
  o.client_key_pem = key != NULL ? key_pem : NULL;
  o.tenant = tenant;
  o.api_key = api_key;
  o.record_format = CRMSYNC_FORMAT_JSON;
  o.platform = "till-example";
  o.on_rejected = on_rejected;
  crmsync_client* c = NULL;
  crmsync_status s = crmsync_open(&o, &c);
  if (s != CRMSYNC_OK) return fail("open", s);
  int rc = 1;
  if ((s = crmsync_sync_now(c)) != CRMSYNC_OK) {
    fail("sync", s);
    goto done;
  }

  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  crmsync_buffer coupons = {0};
  if ((s = crmsync_coupons_near(c, lat, lon, 0, (int64_t)now.tv_sec * 1000, &coupons)) !=
      CRMSYNC_OK) {
    fail("coupons near", s);
    goto done;
  }
  printf("coupons here: %s\n", (const char*)coupons.data);
  crmsync_buffer_free(&coupons);

  /* Both are queued locally and work without a network. */
  crmsync_redeem_request r;
  memset(&r, 0, sizeof r);
  r.coupon_id = coupon;
  r.store_id = store_id;
  r.loyalty_account_id = customer;
  r.latitude = lat;
  r.longitude = lon;
  r.accuracy_m = 20;
  crmsync_buffer redemption = {0};
  if ((s = crmsync_redeem(c, &r, &redemption)) != CRMSYNC_OK) {
    fail("redeem", s);
    goto done;
  }
  char id[256] = "";
  const char* p = strstr((const char*)redemption.data, "\"id\":\"");
  if (p != NULL) sscanf(p + 6, "%255[^\"]", id);
  crmsync_buffer_free(&redemption);
  printf("redemption %s queued\n", id);
  if ((s = crmsync_add_points(c, customer, points, NULL)) != CRMSYNC_OK) {
    fail("points", s);
    goto done;
  }

  if ((s = crmsync_sync_now(c)) != CRMSYNC_OK) {
    fail("sync", s);
    goto done;
  }
  crmsync_buffer state = {0};
  if ((s = crmsync_get(c, ENTITY_TYPE_REDEMPTION, id, &state)) != CRMSYNC_OK) {
    fail("get redemption", s);
    goto done;
  }
  const int accepted = strstr((const char*)state.data, "REDEMPTION_STATUS_ACCEPTED") != NULL;
  printf("redemption %s %s\n", id, accepted ? "ACCEPTED" : "not accepted");
  crmsync_buffer_free(&state);
  if ((s = crmsync_get(c, ENTITY_TYPE_LOYALTY_ACCOUNT, customer, &state)) == CRMSYNC_OK) {
    const char* b = strstr((const char*)state.data, "\"pointsBalance\":\"");
    printf("%s has %ld points\n", customer, b != NULL ? strtol(b + 17, NULL, 10) : 0L);
    crmsync_buffer_free(&state);
  }
  rc = accepted ? 0 : 1;

done:
  crmsync_close(c);
  return rc;
}
