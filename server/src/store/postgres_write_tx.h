// PgWriteTx: the WriteTx of PostgresStore. Internal to the store.
//
// Lives on the stack of PostgresStore::Write for one pqxx::work (READ
// COMMITTED) that already holds the tenant's row lock in tenant_seq. Not
// thread-safe. After the first database error the transaction is poisoned
// (PostgreSQL aborts it): every later call returns that error and Write
// rolls back whatever the callback returns.
#ifndef CRMSYNC_SERVER_STORE_POSTGRES_WRITE_TX_H_
#define CRMSYNC_SERVER_STORE_POSTGRES_WRITE_TX_H_

#include <string>

#include <pqxx/transaction_base>

#include "store/pg_errors.h"
#include "store/store.h"

namespace crmsync::server {

class PgWriteTx final : public WriteTx {
 public:
  PgWriteTx(pqxx::transaction_base& work, std::string tenant_id)
      : work_(work), tenant_id_(std::move(tenant_id)) {}

  absl::StatusOr<int64_t> NextSeq() override;
  absl::StatusOr<std::optional<v1::RecordState>> GetRecord(const v1::RecordRef& ref) override;
  absl::Status PutRecord(const v1::RecordState& state,
                         const v1::ScopeKeys* previous_scope) override;
  absl::StatusOr<std::optional<AppliedMutation>> GetApplied(const std::string& device_id,
                                                           int64_t client_seq) override;
  absl::Status PutApplied(const AppliedMutation& applied) override;
  absl::StatusOr<int64_t> AddToClaim(const std::string& key, int64_t delta) override;
  absl::StatusOr<int64_t> GetClaim(const std::string& key) override;

  // Deletes tombstones and scope history at or below `horizon` and raises
  // pruned_through. `latest_seq` is the locked sequence value.
  absl::StatusOr<int64_t> Prune(int64_t latest_seq, int64_t horizon);

  // The first database error, if any (OK otherwise).
  const PgError& failure() const { return failure_; }

 private:
  // Runs `fn` (which may throw libpqxx exceptions) unless the transaction
  // is already poisoned; records the first failure.
  template <typename T, typename Fn>
  absl::StatusOr<T> Guard(const char* what, Fn&& fn);

  pqxx::transaction_base& work_;
  const std::string tenant_id_;
  int64_t first_seq_ = 0;
  int64_t last_seq_ = 0;
  PgError failure_;
};

}  // namespace crmsync::server

#endif  // CRMSYNC_SERVER_STORE_POSTGRES_WRITE_TX_H_
