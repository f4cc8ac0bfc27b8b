// libFuzzer target: the client SDK applying pulled change sets. A plain-SQLite
// client Database (crmsync_client_plain) in a private directory holds a
// replica of a few records and pending local edits (an update, a create, a
// delete, a set add, a points increment); it is created once per process and
// restored from a copy of its file before every input. Pages go through
// Database::SyncAccess, the sync engine's own entry point (ApplyPullPage,
// BeginReset/FinishReset of a re-bootstrap).
//
// Input (fuzz_input.h): byte 0 chooses the mode.
//  * even: the rest is a serialized crmsync.v1.PullResponse, applied as one
//    page; flags apply it twice, start a re-bootstrap first, finish the
//    re-bootstrap afterwards. If the rest does not parse, it is read as a
//    script:
//  * odd (or unparsable): up to 6 steps read with a FuzzedDataProvider:
//    pages of 1-8 changes built from the input (fuzz_values.h) against the
//    records held and edited, the previous page again, re-bootstrap
//    start/finish, and new local edits.
//
// Checked after every step: the call returns OK or DATA_LOSS (a change it
// cannot apply); a failed call changes nothing (cursor, outbox, records);
// after an applied page the cursor is the page's next_cursor, no pending
// edit is lost or altered (only an ERASED change drops the edits of its
// record), records the page did not name are untouched, and every record's
// local view is its server state with its pending edits replayed on top
// (readable through Get); every list, checksum and search still reads.
// Applying a page twice (outside a re-bootstrap) changes nothing the
// second time.
#include <fuzzer/FuzzedDataProvider.h>
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "crmsync/client/database.h"
#include "crmsync/sync/change.h"
#include "crmsync/sync/record_model.h"
#include "database_sync.h"
#include "fuzz_check.h"
#include "fuzz_input.h"
#include "fuzz_tempdir.h"
#include "fuzz_values.h"
#include "sqlite3.h"

namespace v1 = ::crmsync::v1;
namespace client = ::crmsync::client;

namespace {

constexpr int64_t kStartMs = 1'800'000'000'000;
constexpr int kMaxChanges = 64;

class FixedClock final : public client::Clock {
 public:
  int64_t NowMs() override { return now_ms; }
  int64_t now_ms = kStartMs;
};

std::string Bytes(const google::protobuf::Message& m) { return crmsync::fuzz::StableBytes(m); }

std::string Key(const v1::RecordRef& ref) {
  return std::to_string(ref.entity_type()) + "/" + ref.id();
}

// CRMSYNC_FUZZ_VERBOSE=1 prints every page and its outcome (for triage).
bool Verbose() {
  static const bool verbose = std::getenv("CRMSYNC_FUZZ_VERBOSE") != nullptr;
  return verbose;
}

void Must(const absl::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "fuzz_pull_apply set-up: %s: %s\n", what, s.ToString().c_str());
  std::abort();
}

// A server record as the feed would carry it: every set field with a field
// state at `version`.
v1::RecordState ServerRecord(const v1::Record& data, int64_t version) {
  v1::RecordState s;
  s.mutable_ref()->set_entity_type(crmsync::sync::EntityTypeOf(data));
  const auto* e = crmsync::sync::EntityOf(data);
  s.mutable_ref()->set_id(
      e->GetReflection()->GetString(*e, e->GetDescriptor()->FindFieldByName("id")));
  *s.mutable_data() = data;
  s.set_version(version);
  s.set_created_version(version);
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  e->GetReflection()->ListFields(*e, &fields);
  for (const auto* f : fields) {
    v1::FieldState& fs = (*s.mutable_fields())[f->name()];
    fs.set_version(version);
    fs.mutable_hlc()->set_wall_time_ms(kStartMs - 1000 + version);
    fs.mutable_hlc()->set_node_id("dev-bob");
    fs.mutable_provenance()->set_channel(v1::CHANNEL_FIELD_APP);
    fs.mutable_provenance()->set_author_user_id("u-bob");
    fs.mutable_provenance()->set_device_id("dev-bob");
  }
  *s.mutable_scope() = crmsync::sync::ScopeKeysOf(data);
  *s.mutable_hlc() = s.fields().begin()->second.hlc();
  return s;
}

