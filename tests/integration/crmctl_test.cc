// crmctl against a real crm-syncd (demo tenant, embedded store, token auth):
// the operator walkthrough (most-behind device, its conflicts, resolving
// one), every command in table and JSON form, and the exit codes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "crmsync/v1/auth.grpc.pb.h"
#include "server_process.h"
#include "sync_client.h"

namespace crmsync::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every change after `*cursor` (all pages, or `page_size` changes only).
std::vector<v1::Change> Pull(DevSyncClient& client, std::string* cursor, int page_size = 0) {
  std::vector<v1::Change> out;
  for (int i = 0; i < 1000; ++i) {
    v1::PullRequest req;
    req.mutable_client()->set_protocol_version(1);
    req.set_cursor(*cursor);
    req.set_page_size(page_size);
    v1::PullResponse page;
    grpc::Status s = client.Pull(req, &page);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (!s.ok()) break;
    out.insert(out.end(), page.changes().begin(), page.changes().end());
    *cursor = page.next_cursor();
    if (!page.has_more() || page_size > 0) break;
  }
  return out;
}

class CrmctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("crmsync-crmctl-");
    std::string error;
    ASSERT_TRUE(
        server_.Start({"--dev-insecure", "--dev-identity", "--demo-tenant", "--password-memory-kib",
                       "64", "--store", "sqlite:" + dir_ + "/crm.db"},
                      &error))
        << error;
    config_ = dir_ + "/sub/crmctl.toml";  // login creates the file and its directory
    std::string out;
    ASSERT_EQ(Login("admin", &out), 0) << out;
    std::ofstream extra(config_, std::ios::app);
    extra << "server = \"" << server_.address() << "\"\ninsecure = true\n";
  }
  void TearDown() override {
    server_.Stop(SIGTERM);
    RemoveTree(dir_);
  }

  int Login(const std::string& user, std::string* out) {
    return RunCommand(
        {"/bin/sh", "-c",
         "printf '%s\\n' '" + user + "-demo-password' | '" CRMSYNC_CRMCTL_PATH "' --config '" +
             config_ + "' --server " + server_.address() +
             " --insecure login --tenant demo --user " + user + " --password-stdin"},
        out);
  }
  // Runs crmctl with the test's config file; returns its exit code.
  int Crmctl(std::vector<std::string> args, std::string* out) {
    args.insert(args.begin(), {CRMSYNC_CRMCTL_PATH, "--config", config_});
    return RunCommand(args, out);
  }
  std::string Ok(const std::vector<std::string>& args) {
    std::string out;
    int rc = Crmctl(args, &out);
    EXPECT_EQ(rc, 0) << ::testing::PrintToString(args) << "\n" << out;
    return out;
  }

  // Two devices of alice edit the amount of opp-alice-1 from the same base
  // (a manual conflict); bob-laptop syncs a little; alice-phone everything.
  std::string SetUpDevicesAndConflict() {
    DevSyncClient phone(server_.address(), "demo", "alice", "alice-phone");
    DevSyncClient tablet(server_.address(), "demo", "alice", "alice-tablet");
    DevSyncClient laptop(server_.address(), "demo", "bob", "bob-laptop");
    std::string phone_cursor, laptop_cursor;
    v1::RecordState opp;
    for (const auto& c : Pull(phone, &phone_cursor)) {
      if (c.record().id() == "opp-alice-1") {
        *opp.mutable_ref() = c.record();
        opp.set_version(c.version());
        *opp.mutable_data() = c.values();
      }
    }
    EXPECT_TRUE(opp.has_ref());
    Pull(laptop, &laptop_cursor, 2);
    auto edit = [&](DevSyncClient& device, int64_t amount) {
      v1::Mutation m;
      m.set_client_seq(1);
      *m.mutable_record() = opp.ref();
      m.set_operation(v1::OPERATION_UPSERT);
      m.set_base_version(opp.version());
      *m.mutable_base_values() = opp.data();
      m.mutable_values()->mutable_opportunity()->mutable_amount()->set_currency_code("EUR");
      m.mutable_values()->mutable_opportunity()->mutable_amount()->set_amount_minor(amount);
      m.mutable_update_mask()->add_paths("amount");
      m.mutable_hlc()->set_wall_time_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
      m.mutable_hlc()->set_node_id(device.device());
      m.mutable_provenance()->set_device_id(device.device());
      m.mutable_provenance()->set_author_user_id("u-alice");
      m.mutable_provenance()->set_channel(v1::CHANNEL_FIELD_APP);
      v1::PushRequest req;
      req.mutable_client()->set_protocol_version(1);
      *req.add_mutations() = m;
      v1::PushResponse resp;
      grpc::Status s = device.Push(req, &resp);
      EXPECT_TRUE(s.ok()) << s.error_message();
      return resp.results_size() == 1 ? resp.results(0) : v1::MutationResult();
    };
    EXPECT_EQ(edit(phone, 1300000).outcome(), v1::MUTATION_OUTCOME_APPLIED);
    v1::MutationResult conflicted = edit(tablet, 1450000);
    EXPECT_EQ(conflicted.outcome(), v1::MUTATION_OUTCOME_CONFLICT) << conflicted.message();
    Pull(phone, &phone_cursor);
    return conflicted.conflict_ids_size() == 1 ? conflicted.conflict_ids(0) : "";
  }

  std::string dir_;
  std::string config_;
  ServerProcess server_;
};

// The device ids of `devices --json` output, in order.
std::vector<std::string> DeviceIds(const std::string& json) {
  std::vector<std::string> ids;
  std::regex id("\"id\": \"([^\"]+)\"");
  for (auto it = std::sregex_iterator(json.begin(), json.end(), id); it != std::sregex_iterator();
       ++it) {
    ids.push_back((*it)[1]);
  }
  return ids;
}

TEST_F(CrmctlTest, OperatorFindsTheMostBehindDeviceAndResolvesItsConflict) {
  const std::string conflict = SetUpDevicesAndConflict();
  ASSERT_FALSE(conflict.empty());

  // 1. The most-behind device: alice-tablet never pulled.
  std::vector<std::string> order = DeviceIds(Ok({"devices", "--json"}));
  EXPECT_THAT(order, ::testing::ElementsAre("alice-tablet", "bob-laptop", "alice-phone"));
  std::string table = Ok({"devices"});
  EXPECT_THAT(table, HasSubstr("LAG"));
  EXPECT_LT(table.find("alice-tablet"), table.find("bob-laptop"));
  EXPECT_LT(table.find("bob-laptop"), table.find("alice-phone"));
  EXPECT_THAT(DeviceIds(Ok({"devices", "--user", "u-bob", "--json"})),
              ::testing::ElementsAre("bob-laptop"));
  EXPECT_TRUE(DeviceIds(Ok({"devices", "--stale", "1h", "--json"})).empty())
      << "every device was in contact just now";
  std::string tablet = Ok({"device", "show", "alice-tablet"});
  EXPECT_THAT(tablet, HasSubstr("u-alice"));
  EXPECT_THAT(tablet, HasSubstr("1 open")) << "open conflicts on records of its user";

  // 2. Its open conflicts.
  std::string listed = Ok({"conflicts", "list", "--device", "alice-tablet"});
  EXPECT_THAT(listed, HasSubstr(conflict));
  EXPECT_THAT(listed, HasSubstr("amount"));
  EXPECT_THAT(Ok({"conflicts", "list", "--device", "bob-laptop"}), Not(HasSubstr(conflict)));
  EXPECT_THAT(Ok({"conflicts", "list", "--json"}), HasSubstr("\"id\": \"" + conflict + "\""));
  // The competing amounts are readable in the list and side by side in show.
  EXPECT_THAT(listed, HasSubstr("amount_minor=1300000"));
  EXPECT_THAT(listed, HasSubstr("amount_minor=1450000"));
  std::string shown = Ok({"conflicts", "show", conflict});
  EXPECT_THAT(shown, HasSubstr("opportunity/opp-alice-1, field amount"));
  EXPECT_THAT(shown, HasSubstr("alice-tablet"));
  EXPECT_TRUE(
      std::regex_search(shown, std::regex("\\bamount\\.amount_minor +[0-9]+ +1300000 +1450000\\b")))
      << shown;
  EXPECT_THAT(shown, Not(HasSubstr("currency_code"))) << "equal on every side: not shown";

  // 3. Resolve it with the device's value.
  EXPECT_THAT(Ok({"conflicts", "resolve", conflict, "--take-client"}), HasSubstr("resolved"));
  std::string after = Ok({"conflicts", "show", conflict, "--json"});
  EXPECT_THAT(after, HasSubstr("\"status\": \"CONFLICT_STATUS_RESOLVED\""));
  EXPECT_THAT(after, HasSubstr("\"amount_minor\": \"1450000\""));
  EXPECT_THAT(Ok({"conflicts", "list"}), Not(HasSubstr(conflict)));
  EXPECT_THAT(Ok({"conflicts", "list", "--status", "resolved"}), HasSubstr(conflict));
  std::string again;
  EXPECT_EQ(Crmctl({"conflicts", "resolve", conflict, "--keep-server"}, &again), 1) << again;

  // The owner's device receives the resolved amount like any change.
  DevSyncClient phone(server_.address(), "demo", "alice", "alice-phone2");
  std::string cursor;
  int64_t amount = 0;
  for (const auto& c : Pull(phone, &cursor)) {
    if (c.record().id() == "opp-alice-1") amount = c.values().opportunity().amount().amount_minor();
  }
  EXPECT_EQ(amount, 1450000);

  EXPECT_THAT(Ok({"audit"}), HasSubstr("conflict_resolved"));
}

