// Duplicate detection through the push path on both stores: what is
// flagged (and what is not), who receives the flags, dismissal, edits and
// deletes that take flags away, the admin calls.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "admin_fixture.h"
#include "logic/duplicates.h"
#include "logic/identity_keys.h"

namespace crmsync::server::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

v1::RecordRef LeadRef(const std::string& id) {
  v1::RecordRef ref;
  ref.set_entity_type(v1::ENTITY_TYPE_LEAD);
  ref.set_id(id);
  return ref;
}

class DuplicatesTest : public AdminHandlerTest {
 protected:
  static v1::Record Lead(const std::string& id, const std::string& owner, const std::string& first,
                         const std::string& last, const std::string& email,
                         const std::string& phone = "", const std::string& company = "") {
    v1::Record r;
    v1::Lead* l = r.mutable_lead();
    l->set_id(id);
    l->set_first_name(first);
    l->set_last_name(last);
    l->set_email(email);
    l->set_phone(phone);
    l->set_company(company);
    l->set_owner_user_id(owner);
    l->set_team_id(owner == "carol" ? "south" : "north");
    return r;
  }

  v1::RecordState Create(const std::string& user, const v1::Record& record) {
    clock_.Advance(10);
    Device& d = DeviceOf(user);
    auto resp = PushOk(Rep(user, d.id()), {d.Create(record, clock_.NowMs())});
    EXPECT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED) << resp.DebugString();
    return resp.results(0).record();
  }

  Device& DeviceOf(const std::string& user) {
    auto it = devices_.find(user);
    if (it == devices_.end()) it = devices_.emplace(user, Device("dev-" + user, user)).first;
    return it->second;
  }

  // The flag of `record` as stored (nullopt: none, or deleted).
  std::optional<v1::PossibleDuplicate> Flag(v1::EntityType type, const std::string& id) {
    v1::RecordRef ref;
    ref.set_entity_type(type);
    ref.set_id(id);
    auto found = store_->changes().GetRecord(kTenant, PossibleDuplicateRef(ref));
    EXPECT_TRUE(found.ok()) << found.status();
    if (!found.ok() || !*found || (*found)->deleted()) return std::nullopt;
    return (*found)->data().possible_duplicate();
  }

  static std::vector<std::string> CandidateIds(const std::optional<v1::PossibleDuplicate>& flag) {
    std::vector<std::string> ids;
    if (flag) {
      for (const auto& c : flag->candidates()) ids.push_back(c.record().id());
    }
    return ids;
  }

  // The duplicate flags `who` receives in a full pull.
  std::vector<std::string> FlagsPulledBy(const std::string& user) {
    std::string cursor;
    std::map<std::string, bool> live;
    for (const v1::Change& c : PullAll(Rep(user, DeviceOf(user).id()), &cursor)) {
      if (c.record().entity_type() != v1::ENTITY_TYPE_POSSIBLE_DUPLICATE) continue;
      // The device's copy: a flag with candidates is one to show.
      live[c.values().possible_duplicate().record().id()] =
          c.kind() == v1::CHANGE_KIND_UPSERT &&
          c.values().possible_duplicate().candidates_size() > 0;
    }
    std::vector<std::string> out;
    for (const auto& [id, up] : live) {
      if (up) out.push_back(id);
    }
    return out;
  }

  std::map<std::string, Device> devices_;
};

