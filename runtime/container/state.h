// Container state: one JSON file per container, <state root>/containers/<id>/
// state.json (the state root: --state, else --root), written atomically (temp file + rename) before any resource
// is created and after every change of status, so that gc can always find
// and undo what a killed run left behind.
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
  std::string status;  // "creating", "running", "stopped"
  pid_t pid = 0;                 // container init, host pid namespace
  uint64_t pid_start = 0;        // its start time (/proc/PID/stat field 22)
  pid_t runtime_pid = 0;         // the mydocker process that owns the run
  uint64_t runtime_start = 0;
  std::string cgroup_parent;
  std::string hostname;
  std::vector<Volume> volumes;
  int64_t created_unix = 0;
  int exit_code = -1;
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

  Outcome Write(const ContainerState& s);
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
// True when pid exists, is not a zombie and, if start != 0, started at
// start (the pid was not reused).
bool ProcessAlive(Sys& sys, pid_t pid, uint64_t start);

}  // namespace mydocker
