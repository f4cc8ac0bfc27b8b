// ChangeLog and WriteTx: input validation at the role boundary. Both
// implementations see only input that passed these checks.
#include "store/change_log.h"

#include <algorithm>

#include "store/store_codec.h"

namespace crmsync::server {

namespace codec = store_codec;

// ---- WriteTx ----

absl::StatusOr<std::optional<v1::RecordState>> WriteTx::GetRecord(const v1::RecordRef& ref) {
  if (auto s = codec::CheckRef(ref); !s.ok()) return s;
  return DoGetRecord(ref);
}

absl::Status WriteTx::PutRecord(const v1::RecordState& state, const v1::ScopeKeys* previous_scope) {
  if (auto s = codec::CheckRef(state.ref()); !s.ok()) return s;
  if (auto s = codec::CheckText(state.scope().owner_user_id(), "owner user id"); !s.ok()) return s;
  if (auto s = codec::CheckText(state.scope().team_id(), "team id"); !s.ok()) return s;
  if (field_history_depth_ <= 0 || state.ref().entity_type() == v1::ENTITY_TYPE_CONFLICT ||
      state.ref().entity_type() == v1::ENTITY_TYPE_POSSIBLE_DUPLICATE) {
    return DoPutRecord(state, previous_scope);
  }
  if (state.deleted()) {
    if (auto s = DoPutRecord(state, previous_scope); !s.ok()) return s;
    return DoDropFieldHistory(state.ref());
  }
  // Copy on write: the values this write replaces are kept (the record holds
  // the current ones), so a create writes no history at all. The record as
  // it was is usually known to the transaction already (read to merge).
  std::vector<FieldHistoryRow> rows;
  if (field_history_depth_ > 1) {
    auto before = DoGetRecord(state.ref());
    if (!before.ok()) return before.status();
    if (*before && !(*before)->deleted()) rows = codec::FieldHistoryOf(**before, state);
  }
  if (auto s = DoPutRecord(state, previous_scope); !s.ok()) return s;
  if (rows.empty()) return absl::OkStatus();
  return DoAddFieldHistory(state.ref(), std::move(rows));
}

absl::Status WriteTx::DropFieldHistory(const v1::RecordRef& ref) {
  if (auto s = codec::CheckRef(ref); !s.ok()) return s;
  return DoDropFieldHistory(ref);
}

absl::StatusOr<std::optional<AppliedMutation>> WriteTx::GetApplied(const std::string& device_id,
                                                                   int64_t client_seq) {
  if (auto s = codec::CheckId(device_id, "device id"); !s.ok()) return s;
  return DoGetApplied(device_id, client_seq);
}

absl::Status WriteTx::PutApplied(const AppliedMutation& applied) {
  if (auto s = codec::CheckApplied(applied); !s.ok()) return s;
  return DoPutApplied(applied);
}

absl::StatusOr<int64_t> WriteTx::AddToClaim(const std::string& key, int64_t delta) {
  if (auto s = codec::CheckId(key, "claim key"); !s.ok()) return s;
  return DoAddToClaim(key, delta);
}

absl::StatusOr<int64_t> WriteTx::GetClaim(const std::string& key) {
  if (auto s = codec::CheckId(key, "claim key"); !s.ok()) return s;
  return DoGetClaim(key);
}

absl::StatusOr<std::vector<ClaimRow>> WriteTx::ListClaims(const std::string& prefix,
                                                          const std::string& after_key, int limit) {
  if (auto s = codec::CheckText(prefix, "claim key prefix"); !s.ok()) return s;
  if (auto s = codec::CheckText(after_key, "claim key"); !s.ok()) return s;
  if (limit <= 0 || limit > kMaxClaimPage) {
    return absl::InvalidArgumentError("claim list limit must be in [1, " +
                                      std::to_string(kMaxClaimPage) + "]");
  }
  return DoListClaims(prefix, after_key, limit);
}

absl::StatusOr<int64_t> WriteTx::DeleteClaims(const std::vector<std::string>& keys) {
  if (keys.size() > static_cast<size_t>(kMaxClaimPage)) {
    return absl::InvalidArgumentError("at most " + std::to_string(kMaxClaimPage) +
                                      " claims can be deleted at once");
  }
  for (const std::string& key : keys) {
    if (auto s = codec::CheckId(key, "claim key"); !s.ok()) return s;
  }
  if (keys.empty()) return int64_t{0};
  return DoDeleteClaims(keys);
}

absl::StatusOr<AppliedFloor> WriteTx::RaiseAppliedFloor(const std::string& device_id,
                                                        int64_t through) {
  if (auto s = codec::CheckId(device_id, "device id"); !s.ok()) return s;
  if (through < 0) {
    return absl::InvalidArgumentError("applied floor must be >= 0, got " + std::to_string(through));
  }
  return DoRaiseAppliedFloor(device_id, through);
}

absl::StatusOr<AppliedFloor> WriteTx::ForgetAppliedResults(const std::string& device_id) {
  if (auto s = codec::CheckId(device_id, "device id"); !s.ok()) return s;
  return DoRaiseAppliedFloor(device_id, kThroughHighestApplied);
}

absl::Status WriteTx::Prefetch(const std::vector<v1::RecordRef>& refs, const std::string& device_id,
                               const std::vector<int64_t>& client_seqs) {
  // Refused refs and device ids are skipped by the implementation (see the
  // header): the calls that use them report the error.
  return DoPrefetch(refs, device_id, client_seqs);
}

absl::Status WriteTx::PrefetchIndexed(IndexKind kind, const std::vector<v1::EntityType>& types,
                                      const std::vector<int64_t>& keys) {
  std::vector<v1::EntityType> distinct = types;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  for (v1::EntityType type : distinct) {
    if (auto s = codec::CheckIndexQuery(kind, type, {}, 0); !s.ok()) return s;
  }
  std::vector<int64_t> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  if (sorted.empty() || distinct.empty()) return absl::OkStatus();
  return DoPrefetchIndexed(kind, distinct, sorted);
}

absl::Status WriteTx::SetIndexKeys(const v1::RecordRef& ref, IndexKind kind,
                                   const std::vector<int64_t>& keys) {
  if (auto s = codec::CheckRef(ref); !s.ok()) return s;
  if (auto s = codec::CheckIndexKeys(kind, keys); !s.ok()) return s;
  return DoSetIndexKeys(ref, kind, keys);
}

absl::StatusOr<std::vector<v1::RecordState>> WriteTx::FindIndexed(
    IndexKind kind, v1::EntityType type, const std::vector<KeyRange>& ranges, int limit) {
  if (auto s = codec::CheckIndexQuery(kind, type, ranges, limit); !s.ok()) return s;
  return DoFindIndexed(kind, type, ranges, limit);
}

absl::StatusOr<std::vector<v1::RecordState>> WriteTx::FindIndexedIn(
    IndexKind kind, const std::vector<v1::EntityType>& types, const std::vector<KeyRange>& ranges,
    int limit) {
  if (types.empty()) return absl::InvalidArgumentError("an index query names no entity type");
  std::vector<v1::EntityType> distinct = types;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  for (v1::EntityType type : distinct) {
    if (auto s = codec::CheckIndexQuery(kind, type, ranges, limit); !s.ok()) return s;
  }
  return DoFindIndexedIn(kind, distinct, ranges, limit);
}

absl::StatusOr<std::vector<v1::RecordState>> WriteTx::DoFindIndexedIn(
    IndexKind kind, const std::vector<v1::EntityType>& types, const std::vector<KeyRange>& ranges,
    int limit) {
  std::vector<v1::RecordState> out;
  for (v1::EntityType type : types) {
    auto found = DoFindIndexed(kind, type, ranges, 0);
    if (!found.ok()) return found.status();
    for (v1::RecordState& state : *found) out.push_back(std::move(state));
  }
  codec::SortByVersion(&out, limit);
  return out;
}

// ---- ChangeLog ----

absl::Status ChangeLog::Write(const std::string& tenant_id,
                              const std::function<absl::Status(WriteTx&)>& fn) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (field_history_depth_ <= 0) return DoWrite(tenant_id, fn);
  return DoWrite(tenant_id, [&](WriteTx& tx) {
    tx.field_history_depth_ = field_history_depth_;
    return fn(tx);
  });
}