TEST_F(CrmctlTest, ResolveWithAChosenValue) {
  const std::string conflict = SetUpDevicesAndConflict();
  ASSERT_FALSE(conflict.empty());
  std::string out;
  EXPECT_EQ(Crmctl({"conflicts", "resolve", conflict, "--value", "{not json"}, &out), 2) << out;
  EXPECT_EQ(Crmctl({"conflicts", "resolve", conflict, "--value", "{}", "--take-client"}, &out), 2)
      << out;
  EXPECT_EQ(Crmctl({"conflicts", "resolve", conflict, "--value", "{}"}, &out), 2)
      << "a value without the entity is refused by the server: " << out;
  Ok({"conflicts", "resolve", conflict, "--value",
      R"({"opportunity": {"amount": {"currency_code": "EUR", "amount_minor": "1400000"}}})"});
  std::string after = Ok({"conflicts", "show", conflict, "--json"});
  EXPECT_THAT(after, HasSubstr("\"status\": \"CONFLICT_STATUS_RESOLVED\""));
  EXPECT_THAT(after, HasSubstr("\"amount_minor\": \"1400000\""));
}

TEST_F(CrmctlTest, RecordHistorySaysWhereEachValueCameFrom) {
  SetUpDevicesAndConflict();  // alice-phone set the amount to 1,300,000
  std::string table = Ok({"record", "history", "opportunity", "opp-alice-1", "--field", "amount"});
  const size_t phone = table.find("amount_minor=1300000");
  ASSERT_NE(phone, std::string::npos) << table;
  const std::string newest = table.substr(phone, table.find('\n', phone) - phone);
  EXPECT_THAT(newest, HasSubstr("alice-phone"));
  EXPECT_THAT(newest, HasSubstr("field_app"));
  EXPECT_THAT(newest, HasSubstr("u-alice"));
  EXPECT_THAT(newest, HasSubstr("current"));
  EXPECT_THAT(table, HasSubstr("amount_minor=1250000")) << "the demo's value, older: " << table;
  EXPECT_LT(phone, table.find("amount_minor=1250000")) << "newest first: " << table;
  EXPECT_THAT(table, Not(HasSubstr("1450000"))) << "the conflicting edit was not applied";
  std::string json =
      Ok({"--json", "record", "history", "opportunity", "opp-alice-1", "--limit", "1"});
  EXPECT_THAT(json, HasSubstr("\"depth\": 10"));
  EXPECT_THAT(json, HasSubstr("\"current\": true"));

  std::string out;
  EXPECT_EQ(Crmctl({"record", "history", "opportunity", "no-such-opp"}, &out), 5) << out;
  EXPECT_EQ(Crmctl({"record", "history", "opportunity", "opp-alice-1", "--field", "colour"}, &out),
            2)
      << out;
  EXPECT_THAT(out, HasSubstr("colour"));
  EXPECT_EQ(Crmctl({"record", "history", "gadget", "x"}, &out), 2) << out;
  // An erased person's history goes with them.
  Ok({"erase", "lead", "lead-alice-1", "--reason", "ticket 7", "--yes"});
  EXPECT_EQ(Crmctl({"record", "history", "lead", "lead-alice-1"}, &out), 5) << out;
}

TEST_F(CrmctlTest, DuplicatesListAndShowWhatTwoRepsCreatedTwice) {
  // Alice meets Bob's lead Jeanne Moreau at a fair and creates her again
  // on her phone, her e-mail typed in capitals.
  DevSyncClient phone(server_.address(), "demo", "alice", "alice-phone");
  v1::Mutation m;
  m.set_client_seq(1);
  m.mutable_record()->set_entity_type(v1::ENTITY_TYPE_LEAD);
  m.mutable_record()->set_id("lead-fair-1");
  m.set_operation(v1::OPERATION_UPSERT);
  v1::Lead* lead = m.mutable_values()->mutable_lead();
  lead->set_id("lead-fair-1");
  lead->set_first_name("Jeanne");
  lead->set_last_name("Moreau");
  lead->set_email("LEAD1@bob.example");
  lead->set_owner_user_id("u-alice");
  lead->set_team_id("team-north");
  m.mutable_hlc()->set_wall_time_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
  m.mutable_hlc()->set_node_id("alice-phone");
  m.mutable_provenance()->set_device_id("alice-phone");
  m.mutable_provenance()->set_channel(v1::CHANNEL_FIELD_APP);
  v1::PushRequest req;
  req.mutable_client()->set_protocol_version(1);
  *req.add_mutations() = m;
  v1::PushResponse resp;
  ASSERT_TRUE(phone.Push(req, &resp).ok());
  ASSERT_EQ(resp.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED) << resp.DebugString();

  std::string list = Ok({"duplicates", "list"});
  EXPECT_THAT(list, HasSubstr("lead/lead-fair-1"));
  EXPECT_THAT(list, HasSubstr("lead/lead-bob-1"));
  EXPECT_THAT(list, HasSubstr("email,name"));
  const std::string bobs = Ok({"duplicates", "list", "--owner", "u-bob"});
  EXPECT_THAT(bobs, HasSubstr("\nlead/lead-bob-1 ")) << bobs;
  EXPECT_THAT(bobs, Not(HasSubstr("\nlead/lead-fair-1 "))) << "alice's flag is hers: " << bobs;
  EXPECT_THAT(Ok({"duplicates", "list", "--type", "account"}), HasSubstr("no likely duplicates"));
  std::string shown = Ok({"duplicates", "show", "lead", "lead-fair-1"});
  EXPECT_THAT(shown, HasSubstr("Jeanne Moreau · LEAD1@bob.example"));
  EXPECT_THAT(shown, HasSubstr("lead1@bob.example")) << "bob's record beside it: " << shown;
  EXPECT_THAT(shown, HasSubstr("u-bob"));
  EXPECT_THAT(Ok({"--json", "duplicates", "show", "lead", "lead-bob-1"}),
              HasSubstr("\"lead-fair-1\""));
  EXPECT_THAT(Ok({"duplicates", "show", "lead", "lead-alice-2"}),
              HasSubstr("no likely duplicates"));

  std::string out;
  EXPECT_EQ(Crmctl({"duplicates", "show", "opportunity", "opp-alice-1"}, &out), 2) << out;
  EXPECT_EQ(Crmctl({"duplicates", "show", "lead", "no-such-lead"}, &out), 5) << out;
  EXPECT_EQ(Crmctl({"duplicates", "list", "--type", "gadget"}, &out), 2) << out;

  // The admin merges alice's copy into bob's lead, keeping bob's e-mail as
  // he typed it.
  EXPECT_EQ(Crmctl({"duplicates", "merge", "lead", "lead-bob-1", "lead-fair-1", "--take",
                    "no_such_field"},
                   &out),
            2)
      << out;
  const std::string merged =
      Ok({"duplicates", "merge", "lead", "lead-bob-1", "lead-fair-1", "--keep", "email,last_name"});
  EXPECT_THAT(merged, HasSubstr("lead/lead-fair-1 merged into lead/lead-bob-1")) << merged;
  EXPECT_THAT(merged, HasSubstr("lead/lead-bob-1 (owner u-bob) is now:")) << merged;
  EXPECT_THAT(merged, HasSubstr("lead1@bob.example")) << merged;
  EXPECT_THAT(Ok({"duplicates", "show", "lead", "lead-bob-1"}), HasSubstr("no likely duplicates"));
  EXPECT_THAT(Ok({"audit", "--action", "record_merged"}), HasSubstr("lead-fair-1 merged into"));
  // Merged once: the other way round is refused, with the reason.
  EXPECT_EQ(Crmctl({"duplicates", "merge", "lead", "lead-fair-1", "lead-bob-1"}, &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("was merged into lead/lead-bob-1")) << out;
  EXPECT_EQ(Crmctl({"duplicates", "merge", "lead", "lead-bob-1", "no-such-lead"}, &out), 5) << out;
}

TEST_F(CrmctlTest, RecordTimelineShowsEverythingAboutACustomerNewestFirst) {
  const std::string account = Ok({"record", "timeline", "account", "acc-alice-1"});
  EXPECT_THAT(account, HasSubstr("opportunity/opp-alice-1")) << account;
  EXPECT_THAT(account, HasSubstr("opportunity: Oven replacement (proposal)")) << account;
  EXPECT_THAT(account, HasSubstr("contact/con-alice-1")) << account;
  EXPECT_THAT(account, HasSubstr("import")) << "the channel the demo data came through";
  EXPECT_THAT(account, Not(HasSubstr("opp-bob-1"))) << account;
  const std::string contact = Ok({"record", "timeline", "contact", "con-alice-1"});
  EXPECT_THAT(contact, HasSubstr("event: Visit Boulangerie Martin")) << contact;
  EXPECT_THAT(Ok({"record", "timeline", "lead", "lead-alice-1"}),
              HasSubstr("nothing refers to lead lead-alice-1 yet"));
  const std::string one = Ok({"record", "timeline", "account", "acc-alice-1", "--limit", "1"});
  EXPECT_EQ(std::count(one.begin(), one.end(), '\n'), 3) << "header, rule and one item: " << one;
  EXPECT_THAT(Ok({"--json", "record", "timeline", "account", "acc-alice-1"}),
              HasSubstr("\"items\""));
  std::string out;
  EXPECT_EQ(Crmctl({"record", "timeline", "opportunity", "opp-alice-1"}, &out), 2) << out;
  EXPECT_EQ(Crmctl({"record", "timeline", "account", "no-such-account"}, &out), 5) << out;
}

TEST_F(CrmctlTest, RevokedDeviceIsToldToWipe) {
  DevSyncClient laptop(server_.address(), "demo", "bob", "bob-laptop");
  std::string cursor;
  Pull(laptop, &cursor);
  EXPECT_THAT(Ok({"device", "revoke", "bob-laptop", "--reason", "stolen"}), HasSubstr("revoked"));
  v1::PullRequest req;
  req.mutable_client()->set_protocol_version(1);
  v1::PullResponse resp;
  std::multimap<std::string, std::string> trailers;
  grpc::Status s = laptop.Pull(req, &resp, &trailers);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_EQ(trailers.count("crmsync-directive"), 1u);
  EXPECT_EQ(trailers.find("crmsync-directive")->second, "wipe");
  EXPECT_THAT(Ok({"devices", "--status", "revoked"}), HasSubstr("bob-laptop"));
  std::string audit = Ok({"audit"});
  EXPECT_THAT(audit, HasSubstr("login"));
  EXPECT_THAT(audit, HasSubstr("device_revoked"));
  EXPECT_THAT(audit, HasSubstr("stolen"));
}

TEST_F(CrmctlTest, StatusDirectoryAndWatch) {
  EXPECT_EQ(Ok({"health"}), "SERVING\n");
  EXPECT_EQ(Ok({"--token", "", "health", "--json"}), "{\"status\": \"SERVING\"}\n");
  std::string status = Ok({"status"});
  EXPECT_THAT(status, HasSubstr("sqlite"));
  EXPECT_THAT(status, HasSubstr("latest seq"));
  EXPECT_THAT(Ok({"status", "--json"}), HasSubstr("\"store_kind\": \"sqlite\""));
  EXPECT_THAT(Ok({"--json", "status"}), HasSubstr("\"store_kind\": \"sqlite\""));
  std::string users = Ok({"users"});
  EXPECT_THAT(users, HasSubstr("alice"));
  EXPECT_THAT(users, HasSubstr("admin"));
  EXPECT_THAT(Ok({"users", "--json"}), HasSubstr("\"username\": \"bob\""));
  EXPECT_THAT(Ok({"stores"}), HasSubstr("store-paris"));
  EXPECT_THAT(Ok({"stores", "upsert", "--id", "store-nice", "--name", "Nice", "--lat", "43.7",
                  "--lon", "7.27"}),
              HasSubstr("store-nice"));
  EXPECT_THAT(Ok({"stores", "--json"}), HasSubstr("\"id\": \"store-nice\""));
  EXPECT_THAT(Ok({"coupons"}), HasSubstr("WELCOME10"));
  EXPECT_THAT(Ok({"coupons", "--at", "48.8606", "2.3376"}), HasSubstr("WELCOME10"));
  EXPECT_THAT(Ok({"coupons", "--at", "45.7578", "4.8320"}), Not(HasSubstr("WELCOME10")));
  EXPECT_THAT(Ok({"coupons", "--at", "45.7578", "4.8320", "--within-km", "500"}),
              HasSubstr("WELCOME10"));
  std::string json_file = dir_ + "/coupon.json";
  std::ofstream(json_file) << R"({"id": "coupon-spring", "code": "SPRING5", "title": "5 % off",
                                  "percent_off_bp": 500, "active": true})";
  EXPECT_THAT(Ok({"coupons", "upsert", json_file}), HasSubstr("coupon-spring"));
  EXPECT_THAT(Ok({"coupons", "--json"}), HasSubstr("SPRING5"));

  std::string watch = Ok({"watch", "--iterations", "2", "--interval", "0.2"});
  size_t first = watch.find("most behind");
  ASSERT_NE(first, std::string::npos);
  EXPECT_NE(watch.find("most behind", first + 1), std::string::npos) << watch;
}

