#include "store/postgres_write_tx.h"

#include <pqxx/binarystring>

#include "store/postgres_sql.h"
#include "store/store_codec.h"

namespace crmsync::server {

namespace codec = store_codec;

template <typename T, typename Fn>
absl::StatusOr<T> PgWriteTx::Guard(const char* what, Fn&& fn) {
  if (!failure_.status.ok()) return failure_.status;
  try {
    return fn();
  } catch (...) {
    failure_ = ClassifyPgError(std::current_exception(), what);
    return failure_.status;
  }
}

absl::StatusOr<int64_t> PgWriteTx::NextSeq() {
  auto seq = Guard<int64_t>("allocating a sequence", [&] {
    return work_.exec_prepared1(pg_sql::kSeqNext, tenant_id_)[0].as<int64_t>();
  });
  if (!seq.ok()) return seq;
  if (first_seq_ == 0) first_seq_ = *seq;
  last_seq_ = *seq;
  return seq;
}

absl::StatusOr<std::optional<v1::RecordState>> PgWriteTx::GetRecord(const v1::RecordRef& ref) {
  if (auto s = codec::CheckRef(ref); !s.ok()) return s;
  auto bytes = Guard<std::optional<std::string>>("reading a record", [&] {
    pqxx::result r = work_.exec_prepared(pg_sql::kRecordGet, tenant_id_,
                                         static_cast<int>(ref.entity_type()), ref.id());
    if (r.empty()) return std::optional<std::string>();
    return std::optional<std::string>(pqxx::binarystring(r[0][0]).str());
  });
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value()) return std::optional<v1::RecordState>();
  v1::RecordState state;
  if (auto s = codec::Decode(**bytes, &state, "record"); !s.ok()) return s;
  return std::optional<v1::RecordState>(std::move(state));
}

absl::Status PgWriteTx::PutRecord(const v1::RecordState& state,
                                  const v1::ScopeKeys* previous_scope) {
  if (auto s = codec::CheckRef(state.ref()); !s.ok()) return s;
  if (auto s = codec::CheckText(state.scope().owner_user_id(), "owner user id"); !s.ok()) return s;
  if (auto s = codec::CheckText(state.scope().team_id(), "team id"); !s.ok()) return s;
  if (first_seq_ == 0 || state.version() < first_seq_ || state.version() > last_seq_) {
    return absl::InvalidArgumentError("record version " + std::to_string(state.version()) +
                                      " was not allocated by NextSeq in this transaction");
  }
  const int type = state.ref().entity_type();
  const int64_t created = state.created_version() > 0 ? state.created_version() : state.version();
  return Guard<bool>("storing a record", [&] {
           if (previous_scope != nullptr) {
             work_.exec_prepared0(pg_sql::kScopeHistoryPut, tenant_id_, type, state.ref().id(),
                                  state.version(),
                                  pqxx::binarystring(codec::Encode(*previous_scope)));
           }
           work_.exec_prepared0(pg_sql::kRecordPut, tenant_id_, type, state.ref().id(),
                                state.version(), created, state.deleted(),
                                state.scope().owner_user_id(), state.scope().team_id(),
                                previous_scope != nullptr ? state.version() : int64_t{0},
                                pqxx::binarystring(codec::Encode(state)),
                                state.created_version());
           return true;
         })
      .status();
}

absl::StatusOr<std::optional<AppliedMutation>> PgWriteTx::GetApplied(const std::string& device_id,
                                                                     int64_t client_seq) {
  if (auto s = codec::CheckId(device_id, "device id"); !s.ok()) return s;
  AppliedMutation applied;
  std::string result_bytes;
  auto found = Guard<bool>("reading an applied mutation", [&] {
    pqxx::result r = work_.exec_prepared(pg_sql::kAppliedGet, tenant_id_, device_id, client_seq);
    if (r.empty()) return false;
    applied.payload_hash = pqxx::binarystring(r[0][0]).str();
    result_bytes = pqxx::binarystring(r[0][1]).str();
    return true;
  });
  if (!found.ok()) return found.status();
  if (!*found) return std::optional<AppliedMutation>();
  applied.device_id = device_id;
  applied.client_seq = client_seq;
  if (auto s = codec::Decode(result_bytes, &applied.result, "mutation result"); !s.ok()) return s;
  return std::optional<AppliedMutation>(std::move(applied));
}

absl::Status PgWriteTx::PutApplied(const AppliedMutation& applied) {
  if (auto s = codec::CheckApplied(applied); !s.ok()) return s;
  // ON CONFLICT DO NOTHING: a duplicate is reported without aborting the
  // transaction.
  auto inserted = Guard<bool>("recording an applied mutation", [&] {
    pqxx::result r = work_.exec_prepared(
        pg_sql::kAppliedPut, tenant_id_, applied.device_id, applied.client_seq,
        pqxx::binarystring(applied.payload_hash), pqxx::binarystring(codec::Encode(applied.result)));
    return r.affected_rows() == 1;
  });
  if (!inserted.ok()) return inserted.status();
  if (!*inserted) {
    return absl::AlreadyExistsError("mutation " + std::to_string(applied.client_seq) +
                                    " of device " + applied.device_id + " is already applied");
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> PgWriteTx::AddToClaim(const std::string& key, int64_t delta) {
  if (auto s = codec::CheckId(key, "claim key"); !s.ok()) return s;
  return Guard<int64_t>("updating a claim counter", [&] {
    return work_.exec_prepared1(pg_sql::kClaimAdd, tenant_id_, key, delta)[0].as<int64_t>();
  });
}

absl::StatusOr<int64_t> PgWriteTx::GetClaim(const std::string& key) {
  if (auto s = codec::CheckId(key, "claim key"); !s.ok()) return s;
  return Guard<int64_t>("reading a claim counter", [&] {
    pqxx::result r = work_.exec_prepared(pg_sql::kClaimGet, tenant_id_, key);
    return r.empty() ? int64_t{0} : r[0][0].as<int64_t>();
  });
}

absl::StatusOr<int64_t> PgWriteTx::Prune(int64_t latest_seq, int64_t horizon) {
  if (horizon < 0 || horizon > latest_seq) {
    return absl::InvalidArgumentError("prune horizon " + std::to_string(horizon) +
                                      " is outside [0, latest sequence " +
                                      std::to_string(latest_seq) + "]");
  }
  return Guard<int64_t>("pruning", [&] {
    int64_t removed = work_.exec_prepared(pg_sql::kPruneRecords, tenant_id_, horizon)
                          .affected_rows();
    removed += work_.exec_prepared(pg_sql::kPruneScopeHistory, tenant_id_, horizon)
                   .affected_rows();
    work_.exec_prepared0(pg_sql::kPruneMark, tenant_id_, horizon);
    return removed;
  });
}

}  // namespace crmsync::server
