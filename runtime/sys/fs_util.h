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

// Writes content to path.tmp, fsyncs it, renames it over path and fsyncs
// path's directory: once it returns, the new content survives a crash of the
// machine (the state files and the image's completion marker are trusted
// only after that).
//
// sync_dir false skips the directory's fsync, for a file that replaces one
// already made durable this way (the name exists on the disk): the content
// is fsynced before the rename and the rename is atomic, so after a crash
// the path holds the old content or the new one, both complete. Use it only
// where the old content is an acceptable state to come back to.
Outcome WriteFileAtomic(Sys& sys, const std::string& path,
                        const std::string& content, mode_t mode,
                        const std::string& step, bool sync_dir = true);

// fsync(2) of a directory (opened O_RDONLY|O_DIRECTORY): makes the names
// created, renamed or removed in it durable.
Outcome FsyncDir(Sys& sys, const std::string& dir, const std::string& step);

// An flock(2) on a lock file, held while the FileLock lives (released when
// its fd is closed: by Release, the destructor, or the process's death: a
// killed holder never leaves a stale lock). Moves, does not copy.
// The destructor's close(2) goes through Sys, where a fault plan may end the
// runtime (FaultInjectingSys's Crash): it may throw, so keep a held lock in
// a FileLock of its own, not inside an Expected.
class FileLock {
 public:
  enum class Mode { kShared, kExclusive };
  FileLock() = default;
  ~FileLock() noexcept(false) { Release(); }
  FileLock(FileLock&& o) noexcept : sys_(o.sys_), fd_(o.fd_) { o.fd_ = -1; }
  FileLock& operator=(FileLock&& o) noexcept {
    if (this != &o) {
      Release();
      sys_ = o.sys_;
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  // Opens path (created 0600 when create, else ENOENT when missing) and
  // takes the lock; with wait=false a lock another holder has fails with
  // EWOULDBLOCK. Errors name the step, the path and the errno.
  static Expected<FileLock> Acquire(Sys& sys, const std::string& path, Mode mode,
                                    bool wait, bool create, const std::string& step);
  bool held() const { return fd_ >= 0; }
  void Release();

 private:
  Sys* sys_ = nullptr;
  int fd_ = -1;
};

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