// watch reports the traffic that happens while it watches: pulls made by a
// device during the interval show as a rate, in table and JSON-lines form.
TEST_F(CrmctlTest, WatchShowsLiveRatesAsJsonLines) {
  DevSyncClient phone(server_.address(), "demo", "alice", "alice-phone");
  std::string cursor;
  Pull(phone, &cursor);
  std::atomic<bool> done{false};
  std::string out;
  int rc = -1;
  std::thread watcher([&] {
    rc = Crmctl({"watch", "--json", "--iterations", "2", "--interval", "2"}, &out);
    done = true;
  });
  // Traffic for as long as watch runs (bounded: 30 s, 100,000 calls); the
  // per-device rate limit refuses some, which are not counted.
  int pulls = 0;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  v1::PullRequest req;
  req.mutable_client()->set_protocol_version(1);
  req.set_cursor(cursor);
  for (int calls = 0; !done && calls < 100000 && std::chrono::steady_clock::now() < give_up;
       ++calls) {
    v1::PullResponse page;
    if (phone.Pull(req, &page).ok()) ++pulls;
  }
  watcher.join();
  ASSERT_EQ(rc, 0) << out;
  std::vector<nlohmann::json> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  }
  ASSERT_EQ(lines.size(), 2u) << out;
  EXPECT_GT(lines[1]["pulls_per_second"].get<double>(), 0.0) << out;
  EXPECT_GT(lines[1]["pulls_total"].get<int64_t>(), lines[0]["pulls_total"].get<int64_t>());
  EXPECT_TRUE(lines[1]["most_behind"].is_array());
  // Once the traffic stopped, the counter holds every pull that succeeded
  // (pulls made after watch's last sample included).
  const nlohmann::json after = nlohmann::json::parse(Ok({"watch", "--json", "--iterations", "1"}));
  EXPECT_GE(after["pulls_total"].get<int64_t>(), pulls + 1);

  // The table form shows the same counters as a non-zero rate.
  const std::string first = Ok({"watch", "--iterations", "1"});
  EXPECT_THAT(first, HasSubstr("PULLS/S"));
}

