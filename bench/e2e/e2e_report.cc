#include "e2e_report.h"

#include <cmath>
#include <cstdio>
#include <optional>
#include <vector>

namespace crmsync::bench::e2e {
namespace {

using json = nlohmann::json;

constexpr int64_t kTargetRecords = 100'000;
constexpr double kSqlitePushTarget = 72'000;  // 10x the CouchDB-protocol peer
constexpr double kPullTarget = 100'000;
constexpr double kDeltaServerMsTarget = 10;
constexpr double kPropagationP99Target = 20;
constexpr double kBootstrapSecondsTarget = 10;
constexpr double kStreamsRssTargetKiB = 1024.0 * 1024.0;  // 1 GiB
constexpr int kStreamsTarget = 10'000;
constexpr double kFanoutMsTarget = 1000;

std::optional<double> Num(const json& j, const std::string& pointer) {
  const json::json_pointer p(pointer);
  if (!j.is_object() || !j.contains(p)) return std::nullopt;
  const json& v = j.at(p);
  if (!v.is_number()) return std::nullopt;
  return v.get<double>();
}

std::string Grouped(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.0f", std::round(v));
  std::string digits = buf, out;
  const bool negative = !digits.empty() && digits[0] == '-';
  if (negative) digits.erase(0, 1);
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return negative ? "-" + out : out;
}

std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

std::string YesNo(std::optional<bool> met) {
  if (!met) return "—";
  return *met ? "yes" : "**no**";
}

// A store's cell: "failed" when its phase failed, "—" when not run.
class StoreView {
 public:
  StoreView(const json& results, const std::string& name) {
    if (results.contains("stores") && results["stores"].contains(name)) {
      store_ = results["stores"][name];
    }
  }
  std::optional<double> Get(const std::string& pointer) const { return Num(store_, pointer); }
  std::string Cell(const std::string& phase, const std::string& text) const {
    if (!store_.is_object()) return "—";
    if (store_.contains("error")) return "failed";
    if (!store_.contains(phase)) return "—";
    if (store_[phase].contains("error")) return "failed";
    return text;
  }
  std::string Rate(const std::string& phase, const std::string& pointer) const {
    auto v = Get(pointer);
    return Cell(phase, v ? Grouped(*v) + "/s" : "—");
  }

