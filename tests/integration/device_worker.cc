#include "device_worker.h"

#include <signal.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <thread>

#include "crmsync/client/database.h"
#include "fault_checks.h"

namespace crmsync::testing {
namespace {

constexpr char kTenantId[] = "t-demo";

std::string Tail(const std::string& text, size_t n = 600) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

}  // namespace

DeviceWorker::DeviceWorker(DeviceIdentity id, std::string work_dir, uint64_t seed)
    : id_(std::move(id)), dir_(std::move(work_dir)), rng_(seed) {}

std::vector<DeviceWorker::Op> DeviceWorker::PlanRound() {
  ++round_;
  std::vector<Op> ops;
  std::string edited;
  if (!live_.empty() && !creates_only_) {
    auto it = live_.begin();
    std::advance(it, static_cast<long>(rng_() % live_.size()));
    edited = it->first;
  }
  ops.push_back({Op::kCreate, id_.device_id + "-r" + std::to_string(round_), ""});
  if (!edited.empty()) {
    ops.push_back({Op::kEdit, edited, id_.device_id + "-n" + std::to_string(round_)});
  }
  if (!creates_only_ && round_ % 4 == 0 && live_.size() >= 3) {
    auto it = live_.begin();
    std::advance(it, static_cast<long>(rng_() % live_.size()));
    if (it->first == edited) it = std::next(it) == live_.end() ? live_.begin() : std::next(it);
    ops.push_back({Op::kDelete, it->first, ""});
  }
  return ops;
}

bool DeviceWorker::StartRound(const std::string& server) {
  round_ops_ = PlanRound();
  std::string script;
  for (const Op& op : round_ops_) {
    switch (op.kind) {
      case Op::kCreate:
        script += "create lead --id " + op.id + " --set first_name=" + id_.device_id +
                  " --set last_name=R" + std::to_string(round_) + " --set company=Crashtest-" +
                  id_.device_id + " --set team_id=team-north\n";
        break;
      case Op::kEdit: script += "edit lead " + op.id + " --set notes=" + op.notes + "\n"; break;
      case Op::kDelete: script += "delete lead " + op.id + "\n"; break;
    }
  }
  script += "sync\n";
  const std::string base = dir_ + "/" + id_.device_id + "-round-" + std::to_string(round_);
  round_output_ = base + ".out";
  if (!WriteText(base + ".script", script)) {
    AddError("cannot write " + base + ".script");
    return false;
  }
  if (!process_.Start(id_, server, {"script", base + ".script"}, round_output_)) {
    AddError("cannot start crm-device");
    return false;
  }
  return true;
}

DeviceWorker::Outcome DeviceWorker::FinishRound(std::chrono::milliseconds timeout) {
  int status = process_.Wait(timeout);
  if (status == -1) {
    AddError("round " + std::to_string(round_) + " did not finish in time");
    process_.Kill();
    status = process_.Wait(std::chrono::seconds(10));
  }
  Outcome outcome;
  int committed = static_cast<int>(round_ops_.size());
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
    outcome = Outcome::kKilled;
    committed = CommittedPrefix(round_ops_);
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    outcome = Outcome::kSynced;
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == 5) {
    // Only `sync` reports an unreachable server; the edits before it are in.
    outcome = Outcome::kUnreachable;
  } else {
    outcome = Outcome::kFailed;
    committed = CommittedPrefix(round_ops_);
    AddError(id_.device_id + " round " + std::to_string(round_) + " ended with status " +
             std::to_string(status) + ": " + Tail(ReadText(round_output_)));
  }
  Commit(round_ops_, committed);
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.rounds;
  switch (outcome) {
    case Outcome::kSynced: ++stats_.synced; break;
    case Outcome::kUnreachable: ++stats_.unreachable; break;
    case Outcome::kKilled: ++stats_.killed; break;
    case Outcome::kFailed: ++stats_.failed; break;
  }
  return outcome;
}

DeviceWorker::Outcome DeviceWorker::RunRound(const std::string& server) {
  if (!StartRound(server)) return Outcome::kFailed;
  return FinishRound();
}

bool DeviceWorker::KillCurrent() { return process_.Kill(); }

