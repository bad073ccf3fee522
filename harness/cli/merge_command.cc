// `faultline merge REPORT... [--report-json F] [--report-junit F]
//                            [--report-html F] [--report-md F]`
//
// Combines the JSON reports of the shards of one sweep (`faultline sweep
// --shard K/N --report-json ...`) or of one scenario run (`faultline run
// --shard K/N --report-json ...`) into the report the unsharded run makes:
// identical apart from the timings and the record of how it was split
// (execution.shards). Sweep reports must be of one sweep (same run-list
// digest) and cover every run exactly once; otherwise merge says which
// runs are missing or doubled and exits 2.
// Exit status: 0 every run passed; 1 some run failed; 2 the reports could
// not be merged or written.
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "harness/cli/commands.h"
#include "harness/report/report.h"
#include "harness/sweep/sweep.h"

namespace faultline {
namespace {

struct MergeArgs {
  std::vector<std::string> inputs;
  std::string json, junit, html, md;
};

[[noreturn]] void Exit(int code) { throw CLI::RuntimeError(code); }

int Main(const MergeArgs& a) {
  std::vector<nlohmann::json> docs;
  for (const auto& path : a.inputs) {
    std::ifstream in(path);
    if (!in) {
      std::cerr << "faultline merge: cannot read " << path << "\n";
      return 2;
    }
    try {
      docs.push_back(nlohmann::json::parse(in));
    } catch (const nlohmann::json::exception& e) {
      std::cerr << "faultline merge: " << path << ": not JSON: " << e.what() << "\n";
      return 2;
    }
  }
  auto is_sweep = [](const nlohmann::json& j) { return j.contains("points"); };
  const bool sweep = is_sweep(docs.front());
  for (size_t i = 0; i < docs.size(); ++i) {
    if (is_sweep(docs[i]) != sweep) {
      std::cerr << "faultline merge: " << a.inputs[i] << " is a "
                << (sweep ? "scenario" : "sweep") << " report, " << a.inputs[0] << " a "
                << (sweep ? "sweep" : "scenario") << " report\n";
      return 2;
    }
  }
  if (sweep) {
    std::vector<SweepReport> shards;
    for (size_t i = 0; i < docs.size(); ++i) {
      auto r = SweepReport::FromJson(docs[i]);
      if (!r) {
        std::cerr << "faultline merge: " << a.inputs[i] << ": " << r.error().Message() << "\n";
        return 2;
      }
      shards.push_back(std::move(*r));
    }
    auto merged = MergeSweepReports(shards);
    if (!merged) {
      std::cerr << "faultline merge: " << merged.error().Message() << "\n";
      return 2;
    }
    if (!WriteSweepReports(*merged, {a.json, a.junit, a.html, a.md}, "faultline merge")) return 2;
    std::printf("merged %zu sweep reports: %s on %s: %zu points, %zu runs, %zu passed, %zu failed\n",
                shards.size(), merged->workload.c_str(), merged->backend.c_str(), merged->points,
                merged->runs, merged->passed, merged->failed);
    if (!merged->errors.empty()) return 2;
    return merged->failed == 0 ? 0 : 1;
  }
  std::vector<RunSummary> shards;
  for (size_t i = 0; i < docs.size(); ++i) {
    RunSummary s;
    std::string error;
    if (!RunSummaryFromJson(docs[i], &s, &error)) {
      std::cerr << "faultline merge: " << a.inputs[i] << ": " << error << "\n";
      return 2;
    }
    shards.push_back(std::move(s));
  }
  RunSummary merged;
  std::string error;
  if (!MergeRunSummaries(shards, &merged, &error)) {
    std::cerr << "faultline merge: " << error << "\n";
    return 2;
  }
  bool ok = true;
  auto write = [&](const std::string& path, const std::string& text) {
    if (path.empty()) return;
    if (std::string e = WriteReport(path, text); !e.empty()) {
      std::cerr << "faultline merge: " << e << "\n";
      ok = false;
    }
  };
  write(a.json, DumpJson(ReportJson(merged), 2) + "\n");
  write(a.junit, ReportJunit(merged));
  write(a.html, ReportHtml(merged));
  if (!a.md.empty()) write(a.md, ReportText(merged));
  std::cout << ReportText(merged);
  if (!ok) return 2;
  return merged.ok() ? 0 : 1;
}

}  // namespace

void AddMergeCommand(CLI::App& app) {
  auto args = std::make_shared<MergeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "merge", "Combine the JSON reports of the shards of one sweep or scenario run into one "
               "report (JSON, JUnit, HTML, Markdown), as the unsharded run would write it");
  cmd->add_option("REPORT", args->inputs, "the shards' JSON reports")->required();
  cmd->add_option("--report-json", args->json, "write the merged JSON report here");
  cmd->add_option("--report-junit", args->junit, "write the merged JUnit XML here");
  cmd->add_option("--report-html", args->html, "write the merged HTML report here");
  cmd->add_option("--report-md", args->md,
                  "write the merged Markdown report here (scenario runs: the text summary)");
  cmd->callback([args] {
    int code = Main(*args);
    if (code != 0) Exit(code);
  });
}

}  // namespace faultline
