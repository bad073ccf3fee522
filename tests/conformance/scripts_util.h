// Helpers shared by the conformance scripts.
#pragma once

#include <sys/prctl.h>
#include <signal.h>

#include "runtime/sys/sys.h"

namespace faultline::conformance {

// A Clone fn that dies with its parent and execs `sleep 60` (/bin/sleep on
// the host; FakeKernel parks it). close_fd (>= 0) is closed first. Makes no
// recorded step: on Linux it runs in another process.
inline mydocker::CloneFn SleeperFn(mydocker::Sys& sys, int close_fd = -1) {
  return [&sys, close_fd]() {
    static char arg0[] = "sleep", arg1[] = "60";
    static char* const argv[] = {arg0, arg1, nullptr};
    static char* const envp[] = {nullptr};
    (void)sys.Prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (close_fd >= 0) (void)sys.Close(close_fd);
    (void)sys.Execve("/bin/sleep", argv, envp);
    return 127;
  };
}

}  // namespace faultline::conformance