int DeviceWorker::CommittedPrefix(const std::vector<Op>& ops) {
  client::DatabaseOptions o;
  o.path = id_.db;
  o.key = id_.key;
  auto db = client::Database::Open(o);
  if (!db.ok()) {
    // The process died before it created the store: nothing was committed.
    if (round_ == 1) return 0;
    AddError(id_.device_id + ": cannot reopen the store: " + std::string(db.status().message()));
    return 0;
  }
  auto visible = [&](const Op& op) {
    v1::RecordRef ref;
    ref.set_entity_type(v1::ENTITY_TYPE_LEAD);
    ref.set_id(op.id);
    auto state = (*db)->Get(ref);
    switch (op.kind) {
      case Op::kCreate: return state.ok();
      case Op::kEdit: return state.ok() && state->data().lead().notes() == op.notes;
      case Op::kDelete: return !state.ok() && state.status().code() == absl::StatusCode::kNotFound;
    }
    return false;
  };
  int prefix = 0;
  while (prefix < static_cast<int>(ops.size()) && visible(ops[prefix])) ++prefix;
  for (size_t i = prefix; i < ops.size(); ++i) {
    if (visible(ops[i])) {
      AddError(id_.device_id + ": edit " + std::to_string(i) + " of round " +
               std::to_string(round_) + " is in the store but an earlier one is not");
    }
  }
  return prefix;
}

void DeviceWorker::Commit(const std::vector<Op>& ops, int count) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < count; ++i) {
    const Op& op = ops[i];
    switch (op.kind) {
      case Op::kCreate: live_[op.id] = ""; break;
      case Op::kEdit: live_[op.id] = op.notes; break;
      case Op::kDelete:
        live_.erase(op.id);
        deleted_.push_back(op.id);
        break;
    }
  }
  stats_.committed += count;
}

void DeviceWorker::AddError(const std::string& e) {
  std::lock_guard<std::mutex> lock(mu_);
  errors_.push_back(e);
}

DeviceWorker::Stats DeviceWorker::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

std::vector<std::string> DeviceWorker::errors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return errors_;
}

DeviceFleet::~DeviceFleet() { Stop(); }

void DeviceFleet::Add(std::unique_ptr<DeviceWorker> worker, std::function<std::string()> server) {
  workers_.push_back(std::move(worker));
  servers_.push_back(std::move(server));
}

void DeviceFleet::Start() {
  synced_ = std::make_unique<std::atomic<int>[]>(workers_.size());
  const auto start = std::chrono::steady_clock::now();
  running_ = static_cast<int>(workers_.size());
  for (size_t i = 0; i < workers_.size(); ++i) {
    threads_.emplace_back([this, i, start] {
      std::mt19937_64 jitter(i);
      for (int r = 0; r < kMaxRounds && !stop_ &&
                      std::chrono::steady_clock::now() - start < std::chrono::seconds(kMaxSeconds);
           ++r) {
        const auto outcome = workers_[i]->RunRound(servers_[i]());
        if (outcome == DeviceWorker::Outcome::kSynced) {
          ++synced_[i];
        } else {
          // Back off a little, as a device does (load pacing, not a race fix).
          std::this_thread::sleep_for(std::chrono::milliseconds(50 + jitter() % 100));
        }
      }
      --running_;
    });
  }
}

void DeviceFleet::Stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
}

std::vector<int> DeviceFleet::Marks() const {
  std::vector<int> m;
  for (size_t i = 0; i < workers_.size(); ++i) m.push_back(synced_[i].load());
  return m;
}

bool DeviceFleet::AllSyncedSince(const std::vector<int>& marks, int n) const {
  // A fleet past its bound makes no more rounds: fail now, and loudly,
  // rather than after the caller's whole wait.
  EXPECT_TRUE(Running()) << "the device fleet reached its bound (" << kMaxRounds
                         << " rounds per device or " << kMaxSeconds << " s) before the test ended";
  if (!Running()) return true;
  for (size_t i = 0; i < workers_.size(); ++i) {
    if (synced_[i].load() < marks[i] + n) return false;
  }
  return true;
}

std::vector<DeviceWorker*> DeviceFleet::workers() const {
  std::vector<DeviceWorker*> out;
  for (const auto& w : workers_) out.push_back(w.get());
  return out;
}

std::string DeviceFleet::Figures() const {
  DeviceWorker::Stats total;
  for (const auto& w : workers_) {
    const auto s = w->stats();
    total.rounds += s.rounds;
    total.synced += s.synced;
    total.unreachable += s.unreachable;
    total.killed += s.killed;
    total.failed += s.failed;
    total.committed += s.committed;
  }
  return std::to_string(workers_.size()) + " devices, " + std::to_string(total.rounds) +
         " crm-device runs (" + std::to_string(total.synced) + " synced, " +
         std::to_string(total.unreachable) + " found no server, " + std::to_string(total.killed) +
         " killed, " + std::to_string(total.failed) + " failed), " +
         std::to_string(total.committed) + " mutations committed";
}

