// The console of `mydocker run -t`: a pseudo-terminal pair opened on the
// host's /dev/ptmx. The slave becomes the container's controlling terminal,
// its stdin/stdout/stderr and /dev/console (bind-mounted before pivot_root,
// see RootfsSpec::console); the runtime relays between its own stdin/stdout
// and the master until every holder of the slave is gone (the container's
// pid namespace ended).
//
// Every kernel call goes through Sys (Open, Ioctl, Poll, Read, Write); the
// termios and winsize structs are edited in memory only.
#pragma once

#include <termios.h>

#include <string>

#include "runtime/sys/sys.h"
#include "runtime/util/error.h"

namespace mydocker {

struct Pty {
  int master = -1;         // close-on-exec
  int slave = -1;          // close-on-exec too: the child dups it onto 0, 1, 2
  std::string slave_path;  // /dev/pts/N on the host
};

// Opens a pty pair (/dev/ptmx, TIOCSPTLCK, TIOCGPTN, the slave) and gives it
// the window size of size_from when that is a terminal (size_from < 0: none).
// Errors name "console: open pty", the path and the errno; nothing is left
// open on failure. FakeKernel has no pty driver: there this fails ENOTTY.
Expected<Pty> OpenPty(Sys& sys, int size_from);

// The first of fds that is a terminal with a window size, or -1.
int WindowSizeSource(Sys& sys, std::initializer_list<int> fds);

// The caller's terminal in raw mode while the relay runs (keys, ^C included,
// go to the container). Restores the saved settings when destroyed or on
// Restore(). Inactive (a no-op) when fd is not a terminal.
class RawMode {
 public:
  RawMode() = default;
  static RawMode Enter(Sys& sys, int fd);
  RawMode(RawMode&& o) noexcept { *this = std::move(o); }
  RawMode& operator=(RawMode&& o) noexcept;
  RawMode(const RawMode&) = delete;
  RawMode& operator=(const RawMode&) = delete;
  ~RawMode() { Restore(); }

  bool active() const { return active_; }
  // Puts the saved settings back (once); later calls do nothing.
  void Restore();

 private:
  Sys* sys_ = nullptr;
  int fd_ = -1;
  bool active_ = false;
  struct termios saved_ = {};
};

struct RelaySpec {
  int master = -1;
  int in_fd = 0;               // copied to the master when forward_input
  int out_fd = 1;              // the master's output goes here
  bool forward_input = false;  // -i
  // A terminal whose window size the container follows (-1: none). Its size
  // is checked every kResizeCheckMs and copied to the master (TIOCSWINSZ,
  // which sends SIGWINCH to the container's foreground group) when it
  // changed: Sys has no way to catch the caller's SIGWINCH itself.
  int winsize_from = -1;
};
constexpr int kResizeCheckMs = 100;

// Relays until the master reports EOF or EIO (no slave holder left). EOF on
// in_fd sends the terminal's EOF character (^D) once and stops reading it; a
// failed write to out_fd (the reader went away) drops the output from then
// on but keeps draining the master, so the container never blocks on it.
// Only a poll failure other than EINTR is an error ("console: poll").
Outcome RelayConsole(Sys& sys, const RelaySpec& spec);

}  // namespace mydocker
