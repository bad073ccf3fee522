#include "faults/pause_channel.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>

namespace faultline {
namespace {

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

std::optional<PauseChannel> PauseChannel::FromEnv() {
  const char* v = ::getenv(kPauseFdsEnv);
  if (v == nullptr) return std::nullopt;
  int a = -1, b = -1;
  char tail = 0;
  if (std::sscanf(v, "%d,%d%c", &a, &b, &tail) != 2 || a < 0 || b < 0) return std::nullopt;
  return PauseChannel(a, b);
}

bool PauseChannel::Hold(const PauseRequest& req) const {
  PauseNote note;
  note.seq = req.seq;
  note.pid = req.pid;
  if (req.op != nullptr) {
    size_t n = strnlen(req.op, sizeof note.op - 1);
    memcpy(note.op, req.op, n);
    note.op[n] = 0;
  }
  ssize_t w;
  do {
    w = ::write(notify_, &note, sizeof note);
  } while (w < 0 && errno == EINTR);
  if (w != static_cast<ssize_t>(sizeof note)) return false;
  const int64_t until = NowMs() + req.bound_ms;
  for (;;) {
    const int64_t left = until - NowMs();
    if (left <= 0) return false;
    pollfd p{release_, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    char c;
    ssize_t r = ::read(release_, &c, 1);
    if (r < 0 && errno == EINTR) continue;
    return r == 1;
  }
}

Pauser PauseChannel::AsPauser() const {
  PauseChannel self = *this;
  return [self](const PauseRequest& req) { return self.Hold(req); };
}

std::optional<PauseNote> WaitForPause(int fd, int timeout_ms, bool* eof) {
  if (eof) *eof = false;
  const int64_t until = NowMs() + timeout_ms;
  PauseNote note;
  size_t got = 0;
  for (;;) {
    const int64_t left = until - NowMs();
    if (left <= 0) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    ssize_t r = ::read(fd, reinterpret_cast<char*>(&note) + got, sizeof note - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      if (r == 0 && eof) *eof = true;
      return std::nullopt;
    }
    got += static_cast<size_t>(r);
    if (got == sizeof note) {
      note.op[sizeof note.op - 1] = 0;
      return note;
    }
  }
}

bool ReleasePause(int fd) {
  // The held process may be gone (killed by a second actor, or its runtime
  // ended while its init was held): EPIPE then, never a SIGPIPE that ends
  // the harness. SIGPIPE is blocked for the write and a pending one taken.
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  const char c = 'r';
  ssize_t w;
  do {
    w = ::write(fd, &c, 1);
  } while (w < 0 && errno == EINTR);
  if (w < 0 && errno == EPIPE) {
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return w == 1;
}

}  // namespace faultline
