// What duplicate detection costs an incoming record, on a tenant that
// already holds many contacts (docs/stewardship.md, "Duplicates"; the
// results table in README.md).
//
//   bench_duplicates [--contacts 1000000] [--probes 2000]
//                    [--stores sqlite,postgres] [--check]
//
// The tenant is loaded with `contacts` contacts (200 first names x 500 last
// names, unique e-mails and phones, 20 owners), each with its identity keys
// in the record index, in write transactions of 5,000 (the load is not
// what is measured). Then `probes` new contacts arrive one per Push through
// the server's push path, alternately with the check on and off (A B A B,
// same kinds of records), and after each push without the check the check
// alone is timed on that record (in a transaction then rolled back): a third carry the e-mail of an
// existing contact (another case and a +tag), a third the name and phone (written another way) of
// one, a third are new people. Reported per store: push latency percentiles with and without the
// check, their difference, and the flags written. --check exits 1 unless every planted duplicate
// was flagged and no new person was.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "crmsync/sync/merge.h"
#include "crmsync/sync/policy_table.h"
#include "logic/clock.h"
#include "logic/duplicates.h"
#include "logic/identity_keys.h"
#include "logic/push_handler.h"
#include "pg_cluster.h"
#include "store/store.h"

namespace crmsync::bench {
namespace {

namespace v1 = ::crmsync::v1;
using server::Principal;
using SteadyClock = std::chrono::steady_clock;

constexpr char kTenant[] = "t-dup";
constexpr int64_t kStartMs = 1'800'000'000'000;
constexpr int kOwners = 20;
constexpr int kLoadBatch = 5000;

struct Options {
  int64_t contacts = 1'000'000;
  int probes = 2000;
  std::string stores = "sqlite,postgres";
  bool check = false;
};

const char* const kFirst[] = {"Ana",  "Ben",    "Chloé",   "David", "Emma", "Farid",  "Greta",
                              "Hugo", "Inès",   "Jonas",   "Karin", "Liam", "Maëlle", "Nils",
                              "Olga", "Pablo",  "Quentin", "Rosa",  "Sven", "Tara",   "Ugo",
                              "Vera", "Walter", "Xenia",   "Yann",  "Zoé"};
constexpr int kFirstCount = sizeof(kFirst) / sizeof(kFirst[0]);
constexpr int kFirstNames = 200;  // the 26 above, numbered past them
constexpr int kLastNames = 500;

std::string FirstName(int64_t i) {
  const int64_t n = i % kFirstNames;
  return std::string(kFirst[n % kFirstCount]) + (n < kFirstCount ? "" : std::to_string(n));
}
std::string LastName(int64_t i) { return "Name" + std::to_string((i / kFirstNames) % kLastNames); }
std::string Email(int64_t i) {
  return "person" + std::to_string(i) + "@mail" + std::to_string(i % 97) + ".example";
}
// A valid US number per contact: 212-2xx-xxxx upwards.
std::string Phone(int64_t i) {
  const int64_t n = 2'000'000 + i;
  return "+1 212 " + std::to_string(n / 10000) + " " + std::to_string(10000 + n % 10000).substr(1);
}

v1::Record Contact(int64_t i, const std::string& id, const std::string& owner) {
  v1::Record r;
  v1::Contact* c = r.mutable_contact();
  c->set_id(id);
  c->set_first_name(FirstName(i));
  c->set_last_name(LastName(i));
  c->set_email(Email(i));
  c->set_phone(Phone(i));
  c->set_owner_user_id(owner);
  c->set_team_id("north");
  return r;
}

std::string Owner(int64_t i) { return "rep-" + std::to_string(i % kOwners); }

absl::Status Load(server::Store* store, int64_t contacts) {
  const server::DuplicateOptions options;
  for (int64_t start = 0; start < contacts; start += kLoadBatch) {
    const int64_t end = std::min(contacts, start + kLoadBatch);
    absl::Status s = store->changes().Write(kTenant, [&](server::WriteTx& tx) -> absl::Status {
      for (int64_t i = start; i < end; ++i) {
        auto seq = tx.NextSeq();
        if (!seq.ok()) return seq.status();
        v1::RecordRef ref;
        ref.set_entity_type(v1::ENTITY_TYPE_CONTACT);
        ref.set_id("c-" + std::to_string(i));
        v1::HlcTimestamp hlc;
        hlc.set_wall_time_ms(kStartMs);
        hlc.set_node_id("load");
        const v1::Record data = Contact(i, ref.id(), Owner(i));
        if (auto w = tx.PutRecord(sync::ServerRecordState(nullptr, ref, data, *seq, hlc), nullptr);
            !w.ok()) {
          return w;
        }
        const auto keys =
            server::identity::IndexKeysOf(server::identity::IdentityOf(data, options), options);
        if (auto w = tx.SetIndexKeys(ref, server::IndexKind::kDuplicateKey, keys); !w.ok()) {
          return w;
        }
      }
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    if ((end / kLoadBatch) % 40 == 0 || end == contacts) {
      std::fprintf(stderr, "  loaded %lld contacts\n", static_cast<long long>(end));
    }
  }
  return absl::OkStatus();
}

enum class Kind { kSameEmail, kSameNameAndPhone, kNew };

struct Probe {
  Kind kind;
  v1::Record record;
};

// Probe `n` (ids distinct from the load's and from each other).
Probe MakeProbe(int n, int64_t contacts, std::mt19937_64& rng, const std::string& owner) {
  const std::string id = "probe-" + std::to_string(n);
  const int64_t target = static_cast<int64_t>(rng() % static_cast<uint64_t>(contacts));
  Probe p;
  p.kind = static_cast<Kind>(n % 3);
  switch (p.kind) {
    case Kind::kSameEmail: {
      p.record = Contact(contacts + n, id, owner);  // someone else's name and phone...
      std::string email = Email(target);            // ...with this contact's e-mail
      std::transform(email.begin(), email.end(), email.begin(), ::toupper);
      p.record.mutable_contact()->set_email(email);
      break;
    }
    case Kind::kSameNameAndPhone: {
      p.record = Contact(target, id, owner);
      p.record.mutable_contact()->set_email("other" + std::to_string(n) + "@elsewhere.example");
      // The same number as the rep types it: (212) 2xx-xxxx.
      const std::string e164 = Phone(target);
      p.record.mutable_contact()->set_phone("(212) " + e164.substr(7, 3) + "-" + e164.substr(11));
      break;
    }
    case Kind::kNew: {
      p.record = Contact(contacts + n, id, owner);
      p.record.mutable_contact()->set_first_name("Unique" + std::to_string(n));
      p.record.mutable_contact()->set_last_name("Newcomer" + std::to_string(n));
      break;
    }
  }
  return p;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

struct Result {
  std::vector<double> on_ms, off_ms, check_ms;
  int planted = 0, planted_flagged = 0, new_flagged = 0;
  double load_s = 0;
};

absl::StatusOr<Result> RunOne(const Options& o, const std::string& spec) {
  auto store = server::OpenStore(spec);
  if (!store.ok()) return store.status();
  if (auto s = (*store)->Migrate(); !s.ok()) return s;
  server::Store* st = store->get();
  if (auto s = st->directory().PutTenant({kTenant, "dup", "Duplicates"}); !s.ok()) return s;
  server::DeviceRow row;
  row.tenant_id = kTenant;
  row.device.set_id("dev-probe");
  row.device.set_user_id("rep-probe");
  row.device.set_status(v1::DEVICE_STATUS_ACTIVE);
  if (auto s = st->directory().PutDevice(row); !s.ok()) return s;

  Result r;
  const auto load_start = SteadyClock::now();
  if (auto s = Load(st, o.contacts); !s.ok()) return s;
  r.load_s = std::chrono::duration<double>(SteadyClock::now() - load_start).count();

  const sync::PolicyTable policies = sync::PolicyTable::Defaults();
  server::ManualClock clock(kStartMs + 1000);
  server::PushOptions on_options;
  server::PushOptions off_options;
  off_options.duplicates.enabled = false;
  server::PushHandler on(&st->changes(), &st->directory(), &st->audit(), &policies, &clock,
                         on_options);
  server::PushHandler off(&st->changes(), &st->directory(), &st->audit(), &policies, &clock,
                          off_options);
  const Principal who{kTenant, "rep-probe", v1::ROLE_SALES_REP, "north", "", "dev-probe"};
  std::mt19937_64 rng(2026);
  for (int n = 0; n < 2 * o.probes; ++n) {
    const bool check = n % 2 == 0;
    Probe p = MakeProbe(n, o.contacts, rng, "rep-probe");
    v1::PushRequest req;
    req.mutable_client()->set_protocol_version(1);
    v1::Mutation* m = req.add_mutations();
    m->set_client_seq(n + 1);
    m->mutable_record()->set_entity_type(v1::ENTITY_TYPE_CONTACT);
    m->mutable_record()->set_id(p.record.contact().id());
    m->set_operation(v1::OPERATION_UPSERT);
    *m->mutable_values() = p.record;
    clock.Advance(5);
    m->mutable_hlc()->set_wall_time_ms(clock.NowMs());
    m->mutable_hlc()->set_node_id("dev-probe");
    m->mutable_provenance()->set_device_id("dev-probe");
    m->mutable_provenance()->set_author_user_id("rep-probe");
    v1::PushResponse resp;
    const auto t0 = SteadyClock::now();
    absl::Status s = (check ? on : off).Push(who, req, &resp);
    const double ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
    if (!s.ok()) return s;
    if (resp.results(0).outcome() != v1::MUTATION_OUTCOME_APPLIED) {
      return absl::InternalError("probe not applied: " + resp.results(0).message());
    }
    (check ? r.on_ms : r.off_ms).push_back(ms);
    if (!check) {
      // The check alone, on the record just written without it, in a
      // transaction rolled back afterwards (so the index stays as loaded).
      double check_ms = 0;
      absl::Status w = st->changes().Write(kTenant, [&](server::WriteTx& tx) -> absl::Status {
        auto stored = tx.GetRecord(m->record());
        if (!stored.ok()) return stored.status();
        if (!*stored) return absl::InternalError("probe " + m->record().id() + " vanished");
        server::DuplicateTxn dup(&tx, clock.NowMs(), on_options.duplicates);
        const auto c0 = SteadyClock::now();
        absl::Status checked = server::CheckDuplicates(dup, nullptr, **stored);
        check_ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - c0).count();
        if (!checked.ok()) return checked;
        return absl::CancelledError("measured; rolled back");
      });
      if (!absl::IsCancelled(w)) return w.ok() ? absl::InternalError("not rolled back") : w;
      r.check_ms.push_back(check_ms);
      continue;
    }
    auto flag = st->changes().GetRecord(kTenant, server::PossibleDuplicateRef(m->record()));
    if (!flag.ok()) return flag.status();
    const bool flagged =
        *flag && !(*flag)->deleted() && (*flag)->data().possible_duplicate().candidates_size() > 0;
    if (p.kind == Kind::kNew) {
      r.new_flagged += flagged ? 1 : 0;
    } else {
      ++r.planted;
      r.planted_flagged += flagged ? 1 : 0;
    }
  }
  return r;
}

int Report(const Options& o, const char* store, const Result& r) {
  std::printf("\n%s: %lld contacts loaded in %.1f s; %d probes each way\n", store,
              static_cast<long long>(o.contacts), r.load_s, o.probes);
  std::printf("| push of one contact | p50 ms | p90 ms | p99 ms |\n|---|---|---|---|\n");
  std::printf("| duplicate check on | %.2f | %.2f | %.2f |\n", Percentile(r.on_ms, 0.5),
              Percentile(r.on_ms, 0.9), Percentile(r.on_ms, 0.99));
  std::printf("| duplicate check off | %.2f | %.2f | %.2f |\n", Percentile(r.off_ms, 0.5),
              Percentile(r.off_ms, 0.9), Percentile(r.off_ms, 0.99));
  std::printf("| difference | %.2f | %.2f | %.2f |\n",
              Percentile(r.on_ms, 0.5) - Percentile(r.off_ms, 0.5),
              Percentile(r.on_ms, 0.9) - Percentile(r.off_ms, 0.9),
              Percentile(r.on_ms, 0.99) - Percentile(r.off_ms, 0.99));
  std::printf(
      "| the check alone (CheckDuplicates, in a rolled-back transaction) | %.2f | %.2f | "
      "%.2f |\n",
      Percentile(r.check_ms, 0.5), Percentile(r.check_ms, 0.9), Percentile(r.check_ms, 0.99));
  std::printf("planted duplicates flagged: %d of %d; new people flagged: %d\n", r.planted_flagged,
              r.planted, r.new_flagged);
  if (o.check && (r.planted_flagged != r.planted || r.new_flagged != 0)) {
    std::fprintf(stderr, "bench_duplicates: detection check failed on %s\n", store);
    return 1;
  }
  return 0;
}

int Main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "Duplicate detection: push latency with the check on and off, on a tenant of "
      "many contacts"};
  app.add_option("--contacts", o.contacts, "Contacts loaded before the probes")
      ->check(CLI::Range(int64_t{100}, int64_t{50'000'000}));
  app.add_option("--probes", o.probes, "New contacts pushed with the check on (and as many off)")
      ->check(CLI::Range(10, 1'000'000));
  app.add_option("--stores", o.stores, "sqlite, postgres or both (comma-separated)");
  app.add_flag("--check", o.check,
               "Exit 1 unless every planted duplicate is flagged and no new person is");
  CLI11_PARSE(app, argc, argv);
  int failures = 0;
  if (o.stores.find("sqlite") != std::string::npos) {
    char tmpl[] = "/tmp/crmsync-bench-dup-XXXXXX";
    const std::string dir = mkdtemp(tmpl);
    auto r = RunOne(o, "sqlite:" + dir + "/dup.db");
    if (!r.ok()) {
      std::fprintf(stderr, "sqlite: %s\n", r.status().ToString().c_str());
      ++failures;
    } else {
      failures += Report(o, "SQLite", *r);
    }
    std::filesystem::remove_all(dir);
  }
  if (o.stores.find("postgres") != std::string::npos) {
    auto cluster = crmsync::testing::PgCluster::Start();
    absl::StatusOr<std::string> schema = cluster.ok()
                                             ? (*cluster)->NewSchema("duplicates")
                                             : absl::StatusOr<std::string>(cluster.status());
    auto r =
        schema.ok() ? RunOne(o, "postgres:" + *schema) : absl::StatusOr<Result>(schema.status());
    if (!r.ok()) {
      std::fprintf(stderr, "postgres: %s\n", r.status().ToString().c_str());
      ++failures;
    } else {
      failures += Report(o, "PostgreSQL", *r);
    }
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace crmsync::bench

int main(int argc, char** argv) { return crmsync::bench::Main(argc, argv); }
