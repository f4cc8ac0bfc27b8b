// OpenStore: the --store value to a Store.
#include "config.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"
#include "store/store.h"

namespace crmsync::server {

absl::StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& spec) {
  StoreSpec parsed;
  std::string error;
  if (!ParseStoreSpec(spec, &parsed, &error)) return absl::InvalidArgumentError(error);
  return OpenStore(parsed);
}

absl::StatusOr<std::unique_ptr<Store>> OpenStore(const StoreSpec& spec) {
  if (spec.kind == StoreSpec::Kind::kSqlite) {
    auto store = SqliteStore::Open(spec.target);
    if (!store.ok()) return store.status();
    return std::unique_ptr<Store>(std::move(*store));
  }
  auto store = PostgresStore::Open(spec.target);
  if (!store.ok()) return store.status();
  return std::unique_ptr<Store>(std::move(*store));
}

}  // namespace crmsync::server
