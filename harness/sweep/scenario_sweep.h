// A scenario's `sweep:` section, run by the scenario runner (faultline run):
// the scenario's container is the workload, the section's errnos and modes
// (default: all) the sweep's, and the report becomes runner checks.
#pragma once

#include <string>
#include <vector>

#include "harness/adapters/adapter.h"
#include "harness/scenario/runner.h"
#include "harness/scenario/scenario.h"

namespace faultline {

// runtime "fake": FakeKernel backend; "builtin": the real kernel (root,
// env.image_tar); "mydocker" (env.mydocker_bin), "runc", "crun": the
// binary under the seccomp supervisor (root). Any other runtime is not
// applicable (*not_applicable says why; no checks are returned).
// Checks: "sweep" (every run passed; the detail lists the first failures
// with their replay commands) and "sweep.setup" when it could not run.
std::vector<CheckResult> RunScenarioSweep(const Scenario& s, const std::string& runtime,
                                          const RunEnv& env, std::string* not_applicable);

}  // namespace faultline
