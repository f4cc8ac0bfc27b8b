// Test fixture for the server's sync handlers on a real store (no gRPC):
// a tenant with two reps, a manager, an admin and a store terminal.
#ifndef CRMSYNC_TESTS_SERVER_HANDLER_FIXTURE_H_
#define CRMSYNC_TESTS_SERVER_HANDLER_FIXTURE_H_

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "crmsync/sync/policy_table.h"
#include "logic/clock.h"
#include "logic/pruner.h"
#include "logic/pull_handler.h"
#include "logic/push_handler.h"
#include "store/store.h"

namespace crmsync::server::testing {

namespace v1 = ::crmsync::v1;

inline constexpr char kTenant[] = "t-acme";
inline constexpr int64_t kStartMs = 1'800'000'000'000;

// Builds mutations with per-device client_seq and clock.
class Device {
 public:
  Device(std::string id, std::string user) : id_(std::move(id)), user_(std::move(user)) {}

  // A create of `record` with every field it sets.
  v1::Mutation Create(const v1::Record& record, int64_t now_ms);
  // An update of `paths` to the values in `values`, edited from `base`.
  v1::Mutation Update(const v1::RecordState& base, const v1::Record& values,
                      const std::vector<std::string>& paths, int64_t now_ms);
  v1::Mutation Delete(const v1::RecordState& base, int64_t now_ms);

  const std::string& id() const { return id_; }
  const std::string& user() const { return user_; }

 private:
  v1::Mutation Base(const v1::RecordRef& ref, int64_t now_ms);
  std::string id_;
  std::string user_;
  int64_t seq_ = 0;
};

// Parameterised over the store: "sqlite" or "postgres".
class HandlerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override;
  void TearDown() override;

  Principal Rep(const std::string& user, const std::string& device) const;
  Principal Manager() const;
  Principal Admin() const;
  Principal Terminal() const;

  // Pushes and expects the call itself to succeed.
  v1::PushResponse PushOk(const Principal& who, std::vector<v1::Mutation> mutations);
  absl::Status Push(const Principal& who, std::vector<v1::Mutation> mutations,
                    v1::PushResponse* response);
  // Pulls every page after `*cursor`, advancing it.
  std::vector<v1::Change> PullAll(const Principal& who, std::string* cursor, int page_size = 0);

  // Retention (a day) passes twice over: every device but dev-alice-2
  // keeps up to the latest change, dev-alice-2 falls silent, and the pruner
  // runs (its horizon must be the latest change). Returns its report.
  PruneReport PruneWithAlice2Silent();

  // A device's replica as the SDK keeps it, by record id: changes applied
  // with sync::ApplyChange; LEFT_SCOPE and ERASED drop the record.
  using Replica = std::map<std::string, v1::RecordState>;
  // Pulls every page after `*cursor` into `replica`; returns the changes.
  std::vector<v1::Change> CatchUp(const Principal& who, std::string* cursor, int page_size,
                                  Replica* replica);
  // Ids of the live (not deleted) records of `replica`.
  static std::set<std::string> LiveIds(const Replica& replica);
  // Ids of the live records `who` may read on the server now.
  std::set<std::string> ReadableIds(const Principal& who);

  static v1::Record LeadRecord(const std::string& id, const std::string& owner,
                               const std::string& first_name, const std::string& phone,
                               v1::Visibility visibility = v1::VISIBILITY_PRIVATE);

  std::string dir_;
  std::unique_ptr<Store> store_;
  ManualClock clock_{kStartMs};
  sync::PolicyTable policies_ = sync::PolicyTable::Defaults();
  PushOptions push_options_;
  std::unique_ptr<PushHandler> push_;
  std::unique_ptr<PullHandler> pull_;
  int commits_seen_ = 0;
};

}  // namespace crmsync::server::testing

#endif  // CRMSYNC_TESTS_SERVER_HANDLER_FIXTURE_H_
