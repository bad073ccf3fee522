// FakeKernel vfs: inodes, superblocks, path lookup and resolution (symlinks,
// "." and ".." across mounts), and the file and directory ops on top of it.
#include "fakekernel/state.h"

namespace faultline {

Process* FakeKernel::State::Find(pid_t pid) {
  auto it = procs.find(pid);
  return it == procs.end() ? nullptr : &it->second;
}

bool FakeKernel::State::Virtual(int mnt) const { return Ops(mnt).by_rel; }

bool FakeKernel::State::Same(const Node& a, const Node& b) const {
  if (a.mnt != b.mnt) return false;
  return Virtual(a.mnt) ? a.rel == b.rel : a.ino == b.ino;
}

Node FakeKernel::State::RootOf(int m) {
  Node n{m, mounts[m].root_ino, mounts[m].root_rel};
  Ops(m).refresh(*this, &n);
  return n;
}

bool FakeKernel::State::IsMountRoot(const Node& n) {
  const MountRec& m = mounts[n.mnt];
  return Virtual(n.mnt) ? n.rel == m.root_rel : n.ino == m.root_ino;
}

Node FakeKernel::State::Fresh(Node n) {
  if (n.mnt >= 0) Ops(n).refresh(*this, &n);
  return n;
}

uint32_t FakeKernel::State::NewInode(uint32_t sb, uint32_t mode) {
  Inode i;
  i.sb = sb;
  i.mode = mode;
  i.nlink = 1;
  // Nothing of a new inode is durable yet (its content, its entries).
  i.dirty_data = i.dirty_dir = sb < sbs.size() && sbs[sb].persistent;
  inodes.push_back(std::move(i));
  return static_cast<uint32_t>(inodes.size() - 1);
}

uint32_t FakeKernel::State::AddChild(uint32_t dir, std::string_view name,
                                     uint32_t mode) {
  uint32_t ino = NewInode(inodes[dir].sb, mode);
  Inode& c = inodes[ino];
  c.parent = dir;
  c.name = std::string(name);
  if (S_ISDIR(mode)) c.nlink = 2;
  DirtyDir(dir);
  inodes[dir].children.emplace(std::string(name), ino);
  return ino;
}

int FakeKernel::State::NewSuper(FsKind kind, std::string fstype,
                                std::string source, int64_t magic,
                                uint64_t dev) {
  Super s;
  s.kind = kind;
  s.fstype = std::move(fstype);
  s.source = std::move(source);
  s.magic = magic;
  s.dev = dev ? dev : makedev(0, next_minor++);
  sbs.push_back(std::move(s));
  int id = static_cast<int>(sbs.size() - 1);
  if (kind != FsKind::kOverlay) {
    uint32_t root = NewInode(static_cast<uint32_t>(id), S_IFDIR | 0755);
    inodes[root].parent = root;
    inodes[root].nlink = 2;
    sbs[id].root = root;
  }
  return id;
}

int FakeKernel::State::NewMount(int sb, uint32_t root_ino, std::string root_rel,
                                unsigned long flags) {
  MountRec m;
  m.sb = sb;
  m.root_ino = root_ino;
  m.root_rel = std::move(root_rel);
  m.flags = flags & kPerMountFlags;
  mounts.push_back(std::move(m));
  return static_cast<int>(mounts.size() - 1);
}

bool FakeKernel::State::IsDir(const Node& n) {
  return S_ISDIR(Ops(n).type(*this, n));
}

bool FakeKernel::State::IsLink(const Node& n) {
  return S_ISLNK(Ops(n).type(*this, n));
}

int FakeKernel::State::Lookup(const Node& dir, std::string_view name,
                               Node* out) {
  return Ops(dir).lookup(*this, dir, name, out);
}

int FakeKernel::State::MountAt(const Node& n) {
  for (int k : mounts[n.mnt].kids) {
    const MountRec& m = mounts[k];
    if (m.alive && Same(m.mp, n)) return k;
  }
  return -1;
}

Node FakeKernel::State::CrossMounts(Node n) {
  for (int guard = 0; guard < 64; ++guard) {
    int k = MountAt(n);
    if (k < 0) return n;
    n = RootOf(k);
  }
  return n;
}

Node FakeKernel::State::ParentInFs(const Node& n) {
  return Ops(n).parent(*this, n);
}

Node FakeKernel::State::DotDot(Node n, const Node& root) {
  for (;;) {
    if (Same(n, root)) return n;
    if (IsMountRoot(n)) {
      const MountRec& m = mounts[n.mnt];
      if (m.parent < 0) return n;
      n = m.mp;
      n = Fresh(n);
      continue;
    }
    return CrossMounts(ParentInFs(n));
  }
}

int FakeKernel::State::Walk(std::string_view path, bool follow_last, Node* out,
                            bool parent_only, std::string* last,
                            bool* trailing) {
  if (path.empty()) return ENOENT;
  const Process& p = P();
  const bool absolute = path[0] == '/';
  Node dir = Fresh(absolute ? p.root : p.cwd);
  bool trail = path.size() > 1 && path.back() == '/';
  if (trailing) *trailing = trail;
  // Components still to walk, last one first (reused scratch: Walk never
  // re-enters itself).
  std::vector<std::string_view>& todo = walk_scratch_;
  todo.clear();
  SplitPathInto(path, &todo);
  if (parent_only) {
    if (todo.empty()) {
      *last = "";
      *out = dir;
      return 0;
    }
    *last = std::string(todo.back());
    todo.pop_back();
  }
  std::reverse(todo.begin(), todo.end());
  std::forward_list<std::string> hold;  // symlink targets being walked
  int links = 0;
  while (!todo.empty()) {
    std::string_view name = todo.back();
    todo.pop_back();
    if (!IsDir(dir)) return ENOTDIR;
    if (name == ".") continue;
    if (name == "..") {
      dir = DotDot(dir, Fresh(p.root));
      continue;
    }
    Node child;
    if (int e = Lookup(dir, name, &child)) return e;
    if (!mounts[child.mnt].kids.empty()) child = CrossMounts(std::move(child));
    // With parent_only the last component is already in *last: every
    // component left is an intermediate one, and its symlinks are followed.
    bool is_last = todo.empty() && !parent_only;
    if (IsLink(child) && (!is_last || (!parent_only && (follow_last || trail)))) {
      if (++links > 40) return ELOOP;
      Node jump;
      const FsOps& cops = Ops(child);
      if (cops.jump && cops.jump(*this, child, &jump)) {
        if (no_magiclinks_) return ELOOP;  // openat2 RESOLVE_NO_MAGICLINKS
        dir = CrossMounts(jump);
        continue;
      }
      hold.push_front(LinkTarget(child));
      const std::string& t = hold.front();
      if (t.empty()) return ENOENT;
      size_t before = todo.size();
      SplitPathInto(t, &todo);
      std::reverse(todo.begin() + static_cast<long>(before), todo.end());
      if (t[0] == '/') dir = Fresh(p.root);
      continue;
    }
    dir = std::move(child);
  }
  if (parent_only && !IsDir(dir)) return ENOTDIR;
  if (!parent_only && trail && !IsDir(dir)) return ENOTDIR;
  *out = std::move(dir);
  return 0;
}

std::string FakeKernel::State::LinkTarget(const Node& n) {
  return Ops(n).link_target(*this, n);
}

std::string FakeKernel::State::PathOf(Node n, const Node& root) {
  std::vector<std::string> parts;
  for (int guard = 0; guard < 4096; ++guard) {
    if (Same(n, root)) break;
    if (IsMountRoot(n)) {
      const MountRec& m = mounts[n.mnt];
      if (m.parent < 0) break;
      n = m.mp;
      continue;
    }
    parts.push_back(Virtual(n.mnt) ? Basename(n.rel) : inodes[n.ino].name);
    n = ParentInFs(n);
  }
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) out += "/" + *it;
  return out.empty() ? "/" : out;
}

