// FakeKernel vfs: inodes, superblocks, path lookup and resolution (symlinks,
// "." and ".." across mounts), and the file and directory ops on top of it.
#include "fakekernel/state.h"

namespace faultline {

Process* FakeKernel::State::Find(pid_t pid) {
  auto it = procs.find(pid);
  return it == procs.end() ? nullptr : &it->second;
}

bool FakeKernel::State::Virtual(int mnt) const {
  FsKind k = KindOf(mnt);
  return k == FsKind::kOverlay || k == FsKind::kProc;
}

bool FakeKernel::State::Same(const Node& a, const Node& b) const {
  if (a.mnt != b.mnt) return false;
  return Virtual(a.mnt) ? a.rel == b.rel : a.ino == b.ino;
}

Node FakeKernel::State::RootOf(int m) {
  Node n{m, mounts[m].root_ino, mounts[m].root_rel};
  if (KindOf(m) == FsKind::kOverlay) n.ino = OvlTop(mounts[m].sb, n.rel);
  return n;
}

bool FakeKernel::State::IsMountRoot(const Node& n) {
  const MountRec& m = mounts[n.mnt];
  return Virtual(n.mnt) ? n.rel == m.root_rel : n.ino == m.root_ino;
}

Node FakeKernel::State::Fresh(Node n) {
  if (n.mnt >= 0 && KindOf(n.mnt) == FsKind::kOverlay)
    n.ino = OvlTop(mounts[n.mnt].sb, n.rel);
  return n;
}

uint32_t FakeKernel::State::NewInode(uint32_t sb, uint32_t mode) {
  Inode i;
  i.sb = sb;
  i.mode = mode;
  i.nlink = 1;
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
  switch (KindOf(n.mnt)) {
    case FsKind::kProc: return ProcType(mounts[n.mnt].sb, n.rel) == 'd';
    default: return n.ino && S_ISDIR(inodes[n.ino].mode);
  }
}

bool FakeKernel::State::IsLink(const Node& n) {
  if (KindOf(n.mnt) == FsKind::kProc)
    return ProcType(mounts[n.mnt].sb, n.rel) == 'l';
  return n.ino && S_ISLNK(inodes[n.ino].mode);
}

int FakeKernel::State::Lookup(const Node& dir, std::string_view name,
                              Node* out) {
  int sb = mounts[dir.mnt].sb;
  switch (sbs[sb].kind) {
    case FsKind::kDisk:
    case FsKind::kCgroup: {
      const Inode& d = inodes[dir.ino];
      auto it = d.children.find(name);
      if (it == d.children.end()) return ENOENT;
      *out = Node{dir.mnt, it->second, {}};
      return 0;
    }
    case FsKind::kOverlay: {
      std::string rel = JoinRel(dir.rel, name);
      uint32_t top = OvlTop(sb, rel);
      if (!top) return ENOENT;
      *out = Node{dir.mnt, top, std::move(rel)};
      return 0;
    }
    case FsKind::kProc: {
      std::string rel = JoinRel(dir.rel, name);
      if (!ProcType(sb, rel)) return ENOENT;
      *out = Node{dir.mnt, 0, std::move(rel)};
      return 0;
    }
  }
  return ENOENT;
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
  switch (KindOf(n.mnt)) {
    case FsKind::kDisk:
    case FsKind::kCgroup:
      return Node{n.mnt, inodes[n.ino].parent, {}};
    case FsKind::kOverlay: {
      std::string r = Dirname(n.rel);
      return Node{n.mnt, OvlTop(mounts[n.mnt].sb, r), r};
    }
    case FsKind::kProc:
      return Node{n.mnt, 0, Dirname(n.rel)};
  }
  return n;
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
    bool is_last = todo.empty();
    if (IsLink(child) && (!is_last || (!parent_only && (follow_last || trail)))) {
      if (++links > 40) return ELOOP;
      Node jump;
      if (KindOf(child.mnt) == FsKind::kProc && ProcJump(child, &jump)) {
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
  if (KindOf(n.mnt) == FsKind::kProc) return ProcLink(n);
  return inodes[n.ino].data;
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
    switch (KindOf(n.mnt)) {
      case FsKind::kDisk:
      case FsKind::kCgroup:
        parts.push_back(inodes[n.ino].name);
        break;
      default:
        parts.push_back(Basename(n.rel));
    }
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
  FsKind kind = KindOf(dir.mnt);
  if (kind == FsKind::kProc) return ENOENT;
  if (int e = CheckWritable(dir)) return e;
  if (kind == FsKind::kCgroup) {
    // kernfs has no create (EACCES, as vfs_create says) nor mknod/symlink
    // (EPERM).
    if (S_ISREG(mode)) return EACCES;
    if (!S_ISDIR(mode)) return EPERM;
    return CgMkdir(dir, name, mode);
  }
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
    Node n{dir.mnt, ino, kind == FsKind::kOverlay ? JoinRel(dir.rel, name)
                                                 : std::string()};
    *out_node = n;
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
  FsKind kind = KindOf(e.dir.mnt);
  uint32_t pdir = 0;
  if (int r = DirForWrite(e.dir, &pdir)) return r;
  RemoveEntry(pdir, e.name);
  if (kind == FsKind::kOverlay)
    Whiteout(mounts[e.dir.mnt].sb, e.dir.rel, pdir, e.name);
  return 0;
}

Status FakeKernel::State::Rmdir(const std::string& path) {
  Entry e;
  int r = FindEntry(path, &e);
  if (r == EINVAL && Basename(path) == "..") return Status{ENOTEMPTY};
  if (r) return Status{r};
  FsKind kind = KindOf(e.dir.mnt);
  if (kind == FsKind::kProc) return Status{EPERM};
  if (!IsDir(e.node)) return Status{ENOTDIR};
  if (int w = CheckWritable(e.dir)) return Status{w};
  if (MountpointInOwnNs(e.node, true)) return Status{EBUSY};
  if (kind == FsKind::kCgroup) return Status{CgRmdir(e)};
  if (kind == FsKind::kOverlay) {
    // Empty in the merged view: every name a layer has is a whiteout in
    // it or hidden by a whiteout of a layer above.
    std::set<std::string, std::less<>> hidden;
    for (uint32_t d : OvlDirs(mounts[e.dir.mnt].sb, e.node.rel))
      for (auto& [n, c] : inodes[d].children) {
        if (hidden.count(n)) continue;
        if (!IsWhiteout(inodes[c])) return Status{ENOTEMPTY};
        hidden.insert(std::string(n));
      }
  } else if (!inodes[e.node.ino].children.empty()) {
    return Status{ENOTEMPTY};
  }
  return Status{RemoveCommon(e)};
}

Status FakeKernel::State::Unlink(const std::string& path) {
  Entry e;
  if (int r = FindEntry(path, &e)) return Status{r == EBUSY ? EISDIR : r};
  FsKind kind = KindOf(e.dir.mnt);
  if (kind == FsKind::kProc || kind == FsKind::kCgroup) return Status{EPERM};
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
  FsKind kind = KindOf(s.dir.mnt);
  if (kind == FsKind::kProc || kind == FsKind::kCgroup) return Status{EPERM};
  if (int w = CheckWritable(s.dir)) return Status{w};
  bool sdir = IsDir(s.node);
  Node t;
  bool texists = Lookup(tdir, tname, &t) == 0;
  if (texists) {
    if (Same(t, s.node)) return Status{};
    bool tisdir = IsDir(t);
    if (sdir && !tisdir) return Status{ENOTDIR};
    if (!sdir && tisdir) return Status{EISDIR};
    if (tisdir) {
      bool empty = true;
      if (kind == FsKind::kOverlay) {
        for (uint32_t d : OvlDirs(mounts[t.mnt].sb, t.rel))
          for (auto& [n, c] : inodes[d].children)
            if (!IsWhiteout(inodes[c])) empty = false;
      } else {
        empty = inodes[t.ino].children.empty();
      }
      if (!empty) return Status{ENOTEMPTY};
    }
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
  uint32_t spdir = 0, tpdir = 0, src = s.node.ino;
  if (kind == FsKind::kOverlay) {
    int sb = mounts[s.dir.mnt].sb;
    if (sdir) {
      // Without redirect_dir a dir that exists in a lower layer cannot move.
      if (!OvlDirs(sb, s.node.rel, true).empty()) return Status{EXDEV};
    }
    if (int r = CopyUp(s.node, &src)) return Status{r};
    if (int r = CopyUpDir(sb, s.dir.rel, &spdir)) return Status{r};
    if (int r = CopyUpDir(sb, tdir.rel, &tpdir)) return Status{r};
  } else {
    spdir = s.dir.ino;
    tpdir = tdir.ino;
  }
  // Detach src from its old name without dropping its link count.
  inodes[spdir].children.erase(s.name);
  if (texists) RemoveEntry(tpdir, tname);
  PrepareCreate(tpdir, tname);
  inodes[tpdir].children[tname] = src;
  inodes[src].parent = tpdir;
  inodes[src].name = tname;
  if (kind == FsKind::kOverlay)
    Whiteout(mounts[s.dir.mnt].sb, s.dir.rel, spdir, s.name);
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
  FsKind kind = KindOf(dir.mnt);
  if (kind == FsKind::kProc || kind == FsKind::kCgroup) return Status{EPERM};
  if (int w = CheckWritable(dir)) return Status{w};
  uint32_t ino = src.ino, pdir = 0;
  if (kind == FsKind::kOverlay)
    if (int r = CopyUp(src, &ino)) return Status{r};
  if (int r = DirForWrite(dir, &pdir)) return Status{r};
  PrepareCreate(pdir, name);
  inodes[pdir].children[name] = ino;
  ++inodes[ino].nlink;
  return Status{};
}

int FakeKernel::State::ForAttr(const std::string& path, bool follow,
                               uint32_t* ino) {
  Node n;
  if (int r = Walk(path, follow, &n)) return r;
  FsKind kind = KindOf(n.mnt);
  if (kind == FsKind::kProc) return EPERM;
  if (int w = CheckWritable(n)) return w;
  if (kind == FsKind::kOverlay) return CopyUp(n, ino);
  *ino = n.ino;
  return 0;
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

FileStat FakeKernel::State::StatOf(const Node& n) {
  FileStat st;
  const Super& s = SbOf(n.mnt);
  st.dev = s.dev;
  if (s.kind == FsKind::kProc) {
    char t = ProcType(mounts[n.mnt].sb, n.rel);
    st.mode = t == 'd' ? (S_IFDIR | 0555) : t == 'l' ? (S_IFLNK | 0777)
                                                     : (S_IFREG | 0444);
    // /proc/<pid>/fd is dr-x------, /proc/<pid>/ns dr-x--x--x.
    const auto c = SplitPath(n.rel);
    if (t == 'd' && c.size() == 2 && c[1] == "fd") st.mode = S_IFDIR | 0500;
    if (t == 'd' && c.size() == 2 && c[1] == "ns") st.mode = S_IFDIR | 0511;
    st.ino = std::hash<std::string>()(n.rel) & 0xffffffff;
    st.nlink = t == 'd' ? 2 : 1;
    return st;
  }
  const Inode& i = inodes[n.ino];
  st.mode = i.mode;
  st.ino = n.ino;
  st.uid = i.uid;
  st.gid = i.gid;
  st.rdev = i.rdev;
  // cgroupfs control files have no size (kernfs reports 0).
  st.size = (S_ISREG(i.mode) && !i.cgfile) || S_ISLNK(i.mode) ? i.data.size() : 0;
  if (S_ISDIR(i.mode)) {
    uint64_t dirs = 0;
    for (auto& [_, c] : i.children) dirs += S_ISDIR(inodes[c].mode);
    st.nlink = 2 + dirs;
    st.size = 4096;
  } else {
    st.nlink = i.nlink;
  }
  st.blocks = S_ISREG(i.mode) ? (i.data.size() + 511) / 512 : 0;
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
  std::vector<DirEntry> out;
  switch (KindOf(n.mnt)) {
    case FsKind::kDisk:
    case FsKind::kCgroup:
      for (auto& [name, c] : inodes[n.ino].children)
        out.push_back(DirEntry{name, DtOf(inodes[c].mode)});
      break;
    case FsKind::kOverlay: {
      std::map<std::string, uint8_t> seen;  // 0xff: whiteout
      for (uint32_t d : OvlDirs(mounts[n.mnt].sb, n.rel))
        for (auto& [name, c] : inodes[d].children)
          if (!seen.count(name))
            seen[name] = IsWhiteout(inodes[c]) ? 0xff : DtOf(inodes[c].mode);
      for (auto& [name, t] : seen)
        if (t != 0xff) out.push_back(DirEntry{name, t});
      break;
    }
    case FsKind::kProc:
      out = ProcList(n);
      break;
  }
  return out;
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
      Close(fd.value);
      return {{}, r.err};
    }
    if (r.value == 0) break;
    out.append(buf, r.value);
  }
  Close(fd.value);
  return {out, 0};
}

}  // namespace faultline
