#include "harness/sweep/scenario_sweep.h"

#include "harness/adapters/profile.h"
#include "harness/sweep/sweep.h"

namespace faultline {

std::vector<CheckResult> RunScenarioSweep(const Scenario& s, const std::string& runtime,
                                          const RunEnv& env, std::string* not_applicable) {
  std::unique_ptr<SweepBackend> backend;
  std::string backend_name;
  if (runtime == "fake") {
    backend = MakeFakeSweepBackend();
    backend_name = "fake";
  } else if (runtime == "builtin") {
    KernelBackendOptions o;
    o.image_tar = env.image_tar;
    backend = MakeKernelSweepBackend(o);
    backend_name = "kernel";
  } else {
    // Any runtime profile: the seccomp supervisor around its binary.
    std::vector<std::string> search = env.profile_search;
    if (search.empty()) search = ProfileSearchPath();
    ScenarioError err;
    auto p = FindProfile(runtime, search, &err);
    if (!p || p->kind == "none") {
      *not_applicable = "no sweep backend for the " + runtime + " runtime" +
                        (p ? " (its profile has no binary)" : ": " + err.Message());
      return {};
    }
    SeccompBackendOptions o;
    o.runtime = runtime;
    o.profile_search = search;
    if (auto it = env.runtime_binaries.find(runtime); it != env.runtime_binaries.end()) {
      o.binary = it->second;
    } else if (p->kind == "mydocker" && p->binary == "mydocker") {
      o.binary = env.mydocker_bin;
    }
    o.image_tar = env.image_tar;
    backend = MakeSeccompSweepBackend(o);
    backend_name = "seccomp --runtime " + runtime;
    if (!o.binary.empty() && o.binary != env.mydocker_bin) {
      backend_name += " --runtime-binary " + o.binary;
    }
  }
  SweepConfig config;
  config.workload = WorkloadFromScenario(s);
  config.replay_prefix = "faultline sweep --backend " + backend_name;
  if (s.sweep && !s.sweep->errnos.empty()) {
    auto e = ParseErrnoList(s.sweep->errnos);
    if (!e) return {CheckResult{"sweep.setup", false, e.error().Message()}};
    config.errnos = *e;
    config.errnos_given = true;
  }
  if (s.sweep && !s.sweep->modes.empty()) {
    auto m = ParseModeList(s.sweep->modes);
    if (!m) return {CheckResult{"sweep.setup", false, m.error().Message()}};
    config.modes = *m;
  }
  SweepReport report = RunSweep(*backend, config);
  backend->Finish();
  if (!report.errors.empty()) {
    std::string detail;
    for (const auto& e : report.errors) detail += (detail.empty() ? "" : "; ") + e;
    return {CheckResult{"sweep.setup", false, detail}};
  }
  CheckResult c{"sweep", report.failed == 0, ""};
  if (!c.ok) {
    c.detail = std::to_string(report.failed) + " of " + std::to_string(report.passed + report.failed) +
               " runs failed (" + std::to_string(report.points) + " points)";
    size_t shown = 0;
    for (const auto& r : report.results) {
      if (r.passed) continue;
      if (++shown > 5) break;
      c.detail += "; point " + std::to_string(r.point) + " " + r.process + " " + r.op + ": " +
                  (r.failures.empty() ? r.outcome : r.failures.front()) + " (replay: " + r.replay +
                  ")";
    }
  }
  return {c};
}

}  // namespace faultline
