// Negative security tests against a real crm-syncd (SQLite and PostgreSQL):
// forged, expired, other-tenant and revoked tokens; scope violations; a
// terminal editing a lead; replays; SQL-injection strings; oversized and
// malformed messages; rate limits. Each refused call must leave the store
// unchanged (same latest change sequence and same checksum).
#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <signal.h>

#include <condition_variable>
#include <mutex>
#include <tuple>

#include "auth/password.h"
#include "auth/token.h"
#include "crmsync/v1/admin.grpc.pb.h"
#include "crmsync/v1/auth.grpc.pb.h"
#include "crmsync/v1/sync.grpc.pb.h"
#include "pg_cluster.h"
#include "server_process.h"
#include "store/store.h"
#include "sync_client.h"

namespace crmsync::testing {
namespace {

using ::testing::HasSubstr;

::testing::Environment* const kPgEnvironment =
    ::testing::AddGlobalTestEnvironment(PgClusterEnvironment::Instance());

// A client authenticating with "authorization: Bearer <token>".
class TokenClient {
 public:
  explicit TokenClient(const std::string& address)
      : channel_(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        sync_(v1::SyncService::NewStub(channel_)),
        auth_(v1::AuthService::NewStub(channel_)),
        admin_(v1::AdminService::NewStub(channel_)) {}

  void Prepare(grpc::ClientContext* ctx) const {
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  }
  grpc::Status Login(const std::string& tenant, const std::string& user, const std::string& pw,
                     const std::string& device = "") {
    v1::LoginRequest req;
    req.set_tenant(tenant);
    req.set_username(user);
    req.set_password(pw);
    req.set_device_id(device);
    v1::LoginResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx);
    grpc::Status s = auth_->Login(&ctx, req, &resp);
    if (s.ok()) Use(resp.tokens());
    return s;
  }
  grpc::Status Register(const std::string& device) {
    v1::RegisterDeviceRequest req;
    req.set_device_id(device);
    req.set_platform("test");
    v1::RegisterDeviceResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx);
    grpc::Status s = auth_->RegisterDevice(&ctx, req, &resp);
    if (s.ok()) Use(resp.tokens());
    return s;
  }
  // Login + RegisterDevice.
  void SignIn(const std::string& tenant, const std::string& user, const std::string& device) {
    grpc::Status s = Login(tenant, user, user + "-demo-password");
    ASSERT_TRUE(s.ok()) << s.error_message();
    s = Register(device);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  grpc::Status Refresh(const std::string& refresh_token, v1::TokenPair* out) {
    v1::RefreshRequest req;
    req.set_refresh_token(refresh_token);
    v1::RefreshResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx);
    grpc::Status s = auth_->Refresh(&ctx, req, &resp);
    if (out) *out = resp.tokens();
    return s;
  }
  grpc::Status Pull(const std::string& cursor, v1::PullResponse* resp,
                    std::multimap<std::string, std::string>* trailers = nullptr) {
    v1::PullRequest req;
    req.mutable_client()->set_protocol_version(1);
    req.set_cursor(cursor);
    grpc::ClientContext ctx;
    Prepare(&ctx);
    grpc::Status s = sync_->Pull(&ctx, req, resp);
    if (trailers) {
      for (const auto& [k, v] : ctx.GetServerTrailingMetadata()) {
        trailers->emplace(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
      }
    }
    return s;
  }
  // Every change after "" (all pages).
  std::vector<v1::Change> PullAll() {
    std::vector<v1::Change> out;
    std::string cursor;
    for (int i = 0; i < 100; ++i) {
      v1::PullResponse page;
      grpc::Status s = Pull(cursor, &page);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      out.insert(out.end(), page.changes().begin(), page.changes().end());
      cursor = page.next_cursor();
      if (!page.has_more()) break;
    }
    return out;
  }
  grpc::Status Push(std::vector<v1::Mutation> mutations, v1::PushResponse* resp) {
    v1::PushRequest req;
    req.mutable_client()->set_protocol_version(1);
    for (auto& m : mutations) *req.add_mutations() = std::move(m);
    grpc::ClientContext ctx;
    Prepare(&ctx);
    return sync_->Push(&ctx, req, resp);
  }

  void Use(const v1::TokenPair& pair) {
    token = pair.access_token();
    refresh = pair.refresh_token();
  }

  std::string token;
  std::string refresh;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::SyncService::Stub> sync_;
  std::unique_ptr<v1::AuthService::Stub> auth_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

v1::Lead LeadValues(const std::string& id, const std::string& owner) {
  v1::Lead l;
  l.set_id(id);
  l.set_first_name("Ada");
  l.set_last_name("Lovelace");
  l.set_owner_user_id(owner);
  l.set_team_id("team-north");
  l.set_visibility(v1::VISIBILITY_PRIVATE);
  return l;
}

v1::Mutation CreateLead(int64_t seq, const v1::Lead& lead, const std::string& device) {
  v1::RecordState base;
  base.mutable_ref()->set_entity_type(v1::ENTITY_TYPE_LEAD);
  base.mutable_ref()->set_id(lead.id());
  std::vector<std::string> paths;
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  lead.GetReflection()->ListFields(lead, &fields);
  for (const auto* f : fields) paths.push_back(f->name());
  v1::Mutation m = LeadUpdate(seq, base, lead, paths, device);
  m.clear_base_values();
  return m;
}

enum class Backend { kSqlite, kPostgres };

// A password hash of the scheme used before Argon2id:
// pbkdf2-sha256$<iterations>$<salt>$<hash>.
std::string LegacyPbkdf2Hash(const std::string& password) {
  const std::string salt = "0123456789abcdef";
  std::string hash(32, '\0');
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    static_cast<int>(salt.size()), 1000, EVP_sha256(),
                    static_cast<int>(hash.size()), reinterpret_cast<unsigned char*>(hash.data()));
  return "pbkdf2-sha256$1000$" + server::auth::Base64UrlEncode(salt) + "$" +
         server::auth::Base64UrlEncode(hash);
}

class SecurityTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("crmsync-sec-");
    if (GetParam() == Backend::kSqlite) {
      store_ = "sqlite:" + dir_ + "/crm.db";
    } else {
      auto cluster = PgClusterEnvironment::Instance()->Cluster();
      ASSERT_TRUE(cluster.ok()) << cluster.status();
      auto conninfo = (*cluster)->NewSchema("security");
      ASSERT_TRUE(conninfo.ok()) << conninfo.status();
      store_ = "postgres:" + *conninfo;
    }
    SeedOtherTenant();
  }
  void TearDown() override { RemoveTree(dir_); }

