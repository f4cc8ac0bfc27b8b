// SqlAuditTrail (audit events) and the erasure scrub of applied-mutation
// results, for both databases.
#include "store/auth_checks.h"
#include "store/sql_roles.h"

namespace crmsync::server {

namespace codec = store_codec;

namespace {

constexpr SqlStatement kAuditAppend{
    "audit_append",
    "INSERT INTO audit_events (tenant_id, at_ms, action, actor_user_id, actor_device_id, "
    "target, detail, peer) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id"};
#define CRMSYNC_AUDIT_SELECT                                                               \
  "SELECT id, at_ms, action, actor_user_id, actor_device_id, target, detail, peer "        \
  "FROM audit_events WHERE tenant_id = $1 AND (CAST($2 AS TEXT) = '' OR action = $2) AND " \
  "at_ms >= $3 AND "
constexpr SqlStatement kAuditListOldestFirst{"audit_list_oldest_first",
                                             CRMSYNC_AUDIT_SELECT "id > $4 ORDER BY id LIMIT $5"};
constexpr SqlStatement kAuditListNewestFirst{
    "audit_list_newest_first",
    CRMSYNC_AUDIT_SELECT "(CAST($4 AS BIGINT) = 0 OR id < $4) ORDER BY id DESC LIMIT $5"};
#undef CRMSYNC_AUDIT_SELECT

constexpr SqlStatement kAppliedOfTenant{
    "scrub_applied_scan",
    "SELECT device_id, client_seq, result FROM applied_mutations WHERE tenant_id = $1"};
constexpr SqlStatement kAppliedReplaceResult{
    "scrub_applied_replace",
    "UPDATE applied_mutations SET result = $4 WHERE tenant_id = $1 AND device_id = $2 AND "
    "client_seq = $3"};

}  // namespace

absl::StatusOr<int64_t> SqlAuditTrail::AppendAudit(const AuditRow& row) {
  if (auto s = codec::CheckAudit(row); !s.ok()) return s;
  auto id =
      SqlQueryOne<int64_t>(*db_, "appending to the audit log", kAuditAppend,
                           {row.tenant_id, row.at_ms, row.action, row.actor_user_id,
                            row.actor_device_id, row.target, row.detail, row.peer},
                           [](const SqlRow& r) -> absl::StatusOr<int64_t> { return r.Int(0); });
  if (!id.ok()) return id.status();
  if (!id->has_value()) return absl::InternalError("the audit insert returned no id");
  return **id;
}

absl::StatusOr<std::vector<AuditRow>> SqlAuditTrail::ListAudit(const std::string& tenant_id,
                                                               const std::string& action,
                                                               int64_t since_ms, int64_t after_id,
                                                               int limit, bool newest_first) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckText(action, "audit action"); !s.ok()) return s;
  if (limit <= 0) return absl::InvalidArgumentError("limit must be positive");
  return SqlQueryAll<AuditRow>(*db_, "reading the audit log",
                               newest_first ? kAuditListNewestFirst : kAuditListOldestFirst,
                               {tenant_id, action, since_ms, after_id, limit},
                               [&](const SqlRow& row) -> absl::StatusOr<AuditRow> {
                                 AuditRow a;
                                 a.id = row.Int(0);
                                 a.tenant_id = tenant_id;
                                 a.at_ms = row.Int(1);
                                 a.action = row.Text(2);
                                 a.actor_user_id = row.Text(3);
                                 a.actor_device_id = row.Text(4);
                                 a.target = row.Text(5);
                                 a.detail = row.Text(6);
                                 a.peer = row.Text(7);
                                 return a;
                               });
}

absl::StatusOr<int64_t> SqlScrubAppliedResults(SqlDatabase& db, const std::string& tenant_id,
                                               const v1::RecordRef& ref) {
  struct Hit {
    std::string device_id;
    int64_t client_seq;
    std::string result;
  };
  // Results are stored whole; the ones carrying this record are found by
  // decoding them (erasure is rare, the scan is acceptable).
  auto hits = SqlQueryAll<std::optional<Hit>>(
      db, "scanning applied mutations", kAppliedOfTenant, {tenant_id},
      [&](const SqlRow& row) -> absl::StatusOr<std::optional<Hit>> {
        v1::MutationResult result;
        if (auto s = codec::Decode(row.Blob(2), &result, "mutation result"); !s.ok()) return s;
        const v1::RecordRef& held = result.record().ref();
        if (!result.has_record() || held.entity_type() != ref.entity_type() ||
            held.id() != ref.id()) {
          return std::optional<Hit>();
        }
        result.clear_record();
        return std::optional<Hit>(Hit{row.Text(0), row.Int(1), codec::Encode(result)});
      });
  if (!hits.ok()) return hits.status();
  int64_t scrubbed = 0;
  for (const std::optional<Hit>& hit : *hits) {
    if (!hit.has_value()) continue;
    auto changed = SqlExec(db, "scrubbing an applied mutation", kAppliedReplaceResult,
                           {tenant_id, hit->device_id, hit->client_seq, SqlBlob{hit->result}});
    if (!changed.ok()) return changed.status();
    ++scrubbed;
  }
  return scrubbed;
}

}  // namespace crmsync::server
