// Container state: one JSON file per container, <state root>/containers/<id>/
// state.json (the state root: --state, else --root), written atomically and
// durably (temp file, fsync, rename, fsync of the directory) before any resource
// is created and after every change of status, so that gc can always find
// and undo what a killed run left behind. The run's "running" record skips
// the directory fsync (StateStore::Durability::kReplace).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/rootfs/init.h"
#include "runtime/sys/sys.h"
#include "runtime/util/error.h"

namespace mydocker {

struct ContainerState {
  std::string id;
  std::string name;
  std::string image;
  std::vector<std::string> command;
  // "creating", "running", "stopped" (an attached run whose teardown
  // failed), "exited" (a detached run that ended; kept until rm),
  // "removing" (rm of an exited one began: gc finishes it)
  std::string status;
  pid_t pid = 0;                 // container init, host pid namespace
  uint64_t pid_start = 0;        // its start time (/proc/PID/stat field 22)
  pid_t runtime_pid = 0;         // the mydocker process that owns the run
                                 // (for a detached run: its monitor)
  uint64_t runtime_start = 0;
  std::string cgroup_parent;
  std::string hostname;
  std::vector<Volume> volumes;
  int64_t created_unix = 0;
  int exit_code = -1;
  bool detached = false;         // run -d: output in stdout.log/stderr.log
  // The hardening the run applied, for exec: the capability set and
  // no_new_privs; seccomp "default", "unconfined" or a profile file's path.
  uint64_t caps = 0;
  bool no_new_privs = true;
  std::string seccomp = "default";
};

std::string StateToJson(const ContainerState& s);
Expected<ContainerState> StateFromJson(const std::string& text,
                                       const std::string& path);

class StateStore {
 public:
  // root: the state root; containers live in <root>/containers/<id>/.
  StateStore(Sys& sys, std::string root) : sys_(sys), root_(std::move(root)) {}

  std::string ContainersDir() const;
  std::string DirOf(const std::string& id) const;
  std::string FileOf(const std::string& id) const;
  // <root>/containers.lock: held exclusively while a run creates its
  // container (name check, directory, state, its own lock) and while rm,
  // gc and image rm decide and remove: names are unique atomically and
  // nothing is removed half-created.
  std::string StoreLockPath() const;
  // <root>/containers/<id>/lock: held exclusively by the run for its whole
  // life, then by rm or gc while they remove the container.
  std::string LockOf(const std::string& id) const;

  // How durable a write must be. kNew: file and directory fsynced (the
  // container's first state: gc finds the container by it after a crash).
  // kReplace: only the file, for a state that replaces one written kNew
  // whose loss in a crash is harmless: the machine's crash ends the
  // container too, and gc undoes a "creating" container as it undoes a
  // "running" one (the run's "running" write).
  enum class Durability { kNew, kReplace };
  Outcome Write(const ContainerState& s, Durability d = Durability::kNew);
  Expected<ContainerState> Read(const std::string& id);
  // Ids of every container directory, with or without a state file.
  Expected<std::vector<std::string>> Ids();

 private:
  Sys& sys_;
  std::string root_;
};

// Process facts read through Sys (/proc/PID/stat): 0 when unknown.
uint64_t ProcessStartTime(Sys& sys, pid_t pid);
// The caller's pid, from /proc/self.
pid_t SelfPid(Sys& sys);
// What can be known about a recorded process.
enum class Liveness {
  kAlive,    // exists, not a zombie, started at the recorded start time
  kDead,     // gone, a zombie, or the pid was reused (another start time)
  kUnknown,  // no start time recorded, or /proc unreadable: cannot tell
};
Liveness ProcessLiveness(Sys& sys, pid_t pid, uint64_t start);
// ProcessLiveness(...) == kAlive: "unknown" is never "alive" (a reused pid
// must not be taken for the container). Killing goes by the cgroup's member
// list (Cgroup::Members), not by this.
bool ProcessAlive(Sys& sys, pid_t pid, uint64_t start);

}  // namespace mydocker
