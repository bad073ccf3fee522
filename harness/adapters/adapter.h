// Runtime adapters: one interface over every runtime the harness drives.
//
//   builtin   the in-process core (mydocker::Runtime) over LinuxSys, optionally
//             under FaultInjectingSys with the scenario's fault plan; each run
//             is a fresh `faultline __run-builtin` process (its stdout and
//             stderr are the container's, a crash stays contained)
//   fake      the same core over FakeKernel, in the harness process: no
//             privileges, no kernel side effects (the `mock` label)
//   mydocker  the mydocker binary
//   any OCI runtime described by a profile (harness/adapters/profile.h:
//             scenarios/runtimes/runc.yaml, crun.yaml, the peers'
//             runc-1.3.6.yaml, ...): an OCI bundle (harness/oci) over the
//             same busybox image and an overlay workspace the harness owns;
//             create, state, start, wait, delete
//
// Contract: Prepare once per `faultline run` (image import), BeginScenario
// before each scenario (fake: a fresh kernel), then Run from any number of
// threads at once (fake serializes). Run never throws; everything it learned
// is in the ContainerResult. ProbeSys and ProbeScopeFor give the runner what
// to snapshot so the same probe code serves every runtime.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "faults/plan.h"
#include "harness/probes/probes.h"
#include "harness/scenario/hostile_image.h"
#include "runtime/cgroups/cgroups.h"
#include "runtime/rootfs/init.h"
#include "runtime/sys/sys.h"
#include "runtime/util/error.h"

namespace faultline {

// Shared by every run of one `faultline run`.
struct RunEnv {
  std::string scratch;        // per-run scratch directory (absolute)
  std::string cgroup_parent;  // per-run cgroup parent, e.g. "faultline-1234"
  std::string image_tar;      // the busybox docker-export tar
  std::string self_exe;       // the faultline binary (workers)
  std::string mydocker_bin;   // the mydocker binary
  bool private_mounts = true; // the harness runs in its own mount namespace
  // Where runtime profiles are found (ProfileSearchPath()).
  std::vector<std::string> profile_search;
  // --runtime-binary: profile name -> the binary to run instead of its own.
  std::map<std::string, std::string> runtime_binaries;
};

struct ContainerRequest {
  std::string id;  // unique per run: [a-z0-9-]
  std::string image = "busybox";  // or a hostile image AddImage made
  std::vector<std::string> argv;
  std::vector<std::string> env;  // KEY=VAL
  std::string hostname;          // "" -> the runtime's default
  std::vector<std::string> cap_add;  // added to docker's default set
  mydocker::CgroupLimits limits;
  std::vector<mydocker::Volume> volumes;  // host paths already exist
  YAML::Node faults;             // a fault plan (builtin and fake only)
  int timeout_seconds = 60;
  // Called with the container's write layer after the container exited and
  // before it is removed (adapters that own the workspace: runc, crun).
  std::function<void(const std::string& upper)> before_teardown;
};

struct ContainerResult {
  bool ran = false;             // the runtime was started at all
  int exit_code = -1;           // the container's, or the runtime's on failure
  std::string out, err;         // the container's stdout/stderr (and the runtime's)
  bool runtime_error = false;   // the runtime failed before/around the command
  std::string error_step;       // builtin: Error::step; others: "" (see error_message)
  int error_errno = 0;
  std::string error_message;    // the whole message (builtin: Error::Message())
  bool timed_out = false;
  bool crashed = false;         // the runtime process died by a signal
  std::vector<std::string> live_cgroups;  // cgroup dirs seen while it ran
  bool live_checked = false;    // the adapter looked while it ran
  std::string replay;           // a shell command that repeats this run
  std::vector<std::string> notes;
  double seconds = 0;
};

// One container action of a `steps:` scenario (scenario.h, Step), as the
// runner hands it to an adapter. The adapter maps it to its runtime's verbs
// (mydocker's CLI, the in-process core, an OCI runtime's profile verbs).
struct StepRequest {
  std::string action;  // run create start exec kill kill_runtime stop rm recover gc ps
                       // pause resume wait logs
  std::string name;    // the scenario's container name ("" for gc, ps)
  ContainerRequest container;  // run, create: what to run (container.id: unique per run)
  std::vector<std::string> argv;  // exec
  bool detach = false;            // run
  bool force = false;             // rm
  std::string signal = "KILL";    // kill
  std::optional<int> timeout;     // stop -t, wait
  // run with detach: hold this call of the run (scenario.h, Step::pause_at);
  // the step returns once the call is held, release_call lets it go on.
  FaultPlan pause_at;
};

struct StepOutcome {
  // The runtime has no such action (or not in this state): the scenario is
  // not applicable on it, with this reason. Never a silent skip.
  std::string not_applicable;
  int exit_code = 0;    // the verb's (run, exec, wait: the command's)
  std::string out, err;
  bool timed_out = false;
  std::string replay;   // the runtime command it ran, when there is one
  std::vector<std::string> notes;
};

// What the runtime says about a container of the steps (state, ps).
struct ContainerView {
  bool known = false;    // the runtime still has it (state, directory)
  bool running = false;  // its init is alive (and not stopped)
  std::string status;    // the runtime's word: creating, created, running, paused, stopped
  pid_t pid = 0;         // its init, in the host's pid namespace; 0 unknown
};

class RuntimeAdapter {
 public:
  virtual ~RuntimeAdapter() = default;
  virtual std::string name() const = 0;
  // The profile family ("runc" for runc-1.3.6): what a scenario's
  // `runtimes:` list names. Defaults to name().
  virtual std::string family() const { return name(); }
  // The runtime's version after Prepare ("" when it has none): selects the
  // expected differences that hold for it.
  virtual std::string version() const { return ""; }
  // Imports the image, makes the adapter's directories; once per run.
  virtual mydocker::Outcome Prepare() = 0;
  // Before each scenario.
  virtual mydocker::Outcome BeginScenario() { return mydocker::Outcome::Ok(); }
  virtual bool SupportsFaults() const { return false; }
  // Builds a scenario's hostile image (hostile_image.h) where this runtime
  // takes its images (the mydocker store; runc and crun: a layer for their
  // bundles); ContainerRequest::image may name it afterwards. The error of
  // a refused import is returned as is (the scenario may expect it).
  virtual mydocker::Outcome AddImage(const HostileImage& image) = 0;
  virtual ContainerResult Run(const ContainerRequest& req) = 0;
  // Tears the container down again (after its run already did): must
  // succeed or say "not found" cleanly. Returns the error text, "" if fine.
  virtual std::string TeardownAgain(const std::string& id, bool* not_found) = 0;
  // What /proc/self/cgroup shows inside for this container; "/x/*" means any
  // child of /x (when the runtime picks the name).
  virtual std::string ExpectedCgroup(const std::string& id) const = 0;
  // The Sys the probes read (LinuxSys, or the adapter's FakeKernel).
  virtual mydocker::Sys& ProbeSys() = 0;
  virtual ProbeScope Scope() const = 0;
  // The image layer directory as the probes' Sys sees it.
  virtual std::string ImageLayer() const = 0;
  // The hostname the harness's side sees (the fake's model, or the host's).
  virtual std::string HostHostname() = 0;
  // True when the container's output, isolation and OOM behaviour come from
  // a real kernel (false for fake: isolation checks cannot run there).
  virtual bool RealKernel() const { return true; }