TEST_P(DuplicatesTest, TwoRepsCreatingTheSamePersonAreBothFlaggedAndNothingIsMerged) {
  Create("alice",
         Lead("lead-a", "alice", "Zoë", "Dupont", "Zoe.Dupont+fair@gmail.com", "(415) 555-2671"));
  Create("carol",
         Lead("lead-c", "carol", "zoe", "DUPONT", "zoedupont@googlemail.com", "+1 415 555 2671"));
  auto a = Flag(v1::ENTITY_TYPE_LEAD, "lead-a");
  auto c = Flag(v1::ENTITY_TYPE_LEAD, "lead-c");
  ASSERT_TRUE(a && c);
  EXPECT_THAT(CandidateIds(a), ElementsAre("lead-c"));
  EXPECT_THAT(CandidateIds(c), ElementsAre("lead-a"));
  EXPECT_EQ(a->owner_user_id(), "alice");
  EXPECT_EQ(c->owner_user_id(), "carol");
  EXPECT_EQ(a->candidates(0).owner_user_id(), "carol") << "who to talk to";
  EXPECT_THAT(a->candidates(0).reasons(), UnorderedElementsAre("email", "phone", "name"));
  EXPECT_GE(a->candidates(0).score(), 0.99);
  EXPECT_EQ(a->candidates(0).score(), c->candidates(0).score()) << "the score is symmetric";

  // Each owner receives the flag of their own record only; both records
  // are untouched.
  EXPECT_THAT(FlagsPulledBy("alice"), ElementsAre("lead-a"));
  EXPECT_THAT(FlagsPulledBy("carol"), ElementsAre("lead-c"));
  auto lead_a = store_->changes().GetRecord(kTenant, LeadRef("lead-a"));
  ASSERT_TRUE(lead_a.ok() && *lead_a);
  EXPECT_EQ((*lead_a)->data().lead().email(), "Zoe.Dupont+fair@gmail.com");

  // The admin lists and shows them.
  v1::ListDuplicatesResponse list;
  ASSERT_TRUE(admin_->ListDuplicates(Admin(), {}, &list).ok());
  ASSERT_EQ(list.duplicates_size(), 2);
  v1::GetDuplicatesRequest get;
  *get.mutable_record() = LeadRef("lead-a");
  v1::GetDuplicatesResponse shown;
  ASSERT_TRUE(admin_->GetDuplicates(Admin(), get, &shown).ok());
  EXPECT_EQ(shown.record().ref().id(), "lead-a");
  ASSERT_EQ(shown.candidates_size(), 1);
  EXPECT_EQ(shown.candidates(0).data().lead().last_name(), "DUPONT");
  EXPECT_EQ(admin_->ListDuplicates(Rep("alice", "dev-alice"), {}, &list).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_P(DuplicatesTest, ANameAloneIsNotEnoughButANameAndACompanyAre) {
  Create("alice", Lead("lead-1", "alice", "John", "Smith", "", "", "Acme"));
  Create("bob", Lead("lead-2", "bob", "John", "Smith", "", "", "Globex"));
  EXPECT_FALSE(Flag(v1::ENTITY_TYPE_LEAD, "lead-1")) << "many people are called John Smith";
  // A typo in the first name and the company's legal form still match.
  Create("bob", Lead("lead-3", "bob", "Jon", "Smith", "", "", "ACME, Inc."));
  EXPECT_THAT(CandidateIds(Flag(v1::ENTITY_TYPE_LEAD, "lead-1")), ElementsAre("lead-3"));
  EXPECT_THAT(CandidateIds(Flag(v1::ENTITY_TYPE_LEAD, "lead-3")), ElementsAre("lead-1"));
}

// Records indexed by an earlier version (no keys of a name with a company)
// get this version's keys once, at start-up.
TEST_P(DuplicatesTest, AnIndexOfAnEarlierVersionIsRebuiltOnce) {
  const DuplicateOptions options;
  const v1::RecordState john =
      Create("alice", Lead("lead-1", "alice", "John", "Smith", "", "", "Acme"));
  identity::Identity earlier = identity::IdentityOf(john.data(), options);
  const std::vector<int64_t> all_keys = identity::IndexKeysOf(earlier, options);
  earlier.company.clear();
  earlier.address.clear();
  const std::vector<int64_t> earlier_keys = identity::IndexKeysOf(earlier, options);
  ASSERT_LT(earlier_keys.size(), all_keys.size());
  auto index_as_before = [&] {
    ASSERT_TRUE(store_->changes()
                    .Write(kTenant,
                           [&](WriteTx& tx) {
                             return tx.SetIndexKeys(john.ref(), IndexKind::kDuplicateKey,
                                                    earlier_keys);
                           })
                    .ok());
  };
  // Under the name with its company key only.
  auto found_by_pair = [&] {
    std::vector<KeyRange> ranges;
    for (int64_t k : all_keys) {
      if (!std::binary_search(earlier_keys.begin(), earlier_keys.end(), k)) {
        ranges.push_back(KeyRange{k, k});
      }
    }
    auto found = store_->changes().FindIndexed(kTenant, IndexKind::kDuplicateKey,
                                               v1::ENTITY_TYPE_LEAD, ranges, 0);
    EXPECT_TRUE(found.ok()) << found.status();
    return found.ok() && std::any_of(found->begin(), found->end(),
                                     [](const auto& r) { return r.ref().id() == "lead-1"; });
  };
  index_as_before();
  ASSERT_FALSE(found_by_pair());
  ASSERT_TRUE(EnsureDuplicateIndex(&store_->changes(), kTenant, options).ok());
  EXPECT_TRUE(found_by_pair());
  Create("bob", Lead("lead-2", "bob", "John", "Smith", "", "", "ACME Inc."));
  EXPECT_THAT(CandidateIds(Flag(v1::ENTITY_TYPE_LEAD, "lead-2")), ElementsAre("lead-1"));
  // Once: a second start-up reads nothing.
  index_as_before();
  ASSERT_TRUE(EnsureDuplicateIndex(&store_->changes(), kTenant, options).ok());
  EXPECT_FALSE(found_by_pair());
}

// The index holds the keys a check looks up under the threshold: a name
// alone only where it can flag. A threshold that changes that rebuilds the
// index at start-up, in either direction, once per change.
TEST_P(DuplicatesTest, TheIndexFollowsAThresholdThatAddsOrDropsNamesAlone) {
  const DuplicateOptions strict;  // 0.8: a person's name alone (0.7) never flags
  DuplicateOptions loose;
  loose.threshold = 0.6;
  const v1::RecordState john =
      Create("alice", Lead("lead-1", "alice", "John", "Smith", "", "", "Acme"));
  const identity::Identity id = identity::IdentityOf(john.data(), strict);
  const std::vector<int64_t> pair_keys = identity::IndexKeysOf(id, strict);
  const std::vector<int64_t> all_keys = identity::IndexKeysOf(id, loose);
  std::vector<KeyRange> name_alone, pairs;
  for (int64_t k : all_keys) {
    (std::binary_search(pair_keys.begin(), pair_keys.end(), k) ? pairs : name_alone)
        .push_back(KeyRange{k, k});
  }
  ASSERT_EQ(name_alone.size(), 2u) << "the name and the name block";
  ASSERT_FALSE(pairs.empty());
  auto found_by = [&](const std::vector<KeyRange>& ranges) {
    auto found = store_->changes().FindIndexed(kTenant, IndexKind::kDuplicateKey,
                                               v1::ENTITY_TYPE_LEAD, ranges, 0);
    EXPECT_TRUE(found.ok()) << found.status();
    return found.ok() && std::any_of(found->begin(), found->end(),
                                     [](const auto& r) { return r.ref().id() == "lead-1"; });
  };
  auto ensure = [&](const DuplicateOptions& options) {
    ASSERT_TRUE(EnsureDuplicateIndex(&store_->changes(), kTenant, options).ok());
  };
  auto index_with = [&](const std::vector<int64_t>& keys) {
    ASSERT_TRUE(store_->changes()
                    .Write(kTenant,
                           [&](WriteTx& tx) {
                             return tx.SetIndexKeys(john.ref(), IndexKind::kDuplicateKey, keys);
                           })
                    .ok());
  };
  ensure(strict);  // the start-up of this version
  EXPECT_TRUE(found_by(pairs));
  EXPECT_FALSE(found_by(name_alone)) << "written under 0.8: no key of a name alone";

  ensure(loose);
  EXPECT_TRUE(found_by(name_alone));
  EXPECT_TRUE(found_by(pairs));
  // Once per change: a second start-up under 0.6 reads nothing.
  index_with(pair_keys);
  ensure(loose);
  EXPECT_FALSE(found_by(name_alone));

  index_with(all_keys);
  ensure(strict);
  EXPECT_FALSE(found_by(name_alone)) << "keys no check reads are dropped";
  EXPECT_TRUE(found_by(pairs));
  // And back: the names alone are indexed again.
  ensure(loose);
  EXPECT_TRUE(found_by(name_alone));
}

TEST_P(DuplicatesTest, ALeadAndAContactOfOnePersonAreFlaggedAccountsByWebsite) {
  Create("alice", Lead("lead-1", "alice", "Ana", "Lima", "ana@lima.example"));
  v1::Record contact;
  contact.mutable_contact()->set_id("contact-1");
  contact.mutable_contact()->set_first_name("Ana");
  contact.mutable_contact()->set_last_name("Lima");
  contact.mutable_contact()->set_email("ANA@lima.example");
  contact.mutable_contact()->set_owner_user_id("bob");
  contact.mutable_contact()->set_team_id("north");
  Create("bob", contact);
  auto flag = Flag(v1::ENTITY_TYPE_CONTACT, "contact-1");
  ASSERT_TRUE(flag);
  ASSERT_EQ(flag->candidates_size(), 1);
  EXPECT_EQ(flag->candidates(0).record().entity_type(), v1::ENTITY_TYPE_LEAD);

  auto account = [](const std::string& id, const std::string& name, const std::string& site) {
    v1::Record r;
    r.mutable_account()->set_id(id);
    r.mutable_account()->set_name(name);
    r.mutable_account()->set_website(site);
    r.mutable_account()->set_owner_user_id("alice");
    r.mutable_account()->set_team_id("north");
    return r;
  };
  Create("alice", account("acc-1", "Globex Corporation", "https://www.globex.example/about"));
  Create("alice", account("acc-2", "Initech", "globex.example"));
  Create("alice", account("acc-3", "Globex", ""));
  EXPECT_THAT(CandidateIds(Flag(v1::ENTITY_TYPE_ACCOUNT, "acc-1")),
              UnorderedElementsAre("acc-2", "acc-3"));
  EXPECT_FALSE(Flag(v1::ENTITY_TYPE_LEAD, "acc-1")) << "flags are per type";

  // Five flags, listed in pages of two; filtered by type.
  std::set<std::string> seen;
  v1::ListDuplicatesRequest req;
  req.set_page_size(2);
  for (int page = 0; page < 5; ++page) {
    v1::ListDuplicatesResponse resp;
    ASSERT_TRUE(admin_->ListDuplicates(Admin(), req, &resp).ok());
    EXPECT_LE(resp.duplicates_size(), 2);
    for (const auto& d : resp.duplicates()) EXPECT_TRUE(seen.insert(d.record().id()).second);
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  EXPECT_THAT(seen, UnorderedElementsAre("lead-1", "contact-1", "acc-1", "acc-2", "acc-3"));
  v1::ListDuplicatesRequest accounts;
  accounts.set_entity_type(v1::ENTITY_TYPE_ACCOUNT);
  v1::ListDuplicatesResponse listed;
  ASSERT_TRUE(admin_->ListDuplicates(Admin(), accounts, &listed).ok());
  EXPECT_EQ(listed.duplicates_size(), 3);
  accounts.set_entity_type(v1::ENTITY_TYPE_OPPORTUNITY);
  EXPECT_EQ(admin_->ListDuplicates(Admin(), accounts, &listed).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(DuplicatesTest, DismissedCandidatesStayAwayAndEditsOrDeletesTakeFlagsAway) {
  auto a = Create("alice", Lead("lead-a", "alice", "Li", "Wei", "li.wei@example.com"));
  Create("bob", Lead("lead-b", "bob", "Wei", "Li", "li.wei@example.com"));
  auto c = Create("alice", Lead("lead-c", "alice", "Li", "Wei", "LI.WEI@example.com"));
  EXPECT_THAT(CandidateIds(Flag(v1::ENTITY_TYPE_LEAD, "lead-a")),
              UnorderedElementsAre("lead-b", "lead-c"));

  // Alice says lead-b is someone else: her device adds it to the flag's
  // dismissed ids (an ordinary update); a later edit of lead-a does not
  // bring it back.
  auto stored = store_->changes().GetRecord(kTenant, PossibleDuplicateRef(a.ref()));
  ASSERT_TRUE(stored.ok() && *stored);
  v1::Record dismiss;
  dismiss.mutable_possible_duplicate()->add_dismissed_record_ids("lead-b");
  clock_.Advance(10);
  auto resp = PushOk(
      Rep("alice", "dev-alice"),
      {DeviceOf("alice").Update(**stored, dismiss, {"dismissed_record_ids"}, clock_.NowMs())});
  ASSERT_NE(resp.results(0).outcome(), v1::MUTATION_OUTCOME_REJECTED) << resp.DebugString();
  EXPECT_THAT(CandidateIds(Flag(v1::ENTITY_TYPE_LEAD, "lead-a")), ElementsAre("lead-c"));
  auto bobs = Flag(v1::ENTITY_TYPE_LEAD, "lead-b");
  ASSERT_TRUE(bobs);
  EXPECT_THAT(CandidateIds(bobs), ElementsAre("lead-c")) << "dismissed for the pair";
  EXPECT_THAT(bobs->dismissed_record_ids(), ElementsAre("lead-a"));
  // Anything else on a flag is the server's.
  v1::Record forged;
  forged.mutable_possible_duplicate()->set_owner_user_id("bob");
  clock_.Advance(10);
  auto refused =
      PushOk(Rep("alice", "dev-alice"),
             {DeviceOf("alice").Update(**stored, forged, {"owner_user_id"}, clock_.NowMs())});
  EXPECT_EQ(refused.results(0).outcome(), v1::MUTATION_OUTCOME_REJECTED);
  EXPECT_EQ(refused.results(0).reject_reason(), v1::REJECT_REASON_VALIDATION);
  EXPECT_THAT(refused.results(0).message(), ::testing::HasSubstr("dismissed_record_ids"));
  v1::Record invented;
  invented.mutable_possible_duplicate()->set_id("dup-0000000000000000");
  invented.mutable_possible_duplicate()->add_dismissed_record_ids("lead-b");
  v1::RecordState nothing;
  nothing.mutable_ref()->set_entity_type(v1::ENTITY_TYPE_POSSIBLE_DUPLICATE);
  nothing.mutable_ref()->set_id("dup-0000000000000000");
  nothing.set_version(1);
  refused = PushOk(
      Rep("alice", "dev-alice"),
      {DeviceOf("alice").Update(nothing, invented, {"dismissed_record_ids"}, clock_.NowMs())});
  EXPECT_EQ(refused.results(0).outcome(), v1::MUTATION_OUTCOME_REJECTED);
  v1::Record phone;
  phone.mutable_lead()->set_phone("+33 1 23 45 67 89");
  clock_.Advance(10);
  a = PushOk(Rep("alice", "dev-alice"),
             {DeviceOf("alice").Update(a, phone, {"phone"}, clock_.NowMs())})
          .results(0)
          .record();
  EXPECT_THAT(CandidateIds(Flag(v1::ENTITY_TYPE_LEAD, "lead-a")), ElementsAre("lead-c"));

  // lead-c's e-mail changes: it is no longer anyone's duplicate, on both
  // sides.
  v1::Record other;
  other.mutable_lead()->set_email("someone.else@example.com");
  other.mutable_lead()->set_first_name("Mia");
  clock_.Advance(10);
  PushOk(Rep("alice", "dev-alice"),
         {DeviceOf("alice").Update(c, other, {"email", "first_name"}, clock_.NowMs())});
  EXPECT_THAT(CandidateIds(Flag(v1::ENTITY_TYPE_LEAD, "lead-a")), ElementsAre())
      << "kept for its dismissal";
  EXPECT_FALSE(Flag(v1::ENTITY_TYPE_LEAD, "lead-c")) << "a flag with nothing left goes";
  EXPECT_THAT(CandidateIds(Flag(v1::ENTITY_TYPE_LEAD, "lead-b")), ElementsAre());

  // A new lead of the same person is flagged with lead-a (not dismissed).
  Create("carol", Lead("lead-d", "carol", "Li", "Wei", "li.wei@example.com"));
  EXPECT_THAT(CandidateIds(Flag(v1::ENTITY_TYPE_LEAD, "lead-a")), ElementsAre("lead-d"));
  EXPECT_THAT(CandidateIds(Flag(v1::ENTITY_TYPE_LEAD, "lead-b")), ElementsAre("lead-d"));
  EXPECT_THAT(CandidateIds(Flag(v1::ENTITY_TYPE_LEAD, "lead-d")),
              UnorderedElementsAre("lead-a", "lead-b"));

  // lead-a is erased: its flag goes, and lead-d's flag loses it.
  v1::EraseRecordRequest erase;
  *erase.mutable_record() = LeadRef("lead-a");
  v1::EraseRecordResponse erased;
  const std::vector<int64_t> keys_of_a =
      identity::IndexKeysOf(identity::IdentityOf(a.data(), DuplicateOptions{}), DuplicateOptions{});
  ASSERT_TRUE(admin_->EraseRecord(Admin(), AdminContext{"test"}, erase, &erased).ok());
  EXPECT_FALSE(Flag(v1::ENTITY_TYPE_LEAD, "lead-a"));
  // The hashes of the erased person's e-mail, phone and name are gone from
  // the index.
  std::vector<KeyRange> ranges;
  for (int64_t k : keys_of_a) ranges.push_back(KeyRange{k, k});
  auto indexed = store_->changes().FindIndexed(kTenant, IndexKind::kDuplicateKey,
                                               v1::ENTITY_TYPE_LEAD, ranges, 0);
  ASSERT_TRUE(indexed.ok()) << indexed.status();
  for (const auto& r : *indexed) EXPECT_NE(r.ref().id(), "lead-a");
  EXPECT_THAT(CandidateIds(Flag(v1::ENTITY_TYPE_LEAD, "lead-d")), ElementsAre("lead-b"));
  EXPECT_THAT(FlagsPulledBy("alice"), ElementsAre()) << "alice's device saw her flag go";
  EXPECT_THAT(FlagsPulledBy("carol"), ElementsAre("lead-d"));
}

TEST_P(DuplicatesTest, DuplicatesInOneBatchAreFoundAndAReSentBatchWritesNothingTwice) {
  clock_.Advance(10);
  Device& d = DeviceOf("alice");
  std::vector<v1::Mutation> batch = {
      d.Create(Lead("lead-1", "alice", "Ivo", "Maric", "ivo@maric.example"), clock_.NowMs()),
      d.Create(Lead("lead-2", "alice", "Ivo", "Marić", "ivo@maric.example"), clock_.NowMs() + 1)};
  auto first = PushOk(Rep("alice", "dev-alice"), batch);
  EXPECT_THAT(CandidateIds(Flag(v1::ENTITY_TYPE_LEAD, "lead-1")), ElementsAre("lead-2"));
  auto latest = store_->changes().LatestSeq(kTenant);
  ASSERT_TRUE(latest.ok());
  PushOk(Rep("alice", "dev-alice"), batch);
  auto again = store_->changes().LatestSeq(kTenant);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *latest) << "a retried batch changes nothing";
}

TEST_P(DuplicatesTest, OffMeansNoFlags) {
  push_options_.duplicates.enabled = false;
  admin_.reset();
  push_ = std::make_unique<PushHandler>(&store_->changes(), &store_->directory(), &store_->audit(),
                                        &policies_, &clock_, push_options_);
  admin_ = std::make_unique<AdminHandler>(store_.get(), &clock_, nullptr, audit_.get(), push_.get(),
                                          AdminHandler::Info{}, nullptr);
  Create("alice", Lead("lead-1", "alice", "Ana", "Lima", "ana@lima.example"));
  Create("bob", Lead("lead-2", "bob", "Ana", "Lima", "ana@lima.example"));
  EXPECT_FALSE(Flag(v1::ENTITY_TYPE_LEAD, "lead-1"));
  v1::ListDuplicatesResponse list;
  ASSERT_TRUE(admin_->ListDuplicates(Admin(), {}, &list).ok());
  EXPECT_EQ(list.duplicates_size(), 0);
}

// Writes with the check off keep no index keys; the next start with it on
// must index what they wrote, or duplicates among those records are never
// found until each is written again.
TEST_P(DuplicatesTest, RecordsWrittenWithTheCheckOffAreIndexedWhenItComesBackOn) {
  ASSERT_TRUE(EnsureDuplicateIndex(&store_->changes(), kTenant, push_options_.duplicates).ok());
  auto restart_with = [&](bool enabled) {
    push_options_.duplicates.enabled = enabled;
    ASSERT_TRUE(EnsureDuplicateIndex(&store_->changes(), kTenant, push_options_.duplicates).ok());
    admin_.reset();
    push_ = std::make_unique<PushHandler>(&store_->changes(), &store_->directory(),
                                          &store_->audit(), &policies_, &clock_, push_options_);
    admin_ = std::make_unique<AdminHandler>(store_.get(), &clock_, nullptr, audit_.get(),
                                            push_.get(), AdminHandler::Info{}, nullptr);
  };
  restart_with(false);
  Create("alice", Lead("lead-1", "alice", "Ana", "Lima", "ana@lima.example"));
  restart_with(false);  // a second start with the check off changes nothing
  restart_with(true);
  Create("bob", Lead("lead-2", "bob", "Ana", "Lima", "ana@lima.example"));
  EXPECT_THAT(CandidateIds(Flag(v1::ENTITY_TYPE_LEAD, "lead-2")), ElementsAre("lead-1"));
  EXPECT_THAT(CandidateIds(Flag(v1::ENTITY_TYPE_LEAD, "lead-1")), ElementsAre("lead-2"));
}

INSTANTIATE_TEST_SUITE_P(Stores, DuplicatesTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace crmsync::server::testing
