// The reachable-fault model (faults/errno_model.yaml, built in): which errnos
// a real kernel can return at a call, by op and by the call's class (what
// the arguments name: a cgroup directory, a fresh bind mount of this run, a
// file on the host's disk, a pipe to the init, ...). The sweep asks it for
// every point: under `--errno-model reachable` it tries only these errnos;
// every run says whether its fault is reachable, and an unreachable fault is
// never a defect of the runtime.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/util/error.h"

namespace faultline {

struct ErrnoModelEntry {
  std::vector<std::string> ops;
  std::string cls;          // "" : any
  std::vector<int> errnos;  // may be empty: nothing is reachable
  std::string source;       // man page section, kernel function
  // A read/write that transfers fewer bytes than asked is reachable for
  // calls of at least this many bytes (key short_min; 0: never).
  size_t short_min = 0;
};

// What the model says about one call.
struct Reachability {
  bool modeled = false;     // an entry matched
  std::string cls;          // the class of the entry that matched ("any")
  std::vector<std::string> classes;  // the call's classes, most specific first
  std::vector<int> errnos;  // the reachable errnos (modeled only)
  std::string source;
  size_t short_min = 0;     // ErrnoModelEntry::short_min of the entry
  bool Reachable(int err) const;  // unmodeled: true
  // May a call of len bytes transfer fewer? (unmodeled: false)
  bool ShortReachable(size_t len) const { return modeled && short_min > 0 && len >= short_min; }
};

class ErrnoModel {
 public:
  // The YAML text of faults/errno_model.yaml (entries: [{op, class, errnos,
  // source, note, short_min}]). Errors name the entry and field.
  static mydocker::Expected<ErrnoModel> FromYaml(const std::string& text);
  // The built-in copy of faults/errno_model.yaml (aborts if it is malformed:
  // a unit test parses it).
  static const ErrnoModel& Builtin();
  static const char* BuiltinText();

  // The first entry for op whose class is classes[0], then classes[1], ...,
  // then an entry without class.
  Reachability Lookup(std::string_view op, const std::vector<std::string>& classes) const;
  const std::vector<ErrnoModelEntry>& entries() const { return entries_; }

 private:
  std::vector<ErrnoModelEntry> entries_;
};

// One call as the classifier sees it.
struct ClassifiedCall {
  pid_t pid = 0;
  std::string_view op;
  std::string_view path;   // as the process saw it (seccomp: the host path when known)
  std::string_view path2;
  std::string_view fstype;
  uint64_t flags = 0;
  int fd = -1;             // the fd argument of read/write/close ("fd=N"), -1: none
  int64_t handle = -1;     // the fd an open returned (-1: unknown)
  int err = 0;             // what the call returned
  bool host_paths = false; // paths are host paths even after a pivot_root (seccomp)
};

// Walks a run's calls in order (Observe after each) and names the classes of
// the next call: argument classes (detach-own-mount, bind-mount, cgroup-dir,
// cgroup-file, cgroup-procs, create, pipe-io, ...) then the filesystem
// class of the path (cgroup1/cgroup2, proc, sysfs, overlay, tmpfs, disk).
// Tracks, per process: the mounts this run made (target -> fstype), the
// current directory and a pivot_root (paths after it are container paths),
// and the fds it opened by path.
class CallClassifier {
 public:
  std::vector<std::string> Classes(const ClassifiedCall& c) const;
  void Observe(const ClassifiedCall& c);
  // The path an fd of pid was opened with ("" unknown).
  std::string FdPath(pid_t pid, int fd) const;

 private:
  struct Proc {
    std::string cwd = "/";
    bool pivoted = false;
    bool pivoted_host = false;  // pivoted, but the trace names host paths
    std::map<std::string, std::string> mounts;  // target -> fstype, as this process names it
    std::map<int, std::string> fds;
    // Opens whose fd the trace does not say (FakeKernel/LinuxSys traces
    // carry no results): the next unknown fd a read/write/close names is
    // the most recent of them (open -> write -> close).
    std::vector<std::string> pending_opens;
  };
  std::string AttributedFd(const Proc& p, int fd) const;
  const Proc& Of(pid_t pid) const;
  std::string Resolve(const Proc& p, std::string_view path) const;
  std::string FsClass(const Proc& p, const std::string& abs) const;

  std::map<pid_t, Proc> procs_;
  std::set<std::string> mounted_;  // every target mounted in this run (resolved)
};

// "fd=3 len=4096" -> 3; -1 when the arguments name no fd.
int FdFromArgs(std::string_view args);

}  // namespace faultline