absl::StatusOr<std::vector<RecordRow>> ChangeLog::ReadSince(const std::string& tenant_id,
                                                            int64_t after_version, int limit) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (limit <= 0) return absl::InvalidArgumentError("ReadSince limit must be positive");
  if (after_version < 0)
    return absl::InvalidArgumentError("ReadSince version must not be negative");
  return DoReadSince(tenant_id, after_version, limit);
}

absl::StatusOr<std::vector<RecordRow>> ChangeLog::ReadTypeSince(const std::string& tenant_id,
                                                                v1::EntityType type,
                                                                int64_t after_version, int limit) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (limit <= 0) return absl::InvalidArgumentError("ReadTypeSince limit must be positive");
  if (after_version < 0) {
    return absl::InvalidArgumentError("ReadTypeSince version must not be negative");
  }
  if (type == v1::ENTITY_TYPE_UNSPECIFIED || !v1::EntityType_IsValid(type)) {
    return absl::InvalidArgumentError("ReadTypeSince needs an entity type");
  }
  return DoReadTypeSince(tenant_id, type, after_version, limit);
}

absl::StatusOr<std::vector<ArenaRecordRow>> ChangeLog::ReadSinceOn(const std::string& tenant_id,
                                                                   int64_t after_version, int limit,
                                                                   google::protobuf::Arena* arena) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (limit <= 0) return absl::InvalidArgumentError("ReadSince limit must be positive");
  if (after_version < 0)
    return absl::InvalidArgumentError("ReadSince version must not be negative");
  if (arena == nullptr) return absl::InvalidArgumentError("ReadSinceOn needs an arena");
  return DoReadSinceOn(tenant_id, after_version, limit, arena);
}

