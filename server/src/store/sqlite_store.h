// SqliteStore: the embedded store (one SQLite file, WAL mode).
//
// Concurrency: connections come from a small pool (at most
// Options::max_connections, created on demand). Reads run on any pooled
// connection in autocommit mode and proceed while a writer commits (WAL).
// Write transactions start with BEGIN IMMEDIATE, which takes the database's
// single write lock at the first statement and holds it to COMMIT: writers
// are serialised, so every tenant's sequence numbers commit in increasing
// order (gap-free cursors). Writers of this process additionally queue on a
// mutex so they wait in order instead of polling SQLITE_BUSY; another
// process sharing the file is handled by the busy timeout.
//
// Thread-safety: every method may be called from any thread. A Write
// callback must not call Write again (it would wait for itself; such a call
// fails with FAILED_PRECONDITION), but may call the read methods.
#ifndef CRMSYNC_SERVER_STORE_SQLITE_STORE_H_
#define CRMSYNC_SERVER_STORE_SQLITE_STORE_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/sqlite_db.h"
#include "store/store.h"

namespace crmsync::server {

class SqliteStore final : public Store {
 public:
  struct Options {
    // Most open connections; callers beyond it wait for a free one.
    int max_connections = 8;
    // How long a statement waits for a lock held by another process before
    // failing with UNAVAILABLE.
    int busy_timeout_ms = 5000;
  };

  // Opens (creating if needed) the database file at `path`. Does not
  // migrate. ":memory:" is refused: each pooled connection would see its own
  // empty database.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                           Options options);
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path) {
    return Open(path, Options());
  }
  ~SqliteStore() override;

  std::string Kind() const override { return "sqlite"; }
  absl::Status Migrate() override;
  absl::Status Write(const std::string& tenant_id,
                     const std::function<absl::Status(WriteTx&)>& fn) override;

  absl::StatusOr<std::vector<RecordRow>> ReadSince(const std::string& tenant_id,
                                                   int64_t after_version, int limit) override;
  absl::StatusOr<std::optional<v1::RecordState>> GetRecord(const std::string& tenant_id,
                                                          const v1::RecordRef& ref) override;
  absl::StatusOr<std::vector<v1::ScopeKeys>> ScopesDuring(const std::string& tenant_id,
                                                          const v1::RecordRef& ref, int64_t from,
                                                          int64_t to) override;
  absl::StatusOr<std::vector<v1::RecordState>> FindIndexed(const std::string& tenant_id,
                                                           IndexKind kind, v1::EntityType type,
                                                           const std::vector<KeyRange>& ranges,
                                                           int limit) override;
  absl::StatusOr<int64_t> LatestSeq(const std::string& tenant_id) override;
  absl::StatusOr<int64_t> PrunedThrough(const std::string& tenant_id) override;
  absl::StatusOr<FeedState> GetFeedState(const std::string& tenant_id) override;
  absl::Status StartNewHistory(const std::string& tenant_id) override;
  absl::StatusOr<int64_t> Prune(const std::string& tenant_id, int64_t horizon) override;

  absl::Status PutTenant(const TenantRow& tenant) override;
  absl::StatusOr<std::optional<TenantRow>> GetTenantBySlug(const std::string& slug) override;
  absl::StatusOr<std::vector<TenantRow>> ListTenants() override;
  absl::Status PutUser(const UserRow& user) override;
  absl::StatusOr<std::optional<UserRow>> GetUser(const std::string& tenant_id,
                                                 const std::string& user_id) override;
  absl::StatusOr<std::optional<UserRow>> GetUserByName(const std::string& tenant_id,
                                                       const std::string& username) override;
  absl::StatusOr<std::vector<UserRow>> ListUsers(const std::string& tenant_id) override;
  absl::Status PutTeam(const std::string& tenant_id, const v1::Team& team) override;
  absl::StatusOr<std::vector<v1::Team>> ListTeams(const std::string& tenant_id) override;
  absl::Status PutDevice(const DeviceRow& device) override;
  absl::StatusOr<std::optional<DeviceRow>> GetDevice(const std::string& tenant_id,
                                                     const std::string& device_id) override;
  absl::StatusOr<std::vector<DeviceRow>> ListDevices(const std::string& tenant_id) override;
  using Store::TouchDevice;
  absl::Status TouchDevice(const std::string& tenant_id, const std::string& device_id,
                           const DeviceContact& contact) override;

  // Authentication, audit and erasure (sqlite_auth.cc).
  absl::Status PutRefreshToken(const RefreshTokenRow& token) override;
  absl::StatusOr<std::optional<RefreshTokenRow>> GetRefreshToken(
      const std::string& token_hash) override;
  absl::StatusOr<bool> MarkRefreshTokenUsed(const std::string& token_hash) override;
  absl::StatusOr<int64_t> RevokeRefreshFamily(const std::string& tenant_id,
                                              const std::string& family_id) override;
  absl::StatusOr<int64_t> RevokeDeviceRefreshTokens(const std::string& tenant_id,
                                                    const std::string& device_id) override;
  absl::Status PutApiKey(const ApiKeyRow& key) override;
  absl::StatusOr<std::optional<ApiKeyRow>> GetApiKey(const std::string& tenant_id,
                                                     const std::string& key_id) override;
  absl::StatusOr<int64_t> AppendAudit(const AuditRow& row) override;
  absl::StatusOr<std::vector<AuditRow>> ListAudit(const std::string& tenant_id,
                                                  const std::string& action, int64_t since_ms,
                                                  int64_t after_id, int limit, bool newest_first) override;
  absl::StatusOr<int64_t> ScrubAppliedResults(const std::string& tenant_id,
                                              const v1::RecordRef& ref) override;

 private:
  // A pooled connection, returned to the pool when the lease ends.
  class Lease {
   public:
    Lease(SqliteStore* store, std::unique_ptr<SqliteDb> db) : store_(store), db_(std::move(db)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    SqliteDb& operator*() const { return *db_; }
    SqliteDb* operator->() const { return db_.get(); }

   private:
    SqliteStore* store_;
    std::unique_ptr<SqliteDb> db_;
  };

  SqliteStore(std::string path, Options options) : path_(std::move(path)), options_(options) {}
  absl::StatusOr<Lease> Acquire();
  void Release(std::unique_ptr<SqliteDb> db);
  // Runs `fn` on one connection inside BEGIN IMMEDIATE ... COMMIT with the
  // tenant's sequence row present, retrying busy failures.
  absl::Status RunWrite(const std::string& tenant_id,
                        const std::function<absl::Status(SqliteDb&, bool* retryable)>& fn);

  const std::string path_;
  const Options options_;
  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<SqliteDb>> idle_;
  int open_connections_ = 0;
  // Serialises this process's writers (see the file comment).
  std::mutex write_mu_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_SQLITE_STORE_H_