  // A second tenant "globex" with an admin and a rep, written straight into
  // the store before the server starts.
  void SeedOtherTenant() {
    auto store = server::OpenStore(store_);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Migrate().ok());
    ASSERT_TRUE((*store)->directory().PutTenant({"t-globex", "globex", "Globex"}).ok());
    server::auth::OpenSslRandom random;
    for (auto [id, name, role] : {std::tuple{"g-admin", "gadmin", v1::ROLE_ADMIN},
                                  std::tuple{"g-rep", "grep", v1::ROLE_SALES_REP}}) {
      server::UserRow row;
      row.tenant_id = "t-globex";
      row.user.set_id(id);
      row.user.set_username(name);
      row.user.set_role(role);
      row.user.set_team_id("team-north");
      // The admin's hash is of the earlier PBKDF2 scheme, as a store from
      // before Argon2id holds it; sign-in must accept it and replace it.
      const std::string password = std::string(name) + "-demo-password";
      if (role == v1::ROLE_ADMIN) {
        row.password_hash = LegacyPbkdf2Hash(password);
      } else {
        auto hash = server::auth::HashPassword(password, {64, 1, 1}, &random);
        ASSERT_TRUE(hash.ok());
        row.password_hash = *hash;
      }
      ASSERT_TRUE((*store)->directory().PutUser(row).ok());
    }
  }

  void StartServer(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "--dev-insecure", "--demo-tenant", "--password-memory-kib", "64", "--store", store_};
    args.insert(args.end(), extra.begin(), extra.end());
    std::string error;
    ASSERT_TRUE(server_.Start(args, &error)) << error;
    admin_ = std::make_unique<TokenClient>(server_.address());
    grpc::Status s = admin_->Login("demo", "admin", "admin-demo-password");
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // Latest sequence and checksum of the demo tenant (admin view).
  std::string Fingerprint() {
    v1::GetServerStatusRequest req;
    v1::GetServerStatusResponse resp;
    grpc::ClientContext ctx;
    admin_->Prepare(&ctx);
    grpc::Status s = admin_->admin_->GetServerStatus(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::string digest;
    if (!admin_device_) {
      admin_device_ = std::make_unique<TokenClient>(server_.address());
      admin_device_->SignIn("demo", "admin", "admin-console");
    }
    v1::GetChecksumRequest creq;
    creq.mutable_client()->set_protocol_version(1);
    v1::GetChecksumResponse cresp;
    grpc::ClientContext cctx;
    admin_device_->Prepare(&cctx);
    s = admin_device_->sync_->GetChecksum(&cctx, creq, &cresp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return std::to_string(resp.latest_seq()) + "/" + cresp.digest();
  }

  std::string dir_;
  std::string store_;
  ServerProcess server_;
  std::unique_ptr<TokenClient> admin_;
  std::unique_ptr<TokenClient> admin_device_;
};

TEST_P(SecurityTest, LoginRefreshRotatesAndReuseRevokesTheFamily) {
  StartServer();
  TokenClient alice(server_.address());
  alice.SignIn("demo", "alice", "alice-phone");
  EXPECT_FALSE(alice.PullAll().empty());
  const std::string r1 = alice.refresh;
  v1::TokenPair p2;
  ASSERT_TRUE(alice.Refresh(r1, &p2).ok());
  EXPECT_NE(p2.refresh_token(), r1);
  alice.token = p2.access_token();
  EXPECT_FALSE(alice.PullAll().empty()) << "the rotated access token works";
  // Presenting r1 again: reuse -> the whole family is revoked.
  grpc::Status reuse = alice.Refresh(r1, nullptr);
  EXPECT_EQ(reuse.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(alice.Refresh(p2.refresh_token(), nullptr).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_P(SecurityTest, ARefreshTokenWithAnAlteredTenantIsUnknown) {
  StartServer();
  TokenClient alice(server_.address());
  alice.SignIn("demo", "alice", "alice-phone");
  const std::string token = alice.refresh;
  const size_t dot = token.rfind('.');
  ASSERT_NE(dot, std::string::npos);
  ASSERT_GT(dot, 3u) << "the token names its tenant after the secret: " << token;
  // Another tenant's name (base64url "t-other"), a tenant part that does
  // not decode or is no valid id (a control byte), and none at all: each
  // is a token nobody issued.
  for (const std::string& forged :
       {token.substr(0, dot + 1) + "dC1vdGhlcg", token.substr(0, dot + 1) + "%%%",
        token.substr(0, dot + 1) + "AQ", token.substr(0, dot)}) {
    EXPECT_EQ(alice.Refresh(forged, nullptr).error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << forged;
  }
  v1::TokenPair next;
  EXPECT_TRUE(alice.Refresh(token, &next).ok()) << "the real token still works";
}

TEST_P(SecurityTest, BadPasswordsAreRefusedThenThrottled) {
  StartServer({"--max-failed-logins", "3"});
  TokenClient c(server_.address());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(c.Login("demo", "maria", "wrong-password-123").error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_EQ(c.Login("demo", "maria", "maria-demo-password").error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED)
      << "throttled even with the right password";
  EXPECT_EQ(c.Login("demo", "nobody", "x").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(c.Login("nope", "alice", "alice-demo-password").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(c.Login("demo", "bob", "bob-demo-password").ok()) << "other users unaffected";

  v1::ListAuditEventsRequest req;
  req.set_action("login_failed");
  v1::ListAuditEventsResponse resp;
  grpc::ClientContext ctx;
  admin_->Prepare(&ctx);
  ASSERT_TRUE(admin_->admin_->ListAuditEvents(&ctx, req, &resp).ok());
  EXPECT_GE(resp.events_size(), 3);
}

TEST_P(SecurityTest, ForgedTokensAreRefusedAndChangeNothing) {
  StartServer();
  TokenClient alice(server_.address());
  alice.SignIn("demo", "alice", "alice-phone");
  const std::string before = Fingerprint();
  const std::string good = alice.token;
  v1::PushResponse presp;
  std::vector<std::string> forged;
  for (size_t i : {size_t{5}, good.find('.') + 3, good.size() - 3}) {
    std::string t = good;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    forged.push_back(t);
  }
  // Same claims signed by a key this server does not know.
  auto other = server::auth::TokenKey::Generate();
  ASSERT_TRUE(other.ok());
  server::auth::TokenKeyRing ring(*other, {});
  server::auth::TokenClaims claims{"t-demo", "u-admin",  v1::ROLE_ADMIN, "alice-phone",
                                   0,        4102444800, "forged"};
  forged.push_back(*ring.Sign(claims));
  forged.push_back("not.a.token");
  forged.push_back("");
  for (const std::string& t : forged) {
    alice.token = t;
    v1::PullResponse resp;
    EXPECT_EQ(alice.Pull("", &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(
        alice.Push({CreateLead(1, LeadValues("lead-forged", "u-alice"), "alice-phone")}, &presp)
            .error_code(),
        grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_EQ(Fingerprint(), before);
}

TEST_P(SecurityTest, ExpiredTokensAreRefused) {
  StartServer({"--access-token-ttl-seconds", "0"});
  TokenClient c(server_.address());
  ASSERT_TRUE(c.Login("demo", "alice", "alice-demo-password").ok());
  v1::RegisterDeviceRequest req;
  req.set_device_id("alice-phone");
  v1::RegisterDeviceResponse resp;
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  grpc::Status s = c.auth_->RegisterDevice(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(s.error_message(), HasSubstr("expired"));
}

TEST_P(SecurityTest, DeviceLessTokensCannotSyncAndRepsCannotAdminister) {
  StartServer();
  TokenClient c(server_.address());
  ASSERT_TRUE(c.Login("demo", "alice", "alice-demo-password").ok());
  v1::PullResponse resp;
  EXPECT_EQ(c.Pull("", &resp).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::ListUsersRequest req;
  v1::ListUsersResponse users;
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  EXPECT_EQ(c.admin_->ListUsers(&ctx, req, &users).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_P(SecurityTest, RevokedDeviceIsToldToWipeAtOnce) {
  StartServer();
  TokenClient alice(server_.address());
  alice.SignIn("demo", "alice", "alice-phone");
  v1::PullResponse page;
  ASSERT_TRUE(alice.Pull("", &page).ok());

  v1::RevokeDeviceRequest req;
  req.set_device_id("alice-phone");
  req.set_wipe(true);
  req.set_reason("lost on a train");
  v1::RevokeDeviceResponse resp;
  grpc::ClientContext ctx;
  admin_->Prepare(&ctx);
  ASSERT_TRUE(admin_->admin_->RevokeDevice(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.device().status(), v1::DEVICE_STATUS_REVOKED);

  std::multimap<std::string, std::string> trailers;
  grpc::Status s = alice.Pull("", &page, &trailers);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_EQ(trailers.count("crmsync-directive"), 1u);
  EXPECT_EQ(trailers.find("crmsync-directive")->second, "wipe");
  EXPECT_NE(alice.Refresh(alice.refresh, nullptr).error_code(), grpc::StatusCode::OK);
  TokenClient again(server_.address());
  ASSERT_TRUE(again.Login("demo", "alice", "alice-demo-password").ok());
  EXPECT_EQ(again.Register("alice-phone").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  TokenClient bob(server_.address());
  ASSERT_TRUE(bob.Login("demo", "bob", "bob-demo-password").ok());
  EXPECT_EQ(bob.Register("admin-console-x").error_code(), grpc::StatusCode::OK);
  EXPECT_EQ(bob.Register("alice-phone").error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << "another user's device id";

  v1::ListAuditEventsRequest areq;
  areq.set_action("device_revoked");
  v1::ListAuditEventsResponse aresp;
  grpc::ClientContext actx;
  admin_->Prepare(&actx);
  ASSERT_TRUE(admin_->admin_->ListAuditEvents(&actx, areq, &aresp).ok());
  ASSERT_EQ(aresp.events_size(), 1);
  EXPECT_EQ(aresp.events(0).target(), "device:alice-phone");
  EXPECT_EQ(aresp.events(0).actor_user_id(), "u-admin");
}

TEST_P(SecurityTest, OtherTenantTokensSeeAndChangeNothingOfThisTenant) {
  StartServer();
  const std::string before = Fingerprint();
  TokenClient g(server_.address());
  g.SignIn("globex", "grep", "globex-phone");
  for (const v1::Change& c : g.PullAll()) {
    ADD_FAILURE() << "other tenant saw " << c.record().id();
  }
  // Writing a demo record id lands in the caller's own tenant only.
  v1::PushResponse presp;
  ASSERT_TRUE(
      g.Push({CreateLead(1, LeadValues("lead-alice-1", "g-rep"), "globex-phone")}, &presp).ok());
  EXPECT_EQ(Fingerprint(), before);

  TokenClient gadmin(server_.address());
  ASSERT_TRUE(gadmin.Login("globex", "gadmin", "gadmin-demo-password").ok());
  v1::GetDeviceRequest req;
  req.set_device_id("admin-console");
  v1::GetDeviceResponse resp;
  grpc::ClientContext ctx;
  gadmin.Prepare(&ctx);
  EXPECT_EQ(gadmin.admin_->GetDevice(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::ListUsersRequest lreq;
  v1::ListUsersResponse lresp;
  grpc::ClientContext lctx;
  gadmin.Prepare(&lctx);
  ASSERT_TRUE(gadmin.admin_->ListUsers(&lctx, lreq, &lresp).ok());
  EXPECT_EQ(lresp.users_size(), 2);
}

TEST_P(SecurityTest, ScopeAndRoleAreEnforcedOnTheServer) {
  StartServer();
  TokenClient bob(server_.address());
  bob.SignIn("demo", "bob", "bob-phone");
  for (const v1::Change& c : bob.PullAll()) {
    if (c.record().entity_type() == v1::ENTITY_TYPE_LEAD) {
      EXPECT_THAT(c.record().id(), HasSubstr("bob")) << "a rep pulled another rep's lead";
    }
  }
  const std::string before = Fingerprint();
  v1::RecordState alice_lead;
  alice_lead.mutable_ref()->set_entity_type(v1::ENTITY_TYPE_LEAD);
  alice_lead.mutable_ref()->set_id("lead-alice-1");
  alice_lead.set_version(1);
  v1::Lead change;
  change.set_first_name("stolen");
  v1::PushResponse resp;
  ASSERT_TRUE(
      bob.Push({LeadUpdate(1, alice_lead, change, {"first_name"}, "bob-phone")}, &resp).ok());
  ASSERT_EQ(resp.results_size(), 1);
  EXPECT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_REJECTED);
  EXPECT_FALSE(resp.results(0).has_record()) << "a refusal must not reveal the record";

  // A store terminal (API key) may not edit or create leads.
  TokenClient till(server_.address());
  v1::ExchangeApiKeyRequest kreq;
  kreq.set_tenant("demo");
  kreq.set_api_key("crmk.demo-till.demo-till-secret-not-for-production");
  kreq.set_device_id("till-1");
  v1::ExchangeApiKeyResponse kresp;
  grpc::ClientContext kctx;
  till.Prepare(&kctx);
  grpc::Status ks = till.auth_->ExchangeApiKey(&kctx, kreq, &kresp);
  ASSERT_TRUE(ks.ok()) << ks.error_message();
  till.Use(kresp.tokens());
  ASSERT_TRUE(till.Push({LeadUpdate(1, alice_lead, change, {"first_name"}, "till-1"),
                         CreateLead(2, LeadValues("lead-till", "u-till-paris"), "till-1")},
                        &resp)
                  .ok());
  ASSERT_EQ(resp.results_size(), 2);
  for (const auto& r : resp.results()) EXPECT_EQ(r.outcome(), v1::MUTATION_OUTCOME_REJECTED);
  kreq.set_api_key("crmk.demo-till.wrong-secret");
  grpc::ClientContext bad;
  EXPECT_EQ(till.auth_->ExchangeApiKey(&bad, kreq, &kresp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Fingerprint(), before);
}

TEST_P(SecurityTest, ReplayWithADifferentPayloadIsRejected) {
  StartServer();
  TokenClient alice(server_.address());
  alice.SignIn("demo", "alice", "alice-phone");
  v1::PushResponse resp;
  ASSERT_TRUE(
      alice.Push({CreateLead(7, LeadValues("lead-replay", "u-alice"), "alice-phone")}, &resp).ok());
  ASSERT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED);
  const std::string before = Fingerprint();
  v1::Lead changed = LeadValues("lead-replay", "u-alice");
  changed.set_first_name("Mallory");
  ASSERT_TRUE(alice.Push({CreateLead(7, changed, "alice-phone")}, &resp).ok());
  EXPECT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_REJECTED);
  EXPECT_EQ(resp.results(0).reject_reason(), v1::REJECT_REASON_CLIENT_SEQ_REUSED);
  EXPECT_EQ(Fingerprint(), before);
}

TEST_P(SecurityTest, InjectionStringsAreStoredVerbatimAndHarmless) {
  StartServer();
  TokenClient alice(server_.address());
  alice.SignIn("demo", "alice", "alice-phone");
  const std::string evil = "Robert'); DROP TABLE records; -- \" OR 1=1; \\x00";
  v1::Lead lead = LeadValues("lead-evil-1", "u-alice");
  lead.set_first_name(evil);
  lead.set_last_name(evil + "2");
  lead.set_company("'; TRUNCATE tenants CASCADE; --");
  lead.set_email("x@y.z' OR '1'='1");
  lead.set_phone("1; SELECT pg_sleep(10); --");
  lead.set_territory("') UNION SELECT password_hash FROM users --");
  lead.set_notes(evil);
  lead.add_tags(evil);
  lead.set_converted_opportunity_id("'||(SELECT 1)||'");
  v1::PushResponse resp;
  ASSERT_TRUE(alice.Push({CreateLead(1, lead, "alice-phone")}, &resp).ok());
  ASSERT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED) << resp.results(0).message();
  bool found = false;
  for (const v1::Change& c : alice.PullAll()) {
    if (c.record().id() != lead.id()) continue;
    found = true;
    EXPECT_EQ(c.values().lead().first_name(), evil);
    EXPECT_EQ(c.values().lead().company(), lead.company());
    EXPECT_EQ(c.values().lead().territory(), lead.territory());
    EXPECT_EQ(c.values().lead().tags(0), evil);
  }
  EXPECT_TRUE(found);
  TokenClient bob(server_.address());
  bob.SignIn("demo", "bob", "bob-phone");
  EXPECT_FALSE(bob.PullAll().empty()) << "other data intact";
}

TEST_P(SecurityTest, OversizedAndMalformedMessagesAreRefused) {
  StartServer({"--max-message-bytes", "65536"});
  TokenClient alice(server_.address());
  alice.SignIn("demo", "alice", "alice-phone");
  const std::string before = Fingerprint();
  v1::Lead big = LeadValues("lead-big", "u-alice");
  big.set_notes(std::string(100000, 'x'));
  v1::PushResponse resp;
  EXPECT_EQ(alice.Push({CreateLead(1, big, "alice-phone")}, &resp).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);

  grpc::GenericStub generic(alice.channel_);
  grpc::ClientContext ctx;
  alice.Prepare(&ctx);
  const char garbage[] =
      "\x0a\xff\xff\xff\xff\x0f\x12\x03"
      "abc";
  grpc::Slice slice(garbage, sizeof(garbage) - 1);
  grpc::ByteBuffer request(&slice, 1), response;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  generic.UnaryCall(&ctx, "/crmsync.v1.SyncService/Push", grpc::StubOptions(), &request, &response,
                    [&](const grpc::Status& s) {
                      std::lock_guard<std::mutex> lock(mu);
                      status = s;
                      done = true;
                      cv.notify_one();
                    });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
  }
  EXPECT_FALSE(status.ok()) << "garbage bytes were accepted as a Push";

  v1::PullResponse page;
  EXPECT_EQ(alice.Pull("%%not-a-cursor%%", &page).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Fingerprint(), before);
}

TEST_P(SecurityTest, PerDeviceRateLimitAnswersResourceExhausted) {
  // One request per 100 s after a burst of 3: the 4th quick call is refused
  // whatever the machine's speed.
  StartServer({"--rate-limit-per-second", "0.01", "--rate-limit-burst", "3"});
  TokenClient alice(server_.address());
  alice.SignIn("demo", "alice", "alice-phone");
  v1::PullResponse page;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(alice.Pull("", &page).ok()) << i;
  grpc::Status s = alice.Pull("", &page);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("retry in"));
  TokenClient bob(server_.address());
  bob.SignIn("demo", "bob", "bob-phone");
  EXPECT_TRUE(bob.Pull("", &page).ok()) << "limits are per device";
}

TEST(SecurityFlagsTest, RefusesToStartWithoutTokenKeyOutsideDevelopment) {
  std::string dir = MakeTempDir("crmsync-keyless-");
  std::string out;
  ASSERT_EQ(RunCommand({"/bin/bash", std::string(CRMSYNC_SOURCE_DIR) + "/deploy/make-dev-certs.sh",
                        dir + "/certs"},
                       &out),
            0)
      << out;
  EXPECT_EQ(RunCommand({CRMSYNC_SYNCD_PATH, "--listen", "127.0.0.1:0", "--tls-cert",
                        dir + "/certs/server.pem", "--tls-key", dir + "/certs/server.key"},
                       &out),
            2);
  EXPECT_THAT(out, HasSubstr("--token-key is required"));
  RemoveTree(dir);
}

TEST_P(SecurityTest, OlderPasswordHashesAreReplacedByArgon2idAtTheNextSignIn) {
  StartServer();
  auto stored_hash = [&] {
    auto store = server::OpenStore(store_);
    EXPECT_TRUE(store.ok()) << store.status();
    auto user = (*store)->directory().GetUserByName("t-globex", "gadmin");
    EXPECT_TRUE(user.ok() && user->has_value());
    return user.ok() && user->has_value() ? (*user)->password_hash : std::string();
  };
  ASSERT_EQ(stored_hash().rfind("pbkdf2-sha256$", 0), 0u);

  TokenClient wrong(server_.address());
  EXPECT_FALSE(wrong.Login("globex", "gadmin", "not-the-password").ok());
  EXPECT_EQ(stored_hash().rfind("pbkdf2-sha256$", 0), 0u) << "a failed sign-in re-hashed";

  TokenClient gadmin(server_.address());
  ASSERT_TRUE(gadmin.Login("globex", "gadmin", "gadmin-demo-password").ok());
  const std::string rehashed = stored_hash();
  EXPECT_EQ(rehashed.rfind("$argon2id$v=19$m=64,t=2,p=1$", 0), 0u) << rehashed;

  // The new hash verifies; signing in again leaves it as it is.
  TokenClient again(server_.address());
  ASSERT_TRUE(again.Login("globex", "gadmin", "gadmin-demo-password").ok());
  EXPECT_EQ(stored_hash(), rehashed);
}

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
}

INSTANTIATE_TEST_SUITE_P(Sqlite, SecurityTest, ::testing::Values(Backend::kSqlite), BackendName);
INSTANTIATE_TEST_SUITE_P(Postgres, SecurityTest, ::testing::Values(Backend::kPostgres),
                         BackendName);

}  // namespace
}  // namespace crmsync::testing
