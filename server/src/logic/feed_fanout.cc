#include "feed_fanout.h"

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "delivery.h"

namespace crmsync::server {

namespace {

// What a subscriber is, fixed at Join.
struct SubscriberInfo {
  Principal who;
  int64_t cursor = 0;
  int64_t base = 0;
  FeedFanout::Announce announce;
};

// ChangeLog::ScopesDuring answers of one judging pass, by record and window:
// streams that subscribed from the same cursor ask the same question.
class ScopeMemo {
 public:
  ScopeMemo(ChangeLog* changes, std::string tenant_id)
      : changes_(changes), tenant_id_(std::move(tenant_id)) {}

  absl::StatusOr<std::vector<v1::ScopeKeys>> Get(const v1::RecordRef& ref, int64_t from,
                                                 int64_t to) {
    Key key{static_cast<int>(ref.entity_type()), ref.id(), from, to};
    auto it = memo_.find(key);
    if (it == memo_.end())
      it = memo_.emplace(key, changes_->ScopesDuring(tenant_id_, ref, from, to)).first;
    return it->second;
  }

 private:
  using Key = std::tuple<int, std::string, int64_t, int64_t>;
  ChangeLog* changes_;
  std::string tenant_id_;
  std::map<Key, absl::StatusOr<std::vector<v1::ScopeKeys>>> memo_;
};

// Whether a row of `rows` (version order) after `after` has something for
// the subscriber. A rule that cannot be applied (history gone, store error)
// counts as relevant: the device pulls and learns what to do.
bool Concerns(ScopeMemo& memo, const SubscriberInfo& info, const std::vector<RecordRow>& rows,
              int64_t after) {
  auto first =
      std::upper_bound(rows.begin(), rows.end(), after,
                       [](int64_t seq, const RecordRow& row) { return seq < row.state.version(); });
  for (auto it = first; it != rows.end(); ++it) {
    auto delivery = DeliveryFor([&memo](const v1::RecordRef& ref, int64_t from,
                                        int64_t to) { return memo.Get(ref, from, to); },
                                info.who, *it, info.base, info.cursor);
    if (!delivery.ok() || delivery->kind != Delivery::Kind::kNothing) return true;
  }
  return false;
}

int64_t LastSeq(const std::vector<RecordRow>& rows, int64_t otherwise) {
  return rows.empty() ? otherwise : rows.back().state.version();
}

}  // namespace

class FeedFanout::Core : public std::enable_shared_from_this<Core> {
 public:
  Core(ChangeLog* changes, ChangeNotifier* notifier, Executor executor, Options options)
      : changes_(changes),
        notifier_(notifier),
        executor_(std::move(executor)),
        batch_(std::max(1, options.batch)),
        announce_chunk_(std::max(1, options.announce_chunk)) {}

  uint64_t Join(const Principal& who, int64_t cursor, int64_t base, Announce announce);
  void Leave(uint64_t handle);
  void Retry();
  Stats stats();
  void StopListening();

 private:
  struct Subscriber {
    std::shared_ptr<const SubscriberInfo> info;
    // Rows up to here were judged for this subscriber.
    int64_t checked_through = 0;
    // A catch-up read of its own is queued or running (rounds skip it).
    bool reading = false;
  };
  struct Tenant {
    uint64_t generation = 0;  // tells a tenant apart from a later one of the same id
    uint64_t listen_handle = 0;
    // The shared reads examined the feed up to here; -1 until learnt.
    int64_t head = -1;
    bool round_queued = false;  // a round is queued or running
    bool round_again = false;   // a commit was announced meanwhile
    bool round_retry = false;   // refused by the executor or failed: Retry queues it
    std::map<uint64_t, Subscriber> subscribers;
    std::set<uint64_t> retry_reads;  // catch-up reads Retry queues
  };
  // A subscriber judged by a round, outside the lock.
  struct Judged {
    uint64_t handle = 0;
    std::shared_ptr<const SubscriberInfo> info;
    int64_t checked_through = 0;
    bool relevant = false;
  };
  using Announcements = std::vector<std::pair<std::shared_ptr<const SubscriberInfo>, int64_t>>;

