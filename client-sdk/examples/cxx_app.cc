// The crmsync C++ API (static library, crmsync::client_static or pkg-config
// crmsync-client-cxx): open the local store, sign in, sync once, and list
// the leads the user holds, with generated protobuf types.
//
//   cxx_app --server HOST:PORT --store PATH --tenant T --user U --password P
//
// Exit status: 0 on success, 1 when a call failed.
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include "crmsync/client/database.h"
#include "crmsync/client/sync_engine.h"
#include "crmsync/client/transport.h"

namespace client = crmsync::client;
namespace v1 = crmsync::v1;

int main(int argc, char** argv) {
  std::string server, store, tenant, user, password;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << "usage: cxx_app --server HOST:PORT --store PATH --tenant T --user U "
                   "--password P\n";
      return 0;
    }
    if (i + 1 >= argc) {
      std::cerr << "cxx_app: " << arg << " needs a value (--help)\n";
      return 2;
    }
    const std::string value = argv[++i];
    if (arg == "--server") {
      server = value;
    } else if (arg == "--store") {
      store = value;
    } else if (arg == "--tenant") {
      tenant = value;
    } else if (arg == "--user") {
      user = value;
    } else if (arg == "--password") {
      password = value;
    } else {
      std::cerr << "cxx_app: unknown option " << arg << " (--help)\n";
      return 2;
    }
  }
  if (server.empty() || store.empty() || tenant.empty() || user.empty() || password.empty()) {
    std::cerr << "cxx_app: every option is required (--help)\n";
    return 2;
  }

  client::DatabaseOptions d;
  d.path = store;
  d.user_id = "u-" + user;
  auto db = client::Database::Open(d);
  if (!db.ok()) {
    std::cerr << "cxx_app: open: " << db.status() << "\n";
    return 1;
  }
  client::TokenCredentialsOptions c;
  c.address = server;
  c.tenant = tenant;
  c.username = user;
  c.password = password;
  c.device_id = (*db)->device_id();
  c.platform = "cxx-example";
  client::GrpcTransportOptions t;
  t.address = server;
  t.credentials = client::MakeTokenCredentials(c);
  client::SyncOptions so;
  so.app_version = "1.0";
  client::SyncEngine engine(db->get(), client::MakeGrpcTransport(t), so);
  if (absl::Status s = engine.SyncOnce(); !s.ok()) {
    std::cerr << "cxx_app: sync: " << s << "\n";
    return 1;
  }
  auto leads = (*db)->ListByOwner(v1::ENTITY_TYPE_LEAD, "u-" + user);
  if (!leads.ok()) {
    std::cerr << "cxx_app: list: " << leads.status() << "\n";
    return 1;
  }
  for (const v1::RecordState& lead : *leads) {
    std::cout << "lead " << lead.ref().id() << " " << lead.data().lead().last_name() << "\n";
  }
  std::cout << leads->size() << " leads of u-" << user << "\n";
  return 0;
}
