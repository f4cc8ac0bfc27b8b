// Merge throughput: a typical Lead update changing three fields, single
// core. Also the conflicting variant (lww decided, audit record) and the
// change-feed round trip.
#include <benchmark/benchmark.h>

#include "crmsync/sync/change.h"
#include "crmsync/sync/merge.h"

namespace {

namespace v1 = ::crmsync::v1;
using ::crmsync::sync::BuildChange;
using ::crmsync::sync::Merge;
using ::crmsync::sync::MergeContext;
using ::crmsync::sync::MergeResult;

constexpr int64_t kNow = 1'700'000'000'000;

v1::RecordState StoredLead() {
  v1::Mutation create;
  create.set_client_seq(1);
  create.mutable_record()->set_entity_type(v1::ENTITY_TYPE_LEAD);
  create.mutable_record()->set_id("01HZX3Q7J8K9M2N4P5R6S7T8V9");
  create.set_operation(v1::OPERATION_UPSERT);
  v1::Lead* l = create.mutable_values()->mutable_lead();
  l->set_first_name("Ada");
  l->set_last_name("Lovelace");
  l->set_company("Analytical Engines Ltd");
  l->set_email("ada@example.com");
  l->set_phone("+44 20 7946 0000");
  l->set_status(v1::LEAD_STATUS_NEW);
  l->set_source(v1::CHANNEL_WEB);
  l->set_rating(3);
  l->set_owner_user_id("user-rep-a");
  l->set_team_id("team-north");
  l->set_visibility(v1::VISIBILITY_TEAM);
  l->set_territory("UK-North");
  l->add_tags("expo-2024");
  l->add_tags("vip");
  l->set_notes("Met at the expo; wants a demo in spring.");
  l->mutable_estimated_value()->set_currency_code("GBP");
  l->mutable_estimated_value()->set_amount_minor(1'500'000);
  l->mutable_address()->set_city("Manchester");
  l->mutable_address()->set_country_code("GB");
  create.mutable_hlc()->set_wall_time_ms(kNow - 86'400'000);
  create.mutable_hlc()->set_node_id("dev-import");
  create.mutable_provenance()->set_device_id("dev-import");
  MergeContext ctx;
  ctx.new_version = 41;
  ctx.physical_ms = kNow;
  return Merge(nullptr, create, ctx).new_state;
}

v1::Mutation ThreeFieldUpdate(const v1::RecordState& stored, int64_t base_version) {
  v1::Mutation m;
  m.set_client_seq(7);
  *m.mutable_record() = stored.ref();
  m.set_operation(v1::OPERATION_UPSERT);
  for (const char* p : {"phone", "status", "notes"}) m.mutable_update_mask()->add_paths(p);
  v1::Lead* v = m.mutable_values()->mutable_lead();
  v->set_phone("+44 20 7946 0999");
  v->set_status(v1::LEAD_STATUS_CONTACTED);
  v->set_notes("Called back; demo booked for 12 March.");
  v1::Lead* b = m.mutable_base_values()->mutable_lead();
  b->set_phone(stored.data().lead().phone());
  b->set_status(stored.data().lead().status());
  b->set_notes(stored.data().lead().notes());
  m.set_base_version(base_version);
  m.mutable_hlc()->set_wall_time_ms(kNow - 1000);
  m.mutable_hlc()->set_node_id("dev-rep-a");
  m.mutable_provenance()->set_device_id("dev-rep-a");
  m.mutable_provenance()->set_author_user_id("user-rep-a");
  m.mutable_provenance()->set_channel(v1::CHANNEL_FIELD_APP);
  m.mutable_provenance()->set_precision(v1::PRECISION_REPORTED);
  return m;
}

// The common case: nobody else touched the record since the device's base.
void BM_MergeLeadThreeFields(benchmark::State& state) {
  const v1::RecordState stored = StoredLead();
  const v1::Mutation m = ThreeFieldUpdate(stored, stored.version());
  MergeContext ctx;
  ctx.new_version = stored.version() + 1;
  ctx.physical_ms = kNow;
  for (auto _ : state) {
    MergeResult r = Merge(&stored, m, ctx);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MergeLeadThreeFields);

// Every field changed after the base: three lww/provenance decisions with
// audit conflict records.
void BM_MergeLeadThreeFieldsConflicting(benchmark::State& state) {
  v1::RecordState stored = StoredLead();
  const v1::Mutation m = ThreeFieldUpdate(stored, 1);
  MergeContext ctx;
  ctx.new_version = stored.version() + 1;
  ctx.physical_ms = kNow;
  for (auto _ : state) {
    MergeResult r = Merge(&stored, m, ctx);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MergeLeadThreeFieldsConflicting);

void BM_BuildChangeDelta(benchmark::State& state) {
  const v1::RecordState stored = StoredLead();
  MergeContext ctx;
  ctx.new_version = stored.version() + 1;
  ctx.physical_ms = kNow;
  const v1::RecordState after =
      Merge(&stored, ThreeFieldUpdate(stored, stored.version()), ctx).new_state;
  for (auto _ : state) {
    v1::Change c = BuildChange(after, stored.version(), false);
    benchmark::DoNotOptimize(c);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BuildChangeDelta);

}  // namespace

BENCHMARK_MAIN();
