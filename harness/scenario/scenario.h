// Scenario: one declarative file (YAML, or JSON) that says what to run in a
// container and what to expect. The format is documented in
// docs/scenarios.md; this header is its C++ model and its parser.
//
// Contract:
//  * ParseScenarioFile never throws and never exits: a broken file gives a
//    ScenarioError naming the file, the line and column (1-based, from
//    yaml-cpp's Mark) and the field ("expect.exit", "limits.memory"), so
//    the runner can report it and go on with the other files.
//  * Unknown keys are errors (a typo must not turn a check off).
//  * `labels` must be a one-line flow list ("labels: [privileged, mock]"):
//    scenarios/CMakeLists.txt reads it with a regex at configure time, and
//    the parser refuses any other form so that both always agree.
//  * The `faults` section is kept as a YAML node and handed to the fault
//    plan parser (faults/plan.h) unchanged; `sweep` is parsed here
//    (errnos, modes) and handed to the sweep engine.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "faults/plan.h"
#include "harness/scenario/hostile_image.h"
#include "runtime/cgroups/cgroups.h"
#include "runtime/util/error.h"

namespace faultline {

// The runtimes a scenario can name. "builtin" is the in-process core over
// LinuxSys, "fake" the same core over FakeKernel (no privileges),
// "mydocker" the mydocker binary, "runc" and "crun" the OCI runtimes.
// builtin, fake and every runtime profile on ProfileSearchPath(profile_dir)
// (mydocker, runc, crun always): what a scenario's `runtimes:` may list.
std::vector<std::string> KnownRuntimes(const std::string& profile_dir = "");

// Isolation checks the harness knows (harness/scenario/isolation.h).
const std::vector<std::string>& KnownIsolationChecks();
// Probe names (harness/probes/probes.h).
const std::vector<std::string>& KnownProbes();

struct ScenarioError {
  std::string file;
  int line = 0;    // 1-based; 0 when the whole file is at fault
  int column = 0;  // 1-based
  std::string field;
  std::string message;
  // "scenarios/x.yaml:12:3: expect.exit: not an integer"
  std::string Message() const;
};

struct VolumeSpec {
  // A directory the harness creates under the run's scratch directory
  // (a name, not a path: "data" -> <scratch>/volumes/<run id>/data).
  std::string host;
  std::string container;  // absolute path inside the container
  bool read_only = false;
  // Files the harness writes into the host directory before the run.
  std::map<std::string, std::string> files;
};

struct OutputPattern {
  std::string regex;  // ECMAScript, multiline (^ $ at line ends), searched
  int line = 0;       // where it was written, for messages
};

struct ExpectedError {
  std::string step;     // substring of the runtime error's step/message
  std::string errno_name;  // "EIO"; empty: any
};

struct Expectations {
  // Exit status of the container (or of the runtime when it fails first).
  std::optional<int> exit_code;
  bool exit_nonzero = false;  // "exit: nonzero"
  std::vector<OutputPattern> stdout_has, stdout_lacks, stderr_has, stderr_lacks;
  // A runtime failure that names a step (built-in runtime: the Error; other
  // runtimes: their stderr must contain the step text).
  std::optional<ExpectedError> error;
  std::vector<std::string> isolation;  // checks run inside the container
  std::vector<std::string> probes;     // default: every probe
  // The container's cgroup directories must be seen while it runs.
  bool cgroup_live = false;
  // The scenario's teardown must be idempotent: run it a second time.
  bool teardown_twice = false;
  // The hostile image (image: {import: true}) must be refused: its import
  // fails with an error containing this text; nothing runs then.
  std::string image_error;
};

struct SweepSpec {
  std::vector<std::string> errnos;  // "EIO", "ENOMEM", ...
  std::vector<std::string> modes;   // "transient", "persistent", "crash"
  int line = 0;
};

struct LoadSpec {
  int count = 1;     // containers to run in total
  int parallel = 1;  // how many at once
  // Each container gets hostname "<hostname>-<i>" and a file /id holding i
  // in its own volume; the command must print both back.
  bool crosstalk_check = false;
  // Check mount and cgroup counts after every `sample_every` runs stay flat.
  int sample_every = 0;
};

struct SetupSpec {
  // Make the run's scratch directory a shared mount (in the harness's own
  // namespace) before the run: the rootfs lives under a shared parent.
  bool shared_parent = false;
  // Create a SysV shared memory segment on the host for the run.
  bool host_shm = false;
};

// Checks after one step of a `steps:` scenario (docs/scenarios.md).
struct StepFileCheck {
  std::string path;          // absolute, on the host ({scratch} expanded by the runner)
  bool exists = true;
  std::string contains;      // a regex its content must match; "" = any
  int line = 0;
};
struct StepExpect {
  // The step's own status (a run's or exec's command, a verb's exit).
  std::optional<int> exit_code;
  bool exit_nonzero = false;
  bool exit_any = false;  // "exit: any": the status is not checked
  std::vector<OutputPattern> stdout_has, stdout_lacks, stderr_has, stderr_lacks;
  std::vector<std::string> running;  // containers that must be running now
  std::vector<std::string> gone;     // containers the runtime must not know any more
  std::vector<std::string> cgroup_live;  // containers whose cgroup must exist now
  std::vector<std::string> held;  // containers whose run's pause_at call is held now
  // Probes compared with the snapshot before the first step: no difference.
  std::vector<std::string> probes;
  // probe -> regex: an item matching it must have appeared since the first
  // snapshot (a holder seen while it holds the workspace, ...).
  std::map<std::string, std::string> probe_shows;
  std::vector<StepFileCheck> files;
  std::optional<double> within_seconds;  // the step took at most this long
  bool any = false;                      // the step has an expect at all
};

// One step: an action on a named container or on the host.
struct Step {
  // Container actions: run, create, start, exec, kill, kill_runtime, stop,
  // rm, recover, gc, ps, pause, resume, wait, logs, release_call. Host actions:
  // hold_mounts, release, freeze, thaw, sleep, sh; check (checks only).
  std::string action;
  std::string target;  // the container's (or holder's) name; "" for gc, ps, sleep, sh, check
  std::vector<std::string> command;  // run, create, exec; sh: [sh, -c, text]
  bool detach = false;               // run
  bool force = false;                // rm
  std::string signal = "KILL";       // kill: a signal name (TERM, KILL, ...)
  std::optional<int> timeout;        // stop -t; wait: seconds
  double seconds = 0;                // sleep
  // run with detach: hold this call of the run (a one-rule pause plan,
  // FaultPlan::PausePointFromYamlNode); the step returns once it is held.
  // release_call NAME lets it go on. Empty: no pause point.
  FaultPlan pause_at;
  StepExpect expect;
  int line = 0;
  // "step 3 (rm a, line 12)": for messages.
  std::string Label(size_t index) const;
};

// Whether an action is the host's (the runner does it) or the runtime's.
bool IsHostAction(const std::string& action);
const std::vector<std::string>& KnownStepActions();

struct Scenario {
  std::string name;  // path under scenarios/ without extension
  std::string file;  // the file it was read from
  std::string description;
  std::vector<std::string> labels;
  std::vector<std::string> runtimes;  // empty: every runtime
  std::string image = "busybox";
  // image: a mapping (hostile_image.h, docs/scenarios.md): the image the
  // harness builds; `image` is then its name.
  std::optional<HostileImage> hostile_image;
  std::vector<std::string> command;
  // Instead of one command: a sequence of actions (docs/scenarios.md).
  std::vector<Step> steps;
  std::string hostname;               // empty: the runtime's default
  std::vector<std::string> cap_add;   // docker's --cap-add names ("SYS_ADMIN")
  std::vector<std::string> env;       // KEY=VAL
  mydocker::CgroupLimits limits;
  std::vector<VolumeSpec> volumes;
  YAML::Node faults;                  // null when absent
  std::optional<SweepSpec> sweep;
  LoadSpec load;
  SetupSpec setup;
  int timeout_seconds = 60;
  Expectations expect;

