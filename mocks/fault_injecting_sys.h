// FaultInjectingSys: a SysWrapper that asks a FaultPlan before every call and
// fails, lies, delays or crashes accordingly, and records every call in a
// trace from which the run replays exactly.
//
// Per call: the CallInfo is built (op name, primary path, second path,
// fstype, flags -- see the table in fault_injecting_sys.cc), the plan
// decides, then:
//   fail(e)   the call returns errno e; the target is not called
//   lie       the call reports success and does nothing. Calls that return a
//             value return a harmless one: Read 0 bytes, Write all bytes,
//             Waitpid status 0, Lstat/ReadDir/Readlink empty; calls that
//             return a handle return one that does not exist (fd/pid
//             >= kLieHandle), so later calls on it fail EBADF/ESRCH
//   delay(ms) sleeps (through the sleeper, replaceable in tests), then calls
//             the target
//   crash     throws faultline::Crash. From then on nothing reaches the
//             target: every later call (e.g. from destructors while the
//             exception unwinds) returns EIO and is traced as after_crash.
// The pid in the trace comes from the target when it implements
// ProcessIdentity (FakeKernel), looking through SysWrapper chains; else 0.
// Re-entrant: FakeKernel runs cloned children inside a parent's call, so
// their calls are traced (in call order) while the parent's call is open.
// Not thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/faults/plan.h"
#include "mocks/fake_kernel.h"
#include "mocks/sys_wrapper.h"

namespace faultline {

// The runtime "died" at call seq (a crash rule fired). The harness catches
// this, then tells the backend (FakeKernel::RuntimeCrashed).
class Crash : public std::runtime_error {
 public:
  Crash(uint64_t seq, int rule, std::string op);
  uint64_t seq;
  int rule;
  std::string op;
};

struct TraceEntry {
  uint64_t seq = 0;  // 1-based number of the call in this run
  pid_t pid = 0;     // the calling process (0: unknown)
  std::string op;    // mydocker::OpName
  std::string args;  // printable arguments
  int err = 0;       // the errno the caller got (0: success)
  int rule = -1;     // the plan rule that fired, -1: none
  ActionKind action = ActionKind::kNone;
  bool after_crash = false;  // refused because the runtime had crashed
};

class FaultInjectingSys : public SysWrapper {
 public:
  static constexpr int kLieHandle = 1 << 22;

  FaultInjectingSys(mydocker::Sys& target, FaultPlan plan);

  // Replaces the sleep of delay actions (tests pass a recorder).
  void set_sleeper(std::function<void(int ms)> sleeper);
  FaultPlan& plan() { return plan_; }
  bool crashed() const { return crashed_; }
  const std::vector<TraceEntry>& trace() const { return trace_; }
  // "12 pid=100 mount source=overlay target=/x ... -> EBUSY [rule 0 fail]"
  std::string TraceText() const;
  static std::string FormatEntry(const TraceEntry& e);
  nlohmann::json TraceJson() const;

  mydocker::Status Mount(const mydocker::MountArgs& a) override;
  mydocker::Status Umount2(const std::string& target, int flags) override;
  mydocker::Status PivotRoot(const std::string& new_root,
                             const std::string& put_old) override;
  mydocker::Result<int> Fsopen(const std::string& fstype,
                               unsigned int flags) override;
  mydocker::Status Fsconfig(const mydocker::FsconfigArgs& a) override;
  mydocker::Result<int> Fsmount(int fs_fd, unsigned int flags,
                                unsigned int attr_flags) override;
  mydocker::Status MoveMount(const mydocker::MoveMountArgs& a) override;
  mydocker::Status Mkdir(const std::string& path, mode_t mode) override;
  mydocker::Status Rmdir(const std::string& path) override;
  mydocker::Status Unlink(const std::string& path) override;
  mydocker::Status Rename(const std::string& from,
                          const std::string& to) override;
  mydocker::Status Symlink(const std::string& target,
                           const std::string& linkpath) override;
  mydocker::Status Link(const std::string& existing,
                        const std::string& newpath) override;
  mydocker::Status Mknod(const std::string& path, mode_t mode,
                         dev_t dev) override;
  mydocker::Status Chmod(const std::string& path, mode_t mode) override;
  mydocker::Status Lchown(const std::string& path, uid_t uid,
                          gid_t gid) override;
  mydocker::Result<mydocker::FileStat> Lstat(const std::string& path) override;
  mydocker::Result<int64_t> Statfs(const std::string& path) override;
  mydocker::Result<std::vector<mydocker::DirEntry>> ReadDir(
      const std::string& path) override;
  mydocker::Result<std::string> Readlink(const std::string& path) override;
  mydocker::Result<int> Open(const std::string& path, int flags,
                             mode_t mode) override;
  mydocker::Status Close(int fd) override;
  mydocker::Result<size_t> Read(int fd, void* buf, size_t len) override;
  mydocker::Result<size_t> Write(int fd, const void* buf, size_t len) override;
  mydocker::Result<mydocker::PipeFds> Pipe(int flags) override;
  mydocker::Status Dup2(int oldfd, int newfd) override;
  mydocker::Status Chdir(const std::string& path) override;
  mydocker::Status Sethostname(const std::string& name) override;
  mydocker::Result<pid_t> Clone(const mydocker::CloneFn& fn,
                                int flags) override;
  mydocker::Status Execve(const char* path, char* const argv[],
                          char* const envp[]) override;
  mydocker::Result<int> Waitpid(pid_t pid, int options) override;
  mydocker::Status Kill(pid_t pid, int sig) override;
  mydocker::Status Signal(int sig,
                          mydocker::SignalDisposition disposition) override;
  mydocker::Status Prctl(int option, unsigned long arg2) override;
  // A lie: Ioctl reports 0, Setsid a session id that does not exist, Poll
  // every entry ready (revents = events | POLLHUP).
  mydocker::Result<int> Ioctl(int fd, unsigned long request, void* arg) override;
  mydocker::Result<pid_t> Setsid() override;
  mydocker::Result<int> Poll(struct pollfd* fds, size_t n, int timeout_ms) override;

 private:
  template <class R, class F>
  R Intercept(mydocker::Op op, CallInfo info, std::string args, R lie, F&& call);
  pid_t CallerPid() const;

  FaultPlan plan_;
  const ProcessIdentity* identity_ = nullptr;
  std::function<void(int)> sleeper_;
  std::vector<TraceEntry> trace_;
  uint64_t seq_ = 0;
  bool crashed_ = false;
};

}  // namespace faultline
