#include "faults/init_crash.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <string>
#include <system_error>
#include <thread>

namespace faultline {

using mydocker::MakeError;

mydocker::Expected<InitCrash> InitCrash::Make(int request_fd, int min_fd) {
  int death[2];
  if (::pipe2(death, O_CLOEXEC) != 0) {
    return MakeError("fault plan: init crash: death pipe", "", errno);
  }
  for (int& fd : death) {
    if (fd >= min_fd) continue;
    const int high = ::fcntl(fd, F_DUPFD_CLOEXEC, min_fd);
    if (high < 0) {
      const int e = errno;
      ::close(death[0]);
      ::close(death[1]);
      return MakeError("fault plan: init crash: move the death pipe above fd " +
                           std::to_string(min_fd), "", e);
    }
    ::close(fd);
    fd = high;
  }
  return InitCrash(::getpid(), request_fd, death[0], death[1]);
}

InitCrash::InitCrash(InitCrash&& o) noexcept
    : runtime_(o.runtime_), request_(o.request_), death_r_(o.death_r_), death_w_(o.death_w_) {
  o.death_r_ = o.death_w_ = -1;
}

InitCrash::~InitCrash() {
  // Only the process that made it closes: a clone child that unwinds (it
  // never should) must not close the runtime's copy under it.
  if (::getpid() != runtime_) return;
  if (death_r_ >= 0) ::close(death_r_);
  if (death_w_ >= 0) ::close(death_w_);
}

void InitCrash::Attach(FaultInjectingSys& fis, std::function<void()> before_death) {
  fis.set_crash_hook([this, before = std::move(before_death)](const CrashInfo&) {
    if (::getpid() == runtime_) return;  // the runtime itself: throw, die
    if (before) before();
    DieWithRuntime();
  });
}

void InitCrash::DieWithRuntime() const {
  if (death_w_ >= 0) ::close(death_w_);
  const char c = 'c';
  ssize_t w;
  while ((w = ::write(request_, &c, 1)) < 0 && errno == EINTR) {
  }
  if (w == 1 && death_r_ >= 0) {
    char b;
    while (::read(death_r_, &b, 1) < 0 && errno == EINTR) {
    }
  }
  // No killer (its pipe gone): the init still ends here, without unwinding.
  ::_exit(128 + SIGKILL);
}

mydocker::Expected<int> StartKillerThread() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    return MakeError("fault plan: init crash: killer pipe", "", errno);
  }
  const int read_fd = p[0];
  try {
    std::thread([read_fd] {
      char c;
      ssize_t n;
      while ((n = ::read(read_fd, &c, 1)) < 0 && errno == EINTR) {
      }
      if (n == 1) ::kill(::getpid(), SIGKILL);  // the init crashed: the runtime dies
      ::close(read_fd);
    }).detach();
  } catch (const std::system_error& e) {
    ::close(p[0]);
    ::close(p[1]);
    return MakeError("fault plan: init crash: killer thread", "", e.code().value());
  }
  return p[1];
}

}  // namespace faultline
