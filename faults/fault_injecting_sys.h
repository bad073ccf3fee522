// FaultInjectingSys: a SysWrapper that asks a FaultPlan before every call and
// fails, lies, delays or crashes accordingly, and records every call in a
// trace from which the run replays exactly.
//
// Per call (its one interception point): the CallInfo is built from the op's
// description in runtime/sys/sys_ops.h (op name, primary path, second path,
// fstype, flags), the plan decides, then:
//   fail(e)   the call returns errno e; the target is not called
//   lie       the call reports success and does nothing: the op's lie in
//             sys_ops.h (Read 0 bytes, Write all bytes, Waitpid status 0,
//             Poll every entry ready, handles >= kLieHandle that do not
//             exist, so later calls on them fail EBADF/ESRCH)
//   delay(ms) sleeps (through the sleeper, replaceable in tests), then calls
//             the target
//   pause     holds the call (not yet executed) through the pauser
//             (set_pauser; e.g. a PauseChannel: a note to the harness, then
//             a wait for its release), at most the action's bound, then calls
//             the target. With no pauser the call goes on at once (warned,
//             traced as no-pauser).
//   short     read and write only: the target is called with half the
//             length (at least 1 byte) and its result is the call's: fewer
//             bytes than asked (other ops run as they would)
//   crash     calls the crash hook (set_crash_hook; none: nothing), then
//             throws faultline::Crash. From then on nothing reaches the
//             target: every later call (e.g. from destructors while the
//             exception unwinds) returns EIO and is traced as after_crash.
//             On the real kernel a cloned init must not unwind: its hook
//             (InitCrash, faults/init_crash.h) does not return there.
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

#include "faults/plan.h"
#include "runtime/sys/sys_wrapper.h"

namespace faultline {

using mydocker::ProcessIdentity;
using mydocker::SysCall;
using mydocker::SysWrapper;


// The runtime "died" at call seq (a crash rule fired). The harness catches
// this, then tells the backend (FakeKernel::RuntimeCrashed).
class Crash : public std::runtime_error {
 public:
  Crash(uint64_t seq, int rule, std::string op);
  uint64_t seq;
  int rule;
  std::string op;
};

// A crash as the crash hook sees it (the call is traced already).
struct CrashInfo {
  uint64_t seq = 0;
  int rule = -1;
  const char* op = "";
};
using CrashHook = std::function<void(const CrashInfo&)>;

// How a pause ended (TraceEntry::pause).
enum class PauseEnd : uint8_t { kNone, kReleased, kBoundPassed, kNoPauser };
// "", "released", "bound-passed", "no-pauser".
const char* PauseEndName(PauseEnd e);

// A paused call as the pauser sees it.
struct PauseRequest {
  uint64_t seq = 0;     // the call's trace seq
  pid_t pid = 0;        // the caller's pid as traced
  const char* op = "";  // mydocker::OpName
  int bound_ms = 0;     // hold at most this long
};
// Holds the caller until released (true) or bound_ms passed (false). Runs
// in whichever process makes the call, also a cloned init between clone and
// execve: it must not allocate or log there (PauseChannel does neither).
using Pauser = std::function<bool(const PauseRequest&)>;

struct TraceEntry {
  uint64_t seq = 0;  // 1-based number of the call in this run
  pid_t pid = 0;     // the calling process (0: unknown)
  std::string op;    // mydocker::OpName
  std::string args;  // printable arguments
  // What the plan matched on (sys_ops.h's description of the call).
  std::string path, path2, fstype;
  uint64_t flags = 0;
  int err = 0;       // the errno the caller got (0: success)
  int rule = -1;     // the plan rule that fired, -1: none
  ActionKind action = ActionKind::kNone;
  bool after_crash = false;  // refused because the runtime had crashed
  PauseEnd pause = PauseEnd::kNone;  // a pause action: how the hold ended
};

class FaultInjectingSys : public SysWrapper {
 public:
  static constexpr int kLieHandle = mydocker::kLieHandle;

  FaultInjectingSys(mydocker::Sys& target, FaultPlan plan);

  // Replaces the sleep of delay actions (tests pass a recorder).
  void set_sleeper(std::function<void(int ms)> sleeper);
  // Holds the calls of pause actions (none: they go on at once).
  void set_pauser(Pauser pauser);
  // Runs in the crashing process before the Crash is thrown; may not
  // return (a cloned init on the real kernel: InitCrash).
  void set_crash_hook(CrashHook hook);
  FaultPlan& plan() { return plan_; }
  bool crashed() const { return crashed_; }
  const std::vector<TraceEntry>& trace() const { return trace_; }
  // "12 pid=100 mount source=overlay target=/x ... -> EBUSY [rule 0 fail]"
  std::string TraceText() const;
  static std::string FormatEntry(const TraceEntry& e);
  nlohmann::json TraceJson() const;

  // Read and Write keep their arguments for the short action, then go
  // through Intercept as every call.
  mydocker::Result<size_t> Read(int fd, void* buf, size_t len) override;
  mydocker::Result<size_t> Write(int fd, const void* buf, size_t len) override;

 protected:
  void Intercept(SysCall& call) override;

 private:
  pid_t CallerPid() const;

  // The read or write being intercepted (the innermost: FakeKernel runs a
  // child's calls inside a parent's read).
  struct Io {
    int fd = -1;
    void* buf = nullptr;
    const void* cbuf = nullptr;
    size_t len = 0;
    bool shortened = false;
    mydocker::Result<size_t> result{};
  };
  Io* io_ = nullptr;

  FaultPlan plan_;
  const ProcessIdentity* identity_ = nullptr;
  std::function<void(int)> sleeper_;
  Pauser pauser_;
  CrashHook crash_hook_;
  std::vector<TraceEntry> trace_;
  uint64_t seq_ = 0;
  bool crashed_ = false;
};

}  // namespace faultline
