// Conformance: field history (lineage) — the values WriteTx::PutRecord
// keeps when a write replaces them (copy on write), how
// ChangeLog::ReadFieldHistory returns them, trimming to the depth, and
// tombstones dropping them.
#include <functional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "store_fixture.h"

namespace crmsync::server {
namespace {

constexpr char kTenant[] = "t-lineage";

class StoreLineageTest : public StoreTest {
 protected:
  // Writes account `id` in one transaction: `name` and/or `phone` set by
  // this change (their FieldState.version is the new version), authored by
  // `device`. Empty strings leave a field as it was. Returns the version.
  int64_t Write(const std::string& id, const std::string& name, const std::string& phone,
                const std::string& device, bool deleted = false) {
    int64_t version = 0;
    absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
      version = 0;
      return WriteIn(tx, id, name, phone, device, deleted, &version);
    });
    EXPECT_TRUE(s.ok()) << s;
    return version;
  }

  static absl::Status WriteIn(WriteTx& tx, const std::string& id, const std::string& name,
                              const std::string& phone, const std::string& device, bool deleted,
                              int64_t* version) {
    auto current = tx.GetRecord(AccountRef(id));
    if (!current.ok()) return current.status();
    auto seq = tx.NextSeq();
    if (!seq.ok()) return seq.status();
    v1::RecordState state = *current ? **current : AccountState(id, *seq, "u-1");
    state.set_version(*seq);
    state.set_deleted(deleted);
    auto stamp = [&](const std::string& path) {
      v1::FieldState& f = (*state.mutable_fields())[path];
      f.set_version(*seq);
      f.mutable_hlc()->set_wall_time_ms(1'000 * *seq);
      f.mutable_provenance()->set_device_id(device);
      f.mutable_provenance()->set_channel(v1::CHANNEL_FIELD_APP);
    };
    if (!*current) stamp("id");
    if (!name.empty()) {
      state.mutable_data()->mutable_account()->set_name(name);
      stamp("name");
    }
    if (!phone.empty()) {
      state.mutable_data()->mutable_account()->set_phone(phone);
      stamp("phone");
    }
    if (deleted) {
      state.clear_fields();
      state.mutable_data()->mutable_account()->Clear();
      state.mutable_data()->mutable_account()->set_id(id);
    }
    *version = *seq;
    return tx.PutRecord(state, nullptr);
  }

  std::vector<std::string> Values(const std::string& id, const std::string& path, int limit = 100) {
    auto entries = store().changes().ReadFieldHistory(kTenant, AccountRef(id), path, limit);
    EXPECT_TRUE(entries.ok()) << entries.status();
    std::vector<std::string> out;
    if (!entries.ok()) return out;
    for (const v1::FieldHistoryEntry& e : *entries) {
      const v1::Account& a = e.value().account();
      out.push_back(e.path() + "=" + (e.path() == "name" ? a.name() : a.phone()) + "@" +
                    std::to_string(e.version()));
    }
    return out;
  }
};

TEST_P(StoreLineageTest, NothingIsKeptWhenTheDepthIsZeroOrOne) {
  ASSERT_EQ(store().changes().field_history_depth(), 0);
  Write("a1", "Acme", "+33 1", "dev-1");
  Write("a1", "Acme SA", "", "dev-1");
  EXPECT_TRUE(Values("a1", "").empty());
  store().changes().SetFieldHistoryDepth(1);  // the current value only: the record's
  Write("a1", "Acme AG", "", "dev-1");
  EXPECT_TRUE(Values("a1", "").empty());
}

TEST_P(StoreLineageTest, EachWriteKeepsTheValuesItReplacesNewestFirst) {
  store().changes().SetFieldHistoryDepth(5);
  const int64_t v1 = Write("a1", "Acme", "+33 1", "dev-1");
  EXPECT_TRUE(Values("a1", "").empty()) << "a create replaces nothing";
  const int64_t v2 = Write("a1", "Acme SA", "", "dev-2");
  Write("a1", "", "+33 2", "dev-3");
  const int64_t v4 = Write("a1", "Acme Group", "", "dev-3");
  EXPECT_EQ(Values("a1", "name"), (std::vector<std::string>{"name=Acme SA@" + std::to_string(v2),
                                                            "name=Acme@" + std::to_string(v1)}));
  EXPECT_EQ(Values("a1", ""), (std::vector<std::string>{"name=Acme SA@" + std::to_string(v2),
                                                        "name=Acme@" + std::to_string(v1),
                                                        "phone=+33 1@" + std::to_string(v1)}))
      << "newest first, ties by path; the id is never replaced";
  auto entries = store().changes().ReadFieldHistory(kTenant, AccountRef("a1"), "phone", 10);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].provenance().device_id(), "dev-1") << "the replaced value's own source";
  EXPECT_EQ((*entries)[0].hlc().wall_time_ms(), 1'000 * v1);
  EXPECT_TRUE((*entries)[0].value().account().owner_user_id().empty())
      << "only the field's value is kept";
  EXPECT_FALSE((*entries)[0].current());
  (void)v4;
  // Other records and tenants are not mixed in.
  Write("a2", "Other", "", "dev-1");
  Write("a2", "Other 2", "", "dev-1");
  EXPECT_EQ(Values("a1", "name").size(), 2u);
  auto other = store().changes().ReadFieldHistory("t-other", AccountRef("a1"), "", 10);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_TRUE(other->empty());
}

