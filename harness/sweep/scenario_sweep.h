// A scenario's `sweep:` section, run by the scenario runner (faultline run):
// the scenario's container is the workload, the section's errnos and modes
// (default: all) the sweep's, and the report becomes runner checks.
#pragma once

#include <string>
#include <vector>

#include "harness/scenario/runner.h"
#include "harness/scenario/scenario.h"

namespace faultline {

// runtime "fake": FakeKernel backend; "builtin": the real kernel (root,
// image_tar). Any other runtime is not applicable (*not_applicable says
// why; no checks are returned): faults are injected in-process.
// Checks: "sweep" (every run passed; the detail lists the first failures
// with their replay commands) and "sweep.setup" when it could not run.
std::vector<CheckResult> RunScenarioSweep(const Scenario& s, const std::string& runtime,
                                          const std::string& image_tar,
                                          std::string* not_applicable);

}  // namespace faultline
