// Helper process for the crash tests: creates leads in a loop and prints
// each committed lead's id on stdout (flushed) after its commit returned.
// The test kills it with SIGKILL at an arbitrary point.
//
//   crash_writer DB_PATH KEY COUNT ID_PREFIX [SERVER_ADDRESS]
//
// With SERVER_ADDRESS the background sync engine runs too (as user alice of
// the demo tenant), so the kill also lands in the middle of syncs.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "crmsync/client/database.h"
#include "crmsync/client/repository.h"
#include "crmsync/client/sync_engine.h"
#include "crmsync/client/transport.h"

namespace crmsync::client {
namespace {

int Main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: crash_writer DB KEY COUNT ID_PREFIX\n");
    return 2;
  }
  DatabaseOptions o;
  o.path = argv[1];
  o.key = argv[2];
  o.device_id = "crash-device";
  o.user_id = "u-alice";
  auto db = Database::Open(o);
  if (!db.ok()) {
    std::fprintf(stderr, "open: %s\n", std::string(db.status().message()).c_str());
    return 1;
  }
  std::unique_ptr<SyncEngine> engine;
  if (argc > 5) {
    GrpcTransportOptions t;
    t.address = argv[5];
    t.credentials = MakeDevCredentials("demo", "alice", (*db)->device_id());
    engine = std::make_unique<SyncEngine>(db->get(), MakeGrpcTransport(t), SyncOptions());
    engine->Start();
  }
  Repository<crmsync::v1::Lead> leads(db->get());
  const int count = std::atoi(argv[3]);
  for (int i = 0; i < count; ++i) {
    crmsync::v1::Lead l;
    l.set_id(std::string(argv[4]) + "-" + std::to_string(i));
    l.set_last_name("Writer");
    l.set_owner_user_id("u-alice");
    auto created = leads.Create(l);
    if (!created.ok()) {
      std::fprintf(stderr, "create: %s\n", std::string(created.status().message()).c_str());
      return 1;
    }
    // Every third lead is also edited, so updates are in flight too.
    if (i % 3 == 0) {
      l.set_notes("edited " + std::to_string(i));
      if (!leads.Update(l).ok()) return 1;
    }
    std::printf("%s\n", l.id().c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace crmsync::client

int main(int argc, char** argv) { return crmsync::client::Main(argc, argv); }