// The admin functions that had no command: disable/enable a user, reset a
// password, give a till its API key, erase a person; and the audit log
// newest first.
TEST_F(CrmctlTest, UsersApiKeysErasureAndTheAuditLogNewestFirst) {
  auto channel = grpc::CreateChannel(server_.address(), grpc::InsecureChannelCredentials());
  auto auth = v1::AuthService::NewStub(channel);
  auto login = [&](const std::string& user, const std::string& password) {
    v1::LoginRequest req;
    req.set_tenant("demo");
    req.set_username(user);
    req.set_password(password);
    v1::LoginResponse resp;
    grpc::ClientContext ctx;
    return auth->Login(&ctx, req, &resp).error_code();
  };
  ASSERT_EQ(login("bob", "bob-demo-password"), grpc::StatusCode::OK);
  EXPECT_THAT(Ok({"users", "update", "u-bob", "--disable"}), HasSubstr("disabled"));
  EXPECT_EQ(login("bob", "bob-demo-password"), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(Ok({"users", "update", "u-bob", "--enable", "--name", "Robert Rep"}),
              HasSubstr("enabled"));
  EXPECT_EQ(login("bob", "bob-demo-password"), grpc::StatusCode::OK);
  std::string out;
  ASSERT_EQ(RunCommand({"/bin/sh", "-c",
                        "printf 'a-new-long-password\\n' | '" CRMSYNC_CRMCTL_PATH "' --config '" +
                            config_ + "' users update u-bob --password-stdin"},
                       &out),
            0)
      << out;
  EXPECT_EQ(login("bob", "bob-demo-password"), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(login("bob", "a-new-long-password"), grpc::StatusCode::OK);
  EXPECT_EQ(Crmctl({"users", "update", "u-bob"}, &out), 2) << "nothing to change: " << out;
  EXPECT_EQ(Crmctl({"users", "update", "u-nobody", "--disable"}, &out), 5) << out;

  // An API key for the till, usable at once by a terminal.
  std::string created = Ok({"api-keys", "create", "--user", "u-till-paris", "--label", "till 2"});
  std::smatch key;
  ASSERT_TRUE(std::regex_search(created, key, std::regex("\n(\\S+\\.\\S+)\n"))) << created;
  v1::ExchangeApiKeyRequest xreq;
  xreq.set_tenant("demo");
  xreq.set_api_key(key[1]);
  xreq.set_device_id("till-paris-2");
  v1::ExchangeApiKeyResponse xresp;
  grpc::ClientContext xctx;
  grpc::Status exchanged = auth->ExchangeApiKey(&xctx, xreq, &xresp);
  EXPECT_TRUE(exchanged.ok()) << exchanged.error_message() << " (" << exchanged.error_code()
                              << ")\n"
                              << created;
  EXPECT_EQ(Crmctl({"api-keys", "create", "--user", "u-alice"}, &out), 1)
      << "a sales rep cannot have an API key: " << out;

  // Erasure needs --yes and a reason, then reaches the audit log, which
  // lists the newest event first.
  EXPECT_EQ(Crmctl({"erase", "lead", "lead-alice-1", "--reason", "ticket 42"}, &out), 2) << out;
  EXPECT_EQ(Crmctl({"erase", "account", "acct-1", "--reason", "x", "--yes"}, &out), 2) << out;
  EXPECT_THAT(Ok({"erase", "lead", "lead-alice-1", "--reason", "ticket 42", "--yes"}),
              HasSubstr("erased lead lead-alice-1"));
  std::string newest = Ok({"audit", "--limit", "1"});
  EXPECT_THAT(newest, HasSubstr("record_erased"));
  EXPECT_THAT(newest, HasSubstr("ticket 42"));
  std::string oldest = Ok({"audit", "--limit", "1", "--oldest-first"});
  EXPECT_THAT(oldest, Not(HasSubstr("record_erased")));
  std::string all = Ok({"audit"});
  EXPECT_LT(all.find("record_erased"), all.find("user_updated")) << all;
}

// An integration from crmctl to its first write: a user with a grant of
// channels and types, listed with it; an API key traded for tokens bound to
// the integration's instance; a lead it writes carries the granted channel
// and precision in the record's history, whatever the mutation claimed; a
// channel it was not granted is refused.
TEST_F(CrmctlTest, AnIntegrationWritesThroughItsGrantedChannels) {
  std::string out;
  EXPECT_EQ(Crmctl({"users", "create", "--username", "callcenter", "--role", "integration"}, &out),
            2)
      << "a channel is required: " << out;
  EXPECT_EQ(Crmctl({"users", "create", "--username", "callcenter", "--role", "integration",
                    "--channel", "call-center=very-sure"},
                   &out),
            2)
      << out;
  EXPECT_EQ(Crmctl({"users", "create", "--username", "rep2", "--role", "sales-rep", "--channel",
                    "web=reported"},
                   &out),
            2)
      << out;
  std::string created =
      Ok({"users", "create", "--username", "callcenter", "--role", "integration", "--channel",
          "call-center=self-reported", "--channel", "web=reported", "--types", "lead,contact"});
  std::smatch id;
  ASSERT_TRUE(std::regex_search(created, id, std::regex("\\((u-[^)]+)\\)"))) << created;
  EXPECT_THAT(Ok({"users"}), HasSubstr("call_center=self_reported,web=reported; lead,contact"));

  std::string key_out = Ok({"api-keys", "create", "--user", id[1], "--label", "call centre"});
  std::smatch key;
  ASSERT_TRUE(std::regex_search(key_out, key, std::regex("\n(\\S+\\.\\S+)\n"))) << key_out;
  auto channel = grpc::CreateChannel(server_.address(), grpc::InsecureChannelCredentials());
  v1::ExchangeApiKeyRequest xreq;
  xreq.set_tenant("demo");
  xreq.set_api_key(key[1]);
  xreq.set_device_id("callcenter-1");
  v1::ExchangeApiKeyResponse xresp;
  grpc::ClientContext xctx;
  grpc::Status exchanged = v1::AuthService::NewStub(channel)->ExchangeApiKey(&xctx, xreq, &xresp);
  ASSERT_TRUE(exchanged.ok()) << exchanged.error_message();
  EXPECT_EQ(xresp.user().role(), v1::ROLE_INTEGRATION);

  auto sync = v1::SyncService::NewStub(channel);
  auto push = [&](v1::Channel via) {
    static int64_t seq = 0;
    v1::PushRequest req;
    req.mutable_client()->set_protocol_version(1);
    v1::Mutation* m = req.add_mutations();
    m->set_client_seq(++seq);
    m->mutable_record()->set_entity_type(v1::ENTITY_TYPE_LEAD);
    m->mutable_record()->set_id("lead-callcenter-" + std::to_string(seq));
    m->set_operation(v1::OPERATION_UPSERT);
    m->mutable_values()->mutable_lead()->set_id(m->record().id());
    m->mutable_values()->mutable_lead()->set_last_name("Caller");
    m->mutable_values()->mutable_lead()->set_owner_user_id("u-bob");
    for (const char* p : {"id", "last_name", "owner_user_id"})
      m->mutable_update_mask()->add_paths(p);
    m->mutable_hlc()->set_wall_time_ms(1);
    m->mutable_provenance()->set_channel(via);
    m->mutable_provenance()->set_precision(v1::PRECISION_VERIFIED);  // claimed, not granted
    v1::PushResponse resp;
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + xresp.tokens().access_token());
    grpc::Status s = sync->Push(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return s.ok() ? resp.results(0) : v1::MutationResult();
  };
  v1::MutationResult applied = push(v1::CHANNEL_UNSPECIFIED);
  EXPECT_EQ(applied.outcome(), v1::MUTATION_OUTCOME_APPLIED) << applied.message();
  std::string history =
      Ok({"record", "history", "lead", "lead-callcenter-1", "--field", "last_name"});
  EXPECT_THAT(history, HasSubstr("call_center"));
  EXPECT_THAT(history, HasSubstr("self_reported"));
  EXPECT_THAT(history, HasSubstr("callcenter-1"));
  EXPECT_THAT(history, Not(HasSubstr("verified")));
  v1::MutationResult refused = push(v1::CHANNEL_SOCIAL);
  EXPECT_EQ(refused.reject_reason(), v1::REJECT_REASON_PERMISSION_DENIED);
  EXPECT_THAT(refused.message(), HasSubstr("may not write through social"));

  // Its grant can be replaced; a password it may not have.
  EXPECT_THAT(Ok({"users", "update", id[1], "--channel", "email=reported"}),
              HasSubstr("email=reported; all types"));
  EXPECT_EQ(RunCommand({"/bin/sh", "-c",
                        "printf 'a-new-long-password\\n' | '" CRMSYNC_CRMCTL_PATH "' --config '" +
                            config_ + "' users update " + std::string(id[1]) + " --password-stdin"},
                       &out),
            2)
      << out;
  EXPECT_THAT(out, HasSubstr("API key only"));
}

// crmctl export: the whole tenant as JSON lines, one type as CSV, changes
// after the cursor an export printed, and a resumable export whose state
// file cuts off what an interrupted page left half-written.
TEST_F(CrmctlTest, ExportWritesRecordsAndChangesAndResumes) {
  std::string out;
  const std::string all = Ok({"export", "--page-size", "3"});
  std::map<std::string, int> per_type;
  std::istringstream lines(all);
  std::string line;
  int64_t last_seq = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("crmctl:", 0) == 0) continue;  // the summary (stderr)
    const nlohmann::json j = nlohmann::json::parse(line);
    ++per_type[j["type"].get<std::string>()];
    EXPECT_GT(j["seq"].get<int64_t>(), last_seq) << "in order, once";
    last_seq = j["seq"].get<int64_t>();
    EXPECT_EQ(j["kind"], "upsert");
  }
  EXPECT_GT(per_type["lead"], 0) << all;
  EXPECT_GT(per_type["opportunity"], 0) << all;
  std::smatch since;
  ASSERT_TRUE(std::regex_search(all, since, std::regex("--since (\\S+)"))) << all;

  // One type as CSV: a header of its fields, one row per record.
  const std::string csv_path = dir_ + "/leads.csv";
  Ok({"export", "--types", "lead", "--format", "csv", "--output", csv_path});
  std::ifstream csv(csv_path);
  std::string header;
  std::getline(csv, header);
  EXPECT_THAT(header, HasSubstr("seq,kind,version,changed_fields,id,first_name,last_name"));
  EXPECT_THAT(header, HasSubstr("estimated_value.amount_minor"));
  int rows = 0;
  while (std::getline(csv, line)) ++rows;
  EXPECT_EQ(rows, per_type["lead"]);

  // A resumable export: complete, then a half-written page behind it, then
  // more changes; the next run drops the half page and appends only them.
  const std::string state = dir_ + "/export.state";
  const std::string jsonl = dir_ + "/export.jsonl";
  Ok({"export", "--types", "lead", "--state", state, "--output", jsonl, "--page-size", "2"});
  const std::string first = ReadAll(jsonl);
  EXPECT_EQ(std::count(first.begin(), first.end(), '\n'), per_type["lead"]);
  std::ofstream(jsonl, std::ios::app) << "{\"seq\": 99999, \"kind\": \"ups";
  DevSyncClient phone(server_.address(), "demo", "alice", "alice-phone");
  std::string cursor;
  v1::RecordState lead;
  for (const auto& c : Pull(phone, &cursor)) {
    if (c.record().entity_type() == v1::ENTITY_TYPE_LEAD) {
      *lead.mutable_ref() = c.record();
      lead.set_version(c.version());
      *lead.mutable_data() = c.values();
    }
  }
  ASSERT_TRUE(lead.has_ref());
  v1::Lead values;
  values.set_first_name("Exported");
  v1::PushRequest push;
  push.mutable_client()->set_protocol_version(1);
  *push.add_mutations() = LeadUpdate(1, lead, values, {"first_name"}, "alice-phone");
  v1::PushResponse pushed;
  ASSERT_TRUE(phone.Push(push, &pushed).ok());
  ASSERT_EQ(pushed.results(0).outcome(), v1::MUTATION_OUTCOME_APPLIED);

  EXPECT_THAT(Ok({"export", "--types", "lead", "--state", state, "--output", jsonl}),
              HasSubstr("exported 1 changes (resumed)"));
  const std::string second = ReadAll(jsonl);
  ASSERT_EQ(second.substr(0, first.size()), first);
  const nlohmann::json change = nlohmann::json::parse(second.substr(first.size()));
  EXPECT_EQ(change["id"], lead.ref().id());
  EXPECT_EQ(change["changed_fields"], nlohmann::json::array({"first_name"})) << change.dump();
  EXPECT_EQ(change["values"]["first_name"], "Exported");

  // --since gives the same change to anyone holding the earlier cursor.
  EXPECT_THAT(Ok({"export", "--types", "lead", "--since", since[1]}),
              HasSubstr("\"first_name\":\"Exported\""));

  EXPECT_EQ(Crmctl({"export", "--format", "csv"}, &out), 2) << out;
  EXPECT_EQ(Crmctl({"export", "--types", "gadget"}, &out), 2) << out;
  EXPECT_EQ(Crmctl({"export", "--state", state}, &out), 2) << out;
  EXPECT_EQ(Crmctl({"export", "--state", state, "--output", jsonl, "--since", since[1]}, &out), 2)
      << out;
  EXPECT_EQ(
      Crmctl({"export", "--types", "lead,contact", "--state", state, "--output", jsonl}, &out), 2)
      << "a state file of another export: " << out;
  EXPECT_THAT(out, HasSubstr("an export of lead as jsonl"));
  EXPECT_EQ(ReadAll(jsonl), second) << "untouched";
}