std::string FakeKernel::State::FsPath(uint32_t ino) {
  std::vector<std::string> parts;
  const Super& s = sbs[inodes[ino].sb];
  while (ino != s.root && inodes[ino].parent != ino && parts.size() < 4096) {
    parts.push_back(inodes[ino].name);
    ino = inodes[ino].parent;
  }
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) out += "/" + *it;
  return out.empty() ? "/" : out;
}

int FakeKernel::State::DirForWrite(const Node& dir, uint32_t* out) {
  return Ops(dir).dir_for_write(*this, dir, out);
}

int FakeKernel::State::CheckWritable(const Node& n) {
  const MountRec& m = mounts[n.mnt];
  if ((m.flags & MS_RDONLY) || sbs[m.sb].ro) return EROFS;
  return 0;
}

int FakeKernel::State::Create(const std::string& path, uint32_t mode,
                              uint64_t rdev, const std::string& link_target,
                              uint32_t* out_ino, Node* out_node) {
  Node dir;
  std::string name;
  bool trailing = false;
  if (int e = Walk(path, false, &dir, true, &name, &trailing)) return e;
  if (name.empty() || name == "." || name == "..") return EEXIST;
  if (trailing && !S_ISDIR(mode)) return ENOENT;
  Node existing;
  if (Lookup(dir, name, &existing) == 0) return EEXIST;
  const FsOps& ops = Ops(dir);
  if (ops.create_err) return ops.create_err;
  if (int e = CheckWritable(dir)) return e;
  if (ops.create) return ops.create(*this, dir, name, mode);
  uint32_t pdir = 0;
  if (int e = DirForWrite(dir, &pdir)) return e;
  bool over_whiteout = PrepareCreate(pdir, name);
  uint32_t ino = AddChild(pdir, name, mode);
  Inode& i = inodes[ino];
  if (over_whiteout && S_ISDIR(mode)) i.opaque = true;
  i.rdev = rdev;
  i.data = link_target;
  if (out_ino) *out_ino = ino;
  if (out_node) {
    *out_node = Node{dir.mnt, ino,
                     ops.by_rel ? JoinRel(dir.rel, name) : std::string()};
  }
  return 0;
}

