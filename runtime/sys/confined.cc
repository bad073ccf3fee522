#include "runtime/sys/confined.h"

#include "runtime/sys/drop.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>

namespace mydocker {

Expected<ConfinedPath> MakeConfinedPath(const std::string& container_path) {
  ConfinedPath p;
  p.shown = container_path.empty() || container_path[0] != '/' ? "/" + container_path
                                                                : container_path;
  size_t pos = 0;
  while (pos <= container_path.size()) {
    size_t next = container_path.find('/', pos);
    if (next == std::string::npos) next = container_path.size();
    std::string c = container_path.substr(pos, next - pos);
    pos = next + 1;
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      return MakeError("container path", container_path, EINVAL, "'..' is not allowed");
    }
    p.rel += (p.rel.empty() ? "" : "/") + c;
    p.components.push_back(c);
    p.prefixes.push_back(p.rel);
  }
  if (p.rel.empty()) p.rel = ".";
  return p;
}

uint64_t ConfinedResolveFlags() { return RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS; }

namespace {

constexpr int kPathFlags = O_PATH | O_CLOEXEC;

// The fallback: one component at a time, never following a symlink.
// Components [0, n) of p; the last one opened with last_flags.
Result<int> WalkNoFollow(Sys& sys, int root_fd, const ConfinedPath& p, size_t n,
                         int last_flags) {
  auto cur = sys.Openat(root_fd, ".", kPathFlags | O_DIRECTORY, 0);
  if (!cur.ok()) return cur;
  for (size_t i = 0; i < n; ++i) {
    const bool last = i + 1 == n;
    int flags = kPathFlags | O_NOFOLLOW | (last ? last_flags : O_DIRECTORY);
    auto next = sys.Openat(cur.value, p.components[i], flags, 0);
    CloseFd(sys, cur.value);
    if (!next.ok()) return {-1, next.err};
    cur = next;
    if (last && (last_flags & O_DIRECTORY) == 0) {
      // O_PATH | O_NOFOLLOW opens a symlink itself: refuse it.
      auto st = sys.Fstatat(cur.value, "", AT_EMPTY_PATH);
      if (!st.ok() || S_ISLNK(st.value.mode)) {
        CloseFd(sys, cur.value);
        return {-1, st.ok() ? ELOOP : st.err};
      }
    }
  }
  return cur;
}

Result<int> Resolve(Sys& sys, int root_fd, const std::string& rel, const ConfinedPath& p,
                    size_t n, int flags) {
  OpenHow how;
  how.flags = static_cast<uint64_t>(kPathFlags | flags);
  how.resolve = ConfinedResolveFlags();
  auto fd = sys.Openat2(root_fd, rel, how);
  if (fd.err != ENOSYS) return fd;
  return WalkNoFollow(sys, root_fd, p, n, flags);
}

}  // namespace

Result<int> OpenInRoot(Sys& sys, int root_fd, const ConfinedPath& p, int flags) {
  return Resolve(sys, root_fd, p.rel, p, p.components.size(), flags);
}

Result<int> MkdirAllInRoot(Sys& sys, int root_fd, const ConfinedPath& p, mode_t mode) {
  auto whole = OpenInRoot(sys, root_fd, p, O_DIRECTORY);
  if (whole.err != ENOENT) return whole;
  // Some component is missing: walk the prefixes from the root, making each
  // missing one in the directory its parent resolved to.
  int parent = -1;  // -1: root_fd itself
  for (size_t i = 0; i < p.prefixes.size(); ++i) {
    auto fd = Resolve(sys, root_fd, p.prefixes[i], p, i + 1, O_DIRECTORY);
    if (fd.err == ENOENT) {
      Status made = sys.Mkdirat(parent < 0 ? root_fd : parent, p.components[i], mode);
      if (!made.ok() && made.err != EEXIST) {
        if (parent >= 0) CloseFd(sys, parent);
        return {-1, made.err};
      }
      fd = Resolve(sys, root_fd, p.prefixes[i], p, i + 1, O_DIRECTORY);
    }
    if (parent >= 0) CloseFd(sys, parent);
    if (!fd.ok()) return fd;
    parent = fd.value;
  }
  if (parent < 0) return sys.Openat(root_fd, ".", kPathFlags | O_DIRECTORY, 0);
  return {parent, 0};
}

}  // namespace mydocker
