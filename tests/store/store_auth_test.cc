// Conformance: refresh tokens, API keys, the audit log and erasure
// scrubbing (schema migration 2).
#include "store_fixture.h"

namespace crmsync::server {
namespace {

constexpr char kTenant[] = "tenant-a";
constexpr char kOther[] = "tenant-b";

class StoreAuthTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(store().directory().PutTenant({kTenant, "acme", "Acme Ltd"}).ok());
    ASSERT_TRUE(store().directory().PutTenant({kOther, "globex", "Globex"}).ok());
  }
};

RefreshTokenRow Token(const std::string& hash, const std::string& family,
                      const std::string& device = "d1") {
  RefreshTokenRow t;
  t.tenant_id = kTenant;
  t.token_hash = hash;
  t.family_id = family;
  t.user_id = "u1";
  t.device_id = device;
  t.created_ms = 1000;
  t.expires_ms = 5000;
  return t;
}

TEST_P(StoreAuthTest, RefreshTokenRoundTripsAndIsUsedExactlyOnce) {
  ASSERT_TRUE(store().credentials().PutRefreshToken(Token("h1", "f1")).ok());
  auto got = store().credentials().GetRefreshToken(kTenant, "h1");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->tenant_id, kTenant);
  EXPECT_EQ((*got)->family_id, "f1");
  EXPECT_EQ((*got)->device_id, "d1");
  EXPECT_EQ((*got)->expires_ms, 5000);
  EXPECT_FALSE((*got)->used);
  EXPECT_FALSE((*got)->revoked);

  auto elsewhere = store().credentials().MarkRefreshTokenUsed(kOther, "h1");
  ASSERT_TRUE(elsewhere.ok());
  EXPECT_FALSE(*elsewhere) << "a token is used only in its own tenant";
  auto first = store().credentials().MarkRefreshTokenUsed(kTenant, "h1");
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(*first);
  auto second = store().credentials().MarkRefreshTokenUsed(kTenant, "h1");
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(*second) << "a used token must not be usable twice";
  EXPECT_TRUE((*store().credentials().GetRefreshToken(kTenant, "h1"))->used);
  auto unknown = store().credentials().MarkRefreshTokenUsed(kTenant, "nope");
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(*unknown);
  EXPECT_FALSE(store().credentials().GetRefreshToken(kTenant, "nope")->has_value());
}