absl::StatusOr<std::vector<ArenaRecordRow>> ChangeLog::DoReadSinceOn(
    const std::string& tenant_id, int64_t after_version, int limit,
    google::protobuf::Arena* arena) {
  auto rows = DoReadSince(tenant_id, after_version, limit);
  if (!rows.ok()) return rows.status();
  std::vector<ArenaRecordRow> out;
  out.reserve(rows->size());
  for (const RecordRow& row : *rows) {
    auto* state = google::protobuf::Arena::CreateMessage<v1::RecordState>(arena);
    *state = row.state;
    out.push_back({state, row.scope_changed_version});
  }
  return out;
}

absl::StatusOr<std::optional<v1::RecordState>> ChangeLog::GetRecord(const std::string& tenant_id,
                                                                    const v1::RecordRef& ref) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckRef(ref); !s.ok()) return s;
  return DoGetRecord(tenant_id, ref);
}

absl::StatusOr<std::vector<v1::ScopeKeys>> ChangeLog::ScopesDuring(const std::string& tenant_id,
                                                                   const v1::RecordRef& ref,
                                                                   int64_t from, int64_t to) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckRef(ref); !s.ok()) return s;
  if (from > to) return absl::InvalidArgumentError("scope window ends before it starts");
  return DoScopesDuring(tenant_id, ref, from, to);
}

absl::StatusOr<std::optional<v1::ScopeKeys>> ChangeLog::ScopeAt(const std::string& tenant_id,
                                                                const v1::RecordRef& ref,
                                                                int64_t version) {
  auto scopes = ScopesDuring(tenant_id, ref, version, version);
  if (!scopes.ok()) return scopes.status();
  if (scopes->empty()) return std::optional<v1::ScopeKeys>();
  return std::optional<v1::ScopeKeys>(std::move(scopes->front()));
}

absl::StatusOr<std::vector<v1::RecordState>> ChangeLog::FindIndexed(
    const std::string& tenant_id, IndexKind kind, v1::EntityType type,
    const std::vector<KeyRange>& ranges, int limit) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckIndexQuery(kind, type, ranges, limit); !s.ok()) return s;
  return DoFindIndexed(tenant_id, kind, type, ranges, limit);
}

absl::StatusOr<int64_t> ChangeLog::LatestSeq(const std::string& tenant_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  return DoLatestSeq(tenant_id);
}

absl::StatusOr<FeedState> ChangeLog::GetFeedState(const std::string& tenant_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  return DoGetFeedState(tenant_id);
}

absl::Status ChangeLog::StartNewHistory(const std::string& tenant_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  return DoStartNewHistory(tenant_id);
}

absl::StatusOr<int64_t> ChangeLog::PrunedThrough(const std::string& tenant_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  return DoPrunedThrough(tenant_id);
}

absl::StatusOr<int64_t> ChangeLog::Prune(const std::string& tenant_id, int64_t horizon) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  // The horizon is checked against LatestSeq inside the implementation's
  // transaction.
  return DoPrune(tenant_id, horizon);
}

absl::StatusOr<std::vector<v1::FieldHistoryEntry>> ChangeLog::ReadFieldHistory(
    const std::string& tenant_id, const v1::RecordRef& ref, const std::string& path, int limit) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckRef(ref); !s.ok()) return s;
  if (auto s = codec::CheckText(path, "field path"); !s.ok()) return s;
  if (limit <= 0) return absl::InvalidArgumentError("field history limit must be positive");
  std::vector<v1::FieldHistoryEntry> out;
  if (field_history_depth_ <= 1) return out;
  auto rows = DoReadFieldHistory(tenant_id, ref, path, std::min(limit, field_history_depth_ - 1));
  if (!rows.ok()) return rows.status();
  out.reserve(rows->size());
  for (const std::string& bytes : *rows) {
    if (auto s = codec::Decode(bytes, &out.emplace_back(), "field history entry"); !s.ok()) {
      return s;
    }
  }
  return out;
}

absl::StatusOr<int64_t> ChangeLog::TrimFieldHistory(const std::string& tenant_id) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  return DoTrimFieldHistory(tenant_id, std::max(0, field_history_depth_ - 1));
}

absl::StatusOr<int64_t> ChangeLog::ScrubAppliedResults(const std::string& tenant_id,
                                                       const v1::RecordRef& ref) {
  if (auto s = codec::CheckId(tenant_id, "tenant id"); !s.ok()) return s;
  if (auto s = codec::CheckRef(ref); !s.ok()) return s;
  return DoScrubAppliedResults(tenant_id, ref);
}

}  // namespace crmsync::server