  Tenant* FindLocked(const std::string& tenant_id, uint64_t generation)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnCommit(const std::string& tenant_id, uint64_t generation);
  void ScheduleRoundLocked(const std::string& tenant_id, Tenant& t)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ScheduleReadLocked(const std::string& tenant_id, Tenant& t, uint64_t handle)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends a round: catch-up reads for subscribers behind the head, and the
  // next round if `more` rows wait or a commit was announced meanwhile.
  void EndRoundLocked(const std::string& tenant_id, Tenant& t, bool more)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunRound(const std::string& tenant_id, uint64_t generation);
  void RunRead(const std::string& tenant_id, uint64_t generation, uint64_t handle);
  // Calls the subscribers' Announce, in chunks on the executor when many.
  void AnnounceAll(Announcements announce);

  ChangeLog* const changes_;
  ChangeNotifier* const notifier_;
  const Executor executor_;
  const int batch_;
  const int announce_chunk_;

  // Serialises Join and Leave, so a tenant's listener is registered before
  // any of its subscribers reads the feed and removed with the last one.
  absl::Mutex join_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  uint64_t next_handle_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_generation_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<std::string, Tenant> tenants_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::string> tenant_of_ ABSL_GUARDED_BY(mu_);
  int64_t shared_reads_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t own_reads_ ABSL_GUARDED_BY(mu_) = 0;
};

FeedFanout::Core::Tenant* FeedFanout::Core::FindLocked(const std::string& tenant_id,
                                                       uint64_t generation) {
  auto it = tenants_.find(tenant_id);
  if (it == tenants_.end() || it->second.generation != generation) return nullptr;
  return &it->second;
}

uint64_t FeedFanout::Core::Join(const Principal& who, int64_t cursor, int64_t base,
                                Announce announce) {
  auto info = std::make_shared<SubscriberInfo>();
  info->who = who;
  info->cursor = cursor;
  info->base = base;
  info->announce = std::move(announce);
  const std::string& tenant_id = who.tenant_id;

  absl::MutexLock join_lock(&join_mu_);
  uint64_t handle = 0, generation = 0;
  bool created = false;
  {
    absl::MutexLock lock(&mu_);
    handle = next_handle_++;
    auto [it, inserted] = tenants_.try_emplace(tenant_id);
    created = inserted;
    if (created) it->second.generation = next_generation_++;
    generation = it->second.generation;
    it->second.subscribers.emplace(handle, Subscriber{info, cursor, false});
    tenant_of_.emplace(handle, tenant_id);
  }
  uint64_t listen_handle = 0;
  if (created) {
    // Before any read of this tenant's feed: a commit after that read is
    // then always announced.
    std::weak_ptr<Core> weak = weak_from_this();
    listen_handle =
        notifier_->Listen(tenant_id, [weak, tenant_id, generation](const std::string&, int64_t) {
          if (auto core = weak.lock()) core->OnCommit(tenant_id, generation);
        });
  }
  absl::MutexLock lock(&mu_);
  Tenant* t = FindLocked(tenant_id, generation);
  if (t == nullptr) return handle;  // cannot happen: only Leave removes, and it waits for us
  if (created) {
    t->listen_handle = listen_handle;
    ScheduleRoundLocked(tenant_id, *t);  // learns the head
  }
  // Rows committed after the cursor but up to the head were judged before
  // this subscriber came: it reads them itself.
  if (t->head < 0 || cursor < t->head) ScheduleReadLocked(tenant_id, *t, handle);
  return handle;
}

void FeedFanout::Core::Leave(uint64_t handle) {
  absl::MutexLock join_lock(&join_mu_);
  uint64_t unlisten = 0;
  {
    absl::MutexLock lock(&mu_);
    auto of = tenant_of_.find(handle);
    if (of == tenant_of_.end()) return;
    auto it = tenants_.find(of->second);
    tenant_of_.erase(of);
    if (it == tenants_.end()) return;
    it->second.subscribers.erase(handle);
    it->second.retry_reads.erase(handle);
    if (it->second.subscribers.empty()) {
      unlisten = it->second.listen_handle;
      tenants_.erase(it);  // queued work of this generation finds nothing
    }
  }
  // Outside mu_: the notifier calls OnCommit under its own lock.
  if (unlisten != 0) notifier_->Unlisten(unlisten);
}

void FeedFanout::Core::StopListening() {
  absl::MutexLock join_lock(&join_mu_);
  std::vector<uint64_t> handles;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, t] : tenants_) handles.push_back(t.listen_handle);
    tenants_.clear();
    tenant_of_.clear();
  }
  for (uint64_t h : handles) notifier_->Unlisten(h);
}