Status FakeKernel::State::Mkdir(const std::string& path, mode_t mode) {
  return Status{Create(path, S_IFDIR | (mode & 07777 & ~P().umask), 0, "")};
}

Status FakeKernel::State::Symlink(const std::string& target,
                                  const std::string& linkpath) {
  if (target.empty()) return Status{ENOENT};
  return Status{Create(linkpath, S_IFLNK | 0777, 0, target)};
}

Status FakeKernel::State::Mknod(const std::string& path, mode_t mode,
                                dev_t dev) {
  uint32_t type = mode & S_IFMT;
  if (type == 0) type = S_IFREG;
  if (type == S_IFDIR) return Status{EPERM};
  if (type != S_IFREG && type != S_IFCHR && type != S_IFBLK &&
      type != S_IFIFO && type != S_IFSOCK)
    return Status{EINVAL};
  bool is_dev = type == S_IFCHR || type == S_IFBLK;
  return Status{Create(path, type | (mode & 07777 & ~P().umask),
                       is_dev ? dev : 0, "")};
}

int FakeKernel::State::FindEntry(const std::string& path, Entry* e) {
  bool trailing = false;
  if (int r = Walk(path, false, &e->dir, true, &e->name, &trailing)) return r;
  if (e->name.empty()) return EBUSY;  // "/"
  if (e->name == "." || e->name == "..") return EINVAL;
  if (int r = Lookup(e->dir, e->name, &e->node)) return r;
  return 0;
}

int FakeKernel::State::RemoveCommon(const Entry& e) {
  const FsOps& ops = Ops(e.dir);
  uint32_t pdir = 0;
  if (int r = ops.dir_for_write(*this, e.dir, &pdir)) return r;
  RemoveEntry(pdir, e.name);
  ops.removed(*this, e.dir, pdir, e.name);
  return 0;
}

Status FakeKernel::State::Rmdir(const std::string& path) {
  Entry e;
  int r = FindEntry(path, &e);
  if (r == EINVAL && Basename(path) == "..") return Status{ENOTEMPTY};
  if (r) return Status{r};
  const FsOps& ops = Ops(e.dir);
  if (ops.rmdir_err) return Status{ops.rmdir_err};
  if (!IsDir(e.node)) return Status{ENOTDIR};
  if (int w = CheckWritable(e.dir)) return Status{w};
  if (MountpointInOwnNs(e.node, true)) return Status{EBUSY};
  if (ops.rmdir) return Status{ops.rmdir(*this, e)};
  if (!ops.dir_empty(*this, e.node)) return Status{ENOTEMPTY};
  return Status{RemoveCommon(e)};
}

