#include "handler_fixture.h"

#include <stdlib.h>

#include "crmsync/sync/change.h"
#include "crmsync/sync/record_model.h"
#include "logic/scope.h"
#include "pg_cluster.h"
#include "version.h"

namespace crmsync::server::testing {

v1::Mutation Device::Base(const v1::RecordRef& ref, int64_t now_ms) {
  v1::Mutation m;
  m.set_client_seq(++seq_);
  *m.mutable_record() = ref;
  m.mutable_hlc()->set_wall_time_ms(now_ms);
  m.mutable_hlc()->set_node_id(id_);
  m.mutable_provenance()->set_channel(v1::CHANNEL_FIELD_APP);
  m.mutable_provenance()->set_precision(v1::PRECISION_REPORTED);
  m.mutable_provenance()->set_author_user_id(user_);
  m.mutable_provenance()->set_device_id(id_);
  return m;
}

v1::Mutation Device::Create(const v1::Record& record, int64_t now_ms) {
  v1::RecordRef ref;
  ref.set_entity_type(sync::EntityTypeOf(record));
  const auto* entity = sync::EntityOf(record);
  ref.set_id(
      entity->GetReflection()->GetString(*entity, entity->GetDescriptor()->FindFieldByName("id")));
  v1::Mutation m = Base(ref, now_ms);
  m.set_operation(v1::OPERATION_UPSERT);
  *m.mutable_values() = record;
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  entity->GetReflection()->ListFields(*entity, &fields);
  for (const auto* f : fields) {
    if (sync::IsKeyedMapField(f)) {  // custom fields: one path per entry
      for (const std::string& p : sync::KeyedMapPaths(*entity, *entity, f)) {
        m.mutable_update_mask()->add_paths(p);
      }
      continue;
    }
    m.mutable_update_mask()->add_paths(f->name());
  }
  return m;
}

v1::Mutation Device::Update(const v1::RecordState& base, const v1::Record& values,
                            const std::vector<std::string>& paths, int64_t now_ms) {
  v1::Mutation m = Base(base.ref(), now_ms);
  m.set_operation(v1::OPERATION_UPSERT);
  *m.mutable_values() = values;
  for (const auto& p : paths) m.mutable_update_mask()->add_paths(p);
  m.set_base_version(base.version());
  *m.mutable_base_values() = base.data();
  return m;
}

v1::Mutation Device::Delete(const v1::RecordState& base, int64_t now_ms) {
  v1::Mutation m = Base(base.ref(), now_ms);
  m.set_operation(v1::OPERATION_DELETE);
  m.set_base_version(base.version());
  return m;
}

namespace {
// One throwaway PostgreSQL cluster for the whole binary, started on first use.
::testing::Environment* const kPgEnvironment =
    ::testing::AddGlobalTestEnvironment(crmsync::testing::PgClusterEnvironment::Instance());
}  // namespace

void HandlerTest::SetUp() {
  char tmpl[] = "/tmp/crmsync-handler-XXXXXX";
  dir_ = mkdtemp(tmpl);
  std::string spec = "sqlite:" + dir_ + "/crm.db";
  if (GetParam() == "postgres") {
    auto cluster = crmsync::testing::PgClusterEnvironment::Instance()->Cluster();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    auto schema = (*cluster)->NewSchema("handler");
    ASSERT_TRUE(schema.ok()) << schema.status();
    spec = "postgres:" + *schema;
  }
  auto store = OpenStore(spec);
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = std::move(*store);
  ASSERT_TRUE(store_->Migrate().ok());
  ASSERT_TRUE(store_->directory().PutTenant({kTenant, "acme", "Acme"}).ok());
  auto user = [&](const std::string& id, v1::Role role, const std::string& team,
                  const std::string& store_id) {
    UserRow row;
    row.tenant_id = kTenant;
    row.user.set_id(id);
    row.user.set_username(id);
    row.user.set_role(role);
    row.user.set_team_id(team);
    row.user.set_store_id(store_id);
    ASSERT_TRUE(store_->directory().PutUser(row).ok());
  };
  user("alice", v1::ROLE_SALES_REP, "north", "");
  user("bob", v1::ROLE_SALES_REP, "north", "");
  user("carol", v1::ROLE_SALES_REP, "south", "");
  user("maria", v1::ROLE_SALES_MANAGER, "north", "");
  user("admin", v1::ROLE_ADMIN, "", "");
  user("till", v1::ROLE_STORE_TERMINAL, "", "store-1");
  for (auto [dev, owner] :
       std::vector<std::pair<std::string, std::string>>{{"dev-alice", "alice"},
                                                        {"dev-alice-2", "alice"},
                                                        {"dev-bob", "bob"},
                                                        {"dev-carol", "carol"},
                                                        {"dev-maria", "maria"},
                                                        {"dev-admin", "admin"},
                                                        {"dev-till", "till"}}) {
    DeviceRow row;
    row.tenant_id = kTenant;
    row.device.set_id(dev);
    row.device.set_user_id(owner);
    row.device.set_status(v1::DEVICE_STATUS_ACTIVE);
    ASSERT_TRUE(store_->directory().PutDevice(row).ok());
  }
  push_ = std::make_unique<PushHandler>(&store_->changes(), &store_->directory(), &store_->audit(),
                                        &policies_, &clock_, push_options_,
                                        [this](const std::string&, int64_t) { ++commits_seen_; });
  pull_ = std::make_unique<PullHandler>(&store_->changes(), &store_->directory(), &clock_,
                                        PullOptions{});
}

void HandlerTest::TearDown() {
  push_.reset();
  pull_.reset();
  store_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

Principal HandlerTest::Rep(const std::string& user, const std::string& device) const {
  Principal p;
  p.tenant_id = kTenant;
  p.user_id = user;
  p.role = v1::ROLE_SALES_REP;
  p.team_id = user == "carol" ? "south" : "north";
  p.device_id = device;
  return p;
}

Principal HandlerTest::Manager() const {
  Principal p{kTenant, "maria", v1::ROLE_SALES_MANAGER, "north", "", "dev-maria"};
  return p;
}

Principal HandlerTest::Admin() const {
  Principal p{kTenant, "admin", v1::ROLE_ADMIN, "", "", "dev-admin"};
  return p;
}

Principal HandlerTest::Terminal() const {
  Principal p{kTenant, "till", v1::ROLE_STORE_TERMINAL, "", "store-1", "dev-till"};
  return p;
}

absl::Status HandlerTest::Push(const Principal& who, std::vector<v1::Mutation> mutations,
                               v1::PushResponse* response) {
  v1::PushRequest request;
  request.mutable_client()->set_protocol_version(kMaxProtocolVersion);
  for (auto& m : mutations) *request.add_mutations() = std::move(m);
  return push_->Push(who, request, response);
}

v1::PushResponse HandlerTest::PushOk(const Principal& who, std::vector<v1::Mutation> mutations) {
  v1::PushResponse response;
  auto status = Push(who, std::move(mutations), &response);
  EXPECT_TRUE(status.ok()) << status;
  return response;
}

std::vector<v1::Change> HandlerTest::PullAll(const Principal& who, std::string* cursor,
                                             int page_size) {
  std::vector<v1::Change> all;
  for (int page = 0; page < 10000; ++page) {
    v1::PullRequest request;
    request.mutable_client()->set_protocol_version(kMaxProtocolVersion);
    request.set_cursor(*cursor);
    request.set_page_size(page_size);
    v1::PullResponse response;
    auto status = pull_->Pull(who, request, &response);
    EXPECT_TRUE(status.ok()) << status;
    if (!status.ok()) break;
    for (const auto& c : response.changes()) all.push_back(c);
    *cursor = response.next_cursor();
    if (!response.has_more()) break;
  }
  return all;
}

PruneReport HandlerTest::PruneWithAlice2Silent() {
  const int64_t retention = 24 * 3600 * 1000;
  clock_.Advance(retention * 2);
  const int64_t latest = *store_->changes().LatestSeq(kTenant);
  for (const char* dev :
       {"dev-alice", "dev-bob", "dev-carol", "dev-maria", "dev-admin", "dev-till"}) {
    EXPECT_TRUE(store_->directory().TouchDevice(kTenant, dev, clock_.NowMs(), latest).ok());
  }
  auto report =
      PruneTenant(&store_->changes(), &store_->directory(), kTenant, clock_.NowMs(), retention);
  EXPECT_TRUE(report.ok()) << report.status();
  if (!report.ok()) return PruneReport{};
  EXPECT_EQ(report->horizon, latest);
  return *report;
}

std::vector<v1::Change> HandlerTest::CatchUp(const Principal& who, std::string* cursor,
                                             int page_size, Replica* replica) {
  std::vector<v1::Change> changes = PullAll(who, cursor, page_size);
  for (const v1::Change& c : changes) {
    v1::RecordState& copy = (*replica)[c.record().id()];
    auto action = sync::ApplyChange(&copy, c);
    EXPECT_TRUE(action.ok()) << action.status().message();
    if (action.ok() && *action == sync::ReplicaAction::kRemove) replica->erase(c.record().id());
  }
  return changes;
}

std::set<std::string> HandlerTest::LiveIds(const Replica& replica) {
  std::set<std::string> ids;
  for (const auto& [id, state] : replica) {
    if (!state.deleted()) ids.insert(id);
  }
  return ids;
}

std::set<std::string> HandlerTest::ReadableIds(const Principal& who) {
  std::set<std::string> ids;
  int64_t position = 0;
  while (true) {
    auto rows = store_->changes().ReadSince(kTenant, position, 100);
    EXPECT_TRUE(rows.ok()) << rows.status();
    if (!rows.ok()) break;
    for (const RecordRow& row : *rows) {
      position = row.state.version();
      if (!row.state.deleted() && CanRead(who, row.state.ref().entity_type(), row.state.scope())) {
        ids.insert(row.state.ref().id());
      }
    }
    if (rows->size() < 100) break;
  }
  return ids;
}

v1::Record HandlerTest::LeadRecord(const std::string& id, const std::string& owner,
                                   const std::string& first_name, const std::string& phone,
                                   v1::Visibility visibility) {
  v1::Record r;
  v1::Lead* lead = r.mutable_lead();
  lead->set_id(id);
  lead->set_first_name(first_name);
  lead->set_phone(phone);
  lead->set_owner_user_id(owner);
  lead->set_team_id(owner == "carol" ? "south" : "north");
  lead->set_visibility(visibility);
  return r;
}

}  // namespace crmsync::server::testing
