// The conformance suite: scripts of Sys calls run on LinuxSys and on
// FakeKernel, every call's result and errno compared.
//
// A script is one C++ function of a Ctx. It makes its calls through the Ctx
// (c.Mkdir("step name", path), c.Mount(...), c.ReadFile(...)), and each such
// call is one checked step: the Ctx performs it on the Sys it was given and
// records "ok", "ok <value>" or the errno name under the step's name. The
// same function runs
//   * on Linux in a forked child that unshares a mount namespace (its first
//     step makes / recursively private and mounts a tmpfs on the per-run
//     scratch dir), with fds >= 3 closed, under a per-run cgroup parent;
//   * on a FakeKernel set up with the same paths (the scratch dir, the
//     host's cgroup layout, cpus/mems and v2 root controllers), inside a
//     FakeKernel child cloned with CLONE_NEWNS.
// Values are normalised before they are recorded: the scratch dir reads
// $BASE, the cgroup parent $CG, pids named with NamePid read $<name>;
// mountinfo is reduced to what both kernels must agree on (mount point,
// parent, root, fstype, source, ro/rw, propagation kind without ids).
//
// A script must not branch on results: both runs must make the same steps.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "runtime/sys/sys.h"

namespace faultline::conformance {

// What a script may depend on; the same for both runs.
struct Params {
  std::string base;        // per-run scratch dir (absolute)
  std::string cg;          // per-run cgroup parent name ("faultline-conf-...")
  bool cgroup_v2 = false;  // cgroup2 at /sys/fs/cgroup (else v1 hybrid)
  std::string v2_root;     // "/sys/fs/cgroup" or "/sys/fs/cgroup/unified"
  // Controllers enabled in the v2 root's cgroup.subtree_control (v2 only).
  std::vector<std::string> v2_controllers;
  std::string cpus;        // the root cpuset's cpus / mems ("0-1", "0")
  std::string mems;
};

// One recorded step.
struct StepResult {
  std::string step;    // the script's name for it
  std::string op;      // "mkdir", "read-file", ...
  std::string result;  // "ok", "ok <value>", "EBUSY", ...
};

// Where steps go: a fixed buffer that a forked child can fill (MAP_SHARED).
class StepLog {
 public:
  StepLog();
  ~StepLog();
  StepLog(const StepLog&) = delete;
  StepLog& operator=(const StepLog&) = delete;
  void Add(const StepResult& r);
  void Fail(const std::string& why);  // the script could not go on
  std::vector<StepResult> Steps() const;
  std::string failure() const;

 private:
  struct Shared;
  Shared* s_ = nullptr;
};

class Ctx {
 public:
  Ctx(mydocker::Sys& sys, const Params& p, StepLog* log);

  mydocker::Sys& sys() { return sys_; }
  const Params& params() const { return p_; }
  // base + "/" + rel ("" -> base).
  std::string P(const std::string& rel) const;
  // The cgroup parent in v1 hierarchy ctrl (/sys/fs/cgroup/<ctrl>/$CG) or,
  // with ctrl "", in the v2 hierarchy; rel is appended.
  std::string Cg1(const std::string& ctrl, const std::string& rel = "") const;
  std::string Cg2(const std::string& rel = "") const;
  // From now on this pid is printed as $name in values.
  void NamePid(const std::string& name, pid_t pid);
  // The pid named name (-1 if none).
  pid_t Pid(const std::string& name) const;
  int steps() const { return steps_; }

