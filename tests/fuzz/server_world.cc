#include "server_world.h"

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "demo_tenant.h"
#include "fuzz_tempdir.h"
#include "store/sqlite_store.h"
#include "version.h"

namespace crmsync::fuzz {

namespace {

using server::Principal;

void Must(const absl::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "fuzz server world: %s: %s\n", what, s.ToString().c_str());
  std::abort();
}

v1::Mutation Edit(const v1::RecordState& base, int64_t seq, const std::string& device,
                  const std::string& user, int64_t now_ms) {
  v1::Mutation m;
  m.set_client_seq(seq);
  *m.mutable_record() = base.ref();
  m.set_operation(v1::OPERATION_UPSERT);
  m.set_base_version(base.version());
  m.mutable_hlc()->set_wall_time_ms(now_ms);
  m.mutable_hlc()->set_node_id(device);
  m.mutable_provenance()->set_channel(v1::CHANNEL_FIELD_APP);
  m.mutable_provenance()->set_precision(v1::PRECISION_REPORTED);
  m.mutable_provenance()->set_author_user_id(user);
  m.mutable_provenance()->set_device_id(device);
  return m;
}

}  // namespace

ServerWorld::ServerWorld(SeedHook hook) {
  dir_ = MakeFuzzTempDir("crmsync-fuzz");
  db_path_ = dir_ + "/crm.db";
  Open();
  Must(store_->Migrate(), "migrate");
  Seed(hook);
  // Closing the last connection checkpoints the WAL into the main file.
  store_.reset();
  std::ifstream in(db_path_, std::ios::binary);
  seeded_bytes_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (seeded_bytes_.empty() || std::filesystem::exists(db_path_ + "-wal")) {
    std::fprintf(stderr, "fuzz server world: seeded database not self-contained\n");
    std::abort();
  }
  Open();
}

