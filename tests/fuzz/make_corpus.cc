// Writes the seed corpora under tests/fuzz/corpus/ (committed):
//   make_corpus <corpus-dir>
// merge/: realistic stored records and pushes taken from the harness plus a
// few hand-made cases (create, delete, resolve); convergence/: seeds;
// push_batch/, pull_apply/, token/: see api_seeds.cc.
#include <cstdio>
#include <fstream>
#include <string>

#include "api_seeds.h"
#include "fuzz_input.h"
#include "sync_harness.h"

namespace v1 = ::crmsync::v1;
namespace h = ::crmsync::sync::harness;

static void Write(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    h::HarnessOptions o;
    o.devices = 2;
    const h::Scenario s = h::MakeScenario(seed, o);
    v1::PushRequest push;
    for (const auto& device : s.devices) {
      for (const v1::Mutation& m : device) *push.add_mutations() = m;
    }
    Write(dir + "/merge/harness-" + std::to_string(seed) + ".bin",
          crmsync::fuzz::EncodeMergeInput(seed % 3 == 0 ? crmsync::fuzz::kFlagAltPolicies : 0,
                                          &s.initial, push));
  }
  {  // A create, an update, a delete and an edit of the deleted record.
    const h::Scenario s = h::MakeScenario(99, h::HarnessOptions{});
    v1::PushRequest push;
    v1::Mutation create = s.devices[0][0];
    create.set_base_version(0);
    create.clear_update_mask();
    *push.add_mutations() = create;
    *push.add_mutations() = s.devices[1][0];
    v1::Mutation del = s.devices[2][0];
    del.set_operation(v1::OPERATION_DELETE);
    del.clear_update_mask();
    *push.add_mutations() = del;
    *push.add_mutations() = s.devices[2][1];
    Write(dir + "/merge/create-delete.bin", crmsync::fuzz::EncodeMergeInput(0, nullptr, push));
    Write(dir + "/merge/create-delete-keep-update.bin",
          crmsync::fuzz::EncodeMergeInput(crmsync::fuzz::kFlagKeepUpdate, nullptr, push));
  }
  {  // Resolve and dismiss conflicts on an opportunity.
    v1::RecordState opp;
    opp.mutable_ref()->set_entity_type(v1::ENTITY_TYPE_OPPORTUNITY);
    opp.mutable_ref()->set_id("O1");
    opp.mutable_data()->mutable_opportunity()->set_id("O1");
    opp.mutable_data()->mutable_opportunity()->set_stage(v1::OPPORTUNITY_STAGE_PROPOSAL);
    opp.mutable_data()->mutable_opportunity()->mutable_amount()->set_amount_minor(5);
    opp.set_version(3);
    opp.set_created_version(1);
    (*opp.mutable_fields())["stage"].set_version(3);
    v1::PushRequest push;
    v1::Mutation m;
    m.set_client_seq(1);
    *m.mutable_record() = opp.ref();
    m.set_operation(v1::OPERATION_UPSERT);
    m.mutable_update_mask()->add_paths("stage");
    m.mutable_update_mask()->add_paths("amount.amount_minor");
    m.mutable_values()->mutable_opportunity()->set_stage(v1::OPPORTUNITY_STAGE_CLOSED_WON);
    m.mutable_values()->mutable_opportunity()->mutable_amount()->set_amount_minor(7);
    m.mutable_base_values()->mutable_opportunity()->set_stage(v1::OPPORTUNITY_STAGE_QUALIFICATION);
    m.set_base_version(2);
    m.mutable_hlc()->set_wall_time_ms(1'700'000'000'000);
    m.mutable_hlc()->set_node_id("dev-x");
    m.mutable_provenance()->set_device_id("dev-x");
    *push.add_mutations() = m;
    v1::Mutation resolve = m;
    resolve.set_client_seq(2);
    resolve.set_operation(v1::OPERATION_RESOLVE_CONFLICT);
    resolve.set_conflict_id("cf-1");
    resolve.mutable_update_mask()->mutable_paths()->RemoveLast();
    *push.add_mutations() = resolve;
    v1::Mutation dismiss = resolve;
    dismiss.set_client_seq(3);
    dismiss.clear_update_mask();
    *push.add_mutations() = dismiss;
    Write(dir + "/merge/opportunity-resolve.bin",
          crmsync::fuzz::EncodeMergeInput(crmsync::fuzz::kFlagOpenConflict, &opp, push));
  }
  for (int i = 0; i < 4; ++i) {
    std::string bytes(11, '\0');
    bytes[0] = static_cast<char>(17 * i + 1);
    bytes[8] = static_cast<char>(i + 1);
    bytes[9] = static_cast<char>(3 + i);
    bytes[10] = static_cast<char>(i & 1);
    Write(dir + "/convergence/seed-" + std::to_string(i) + ".bin", bytes);
  }
  crmsync::fuzz::WriteApiSeeds(dir);
  return 0;
}
