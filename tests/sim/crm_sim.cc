// crm-sim: runs the deterministic simulation for one seed or a range of
// seeds and reports invariant violations with the command that replays them.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>

#include "crmsync/build_info.h"
#include "sim_world.h"

int main(int argc, char** argv) {
  CLI::App app{"crm-sim: deterministic simulation of crmsync devices and server under faults",
               "crm-sim"};
  uint64_t seed = 1;
  int seeds = 1, steps = 300;
  std::string variant;
  bool verbose = false;
  int prune_pct = crmsync::sim::SimOptions{}.prune_pct;
  app.add_option("--seed", seed, "First seed")->capture_default_str();
  app.add_option("--seeds", seeds, "How many consecutive seeds to run")->capture_default_str();
  app.add_option("--steps", steps, "Random steps per seed before quiescence")
      ->capture_default_str();
  app.add_option("--variant", variant,
                 "Deliberately broken server: no-dedup, skip-left-scope, drop-conflicts, "
                 "cursor-before-commit or scope-at-page-start (to show the checks catch them)")
      ->check(CLI::IsMember({"", "no-dedup", "skip-left-scope", "drop-conflicts",
                             "cursor-before-commit", "scope-at-page-start"}));
  app.add_flag("--verbose", verbose, "Print each seed's statistics");
  app.add_option("--prune-pct", prune_pct,
                 "Run the server's pruner in this percentage of steps (retention 120 simulated "
                 "seconds)")
      ->check(CLI::Range(0, 3))
      ->capture_default_str();
  app.set_version_flag("--version", crmsync::VersionText("crm-sim"),
                       "Print the version, git revision and sync protocol versions, then exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // every usage error exits 2
  }

  int failed = 0;
  std::map<std::string, int64_t> totals;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < seeds; ++i) {
    crmsync::sim::SimOptions options;
    options.seed = seed + static_cast<uint64_t>(i);
    options.steps = steps;
    options.variant = variant;
    options.prune_pct = prune_pct;
    crmsync::sim::SimWorld world(options);
    crmsync::sim::SimReport report = world.Run();
    for (const auto& [k, v] : report.stats) totals[k] += v;
    if (verbose)
      std::printf("seed %llu: %s\n", (unsigned long long)options.seed, report.Summary().c_str());
    if (!report.ok) {
      ++failed;
      std::printf("seed %llu FAILED:\n", (unsigned long long)options.seed);
      for (const auto& v : report.violations) std::printf("  - %s\n", v.c_str());
      std::printf("  replay: %s\n", world.ReplayCommand().c_str());
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%d seeds x 8 devices, %d steps each, %.1f s:", seeds, steps, seconds);
  for (const auto& [k, v] : totals) std::printf(" %s=%lld", k.c_str(), (long long)v);
  std::printf("\n%d passed, %d failed\n", seeds - failed, failed);
  return failed == 0 ? 0 : 1;
}
