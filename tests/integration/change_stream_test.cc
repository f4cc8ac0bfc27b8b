// The tenant-wide change stream as a third-party integration follows it:
// docs/examples/mirror_changes.py (Python, the generated stubs, an API key
// from crmctl) mirrors a tenant into SQLite while devices write, crm-syncd
// restarts twice and the mirror itself is killed. On both stores, every
// change reaches the mirror once and in order, page sizes varied, and the
// mirror ends equal to the server; a second integration limited to leads
// and contacts mirrors exactly those.
#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "crmsync/sync/record_model.h"
#include "pg_cluster.h"
#include "server_process.h"
#include "sync_client.h"

namespace crmsync::testing {
namespace {

constexpr char kPython[] = "/usr/bin/python3";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The wait a RESOURCE_EXHAUSTED error advises ("retry in N ms"), at most
// two seconds; a second when the message has none.
std::chrono::milliseconds AdvisedRetryDelay(const std::string& message) {
  std::smatch m;
  if (!std::regex_search(message, m, std::regex("retry in ([0-9]+) ms"))) {
    return std::chrono::milliseconds(1000);
  }
  return std::chrono::milliseconds(std::min<int64_t>(std::stoll(m[1].str()), 2000));
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A process in the background with stdout+stderr to a file; SIGKILLed when
// the test process dies or the object goes.
class Background {
 public:
  ~Background() { Kill(); }
  bool Start(const std::vector<std::string>& argv, const std::string& log,
             const std::string& pythonpath) {
    pid_ = fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      dup2(fd, 1);
      dup2(fd, 2);
      setenv("PYTHONPATH", pythonpath.c_str(), 1);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    return true;
  }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

// What a mirror database holds.
struct MirrorContents {
  std::map<std::string, std::pair<int64_t, v1::Record>> records;  // "TYPE/id"
  std::vector<int64_t> journal_seqs;                              // in the order applied
};

// What the mirror at `path` holds; false (with `error`) when it cannot be
// read (not created yet).
bool ReadMirror(const std::string& path, MirrorContents* out, std::string* error) {
  *out = MirrorContents();
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    *error = path + ": " + sqlite3_errmsg(db);
    sqlite3_close(db);
    return false;
  }
  sqlite3_busy_timeout(db, 10000);  // the mirror may be committing
  bool ok = true;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT entity_type, id, version, data FROM records", -1, &st,
                         nullptr) != SQLITE_OK) {
    ok = false;
  }
  while (ok && sqlite3_step(st) == SQLITE_ROW) {
    std::string key = std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) + "/" +
                      reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
    v1::Record record;
    ok = record.ParseFromArray(sqlite3_column_blob(st, 3), sqlite3_column_bytes(st, 3));
    sync::StripEmptyMessages(&record);
    out->records[key] = {sqlite3_column_int64(st, 2), record};
  }
  sqlite3_finalize(st);
  st = nullptr;
  if (ok && sqlite3_prepare_v2(db, "SELECT seq FROM journal ORDER BY rowid", -1, &st, nullptr) !=
                SQLITE_OK) {
    ok = false;
  }
  while (ok && sqlite3_step(st) == SQLITE_ROW) {
    out->journal_seqs.push_back(sqlite3_column_int64(st, 0));
  }
  if (!ok) *error = path + ": " + sqlite3_errmsg(db);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return ok;
}

MirrorContents ReadMirror(const std::string& path) {
  MirrorContents out;
  std::string error;
  EXPECT_TRUE(ReadMirror(path, &out, &error)) << error;
  return out;
}

class ChangeStreamTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("crmsync-stream-");
    store_ = "sqlite:" + dir_ + "/crm.db";
    if (GetParam() == "postgres") {
      auto cluster = PgClusterEnvironment::Instance()->Cluster();
      ASSERT_TRUE(cluster.ok()) << cluster.status();
      auto schema = (*cluster)->NewSchema("stream");
      ASSERT_TRUE(schema.ok()) << schema.status();
      store_ = "postgres:" + *schema;
    }
    StartServer();
    if (HasFatalFailure()) return;
    config_ = dir_ + "/crmctl.toml";
    std::string out;
    ASSERT_EQ(RunCommand({"/bin/sh", "-c",
                          "printf 'admin-demo-password\\n' | '" CRMSYNC_CRMCTL_PATH "' --config '" +
                              config_ + "' --server " + server_.address() +
                              " --insecure login --tenant demo --user admin --password-stdin"},
                         &out),
              0)
        << out;
    std::ofstream(config_, std::ios::app) << "insecure = true\n";
    // The Python modules, as docs/integration.md generates them.
    pygen_ = dir_ + "/gen";
    ASSERT_EQ(RunCommand({"/bin/mkdir", "-p", pygen_}, &out), 0);
    std::vector<std::string> protoc = {
        CRMSYNC_PROTOC_PATH,         "-I",
        CRMSYNC_SOURCE_DIR "/proto", "--python_out=" + pygen_,
        "--grpc_out=" + pygen_,      "--plugin=protoc-gen-grpc=" CRMSYNC_GRPC_PYTHON_PLUGIN};
    for (const char* f : {"admin", "auth", "common", "entities", "options", "sync"}) {
      protoc.push_back(std::string(CRMSYNC_SOURCE_DIR "/proto/crmsync/v1/") + f + ".proto");
    }
    ASSERT_EQ(RunCommand(protoc, &out), 0) << out;
  }
  void TearDown() override {
    server_.Stop(SIGTERM);
    RemoveTree(dir_);
  }

  void StartServer() {
    std::string error;
    ASSERT_TRUE(
        server_.Start({"--dev-insecure", "--dev-identity", "--demo-tenant", "--password-memory-kib",
                       "64", "--shutdown-grace-seconds", "1", "--store", store_},
                      &error))
        << error;
    server_.set_listen(server_.address());  // a restart keeps the address
  }
  void RestartServer() {
    ASSERT_EQ(server_.Stop(SIGTERM), 0) << server_.Output();
    StartServer();
  }

  std::string Crmctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {CRMSYNC_CRMCTL_PATH, "--config", config_, "--server",
                                     server_.address()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string out;
    EXPECT_EQ(RunCommand(argv, &out), 0) << ::testing::PrintToString(args) << "\n" << out;
    return out;
  }

  // An integration user and a file with its API key.
  std::string CreateIntegration(const std::string& name, const std::vector<std::string>& flags) {
    std::vector<std::string> args = {"users", "create", "--username",
                                     name,    "--role", "integration"};
    args.insert(args.end(), flags.begin(), flags.end());
    std::string created = Crmctl(args);
    std::smatch id;
    EXPECT_TRUE(std::regex_search(created, id, std::regex("\\((u-[^)]+)\\)"))) << created;
    std::string key_out = Crmctl({"api-keys", "create", "--user", id[1], "--label", name});
    std::smatch key;
    EXPECT_TRUE(std::regex_search(key_out, key, std::regex("\n(\\S+\\.\\S+)\n"))) << key_out;
    const std::string path = dir_ + "/" + name + ".key";
    std::ofstream(path) << key[1] << "\n";
    return path;
  }

  std::vector<std::string> MirrorArgs(const std::string& key, const std::string& instance,
                                      const std::string& db, int page_size) {
    return {kPython,          CRMSYNC_SOURCE_DIR "/docs/examples/mirror_changes.py",
            "--server",       server_.address(),
            "--tenant",       "demo",
            "--api-key-file", key,
            "--instance",     instance,
            "--db",           db,
            "--page-size",    std::to_string(page_size),
            "--insecure"};
  }

  // A one-shot mirror run; returns its output.
  std::string MirrorOnce(const std::string& key, const std::string& instance, const std::string& db,
                         int page_size) {
    std::vector<std::string> argv = MirrorArgs(key, instance, db, page_size);
    argv.insert(argv.begin(), {"/usr/bin/env", "PYTHONPATH=" + pygen_});
    std::string out;
    EXPECT_EQ(RunCommand(argv, &out), 0) << out;
    EXPECT_THAT(out, ::testing::HasSubstr("mirror: caught up")) << out;
    return out;
  }

  // Leads and contacts written by two reps; returns the newest change seq.
  int64_t Round(int round) {
    int64_t newest = 0;
    auto push = [&](DevSyncClient& device, int64_t* seq, std::vector<v1::Mutation> batch) {
      v1::PushRequest req;
      req.mutable_client()->set_protocol_version(1);
      for (auto& m : batch) {
        m.set_client_seq(++*seq);
        m.mutable_hlc()->set_wall_time_ms(NowMs());
        m.mutable_hlc()->set_node_id(device.device());
        m.mutable_provenance()->set_channel(v1::CHANNEL_FIELD_APP);
        m.mutable_provenance()->set_device_id(device.device());
        *req.add_mutations() = std::move(m);
      }
      // Right after a server restart a channel may still write on the old
      // connection and fail UNAVAILABLE ("Broken pipe"); like the SDK, the
      // device sends the same batch again (client_seq makes it exactly-once).
      v1::PushResponse resp;
      grpc::Status s;
      for (int attempt = 0; attempt < 5; ++attempt) {
        resp.Clear();
        s = device.Push(req, &resp);
        if (s.error_code() != grpc::StatusCode::UNAVAILABLE) break;
      }
      EXPECT_TRUE(s.ok()) << s.error_message();
      for (const auto& r : resp.results()) {
        EXPECT_NE(r.outcome(), v1::MUTATION_OUTCOME_REJECTED) << r.message();
        newest = std::max(newest, r.change_seq());
        if (r.has_record()) held_[r.record().ref().id()] = r.record();
      }
    };
    std::vector<v1::Mutation> alice_batch, bob_batch;
    for (int i = 0; i < 12; ++i) {
      v1::Mutation m;
      const std::string id = "lead-r" + std::to_string(round) + "-" + std::to_string(i);
      m.mutable_record()->set_entity_type(v1::ENTITY_TYPE_LEAD);
      m.mutable_record()->set_id(id);
      m.set_operation(v1::OPERATION_UPSERT);
      v1::Lead* lead = m.mutable_values()->mutable_lead();
      lead->set_id(id);
      lead->set_last_name("Round " + std::to_string(round));
      lead->set_phone("+33 1 00 00 0" + std::to_string(round) + " " + std::to_string(10 + i));
      lead->set_owner_user_id(i % 2 ? "u-alice" : "u-bob");
      lead->set_team_id("team-north");
      for (const char* p : {"id", "last_name", "phone", "owner_user_id", "team_id"}) {
        m.mutable_update_mask()->add_paths(p);
      }
      (i % 2 ? alice_batch : bob_batch).push_back(std::move(m));
    }
    v1::Contact contact;
    contact.set_id("contact-r" + std::to_string(round));
    contact.set_last_name("Dupont");
    contact.set_owner_user_id("u-alice");
    v1::Mutation c;
    c.mutable_record()->set_entity_type(v1::ENTITY_TYPE_CONTACT);
    c.mutable_record()->set_id(contact.id());
    c.set_operation(v1::OPERATION_UPSERT);
    *c.mutable_values()->mutable_contact() = contact;
    for (const char* p : {"id", "last_name", "owner_user_id"})
      c.mutable_update_mask()->add_paths(p);
    alice_batch.push_back(std::move(c));
    // Earlier rounds' leads: edited, and some deleted.
    if (round > 0) {
      for (int i = 0; i < 12; i += 2) {
        const v1::RecordState& base =
            held_["lead-r" + std::to_string(round - 1) + "-" + std::to_string(i)];
        v1::Lead values;
        values.set_first_name("Edited in round " + std::to_string(round));
        bob_batch.push_back(LeadUpdate(0, base, values, {"first_name"}, "bob-phone"));
      }
      v1::Mutation del;
      *del.mutable_record() = held_["lead-r" + std::to_string(round - 1) + "-1"].ref();
      del.set_operation(v1::OPERATION_DELETE);
      del.set_base_version(held_["lead-r" + std::to_string(round - 1) + "-1"].version());
      alice_batch.push_back(std::move(del));
    }
    push(*alice_, &alice_seq_, std::move(alice_batch));
    push(*bob_, &bob_seq_, std::move(bob_batch));
    return newest;
  }

  // The tenant as an admin's fresh bootstrap shows it, by "TYPE/id".
  std::map<std::string, std::pair<int64_t, v1::Record>> ServerState() {
    DevSyncClient admin(server_.address(), "demo", "admin", "admin-check");
    std::map<std::string, std::pair<int64_t, v1::Record>> out;
    std::string cursor;
    for (int pages = 0; pages < 10000; ++pages) {
      v1::PullRequest req;
      req.mutable_client()->set_protocol_version(1);
      req.set_cursor(cursor);
      v1::PullResponse page;
      grpc::Status s = admin.Pull(req, &page);
      // CaughtUp polls this every 50 ms, which may spend the admin
      // device's request budget: wait as the server advises and ask again,
      // as a client does.
      for (int retries = 0; retries < 30 && s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
           ++retries) {
        std::this_thread::sleep_for(AdvisedRetryDelay(s.error_message()));
        page.Clear();
        s = admin.Pull(req, &page);
      }
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      for (const v1::Change& c : page.changes()) {
        const std::string key =
            v1::EntityType_Name(c.record().entity_type()) + "/" + c.record().id();
        if (c.kind() != v1::CHANGE_KIND_UPSERT) {
          out.erase(key);
          continue;
        }
        v1::Record record = c.values();
        sync::StripEmptyMessages(&record);
        out[key] = {c.version(), record};
      }
      cursor = page.next_cursor();
      if (!page.has_more()) break;
    }
    return out;
  }

  static void ExpectSame(const std::map<std::string, std::pair<int64_t, v1::Record>>& server,
                         const MirrorContents& mirror, const std::string& what) {
    std::vector<std::string> missing, extra, differ;
    for (const auto& [key, value] : server) {
      auto it = mirror.records.find(key);
      if (it == mirror.records.end()) {
        missing.push_back(key);
      } else if (it->second.first != value.first ||
                 !google::protobuf::util::MessageDifferencer::Equals(it->second.second,
                                                                     value.second)) {
        differ.push_back(key + " v" + std::to_string(it->second.first) + " vs v" +
                         std::to_string(value.first));
      }
    }
    for (const auto& [key, value] : mirror.records) {
      if (!server.count(key)) extra.push_back(key);
    }
    EXPECT_TRUE(missing.empty()) << what << " lacks " << ::testing::PrintToString(missing);
    EXPECT_TRUE(extra.empty()) << what << " still holds " << ::testing::PrintToString(extra);
    EXPECT_TRUE(differ.empty()) << what << " differs on " << ::testing::PrintToString(differ);
    for (size_t i = 1; i < mirror.journal_seqs.size(); ++i) {
      ASSERT_LT(mirror.journal_seqs[i - 1], mirror.journal_seqs[i])
          << what << ": change " << i << " of the journal came out of order or twice";
    }
  }

  // Waits until the mirror holds every record of the server at its
  // version (and nothing else).
  bool CaughtUp(const std::string& db) {
    return Eventually(
        [&] {
          MirrorContents mirror;
          std::string error;
          if (!ReadMirror(db, &mirror, &error)) return false;
          const auto server = ServerState();
          if (server.size() != mirror.records.size()) return false;
          for (const auto& [key, value] : server) {
            auto it = mirror.records.find(key);
            if (it == mirror.records.end() || it->second.first != value.first) return false;
          }
          return true;
        },
        std::chrono::seconds(60));
  }

  std::string dir_, store_, config_, pygen_;
  ServerProcess server_;
  std::unique_ptr<DevSyncClient> alice_, bob_;
  int64_t alice_seq_ = 0, bob_seq_ = 0;
  std::map<std::string, v1::RecordState> held_;
};

