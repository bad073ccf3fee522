// The `steps:` executor (scenario.h, Step; docs/scenarios.md): a sequence
// of actions on named containers and on the host, with checks after any
// step, between one probe snapshot before the first step and one after the
// last.
//
// Contract:
//  * StepsNotApplicable is asked before anything runs: a step whose action
//    the runtime lacks (RuntimeAdapter::StepLacks), or a host action on the
//    fake kernel, makes the whole scenario not applicable, with the step and
//    the reason. A step can still answer not-applicable while it runs (an
//    OCI runtime has no process of its own to kill once the container
//    started): the scenario is then not applicable too, never half-passed.
//  * Every step's checks are named "stepN.<check>" (N 1-based); the final
//    comparison is "probe.<name>" as for a one-command scenario.
//  * After the last step and the final snapshot, the executor thaws what it
//    froze, ends its mount-namespace holders (by pid), asks the adapter to
//    remove every container of the steps (EndSteps), then hands the final
//    differences to clean_leftovers (the runner removes what the runtime
//    left, after it was recorded).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "harness/adapters/adapter.h"
#include "harness/scenario/runner.h"
#include "harness/scenario/scenario.h"

namespace faultline {

struct StepsContext {
  const RunEnv* env = nullptr;
  std::string key;  // the scenario's key on this runtime: container ids are <key>-<name>
  std::function<void(const std::vector<ProbeDiff>&)> clean_leftovers;
};

// "" when every step can run on the adapter; else "step N (...): why".
std::string StepsNotApplicable(const Scenario& s, const RuntimeAdapter& a);

// Runs the steps; the checks go to *checks, notes to r->notes. Returns ""
// or, when a step turned out not applicable while running, why.
std::string RunSteps(const Scenario& s, RuntimeAdapter& a, const StepsContext& ctx,
                     ScenarioResult* r, std::vector<CheckResult>* checks);

// The container id the steps give the scenario's container NAME.
std::string StepContainerId(const std::string& key, const std::string& name);

// Checks of one step's outcome against its expect (pure; unit-tested):
// exit (default 0), stdout/stderr patterns, the step's time.
std::vector<CheckResult> CheckStepOutcome(const std::string& prefix, const StepExpect& e,
                                          const StepOutcome& o, double seconds,
                                          bool real_kernel);

}  // namespace faultline
