// InitCrash: a crash rule that fires in a process the runtime cloned (its
// container init, between clone and execve, on the real kernel) is what it
// is on FakeKernel: the runtime dies at that call. (FakeKernel runs the init
// in the runtime's address space: the Crash ends the init, which exits as
// SIGKILLed, and unwinds into the runtime's call, so the runtime dies too.)
//
// On the real kernel the Crash must not unwind in the init: that stack is a
// copy of the runtime's, and an exception out of the clone trampoline
// aborts the init (SIGABRT), which the runtime took for the command's exit
// status (134). The init cannot signal the runtime either: the runtime is
// outside the init's pid namespace (kill and pidfd_send_signal only reach
// the caller's namespace and those below it). So the init asks a killer
// that can -- one byte on a pipe -- and waits until the runtime is gone:
//
//   the killer  whoever holds the request pipe's read end and can signal the
//               runtime process: the kernel sweep backend's harness (it
//               forked the runtime process), or a thread of the builtin
//               worker, which is the runtime process (StartKillerThread).
//               On a byte it SIGKILLs the runtime process.
//   the death   a pipe whose write end only the runtime process holds once
//   pipe        the crashing init closed its copy: the init reads it until
//               EOF (the runtime is dead), then _exits (its pdeathsig, set
//               first thing, usually ends it before).
//
// Attach() installs this as a FaultInjectingSys's crash hook: in the runtime
// process the hook returns and the Crash is thrown as before (the caller
// catches it and dies: builtin worker, kernel backend); in any other process
// the hook does not return. Between clone and execve the init path uses
// only write, read, close and _exit (async-signal-safe, no allocation).
#pragma once

#include <sys/types.h>

#include <functional>

#include "faults/fault_injecting_sys.h"
#include "runtime/util/error.h"

namespace faultline {

class InitCrash {
 public:
  // In the runtime process, before its first clone. request_fd: the write
  // end of the killer's pipe (kept open; not owned). The death pipe is made
  // here, close-on-exec (an exec'd init drops it), its fds at min_fd or up
  // (the kernel backend keeps the runtime's fd numbers those of the fake).
  static mydocker::Expected<InitCrash> Make(int request_fd, int min_fd = 0);
  InitCrash(InitCrash&& o) noexcept;
  InitCrash& operator=(InitCrash&&) = delete;
  InitCrash(const InitCrash&) = delete;
  ~InitCrash();

  // fis.set_crash_hook: in a process other than the runtime's (the pid
  // Make ran in), before_death() (e.g. flush a trace to shared memory),
  // then DieWithRuntime().
  void Attach(FaultInjectingSys& fis, std::function<void()> before_death = {});
  // The init's side: asks the killer, waits for the runtime's death, _exits
  // (137: as SIGKILLed).
  [[noreturn]] void DieWithRuntime() const;

  pid_t runtime_pid() const { return runtime_; }

 private:
  InitCrash(pid_t runtime, int request_fd, int death_read, int death_write)
      : runtime_(runtime), request_(request_fd), death_r_(death_read), death_w_(death_write) {}
  pid_t runtime_;
  int request_;
  int death_r_, death_w_;
};

// The killer as a thread of the runtime process itself (the builtin worker:
// nobody else can signal it on time): makes the request pipe, starts a
// detached thread that SIGKILLs this process when a byte arrives (EOF: the
// runtime ended, the thread ends). Returns the pipe's write end (close-on-
// exec) for InitCrash::Make, or the error (step, errno).
mydocker::Expected<int> StartKillerThread();

}  // namespace faultline