TEST_P(StoreAuthTest, ARefreshTokenIsFoundInItsTenantOnly) {
  ASSERT_TRUE(store().credentials().PutRefreshToken(Token("h1", "f1")).ok());
  auto elsewhere = store().credentials().GetRefreshToken(kOther, "h1");
  ASSERT_TRUE(elsewhere.ok()) << elsewhere.status();
  EXPECT_FALSE(elsewhere->has_value());
  EXPECT_EQ(store().credentials().GetRefreshToken("", "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Tokens issued before they named their tenant: found by hash alone (on
// Citus the one lookup of the store that asks every shard).
TEST_P(StoreAuthTest, ARefreshTokenWithoutItsTenantIsFoundByHashAlone) {
  ASSERT_TRUE(store().credentials().PutRefreshToken(Token("h1", "f1")).ok());
  auto any = store().credentials().GetRefreshToken("", "h1");
  ASSERT_TRUE(any.ok()) << any.status();
  ASSERT_TRUE(any->has_value());
  EXPECT_EQ((*any)->tenant_id, kTenant);
  EXPECT_FALSE(store().credentials().GetRefreshToken("", "h9")->has_value());
}

TEST_P(StoreAuthTest, DuplicateRefreshTokenHashIsRefused) {
  ASSERT_TRUE(store().credentials().PutRefreshToken(Token("h1", "f1")).ok());
  EXPECT_EQ(store().credentials().PutRefreshToken(Token("h1", "f2")).code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_P(StoreAuthTest, RevokingAFamilyRevokesOnlyItsTokens) {
  ASSERT_TRUE(store().credentials().PutRefreshToken(Token("h1", "f1")).ok());
  ASSERT_TRUE(store().credentials().PutRefreshToken(Token("h2", "f1")).ok());
  ASSERT_TRUE(store().credentials().PutRefreshToken(Token("h3", "f2")).ok());
  auto n = store().credentials().RevokeRefreshFamily(kTenant, "f1");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2);
  EXPECT_TRUE((*store().credentials().GetRefreshToken(kTenant, "h1"))->revoked);
  EXPECT_TRUE((*store().credentials().GetRefreshToken(kTenant, "h2"))->revoked);
  EXPECT_FALSE((*store().credentials().GetRefreshToken(kTenant, "h3"))->revoked);
  EXPECT_FALSE(*store().credentials().MarkRefreshTokenUsed(kTenant, "h2"))
      << "a revoked token cannot be used";
  EXPECT_EQ(*store().credentials().RevokeRefreshFamily(kOther, "f2"), 0)
      << "families are tenant-scoped";
}

TEST_P(StoreAuthTest, RevokingADeviceRevokesItsTokens) {
  ASSERT_TRUE(store().credentials().PutRefreshToken(Token("h1", "f1", "phone")).ok());
  ASSERT_TRUE(store().credentials().PutRefreshToken(Token("h2", "f2", "tablet")).ok());
  EXPECT_EQ(*store().credentials().RevokeDeviceRefreshTokens(kTenant, "phone"), 1);
  EXPECT_TRUE((*store().credentials().GetRefreshToken(kTenant, "h1"))->revoked);
  EXPECT_FALSE((*store().credentials().GetRefreshToken(kTenant, "h2"))->revoked);
}

TEST_P(StoreAuthTest, ApiKeysAreTenantScoped) {
  ApiKeyRow key{kTenant, "k1", "u-till", "Paris till", "abc123", 42, false};
  ASSERT_TRUE(store().credentials().PutApiKey(key).ok());
  EXPECT_EQ(store().credentials().PutApiKey(key).code(), absl::StatusCode::kAlreadyExists);
  auto got = store().credentials().GetApiKey(kTenant, "k1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->user_id, "u-till");
  EXPECT_EQ((*got)->label, "Paris till");
  EXPECT_EQ((*got)->secret_hash, "abc123");
  EXPECT_EQ((*got)->created_ms, 42);
  EXPECT_FALSE((*got)->revoked);
  EXPECT_FALSE(store().credentials().GetApiKey(kOther, "k1")->has_value());
}

TEST_P(StoreAuthTest, AuditLogFiltersPagesAndKeepsTextVerbatim) {
  const std::string nasty = "'); DROP TABLE audit_events; --";
  for (int i = 0; i < 5; ++i) {
    AuditRow a;
    a.tenant_id = kTenant;
    a.at_ms = 1000 + i;
    a.action = i % 2 == 0 ? "login" : "login_failed";
    a.actor_user_id = "u1";
    a.target = "user:u1";
    a.detail = nasty;
    a.peer = "ipv4:127.0.0.1:1234";
    auto id = store().audit().AppendAudit(a);
    ASSERT_TRUE(id.ok()) << id.status();
  }
  AuditRow other;
  other.tenant_id = kOther;
  other.at_ms = 1;
  other.action = "login";
  ASSERT_TRUE(store().audit().AppendAudit(other).ok());

  auto all = store().audit().ListAudit(kTenant, "", 0, 0, 100, false);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 5u);
  for (size_t i = 1; i < all->size(); ++i) EXPECT_GT((*all)[i].id, (*all)[i - 1].id);
  EXPECT_EQ((*all)[0].detail, nasty);
  EXPECT_EQ((*all)[0].peer, "ipv4:127.0.0.1:1234");

  auto logins = store().audit().ListAudit(kTenant, "login", 0, 0, 100, false);
  EXPECT_EQ(logins->size(), 3u);
  auto recent = store().audit().ListAudit(kTenant, "", 1003, 0, 100, false);
  EXPECT_EQ(recent->size(), 2u);
  auto page1 = store().audit().ListAudit(kTenant, "", 0, 0, 2, false);
  ASSERT_EQ(page1->size(), 2u);
  auto page2 = store().audit().ListAudit(kTenant, "", 0, page1->back().id, 2, false);
  ASSERT_EQ(page2->size(), 2u);
  EXPECT_EQ((*page2)[0].id, (*all)[2].id);

  // Newest first, in pages of 2: the same entries in reverse order.
  auto newest = store().audit().ListAudit(kTenant, "", 0, 0, 2, true);
  ASSERT_TRUE(newest.ok()) << newest.status();
  ASSERT_EQ(newest->size(), 2u);
  EXPECT_EQ((*newest)[0].id, all->back().id);
  EXPECT_EQ((*newest)[1].id, (*all)[3].id);
  auto older = store().audit().ListAudit(kTenant, "", 0, newest->back().id, 2, true);
  ASSERT_EQ(older->size(), 2u);
  EXPECT_EQ((*older)[0].id, (*all)[2].id);
  EXPECT_EQ((*older)[1].id, (*all)[1].id);
  auto newest_logins = store().audit().ListAudit(kTenant, "login", 0, 0, 100, true);
  ASSERT_EQ(newest_logins->size(), 3u);
  EXPECT_GT((*newest_logins)[0].id, (*newest_logins)[2].id);
}

TEST_P(StoreAuthTest, ScrubAppliedResultsRemovesOnlyThatRecordsCopies) {
  v1::RecordRef lead;
  lead.set_entity_type(v1::ENTITY_TYPE_LEAD);
  lead.set_id("lead-1");
  v1::RecordRef other = lead;
  other.set_id("lead-2");
  ASSERT_TRUE(store()
                  .changes()
                  .Write(kTenant,
                         [&](WriteTx& tx) -> absl::Status {
                           int seq = 0;
                           for (const v1::RecordRef* ref : {&lead, &other}) {
                             AppliedMutation a;
                             a.device_id = "d1";
                             a.client_seq = ++seq;
                             a.payload_hash = "hash" + std::to_string(seq);
                             a.result.set_client_seq(seq);
                             a.result.set_outcome(v1::MUTATION_OUTCOME_APPLIED);
                             *a.result.mutable_record()->mutable_ref() = *ref;
                             a.result.mutable_record()->mutable_data()->mutable_lead()->set_email(
                                 "person@example.com");
                             if (auto s = tx.PutApplied(a); !s.ok()) return s;
                           }
                           return absl::OkStatus();
                         })
                  .ok());
  auto n = store().changes().ScrubAppliedResults(kTenant, lead);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1);
  ASSERT_TRUE(store()
                  .changes()
                  .Write(kTenant,
                         [&](WriteTx& tx) -> absl::Status {
                           auto scrubbed = tx.GetApplied("d1", 1);
                           EXPECT_TRUE(scrubbed.ok() && scrubbed->has_value());
                           EXPECT_FALSE((*scrubbed)->result.has_record());
                           EXPECT_EQ((*scrubbed)->result.outcome(), v1::MUTATION_OUTCOME_APPLIED);
                           EXPECT_EQ((*scrubbed)->payload_hash, "hash1");
                           auto kept = tx.GetApplied("d1", 2);
                           EXPECT_TRUE((*kept)->result.has_record());
                           return absl::OkStatus();
                         })
                  .ok());
  EXPECT_EQ(*store().changes().ScrubAppliedResults(kTenant, lead), 0) << "idempotent";
}

TEST_P(StoreAuthTest, LoginFailuresAreCountedPerKeyForgottenAndCleared) {
  Credentials& c = store().credentials();
  for (int64_t at : {100, 200, 300, 400}) ASSERT_TRUE(c.RecordLoginFailure("k1", at, 0).ok());
  ASSERT_TRUE(c.RecordLoginFailure("k2", 250, 0).ok());
  ASSERT_TRUE(c.RecordLoginFailure("k1", 400, 0).ok()) << "two failures in one millisecond";
  EXPECT_EQ(*c.LoginFailuresSince("k1", 0, 10), (std::vector<int64_t>{100, 200, 300, 400, 400}));
  EXPECT_EQ(*c.LoginFailuresSince("k1", 200, 10), (std::vector<int64_t>{200, 300, 400, 400}));
  EXPECT_EQ(*c.LoginFailuresSince("k1", 0, 2), (std::vector<int64_t>{400, 400}))
      << "the newest `limit`, oldest first";
  EXPECT_EQ(*c.LoginFailuresSince("k2", 0, 10), (std::vector<int64_t>{250}));
  EXPECT_TRUE(c.LoginFailuresSince("k3", 0, 10)->empty());
  EXPECT_EQ(c.LoginFailuresSince("k1", 0, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.RecordLoginFailure("", 1, 0).code(), absl::StatusCode::kInvalidArgument);

  // A later failure forgets every key's failures before its horizon.
  ASSERT_TRUE(c.RecordLoginFailure("k3", 500, 300).ok());
  EXPECT_EQ(*c.LoginFailuresSince("k1", 0, 10), (std::vector<int64_t>{300, 400, 400}));
  EXPECT_TRUE(c.LoginFailuresSince("k2", 0, 10)->empty());

  ASSERT_TRUE(c.ClearLoginFailures("k1").ok());
  EXPECT_TRUE(c.LoginFailuresSince("k1", 0, 10)->empty());
  EXPECT_EQ(*c.LoginFailuresSince("k3", 0, 10), (std::vector<int64_t>{500}));
}

TEST_P(StoreAuthTest, RateUsageReportsAreReadByOtherInstancesAndForgotten) {
  Credentials& c = store().credentials();
  ASSERT_TRUE(c.ReportRateUsage("i1", 1000, {{"t\nd1", 3}, {"t\nd2", 1}}, 0).ok());
  ASSERT_TRUE(c.ReportRateUsage("i2", 1500, {{"t\nd1", 5}}, 0).ok());
  ASSERT_TRUE(c.ReportRateUsage("i1", 2000, {}, 0).ok()) << "an empty report";

  auto for_i2 = c.RateUsageSince("i2", 0);
  ASSERT_TRUE(for_i2.ok()) << for_i2.status();
  ASSERT_EQ(for_i2->size(), 2u) << "i1's reports, not i2's own";
  EXPECT_EQ((*for_i2)[0].instance, "i1");
  EXPECT_EQ((*for_i2)[0].key, "t\nd1");
  EXPECT_EQ((*for_i2)[0].used, 3);
  EXPECT_EQ((*for_i2)[0].at_ms, 1000);
  EXPECT_EQ((*for_i2)[1].key, "t\nd2");
  EXPECT_LT((*for_i2)[0].id, (*for_i2)[1].id) << "ids are unique and ordered";
  auto for_i3 = c.RateUsageSince("i3", 1200);
  ASSERT_TRUE(for_i3.ok());
  ASSERT_EQ(for_i3->size(), 1u) << "only reports at or after the time";
  EXPECT_EQ((*for_i3)[0].instance, "i2");
  EXPECT_EQ((*for_i3)[0].used, 5);

  ASSERT_TRUE(c.ReportRateUsage("i3", 3000, {{"t\nd1", 1}}, 1200).ok());
  auto left = c.RateUsageSince("nobody", 0);
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 2u) << "reports before 1200 forgotten";
  EXPECT_EQ((*left)[0].instance, "i2");
  EXPECT_EQ((*left)[1].instance, "i3");
  EXPECT_EQ(c.ReportRateUsage("", 1, {}, 0).code(), absl::StatusCode::kInvalidArgument);
}

CRMSYNC_INSTANTIATE_STORE_SUITE(StoreAuthTest);

}  // namespace
}  // namespace crmsync::server