// The device: its store file, seeded once, restored before every input.
class ClientWorld {
 public:
  ClientWorld() {
    dir_ = crmsync::fuzz::MakeFuzzTempDir("crmsync-fuzz-client");
    path_ = dir_ + "/device.db";
    Open();
    Seed();
    db_.reset();  // closing checkpoints the WAL into the file
    std::ifstream in(path_, std::ios::binary);
    seeded_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (seeded_.empty() || std::filesystem::exists(path_ + "-wal")) {
      std::fprintf(stderr, "fuzz_pull_apply set-up: seeded store not self-contained\n");
      std::abort();
    }
  }
  ~ClientWorld() {
    db_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Back to the seeded store.
  client::Database* Reset() {
    db_.reset();
    std::error_code ec;
    std::filesystem::remove(path_ + "-wal", ec);
    std::filesystem::remove(path_ + "-shm", ec);
    {
      std::ofstream out(path_, std::ios::binary | std::ios::trunc);
      out.write(seeded_.data(), static_cast<std::streamsize>(seeded_.size()));
    }
    clock_.now_ms = kStartMs;
    Open();
    return db_.get();
  }

  FixedClock& clock() { return clock_; }
  const std::vector<v1::RecordRef>& refs() const { return refs_; }
  const std::vector<std::string>& ids() const { return ids_; }
  const std::string& path() const { return path_; }

 private:
  void Open() {
    random_ = client::NewSeededRandom(7);
    client::DatabaseOptions o;
    o.path = path_;
    o.device_id = "dev-alice-2";
    o.user_id = "u-alice";
    o.clock = &clock_;
    o.random = random_.get();
    auto db = client::Database::Open(o);
    Must(db.status(), "open");
    db_ = *std::move(db);
  }

  void Seed() {
    std::vector<v1::Record> records;
    auto lead = [&](const std::string& id, const std::string& name, v1::Visibility vis) {
      v1::Record r;
      v1::Lead* l = r.mutable_lead();
      l->set_id(id);
      l->set_first_name(name);
      l->set_last_name("Leroy");
      l->set_company("Café du Port");
      l->set_status(v1::LEAD_STATUS_NEW);
      l->set_rating(2);
      l->add_tags("demo");
      l->set_owner_user_id("u-alice");
      l->set_team_id("team-north");
      l->set_visibility(vis);
      l->set_notes("met at the fair");
      records.push_back(r);
    };
    lead("lead-1", "Jeanne", v1::VISIBILITY_PRIVATE);
    lead("lead-2", "Paul", v1::VISIBILITY_TEAM);
    lead("lead-3", "Sophie", v1::VISIBILITY_PRIVATE);
    {
      v1::Record r;
      v1::Account* a = r.mutable_account();
      a->set_id("acc-1");
      a->set_name("Boulangerie Martin");
      a->set_owner_user_id("u-alice");
      a->set_team_id("team-north");
      a->set_visibility(v1::VISIBILITY_TEAM);
      records.push_back(r);
      v1::Record o;
      v1::Opportunity* opp = o.mutable_opportunity();
      opp->set_id("opp-1");
      opp->set_account_id("acc-1");
      opp->set_name("Oven replacement");
      opp->set_stage(v1::OPPORTUNITY_STAGE_PROPOSAL);
      opp->mutable_amount()->set_currency_code("EUR");
      opp->mutable_amount()->set_amount_minor(1250000);
      opp->set_owner_user_id("u-alice");
      opp->set_team_id("team-north");
      records.push_back(o);
      v1::Record e;
      v1::CalendarEvent* ev = e.mutable_calendar_event();
      ev->set_id("cal-1");
      ev->set_title("Visit Boulangerie Martin");
      ev->mutable_starts_at()->set_seconds(kStartMs / 1000 + 3600);
      ev->mutable_ends_at()->set_seconds(kStartMs / 1000 + 7200);
      ev->add_attendee_ids("u-alice");
      ev->set_owner_user_id("u-alice");
      records.push_back(e);
      v1::Record c;
      v1::LoyaltyAccount* card = c.mutable_loyalty_account();
      card->set_id("loyalty-1");
      card->set_card_number("4000-0001");
      card->set_customer_name("Lucie Bernard");
      card->set_points_balance(120);
      card->set_home_store_id("store-paris");
      records.push_back(c);
      v1::Record cp;
      v1::Coupon* coupon = cp.mutable_coupon();
      coupon->set_id("coupon-1");
      coupon->set_code("WELCOME10");
      coupon->set_percent_off_bp(1000);
      coupon->mutable_geofence()->mutable_circle()->mutable_center()->set_latitude(48.8566);
      coupon->mutable_geofence()->mutable_circle()->mutable_center()->set_longitude(2.3522);
      coupon->mutable_geofence()->mutable_circle()->set_radius_m(5000);
      coupon->set_active(true);
      records.push_back(cp);
    }
    v1::PullResponse page;
    int64_t version = 0;
    for (const v1::Record& r : records) {
      v1::Change c = crmsync::sync::BuildChange(ServerRecord(r, ++version), 0, /*full=*/true);
      *page.add_changes() = c;
      refs_.push_back(c.record());
    }
    page.set_next_cursor("c1." + std::to_string(version));
    page.mutable_server_hlc()->set_wall_time_ms(kStartMs);
    client::Database::SyncAccess sync(db_.get());
    Must(sync.ApplyPullPage(page).status(), "seed page");

    // Pending edits of several kinds.
    v1::Record edit;
    edit.mutable_lead()->set_id("lead-1");
    edit.mutable_lead()->set_first_name("Jeanne-Marie");
    Must(db_->Update(edit).status(), "update");
    Must(db_->Delete(refs_[1]).status(), "delete");
    v1::Record created;
    created.mutable_lead()->set_id("lead-local");
    created.mutable_lead()->set_first_name("Nina");
    created.mutable_lead()->set_owner_user_id("u-alice");
    Must(db_->Create(created).status(), "create");
    refs_.push_back([] {
      v1::RecordRef r;
      r.set_entity_type(v1::ENTITY_TYPE_LEAD);
      r.set_id("lead-local");
      return r;
    }());
    client::LocalEdit tag;
    tag.ref = refs_[2];
    tag.operation = v1::OPERATION_SET_ADD;
    tag.values.mutable_lead()->add_tags("hot");
    tag.mask.add_paths("tags");
    Must(db_->Apply(tag).status(), "set add");
    client::LocalEdit points;
    points.ref = refs_[6];
    points.operation = v1::OPERATION_INCREMENT;
    points.values.mutable_loyalty_account()->set_points_balance(30);
    points.mask.add_paths("points_balance");
    Must(db_->Apply(points).status(), "increment");
    v1::Record amount;
    amount.mutable_opportunity()->set_id("opp-1");
    amount.mutable_opportunity()->mutable_amount()->set_amount_minor(1300000);
    Must(db_->Update(amount).status(), "update amount");

    std::set<std::string> ids = {"u-alice",     "u-bob",    "team-north", "team-south",
                                 "store-paris", "lead-new", "dev-alice-2"};
    for (const auto& r : refs_) ids.insert(r.id());
    ids_.assign(ids.begin(), ids.end());
  }

  std::string dir_;
  std::string path_;
  std::string seeded_;
  FixedClock clock_;
  std::unique_ptr<client::Random> random_;
  std::unique_ptr<client::Database> db_;
  std::vector<v1::RecordRef> refs_;
  std::vector<std::string> ids_;
};

ClientWorld* World() {
  static ClientWorld* const world = new ClientWorld();
  return world;
}

// What the per-step checks compare, read straight from the store file
// through a second connection (cheap: no parsing): the cursor, the outbox
// and every record row.
struct Snapshot {
  std::string cursor;
  // (client_seq, serialized mutation), in client_seq order.
  std::vector<std::pair<int64_t, std::string>> outbox;
  // "type/id" -> (server_state blob or "-", local_state blob or "-").
  std::map<std::string, std::pair<std::string, std::string>> records;
};

// Whether two stored RecordState blobs hold the same record (map entries
// may be serialized in any order).
bool SameState(const std::string& a, const std::string& b) {
  if (a == b) return true;
  if (a == "-" || b == "-") return false;
  v1::RecordState x, y;
  return x.ParseFromString(a) && y.ParseFromString(b) && Bytes(x) == Bytes(y);
}

bool SameRecords(const std::map<std::string, std::pair<std::string, std::string>>& a,
                 const std::map<std::string, std::pair<std::string, std::string>>& b) {
  if (a.size() != b.size()) return false;
  for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j) {
    if (i->first != j->first || !SameState(i->second.first, j->second.first) ||
        !SameState(i->second.second, j->second.second)) {
      return false;
    }
  }
  return true;
}

