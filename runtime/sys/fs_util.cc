#include "runtime/sys/fs_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "runtime/sys/drop.h"

namespace mydocker {

std::string JoinPath(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  std::string out = a;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  size_t start = 0;
  while (start < b.size() && b[start] == '/') ++start;
  if (out != "/") out += '/';
  out.append(b, start, std::string::npos);
  return out;
}

Outcome MkdirAll(Sys& sys, const std::string& path, mode_t mode,
                 const std::string& step) {
  if (path.empty()) return MakeError(step, path, EINVAL, "empty path");
  std::string cur;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    cur = path.substr(0, next);
    pos = next + 1;
    if (cur.empty() || cur == "/") continue;
    Status st = sys.Mkdir(cur, mode);
    if (!st.ok() && st.err != EEXIST) return MakeError(step, cur, st.err);
    if (st.err == EEXIST) {
      auto s = sys.Lstat(cur);
      if (!s.ok()) return MakeError(step, cur, s.err);
      if (!S_ISDIR(s.value.mode)) return MakeError(step, cur, ENOTDIR);
    }
  }
  return Outcome::Ok();
}

// A read or write interrupted by a signal is retried, but not forever: a
// backend that keeps answering EINTR (a fault plan, a signal storm) gets the
// EINTR reported instead of a hang.
constexpr int kMaxEintrRetries = 16;

static Outcome WriteAll(Sys& sys, int fd, const std::string& path,
                        const std::string& content, const std::string& step) {
  size_t off = 0;
  int interrupted = 0;
  while (off < content.size()) {
    auto w = sys.Write(fd, content.data() + off, content.size() - off);
    if (!w.ok()) {
      if (w.err == EINTR && ++interrupted <= kMaxEintrRetries) continue;
      return MakeError(step, path, w.err);
    }
    if (w.value == 0) return MakeError(step, path, EIO, "short write");
    off += w.value;
  }
  return Outcome::Ok();
}

static Outcome OpenWriteClose(Sys& sys, const std::string& path, int flags,
                              mode_t mode, const std::string& content,
                              const std::string& step) {
  auto fd = sys.Open(path, flags | O_CLOEXEC, mode);
  if (!fd.ok()) return MakeError(step, path, fd.err);
  Outcome w = WriteAll(sys, fd.value, path, content, step);
  Status c = sys.Close(fd.value);
  if (!w.ok()) return w;
  if (!c.ok()) return MakeError(step, path, c.err);
  return Outcome::Ok();
}

Outcome WriteFile(Sys& sys, const std::string& path, const std::string& content,
                  mode_t mode, const std::string& step) {
  return OpenWriteClose(sys, path, O_WRONLY | O_CREAT | O_TRUNC, mode, content,
                        step);
}

Outcome WriteExisting(Sys& sys, const std::string& path,
                      const std::string& content, const std::string& step) {
  return OpenWriteClose(sys, path, O_WRONLY, 0, content, step);
}

static std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Outcome FsyncDir(Sys& sys, const std::string& dir, const std::string& step) {
  auto fd = sys.Open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (!fd.ok()) return MakeError(step + ": open directory for fsync", dir, fd.err);
  Status f = sys.Fsync(fd.value);
  Status c = sys.Close(fd.value);
  if (!f.ok()) return MakeError(step + ": fsync directory", dir, f.err);
  if (!c.ok()) return MakeError(step + ": close directory", dir, c.err);
  return Outcome::Ok();
}

Outcome WriteFileAtomic(Sys& sys, const std::string& path,
                        const std::string& content, mode_t mode,
                        const std::string& step, bool sync_dir) {
  const std::string tmp = path + ".tmp";
  auto fd = sys.Open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (!fd.ok()) return MakeError(step, tmp, fd.err);
  Outcome w = WriteAll(sys, fd.value, tmp, content, step);
  Status f = w.ok() ? sys.Fsync(fd.value) : Status{};
  Status c = sys.Close(fd.value);
  Outcome failed;
  if (!w.ok()) failed = w;
  else if (!f.ok()) failed = MakeError(step + ": fsync", tmp, f.err);
  else if (!c.ok()) failed = MakeError(step, tmp, c.err);
  if (!failed.ok()) {
    (void)sys.Unlink(tmp);  // best effort: the temporary file may not exist
    return failed;
  }
  Status r = sys.Rename(tmp, path);
  if (!r.ok()) {
    (void)sys.Unlink(tmp);  // best effort: the temporary file may not exist
    return MakeError(step, path, r.err);
  }
  if (!sync_dir) return Outcome::Ok();
  return FsyncDir(sys, DirName(path), step);
}

