// FakeKernel: root-confined and fd-relative calls (openat2 with
// RESOLVE_IN_ROOT, openat, mkdirat, mknodat, symlinkat, fchmodat, unlinkat,
// fstatat, getdents64, fchdir), open_tree / mount_setattr, close_range,
// and the hardening calls (capset, seccomp).
//
// An *at call resolves its path as the path-based call would with the
// process's cwd set to the dirfd's node for the call; openat2 with
// RESOLVE_IN_ROOT also sets the process's root to it, so an absolute
// symlink and ".." stop there, as in the kernel, and RESOLVE_NO_MAGICLINKS
// makes a /proc magic link ELOOP.
#include <linux/close_range.h>
#include <linux/openat2.h>

#include "fakekernel/state.h"

namespace faultline {

namespace {
// Restores the process's cwd and root after an *at call.
struct AtScope {
  Process& p;
  Node cwd, root;
  bool* no_magic;
  AtScope(Process& proc, bool* nm) : p(proc), cwd(proc.cwd), root(proc.root), no_magic(nm) {}
  ~AtScope() {
    p.cwd = cwd;
    p.root = root;
    *no_magic = false;
  }
};
}  // namespace

int FakeKernel::State::FdNode(int fd, Node* out) {
  if (fd == AT_FDCWD) {
    *out = P().cwd;
    return 0;
  }
  OpenFile* f = OfdOf(fd);
  if (!f) return EBADF;
  if (f->kind == FileKind::kMountFd) {
    if (f->mnt < 0 || !mounts[f->mnt].alive) return EBADF;
    *out = RootOf(f->mnt);
    return 0;
  }
  if (f->node.mnt < 0) return EBADF;  // a pipe, an fs context
  *out = Fresh(f->node);
  return 0;
}

int FakeKernel::State::EnterAt(int dirfd, const std::string& path) {
  if (!path.empty() && path[0] == '/') return 0;
  if (dirfd == AT_FDCWD) return 0;
  Node n;
  if (int r = FdNode(dirfd, &n)) return r;
  if (!IsDir(n)) return ENOTDIR;
  P().cwd = n;
  return 0;
}

Result<int> FakeKernel::State::Openat2(int dirfd, const std::string& path,
                                       const mydocker::OpenHow& how) {
  constexpr uint64_t kKnown = RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS |
                              RESOLVE_BENEATH | RESOLVE_IN_ROOT | RESOLVE_CACHED;
  if (how.resolve & ~kKnown) return {-1, EINVAL};
  if ((how.resolve & RESOLVE_BENEATH) && (how.resolve & RESOLVE_IN_ROOT)) return {-1, EINVAL};
  if (how.resolve & (RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_CACHED))
    return {-1, EINVAL};  // not modelled: the runtime does not use them
  if (!(how.flags & (O_CREAT | O_TMPFILE)) && how.mode != 0) return {-1, EINVAL};
  AtScope scope(P(), &no_magiclinks_);
  if (how.resolve & RESOLVE_IN_ROOT) {
    Node root;
    if (int r = FdNode(dirfd, &root)) return {-1, r};
    if (!IsDir(root)) return {-1, ENOTDIR};
    P().root = root;
    P().cwd = root;
  } else if (int r = EnterAt(dirfd, path)) {
    return {-1, r};
  }
  no_magiclinks_ = (how.resolve & RESOLVE_NO_MAGICLINKS) != 0;
  return Open(path, static_cast<int>(how.flags), static_cast<mode_t>(how.mode));
}

Result<int> FakeKernel::State::Openat(int dirfd, const std::string& path, int flags,
                                      mode_t mode) {
  AtScope scope(P(), &no_magiclinks_);
  if (int r = EnterAt(dirfd, path)) return {-1, r};
  return Open(path, flags, mode);
}

Status FakeKernel::State::Mkdirat(int dirfd, const std::string& path, mode_t mode) {
  AtScope scope(P(), &no_magiclinks_);
  if (int r = EnterAt(dirfd, path)) return Status{r};
  return Mkdir(path, mode);
}

Status FakeKernel::State::Mknodat(int dirfd, const std::string& path, mode_t mode, dev_t dev) {
  AtScope scope(P(), &no_magiclinks_);
  if (int r = EnterAt(dirfd, path)) return Status{r};
  return Mknod(path, mode, dev);
}

Status FakeKernel::State::Symlinkat(const std::string& target, int dirfd,
                                    const std::string& linkpath) {
  AtScope scope(P(), &no_magiclinks_);
  if (int r = EnterAt(dirfd, linkpath)) return Status{r};
  return Symlink(target, linkpath);
}

Status FakeKernel::State::Fchmodat(int dirfd, const std::string& path, mode_t mode) {
  AtScope scope(P(), &no_magiclinks_);
  if (int r = EnterAt(dirfd, path)) return Status{r};
  return Chmod(path, mode);
}

Status FakeKernel::State::Unlinkat(int dirfd, const std::string& path, int flags) {
  if (flags & ~AT_REMOVEDIR) return Status{EINVAL};
  AtScope scope(P(), &no_magiclinks_);
  if (int r = EnterAt(dirfd, path)) return Status{r};
  return (flags & AT_REMOVEDIR) ? Rmdir(path) : Unlink(path);
}

Result<FileStat> FakeKernel::State::Fstatat(int dirfd, const std::string& path, int flags) {
  if (flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) return {{}, EINVAL};
  if (path.empty()) {
    if (!(flags & AT_EMPTY_PATH)) return {{}, ENOENT};
    Node n;
    if (int r = FdNode(dirfd, &n)) return {{}, r};
    return {StatOf(n), 0};
  }
  AtScope scope(P(), &no_magiclinks_);
  if (int r = EnterAt(dirfd, path)) return {{}, r};
  if (flags & AT_SYMLINK_NOFOLLOW) return Lstat(path);
  Node n;
  if (int r = Walk(path, true, &n)) return {{}, r};
  return {StatOf(n), 0};
}

Result<std::vector<DirEntry>> FakeKernel::State::ReadDirFd(int fd) {
  if (fd == AT_FDCWD) return {{}, EBADF};
  Node n;
  if (int r = FdNode(fd, &n)) return {{}, r};
  if (!IsDir(n)) return {{}, ENOTDIR};
  return {ListDir(n), 0};
}

Status FakeKernel::State::Fchdir(int fd) {
  if (fd == AT_FDCWD) return Status{EBADF};
  Node n;
  if (int r = FdNode(fd, &n)) return Status{r};
  if (!IsDir(n)) return Status{ENOTDIR};
  P().cwd = n;
  return Status{};
}

Result<int> FakeKernel::State::OpenTree(int dirfd, const std::string& path,
                                        unsigned int flags) {
  constexpr unsigned kKnown = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE |
                              AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT;
  if (flags & ~kKnown) return {-1, EINVAL};
  if ((flags & AT_RECURSIVE) && !(flags & OPEN_TREE_CLONE)) return {-1, EINVAL};
  // Without OPEN_TREE_CLONE the fd names an attached mount: not modelled
  // (the runtime only clones).
  if (!(flags & OPEN_TREE_CLONE)) return {-1, EINVAL};
  Node s;
  if (path.empty()) {
    if (!(flags & AT_EMPTY_PATH)) return {-1, ENOENT};
    if (int r = FdNode(dirfd, &s)) return {-1, r};
  } else {
    AtScope scope(P(), &no_magiclinks_);
    if (int r = EnterAt(dirfd, path)) return {-1, r};
    if (int r = Walk(path, !(flags & AT_SYMLINK_NOFOLLOW), &s)) return {-1, r};
  }
  s = CrossMounts(s);
  const int src_m = s.mnt;
  if (mounts[src_m].ns != P().mntns) return {-1, EINVAL};
  // A detached copy, as a bind mount would attach it (submounts with
  // AT_RECURSIVE), attached later by move_mount.
  int nm = NewMount(mounts[src_m].sb, s.ino, s.rel, mounts[src_m].flags);
  if (flags & AT_RECURSIVE) {
    std::vector<int> kids = mounts[src_m].kids;
    for (int k : kids) {
      if (!mounts[k].alive || !Reachable(mounts[k].mp, s)) continue;
      int c = CloneTree(k);
      Node mp = mounts[k].mp;
      mp.mnt = nm;
      mounts[c].parent = nm;
      mounts[c].mp = mp;
      mounts[c].ns = -1;
      mounts[nm].kids.push_back(c);
    }
  }
  OpenFile f;
  f.kind = FileKind::kMountFd;
  f.mnt = nm;
  return {InstallFd(std::move(f), flags & OPEN_TREE_CLOEXEC), 0};
}

Status FakeKernel::State::MountSetattr(int dirfd, const std::string& path, unsigned int flags,
                                       const mydocker::MountAttr& attr) {
  if (flags & ~(AT_EMPTY_PATH | AT_RECURSIVE | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT))
    return Status{EINVAL};
  constexpr uint64_t kAttrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                              MOUNT_ATTR_NOEXEC;
  if ((attr.attr_set | attr.attr_clr) & ~kAttrs) return Status{EINVAL};  // not modelled
  if (attr.propagation != 0) return Status{EINVAL};
  int m = -1;
  if (path.empty()) {
    if (!(flags & AT_EMPTY_PATH)) return Status{ENOENT};
    OpenFile* f = OfdOf(dirfd);
    if (!f) return Status{EBADF};
    if (f->kind == FileKind::kMountFd) {
      m = f->mnt;
    } else {
      Node n;
      if (int r = FdNode(dirfd, &n)) return Status{r};
      if (!IsMountRoot(n)) return Status{EINVAL};
      m = n.mnt;
    }
  } else {
    AtScope scope(P(), &no_magiclinks_);
    if (int r = EnterAt(dirfd, path)) return Status{r};
    Node n;
    if (int r = Walk(path, !(flags & AT_SYMLINK_NOFOLLOW), &n)) return Status{r};
    if (!IsMountRoot(n)) return Status{EINVAL};
    m = n.mnt;
  }
  if (m < 0 || !mounts[m].alive) return Status{EINVAL};
  auto bits = [](uint64_t a) {
    unsigned long f = 0;
    if (a & MOUNT_ATTR_RDONLY) f |= MS_RDONLY;
    if (a & MOUNT_ATTR_NOSUID) f |= MS_NOSUID;
    if (a & MOUNT_ATTR_NODEV) f |= MS_NODEV;
    if (a & MOUNT_ATTR_NOEXEC) f |= MS_NOEXEC;
    return f;
  };
  std::vector<int> tree;
  if (flags & AT_RECURSIVE) CollectTree(m, &tree);
  else tree.push_back(m);
  for (int k : tree) {
    mounts[k].flags = (mounts[k].flags & ~bits(attr.attr_clr)) | bits(attr.attr_set);
  }
  return Status{};
}

Status FakeKernel::State::CloseRange(unsigned int first, unsigned int last, unsigned int flags) {
  if (flags & ~(CLOSE_RANGE_CLOEXEC | CLOSE_RANGE_UNSHARE)) return Status{EINVAL};
  if (first > last) return Status{EINVAL};
  Process& p = P();
  const unsigned int end = std::min<unsigned int>(last, static_cast<unsigned int>(p.fds.size() - 1));
  for (unsigned int fd = first; fd < p.fds.size() && fd <= end; ++fd) {
    if (p.fds[fd].ofd < 0) continue;
    if (flags & CLOSE_RANGE_CLOEXEC) {
      p.fds[fd].cloexec = true;
    } else {
      (void)Close(static_cast<int>(fd));
    }
  }
  return Status{};
}

Status FakeKernel::State::Capset(const mydocker::CapSets& caps) {
  Process& p = P();
  // The kernel's rules: no new permitted capability; effective within
  // permitted; inheritable within the old inheritable and the bounding set.
  if (caps.permitted & ~p.cap_prm) return Status{EPERM};
  if (caps.effective & ~caps.permitted) return Status{EPERM};
  if (caps.inheritable & ~(p.cap_inh | p.cap_bnd)) return Status{EPERM};
  p.cap_prm = caps.permitted;
  p.cap_eff = caps.effective;
  p.cap_inh = caps.inheritable;
  return Status{};
}

Status FakeKernel::State::SeccompFilter(const mydocker::SeccompProgram& prog, unsigned int flags) {
  if (flags != 0) return Status{EINVAL};  // no TSYNC, LOG, ... modelled
  if (prog.len == 0 || prog.filter == nullptr) return Status{EINVAL};
  Process& p = P();
  constexpr int kCapSysAdmin = 21;
  if (!p.no_new_privs && !((p.cap_eff >> kCapSysAdmin) & 1)) return Status{EACCES};
  p.seccomp_filters += 1;
  return Status{};
}

Result<mydocker::SeccompBpf> FakeKernel::State::SeccompExport(const mydocker::SeccompRules& rules) {
  // A stand-in program: one 8-byte instruction per rule plus the arch check
  // and the default action (its content is never run: the fake kernel only
  // counts filters).
  mydocker::SeccompBpf bpf;
  bpf.code.assign(8 * (rules.rules.size() + 2), 0);
  if (bpf.code.size() / 8 > 0xffff) return {{}, E2BIG};
  return {std::move(bpf), 0};
}

}  // namespace faultline
