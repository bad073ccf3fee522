// Paths on the container side, resolved inside the container's root and
// never through a symlink the image or the container planted outside it.
//
// The container root is an fd (O_PATH of the merged dir). A container path
// ("/data/x") is prepared in the parent as a ConfinedPath (its relative
// form, its components and its prefixes); the child then opens it with
// OpenInRoot or creates it with MkdirAllInRoot, which allocate nothing and
// call only Sys:
//   * openat2(root, rel, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): a symlink
//     is followed as if root were "/" (an absolute link "/etc" lands on
//     root/etc, ".." stops at root), and /proc magic links are refused;
//   * where the kernel lacks openat2 (ENOSYS, before Linux 5.6), a walk of
//     one openat(O_PATH | O_NOFOLLOW) per component from root: a symlink
//     anywhere in the path is refused (ELOOP), which is stricter than
//     openat2 but never leaves the root.
// The fd returned is O_PATH | O_CLOEXEC: mount onto it with move_mount
// (MOVE_MOUNT_T_EMPTY_PATH), stat it with fstatat(AT_EMPTY_PATH).
#pragma once

#include <string>
#include <vector>

#include "runtime/sys/sys.h"
#include "runtime/util/error.h"

namespace mydocker {

struct ConfinedPath {
  std::string shown;                    // "/data/x", for errors
  std::string rel;                      // "data/x"; "." for the root itself
  std::vector<std::string> components;  // {"data", "x"}
  std::vector<std::string> prefixes;    // {"data", "data/x"}
};

// Splits an absolute or relative container path; "." and empty components
// are dropped. ".." is refused (EINVAL): container paths the runtime
// resolves never need it, and refusing it keeps the fallback walk simple.
Expected<ConfinedPath> MakeConfinedPath(const std::string& container_path);

// The resolve flags every container-side lookup uses.
uint64_t ConfinedResolveFlags();

// Opens p below root_fd; flags are open flags added to O_PATH | O_CLOEXEC
// (O_DIRECTORY to require a directory). Async-signal-safe with LinuxSys.
Result<int> OpenInRoot(Sys& sys, int root_fd, const ConfinedPath& p, int flags);

// Opens the directory p below root_fd, creating each missing component with
// mkdirat (mode) in the directory its parent resolved to. A component that
// exists and is not a directory (after following in-root symlinks) fails
// ENOTDIR; a dangling symlink fails ENOENT. Async-signal-safe with LinuxSys.
Result<int> MkdirAllInRoot(Sys& sys, int root_fd, const ConfinedPath& p, mode_t mode);

}  // namespace mydocker
