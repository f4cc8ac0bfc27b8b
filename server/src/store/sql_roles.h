// The store roles that are plain CRUD, written once over SqlDatabase
// (sql_session.h) for both SQLite and PostgreSQL. Each validates its input
// (store_codec::Check*) before any statement.
//
// Thread-safety: as thread-safe as the SqlDatabase (both adapters are).
// The SqlDatabase must outlive the roles.
#ifndef CRMSYNC_SERVER_STORE_SQL_ROLES_H_
#define CRMSYNC_SERVER_STORE_SQL_ROLES_H_

#include "store/audit_trail.h"
#include "store/change_log.h"
#include "store/credentials.h"
#include "store/directory.h"
#include "store/sql_session.h"

namespace crmsync::server {

class SqlDirectory final : public Directory {
 public:
  explicit SqlDirectory(SqlDatabase* db) : db_(db) {}

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
  using Directory::TouchDevice;
  absl::Status TouchDevice(const std::string& tenant_id, const std::string& device_id,
                           const DeviceContact& contact) override;

 private:
  SqlDatabase* db_;
};

class SqlCredentials final : public Credentials {
 public:
  explicit SqlCredentials(SqlDatabase* db) : db_(db) {}

  absl::Status PutRefreshToken(const RefreshTokenRow& token) override;
  absl::StatusOr<std::optional<RefreshTokenRow>> GetRefreshToken(
      const std::string& tenant_id, const std::string& token_hash) override;
  absl::StatusOr<bool> MarkRefreshTokenUsed(const std::string& tenant_id,
                                            const std::string& token_hash) override;
  absl::StatusOr<int64_t> RevokeRefreshFamily(const std::string& tenant_id,
                                              const std::string& family_id) override;
  absl::StatusOr<int64_t> RevokeDeviceRefreshTokens(const std::string& tenant_id,
                                                    const std::string& device_id) override;
  absl::Status PutApiKey(const ApiKeyRow& key) override;
  absl::StatusOr<std::optional<ApiKeyRow>> GetApiKey(const std::string& tenant_id,
                                                     const std::string& key_id) override;
  absl::Status RecordLoginFailure(const std::string& key, int64_t at_ms,
                                  int64_t forget_before_ms) override;
  absl::StatusOr<std::vector<int64_t>> LoginFailuresSince(const std::string& key, int64_t since_ms,
                                                          int limit) override;
  absl::Status ClearLoginFailures(const std::string& key) override;
  absl::Status ReportRateUsage(const std::string& instance, int64_t at_ms,
                               const std::vector<std::pair<std::string, int64_t>>& usage,
                               int64_t forget_before_ms) override;
  absl::StatusOr<std::vector<RateUsageRow>> RateUsageSince(const std::string& instance,
                                                           int64_t since_ms) override;

 private:
  SqlDatabase* db_;
};

class SqlAuditTrail final : public AuditTrail {
 public:
  explicit SqlAuditTrail(SqlDatabase* db) : db_(db) {}

  absl::StatusOr<int64_t> AppendAudit(const AuditRow& row) override;
  absl::StatusOr<std::vector<AuditRow>> ListAudit(const std::string& tenant_id,
                                                  const std::string& action, int64_t since_ms,
                                                  int64_t after_id, int limit,
                                                  bool newest_first) override;

 private:
  SqlDatabase* db_;
};

// ChangeLog::ScrubAppliedResults for both change logs (applied_mutations
// has the same columns in both schemas), with validated input.
absl::StatusOr<int64_t> SqlScrubAppliedResults(SqlDatabase& db, const std::string& tenant_id,
                                               const v1::RecordRef& ref);

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_SQL_ROLES_H_