// The saved session renews itself: with access tokens that live 30 s
// (inside crmctl's one-minute renewal margin), every command first trades
// the refresh token for a new pair, saved owner-only, and succeeds.
TEST(CrmctlSessionTest, AnExpiringTokenIsRenewedWithTheSavedRefreshToken) {
  std::string dir = MakeTempDir("crmsync-crmctl-session-");
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(
      server.Start({"--dev-insecure", "--demo-tenant", "--password-memory-kib", "64",
                    "--access-token-ttl-seconds", "30", "--store", "sqlite:" + dir + "/crm.db"},
                   &error))
      << error;
  const std::string config = dir + "/crmctl.toml";
  auto crmctl = [&](const std::string& args, std::string* out) {
    return RunCommand({"/bin/sh", "-c",
                       "'" CRMSYNC_CRMCTL_PATH "' --config '" + config + "' --server " +
                           server.address() + " --insecure " + args},
                      out);
  };
  std::string out;
  ASSERT_EQ(crmctl("login --tenant demo --user admin --password-stdin < /dev/null; true", &out), 0);
  ASSERT_EQ(RunCommand({"/bin/sh", "-c",
                        "printf 'admin-demo-password\\n' | '" CRMSYNC_CRMCTL_PATH "' --config '" +
                            config + "' --server " + server.address() +
                            " --insecure login --tenant demo --user admin --password-stdin"},
                       &out),
            0)
      << out;
  auto saved = [&](const std::string& key) {
    std::ifstream in(config);
    std::smatch m;
    for (std::string line; std::getline(in, line);) {
      if (std::regex_match(line, m, std::regex(key + " = \"?([^\"]*)\"?"))) return m[1].str();
    }
    return std::string();
  };
  const std::string token = saved("token"), refresh = saved("refresh-token");
  ASSERT_FALSE(token.empty());
  ASSERT_FALSE(refresh.empty());
  ASSERT_FALSE(saved("token-expires").empty());

  EXPECT_EQ(crmctl("status", &out), 0) << out;
  EXPECT_NE(saved("token"), token) << "the token was not renewed";
  EXPECT_NE(saved("refresh-token"), refresh) << "the refresh token was not rotated";
  EXPECT_EQ(crmctl("status", &out), 0) << out;
  struct stat st {};
  ASSERT_EQ(::stat(config.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // A session that cannot be renewed (its refresh token was used already)
  // says so and asks for a login; the command runs with the token it has.
  std::string text;
  {
    std::ifstream in(config);
    std::ostringstream s;
    s << in.rdbuf();
    text = std::regex_replace(s.str(), std::regex("refresh-token = \"[^\"]*\""),
                              "refresh-token = \"" + refresh + "\"");
  }
  std::ofstream(config, std::ios::trunc) << text;
  crmctl("status", &out);
  EXPECT_THAT(out, HasSubstr("log in again"));
  server.Stop(SIGTERM);
  RemoveTree(dir);
}

// The tenant's newest change sequence (crmctl status --json).
int64_t LatestSeq(const std::string& status_json) {
  std::smatch m;
  if (!std::regex_search(status_json, m, std::regex("\"latest_seq\": \"([0-9]+)\""))) return -1;
  return std::stoll(m[1]);
}

// Starts crmctl in the background, its output to `log`.
pid_t SpawnCrmctl(const std::string& config, std::vector<std::string> args,
                  const std::string& log) {
  args.insert(args.begin(), {CRMSYNC_CRMCTL_PATH, "--config", config});
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

TEST_F(CrmctlTest, ImportLoadsACsvWithAMappingAndWritesRejectedRowsWithReasons) {
  const std::string csv = dir_ + "/crm-export.csv";
  std::ofstream(csv) << "External ID,First,Last,E-mail,Status,Rating,Tags,Fax\n"
                        "A-1,Ana,Silva,ana@acme.example,new,3,vip;fair,+1\n"
                        "A-2,Bruno,Costa,bruno@beta.example,qualified,9,,\n"
                        "A-3,Carla,\"Dias, Jr\",carla@gamma.example,contacted,2,,\n"
                        "A-4,Dora,Lima,dora@delta.example,bogus,4,,\n"
                        "A-5,Eva,\"Multi\nLine\",eva@epsilon.example,,1,,\n";
  const std::string mapping = dir_ + "/mapping.json";
  std::ofstream(mapping) << R"({"type": "lead", "id": "External ID", "id_prefix": "old-",
    "columns": {"First": "first_name", "Last": "last_name", "E-mail": "email",
                "Status": "status", "Rating": "rating", "Tags": "tags", "Fax": null},
    "set": {"team_id": "team-north"}})";
  const std::string rejects = dir_ + "/rejects.csv";
  std::string out;
  EXPECT_EQ(Crmctl({"import", csv, "--mapping", mapping, "--set", "owner_user_id=u-alice",
                    "--rejects", rejects, "--precision", "self-reported", "--batch-size", "2"},
                   &out),
            1)
      << "rows were rejected: " << out;
  EXPECT_THAT(out, HasSubstr("3 rows applied"));
  EXPECT_THAT(out, HasSubstr("2 rejected"));
  const std::string refused = ReadAll(rejects);
  EXPECT_THAT(refused, HasSubstr("row,id,reason,source\n"));
  EXPECT_THAT(refused, HasSubstr("2,old-A-2,"));
  EXPECT_THAT(refused, HasSubstr("rating must be between 0 and 5"));
  EXPECT_THAT(refused, HasSubstr("4,old-A-4,\"status: 'bogus' is not one of new, contacted"));
  EXPECT_LT(refused.find("\n2,"), refused.find("\n4,")) << "in row order";

  // Alice's device receives the imported leads, with their provenance.
  DevSyncClient phone(server_.address(), "demo", "alice", "alice-phone");
  std::string cursor;
  std::map<std::string, v1::Change> leads;
  for (const auto& c : Pull(phone, &cursor)) {
    if (c.record().id().rfind("old-", 0) == 0) leads[c.record().id()] = c;
  }
  ASSERT_EQ(leads.size(), 3u);
  EXPECT_EQ(leads["old-A-3"].values().lead().last_name(), "Dias, Jr");
  EXPECT_EQ(leads["old-A-5"].values().lead().last_name(), "Multi\nLine");
  EXPECT_EQ(leads["old-A-1"].values().lead().tags_size(), 2);
  EXPECT_EQ(leads["old-A-1"].values().lead().team_id(), "team-north");
  EXPECT_EQ(leads["old-A-1"].values().lead().status(), v1::LEAD_STATUS_NEW);
  EXPECT_THAT(Ok({"record", "history", "lead", "old-A-1", "--field", "email"}),
              HasSubstr("self_reported"));

  // Run again: nothing more is written, the rejects are not repeated.
  const int64_t seq = LatestSeq(Ok({"status", "--json"}));
  EXPECT_EQ(Crmctl({"import", csv, "--mapping", mapping, "--set", "owner_user_id=u-alice",
                    "--rejects", rejects, "--precision", "self-reported"},
                   &out),
            1);
  EXPECT_THAT(out, HasSubstr("resuming import"));
  EXPECT_EQ(LatestSeq(Ok({"status", "--json"})), seq);
  EXPECT_EQ(ReadAll(rejects), refused);

  // JSON lines: a record's fields per line, or lines of crmctl export.
  const std::string jsonl = dir_ + "/more.jsonl";
  std::ofstream(jsonl)
      << R"({"id": "j-1", "first_name": "Jo", "owner_user_id": "u-bob"})"
         "\n"
      << R"({"type": "lead", "id": "j-2", "kind": "upsert", "values": {"first_name": "Jay", "owner_user_id": "u-bob"}})"
         "\n";
  EXPECT_THAT(Ok({"import", jsonl, "--type", "lead"}), HasSubstr("2 rows applied"));

  // Usage errors.
  EXPECT_EQ(Crmctl({"import", csv}, &out), 2) << "a CSV needs a type: " << out;
  EXPECT_EQ(Crmctl({"import", csv, "--type", "lead"}, &out), 2) << out;
  EXPECT_THAT(out, HasSubstr("column 'External ID' is not a field of lead"));
  EXPECT_EQ(Crmctl({"import", dir_ + "/missing.csv", "--type", "lead"}, &out), 2) << out;
  EXPECT_EQ(Crmctl({"import", csv, "--mapping", mapping, "--channel", "system"}, &out), 2) << out;
}

// A CSV of plain top-level scalars (most files) is read without the JSON
// route; both routes store the same values, refuse the same cells, and a
// cell that is not UTF-8 (a Latin-1 export) is a rejected row, not a crash.
TEST_F(CrmctlTest, PlainAndNestedCsvColumnsImportTheSameValues) {
  const std::string rows =
      "1,Ana,Silva,ana@acme.example,new,web,3,private\n"
      "2,Zo\xe9,Roy,zoe@acme.example,qualified,,2,\n"
      "3,Bo,Li,bo@acme.example,LEAD_STATUS_CONTACTED,call-center,x,\n"
      "4,Cy,Ng,cy@acme.example,,,99999999999,\n"
      "5,Di,Oz,\"di@acme.example\",converted,CHANNEL_EMAIL,5,team\n"
      "6,Ed,Ra,,bogus,,,\n";
  const std::string plain = dir_ + "/plain.csv";
  std::ofstream(plain) << "id,first_name,last_name,email,status,source,rating,visibility\n" << rows;
  // The same rows and an empty list column: the JSON route.
  const std::string nested = dir_ + "/nested.csv";
  {
    std::ofstream out(nested);
    out << "id,first_name,last_name,email,status,source,rating,visibility,tags\n";
    std::istringstream in(rows);
    for (std::string line; std::getline(in, line);) out << line << ",\n";
  }
  std::string out;
  for (const auto& [file, prefix] : {std::pair{plain, "p-"}, std::pair{nested, "n-"}}) {
    const std::string mapping = dir_ + "/" + prefix + "mapping.json";
    std::ofstream(mapping) << R"({"type": "lead", "id_prefix": ")" << prefix << R"("})";
    EXPECT_EQ(Crmctl({"import", file, "--mapping", mapping, "--set", "owner_user_id=u-alice",
                      "--rejects", file + ".rejects"},
                     &out),
              1)
        << out;
    EXPECT_THAT(out, HasSubstr("2 rows applied")) << file;
    EXPECT_THAT(out, HasSubstr("4 rejected")) << file;
    const std::string refused = ReadAll(file + ".rejects");
    EXPECT_THAT(refused, HasSubstr("first_name: the cell is not UTF-8 text")) << file;
    EXPECT_THAT(refused, HasSubstr("rating: 'x' is not a whole number")) << file;
    EXPECT_THAT(refused, HasSubstr(std::string("4,") + prefix + "4,")) << file;
    EXPECT_THAT(refused, HasSubstr("status: 'bogus' is not one of")) << file;
  }
  DevSyncClient phone(server_.address(), "demo", "alice", "alice-phone");
  std::string cursor;
  std::map<std::string, v1::Change> leads;
  for (const auto& c : Pull(phone, &cursor)) leads[c.record().id()] = c;
  for (const std::string n : {"1", "5"}) {
    ASSERT_EQ(leads.count("p-" + n), 1u) << n;
    ASSERT_EQ(leads.count("n-" + n), 1u) << n;
    v1::Lead p = leads["p-" + n].values().lead();
    v1::Lead j = leads["n-" + n].values().lead();
    EXPECT_EQ(p.id(), "p-" + n);
    p.clear_id();
    j.clear_id();
    EXPECT_EQ(p.SerializeAsString(), j.SerializeAsString()) << p.DebugString() << j.DebugString();
  }
  const v1::Lead& first = leads["p-1"].values().lead();
  EXPECT_EQ(first.first_name(), "Ana");
  EXPECT_EQ(first.status(), v1::LEAD_STATUS_NEW);
  EXPECT_EQ(first.source(), v1::CHANNEL_WEB);
  EXPECT_EQ(first.visibility(), v1::VISIBILITY_PRIVATE);
  EXPECT_EQ(first.rating(), 3);
  EXPECT_EQ(first.owner_user_id(), "u-alice");
  EXPECT_EQ(leads["p-5"].values().lead().status(), v1::LEAD_STATUS_CONVERTED);
  EXPECT_EQ(leads["p-5"].values().lead().source(), v1::CHANNEL_EMAIL);
}

// Custom fields through crmctl against a running server: defined, imported
// from a CSV column, received by a device, removed with values kept.
TEST_F(CrmctlTest, CustomFieldsAreDefinedImportedAndReachDevicesWithoutARestart) {
  EXPECT_THAT(Ok({"fields", "define", "lead", "region", "--kind", "one-of", "--options",
                  "North,South", "--label", "Sales region"}),
              HasSubstr("lead.region added"));
  EXPECT_THAT(Ok({"fields", "define", "lead", "budget", "--kind", "money", "--min", "0"}),
              HasSubstr("lead.budget added"));
  std::string out;
  EXPECT_NE(Crmctl({"fields", "define", "lead", "size", "--kind", "one-of"}, &out), 0);
  EXPECT_THAT(out, HasSubstr("needs its options"));
  EXPECT_EQ(Crmctl({"fields", "define", "lead", "size", "--kind", "colour"}, &out), 2) << out;
  const std::string listed = Ok({"fields", "list", "lead"});
  EXPECT_THAT(listed, HasSubstr("lead.region"));
  EXPECT_THAT(listed, HasSubstr("options: North | South"));
  EXPECT_THAT(listed, HasSubstr("Sales region"));

  const std::string csv = dir_ + "/regions.csv";
  std::ofstream(csv) << "id,last_name,owner_user_id,Region,budget\n"
                        "cf-1,Ames,u-alice,North,12.50 EUR\n"
                        "cf-2,Bell,u-alice,Mars,\n"
                        "cf-3,Cruz,u-alice,,-3 EUR\n";
  const std::string mapping = dir_ + "/regions.json";
  std::ofstream(mapping) << R"({"type": "lead", "columns": {"Region": "custom.region",
    "budget": "custom.budget"}})";
  const std::string rejects = dir_ + "/regions.rejects.csv";
  EXPECT_EQ(Crmctl({"import", csv, "--mapping", mapping, "--rejects", rejects}, &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("1 rows applied"));
  const std::string refused = ReadAll(rejects);
  EXPECT_THAT(refused, HasSubstr("2,cf-2,\"custom.region 'Mars' is not one of: North, South\""));
  EXPECT_THAT(refused, HasSubstr("3,cf-3,custom.budget must be at least 0"));

  // Alice's device receives the definitions and the value, no restart.
  DevSyncClient phone(server_.address(), "demo", "alice", "alice-phone");
  std::string cursor;
  std::set<std::string> definitions;
  v1::Lead imported;
  for (const auto& c : Pull(phone, &cursor)) {
    if (c.record().entity_type() == v1::ENTITY_TYPE_CUSTOM_FIELD) {
      definitions.insert(c.record().id());
    }
    if (c.record().id() == "cf-1") imported = c.values().lead();
  }
  EXPECT_EQ(definitions, (std::set<std::string>{"lead.budget", "lead.region"}));
  ASSERT_EQ(imported.custom().count("region"), 1u);
  EXPECT_EQ(imported.custom().at("region").choice(), "North");
  EXPECT_EQ(imported.custom().at("budget").money().amount_minor(), 1250);
  EXPECT_THAT(Ok({"record", "history", "lead", "cf-1", "--field", "custom.region"}),
              HasSubstr("North"));

  // Removed: listed only with --all, the value kept, new values refused.
  EXPECT_THAT(Ok({"fields", "remove", "lead", "region"}), HasSubstr("kept, not deleted"));
  EXPECT_THAT(Ok({"fields", "list", "lead"}), Not(HasSubstr("lead.region")));
  EXPECT_THAT(Ok({"fields", "list", "--all"}), HasSubstr("removed"));
  std::ofstream(csv) << "id,last_name,owner_user_id,Region\ncf-4,Dunn,u-alice,South\n";
  std::ofstream(mapping) << R"({"type": "lead", "columns": {"Region": "custom.region"}})";
  EXPECT_EQ(Crmctl({"import", csv, "--mapping", mapping, "--rejects", rejects}, &out), 1) << out;
  EXPECT_THAT(ReadAll(rejects), HasSubstr("was removed"));
  EXPECT_EQ(Crmctl({"fields", "remove", "lead", "nothing"}, &out), 5) << out;
}