TEST_P(ChangeStreamTest, AMirrorFollowsEveryChangeOnceInOrderAcrossRestartsAndAKill) {
  const std::string warehouse = CreateIntegration("warehouse", {"--channel", "import=reported"});
  const std::string central =
      CreateIntegration("central-crm", {"--channel", "web=reported", "--types", "lead,contact"});
  alice_ = std::make_unique<DevSyncClient>(server_.address(), "demo", "alice", "alice-phone");
  bob_ = std::make_unique<DevSyncClient>(server_.address(), "demo", "bob", "bob-phone");
  const std::string follow_db = dir_ + "/warehouse.db";
  const std::string follow_log = dir_ + "/follow.log";
  const std::string central_db = dir_ + "/central.db";

  // A follower waits on Subscribe; a second integration mirrors by cron.
  auto follower = std::make_unique<Background>();
  std::vector<std::string> follow_args = MirrorArgs(warehouse, "warehouse-1", follow_db, 5);
  follow_args.push_back("--follow");
  ASSERT_TRUE(follower->Start(follow_args, follow_log, pygen_));

  Round(0);
  ASSERT_TRUE(CaughtUp(follow_db)) << ReadFile(follow_log);
  MirrorOnce(central, "central-1", central_db, 1);

  // crm-syncd restarts: the follower reconnects and carries on from its
  // cursor.
  RestartServer();
  ASSERT_FALSE(HasFatalFailure());
  Round(1);
  ASSERT_TRUE(CaughtUp(follow_db)) << ReadFile(follow_log);
  MirrorOnce(central, "central-1", central_db, 7);

  // The follower is killed; changes go on; it is started again (once) and
  // catches up from its last commit.
  follower->Kill();
  Round(2);
  RestartServer();
  ASSERT_FALSE(HasFatalFailure());
  const int64_t newest = Round(3);
  std::string resumed = MirrorOnce(warehouse, "warehouse-1", follow_db, 2);
  EXPECT_THAT(resumed, ::testing::HasSubstr("applied " + std::to_string(newest) + " "));
  EXPECT_THAT(resumed, ::testing::Not(::testing::HasSubstr("ENTITY_TYPE_LEAD/lead-r0-")))
      << "round 0 was mirrored before the kill and is not sent again";
  MirrorOnce(central, "central-1", central_db, 0);

  const auto server = ServerState();
  ASSERT_GT(server.size(), 40u);
  const MirrorContents mirror = ReadMirror(follow_db);
  ExpectSame(server, mirror, "the warehouse mirror");

  std::map<std::string, std::pair<int64_t, v1::Record>> leads_and_contacts;
  for (const auto& [key, value] : server) {
    if (key.rfind("ENTITY_TYPE_LEAD/", 0) == 0 || key.rfind("ENTITY_TYPE_CONTACT/", 0) == 0) {
      leads_and_contacts.emplace(key, value);
    }
  }
  ExpectSame(leads_and_contacts, ReadMirror(central_db), "the central CRM's mirror");
  EXPECT_FALSE(leads_and_contacts.count("ENTITY_TYPE_LEAD/lead-r2-1")) << "deleted";

  // A mirror that is up to date has nothing to apply.
  EXPECT_THAT(MirrorOnce(warehouse, "warehouse-1", follow_db, 0),
              ::testing::HasSubstr("caught up (0 changes applied)"));
}

INSTANTIATE_TEST_SUITE_P(Stores, ChangeStreamTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace crmsync::testing