class Session {
 public:
  Session(ClientWorld* w, client::Database* db) : w_(w), db_(db), sync_(db) {
    for (const auto& r : w->refs()) Know(r);
    FUZZ_CHECK(
        sqlite3_open_v2(w->path().c_str(), &raw_, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK,
        "cannot open a second connection");
  }
  ~Session() { sqlite3_close(raw_); }

  void RunParsed(uint8_t mode, v1::PullResponse page) {
    while (page.changes_size() > kMaxChanges) page.mutable_changes()->RemoveLast();
    if (mode & crmsync::fuzz::kPullBeginReset) BeginReset();
    if (mode & crmsync::fuzz::kPullTwice) {
      ApplyAgain(page);
    } else {
      ApplyPage(page);
    }
    if (mode & crmsync::fuzz::kPullFinishReset) FinishReset();
  }

  void RunScript(FuzzedDataProvider* in) {
    crmsync::fuzz::ValueMaker vm(in, &w_->ids());
    std::optional<v1::PullResponse> last;
    const int steps = in->ConsumeIntegralInRange<int>(1, 6);
    for (int step = 0; step < steps && in->remaining_bytes() > 0; ++step) {
      switch (in->ConsumeIntegralInRange<int>(0, 9)) {
        case 6:
          if (last) ApplyAgain(*last);  // applies it twice more
          break;
        case 7: BeginReset(); break;
        case 8: FinishReset(); break;
        case 9: LocalEdit(&vm); break;
        default: {
          v1::PullResponse page = MakePage(&vm);
          if (ApplyPage(page)) last = page;
          break;
        }
      }
    }
  }

 private:
  void Know(const v1::RecordRef& ref) {
    if (known_.emplace(Key(ref), ref).second) refs_.push_back(ref);
  }

  std::string Blob(sqlite3_stmt* st, int col) {
    if (sqlite3_column_type(st, col) == SQLITE_NULL) return "-";
    const void* p = sqlite3_column_blob(st, col);
    return std::string(static_cast<const char*>(p), sqlite3_column_bytes(st, col));
  }

  void Query(const char* sql, const std::function<void(sqlite3_stmt*)>& row) {
    sqlite3_stmt* st = nullptr;
    FUZZ_CHECK(sqlite3_prepare_v2(raw_, sql, -1, &st, nullptr) == SQLITE_OK,
               std::string("cannot read the store: ") + sqlite3_errmsg(raw_));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) row(st);
    FUZZ_CHECK(rc == SQLITE_DONE, std::string("cannot read the store: ") + sqlite3_errmsg(raw_));
    sqlite3_finalize(st);
  }