// A large import killed halfway and run again: every row lands once.
TEST_F(CrmctlTest, AnImportRunAgainstAServerThatHasNoneOfItStartsOver) {
  const std::string csv = dir_ + "/few.csv";
  {
    std::ofstream f(csv);
    f << "id,first_name,last_name,owner_user_id,rating\n";
    for (int i = 1; i <= 30; ++i) {
      f << "few-" << i << ",First" << i << ",Last" << i << ",u-bob," << (i == 12 ? 7 : 3) << "\n";
    }
  }
  std::string out;
  ASSERT_EQ(Crmctl({"import", csv, "--type", "lead", "--batch-size", "8"}, &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("29 rows applied"));
  // The same file into a server whose data is gone (the progress file
  // beside it says 30 rows are done).
  server_.Stop(SIGTERM);
  for (const char* suffix : {"", "-wal", "-shm"}) unlink((dir_ + "/crm.db" + suffix).c_str());
  std::string error;
  server_.set_listen(server_.address());
  ASSERT_TRUE(
      server_.Start({"--dev-insecure", "--dev-identity", "--demo-tenant", "--password-memory-kib",
                     "64", "--store", "sqlite:" + dir_ + "/crm.db"},
                    &error))
      << error;
  ASSERT_EQ(Login("admin", &out), 0) << out;
  ASSERT_EQ(Crmctl({"import", csv, "--type", "lead", "--batch-size", "8"}, &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("holds no rows of import"));
  EXPECT_THAT(out,
              HasSubstr("29 rows applied, 0 unchanged, 0 merged, 0 with conflicts, 1 rejected"));
  const std::string rejects = ReadAll(csv + ".rejects.csv");
  EXPECT_EQ(std::count(rejects.begin(), rejects.end(), '\n'), 2)
      << "a header and the rejected row, once:\n"
      << rejects;
  EXPECT_THAT(rejects, HasSubstr("\n12,few-12,"));
  EXPECT_THAT(Ok({"record", "history", "lead", "few-30"}), HasSubstr("First30"));
}

TEST_F(CrmctlTest, AnImportKilledHalfwayResumesWithNothingDoubledOrMissed) {
  constexpr int kRows = 3000;
  const std::string csv = dir_ + "/bulk.csv";
  {
    std::ofstream f(csv);
    f << "id,first_name,last_name,email,owner_user_id,rating\n";
    for (int i = 1; i <= kRows; ++i) {
      // Every 500th row is refused by the server (rating out of range).
      f << "bulk-" << i << ",First" << i << ",Last" << i << ",p" << i << "@bulk.example,u-bob,"
        << (i % 500 == 0 ? 7 : i % 6) << "\n";
    }
  }
  const int64_t seq_before = LatestSeq(Ok({"status", "--json"}));
  const std::string rejects = csv + ".rejects.csv";
  const pid_t pid = SpawnCrmctl(config_, {"import", csv, "--type", "lead", "--batch-size", "40"},
                                dir_ + "/first-run.log");
  // Kill it once a good part is in (the progress file says how far).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  int64_t done = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      done = nlohmann::json::parse(ReadAll(rejects + ".progress")).value("rows_done", int64_t{0});
    } catch (const std::exception&) {
      done = 0;
    }
    if (done >= 600) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling the file
  }
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_GE(done, 600) << ReadAll(dir_ + "/first-run.log");
  ASSERT_LT(done, kRows) << "killed after it ended: make the file bigger";

  std::string out;
  EXPECT_EQ(Crmctl({"import", csv, "--type", "lead", "--batch-size", "70", "--progress"}, &out), 1)
      << out;
  EXPECT_THAT(out, HasSubstr("resuming import"));
  // The bar (forced: the output is not a terminal) ends complete.
  EXPECT_THAT(out, HasSubstr("] 100% 3000/3000 rows"));
  EXPECT_THAT(out, HasSubstr("rows/s"));
  EXPECT_THAT(out, HasSubstr("6 rejected"));
  // Each accepted row was written once: the feed grew by exactly that much.
  EXPECT_EQ(LatestSeq(Ok({"status", "--json"})) - seq_before, kRows - 6);
  int rejected_lines = 0;
  std::istringstream lines(ReadAll(rejects));
  std::string line;
  std::set<std::string> rows;
  while (std::getline(lines, line)) {
    if (line.rfind("row,", 0) == 0) continue;
    ++rejected_lines;
    rows.insert(line.substr(0, line.find(',')));
  }
  EXPECT_EQ(rejected_lines, 6) << ReadAll(rejects);
  EXPECT_EQ(rows, (std::set<std::string>{"500", "1000", "1500", "2000", "2500", "3000"}));

  // Every row's record is there.
  const std::string all = Ok({"export", "--types", "lead", "--page-size", "1000"});
  std::istringstream exported(all);
  std::set<std::string> bulk;
  int bulk_lines = 0;
  while (std::getline(exported, line)) {
    if (line.rfind("crmctl:", 0) == 0) continue;  // the summary (stderr)
    const std::string id = nlohmann::json::parse(line).value("id", "");
    if (id.rfind("bulk-", 0) == 0) {
      ++bulk_lines;
      bulk.insert(id);
    }
  }
  EXPECT_EQ(bulk_lines, kRows - 6);
  EXPECT_EQ(bulk.size(), static_cast<size_t>(kRows - 6));
}

