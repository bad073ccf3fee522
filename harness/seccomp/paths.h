// Turning a path argument of a notified call into the path the caller meant
// (absolute, as seen from its own root) and the host path the kernel will
// act on. Pure string work, no syscalls: the /proc links are inputs.
#pragma once

#include <string>

namespace faultline::seccomp {

struct ResolvedPath {
  std::string seen;  // as the process sees it: absolute in its root
  std::string host;  // the same on the host
};

// raw: the argument as passed. root_host: readlink /proc/PID/root ("/" for
// an unconfined process). base_host: for a relative raw, the host path of
// the directory it is relative to (/proc/PID/cwd, or /proc/PID/fd/DIRFD for
// an *at call); ignored for an absolute raw.
// Paths are normalized lexically ("a//b/./c/" -> "a/b/c"; ".." kept, since
// only the kernel knows what a symlink before it points at). An empty raw
// stays empty (AT_EMPTY_PATH calls act on the dirfd itself: pass the dirfd's
// path as raw for those).
ResolvedPath ResolvePath(const std::string& raw, const std::string& root_host,
                         const std::string& base_host);

// "/a//b/./c/" -> "/a/b/c"; "" -> "".
std::string NormalizePath(const std::string& p);

// base_host with the root_host prefix taken off, as the process sees it:
// ("/var/c1/rootfs/etc", "/var/c1/rootfs") -> "/etc". A base outside the
// root (a process whose cwd escaped its chroot) stays a host path.
std::string StripRoot(const std::string& base_host, const std::string& root_host);

}  // namespace faultline::seccomp