  // ---- steps (scenario.h, Step) ----
  // "" when the runtime can do the action (detach: run -d); else why not
  // (the scenario is then not applicable, with that reason). Asked for
  // every step before the first one runs.
  virtual std::string StepLacks(const std::string& action, bool detach) const {
    (void)detach;
    return name() + " has no step actions (" + action + ")";
  }
  // "" when a detached run can be held at a call (pause_at) and released
  // (release_call); else why not (the scenario is then not applicable).
  virtual std::string PauseLacks() const {
    return "the " + name() + " adapter cannot hold a call of a run (pause_at): its steps run "
           "the runtime binary as a plain process, not under the seccomp supervisor whose "
           "Verdict::Pause would hold it";
  }
  // The call a pause_at holds for the container NAME: "" while it is held
  // (its run alive, the hold within its bound), else why not.
  virtual std::string HeldCall(const std::string& name) {
    return "the " + this->name() + " adapter holds no call of " + name;
  }
  // Does the action; never throws. A container run in the background (run
  // with detach, create) stays the adapter's until rm, recover or EndSteps.
  virtual StepOutcome Step(const StepRequest& req) {
    StepOutcome o;
    o.not_applicable = StepLacks(req.action, req.detach);
    return o;
  }
  // The runtime's view of a container of the steps (by its scenario name).
  virtual ContainerView Inspect(const std::string& name) {
    (void)name;
    return {};
  }
  // After the last step's checks and the final snapshot: removes every
  // container of the steps still there (force), ends the processes it
  // started for them (by pid); what it had to do goes to *notes.
  virtual void EndSteps(std::vector<std::string>* notes) { (void)notes; }
};

// The signal number of "TERM", "KILL", ... (scenario.h's list); 0 unknown.
int SignalNumber(const std::string& name);

// builtin, fake, or the profile of that name on env.profile_search; null
// with *error (the profile's parse error, file:line:column: field) otherwise.
std::unique_ptr<RuntimeAdapter> MakeAdapter(const std::string& runtime, const RunEnv& env,
                                            std::string* error = nullptr);

// `run --name ID [--hostname H] [-eK=V...] [-vH:C[:ro]...] [limits] busybox
// ARGV...`: the mydocker command line of a request (after the global flags).
std::vector<std::string> MydockerRunArgs(const ContainerRequest& req);

// The real host's hostname (uname).
std::string HostHostnameNow();

// The probe scope of a mydocker store at root (the built-in core and the
// binary): the whole root, image layers pruned (checked byte for byte).
// With the outside probe (probes.h): scratch, the run's scratch directory,
// is left out of it.
inline ProbeScope MydockerScope(const std::string& root, const std::string& cgroup_parent,
                                const std::string& scratch = {}) {
  ProbeScope s;
  s.dirs = {root};
  s.cgroup_parent = cgroup_parent;
  s.dirs_prune = {root + "/images"};
  std::vector<std::string> skip;
  if (!scratch.empty()) skip.push_back(scratch);
  return WithHostOutside(std::move(s), std::move(skip));
}

}  // namespace faultline