void FeedFanout::Core::OnCommit(const std::string& tenant_id, uint64_t generation) {
  absl::MutexLock lock(&mu_);
  if (Tenant* t = FindLocked(tenant_id, generation)) ScheduleRoundLocked(tenant_id, *t);
}

void FeedFanout::Core::ScheduleRoundLocked(const std::string& tenant_id, Tenant& t) {
  if (t.round_queued) {
    t.round_again = true;
    return;
  }
  std::weak_ptr<Core> weak = weak_from_this();
  const uint64_t generation = t.generation;
  if (executor_([weak, tenant_id, generation] {
        if (auto core = weak.lock()) core->RunRound(tenant_id, generation);
      })) {
    t.round_queued = true;
    t.round_retry = false;
  } else {
    t.round_retry = true;
  }
}

void FeedFanout::Core::ScheduleReadLocked(const std::string& tenant_id, Tenant& t,
                                          uint64_t handle) {
  auto it = t.subscribers.find(handle);
  if (it == t.subscribers.end()) return;
  it->second.reading = true;
  std::weak_ptr<Core> weak = weak_from_this();
  const uint64_t generation = t.generation;
  if (executor_([weak, tenant_id, generation, handle] {
        if (auto core = weak.lock()) core->RunRead(tenant_id, generation, handle);
      })) {
    t.retry_reads.erase(handle);
  } else {
    t.retry_reads.insert(handle);
  }
}

void FeedFanout::Core::EndRoundLocked(const std::string& tenant_id, Tenant& t, bool more) {
  t.round_queued = false;
  for (auto& [handle, s] : t.subscribers) {
    if (!s.reading && s.checked_through < t.head) ScheduleReadLocked(tenant_id, t, handle);
  }
  if (more || t.round_again) {
    t.round_again = false;
    ScheduleRoundLocked(tenant_id, t);
  }
}

void FeedFanout::Core::RunRound(const std::string& tenant_id, uint64_t generation) {
  int64_t from = 0;
  {
    absl::MutexLock lock(&mu_);
    Tenant* t = FindLocked(tenant_id, generation);
    if (t == nullptr) return;
    from = t->head;
  }
  if (from < 0) {
    // First round of this tenant: rows up to now are read by each
    // subscriber's own catch-up read.
    absl::StatusOr<int64_t> latest = changes_->LatestSeq(tenant_id);
    absl::MutexLock lock(&mu_);
    Tenant* t = FindLocked(tenant_id, generation);
    if (t == nullptr) return;
    if (!latest.ok()) {
      t->round_queued = false;
      t->round_retry = true;
      return;
    }
    t->head = *latest;
    EndRoundLocked(tenant_id, *t, /*more=*/false);
    return;
  }

  absl::StatusOr<std::vector<RecordRow>> rows = changes_->ReadSince(tenant_id, from, batch_);
  int64_t head = from;
  std::vector<Judged> judged;
  {
    absl::MutexLock lock(&mu_);
    ++shared_reads_;
    Tenant* t = FindLocked(tenant_id, generation);
    if (t == nullptr) return;
    if (!rows.ok()) {
      t->round_queued = false;
      t->round_retry = true;
      return;
    }
    head = LastSeq(*rows, from);
    for (const auto& [handle, s] : t->subscribers) {
      // Behind `from`: rows between are gone, a catch-up read follows.
      if (s.reading || s.checked_through < from || s.checked_through >= head) continue;
      judged.push_back(Judged{handle, s.info, s.checked_through, false});
    }
  }

  ScopeMemo memo(changes_, tenant_id);
  for (Judged& j : judged) j.relevant = Concerns(memo, *j.info, *rows, j.checked_through);

  Announcements announce;
  {
    absl::MutexLock lock(&mu_);
    Tenant* t = FindLocked(tenant_id, generation);
    if (t == nullptr) return;
    for (const Judged& j : judged) {
      auto it = t->subscribers.find(j.handle);
      if (it == t->subscribers.end() || it->second.reading ||
          it->second.checked_through != j.checked_through) {
        continue;
      }
      it->second.checked_through = head;
      if (j.relevant) announce.emplace_back(j.info, head);
    }
    t->head = std::max(t->head, head);
    EndRoundLocked(tenant_id, *t, static_cast<int>(rows->size()) == batch_);
  }
  AnnounceAll(std::move(announce));
}

