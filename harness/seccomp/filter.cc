#include "harness/seccomp/filter.h"

#include <linux/capability.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

namespace faultline::seccomp {

using mydocker::Expected;
using mydocker::MakeError;

Expected<std::vector<int>> ResolveSyscalls(
    const std::vector<std::string>& names) {
  std::vector<int> nrs;
  for (const auto& name : names) {
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR || nr < 0) {
      return MakeError("seccomp: resolve syscall", name, EINVAL,
                       "not a syscall of the native architecture");
    }
    nrs.push_back(nr);
  }
  return nrs;
}

Expected<std::vector<sock_filter>> BuildNotifyFilter(
    const std::vector<std::string>& names) {
  auto nrs = ResolveSyscalls(names);
  if (!nrs) return nrs.error();
  std::unique_ptr<void, void (*)(void*)> ctx(seccomp_init(SCMP_ACT_ALLOW),
                                            seccomp_release);
  if (!ctx) return MakeError("seccomp: init filter", "", ENOMEM);
  int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0);
  if (rc < 0) return MakeError("seccomp: attr NNP", "", -rc);
  rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ALLOW);
  if (rc < 0) return MakeError("seccomp: attr badarch", "", -rc);
  for (size_t i = 0; i < nrs->size(); ++i) {
    rc = seccomp_rule_add(ctx.get(), SCMP_ACT_NOTIFY, (*nrs)[i], 0);
    if (rc < 0) return MakeError("seccomp: add notify rule", names[i], -rc);
  }
  int mfd = memfd_create("faultline-bpf", MFD_CLOEXEC);
  if (mfd < 0) return MakeError("seccomp: memfd for bpf", "", errno);
  rc = seccomp_export_bpf(ctx.get(), mfd);
  if (rc < 0) {
    close(mfd);
    return MakeError("seccomp: export bpf", "", -rc);
  }
  off_t size = lseek(mfd, 0, SEEK_END);
  if (size <= 0 || size % sizeof(sock_filter) != 0) {
    close(mfd);
    return MakeError("seccomp: export bpf", "", EINVAL, "odd program size");
  }
  std::vector<sock_filter> prog(static_cast<size_t>(size) / sizeof(sock_filter));
  ssize_t n = pread(mfd, prog.data(), static_cast<size_t>(size), 0);
  int err = errno;
  close(mfd);
  if (n != size) return MakeError("seccomp: read bpf", "", n < 0 ? err : EIO);
  return prog;
}

namespace {

bool HasSysAdmin() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &hdr, data) != 0) return false;
  return (data[CAP_SYS_ADMIN / 32].effective & (1u << (CAP_SYS_ADMIN % 32))) != 0;
}

}  // namespace

LoadResult LoadNotifyFilter(const sock_fprog* prog, bool want_killable) {
  LoadResult r;
  if (!HasSysAdmin() && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    r.err = errno;
    return r;
  }
  unsigned long flags = SECCOMP_FILTER_FLAG_NEW_LISTENER;
  if (want_killable) {
    long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                      flags | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, prog);
    if (fd >= 0) {
      r.fd = static_cast<int>(fd);
      r.wait_killable = true;
      return r;
    }
    if (errno != EINVAL) {
      r.err = errno;
      return r;
    }
  }
  long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, prog);
  if (fd < 0) {
    r.err = errno;
    return r;
  }
  r.fd = static_cast<int>(fd);
  return r;
}

}  // namespace faultline::seccomp