  Snapshot Take() {
    Snapshot s;
    Query("SELECT value FROM sync_state WHERE key='cursor'",
          [&](sqlite3_stmt* st) { s.cursor = Blob(st, 0); });
    Query("SELECT client_seq, mutation FROM outbox ORDER BY client_seq", [&](sqlite3_stmt* st) {
      s.outbox.emplace_back(sqlite3_column_int64(st, 0), Blob(st, 1));
    });
    Query("SELECT entity_type, id, server_state, local_state FROM records", [&](sqlite3_stmt* st) {
      std::string id(reinterpret_cast<const char*>(sqlite3_column_text(st, 1)),
                     sqlite3_column_bytes(st, 1));
      s.records[std::to_string(sqlite3_column_int64(st, 0)) + "/" + id] = {Blob(st, 2),
                                                                           Blob(st, 3)};
    });
    return s;
  }

  // Every known record's local view is its server state with its pending
  // edits replayed in order, and reads back through the Database.
  void CheckLocalViews() {
    auto outbox = db_->Outbox();
    FUZZ_CHECK(outbox.ok(), "Outbox failed: " + outbox.status().ToString());
    for (const auto& [key, ref] : known_) {
      auto server = db_->GetServerState(ref);
      FUZZ_CHECK(server.ok(), "GetServerState(" + key + ") failed: " + server.status().ToString());
      auto local = db_->Get(ref);
      FUZZ_CHECK(local.ok() || local.status().code() == absl::StatusCode::kNotFound,
                 "Get(" + key + ") failed: " + local.status().ToString());
      std::optional<v1::RecordState> expected;
      if (server->has_value() && !(*server)->deleted()) expected = **server;
      for (const client::PendingMutation& p : *outbox) {
        const v1::Mutation& m = p.mutation;
        if (m.record().entity_type() != ref.entity_type() || m.record().id() != ref.id()) continue;
        v1::RecordState next = expected ? *expected : v1::RecordState();
        if (next.deleted() && m.operation() != v1::OPERATION_DELETE) continue;
        if (!crmsync::sync::ApplyMutationLocally(&next, m).ok()) continue;
        expected = std::move(next);
      }
      if (expected && expected->deleted()) expected.reset();
      FUZZ_CHECK(
          expected.has_value() == local.ok() && (!local.ok() || Bytes(*expected) == Bytes(*local)),
          "local view of " + key + " is not its server state plus its pending edits");
      if (server->has_value()) {
        FUZZ_CHECK((*server)->ref().id() == ref.id() &&
                       (*server)->ref().entity_type() == ref.entity_type(),
                   "replica of " + key + " names another record");
      }
    }
    auto pending = db_->PendingCount();
    FUZZ_CHECK(pending.ok() && *pending == static_cast<int64_t>(outbox->size()),
               "PendingCount differs from the outbox");
  }

