#include "runtime/container/console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>

#include <cstring>

#include "runtime/sys/drop.h"

namespace mydocker {

Expected<Pty> OpenPty(Sys& sys, int size_from) {
  const char* step = "console: open pty";
  auto master = sys.Open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC, 0);
  if (!master.ok()) return MakeError(step, "/dev/ptmx", master.err);
  Pty pty;
  pty.master = master.value;
  auto fail = [&](const std::string& path, int err, const char* what) -> Expected<Pty> {
    if (pty.slave >= 0) CloseFd(sys, pty.slave);
    CloseFd(sys, pty.master);
    return MakeError(step, path, err, what);
  };
  int unlock = 0;
  if (auto r = sys.Ioctl(pty.master, TIOCSPTLCK, &unlock); !r.ok()) {
    return fail("/dev/ptmx", r.err, "unlock the slave (TIOCSPTLCK)");
  }
  unsigned int n = 0;
  if (auto r = sys.Ioctl(pty.master, TIOCGPTN, &n); !r.ok()) {
    return fail("/dev/ptmx", r.err, "slave number (TIOCGPTN)");
  }
  pty.slave_path = "/dev/pts/" + std::to_string(n);
  auto slave = sys.Open(pty.slave_path, O_RDWR | O_NOCTTY | O_CLOEXEC, 0);
  if (!slave.ok()) return fail(pty.slave_path, slave.err, "open the slave");
  pty.slave = slave.value;
  struct winsize ws = {};
  if (size_from >= 0 && sys.Ioctl(size_from, TIOCGWINSZ, &ws).ok()) {
    if (auto r = sys.Ioctl(pty.master, TIOCSWINSZ, &ws); !r.ok()) {
      return fail(pty.slave_path, r.err, "window size (TIOCSWINSZ)");
    }
  }
  return pty;
}

int WindowSizeSource(Sys& sys, std::initializer_list<int> fds) {
  for (int fd : fds) {
    struct winsize ws = {};
    if (sys.Ioctl(fd, TIOCGWINSZ, &ws).ok()) return fd;
  }
  return -1;
}

RawMode RawMode::Enter(Sys& sys, int fd) {
  RawMode m;
  m.sys_ = &sys;
  m.fd_ = fd;
  if (!sys.Ioctl(fd, TCGETS, &m.saved_).ok()) return m;  // not a terminal
  struct termios raw = m.saved_;
  cfmakeraw(&raw);  // edits the struct only
  if (sys.Ioctl(fd, TCSETSW, &raw).ok()) m.active_ = true;
  return m;
}

RawMode& RawMode::operator=(RawMode&& o) noexcept {
  if (this != &o) {
    Restore();
    sys_ = o.sys_;
    fd_ = o.fd_;
    active_ = o.active_;
    saved_ = o.saved_;
    o.active_ = false;
  }
  return *this;
}

void RawMode::Restore() {
  if (active_) (void)sys_->Ioctl(fd_, TCSETSW, &saved_);  // best effort: the terminal may be gone
  active_ = false;
}

namespace {

// Writes all of buf; false when fd cannot take it (the reader is gone).
bool WriteAll(Sys& sys, int fd, const char* buf, size_t len) {
  while (len > 0) {
    auto w = sys.Write(fd, buf, len);
    if (!w.ok()) {
      if (w.err == EINTR || w.err == EAGAIN) continue;
      return false;
    }
    buf += w.value;
    len -= w.value;
  }
  return true;
}

bool SameSize(const struct winsize& a, const struct winsize& b) {
  return a.ws_row == b.ws_row && a.ws_col == b.ws_col && a.ws_xpixel == b.ws_xpixel &&
         a.ws_ypixel == b.ws_ypixel;
}

}  // namespace

Outcome RelayConsole(Sys& sys, const RelaySpec& spec) {
  char buf[8192];
  bool input_open = spec.forward_input;
  bool output_open = true;
  struct winsize last = {};
  bool track_size = spec.winsize_from >= 0 && sys.Ioctl(spec.winsize_from, TIOCGWINSZ, &last).ok();
  for (;;) {
    struct pollfd fds[2] = {{spec.master, POLLIN, 0}, {spec.in_fd, POLLIN, 0}};
    auto p = sys.Poll(fds, input_open ? 2 : 1, track_size ? kResizeCheckMs : -1);
    if (!p.ok() && p.err != EINTR) return MakeError("console: poll", "pty master", p.err);
    if (track_size) {
      struct winsize now = {};
      if (sys.Ioctl(spec.winsize_from, TIOCGWINSZ, &now).ok() && !SameSize(now, last)) {
        last = now;
        (void)sys.Ioctl(spec.master, TIOCSWINSZ, &now);  // best effort: the terminal may be gone
      }
    }
    if (!p.ok() || p.value == 0) continue;  // EINTR or the resize tick
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      auto r = sys.Read(spec.master, buf, sizeof buf);
      if (!r.ok() && (r.err == EINTR || r.err == EAGAIN)) continue;
      // EIO: every holder of the slave is gone (the container exited).
      if (!r.ok() || r.value == 0) return Outcome::Ok();
      if (output_open && !WriteAll(sys, spec.out_fd, buf, r.value)) output_open = false;
    }
    if (input_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      auto r = sys.Read(spec.in_fd, buf, sizeof buf);
      if (!r.ok() && (r.err == EINTR || r.err == EAGAIN)) continue;
      if (!r.ok() || r.value == 0) {
        input_open = false;  // end of our input: the terminal's EOF for the container
        const char eot = 4;
        WriteAll(sys, spec.master, &eot, 1);
        continue;
      }
      // The master refusing input means the container's side is closing:
      // the next read of the master says so.
      WriteAll(sys, spec.master, buf, r.value);
    }
  }
}

}  // namespace mydocker
