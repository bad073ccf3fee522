// Shared by the adapters of the mydocker core (builtin, fake, the mydocker
// binary) for `steps:` scenarios (adapter.h, StepRequest): the runtime's
// view of a container read from its state store, ps text, and the runtime
// process a background run is (for kill_runtime and wait).
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "harness/adapters/adapter.h"
#include "harness/adapters/process.h"
#include "runtime/container/runtime.h"
#include "runtime/container/state.h"
#include "runtime/sys/sys.h"

namespace faultline {

// The container whose id or name is id_or_name in the state store at
// state_root: known while its directory exists; running while its status
// is "running" and its recorded init is alive (start time checked).
ContainerView ViewFromStore(mydocker::Sys& sys, const std::string& state_root,
                            const std::string& id_or_name);

// `ps -a` as text: "ID NAME STATUS PID" per container, sorted by id.
std::string PsText(const std::vector<mydocker::ContainerState>& list);

// A run the adapter started in the background (run with detach): the
// runtime process (the builtin worker, `mydocker run`) and its files.
struct BackgroundRun {
  std::string id;
  pid_t pid = -1;  // the runtime process the harness spawned; -1 once waited for
  std::string out, err;  // its stdout and stderr files
  std::string result;    // builtin: the worker's result file
  int exit_code = -1;
  bool waited = false;
};

// Waits until the container id is running in the store (true), or the
// run's process ended first or timeout_s passed (false, *why set).
bool WaitUntilRunning(mydocker::Sys& sys, const std::string& state_root, BackgroundRun& run,
                      double timeout_s, std::string* why);

// Starts opts (stdout and stderr to run.out and run.err) as run's runtime
// process and waits until its container is running: the step's outcome
// (exit 125 with the reason when it could not start or did not get there).
StepOutcome StartInBackground(mydocker::Sys& sys, const std::string& state_root,
                              BackgroundRun& run, SpawnOptions opts, double timeout_s);

// SIGKILLs the runtime process of a background run (the pid the harness
// spawned) and reaps it.
StepOutcome KillRuntimeProcess(BackgroundRun& run);

// Collects the runtime process of a background run once its container is
// removed (it ends with it), or ends it after 10 s; notes "<label> ended:
// exit N". A run already collected is left as it is.
void ReapBackgroundRun(BackgroundRun& run, const std::string& label, StepOutcome* o);

// An in-process Runtime::Exec's result as a step's outcome (its output
// already in o): the command's status, or 125 and the runtime's error.
void AddExecResult(mydocker::Expected<mydocker::ExecResult>& e, StepOutcome* o);

}  // namespace faultline