Status FakeKernel::State::Unlink(const std::string& path) {
  Entry e;
  if (int r = FindEntry(path, &e)) return Status{r == EBUSY ? EISDIR : r};
  if (int r = Ops(e.dir).unlink_err) return Status{r};
  if (IsDir(e.node)) return Status{EISDIR};
  if (int w = CheckWritable(e.dir)) return Status{w};
  if (MountpointInOwnNs(e.node, true)) return Status{EBUSY};
  return Status{RemoveCommon(e)};
}

Status FakeKernel::State::Rename(const std::string& from,
                                 const std::string& to) {
  Entry s;
  if (int r = FindEntry(from, &s)) return Status{r};
  Node tdir;
  std::string tname;
  bool trailing = false;
  if (int r = Walk(to, false, &tdir, true, &tname, &trailing))
    return Status{r};
  if (tname.empty()) return Status{EBUSY};
  if (tname == "." || tname == "..") return Status{EINVAL};
  if (s.dir.mnt != tdir.mnt) return Status{EXDEV};
  const FsOps& ops = Ops(s.dir);
  if (ops.unlink_err) return Status{ops.unlink_err};
  if (int w = CheckWritable(s.dir)) return Status{w};
  bool sdir = IsDir(s.node);
  Node t;
  bool texists = Lookup(tdir, tname, &t) == 0;
  if (texists) {
    if (Same(t, s.node)) return Status{};
    bool tisdir = IsDir(t);
    if (sdir && !tisdir) return Status{ENOTDIR};
    if (!sdir && tisdir) return Status{EISDIR};
    if (tisdir && !ops.dir_empty(*this, t)) return Status{ENOTEMPTY};
    if (MountpointInOwnNs(t, true)) return Status{EBUSY};
  }
  if (MountpointInOwnNs(s.node, false)) return Status{EBUSY};
  if (sdir) {  // no moving a dir into itself
    Node walk = tdir;
    for (int g = 0; g < 4096; ++g) {
      if (Same(walk, s.node)) return Status{EINVAL};
      if (IsMountRoot(walk)) break;
      Node up = ParentInFs(walk);
      if (Same(up, walk)) break;
      walk = up;
    }
  }
  uint32_t spdir = 0, tpdir = 0, src = 0;
  if (int r = ops.rename_check(*this, s.node, sdir)) return Status{r};
  if (int r = ops.writable(*this, s.node, &src)) return Status{r};
  if (int r = ops.dir_for_write(*this, s.dir, &spdir)) return Status{r};
  if (int r = ops.dir_for_write(*this, tdir, &tpdir)) return Status{r};
  // Detach src from its old name without dropping its link count.
  DirtyDir(spdir);
  DirtyDir(tpdir);
  inodes[spdir].children.erase(s.name);
  if (texists) RemoveEntry(tpdir, tname);
  PrepareCreate(tpdir, tname);
  inodes[tpdir].children[tname] = src;
  inodes[src].parent = tpdir;
  inodes[src].name = tname;
  ops.removed(*this, s.dir, spdir, s.name);
  return Status{};
}

Status FakeKernel::State::Link(const std::string& existing,
                               const std::string& newpath) {
  Node src;
  if (int r = Walk(existing, false, &src)) return Status{r};
  if (IsDir(src)) return Status{EPERM};
  Node dir;
  std::string name;
  if (int r = Walk(newpath, false, &dir, true, &name)) return Status{r};
  if (name.empty() || name == "." || name == "..") return Status{EEXIST};
  Node t;
  if (Lookup(dir, name, &t) == 0) return Status{EEXIST};
  if (src.mnt != dir.mnt) return Status{EXDEV};
  const FsOps& ops = Ops(dir);
  if (ops.unlink_err) return Status{ops.unlink_err};
  if (int w = CheckWritable(dir)) return Status{w};
  uint32_t ino = 0, pdir = 0;
  if (int r = ops.writable(*this, src, &ino)) return Status{r};
  if (int r = ops.dir_for_write(*this, dir, &pdir)) return Status{r};
  PrepareCreate(pdir, name);
  DirtyDir(pdir);
  inodes[pdir].children[name] = ino;
  ++inodes[ino].nlink;
  return Status{};
}