void FeedFanout::Core::AnnounceAll(Announcements announce) {
  // Writing an event (serialising, encrypting, sending) costs more than
  // judging it: thousands of announcements are spread over the workers.
  const size_t chunk_size = static_cast<size_t>(announce_chunk_);
  while (announce.size() > chunk_size) {
    auto chunk = std::make_shared<Announcements>(
        std::make_move_iterator(announce.end() - static_cast<std::ptrdiff_t>(chunk_size)),
        std::make_move_iterator(announce.end()));
    announce.resize(announce.size() - chunk_size);
    if (!executor_([chunk] {
          for (const auto& [info, seq] : *chunk) info->announce(seq);
        })) {
      for (const auto& [info, seq] : *chunk) info->announce(seq);  // pool full: here
    }
  }
  for (const auto& [info, seq] : announce) info->announce(seq);
}

void FeedFanout::Core::RunRead(const std::string& tenant_id, uint64_t generation, uint64_t handle) {
  std::shared_ptr<const SubscriberInfo> info;
  int64_t from = 0;
  {
    absl::MutexLock lock(&mu_);
    Tenant* t = FindLocked(tenant_id, generation);
    if (t == nullptr) return;
    auto it = t->subscribers.find(handle);
    if (it == t->subscribers.end()) return;
    info = it->second.info;
    from = it->second.checked_through;
  }
  absl::StatusOr<std::vector<RecordRow>> rows = changes_->ReadSince(tenant_id, from, batch_);
  bool relevant = false;
  int64_t through = from;
  if (rows.ok()) {
    through = LastSeq(*rows, from);
    ScopeMemo memo(changes_, tenant_id);
    relevant = Concerns(memo, *info, *rows, from);
  }
  {
    absl::MutexLock lock(&mu_);
    ++own_reads_;
    Tenant* t = FindLocked(tenant_id, generation);
    if (t == nullptr) return;
    auto it = t->subscribers.find(handle);
    if (it == t->subscribers.end()) return;
    Subscriber& s = it->second;
    if (!rows.ok()) {
      t->retry_reads.insert(handle);  // still `reading`: rounds keep skipping it
      return;
    }
    s.checked_through = std::max(s.checked_through, through);
    const bool more = static_cast<int>(rows->size()) == batch_ || s.checked_through < t->head;
    if (more) {
      ScheduleReadLocked(tenant_id, *t, handle);
    } else {
      s.reading = false;  // caught up: the rounds judge it from now on
    }
  }
  if (relevant) info->announce(through);
}

void FeedFanout::Core::Retry() {
  absl::MutexLock lock(&mu_);
  for (auto& [tenant_id, t] : tenants_) {
    if (t.round_retry && !t.round_queued) ScheduleRoundLocked(tenant_id, t);
    const std::vector<uint64_t> reads(t.retry_reads.begin(), t.retry_reads.end());
    for (uint64_t handle : reads) ScheduleReadLocked(tenant_id, t, handle);
  }
}

FeedFanout::Stats FeedFanout::Core::stats() {
  absl::MutexLock lock(&mu_);
  Stats s;
  s.shared_reads = shared_reads_;
  s.own_reads = own_reads_;
  s.subscribers = static_cast<int64_t>(tenant_of_.size());
  s.tenants = static_cast<int64_t>(tenants_.size());
  return s;
}

FeedFanout::FeedFanout(ChangeLog* changes, ChangeNotifier* notifier, Executor executor,
                       Options options)
    : core_(std::make_shared<Core>(changes, notifier, std::move(executor), options)) {}

FeedFanout::~FeedFanout() { core_->StopListening(); }

uint64_t FeedFanout::Join(const Principal& who, int64_t cursor, int64_t base, Announce announce) {
  return core_->Join(who, cursor, base, std::move(announce));
}

void FeedFanout::Leave(uint64_t handle) { core_->Leave(handle); }

void FeedFanout::Retry() { core_->Retry(); }

FeedFanout::Stats FeedFanout::stats() const { return core_->stats(); }

}  // namespace crmsync::server