 private:
  json store_;
};

struct Row {
  std::string figure, sqlite, postgres, raw, ratio, target, met;
};

std::string Percent(std::optional<double> part, std::optional<double> whole) {
  if (!part || !whole || *whole <= 0) return "—";
  return Fixed(100.0 * *part / *whole, *part / *whole < 0.1 ? 1 : 0) + " %";
}

std::string Both(const std::string& sqlite, const std::string& postgres) {
  if (sqlite == "—" && postgres == "—") return "—";
  return "SQLite " + sqlite + ", PostgreSQL " + postgres;
}

std::optional<bool> All(std::initializer_list<std::optional<bool>> parts) {
  bool any = false, all = true;
  for (const auto& p : parts) {
    if (!p) continue;
    any = true;
    all = all && *p;
  }
  if (!any) return std::nullopt;
  return all;
}

std::optional<bool> AtLeast(std::optional<double> v, double target) {
  if (!v) return std::nullopt;
  return *v >= target;
}
std::optional<bool> AtMost(std::optional<double> v, double target) {
  if (!v) return std::nullopt;
  return *v <= target;
}

void AddPushRow(std::vector<Row>* rows, const std::string& label, const std::string& phase,
                const StoreView& s, const StoreView& p, std::optional<double> raw) {
  const auto sv = s.Get("/" + phase + "/per_second");
  const auto pv = p.Get("/" + phase + "/per_second");
  std::optional<bool> pg_met;
  if (pv && raw) pg_met = *pv >= 0.5 * *raw;
  const std::string met =
      "SQLite " + YesNo(AtLeast(sv, kSqlitePushTarget)) + ", PostgreSQL " + YesNo(pg_met);
  rows->push_back({label, s.Rate(phase, "/" + phase + "/per_second"),
                   p.Rate(phase, "/" + phase + "/per_second"), raw ? Grouped(*raw) + "/s" : "—",
                   Both(Percent(sv, raw), Percent(pv, raw)),
                   "PostgreSQL ≥ 50 % of raw; SQLite ≥ 72,000/s", met});
}

std::string LatencyCell(const StoreView& v) {
  auto p50 = v.Get("/latency/latency_ms/p50");
  auto p99 = v.Get("/latency/latency_ms/p99");
  auto instances = v.Get("/latency/instances");
  if (!p50 || !p99) return v.Cell("latency", "—");
  return v.Cell("latency", Fixed(*p50, 1) + " / " + Fixed(*p99, 1) + " ms (" +
                               Grouped(instances.value_or(1)) + " instance" +
                               (instances.value_or(1) > 1 ? "s" : "") + ")");
}

std::string StreamsCell(const StoreView& v) {
  auto live = v.Get("/streams/live");
  auto open = v.Get("/streams/rss_kib_open");
  auto before = v.Get("/streams/rss_kib_before");
  auto per = v.Get("/streams/rss_kib_per_stream");
  if (!live || !open || !before || !per) return v.Cell("streams", "—");
  return v.Cell("streams", Grouped(*live) + " streams: RSS " + Grouped(*before / 1024) + " → " +
                               Grouped(*open / 1024) + " MiB (" + Fixed(*per, 1) + " KiB/stream)");
}

// RSS with 10,000 streams: measured when that many were open, else
// extrapolated from the per-stream figure.
std::optional<double> RssAtTarget(const StoreView& v) {
  auto live = v.Get("/streams/live");
  auto open = v.Get("/streams/rss_kib_open");
  auto before = v.Get("/streams/rss_kib_before");
  auto per = v.Get("/streams/rss_kib_per_stream");
  if (!live || !open || !before || !per) return std::nullopt;
  if (*live >= kStreamsTarget) return *open;
  return *before + *per * kStreamsTarget;
}

std::string FanoutCell(const StoreView& v) {
  auto all = v.Get("/streams/fanout/arrival_ms/max");
  auto reached = v.Get("/streams/fanout/reached");
  auto expected = v.Get("/streams/fanout/expected");
  if (!all || !reached || !expected) return v.Cell("streams", "—");
  return v.Cell("streams",
                Grouped(*all) + " ms (" + Grouped(*reached) + " of " + Grouped(*expected) + ")");
}

std::optional<bool> FanoutMet(const StoreView& v) {
  auto all = v.Get("/streams/fanout/arrival_ms/max");
  auto reached = v.Get("/streams/fanout/reached");
  auto expected = v.Get("/streams/fanout/expected");
  if (!all || !reached || !expected) return std::nullopt;
  return *reached >= *expected && *all <= kFanoutMsTarget;
}

}  // namespace

std::string RenderMarkdown(const json& results) {
  const StoreView s(results, "sqlite"), p(results, "postgres");
  const auto raw = Num(results, "/raw_postgres/per_second");
  const int64_t records = results["config"].value("records", int64_t{0});
  const bool full_size = records == kTargetRecords;
  const std::string at_size = full_size ? "" : " (targets are for 100,000 records)";
  std::vector<Row> rows;

  AddPushRow(&rows, "push, 1 device (mutations/s)", "push1", s, p, raw);
  AddPushRow(&rows, "push, 4 devices at once (mutations/s)", "push4", s, p, raw);

  {
    const auto sv = s.Get("/pull/bootstrap/per_second");
    const auto pv = p.Get("/pull/bootstrap/per_second");
    rows.push_back({"first pull, gRPC stubs (records/s)",
                    s.Rate("pull", "/pull/bootstrap/per_second"),
                    p.Rate("pull", "/pull/bootstrap/per_second"), "—", "—", "≥ 100,000/s",
                    YesNo(All({AtLeast(sv, kPullTarget), AtLeast(pv, kPullTarget)}))});
  }
  {
    auto cell = [](const StoreView& v, const std::string& what) {
      auto med = v.Get("/pull/delta/" + what + "/p50");
      auto max = v.Get("/pull/delta/" + what + "/max");
      if (!med || !max) return v.Cell("pull", "—");
      return v.Cell("pull", Fixed(*med, 1) + " ms (max " + Fixed(*max, 1) + ")");
    };
    const auto sv = s.Get("/pull/delta/server_ms/p50");
    const auto pv = p.Get("/pull/delta/server_ms/p50");
    const std::string n = Grouped(std::max<double>(1, static_cast<double>(records) / 100));
    rows.push_back({"delta pull of 1 % (" + n + " changes), server, median", cell(s, "server_ms"),
                    cell(p, "server_ms"), "—", "—", "≤ 10 ms" + at_size,
                    full_size ? YesNo(All({AtMost(sv, kDeltaServerMsTarget),
                                           AtMost(pv, kDeltaServerMsTarget)}))
                              : "—"});
    rows.push_back({"delta pull of 1 % (" + n + " changes), end to end, median", cell(s, "e2e_ms"),
                    cell(p, "e2e_ms"), "—", "—", "—", "—"});
  }
  rows.push_back({"propagation push → Subscribe event, p50 / p99", LatencyCell(s), LatencyCell(p),
                  "—", "—", "p99 ≤ 20 ms across two instances on PostgreSQL",
                  YesNo(AtMost(p.Get("/latency/latency_ms/p99"), kPropagationP99Target))});
  for (const char* kind : {"plain", "sqlcipher"}) {
    const std::string k = kind;
    auto cell = [&](const StoreView& v) {
      auto secs = v.Get("/sdk/" + k + "/seconds");
      auto rate = v.Get("/sdk/" + k + "/per_second");
      if (!secs || !rate) return v.Cell("sdk", "—");
      return v.Cell("sdk", Fixed(*secs, 1) + " s (" + Grouped(*rate) + "/s)");
    };
    rows.push_back(
        {"device bootstrap through the SDK, " +
             std::string(k == "plain" ? "plain store" : "SQLCipher store") + " (" +
             Grouped(static_cast<double>(records)) + " records)",
         cell(s), cell(p), "—", "—", "≤ 10 s for 100,000" + at_size,
         full_size ? YesNo(All({AtMost(s.Get("/sdk/" + k + "/seconds"), kBootstrapSecondsTarget),
                                AtMost(p.Get("/sdk/" + k + "/seconds"), kBootstrapSecondsTarget)}))
                   : "—"});
  }
  {
    auto rs = RssAtTarget(s), rp = RssAtTarget(p);
    std::string met =
        YesNo(All({AtMost(rs, kStreamsRssTargetKiB), AtMost(rp, kStreamsRssTargetKiB)}));
    const auto live = s.Get("/streams/live").value_or(p.Get("/streams/live").value_or(0));
    if (live > 0 && live < kStreamsTarget && met != "—") met += " (extrapolated)";
    rows.push_back({"idle Subscribe streams, crm-syncd RSS", StreamsCell(s), StreamsCell(p), "—",
                    "—", "10,000 streams ≤ 1 GiB", met});
  }
  rows.push_back({"one change reaching every open stream", FanoutCell(s), FanoutCell(p), "—", "—",
                  "≤ 1 s", YesNo(All({FanoutMet(s), FanoutMet(p)}))});

  std::string out =
      "| figure | SQLite | PostgreSQL | raw PostgreSQL | ratio to raw | target | met |\n"
      "|---|---|---|---|---|---|---|\n";
  for (const Row& r : rows) {
    out += "| " + r.figure + " | " + r.sqlite + " | " + r.postgres + " | " + r.raw + " | " +
           r.ratio + " | " + r.target + " | " + r.met + " |\n";
  }

  // Supporting detail: where a figure comes from.
  out += "\n| detail | SQLite | PostgreSQL |\n|---|---|---|\n";
  auto detail = [&](const std::string& label, const std::string& phase, const std::string& pointer,
                    int decimals, const std::string& unit) {
    auto cell = [&](const StoreView& v) {
      auto x = v.Get(pointer);
      return v.Cell(phase, x ? Fixed(*x, decimals) + unit : "—");
    };
    out += "| " + label + " | " + cell(s) + " | " + cell(p) + " |\n";
  };
  detail("push, 1 device: one batch of 500, p50", "push1", "/push1/batch_ms/p50", 1, " ms");
  detail("push, 1 device: one batch of 500, p99", "push1", "/push1/batch_ms/p99", 1, " ms");
  detail("push, 1 device: crm-syncd CPU", "push1", "/push1/server_cpu_seconds", 1, " s");
  detail("push, 4 devices: crm-syncd CPU", "push4", "/push4/server_cpu_seconds", 1, " s");
  detail("first pull: one page, p50", "pull", "/pull/bootstrap/page_ms/p50", 1, " ms");
  detail("first pull: pages", "pull", "/pull/bootstrap/pages", 0, "");
  detail("delta pull: Pull calls until caught up", "pull", "/pull/delta/rounds/0/calls", 0, "");
  detail("delta pull: first call alone, server, median", "pull",
         "/pull/delta/first_call_server_ms/p50", 1, " ms");
  detail("propagation: the Push call itself, p50", "latency", "/latency/push_ms/p50", 1, " ms");
  detail("idle streams: time to open all", "streams", "/streams/open/open_seconds", 1, " s");
  detail("idle streams: time to register the devices", "streams",
         "/streams/registration/register_seconds", 1, " s");
  detail("idle streams: crm-syncd RSS after closing them", "streams",
         "/streams/rss_mib_after_close", 0, " MiB");
  if (auto v = Num(results, "/raw_postgres/per_second")) {
    const auto per_row = Num(results, "/raw_postgres/per_row/per_second");
    out += "\nRaw PostgreSQL baseline: " + Grouped(Num(results, "/raw_postgres/rows").value_or(0)) +
           " rows, one multi-row INSERT ... ON CONFLICT per batch: " + Grouped(*v) +
           "/s (one prepared upsert per row, same batches: " +
           (per_row ? Grouped(*per_row) + "/s" : std::string("—")) + ").\n";
  } else if (results.contains("raw_postgres") && results["raw_postgres"].contains("error")) {
    out += "\nRaw PostgreSQL baseline failed: " + results["raw_postgres"]["error"].dump() + "\n";
  }
  return out;
}

}  // namespace crmsync::bench::e2e