Expected<FileLock> FileLock::Acquire(Sys& sys, const std::string& path, Mode mode,
                                     bool wait, bool create, const std::string& step) {
  int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0);
  auto fd = sys.Open(path, flags, 0600);
  if (!fd.ok()) return MakeError(step + ": open lock", path, fd.err);
  int op = (mode == Mode::kExclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);
  Status l{EINTR};
  for (int i = 0; i <= kMaxEintrRetries && l.err == EINTR; ++i) l = sys.Flock(fd.value, op);
  if (!l.ok()) {
    CloseFd(sys, fd.value);
    return MakeError(step + ": lock", path, l.err,
                     l.err == EWOULDBLOCK ? "held by another mydocker" : "");
  }
  FileLock lock;
  lock.sys_ = &sys;
  lock.fd_ = fd.value;
  return lock;
}

void FileLock::Release() {
  if (fd_ < 0) return;
  // Closing the last fd of the open file releases the flock.
  (void)sys_->Close(fd_);
  fd_ = -1;
}

Expected<std::string> ReadFile(Sys& sys, const std::string& path,
                               const std::string& step) {
  auto fd = sys.Open(path, O_RDONLY | O_CLOEXEC, 0);
  if (!fd.ok()) return MakeError(step, path, fd.err);
  std::string out;
  char buf[4096];
  int interrupted = 0;
  for (;;) {
    auto r = sys.Read(fd.value, buf, sizeof buf);
    if (!r.ok()) {
      if (r.err == EINTR && ++interrupted <= kMaxEintrRetries) continue;
      CloseFd(sys, fd.value);
      return MakeError(step, path, r.err);
    }
    if (r.value == 0) break;
    out.append(buf, r.value);
  }
  CloseFd(sys, fd.value);
  return out;
}

bool Exists(Sys& sys, const std::string& path) { return sys.Lstat(path).ok(); }

// rmdir(2) never removes a non-empty directory and never crosses a mount
// (a mount point gives EBUSY), so trying it first is safe and saves the walk
// for the common empty case.
static bool NotEmpty(int err) { return err == ENOTEMPTY || err == EEXIST; }

namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

struct Frame {
  std::string name;  // the directory's name in its parent
  uint64_t dev = 0, ino = 0;  // the parent's identity, checked on the way up
};

// "path/a/b/name" for an error (allocates; only on failure).
std::string Shown(const std::string& path, const std::vector<Frame>& stack,
                  const std::string& name) {
  std::string out = path;
  for (const Frame& f : stack) out = JoinPath(out, f.name);
  return name.empty() ? out : JoinPath(out, name);
}