TEST_P(StoreLineageTest, ReadsAreLimitedPerFieldAndTrimmingKeepsTheDepth) {
  store().changes().SetFieldHistoryDepth(3);  // the current value and 2 replaced
  std::vector<int64_t> versions;
  for (int i = 1; i <= 6; ++i) {
    versions.push_back(Write("a1", "n" + std::to_string(i), i == 1 ? "p1" : "", "dev-1"));
  }
  // At most depth - 1 are returned even before trimming, and `limit` per field.
  EXPECT_EQ(Values("a1", "name"),
            (std::vector<std::string>{"name=n5@" + std::to_string(versions[4]),
                                      "name=n4@" + std::to_string(versions[3])}));
  EXPECT_EQ(Values("a1", "name", 1),
            (std::vector<std::string>{"name=n5@" + std::to_string(versions[4])}));
  auto removed = store().changes().TrimFieldHistory(kTenant);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 3) << "n1..n3 go";
  store().changes().SetFieldHistoryDepth(10);
  EXPECT_EQ(Values("a1", "name").size(), 2u);
  auto again = store().changes().TrimFieldHistory(kTenant);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, 0);
}

TEST_P(StoreLineageTest, ATombstoneDropsTheRecordsHistory) {
  store().changes().SetFieldHistoryDepth(5);
  Write("a1", "Acme", "+33 1", "dev-1");
  Write("a1", "Acme SA", "+33 2", "dev-1");
  Write("a2", "Keep", "", "dev-1");
  Write("a2", "Kept", "", "dev-1");
  ASSERT_EQ(Values("a1", "").size(), 2u);
  Write("a1", "", "", "dev-1", /*deleted=*/true);
  EXPECT_TRUE(Values("a1", "").empty());
  EXPECT_EQ(Values("a2", "").size(), 1u);
}

TEST_P(StoreLineageTest, SeveralWritesInOneTransactionAreAllKept) {
  // PostgreSQL buffers rows until commit: a create and edits of one record,
  // and the create, edit and delete of another, in one batch must come out
  // as if written one by one.
  store().changes().SetFieldHistoryDepth(10);
  std::vector<int64_t> v(6);
  absl::Status s = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    for (const auto& step : std::vector<std::function<absl::Status()>>{
             [&] { return WriteIn(tx, "a1", "one", "+1", "d", false, &v[0]); },
             [&] { return WriteIn(tx, "a1", "two", "", "d", false, &v[1]); },
             [&] { return WriteIn(tx, "a2", "gone", "", "d", false, &v[2]); },
             [&] { return WriteIn(tx, "a2", "going", "", "d", false, &v[3]); },
             [&] { return WriteIn(tx, "a2", "", "", "d", true, &v[4]); },
             [&] { return WriteIn(tx, "a1", "three", "+2", "d", false, &v[5]); }}) {
      if (auto st = step(); !st.ok()) return st;
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(Values("a1", ""), (std::vector<std::string>{"name=two@" + std::to_string(v[1]),
                                                        "name=one@" + std::to_string(v[0]),
                                                        "phone=+1@" + std::to_string(v[0])}));
  EXPECT_TRUE(Values("a2", "").empty());
  // A rolled-back transaction keeps nothing.
  absl::Status failed = store().changes().Write(kTenant, [&](WriteTx& tx) -> absl::Status {
    int64_t ignored = 0;
    if (auto st = WriteIn(tx, "a1", "four", "", "d", false, &ignored); !st.ok()) return st;
    return absl::AbortedError("roll back");
  });
  EXPECT_TRUE(absl::IsAborted(failed)) << failed;
  EXPECT_EQ(Values("a1", "name").size(), 2u);
}

TEST_P(StoreLineageTest, BadInputIsRefused) {
  store().changes().SetFieldHistoryDepth(5);
  v1::RecordRef no_id = AccountRef("");
  EXPECT_TRUE(
      absl::IsInvalidArgument(store().changes().ReadFieldHistory(kTenant, no_id, "", 5).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      store().changes().ReadFieldHistory(kTenant, AccountRef("a1"), "", 0).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      store().changes().ReadFieldHistory("", AccountRef("a1"), "", 5).status()));
}

CRMSYNC_INSTANTIATE_STORE_SUITE(StoreLineageTest);

}  // namespace
}  // namespace crmsync::server
