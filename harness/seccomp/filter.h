// The notify filter: built with libseccomp in the supervisor (before fork,
// where allocating is fine), exported as classic BPF, and loaded in the
// child with seccomp(2) directly, because libseccomp 2.5.4 cannot ask for
// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV.
#pragma once

#include <linux/filter.h>

#include <string>
#include <vector>

#include "runtime/util/error.h"

namespace faultline::seccomp {

// Native syscall numbers for names, in order. An unknown name is an error
// naming it (step "seccomp: resolve syscall").
mydocker::Expected<std::vector<int>> ResolveSyscalls(
    const std::vector<std::string>& names);

// Default ALLOW, SCMP_ACT_NOTIFY for each name, bad-arch ALLOW, no
// NO_NEW_PRIVS attribute (the child decides). Returns the BPF program.
mydocker::Expected<std::vector<sock_filter>> BuildNotifyFilter(
    const std::vector<std::string>& names);

struct LoadResult {
  int fd = -1;              // the listener, or -1
  int err = 0;              // errno of the failed load
  bool wait_killable = false;
};

// Loads prog on the calling thread with NEW_LISTENER, plus
// WAIT_KILLABLE_RECV when want_killable (retried without it on EINVAL, the
// answer of kernels before 5.19). Sets NO_NEW_PRIVS first only when the
// caller lacks CAP_SYS_ADMIN. Async-signal-safe: called between fork and
// exec.
LoadResult LoadNotifyFilter(const sock_fprog* prog, bool want_killable);

}  // namespace faultline::seccomp