// Empties the directory open at *cur (st_dev dev), one fd at a time: it
// descends into a non-empty subdirectory by openat(O_NOFOLLOW), closing the
// parent, and comes back with openat("..") checked against the parent's
// (dev, ino). So the depth is not bounded by PATH_MAX or by the fd limit,
// a symlink swapped in for a directory is unlinked, never followed, and a
// directory moved away while the walk is below it is reported (EXDEV), not
// followed. *cur is the top directory again on success.
Outcome RemoveBelowFd(Sys& sys, int* cur, uint64_t dev, const std::string& path,
                      const std::string& step) {
  std::vector<Frame> stack;
  for (;;) {
    auto entries = sys.ReadDirFd(*cur);
    if (!entries.ok()) return MakeError(step, Shown(path, stack, ""), entries.err);
    bool descended = false;
    for (const DirEntry& e : entries.value) {
      if (e.type != DT_DIR && e.type != DT_UNKNOWN) {
        Status u = sys.Unlinkat(*cur, e.name, 0);
        if (u.ok() || u.err == ENOENT) continue;
        if (u.err != EISDIR) return MakeError(step, Shown(path, stack, e.name), u.err);
      }
      Status r = sys.Unlinkat(*cur, e.name, AT_REMOVEDIR);
      if (r.ok() || r.err == ENOENT) continue;
      if (r.err == ENOTDIR) {  // DT_UNKNOWN, or swapped for a file or a link
        Status u = sys.Unlinkat(*cur, e.name, 0);
        if (u.ok() || u.err == ENOENT) continue;
        return MakeError(step, Shown(path, stack, e.name), u.err);
      }
      if (!NotEmpty(r.err)) return MakeError(step, Shown(path, stack, e.name), r.err);
      auto child = sys.Openat(*cur, e.name, kDirFlags, 0);
      if (!child.ok()) {
        if (child.err == ENOENT) continue;
        return MakeError(step, Shown(path, stack, e.name), child.err);
      }
      auto cst = sys.Fstatat(child.value, "", AT_EMPTY_PATH);
      auto pst = sys.Fstatat(*cur, "", AT_EMPTY_PATH);
      if (!cst.ok() || !pst.ok()) {
        CloseFd(sys, child.value);
        return MakeError(step, Shown(path, stack, e.name), cst.ok() ? pst.err : cst.err);
      }
      if (cst.value.dev != dev) {
        CloseFd(sys, child.value);
        return MakeError(step, Shown(path, stack, e.name), EBUSY,
                         "another filesystem is mounted here; not removing");
      }
      stack.push_back(Frame{e.name, pst.value.dev, pst.value.ino});
      CloseFd(sys, *cur);
      *cur = child.value;
      descended = true;
      break;
    }
    if (descended) continue;
    if (stack.empty()) return Outcome::Ok();
    // This directory is empty: go up, check it is the parent we came from,
    // and remove it there.
    auto parent = sys.Openat(*cur, "..", kDirFlags, 0);
    if (!parent.ok()) return MakeError(step, Shown(path, stack, ".."), parent.err);
    auto st = sys.Fstatat(parent.value, "", AT_EMPTY_PATH);
    const Frame f = stack.back();
    if (!st.ok() || st.value.dev != f.dev || st.value.ino != f.ino) {
      CloseFd(sys, parent.value);
      return MakeError(step, Shown(path, stack, ""), st.ok() ? EXDEV : st.err,
                       "moved while being removed");
    }
    CloseFd(sys, *cur);
    *cur = parent.value;
    stack.pop_back();
    Status r = sys.Unlinkat(*cur, f.name, AT_REMOVEDIR);
    if (!r.ok() && r.err != ENOENT && !NotEmpty(r.err)) {
      return MakeError(step, Shown(path, stack, f.name), r.err);
    }
    // Not empty any more (something wrote there meanwhile): the next pass
    // over this directory descends into it again.
  }
}

}  // namespace

Outcome RemoveTree(Sys& sys, const std::string& path, const std::string& step) {
  Status first = sys.Rmdir(path);
  if (first.ok() || first.err == ENOENT) return Outcome::Ok();
  if (first.err == ENOTDIR) {
    Status u = sys.Unlink(path);
    if (!u.ok() && u.err != ENOENT) return MakeError(step, path, u.err);
    return Outcome::Ok();
  }
  if (!NotEmpty(first.err)) return MakeError(step, path, first.err);
  auto fd = sys.Open(path, kDirFlags, 0);
  if (!fd.ok()) {
    if (fd.err == ENOENT) return Outcome::Ok();
    return MakeError(step, path, fd.err);
  }
  int cur = fd.value;
  auto st = sys.Fstatat(cur, "", AT_EMPTY_PATH);
  Outcome below = st.ok() ? RemoveBelowFd(sys, &cur, st.value.dev, path, step)
                          : Outcome(MakeError(step, path, st.err));
  CloseFd(sys, cur);
  if (!below) return below;
  Status r = sys.Rmdir(path);
  if (!r.ok() && r.err != ENOENT) return MakeError(step, path, r.err);
  return Outcome::Ok();
}

Outcome RemoveKnownTree(Sys& sys, const std::string& path,
                        std::span<const KnownEntry> entries,
                        const std::string& step) {
  for (const KnownEntry& e : entries) {
    const std::string child = JoinPath(path, e.name);
    Status st = e.dir ? sys.Rmdir(child) : sys.Unlink(child);
    if (!st.ok() && st.err != ENOENT) return RemoveTree(sys, path, step);
  }
  Status last = sys.Rmdir(path);
  if (last.ok() || last.err == ENOENT) return Outcome::Ok();
  return RemoveTree(sys, path, step);
}

}  // namespace mydocker