SettleReport SettleAndCheck(const std::vector<DeviceWorker*>& workers, const std::string& server,
                            const std::string& conninfo, int64_t seq_before, bool exactly_once) {
  SettleReport report;
  // Twice round: the second pass pulls what devices after it pushed.
  for (int pass = 0; pass < 2; ++pass) {
    for (DeviceWorker* w : workers) {
      std::string out;
      int code = -1;
      for (int attempt = 0; attempt < 20 && code != 0; ++attempt) {
        if (attempt > 0)
          std::this_thread::sleep_for(std::chrono::milliseconds(250));  // retry pacing
        code = RunDevice(w->identity(), server, {"sync"}, &out);
      }
      EXPECT_EQ(code, 0) << w->identity().device_id << " final sync: " << out;
      for (const char* bad : {"warning", "conflict", "rejected"}) {
        EXPECT_EQ(out.find(bad), std::string::npos)
            << w->identity().device_id << " final sync: " << out;
      }
    }
  }
  for (DeviceWorker* w : workers) {
    std::string out;
    EXPECT_EQ(RunDevice(w->identity(), server, {"status"}, &out), 0) << out;
    EXPECT_NE(out.find("pending: 0\n"), std::string::npos)
        << w->identity().device_id << ": " << out;
    EXPECT_NE(out.find("notices: 0\n"), std::string::npos)
        << w->identity().device_id << ": " << out;
    for (const std::string& e : w->errors()) ADD_FAILURE() << e;
  }

  // Exactly once.
  for (DeviceWorker* w : workers) {
    if (!exactly_once) {
      report.committed += w->stats().committed;
      continue;
    }
    const int64_t committed = w->stats().committed;
    report.committed += committed;
    auto log = ReadAppliedLog(conninfo, kTenantId, w->identity().device_id);
    EXPECT_TRUE(log.ok()) << log.status();
    if (!log.ok()) continue;
    auto floor = ReadAppliedFloor(conninfo, kTenantId, w->identity().device_id);
    EXPECT_TRUE(floor.ok()) << floor.status();
    if (!floor.ok()) continue;
    for (const std::string& p :
         CheckExactlyOnce(w->identity().device_id, *log, committed, *floor)) {
      ADD_FAILURE() << p;
    }
  }
  auto seq_after =
      exactly_once ? ReadTenantSeq(conninfo, kTenantId) : absl::StatusOr<int64_t>(seq_before);
  EXPECT_TRUE(seq_after.ok()) << seq_after.status();
  if (seq_after.ok() && exactly_once) {
    report.seq_growth = *seq_after - seq_before;
    EXPECT_EQ(report.seq_growth, report.committed)
        << "the tenant's sequence grew by " << report.seq_growth << " for " << report.committed
        << " committed mutations: a mutation was applied twice (or one was lost)";
    if (report.seq_growth != report.committed) {
      for (const std::string& line : ExplainSeqGrowth(conninfo, kTenantId, seq_before)) {
        ADD_FAILURE() << line;
      }
    }
  }

  // Nothing lost, and convergence.
  std::map<std::string, RecordMap> views;
  for (DeviceWorker* w : workers) {
    const std::string& user = w->identity().user;
    if (views.count(user) == 0) {
      auto view = ReadServerScope(server, user, "audit-" + user);
      EXPECT_TRUE(view.ok()) << view.status();
      if (!view.ok()) return report;
      views[user] = *std::move(view);
    }
  }
  for (DeviceWorker* w : workers) {
    const std::string& device = w->identity().device_id;
    const RecordMap& view = views[w->identity().user];
    for (const auto& [id, notes] : w->live()) {
      ++report.records_checked;
      auto it = view.find("ENTITY_TYPE_LEAD/" + id);
      if (it == view.end()) {
        ADD_FAILURE() << device << ": lead " << id << " is lost (not on the server)";
      } else if (it->second.data().lead().notes() != notes) {
        ADD_FAILURE() << device << ": lead " << id << " has notes '"
                      << it->second.data().lead().notes() << "' on the server, committed '" << notes
                      << "'";
      }
    }
    for (const std::string& id : w->deleted()) {
      ++report.records_checked;
      EXPECT_EQ(view.count("ENTITY_TYPE_LEAD/" + id), 0u)
          << device << ": deleted lead " << id << " is still on the server";
    }
    auto replica = ReadReplica(w->identity().db, w->identity().key);
    EXPECT_TRUE(replica.ok()) << replica.status();
    if (!replica.ok()) continue;
    int shown = 0;
    for (const std::string& d : CompareReplica(device, view, *replica)) {
      if (++shown <= 20) ADD_FAILURE() << d;
    }
  }
  return report;
}

}  // namespace crmsync::testing