TEST_F(CrmctlTest, ExitCodes) {
  std::string out;
  EXPECT_EQ(Crmctl({"devices", "--stale", "soon"}, &out), 2) << out;
  EXPECT_EQ(Crmctl({"no-such-command"}, &out), 2) << out;
  EXPECT_EQ(Crmctl({"conflicts", "resolve", "cf-1"}, &out), 2) << out;
  EXPECT_EQ(Crmctl({"--server", "127.0.0.1:1", "status"}, &out), 3) << out;
  EXPECT_EQ(Crmctl({"device", "show", "no-such-device"}, &out), 5) << out;
  EXPECT_EQ(Crmctl({"conflicts", "show", "cf-0000000000000000"}, &out), 5) << out;

  // A sales rep's token is refused by every admin command.
  auto channel = grpc::CreateChannel(server_.address(), grpc::InsecureChannelCredentials());
  auto auth = v1::AuthService::NewStub(channel);
  v1::LoginRequest req;
  req.set_tenant("demo");
  req.set_username("alice");
  req.set_password("alice-demo-password");
  v1::LoginResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(auth->Login(&ctx, req, &resp).ok());
  EXPECT_EQ(Crmctl({"--token", resp.tokens().access_token(), "status"}, &out), 4) << out;
  EXPECT_EQ(Login("alice", &out), 4) << out;
}

TEST_F(CrmctlTest, HelpOnEveryCommand) {
  for (std::vector<std::string> cmd :
       std::vector<std::vector<std::string>>{{},
                                             {"status"},
                                             {"health"},
                                             {"devices"},
                                             {"device"},
                                             {"device", "show"},
                                             {"device", "revoke"},
                                             {"device", "wipe"},
                                             {"conflicts"},
                                             {"conflicts", "list"},
                                             {"conflicts", "show"},
                                             {"conflicts", "resolve"},
                                             {"users"},
                                             {"users", "create"},
                                             {"users", "update"},
                                             {"api-keys"},
                                             {"api-keys", "create"},
                                             {"erase"},
                                             {"duplicates"},
                                             {"duplicates", "list"},
                                             {"duplicates", "show"},
                                             {"duplicates", "merge"},
                                             {"record"},
                                             {"record", "history"},
                                             {"record", "timeline"},
                                             {"stores"},
                                             {"stores", "upsert"},
                                             {"coupons"},
                                             {"coupons", "upsert"},
                                             {"audit"},
                                             {"export"},
                                             {"import"},
                                             {"watch"},
                                             {"login"}}) {
    cmd.push_back("--help");
    std::string out;
    EXPECT_EQ(Crmctl(cmd, &out), 0) << ::testing::PrintToString(cmd) << "\n" << out;
    EXPECT_THAT(out, HasSubstr("Usage")) << ::testing::PrintToString(cmd);
  }
}

