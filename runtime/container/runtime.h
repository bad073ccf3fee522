// Runtime: one mydocker run, end to end, and the commands around it (ps, rm,
// gc). Every kernel call goes through the Sys given to the constructor.
//
// Where things live: images under config.root (on the disk); each container's
// directory (state.json and its workspace: init layer, write layer, overlay)
// under <state root>/containers/<id>/, the state root being config.state_root
// or, when that is empty, config.root. A state root on a tmpfs (as runc's
// /run/runc) keeps the per-run writes off the disk.
//
// Run, in order (each step undone in reverse when a later one fails):
//   0. the store lock (<state root>/containers.lock): the image is looked
//      up, the name checked and step 1 done under it; released after 1
//   1. <state root>/containers/<id>/, its lock (held until Run returns:
//      rm and gc leave a container alone while its run lives) and
//      state.json ("creating"), written durably
//   2. the workspace (init layer, write layer, overlay mount)
//   3. the cgroup with its limits
//   4. pipes; clone(NEWNS|NEWUTS|NEWPID|NEWIPC|NEWNET) running RunInit
//   5. cgroup attach of the child; state "running"; the command written to
//      the command pipe (the child's go signal)
//   6. the report pipe: EOF = exec succeeded; else {step, errno}
//   7. with -t, the console relay (console.h) until the container's side of
//      the pty is closed; waitpid; then teardown: cgroup, workspace, the
//      container directory.
//
// -t: a pty pair is opened on the host before clone; its slave is the
// container's controlling terminal, fds 0-2 and /dev/console. With -i the
// caller's stdin is relayed to it (the caller's terminal in raw mode, if it
// is one, restored on every path); its output goes to the caller's stdout.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "runtime/cgroups/cgroups.h"
#include "runtime/container/state.h"
#include "runtime/image/image_store.h"
#include "runtime/rootfs/hardening.h"
#include "runtime/rootfs/init.h"
#include "runtime/sys/fs_util.h"
#include "runtime/sys/sys.h"
#include "runtime/util/error.h"
#include "runtime/workspace/workspace.h"

namespace mydocker {

// docker's exit codes for failures of the runtime itself.
constexpr int kExitRuntimeError = 125;
constexpr int kExitCannotExecute = 126;
constexpr int kExitNotFound = 127;

constexpr int kContainerCloneFlags =
    0x00020000 /*CLONE_NEWNS*/ | 0x04000000 /*CLONE_NEWUTS*/ |
    0x20000000 /*CLONE_NEWPID*/ | 0x08000000 /*CLONE_NEWIPC*/ |
    0x40000000 /*CLONE_NEWNET*/;

struct RunSpec {
  std::string image;
  std::vector<std::string> argv;
  std::vector<std::string> env;  // extra KEY=VAL (-e), after the inherited env
  bool interactive = false;      // -i: keep stdin
  bool tty = false;              // -t: a pty is the console (console.h)
  std::string name;              // default: the id
  std::string hostname;          // default: the id
  CgroupLimits limits;
  std::vector<Volume> volumes;
  MountApi mount_api = MountApi::kAuto;
  SecuritySpec security;         // --cap-add, --cap-drop, --security-opt
};

struct RuntimeConfig {
  std::string root = "/var/lib/mydocker";  // images (and containers by default)
  // Containers' state and workspaces; empty: root. ps, rm and gc must be
  // given the state root the runs had.
  std::string state_root;
  std::string cgroup_parent = "mydocker";
  std::vector<std::string> inherited_env;  // passed through to the container
  // Returns a fresh 12-hex-digit id; default reads /dev/urandom via Sys.
  std::function<std::string()> new_id;
  // Called once the container is running, with its state (tests, probes).
  std::function<void(const ContainerState&)> on_running;
  // How long `rm -f` waits for a run that holds its container's lock to
  // let go once its processes are killed (polled every 5 ms); 0: not at
  // all, the lock's EWOULDBLOCK is the answer (a harness whose runs cannot
  // go on while rm waits: FakeKernel's two-actor sweep).
  int rm_wait_ms = 10000;
};

struct RunResult {
  std::string id;
  int exit_code = 0;     // the command's status (128+signal when killed)
  std::string message;   // set when the failure is the runtime's (125/126/127)
};

struct GcReport {
  std::vector<std::string> removed;  // ids cleaned up
  std::vector<std::string> skipped;  // ids still running
  std::vector<Error> errors;
};

// Parses "-v /host:/container[:ro]"; errors name the flag value.
Expected<Volume> ParseVolume(const std::string& text);
// Parses "KEY=VAL" (-e); "KEY" alone takes the value from env.
Expected<std::string> ParseEnv(const std::string& text,
                               const std::vector<std::string>& env);

class Runtime {
 public:
  Runtime(Sys& sys, RuntimeConfig config);

  // Runs spec to completion. A runtime failure (before the command runs)
  // is an Error; the caller exits 125. A command that cannot be found or
  // executed gives a RunResult with 127 / 126 and a message.
  Expected<RunResult> Run(const RunSpec& spec);

  Expected<std::vector<ContainerState>> List();
  // Removes a stopped container's leftovers; with force, kills a running
  // one first: every member of its cgroup (never a recorded pid), then
  // waits (config.rm_wait_ms) for its run to let go of the container's lock.
  Outcome Remove(const std::string& name_or_id, bool force);
  // Removes what runs that are no longer alive left behind.
  Expected<GcReport> Gc();
  // Removes an image no container of this state root uses (EBUSY naming
  // the container otherwise), under the store lock, so no run can start on
  // it meanwhile. Containers of another state root are not seen.
  Outcome RemoveImage(const std::string& name);

  ImageStore& images() { return images_; }
  StateStore& states() { return states_; }
  const RuntimeConfig& config() const { return config_; }
  // config.state_root, or config.root when that is empty.
  const std::string& StateRoot() const;

 private:
  std::string NewId();
  Expected<CgroupLayout> Layout();
  // The seccomp program for sec (the default profile or a file) and caps.
  Expected<SeccompBpf> SeccompFor(const SecuritySpec& sec, uint64_t caps);
  // Teardown of everything a container may have: cgroup, workspace, dir;
  // every step runs even when another fails, and every failure is reported.
  // lock_store: the container's directory is removed under the store lock
  // (its run, which does not hold it: from the first entry removed, its
  // lock file among them, until the directory is gone, gc, rm and image rm
  // would take the container for one whose run died); false: the caller
  // holds it (gc, rm, a run failing before it let go of it).
  Outcome Cleanup(const ContainerState& s, bool lock_store = false);
  Cgroup CgroupOf(const ContainerState& s, const CgroupLayout& layout);
  // The store lock (StateStore::StoreLockPath), waiting for it.
  Expected<FileLock> LockStore();

  Sys& sys_;
  RuntimeConfig config_;
  ImageStore images_;
  StateStore states_;
  bool have_layout_ = false;
  CgroupLayout layout_;
  std::string kernel_release_;
};

}  // namespace mydocker
