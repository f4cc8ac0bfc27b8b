// PostgresStore: the production store (PostgreSQL via libpqxx 6.4).
//
// Several crm-syncd instances may share one database; they cooperate only
// through it:
//  * Migrate() applies versioned migrations under an advisory lock
//    (postgres_schema.h).
//  * Every write transaction (READ COMMITTED) first locks its tenant's row
//    in tenant_seq with SELECT ... FOR UPDATE and keeps the lock to COMMIT.
//    Writers of one tenant are therefore serialised across all instances,
//    each allocates sequences above every committed one, and they commit in
//    sequence order: a reader that saw version N can never later find a
//    committed version < N it has not seen (gap-free cursors). A rolled-back
//    transaction's sequence increment rolls back with it, so numbers are
//    reused rather than skipped.
//  * Serialization failures, deadlocks and connections lost before COMMIT
//    roll back and re-run the callback (store_codec::kMaxWriteAttempts in
//    all); a COMMIT whose outcome is unknown is never re-run (UNAVAILABLE).
//  * Connections come from a bounded PgPool. At most half of the pool may
//    be held by write transactions, so a Write callback that reads through
//    the Store (as Push does with ScopeAt) always finds a connection.
//
// Thread-safety: every method may be called from any thread. A Write
// callback must not call Write again (it would wait for its own lock).
#ifndef CRMSYNC_SERVER_STORE_POSTGRES_STORE_H_
#define CRMSYNC_SERVER_STORE_POSTGRES_STORE_H_

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "store/store.h"

namespace pqxx {
class transaction_base;
}  // namespace pqxx

namespace crmsync::server {

class PgPool;
struct PgError;

class PostgresStore final : public Store {
 public:
  struct Options {
    // Connections in the pool (>= 2).
    int pool_size = 8;
    // How long a call waits for a free connection before UNAVAILABLE.
    std::chrono::milliseconds acquire_timeout{10000};
  };

  // Connects (one connection, to fail early on a bad URI or an unreachable
  // server: UNAVAILABLE). Does not migrate.
  static absl::StatusOr<std::unique_ptr<PostgresStore>> Open(const std::string& conninfo,
                                                             Options options);
  static absl::StatusOr<std::unique_ptr<PostgresStore>> Open(const std::string& conninfo) {
    return Open(conninfo, Options());
  }
  ~PostgresStore() override;

  std::string Kind() const override { return "postgres"; }
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
  absl::StatusOr<int64_t> LatestSeq(const std::string& tenant_id) override;
  absl::StatusOr<int64_t> PrunedThrough(const std::string& tenant_id) override;
  absl::StatusOr<FeedState> GetFeedState(const std::string& tenant_id) override;
  absl::Status StartNewHistory(const std::string& tenant_id) override;
  absl::StatusOr<std::vector<v1::RecordState>> FindIndexed(const std::string& tenant_id,
                                                           IndexKind kind, v1::EntityType type,
                                                           const std::vector<KeyRange>& ranges,
                                                           int limit) override;
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

  // Authentication, audit and erasure (postgres_auth.cc).
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
  PostgresStore(std::unique_ptr<PgPool> pool, Options options);

  // Runs one statement-level unit of work in autocommit mode
  // (pqxx::nontransaction); a lost pooled connection is replaced and the
  // work tried once more. `fn` may throw libpqxx exceptions.
  absl::Status Run(const char* what, const std::function<absl::Status(pqxx::transaction_base&)>& fn);

  // Runs `body` in a write transaction holding `tenant_id`'s row lock,
  // retrying retryable failures. `body` gets the locked latest sequence and
  // reports database errors it caught in `failure`.
  using WriteBody =
      std::function<absl::Status(pqxx::transaction_base& work, int64_t latest_seq, PgError* failure)>;
  absl::Status RunWrite(const std::string& tenant_id, const WriteBody& body);

  std::unique_ptr<PgPool> pool_;
  const Options options_;
  // Write transactions in flight, at most max_writers_ (see file comment).
  std::mutex writers_mu_;
  std::condition_variable writers_cv_;
  int writers_ = 0;
  const int max_writers_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_POSTGRES_STORE_H_