// The production path: TLS with the development CA, login, then a command.
TEST(CrmctlTlsTest, LogsInAndServesOverTlsTrustingTheCa) {
  const std::string dir = MakeTempDir("crmsync-crmctl-tls-");
  std::string out;
  ASSERT_EQ(RunCommand({"/bin/bash", std::string(CRMSYNC_SOURCE_DIR) + "/deploy/make-dev-certs.sh",
                        dir + "/certs"},
                       &out),
            0)
      << out;
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(
      server.Start({"--tls-cert", dir + "/certs/server.pem", "--tls-key", dir + "/certs/server.key",
                    "--token-key", dir + "/certs/token.key", "--demo-tenant",
                    "--password-memory-kib", "64", "--store", "sqlite:" + dir + "/crm.db"},
                   &error))
      << error;
  const std::string config = dir + "/crmctl.toml";
  const std::string ca = dir + "/certs/ca.pem";
  EXPECT_EQ(RunCommand({"/bin/sh", "-c",
                        "printf 'admin-demo-password\\n' | '" CRMSYNC_CRMCTL_PATH "' --config '" +
                            config + "' --server " + server.address() + " --ca '" + ca +
                            "' login --tenant demo --user admin --password-stdin"},
                       &out),
            0)
      << out;
  auto crmctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(),
                {CRMSYNC_CRMCTL_PATH, "--config", config, "--server", server.address()});
    return RunCommand(args, &out);
  };
  EXPECT_EQ(crmctl({"--ca", ca, "status"}), 0) << out;
  EXPECT_THAT(out, HasSubstr("sqlite"));
  EXPECT_EQ(crmctl({"status"}), 3)
      << "the server's certificate is not trusted without --ca: " << out;
  EXPECT_EQ(crmctl({"--insecure", "status"}), 3) << "plaintext to a TLS listener: " << out;
  server.Stop(SIGTERM);
  RemoveTree(dir);
}

// crmctl doctor against TLS instances: a trusted chain with its expiry, a
// certificate about to expire, an untrusted one, token keys shared or not,
// and instances that do not share one store.
TEST(CrmctlDoctorTest, ChecksTlsTokenKeysAndSharedStore) {
  const std::string dir = MakeTempDir("crmsync-doctor-");
  const std::string certs = dir + "/certs";
  std::string out;
  ASSERT_EQ(RunCommand(
                {"/bin/bash", std::string(CRMSYNC_SOURCE_DIR) + "/deploy/make-dev-certs.sh", certs},
                &out),
            0)
      << out;
  // A second CA (the wrong one to trust) and a certificate of the first CA
  // that expires in 5 days.
  ASSERT_EQ(RunCommand({"/bin/bash", std::string(CRMSYNC_SOURCE_DIR) + "/deploy/make-dev-certs.sh",
                        dir + "/other"},
                       &out),
            0)
      << out;
  ASSERT_EQ(
      RunCommand(
          {"/bin/sh", "-c",
           "cd '" + certs +
               "' && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
               "-subj /CN=short-lived -keyout short.key -out short.csr 2>&1 && "
               "printf 'subjectAltName=IP:127.0.0.1\\n' > short.ext && "
               "openssl x509 -req -in short.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 5 "
               "-extfile short.ext -out short.pem 2>&1"},
          &out),
      0)
      << out;

  auto start = [&](ServerProcess* server, const std::string& name, const std::string& cert,
                   const std::string& token_key, const std::string& verify_key = "") {
    std::vector<std::string> args = {"--tls-cert",
                                     certs + "/" + cert + ".pem",
                                     "--tls-key",
                                     certs + "/" + cert + ".key",
                                     "--demo-tenant",
                                     "--password-memory-kib",
                                     "64",
                                     "--store",
                                     "sqlite:" + dir + "/" + name + ".db",
                                     "--token-key",
                                     token_key};
    if (!verify_key.empty()) args.insert(args.end(), {"--token-verify-key", verify_key});
    std::string error;
    EXPECT_TRUE(server->Start(args, &error)) << error;
  };
  ServerProcess a, b, lone, rotated, short_lived;
  const std::string key = certs + "/token.key";
  start(&a, "a", "server", key);
  start(&b, "b", "server", key);
  start(&lone, "lone", "server", dir + "/other/token.key");  // a token key of its own
  // Signs with a new key and still accepts the old one: the others do not
  // accept its tokens.
  start(&rotated, "rotated", "server", dir + "/other/token.key", key);
  start(&short_lived, "short", "short", key);

  const std::string config = dir + "/crmctl.toml";
  const std::string ca = certs + "/ca.pem";
  ASSERT_EQ(RunCommand({"/bin/sh", "-c",
                        "printf 'admin-demo-password\\n' | '" CRMSYNC_CRMCTL_PATH "' --config '" +
                            config + "' --server " + a.address() + " --ca '" + ca +
                            "' login --tenant demo --user admin --password-stdin"},
                       &out),
            0)
      << out;
  // The findings of `crmctl doctor`, "instance/check" -> result and detail.
  auto doctor = [&](const std::string& trusted, std::vector<std::string> instances, int* code) {
    std::vector<std::string> args = {
        CRMSYNC_CRMCTL_PATH, "--config", config, "--ca", trusted, "--json", "doctor", "--instance"};
    args.insert(args.end(), instances.begin(), instances.end());
    *code = RunCommand(args, &out);
    std::map<std::string, std::pair<std::string, std::string>> findings;
    const size_t json_at = out.find('[');
    if (json_at == std::string::npos) {
      ADD_FAILURE() << "no JSON from doctor:\n" << out;
      return findings;
    }
    for (const auto& f : nlohmann::json::parse(out.substr(json_at))) {
      findings[f["instance"].get<std::string>() + "/" + f["check"].get<std::string>()] = {
          f["result"], f["detail"]};
    }
    return findings;
  };

  int code = -1;
  auto f = doctor(ca, {a.address(), b.address()}, &code);
  EXPECT_EQ(code, 1) << "two instances on separate embedded stores is a failure:\n" << out;
  for (const ServerProcess* s : {&a, &b}) {
    const std::string at = s->address() + "/";
    EXPECT_EQ(f[at + "reach"].first, "ok") << out;
    EXPECT_EQ(f[at + "tls"].first, "ok") << out;
    EXPECT_THAT(f[at + "tls"].second, HasSubstr("expires in 82")) << "825-day certificate";
    EXPECT_EQ(f[at + "store"].first, "ok") << out;
    EXPECT_THAT(f[at + "store"].second, HasSubstr("sqlite, schema"));
    EXPECT_EQ(f[at + "clock"].first, "ok") << out;
    EXPECT_EQ(f[at + "pool"].first, "ok") << out;
  }
  EXPECT_EQ(f["all/token keys"].first, "ok") << out;
  EXPECT_EQ(f["all/shared store"].first, "FAIL") << out;
  EXPECT_EQ(f["all/versions"].first, "ok") << out;

  f = doctor(ca, {a.address(), lone.address()}, &code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_EQ(f["all/token keys"].first, "FAIL") << out;
  EXPECT_THAT(f["all/token keys"].second, HasSubstr("is refused by " + lone.address()));

  f = doctor(ca, {a.address(), rotated.address()}, &code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_EQ(f["all/token keys"].first, "FAIL") << out;
  EXPECT_THAT(f["all/token keys"].second, HasSubstr("signed by " + rotated.address() + " (key "));
  EXPECT_THAT(f["all/token keys"].second, HasSubstr("are refused by " + a.address()));

  f = doctor(ca, {short_lived.address()}, &code);
  EXPECT_EQ(code, 0) << "a warning is not a failure:\n" << out;
  EXPECT_EQ(f[short_lived.address() + "/tls"].first, "WARN") << out;
  EXPECT_THAT(f[short_lived.address() + "/tls"].second,
              ::testing::ContainsRegex("expires in [45] days"));

  f = doctor(dir + "/other/ca.pem", {a.address()}, &code);
  EXPECT_EQ(code, 3) << "nothing reachable with the wrong CA:\n" << out;
  EXPECT_EQ(f[a.address() + "/tls"].first, "FAIL") << out;
  EXPECT_THAT(f[a.address() + "/tls"].second, HasSubstr("not trusted"));

  for (ServerProcess* s : {&a, &b, &lone, &rotated, &short_lived}) s->Stop(SIGTERM);
  RemoveTree(dir);
}

}  // namespace
}  // namespace crmsync::testing