 public:
  // After the input: local views, and every query of the local store reads.
  void CheckEnd() {
    CheckLocalViews();
    for (v1::EntityType type : crmsync::fuzz::AllEntityTypes()) {
      auto list = db_->List(type);
      FUZZ_CHECK(list.ok(), "List failed: " + list.status().ToString());
    }
    FUZZ_CHECK(db_->MyOpenLeads().ok(), "MyOpenLeads failed");
    FUZZ_CHECK(db_->Search("jean*").ok(), "Search failed");
    FUZZ_CHECK(db_->CouponsNear(48.85, 2.35, 100, w_->clock().now_ms).ok(), "CouponsNear failed");
    FUZZ_CHECK(db_->CalendarBetween(0, 4'000'000'000).ok(), "CalendarBetween failed");
    auto sum = sync_.LocalChecksum();
    FUZZ_CHECK(sum.ok(), "LocalChecksum failed: " + sum.status().ToString());
  }

 private:
  // Applies `page`; returns whether it was applied, and the state after.
  bool ApplyPage(const v1::PullResponse& page, Snapshot* out = nullptr) {
    for (const v1::Change& c : page.changes()) Know(c.record());
    const Snapshot before = Take();
    auto events = sync_.ApplyPullPage(page);
    if (Verbose()) {
      std::fprintf(stderr, "page: %s\n-> %s\n", page.ShortDebugString().c_str(),
                   events.status().ToString().c_str());
    }
    Snapshot after = Take();
    if (!events.ok()) {
      FUZZ_CHECK(events.status().code() == absl::StatusCode::kDataLoss,
                 "ApplyPullPage failed with " + events.status().ToString());
      FUZZ_CHECK(after.cursor == before.cursor && after.outbox == before.outbox &&
                     after.records == before.records,
                 "a refused page changed the store");
      return false;
    }
    FUZZ_CHECK(after.cursor == page.next_cursor(), "cursor is not the page's next_cursor");
    // Pending edits survive, except those of erased records.
    std::set<std::string> erased, named;
    for (const v1::Change& c : page.changes()) {
      named.insert(Key(c.record()));
      if (c.kind() == v1::CHANGE_KIND_ERASED) erased.insert(Key(c.record()));
    }
    std::vector<std::pair<int64_t, std::string>> kept;
    for (const auto& entry : before.outbox) {
      v1::Mutation m;
      FUZZ_CHECK(m.ParseFromString(entry.second), "unreadable outbox entry");
      if (erased.count(Key(m.record())) == 0) kept.push_back(entry);
    }
    FUZZ_CHECK(after.outbox == kept, "applying a page lost or altered pending edits");
    for (const auto& [key, states] : before.records) {
      if (named.count(key) == 0) {
        auto it = after.records.find(key);
        FUZZ_CHECK(it != after.records.end() && it->second == states,
                   "a page changed " + key + ", which it did not name");
      }
    }
    for (const auto& [key, states] : after.records) {
      FUZZ_CHECK(before.records.count(key) == 1 || named.count(key) == 1,
                 "a page created " + key + ", which it did not name");
    }
    FUZZ_CHECK(static_cast<int>(events->size()) <= page.changes_size(), "more events than changes");
    if (out != nullptr) *out = std::move(after);
    return true;
  }

  // The same page again changes nothing (outside a re-bootstrap, which
  // rebuilds records from the page on purpose).
  void ApplyAgain(const v1::PullResponse& page) {
    Snapshot first, second;
    if (!ApplyPage(page, &first) || in_reset_) return;
    if (!ApplyPage(page, &second)) return;
    FUZZ_CHECK(SameRecords(first.records, second.records),
               "applying the same page twice changed records");
  }

  void BeginReset() {
    const Snapshot before = Take();
    FUZZ_CHECK(sync_.BeginReset().ok(), "BeginReset failed");
    in_reset_ = true;
    const Snapshot after = Take();
    FUZZ_CHECK(after.cursor.empty(), "a re-bootstrap keeps its cursor");
    FUZZ_CHECK(after.outbox == before.outbox && after.records == before.records,
               "starting a re-bootstrap changed records or pending edits");
  }

  void FinishReset() {
    const Snapshot before = Take();
    auto removed = sync_.FinishReset();
    FUZZ_CHECK(removed.ok(), "FinishReset failed: " + removed.status().ToString());
    in_reset_ = false;
    const Snapshot after = Take();
    FUZZ_CHECK(after.cursor == before.cursor, "finishing a re-bootstrap moved the cursor");
    FUZZ_CHECK(after.outbox == before.outbox, "finishing a re-bootstrap lost pending edits");
  }

  // A local edit made between pulls (the outbox grows by one entry, unless
  // the edit changes nothing, and nothing else of the outbox changes).
  void LocalEdit(crmsync::fuzz::ValueMaker* vm) {
    const v1::RecordRef ref = vm->Pick(refs_);
    client::LocalEdit e;
    e.ref = ref;
    static const std::vector<v1::Operation> kOps = {
        v1::OPERATION_UPSERT,    v1::OPERATION_UPSERT,  v1::OPERATION_DELETE,
        v1::OPERATION_INCREMENT, v1::OPERATION_SET_ADD, v1::OPERATION_SET_REMOVE};
    e.operation = vm->Pick(kOps);
    if (crmsync::sync::EntityDescriptor(ref.entity_type()) != nullptr) {
      vm->Entity(&e.values, ref.entity_type(), ref.id());
      for (int k = vm->in().ConsumeIntegralInRange<int>(0, 2); k > 0; --k) {
        e.mask.add_paths(vm->Path(ref.entity_type()));
      }
    }
    const Snapshot before = Take();
    auto result = db_->Apply(e);
    if (Verbose()) {
      std::fprintf(stderr, "local edit: %s %s mask=%s values=%s\n-> %s\n",
                   v1::Operation_Name(e.operation).c_str(), e.ref.ShortDebugString().c_str(),
                   e.mask.ShortDebugString().c_str(), e.values.ShortDebugString().c_str(),
                   result.status().ToString().c_str());
    }
    Snapshot after = Take();
    // An update without a mask that changes nothing is OK without an entry.
    const bool no_op = result.ok() && e.operation == v1::OPERATION_UPSERT &&
                       e.mask.paths().empty() && after.outbox.size() == before.outbox.size();
    if (no_op) {
      FUZZ_CHECK(after.records == before.records, "a local edit without an entry changed records");
    } else {
      FUZZ_CHECK(after.outbox.size() == before.outbox.size() + (result.ok() ? 1 : 0),
                 "a local edit did not add exactly one outbox entry");
      if (result.ok()) after.outbox.pop_back();
    }
    FUZZ_CHECK(after.outbox == before.outbox, "a local edit changed other pending edits");
  }

  v1::PullResponse MakePage(crmsync::fuzz::ValueMaker* vm) {
    FuzzedDataProvider& in = vm->in();
    v1::PullResponse page;
    const int n = in.ConsumeIntegralInRange<int>(1, 8);
    for (int i = 0; i < n; ++i) {
      v1::Change* c = page.add_changes();
      v1::RecordRef ref;
      if (in.ConsumeIntegralInRange<int>(0, 9) < 8) {
        ref = vm->Pick(refs_);
      } else {
        ref.set_entity_type(vm->Pick(crmsync::fuzz::AllEntityTypes()));
        ref.set_id(vm->Id());
      }
      *c->mutable_record() = ref;
      static const std::vector<v1::ChangeKind> kKinds = {
          v1::CHANGE_KIND_UPSERT, v1::CHANGE_KIND_UPSERT,     v1::CHANGE_KIND_UPSERT,
          v1::CHANGE_KIND_UPSERT, v1::CHANGE_KIND_TOMBSTONE,  v1::CHANGE_KIND_LEFT_SCOPE,
          v1::CHANGE_KIND_ERASED, v1::CHANGE_KIND_UNSPECIFIED};
      c->set_kind(vm->Pick(kKinds));
      int64_t held = 0;
      if (auto s = db_->GetServerState(ref); s.ok() && s->has_value()) held = (*s)->version();
      switch (in.ConsumeIntegralInRange<int>(0, 7)) {
        case 0: c->set_version(vm->SmallInt()); break;
        case 1: c->set_version(held); break;
        default:
          c->set_version(held < INT64_MAX - 5 ? held + in.ConsumeIntegralInRange<int64_t>(1, 5)
                                              : held);
          break;
      }
      c->set_seq(c->version());
      if (c->kind() == v1::CHANGE_KIND_UPSERT || in.ConsumeIntegralInRange<int>(0, 7) == 0) {
        const v1::EntityType type = crmsync::sync::EntityDescriptor(ref.entity_type()) != nullptr
                                        ? ref.entity_type()
                                        : vm->Pick(crmsync::fuzz::AllEntityTypes());
        std::vector<std::string> names = vm->Entity(c->mutable_values(), type, ref.id());
        if (in.ConsumeIntegralInRange<int>(0, 5) == 0) names.push_back(vm->Path(type));
        std::set<std::string> unique(names.begin(), names.end());
        for (const std::string& p : unique) {
          c->mutable_changed_fields()->add_paths(p);
          v1::FieldState& fs = (*c->mutable_fields())[p];
          fs.set_version(in.ConsumeIntegralInRange<int>(0, 7) == 0 ? vm->SmallInt() : c->version());
          *fs.mutable_hlc() = vm->Hlc(w_->clock().now_ms, "dev-bob");
          fs.mutable_provenance()->set_device_id(in.ConsumeBool() ? "dev-bob" : "dev-alice-2");
        }
        if (in.ConsumeBool()) vm->Fill(c->mutable_scope(), 0, in.ConsumeIntegralInRange<int>(0, 3));
      }
      *c->mutable_hlc() = vm->Hlc(w_->clock().now_ms, "server");
    }
    page.set_next_cursor(in.ConsumeIntegralInRange<int>(0, 15) == 0 ? vm->Text(12)
                                                                    : "c1." + std::to_string(n));
    page.set_has_more(in.ConsumeBool());
    if (in.ConsumeBool()) *page.mutable_server_hlc() = vm->Hlc(w_->clock().now_ms, "server");
    return page;
  }

  ClientWorld* w_;
  client::Database* db_;
  client::Database::SyncAccess sync_;
  std::map<std::string, v1::RecordRef> known_;
  std::vector<v1::RecordRef> refs_;
  bool in_reset_ = false;
  sqlite3* raw_ = nullptr;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  World();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  ClientWorld* w = World();
  client::Database* db = w->Reset();
  Session session(w, db);
  const uint8_t mode = data[0];
  v1::PullResponse page;
  if ((mode & 1) == 0 && page.ParseFromArray(data + 1, static_cast<int>(size - 1))) {
    session.RunParsed(mode, std::move(page));
  } else {
    FuzzedDataProvider in(data + 1, size - 1);
    session.RunScript(&in);
  }
  session.CheckEnd();
  return 0;
}