int FakeKernel::State::ForAttr(const std::string& path, bool follow,
                               uint32_t* ino) {
  Node n;
  if (int r = Walk(path, follow, &n)) return r;
  const FsOps& ops = Ops(n);
  if (ops.attr_err) return ops.attr_err;
  if (int w = CheckWritable(n)) return w;
  return ops.writable(*this, n, ino);
}

Status FakeKernel::State::Chmod(const std::string& path, mode_t mode) {
  uint32_t ino = 0;
  if (int r = ForAttr(path, true, &ino)) return Status{r};
  inodes[ino].mode = (inodes[ino].mode & S_IFMT) | (mode & 07777);
  return Status{};
}

Status FakeKernel::State::Lchown(const std::string& path, uid_t uid,
                                 gid_t gid) {
  uint32_t ino = 0;
  if (int r = ForAttr(path, false, &ino)) return Status{r};
  if (uid != static_cast<uid_t>(-1)) inodes[ino].uid = uid;
  if (gid != static_cast<gid_t>(-1)) inodes[ino].gid = gid;
  return Status{};
}

Status FakeKernel::State::Lsetxattr(const std::string& path, const std::string& name,
                                    const std::string& value, int flags) {
  uint32_t ino = 0;
  if (int r = ForAttr(path, false, &ino)) return Status{r};
  if (name != "trusted.overlay.opaque") return Status{EOPNOTSUPP};
  constexpr int kCreate = 1, kReplace = 2;  // XATTR_CREATE, XATTR_REPLACE
  if ((flags & ~(kCreate | kReplace)) != 0 || flags == (kCreate | kReplace)) return Status{EINVAL};
  Inode& i = inodes[ino];
  if ((flags & kCreate) && i.opaque) return Status{EEXIST};
  if ((flags & kReplace) && !i.opaque) return Status{ENODATA};
  i.opaque = value == "y";
  return Status{};
}

FileStat FakeKernel::State::StatOf(const Node& n) {
  FileStat st = Ops(n).stat(*this, n);
  st.dev = SbOf(n.mnt).dev;
  return st;
}

Result<FileStat> FakeKernel::State::Lstat(const std::string& path) {
  Node n;
  if (int r = Walk(path, false, &n)) return {FileStat{}, r};
  return {StatOf(n), 0};
}

Result<int64_t> FakeKernel::State::Statfs(const std::string& path) {
  Node n;
  if (int r = Walk(path, true, &n)) return {0, r};
  return {SbOf(n.mnt).magic, 0};
}

Result<std::vector<DirEntry>> FakeKernel::State::ReadDir(
    const std::string& path) {
  Node n;
  if (int r = Walk(path, true, &n)) return {{}, r};
  if (!IsDir(n)) return {{}, ENOTDIR};
  return {ListDir(n), 0};
}

std::vector<DirEntry> FakeKernel::State::ListDir(const Node& n) {
  return Ops(n).list(*this, n);
}

Result<std::string> FakeKernel::State::Readlink(const std::string& path) {
  Node n;
  if (int r = Walk(path, false, &n)) return {{}, r};
  if (!IsLink(n)) return {{}, EINVAL};
  return {LinkTarget(n), 0};
}

Result<std::string> FakeKernel::State::ReadWholeFile(const std::string& path) {
  auto fd = Open(path, O_RDONLY | O_CLOEXEC, 0);
  if (!fd.ok()) return {{}, fd.err};
  std::string out;
  char buf[4096];
  for (;;) {
    auto r = Read(fd.value, buf, sizeof buf);
    if (!r.ok()) {
      (void)Close(fd.value);  // the read's errno is the one to report
      return {{}, r.err};
    }
    if (r.value == 0) break;
    out.append(buf, r.value);
  }
  if (Status st = Close(fd.value); !st.ok()) return {{}, st.err};
  return {out, 0};
}

// ---- the inode-based FsOps hooks (disk filesystems; overlay and cgroupfs
// share some) ----

