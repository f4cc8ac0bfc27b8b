#include "fault_checks.h"

#define PQXX_HAVE_OPTIONAL 1
#include <google/protobuf/util/message_differencer.h>

#include <pqxx/pqxx>
#include <set>

#include "crmsync/client/database.h"
#include "sync_client.h"

namespace crmsync::testing {

std::string RecordKey(const v1::RecordRef& ref) {
  return v1::EntityType_Name(ref.entity_type()) + "/" + ref.id();
}

absl::StatusOr<RecordMap> ReadServerScope(const std::string& address, const std::string& user,
                                          const std::string& reader_device) {
  DevSyncClient client(address, "demo", user, reader_device);
  RecordMap out;
  std::string cursor;
  for (int page = 0; page < 10000; ++page) {
    v1::PullRequest req;
    req.mutable_client()->set_protocol_version(1);
    req.set_cursor(cursor);
    v1::PullResponse resp;
    grpc::Status s = client.Pull(req, &resp);
    if (!s.ok()) {
      return absl::UnavailableError("Pull as " + user + ": " + s.error_message());
    }
    for (const v1::Change& c : resp.changes()) {
      const std::string key = RecordKey(c.record());
      if (c.kind() != v1::CHANGE_KIND_UPSERT) {
        out.erase(key);
        continue;
      }
      // A bootstrap sends each record whole; a later change of the same
      // record inside it carries only its changed fields.
      v1::RecordState& r = out[key];
      *r.mutable_ref() = c.record();
      r.set_version(c.version());
      if (c.changed_fields().paths().empty() || !r.has_data()) {
        *r.mutable_data() = c.values();
      } else {
        r.mutable_data()->MergeFrom(c.values());
      }
    }
    cursor = resp.next_cursor();
    if (!resp.has_more()) return out;
  }
  return absl::DeadlineExceededError("Pull did not catch up in 10000 pages");
}

absl::StatusOr<RecordMap> ReadReplica(const std::string& db, const std::string& key) {
  client::DatabaseOptions o;
  o.path = db;
  o.key = key;
  auto opened = client::Database::Open(o);
  if (!opened.ok()) return opened.status();
  RecordMap out;
  const auto* types = v1::EntityType_descriptor();
  for (int i = 0; i < types->value_count(); ++i) {
    const auto type = static_cast<v1::EntityType>(types->value(i)->number());
    if (type == v1::ENTITY_TYPE_UNSPECIFIED) continue;
    auto rows = (*opened)->List(type);
    if (!rows.ok()) return rows.status();
    for (v1::RecordState& r : *rows) out[RecordKey(r.ref())] = std::move(r);
  }
  return out;
}

std::vector<std::string> CompareReplica(const std::string& device, const RecordMap& server,
                                        const RecordMap& replica) {
  std::vector<std::string> diffs;
  for (const auto& [key, s] : server) {
    auto it = replica.find(key);
    if (it == replica.end()) {
      diffs.push_back(device + ": missing " + key + " (server version " +
                      std::to_string(s.version()) + ")");
      continue;
    }
    if (it->second.version() != s.version()) {
      diffs.push_back(device + ": " + key + " at version " + std::to_string(it->second.version()) +
                      ", server " + std::to_string(s.version()));
    } else if (!google::protobuf::util::MessageDifferencer::Equals(it->second.data(), s.data())) {
      diffs.push_back(device + ": " + key + " differs: device {" +
                      it->second.data().ShortDebugString() + "} server {" +
                      s.data().ShortDebugString() + "}");
    }
  }
  for (const auto& [key, r] : replica) {
    if (server.count(key) == 0) diffs.push_back(device + ": holds " + key + " not on the server");
  }
  return diffs;
}

absl::StatusOr<std::map<int64_t, v1::MutationResult>> ReadAppliedLog(const std::string& conninfo,
                                                                     const std::string& tenant_id,
                                                                     const std::string& device_id) {
  try {
    pqxx::connection conn(conninfo);
    pqxx::read_transaction tx(conn);
    pqxx::result rows = tx.exec_params(
        "SELECT client_seq, result FROM applied_mutations WHERE tenant_id = $1 AND "
        "device_id = $2 ORDER BY client_seq",
        tenant_id, device_id);
    std::map<int64_t, v1::MutationResult> out;
    for (const auto& row : rows) {
      const pqxx::binarystring bytes(row[1]);
      v1::MutationResult r;
      if (!r.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
        return absl::DataLossError("unparsable stored result for client_seq " +
                                   row[0].as<std::string>());
      }
      out[row[0].as<int64_t>()] = std::move(r);
    }
    return out;
  } catch (const std::exception& e) {
    return absl::UnavailableError(std::string("reading applied_mutations: ") + e.what());
  }
}

absl::StatusOr<int64_t> ReadAppliedFloor(const std::string& conninfo, const std::string& tenant_id,
                                         const std::string& device_id) {
  try {
    pqxx::connection conn(conninfo);
    pqxx::read_transaction tx(conn);
    pqxx::result rows = tx.exec_params(
        "SELECT floor_seq FROM applied_floors WHERE tenant_id = $1 AND device_id = $2", tenant_id,
        device_id);
    return rows.empty() ? 0 : rows[0][0].as<int64_t>();
  } catch (const std::exception& e) {
    return absl::UnavailableError(std::string("reading applied_floors: ") + e.what());
  }
}

int64_t CountProcessed(const std::string& conninfo, const std::string& tenant_id,
                       const std::string& device_id) {
  // The floor first: a push committing in between only adds to the log.
  auto floor = ReadAppliedFloor(conninfo, tenant_id, device_id);
  auto log = ReadAppliedLog(conninfo, tenant_id, device_id);
  if (!floor.ok() || !log.ok()) return -1;
  int64_t n = *floor;
  for (const auto& [seq, result] : *log) n += seq > *floor ? 1 : 0;
  return n;
}

absl::StatusOr<int64_t> ReadTenantSeq(const std::string& conninfo, const std::string& tenant_id) {
  try {
    pqxx::connection conn(conninfo);
    pqxx::read_transaction tx(conn);
    pqxx::result rows =
        tx.exec_params("SELECT latest_seq FROM tenant_seq WHERE tenant_id = $1", tenant_id);
    return rows.empty() ? 0 : rows[0][0].as<int64_t>();
  } catch (const std::exception& e) {
    return absl::UnavailableError(std::string("reading tenant_seq: ") + e.what());
  }
}

std::vector<std::string> ExplainSeqGrowth(const std::string& conninfo, const std::string& tenant_id,
                                          int64_t seq_before) {
  std::vector<std::string> lines;
  try {
    pqxx::connection conn(conninfo);
    pqxx::read_transaction tx(conn);
    std::map<int64_t, std::string> claimed;  // change_seq -> "device#client_seq"
    for (const auto& row : tx.exec_params(
             "SELECT device_id, client_seq, result FROM applied_mutations WHERE tenant_id = $1",
             tenant_id)) {
      const pqxx::binarystring bytes(row[2]);
      v1::MutationResult r;
      r.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
      claimed[r.change_seq()] = row[0].as<std::string>() + "#" + row[1].as<std::string>();
    }
    std::map<int64_t, std::string> records;  // version -> record
    for (const auto& row :
         tx.exec_params("SELECT entity_type, record_id, version, created_version FROM records "
                        "WHERE tenant_id = $1 AND version > $2",
                        tenant_id, seq_before)) {
      records[row[2].as<int64_t>()] =
          v1::EntityType_Name(static_cast<v1::EntityType>(row[0].as<int>())) + "/" +
          row[1].as<std::string>() + " (created at " + row[3].as<std::string>() + ")";
    }
    const int64_t latest =
        tx.exec_params1("SELECT latest_seq FROM tenant_seq WHERE tenant_id = $1", tenant_id)[0]
            .as<int64_t>();
    for (int64_t seq = seq_before + 1; seq <= latest && lines.size() < 40; ++seq) {
      if (claimed.count(seq)) continue;
      auto it = records.find(seq);
      lines.push_back("change seq " + std::to_string(seq) + " is no stored mutation's result; " +
                      (it == records.end() ? std::string("no record is at this version now")
                                           : "record " + it->second + " is at this version"));
    }
  } catch (const std::exception& e) {
    lines.push_back(std::string("cannot explain: ") + e.what());
  }
  return lines;
}

std::vector<std::string> CheckExactlyOnce(const std::string& device,
                                          const std::map<int64_t, v1::MutationResult>& log,
                                          int64_t committed, int64_t floor) {
  std::vector<std::string> problems;
  int64_t missing = 0;
  if (floor > committed) {
    problems.push_back(device + ": applied floor " + std::to_string(floor) +
                       " is above the mutations the device committed (" +
                       std::to_string(committed) + ")");
  }
  for (int64_t seq = 1; seq <= committed; ++seq) {
    if (seq <= floor) {
      if (log.count(seq) != 0) {
        problems.push_back(device + ": mutation " + std::to_string(seq) +
                           " is at or below the applied floor but its result was kept");
      }
      continue;
    }
    if (log.count(seq) == 0 && ++missing <= 5) {
      problems.push_back(device + ": committed mutation " + std::to_string(seq) +
                         " never reached the server (lost)");
    }
  }
  if (missing > 5) problems.push_back(device + ": ... " + std::to_string(missing) + " lost in all");
  std::set<int64_t> change_seqs;
  for (const auto& [seq, result] : log) {
    if (seq < 1 || seq > committed) {
      problems.push_back(device + ": server applied client_seq " + std::to_string(seq) +
                         " but the device committed only " + std::to_string(committed));
    }
    if (result.outcome() != v1::MUTATION_OUTCOME_APPLIED) {
      problems.push_back(device + ": mutation " + std::to_string(seq) + " was " +
                         v1::MutationOutcome_Name(result.outcome()) + ": " + result.message());
    }
    if (result.change_seq() != 0 && !change_seqs.insert(result.change_seq()).second) {
      problems.push_back(device + ": change_seq " + std::to_string(result.change_seq()) +
                         " given to two mutations");
    }
  }
  return problems;
}

}  // namespace crmsync::testing
