// PauseChannel: how a paused call (a `pause` fault action) and the harness
// that releases it talk across processes, with two pipes:
//   notify  the paused process writes one PauseNote (fixed size, so one
//           write is atomic) when it starts to hold a call;
//   release the harness writes one byte per call it releases; the paused
//           process waits for it with poll, at most the action's bound.
// The paused process may be a cloned init between clone and execve: Hold
// uses only poll, read and write (async-signal-safe, no allocation, no
// logging). Both ends travel as fds: given directly (the kernel backend
// forks the runtime process with them), or in the environment variable
// FAULTLINE_PAUSE_FDS="NOTIFY_FD,RELEASE_FD" (FromEnv) for a process the
// harness execs.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "faults/fault_injecting_sys.h"

namespace faultline {

constexpr const char* kPauseFdsEnv = "FAULTLINE_PAUSE_FDS";

struct PauseNote {
  uint64_t seq = 0;  // the paused call's trace seq (seccomp: the supervisor's)
  int32_t pid = 0;   // the caller as traced (a role on the kernel backend)
  char op[20] = {};  // the op or syscall name, NUL-terminated (cut)
};

class PauseChannel {
 public:
  PauseChannel(int notify_fd, int release_fd) : notify_(notify_fd), release_(release_fd) {}
  // From FAULTLINE_PAUSE_FDS; nullopt when unset or malformed.
  static std::optional<PauseChannel> FromEnv();

  // The paused side: note, then wait for a release byte. True: released;
  // false: bound_ms passed, the release fd closed, or the note could not be
  // written (the call then goes on).
  bool Hold(const PauseRequest& req) const;
  // A Pauser for FaultInjectingSys::set_pauser (copies this channel).
  Pauser AsPauser() const;

  int notify_fd() const { return notify_; }
  int release_fd() const { return release_; }

 private:
  int notify_;
  int release_;
};

// The harness side. Waits up to timeout_ms for a PauseNote on fd (the
// notify pipe's read end). nullopt: timeout, EOF (every writer gone: the
// run ended without pausing) or an error; *eof tells which.
std::optional<PauseNote> WaitForPause(int fd, int timeout_ms, bool* eof);
// Releases one held call: one byte on fd (the release pipe's write end).
// False when no process holds the read end any more (EPIPE, no SIGPIPE).
bool ReleasePause(int fd);

}  // namespace faultline