int FakeKernel::State::InodeFs::Lookup(State& s, const Node& dir,
                                       std::string_view name, Node* out) {
  const Inode& d = s.inodes[dir.ino];
  auto it = d.children.find(name);
  if (it == d.children.end()) return ENOENT;
  *out = Node{dir.mnt, it->second, {}};
  return 0;
}

Node FakeKernel::State::InodeFs::Parent(State& s, const Node& n) {
  return Node{n.mnt, s.inodes[n.ino].parent, {}};
}

uint32_t FakeKernel::State::InodeFs::Type(State& s, const Node& n) {
  return n.ino ? s.inodes[n.ino].mode & S_IFMT : 0;
}

std::string FakeKernel::State::InodeFs::LinkTarget(State& s, const Node& n) {
  return s.inodes[n.ino].data;
}

FileStat FakeKernel::State::InodeFs::Stat(State& s, const Node& n) {
  FileStat st;
  const Inode& i = s.inodes[n.ino];
  st.mode = i.mode;
  st.ino = n.ino;
  st.uid = i.uid;
  st.gid = i.gid;
  st.rdev = i.rdev;
  // cgroupfs control files have no size (kernfs reports 0).
  st.size = (S_ISREG(i.mode) && !i.cgfile) || S_ISLNK(i.mode) ? i.data.size() : 0;
  if (S_ISDIR(i.mode)) {
    uint64_t dirs = 0;
    for (auto& [_, c] : i.children) dirs += S_ISDIR(s.inodes[c].mode);
    st.nlink = 2 + dirs;
    st.size = 4096;
  } else {
    st.nlink = i.nlink;
  }
  st.blocks = S_ISREG(i.mode) ? (i.data.size() + 511) / 512 : 0;
  return st;
}

std::vector<DirEntry> FakeKernel::State::InodeFs::List(State& s,
                                                       const Node& dir) {
  std::vector<DirEntry> out;
  for (auto& [name, c] : s.inodes[dir.ino].children)
    out.push_back(DirEntry{name, DtOf(s.inodes[c].mode)});
  return out;
}

void FakeKernel::State::InodeFs::NoRefresh(State&, Node*) {}

bool FakeKernel::State::InodeFs::DirEmpty(State& s, const Node& dir) {
  return s.inodes[dir.ino].children.empty();
}

int FakeKernel::State::InodeFs::DirForWrite(State&, const Node& dir,
                                            uint32_t* out) {
  *out = dir.ino;
  return 0;
}

int FakeKernel::State::InodeFs::Writable(State&, const Node& n, uint32_t* ino) {
  *ino = n.ino;
  return 0;
}

void FakeKernel::State::InodeFs::NoRemoved(State&, const Node&, uint32_t,
                                           const std::string&) {}

int FakeKernel::State::InodeFs::NoRenameCheck(State&, const Node&, bool) {
  return 0;
}

// ext4, rootfs, tmpfs, devtmpfs, sysfs, devpts, mqueue: plain inode trees.
const FakeKernel::State::FsOps FakeKernel::State::kDiskOps = {
    .by_rel = false,
    .lookup = InodeFs::Lookup,
    .parent = InodeFs::Parent,
    .type = InodeFs::Type,
    .link_target = InodeFs::LinkTarget,
    .stat = InodeFs::Stat,
    .list = InodeFs::List,
    .refresh = InodeFs::NoRefresh,
    .dir_empty = InodeFs::DirEmpty,
    .dir_for_write = InodeFs::DirForWrite,
    .writable = InodeFs::Writable,
    .removed = InodeFs::NoRemoved,
    .rename_check = InodeFs::NoRenameCheck,
    .create_err = 0,
    .rmdir_err = 0,
    .unlink_err = 0,
    .attr_err = 0,
    .jump = nullptr,
    .create = nullptr,
    .rmdir = nullptr,
    .open = nullptr,
};

const FakeKernel::State::FsOps& FakeKernel::State::OpsOf(FsKind kind) {
  switch (kind) {
    case FsKind::kDisk: return kDiskOps;
    case FsKind::kOverlay: return kOverlayOps;
    case FsKind::kProc: return kProcOps;
    case FsKind::kCgroup: return kCgroupOps;
  }
  return kDiskOps;
}

}  // namespace faultline