  bool AppliesTo(const std::string& runtime) const;
};

// Parses one file. `root` is the scenarios directory: the name is the path
// relative to it without the extension ("isolation/uts").
std::optional<Scenario> ParseScenarioFile(const std::string& path,
                                          const std::string& root,
                                          ScenarioError* error);
// The same from text (tests); `file` is used in names and messages.
std::optional<Scenario> ParseScenarioText(const std::string& text,
                                          const std::string& file,
                                          const std::string& name,
                                          ScenarioError* error);

// Every *.yaml, *.yml and *.json under each path (a file or a directory,
// recursively), sorted, skipping any "runtimes" directory (expectation
// files). Each file is paired with the scenarios root it belongs to (the
// nearest ancestor holding a "runtimes" directory, else the directory
// given).
struct ScenarioFile {
  std::string path;
  std::string root;
};
std::vector<ScenarioFile> FindScenarioFiles(const std::vector<std::string>& paths,
                                            std::vector<std::string>* errors);

// A difference a peer runtime has by design (scenarios/runtimes/<rt>.yaml).
struct ExpectedDifference {
  std::string scenario;
  std::string difference;  // what differs, one line
  std::string reason;      // why, one line
  // Expectations that replace the scenario's (only the keys given);
  // without them the scenario is expected to fail on this runtime.
  std::optional<YAML::Node> expect;
  // Only for these versions of the runtime ("<1.2", ">=1.1.15,<1.3"; ""
  // for every version): a defect fixed in a release is written once.
  std::string versions;
  std::string file;
  int line = 0;
};

// Parses a mapping of scenario name -> {difference, reason, versions,
// expect} (the `differences:` of a runtime profile) into *out. Each bad
// entry goes to *errors (file, line, field) and is dropped.
void ParseExpectedDifferences(const YAML::Node& map, const std::string& file,
                              const std::string& field,
                              std::map<std::string, ExpectedDifference>* out,
                              std::vector<ScenarioError>* errors);

// The differences of <root>/runtimes/<runtime>.yaml (its `differences:`
// and those of the profiles it extends, every version); a missing file is
// an empty map. Errors (file, line, field) go to *errors and the entry is
// dropped.
std::map<std::string, ExpectedDifference> LoadExpectedDifferences(
    const std::string& root, const std::string& runtime,
    std::vector<ScenarioError>* errors);

// Applies an override (the keys of an `expect` mapping) to expectations.
std::optional<Expectations> ApplyExpectOverride(const Expectations& base,
                                                const YAML::Node& node,
                                                const std::string& file,
                                                ScenarioError* error);

}  // namespace faultline
