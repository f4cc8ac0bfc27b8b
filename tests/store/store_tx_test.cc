// Conformance: exactly-once records, claim counters, tenant isolation and
// hostile or malformed input.
#include "store_fixture.h"

namespace crmsync::server {
namespace {

constexpr char kTenant[] = "tenant-a";
constexpr char kOther[] = "tenant-b";

class StoreTxTest : public StoreTest {};

AppliedMutation Applied(const std::string& device, int64_t client_seq, const std::string& hash) {
  AppliedMutation a;
  a.device_id = device;
  a.client_seq = client_seq;
  a.payload_hash = hash;
  a.result.set_client_seq(client_seq);
  a.result.set_outcome(v1::MUTATION_OUTCOME_APPLIED);
  a.result.set_change_seq(client_seq * 10);
  *a.result.mutable_record() = AccountState("acc-1", 3, "alice");
  return a;
}

TEST_P(StoreTxTest, AppliedMutationIsRecordedExactlyOnce) {
  // Binary hash with NUL and high bytes must survive unchanged.
  const std::string hash("\x00\xff\x10hash\x00", 8);
  ASSERT_TRUE(store()
                  .changes()
                  .Write(kTenant,
                         [&](WriteTx& tx) -> absl::Status {
                           EXPECT_FALSE(tx.GetApplied("dev-1", 1)->has_value());
                           return tx.PutApplied(Applied("dev-1", 1, hash));
                         })
                  .ok());
  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    auto got = tx.GetApplied("dev-1", 1);
    EXPECT_TRUE(got.ok() && got->has_value());
    EXPECT_EQ((*got)->payload_hash, hash);
    EXPECT_EQ((*got)->device_id, "dev-1");
    EXPECT_EQ((*got)->client_seq, 1);
    EXPECT_EQ((*got)->result.SerializeAsString(),
              Applied("dev-1", 1, hash).result.SerializeAsString());
    // A second record for the same (device, client_seq) is refused and the
    // transaction stays usable.
    absl::Status again = tx.PutApplied(Applied("dev-1", 1, "other-hash"));
    EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
    EXPECT_TRUE(tx.PutApplied(Applied("dev-1", 2, "h2")).ok());
    EXPECT_TRUE(tx.PutApplied(Applied("dev-2", 1, "h3")).ok());
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(store()
                  .changes()
                  .Write(kTenant,
                         [&](WriteTx& tx) -> absl::Status {
                           EXPECT_EQ((*tx.GetApplied("dev-1", 1))->payload_hash, hash);
                           EXPECT_EQ((*tx.GetApplied("dev-1", 2))->payload_hash, "h2");
                           EXPECT_EQ((*tx.GetApplied("dev-2", 1))->payload_hash, "h3");
                           EXPECT_FALSE(tx.GetApplied("dev-2", 2)->has_value());
                           return absl::OkStatus();
                         })
                  .ok());
  // Another tenant's device with the same id is a different device.
  ASSERT_TRUE(store()
                  .changes()
                  .Write(kOther,
                         [&](WriteTx& tx) -> absl::Status {
                           EXPECT_FALSE(tx.GetApplied("dev-1", 1)->has_value());
                           return tx.PutApplied(Applied("dev-1", 1, "b"));
                         })
                  .ok());
}

TEST_P(StoreTxTest, ClaimCountersAddAndPersist) {
  ASSERT_TRUE(store()
                  .changes()
                  .Write(kTenant,
                         [&](WriteTx& tx) -> absl::Status {
                           EXPECT_EQ(*tx.GetClaim("coupon-7"), 0);
                           EXPECT_EQ(*tx.AddToClaim("coupon-7", 1), 1);
                           EXPECT_EQ(*tx.AddToClaim("coupon-7", 2), 3);
                           EXPECT_EQ(*tx.AddToClaim("coupon-7", -1), 2);
                           EXPECT_EQ(*tx.GetClaim("coupon-7"), 2);
                           return absl::OkStatus();
                         })
                  .ok());
  ASSERT_TRUE(store()
                  .changes()
                  .Write(kTenant,
                         [&](WriteTx& tx) -> absl::Status {
                           EXPECT_EQ(*tx.AddToClaim("coupon-7", 5), 7);
                           EXPECT_EQ(*tx.GetClaim("coupon-8"), 0);
                           return absl::OkStatus();
                         })
                  .ok());
  ASSERT_TRUE(store()
                  .changes()
                  .Write(kOther,
                         [&](WriteTx& tx) -> absl::Status {
                           EXPECT_EQ(*tx.GetClaim("coupon-7"), 0);
                           return absl::OkStatus();
                         })
                  .ok());
}

TEST_P(StoreTxTest, TenantsNeverSeeEachOthersRows) {
  PutAccount(kTenant, "shared-id", "alice");
  PutAccount(kTenant, "a-only", "alice");
  PutAccount(kOther, "shared-id", "mallory");
  PutAccount(kOther, "shared-id", "trent");  // scope change in B only

  auto a_rows = store().changes().ReadSince(kTenant, 0, 100);
  ASSERT_TRUE(a_rows.ok());
  ASSERT_EQ(a_rows->size(), 2u);
  for (const RecordRow& r : *a_rows) EXPECT_EQ(r.state.scope().owner_user_id(), "alice");
  auto b_rows = store().changes().ReadSince(kOther, 0, 100);
  ASSERT_EQ(b_rows->size(), 1u);
  EXPECT_EQ((*b_rows)[0].state.scope().owner_user_id(), "trent");
  EXPECT_EQ(
      (*store().changes().GetRecord(kTenant, AccountRef("shared-id")))->scope().owner_user_id(),
      "alice");
  EXPECT_FALSE(store().changes().GetRecord(kOther, AccountRef("a-only"))->has_value());
  EXPECT_EQ((*store().changes().ScopeAt(kTenant, AccountRef("shared-id"), 1))->owner_user_id(),
            "alice");
  EXPECT_EQ((*store().changes().ScopeAt(kOther, AccountRef("shared-id"), 1))->owner_user_id(),
            "mallory");
  EXPECT_EQ(*store().changes().LatestSeq(kTenant), 2);
  EXPECT_EQ(*store().changes().LatestSeq(kOther), 2);
  // Inside a write transaction too.
  ASSERT_TRUE(store()
                  .changes()
                  .Write(kOther,
                         [&](WriteTx& tx) -> absl::Status {
                           EXPECT_FALSE(tx.GetRecord(AccountRef("a-only"))->has_value());
                           return absl::OkStatus();
                         })
                  .ok());
}

TEST_P(StoreTxTest, SqlLookingStringsAreStoredVerbatim) {
  const std::string evil_tenant = "t'; DROP TABLE records; --";
  const std::string evil_id = "x\" OR 1=1; DELETE FROM tenants WHERE '1'='1";
  const std::string evil_owner = "$1 ?1 %s \\ ' \" ; -- /* */ \xc3\xa9\xe2\x82\xac";
  PutAccount(evil_tenant, evil_id, evil_owner);
  PutAccount(kTenant, "plain", "alice");
  auto record = store().changes().GetRecord(evil_tenant, AccountRef(evil_id));
  ASSERT_TRUE(record.ok() && record->has_value()) << record.status();
  EXPECT_EQ((*record)->ref().id(), evil_id);
  EXPECT_EQ((*record)->scope().owner_user_id(), evil_owner);
  EXPECT_EQ(store().changes().ReadSince(kTenant, 0, 10)->size(), 1u);

  TenantRow tenant{evil_tenant, "slug'--", "Robert'); DROP TABLE users;--"};
  ASSERT_TRUE(store().directory().PutTenant(tenant).ok());
  auto got = store().directory().GetTenantBySlug("slug'--");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->display_name, tenant.display_name);
  EXPECT_FALSE(store().directory().GetTenantBySlug("' OR '1'='1")->has_value());
  UserRow user;
  user.tenant_id = evil_tenant;
  user.user.set_id("u1");
  user.user.set_username("admin'--");
  ASSERT_TRUE(store().directory().PutUser(user).ok());
  EXPECT_TRUE(store().directory().GetUserByName(evil_tenant, "admin'--")->has_value());
  EXPECT_FALSE(store().directory().GetUserByName(evil_tenant, "' OR ''='")->has_value());
}

TEST_P(StoreTxTest, BadInputGivesErrorsNotCrashes) {
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(store().changes().Write("", [](WriteTx&) { return absl::OkStatus(); }).code(),
            kInvalid);
  EXPECT_EQ(store().changes().ReadSince(kTenant, 0, 0).status().code(), kInvalid);
  EXPECT_EQ(store().changes().ReadSince(kTenant, -1, 10).status().code(), kInvalid);
  EXPECT_EQ(store().changes().ReadSince("", 0, 10).status().code(), kInvalid);
  EXPECT_EQ(store().changes().GetRecord(kTenant, v1::RecordRef()).status().code(), kInvalid);
  EXPECT_EQ(store().changes().ScopeAt(kTenant, AccountRef(""), 1).status().code(), kInvalid);
  EXPECT_EQ(
      store().changes().GetRecord(kTenant, AccountRef(std::string("nul\0id", 6))).status().code(),
      kInvalid);
  EXPECT_EQ(store().changes().GetRecord(kTenant, AccountRef("bad\xff\xfeutf8")).status().code(),
            kInvalid);
  EXPECT_EQ(store().changes().GetRecord(kTenant, AccountRef(std::string(300, 'x'))).status().code(),
            kInvalid);
  EXPECT_EQ(store().directory().PutTenant(TenantRow{"", "slug", "x"}).code(), kInvalid);
  EXPECT_EQ(store().directory().PutUser(UserRow{}).code(), kInvalid);
  EXPECT_EQ(store().directory().PutDevice(DeviceRow{}).code(), kInvalid);
  EXPECT_EQ(store().directory().PutTeam(kTenant, v1::Team()).code(), kInvalid);

  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    EXPECT_EQ(tx.GetRecord(v1::RecordRef()).status().code(), kInvalid);
    EXPECT_EQ(tx.PutApplied(AppliedMutation()).code(), kInvalid);
    EXPECT_EQ(tx.PutApplied(Applied("dev", 0, "h")).code(), kInvalid);
    EXPECT_EQ(tx.GetApplied("", 1).status().code(), kInvalid);
    EXPECT_EQ(tx.AddToClaim("", 1).status().code(), kInvalid);
    auto seq = tx.NextSeq();
    v1::RecordState no_type = AccountState("x", *seq, "alice");
    no_type.mutable_ref()->set_entity_type(v1::ENTITY_TYPE_UNSPECIFIED);
    EXPECT_EQ(tx.PutRecord(no_type, nullptr).code(), kInvalid);
    v1::RecordState bad_owner = AccountState("x", *seq, "bad\xc0\x80owner");
    EXPECT_EQ(tx.PutRecord(bad_owner, nullptr).code(), kInvalid);
    // Validation failures do not poison the transaction.
    return tx.PutRecord(AccountState("x", *seq, "alice"), nullptr);
  });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(*store().changes().LatestSeq(kTenant), 1);
}

TEST_P(StoreTxTest, CallbackErrorStatusIsReturnedUnchanged) {
  absl::Status s =
      store().changes().Write(kTenant, [](WriteTx&) { return absl::NotFoundError("gone"); });
  EXPECT_EQ(s, absl::NotFoundError("gone"));
}

CRMSYNC_INSTANTIATE_STORE_SUITE(StoreTxTest);

}  // namespace
}  // namespace crmsync::server