  // ---- checked calls (one step each) ----
  mydocker::Status Mount(const std::string& step, const std::string& source,
                         const std::string& target, const std::string& fstype,
                         unsigned long flags, const std::string& data = "");
  mydocker::Status Umount(const std::string& step, const std::string& target,
                          int flags = 0);
  mydocker::Status PivotRoot(const std::string& step, const std::string& new_root,
                             const std::string& put_old);
  mydocker::Result<int> Fsopen(const std::string& step, const std::string& fstype,
                               unsigned flags = 0);
  mydocker::Status Fsconfig(const std::string& step, int fd, unsigned cmd,
                            const std::string& key = "", const std::string& value = "",
                            int aux = 0);
  mydocker::Result<int> Fsmount(const std::string& step, int fs_fd, unsigned flags = 0,
                                unsigned attr = 0);
  mydocker::Status MoveMount(const std::string& step, int from_fd,
                             const std::string& from_path, const std::string& to_path,
                             unsigned flags);
  mydocker::Status Mkdir(const std::string& step, const std::string& path,
                         mode_t mode = 0755);
  mydocker::Status Rmdir(const std::string& step, const std::string& path);
  mydocker::Status Unlink(const std::string& step, const std::string& path);
  mydocker::Status Rename(const std::string& step, const std::string& from,
                          const std::string& to);
  mydocker::Status Symlink(const std::string& step, const std::string& target,
                           const std::string& linkpath);
  mydocker::Status Link(const std::string& step, const std::string& existing,
                        const std::string& newpath);
  mydocker::Status Mknod(const std::string& step, const std::string& path, mode_t mode,
                         dev_t dev);
  mydocker::Status Chmod(const std::string& step, const std::string& path, mode_t mode);
  // Value: type letter (d - l c b p s), permission bits (octal), size for
  // regular files, rdev major:minor for devices, nlink.
  mydocker::Result<mydocker::FileStat> Lstat(const std::string& step,
                                             const std::string& path);
  // Value: the f_type magic in hex.
  mydocker::Result<int64_t> Statfs(const std::string& step, const std::string& path);
  // Value: sorted "name/type-letter" list.
  mydocker::Status ReadDir(const std::string& step, const std::string& path);
  mydocker::Status Readlink(const std::string& step, const std::string& path);
  // Value: the fd number.
  mydocker::Result<int> Open(const std::string& step, const std::string& path, int flags,
                             mode_t mode = 0644);
  mydocker::Status Close(const std::string& step, int fd);
  // Value: the bytes read (up to len).
  mydocker::Status Read(const std::string& step, int fd, size_t len = 4096);
  // Value: the count written.
  mydocker::Status Write(const std::string& step, int fd, const std::string& data);
  // Value: "<read> <write>".
  mydocker::Result<mydocker::PipeFds> Pipe(const std::string& step, int flags);
  mydocker::Status Dup2(const std::string& step, int oldfd, int newfd);
  mydocker::Status Chdir(const std::string& step, const std::string& path);
  mydocker::Status Sethostname(const std::string& step, const std::string& name);
  mydocker::Status Kill(const std::string& step, pid_t pid, int sig);
  // Value: "exit N" or "signal N".
  mydocker::Status Waitpid(const std::string& step, pid_t pid, int options = 0);
  mydocker::Status IgnoreSignal(const std::string& step, int sig);
  // Value: "$<name>" (the pid is named).
  mydocker::Result<pid_t> Clone(const std::string& step, const std::string& name,
                                const mydocker::CloneFn& fn, int flags);

  // ---- composite steps (several calls, one result: the first failure) ----
  // open(O_RDONLY) + read to EOF + close. Value: the content (normalised).
  mydocker::Status ReadFile(const std::string& step, const std::string& path);
  // The same, value: normalised mountinfo lines for mounts at or under top
  // ("" = base).
  mydocker::Status Mountinfo(const std::string& step, const std::string& path,
                             const std::string& top = "");
  // The same, value: the lines of /proc/<pid>/cgroup that name $CG, without
  // hierarchy ids.
  mydocker::Status ProcCgroup(const std::string& step, const std::string& path);
  // open(O_WRONLY[|O_CREAT|O_TRUNC]) + one write + close; the write's errno.
  mydocker::Status WriteFile(const std::string& step, const std::string& path,
                             const std::string& data, bool create = false);
  // lstat of both: value "same" or "different" st_dev.
  mydocker::Status SameDev(const std::string& step, const std::string& a,
                           const std::string& b);
  // readlink of both: value "same" or "different" target.
  mydocker::Status SameLink(const std::string& step, const std::string& a,
                            const std::string& b);
  // readlink /proc/self; the pid is named "self". Value "$self".
  mydocker::Status SelfPid(const std::string& step);

  // Normalise a value (base, cg, named pids).
  std::string Norm(const std::string& v) const;

 private:
  void Record(const std::string& step, const char* op, int err, const std::string& value,
              bool has_value);
  mydocker::Sys& sys_;
  Params p_;
  StepLog* log_;
  std::vector<std::pair<std::string, std::string>> pids_;  // "123" -> "$child"
  int steps_ = 0;
};

// A script and the area it belongs to (for the counts in the report).
struct Script {
  std::string name;
  std::string area;
  std::function<void(Ctx&)> run;
  // kCgroupV1: v1 hierarchies at /sys/fs/cgroup/<ctrl>; kCgroupV2: a cgroup2
  // mount (v2 or hybrid); kV2Controllers: the v2 root enables controllers.
  enum class Needs { kAny, kCgroupV1, kCgroupV2, kV2Controllers, kOverlayLayerFds } needs = Needs::kAny;
};

// Every script, in a fixed order (scripts_*.cc register theirs).
std::vector<Script>& Registry();
struct Register {
  Register(std::string name, std::string area, std::function<void(Ctx&)> run,
           Script::Needs needs = Script::Needs::kAny);
};

// errno as its name ("EBUSY"); "E<n>" for one without.
std::string ErrName(int err);

}  // namespace faultline::conformance
