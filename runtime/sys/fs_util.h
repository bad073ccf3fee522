// File helpers composed from Sys calls, so they run on every Sys backend.
#pragma once

#include <sys/types.h>

#include <span>
#include <string>
#include <vector>

#include "runtime/sys/sys.h"
#include "runtime/util/error.h"

namespace mydocker {

// Creates path and its missing parents (like mkdir -p). EEXIST is success
// when the existing entry is a directory.
Outcome MkdirAll(Sys& sys, const std::string& path, mode_t mode,
                 const std::string& step);

// Writes content to path (created or truncated) with mode.
Outcome WriteFile(Sys& sys, const std::string& path, const std::string& content,
                  mode_t mode, const std::string& step);

// Writes content to path.tmp, then renames it over path.
Outcome WriteFileAtomic(Sys& sys, const std::string& path,
                        const std::string& content, mode_t mode,
                        const std::string& step);

// Writes content to an existing file opened O_WRONLY (cgroup files).
Outcome WriteExisting(Sys& sys, const std::string& path,
                      const std::string& content, const std::string& step);

Expected<std::string> ReadFile(Sys& sys, const std::string& path,
                               const std::string& step);

// True when lstat(path) succeeds.
bool Exists(Sys& sys, const std::string& path);

// Removes path and everything below it, like rm -rf, but never crosses into
// another filesystem: an entry on a different st_dev than path (a mount
// point, a bind-mounted volume) fails with EBUSY and nothing below it is
// touched. A missing path is success. The walk is by fd (openat with
// O_NOFOLLOW, getdents64, unlinkat, back up by ".." checked against the
// parent's dev and inode), one directory fd open at a time: a tree deeper
// than PATH_MAX is removed, and a symlink swapped in for a directory is
// unlinked, never followed.
Outcome RemoveTree(Sys& sys, const std::string& path, const std::string& step);

// One entry a caller created below a directory (for RemoveKnownTree).
struct KnownEntry {
  const char* name;  // relative to the tree's root: "etc/hostname"
  bool dir;          // removed with rmdir (true) or unlink (false)
};

// Removes path and everything below it with the same result as RemoveTree,
// in fewer calls when the tree holds what the caller put there: each entry is
// removed by name, in the order given (children before their parents), then
// path itself; a missing entry (ENOENT) is skipped. unlink and rmdir never
// follow symlinks or cross mounts, so a wrong guess is harmless: at the first
// other failure (a directory someone filled, a file replaced by a directory,
// a mount point, an I/O error) it falls back to RemoveTree(path), which
// removes whatever is left and reports the failure with its own path and
// errno. A missing path is success.
Outcome RemoveKnownTree(Sys& sys, const std::string& path,
                        std::span<const KnownEntry> entries,
                        const std::string& step);

// "a/b" + "c" with exactly one slash between.
std::string JoinPath(const std::string& a, const std::string& b);

}  // namespace mydocker