ServerWorld::~ServerWorld() {
  store_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void ServerWorld::Open() {
  auto store = server::SqliteStore::Open(db_path_);
  Must(store.status(), "open store");
  store_ = std::move(*store);
}

void ServerWorld::Reset() {
  store_.reset();
  std::error_code ec;
  std::filesystem::remove(db_path_ + "-wal", ec);
  std::filesystem::remove(db_path_ + "-shm", ec);
  {
    std::ofstream out(db_path_, std::ios::binary | std::ios::trunc);
    out.write(seeded_bytes_.data(), static_cast<std::streamsize>(seeded_bytes_.size()));
  }
  Open();
  clock_.Set(kStartMs);
}

void ServerWorld::Seed(const SeedHook& hook) {
  server::Store* s = store_.get();
  server::PushHandler push(&s->changes(), &s->directory(), &s->audit(), &policies_, &clock_,
                           server::PushOptions{});
  Must(server::EnsureDemoTenant(s, &push, &clock_), "demo tenant");

  v1::Team south;
  south.set_id("team-south");
  south.set_name("South");
  Must(s->directory().PutTeam(kTenant, south), "team");
  server::UserRow carol;
  carol.tenant_id = kTenant;
  carol.user.set_id("u-carol");
  carol.user.set_username("carol");
  carol.user.set_role(v1::ROLE_SALES_REP);
  carol.user.set_team_id("team-south");
  Must(s->directory().PutUser(carol), "user");

  principals_ = {
      Principal{kTenant, "u-admin", v1::ROLE_ADMIN, "", "", "dev-admin"},
      Principal{kTenant, "u-maria", v1::ROLE_SALES_MANAGER, "team-north", "", "dev-maria"},
      Principal{kTenant, "u-alice", v1::ROLE_SALES_REP, "team-north", "", "dev-alice"},
      Principal{kTenant, "u-alice", v1::ROLE_SALES_REP, "team-north", "", "dev-alice-2"},
      Principal{kTenant, "u-bob", v1::ROLE_SALES_REP, "team-north", "", "dev-bob"},
      Principal{kTenant, "u-carol", v1::ROLE_SALES_REP, "team-south", "", "dev-carol"},
      Principal{kTenant, "u-till-paris", v1::ROLE_STORE_TERMINAL, "", "store-paris", "dev-till"},
  };
  for (const Principal& p : principals_) {
    server::DeviceRow d;
    d.tenant_id = kTenant;
    d.device.set_id(p.device_id);
    d.device.set_user_id(p.user_id);
    d.device.set_status(v1::DEVICE_STATUS_ACTIVE);
    Must(s->directory().PutDevice(d), "device");
  }

  // Two offline edits of the same opportunity amount (a manual conflict),
  // and a south-team lead.
  auto opp = s->changes().GetRecord(kTenant, [] {
    v1::RecordRef r;
    r.set_entity_type(v1::ENTITY_TYPE_OPPORTUNITY);
    r.set_id("opp-alice-1");
    return r;
  }());
  if (!opp.ok() || !opp->has_value()) Must(absl::InternalError("no opp-alice-1"), "seed");
  const v1::RecordState base = **opp;
  for (int i = 0; i < 2; ++i) {
    const Principal& who = principals_[i == 0 ? 1 : 2];
    v1::Mutation m = Edit(base, 1, who.device_id, who.user_id, kStartMs + i);
    *m.mutable_base_values() = base.data();
    *m.mutable_values() = base.data();
    m.mutable_values()->mutable_opportunity()->mutable_amount()->set_amount_minor(2000000 + i);
    m.mutable_update_mask()->add_paths("amount.amount_minor");
    v1::PushRequest req;
    req.mutable_client()->set_protocol_version(kMaxProtocolVersion);
    *req.add_mutations() = m;
    v1::PushResponse resp;
    Must(push.Push(who, req, &resp), "conflicting edit");
  }
  {
    v1::Mutation m;
    m.set_client_seq(1);
    m.mutable_record()->set_entity_type(v1::ENTITY_TYPE_LEAD);
    m.mutable_record()->set_id("lead-carol-1");
    m.set_operation(v1::OPERATION_UPSERT);
    v1::Lead* lead = m.mutable_values()->mutable_lead();
    lead->set_id("lead-carol-1");
    lead->set_first_name("Inès");
    lead->set_owner_user_id("u-carol");
    lead->set_team_id("team-south");
    lead->set_visibility(v1::VISIBILITY_TEAM);
    for (const char* f : {"id", "first_name", "owner_user_id", "team_id", "visibility"}) {
      m.mutable_update_mask()->add_paths(f);
    }
    m.mutable_hlc()->set_wall_time_ms(kStartMs);
    m.mutable_hlc()->set_node_id("dev-carol");
    v1::PushRequest req;
    req.mutable_client()->set_protocol_version(kMaxProtocolVersion);
    *req.add_mutations() = m;
    v1::PushResponse resp;
    Must(push.Push(principals_[5], req, &resp), "south lead");

    // The other tenant: same record id, its own user and device.
    Must(s->directory().PutTenant({kOtherTenant, "other", "Other company"}), "other tenant");
    server::UserRow olga;
    olga.tenant_id = kOtherTenant;
    olga.user.set_id("u-olga");
    olga.user.set_username("olga");
    olga.user.set_role(v1::ROLE_ADMIN);
    Must(s->directory().PutUser(olga), "other user");
    server::DeviceRow dev;
    dev.tenant_id = kOtherTenant;
    dev.device.set_id("dev-olga");
    dev.device.set_user_id("u-olga");
    dev.device.set_status(v1::DEVICE_STATUS_ACTIVE);
    Must(s->directory().PutDevice(dev), "other device");
    lead->set_owner_user_id("u-olga");
    lead->set_team_id("");
    Principal olga_p{kOtherTenant, "u-olga", v1::ROLE_ADMIN, "", "", "dev-olga"};
    Must(push.Push(olga_p, req, &resp), "other tenant lead");
  }
  if (hook) hook(this);

  auto other = s->changes().LatestSeq(kOtherTenant);
  Must(other.status(), "other seq");
  other_seq_ = *other;
  auto demo = s->changes().LatestSeq(kTenant);
  Must(demo.status(), "demo seq");
  seeded_seq_ = *demo;

  std::set<std::string> ids = {"u-admin",    "u-maria",      "u-alice",    "u-bob",
                               "u-carol",    "u-till-paris", "u-olga",     "team-north",
                               "team-south", "store-paris",  "store-lyon", "lead-new-1",
                               "lead-new-2", "nobody"};
  for (const Principal& p : principals_) ids.insert(p.device_id);
  auto rows = s->changes().ReadSince(kTenant, 0, 100000);
  Must(rows.status(), "read seeded feed");
  const bool verbose = std::getenv("CRMSYNC_FUZZ_VERBOSE") != nullptr;
  for (const server::RecordRow& row : *rows) {
    records_.push_back(row.state.ref());
    ids.insert(row.state.ref().id());
    if (verbose) {
      std::fprintf(stderr, "seeded %s %s v%lld\n",
                   v1::EntityType_Name(row.state.ref().entity_type()).c_str(),
                   row.state.ref().id().c_str(), static_cast<long long>(row.state.version()));
    }
  }
  ids_.assign(ids.begin(), ids.end());
}

}  // namespace crmsync::fuzz
