// FakeKernel mounts: the mount table, mount namespaces, propagation (peer
// groups, slaves), mount(2) (new, bind, move, remount, propagation changes),
// umount2, pivot_root, and the new mount API (fsopen/fsconfig/fsmount/
// move_mount).
#include "fakekernel/state.h"

namespace faultline {

bool FakeKernel::State::MountpointInOwnNs(const Node& n, bool detach_others) {
  int ns = P().mntns;
  int sb = mounts[n.mnt].sb;
  bool own = false;
  std::vector<int> others;
  for (size_t k = 0; k < mounts.size(); ++k) {
    const MountRec& m = mounts[k];
    if (!m.alive || m.parent < 0) continue;
    if (mounts[m.parent].sb != sb) continue;
    bool match = Virtual(m.parent) ? m.mp.rel == n.rel : m.mp.ino == n.ino;
    if (!match) continue;
    if (m.ns == ns) own = true;
    else others.push_back(static_cast<int>(k));
  }
  if (!own && detach_others)
    for (int k : others) DetachTree(k);
  return own;
}

void FakeKernel::State::SetNs(int m, int ns) {
  mounts[m].ns = ns;
  for (int k : mounts[m].kids)
    if (mounts[k].alive) SetNs(k, ns);
}

void FakeKernel::State::AttachRaw(int m, const Node& at) {
  mounts[m].parent = at.mnt;
  mounts[m].mp = at;
  mounts[at.mnt].kids.push_back(m);
  SetNs(m, mounts[at.mnt].ns);
}

void FakeKernel::State::Unhook(int m) {
  int parent = mounts[m].parent;
  if (parent < 0) return;
  auto& kids = mounts[parent].kids;
  kids.erase(std::remove(kids.begin(), kids.end(), m), kids.end());
  mounts[m].parent = -1;
}

int FakeKernel::State::CloneTree(int m) {
  int c = NewMount(mounts[m].sb, mounts[m].root_ino, mounts[m].root_rel,
                   mounts[m].flags);
  mounts[c].peer = mounts[m].peer;
  mounts[c].master = mounts[m].master;
  std::vector<int> kids = mounts[m].kids;
  for (int k : kids) {
    if (!mounts[k].alive) continue;
    int ck = CloneTree(k);
    Node mp = mounts[k].mp;
    mp.mnt = c;
    mounts[ck].parent = c;
    mounts[ck].mp = mp;
    mounts[c].kids.push_back(ck);
  }
  return c;
}

void FakeKernel::State::Attach(int m, const Node& at) {
  int parent = at.mnt;
  int pg = mounts[parent].peer;
  AttachRaw(m, at);
  if (!pg) return;
  if (!mounts[m].peer) mounts[m].peer = next_peer++;
  int group = mounts[m].peer;
  std::vector<std::pair<int, bool>> targets;  // mount, is_slave
  for (size_t k = 0; k < mounts.size(); ++k) {
    const MountRec& o = mounts[k];
    if (!o.alive || static_cast<int>(k) == parent || o.ns < 0) continue;
    if (o.peer == pg) targets.push_back({static_cast<int>(k), false});
    else if (o.master == pg) targets.push_back({static_cast<int>(k), true});
  }
  for (auto [k, slave] : targets) {
    Node mp = at;
    mp.mnt = k;
    // Only peers that can see the mount point receive the event.
    if (!IsSubdir(mp, RootOf(k))) continue;
    int c = CloneTree(m);
    if (slave) {
      mounts[c].peer = 0;
      mounts[c].master = group;
    }
    AttachRaw(c, mp);
  }
}

void FakeKernel::State::CollectTree(int m, std::vector<int>* out) {
  out->push_back(m);
  for (int k : mounts[m].kids)
    if (mounts[k].alive) CollectTree(k, out);
}

void FakeKernel::State::DetachTree(int m) {
  Unhook(m);
  std::vector<int> tree;
  CollectTree(m, &tree);
  for (int k : tree) mounts[k].ns = -1;
  GcDetached();
}

bool FakeKernel::State::Referenced(int m) {
  for (auto& [pid, p] : procs) {
    if (p.state == PState::kZombie) continue;
    if (p.cwd.mnt == m || p.root.mnt == m) return true;
  }
  for (const OpenFile& f : ofds) {
    if (f.refs <= 0) continue;
    if (f.node.mnt == m || (f.kind == FileKind::kMountFd && f.mnt == m))
      return true;
  }
  return false;
}

void FakeKernel::State::GcDetached() {
  for (size_t k = 0; k < mounts.size(); ++k) {
    MountRec& m = mounts[k];
    if (!m.alive || m.ns >= 0) continue;
    if (!Referenced(static_cast<int>(k))) m.alive = false;
  }
}

void FakeKernel::State::UmountPropagated(int m) {
  int parent = mounts[m].parent;
  int pg = parent >= 0 ? mounts[parent].peer : 0;
  std::vector<int> victims;
  if (pg) {
    for (size_t k = 0; k < mounts.size(); ++k) {
      const MountRec& o = mounts[k];
      if (!o.alive || static_cast<int>(k) == parent || o.ns < 0) continue;
      if (o.peer != pg && o.master != pg) continue;
      for (int c : o.kids) {
        const MountRec& cm = mounts[c];
        if (!cm.alive || cm.sb != mounts[m].sb || c == m) continue;
        bool match = Virtual(static_cast<int>(k)) ? cm.mp.rel == mounts[m].mp.rel
                                                  : cm.mp.ino == mounts[m].mp.ino;
        if (match && cm.kids.empty()) victims.push_back(c);
      }
    }
  }
  DetachTree(m);
  for (int v : victims) DetachTree(v);
}

bool FakeKernel::State::Busy(int m) {
  for (auto& [pid, p] : procs) {
    if (p.state == PState::kZombie) continue;
    if (p.cwd.mnt == m || p.root.mnt == m) return true;
  }
  for (const OpenFile& f : ofds)
    if (f.refs > 0 && f.node.mnt == m) return true;
  return false;
}

bool FakeKernel::State::IsSubdir(Node n, const Node& root) {
  for (int guard = 0; guard < 4096; ++guard) {
    if (Same(n, root)) return true;
    Node up = ParentInFs(n);
    if (Same(up, n)) return false;
    n = up;
  }
  return false;
}

bool FakeKernel::State::Reachable(Node x, const Node& top) {
  for (int guard = 0; guard < 4096; ++guard) {
    if (Same(x, top)) return true;
    if (IsMountRoot(x)) {
      const MountRec& m = mounts[x.mnt];
      if (m.parent < 0) return false;
      x = m.mp;
      continue;
    }
    Node up = ParentInFs(x);
    if (Same(up, x)) return false;
    x = up;
  }
  return false;
}

int FakeKernel::State::CopyNs(int ns, std::map<int, int>* map) {
  int nns = static_cast<int>(ns_root.size());
  ns_root.push_back(-1);
  std::vector<int> order;
  CollectTree(ns_root[ns], &order);
  for (int m : order) {
    int c = NewMount(mounts[m].sb, mounts[m].root_ino, mounts[m].root_rel,
                     mounts[m].flags);
    mounts[c].peer = mounts[m].peer;
    mounts[c].master = mounts[m].master;
    mounts[c].unbindable = mounts[m].unbindable;
    mounts[c].ns = nns;
    (*map)[m] = c;
    int parent = mounts[m].parent;
    if (parent >= 0) {
      Node mp = mounts[m].mp;
      mp.mnt = map->at(parent);
      mounts[c].parent = mp.mnt;
      mounts[c].mp = mp;
      mounts[mp.mnt].kids.push_back(c);
    }
  }
  ns_root[nns] = map->at(ns_root[ns]);
  return nns;
}

void FakeKernel::State::MaybeDropNs(int ns) {
  if (ns <= 0 || ns_root[ns] < 0) return;
  for (auto& [pid, p] : procs)
    if (p.state != PState::kZombie && p.mntns == ns) return;
  std::vector<int> tree;
  CollectTree(ns_root[ns], &tree);
  for (int m : tree) {
    if (Referenced(m)) {  // kept alive by an fd: lives on detached
      mounts[m].ns = -1;
      continue;
    }
    mounts[m].alive = false;
  }
  ns_root[ns] = -1;
}

int FakeKernel::State::ResolveMountRoot(const std::string& path, Node* out) {
  if (int r = Walk(path, true, out)) return r;
  if (!IsMountRoot(*out)) return EINVAL;
  return 0;
}

int FakeKernel::State::MakeSimpleSb(const std::string& fstype,
                                    const std::string& source,
                                    const std::string& data, int* sb_out) {
  int sb = -1;
  if (fstype == "tmpfs" || fstype == "devtmpfs") {
    sb = NewSuper(FsKind::kDisk, fstype, source.empty() ? fstype : source,
                  kTmpfsMagic);
    uint32_t mode = 01777;
    auto pos = data.find("mode=");
    if (pos != std::string::npos)
      mode = static_cast<uint32_t>(strtoul(data.c_str() + pos + 5, nullptr, 8));
    inodes[sbs[sb].root].mode = S_IFDIR | (mode & 07777);
  } else if (fstype == "proc") {
    sb = NewSuper(FsKind::kProc, "proc", source.empty() ? "proc" : source,
                  kProcMagic);
    sbs[sb].pidns = P().pidns;
  } else if (fstype == "sysfs") {
    sb = NewSuper(FsKind::kDisk, "sysfs", "sysfs", kSysfsMagic);
  } else if (fstype == "devpts") {
    sb = NewSuper(FsKind::kDisk, "devpts", "devpts", kDevptsMagic);
    uint32_t ptmx = AddChild(sbs[sb].root, "ptmx", S_IFCHR | 0666);
    inodes[ptmx].rdev = makedev(5, 2);
  } else if (fstype == "mqueue") {
    sb = NewSuper(FsKind::kDisk, "mqueue", "mqueue", kMqueueMagic);
  } else if (fstype == "cgroup2") {
    for (size_t k = 0; k < sbs.size(); ++k)
      if (sbs[k].kind == FsKind::kCgroup && sbs[k].cg_version == 2)
        sb = static_cast<int>(k);
    if (sb < 0) return ENODEV;
  } else if (fstype == "cgroup") {
    std::vector<std::string> want;
    size_t i = 0;
    while (i <= data.size()) {
      size_t j = data.find(',', i);
      if (j == std::string::npos) j = data.size();
      std::string opt = data.substr(i, j - i);
      if (!opt.empty() && opt != "rw" && opt != "ro" && opt != "nosuid" &&
          opt != "nodev" && opt != "noexec" && opt != "relatime")
        want.push_back(opt);
      i = j + 1;
    }
    std::sort(want.begin(), want.end());
    bool v1 = false;
    for (size_t k = 0; k < sbs.size(); ++k) {
      if (sbs[k].kind != FsKind::kCgroup || sbs[k].cg_version != 1) continue;
      v1 = true;
      auto have = sbs[k].controllers;
      std::sort(have.begin(), have.end());
      if (have == want) sb = static_cast<int>(k);
    }
    if (sb < 0) return v1 ? EINVAL : EBUSY;
  } else if (fstype.empty()) {
    return EINVAL;
  } else {
    return ENODEV;
  }
  *sb_out = sb;
  return 0;
}

Status FakeKernel::State::Mount(const mydocker::MountArgs& a) {
  unsigned long f = a.flags;
  if ((f & MS_MGC_MSK) == MS_MGC_VAL) f &= ~MS_MGC_MSK;
  Node t;
  if (int r = Walk(a.target, true, &t)) return Status{r};
  if (f & MS_REMOUNT) {
    if (!IsMountRoot(t)) return Status{EINVAL};
    MountRec& m = mounts[t.mnt];
    m.flags = f & kPerMountFlags;
    if (!(f & MS_BIND)) sbs[m.sb].ro = (f & MS_RDONLY) != 0;
    return Status{};
  }
  if (unsigned long prop = f & kPropagationFlags) {
    if (prop & (prop - 1)) return Status{EINVAL};  // exactly one
    if (!IsMountRoot(t)) return Status{EINVAL};
    std::vector<int> tree;
    if (f & MS_REC) CollectTree(t.mnt, &tree);
    else tree.push_back(t.mnt);
    for (int k : tree) {
      MountRec& m = mounts[k];
      m.unbindable = prop == MS_UNBINDABLE;
      if (prop == MS_SHARED) {
        if (!m.peer) m.peer = next_peer++;
      } else if (prop == MS_SLAVE) {
        if (m.peer) m.master = m.peer;
        m.peer = 0;
      } else {
        m.peer = 0;
        m.master = 0;
      }
    }
    return Status{};
  }
  if (f & MS_MOVE) {
    Node s;
    if (int r = ResolveMountRoot(a.source, &s)) return Status{r};
    return Status{MoveExisting(s.mnt, t)};
  }
  if (f & MS_BIND) {
    Node s;
    if (int r = Walk(a.source, true, &s)) return Status{r};
    if (IsDir(s) != IsDir(t)) return Status{ENOTDIR};
    int src_m = s.mnt;
    if (mounts[src_m].ns != P().mntns) return Status{EINVAL};
    if (mounts[src_m].unbindable) return Status{EINVAL};
    int nm = NewMount(mounts[src_m].sb, s.ino, s.rel, mounts[src_m].flags);
    mounts[nm].peer = mounts[src_m].peer;  // a bind of a shared mount is a peer
    if (f & MS_REC) {
      std::vector<int> kids = mounts[src_m].kids;
      for (int k : kids) {
        // An unbindable submount is not copied (nor what is below it).
        if (!mounts[k].alive || mounts[k].unbindable || !Reachable(mounts[k].mp, s)) continue;
        int c = CloneTree(k);
        Node mp = mounts[k].mp;
        mp.mnt = nm;
        mounts[c].parent = nm;
        mounts[c].mp = mp;
        mounts[nm].kids.push_back(c);
      }
    }
    Attach(nm, t);
    return Status{};
  }
  if (!IsDir(t)) return Status{ENOTDIR};
  int sb = -1;
  if (a.fstype == "overlay") {
    std::vector<Node> lowers;
    Node upper, work;
    bool has_upper = false, has_work = false;
    size_t i = 0;
    const std::string& d = a.data;
    while (i <= d.size()) {
      size_t j = d.find(',', i);
      if (j == std::string::npos) j = d.size();
      std::string opt = d.substr(i, j - i);
      i = j + 1;
      if (opt.empty()) continue;
      auto eq = opt.find('=');
      std::string key = opt.substr(0, eq);
      std::string val = eq == std::string::npos ? "" : opt.substr(eq + 1);
      if (key == "lowerdir") {
        size_t a0 = 0;
        while (a0 <= val.size()) {
          size_t b = val.find(':', a0);
          if (b == std::string::npos) b = val.size();
          Node l;
          if (int r = OverlayLayer(val.substr(a0, b - a0), &l)) return Status{r};
          lowers.push_back(l);
          a0 = b + 1;
        }
      } else if (key == "upperdir") {
        if (int r = OverlayLayer(val, &upper)) return Status{r};
        has_upper = true;
      } else if (key == "workdir") {
        if (int r = OverlayLayer(val, &work)) return Status{r};
        has_work = true;
      } else if (key != "index" && key != "redirect_dir" && key != "metacopy" &&
                 key != "xino" && key != "userxattr" && key != "volatile" &&
                 key != "nfs_export" && key != "uuid" &&
                 key != "default_permissions" && key != "rw" && key != "ro") {
        return Status{EINVAL};
      }
    }
    if (int r = MakeOverlaySb(lowers, has_upper ? &upper : nullptr,
                              has_work ? &work : nullptr, d, &sb))
      return Status{r};
    if (!a.source.empty()) sbs[sb].source = a.source;
  } else {
    if (int r = MakeSimpleSb(a.fstype, a.source, a.data, &sb)) return Status{r};
  }
  int nm = sbs[sb].kind == FsKind::kOverlay
               ? NewMount(sb, OvlTop(sb, ""), "", f)
               : NewMount(sb, sbs[sb].root, "", f);
  Attach(nm, t);
  return Status{};
}

int FakeKernel::State::MoveExisting(int m, const Node& t) {
  if (mounts[m].parent < 0) return EINVAL;
  if (mounts[m].ns != P().mntns) return EINVAL;
  if (mounts[mounts[m].parent].peer) return EINVAL;
  if (Reachable(t, RootOf(m))) return ELOOP;
  Unhook(m);
  Attach(m, t);
  return 0;
}

Status FakeKernel::State::Umount2(const std::string& target, int flags) {
  if (flags & ~(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW))
    return Status{EINVAL};
  if ((flags & MNT_EXPIRE) && (flags & (MNT_FORCE | MNT_DETACH))) return Status{EINVAL};
  Node n;
  if (int r = Walk(target, !(flags & UMOUNT_NOFOLLOW), &n)) return Status{r};
  n = CrossMounts(n);
  if (!IsMountRoot(n)) return Status{EINVAL};
  int m = n.mnt;
  if (mounts[m].ns != P().mntns || mounts[m].parent < 0) return Status{EINVAL};
  if (!(flags & MNT_DETACH)) {
    for (int k : mounts[m].kids)
      if (mounts[k].alive) return Status{EBUSY};
    if (Busy(m)) return Status{EBUSY};
  }
  UmountPropagated(m);
  return Status{};
}

Status FakeKernel::State::PivotRoot(const std::string& new_root,
                                    const std::string& put_old) {
  Process& p = P();
  Node nw, old;
  if (int r = Walk(new_root, true, &nw)) return Status{r};
  if (int r = Walk(put_old, true, &old)) return Status{r};
  if (!IsDir(nw) || !IsDir(old)) return Status{ENOTDIR};
  Node root = Fresh(p.root);
  int root_m = root.mnt, new_m = nw.mnt, old_m = old.mnt;
  if (mounts[new_m].ns != p.mntns || mounts[root_m].ns != p.mntns)
    return Status{EINVAL};
  if (new_m == root_m || old_m == root_m) return Status{EBUSY};
  if (!IsMountRoot(root)) return Status{EINVAL};
  if (mounts[root_m].parent < 0) return Status{EINVAL};
  if (!IsMountRoot(nw)) return Status{EINVAL};
  if (!Reachable(old, nw)) return Status{EINVAL};
  if (!Reachable(nw, root)) return Status{EINVAL};
  if (mounts[old_m].peer || mounts[mounts[new_m].parent].peer ||
      mounts[mounts[root_m].parent].peer)
    return Status{EINVAL};
  Node root_mp = mounts[root_m].mp;
  Unhook(new_m);
  Unhook(root_m);
  AttachRaw(root_m, old);
  AttachRaw(new_m, root_mp);
  Node new_root_node = RootOf(new_m);
  for (auto& [pid, q] : procs) {
    if (q.state == PState::kZombie || q.mntns != p.mntns) continue;
    if (Same(q.root, root)) q.root = new_root_node;
    if (Same(q.cwd, root)) q.cwd = new_root_node;
  }
  return Status{};
}

OpenFile* FakeKernel::State::OfdOf(int fd) {
  Process& p = P();
  if (fd < 0 || fd >= static_cast<int>(p.fds.size()) || p.fds[fd].ofd < 0)
    return nullptr;
  return &ofds[p.fds[fd].ofd];
}

Result<int> FakeKernel::State::Fsopen(const std::string& fstype,
                                      unsigned int flags) {
  if (flags & ~FSOPEN_CLOEXEC) return {-1, EINVAL};
  static const char* kTypes[] = {"overlay", "tmpfs", "proc", "sysfs",
                                 "devpts", "mqueue", "cgroup2"};
  if (std::none_of(std::begin(kTypes), std::end(kTypes),
                   [&](const char* t) { return fstype == t; }))
    return {-1, ENODEV};
  FsCtx c;
  c.fstype = fstype;
  ctxs.push_back(std::move(c));
  OpenFile f;
  f.kind = FileKind::kFsCtx;
  f.ctx = static_cast<int>(ctxs.size() - 1);
  return {InstallFd(std::move(f), flags & FSOPEN_CLOEXEC), 0};
}

Status FakeKernel::State::Fsconfig(const mydocker::FsconfigArgs& a) {
  OpenFile* f = OfdOf(a.fd);
  if (!f) return Status{EBADF};
  if (f->kind != FileKind::kFsCtx) return Status{EINVAL};
  int ci = f->ctx;
  // fsconfig copies key and string value with strndup_user(.., 256): 255
  // bytes at most, EINVAL beyond (fs/fsopen.c).
  if (a.key.size() > kFsconfigStringMax) return Status{EINVAL};
  if (a.cmd == FSCONFIG_SET_STRING && a.value.size() > kFsconfigStringMax)
    return Status{EINVAL};
  switch (a.cmd) {
    case FSCONFIG_SET_FD: {
      // key required, value NULL, aux the fd (fs/fsopen.c); overlayfs takes
      // lowerdir+, datadir+, upperdir and workdir as fds since Linux 6.13
      // (fsparam_string_or_fd), other keys and older kernels EINVAL.
      if (a.key.empty() || !a.value.empty() || a.aux < 0) return Status{EINVAL};
      if (ctxs[ci].sb >= 0) return Status{EBUSY};
      Node n;
      if (int r = FdNode(a.aux, &n)) return Status{r};
      const std::string& k = a.key;
      if (ctxs[ci].fstype != "overlay" || !opt.overlay_layer_fds ||
          (k != "lowerdir+" && k != "upperdir" && k != "workdir"))
        return Status{EINVAL};
      // A layer fd that is not a directory: EINVAL (checked against Linux).
      if (!IsDir(n) || KindOf(n.mnt) != FsKind::kDisk) return Status{EINVAL};
      // The layer's name in the options is the fd's path (d_path).
      std::string path = PathOf(n, P().root);
      FsCtx& c = ctxs[ci];
      if (k == "lowerdir+") {
        c.lowers.push_back(n.ino);
        c.lower_paths.push_back(path);
      } else if (k == "upperdir") {
        c.upper = n.ino;
        c.upper_mnt = n.mnt;
        c.upper_path = path;
      } else {
        c.work = n.ino;
        c.work_mnt = n.mnt;
        c.work_path = path;
      }
      break;
    }
    case FSCONFIG_SET_FLAG:
    case FSCONFIG_SET_STRING: {
      if (ctxs[ci].sb >= 0) return Status{EBUSY};
      if (a.key.empty()) return Status{EINVAL};
      const std::string& k = a.key;
      if (k == "source") break;
      if (ctxs[ci].fstype == "overlay") {
        if (a.cmd == FSCONFIG_SET_STRING &&
            (k == "lowerdir+" || k == "upperdir" || k == "workdir" ||
             k == "lowerdir")) {
          std::vector<std::string> paths;
          if (k == "lowerdir") {
            size_t a0 = 0;
            while (a0 <= a.value.size()) {
              size_t b = a.value.find(':', a0);
              if (b == std::string::npos) b = a.value.size();
              paths.push_back(a.value.substr(a0, b - a0));
              a0 = b + 1;
            }
          } else {
            paths.push_back(a.value);
          }
          std::vector<Node> nodes;
          for (auto& path : paths) {
            Node n;
            if (int r = OverlayLayer(path, &n)) return Status{r};
            if (KindOf(n.mnt) != FsKind::kDisk) return Status{EINVAL};
            nodes.push_back(n);
          }
          FsCtx& c = ctxs[ci];
          if (k == "lowerdir") {
            c.lowers.clear();
            c.lower_paths.clear();
          }
          if (k == "lowerdir" || k == "lowerdir+") {
            for (size_t i = 0; i < nodes.size(); ++i) {
              c.lowers.push_back(nodes[i].ino);
              c.lower_paths.push_back(paths[i]);
            }
          } else if (k == "upperdir") {
            c.upper = nodes[0].ino;
            c.upper_mnt = nodes[0].mnt;
            c.upper_path = paths[0];
          } else {
            c.work = nodes[0].ino;
            c.work_mnt = nodes[0].mnt;
            c.work_path = paths[0];
          }
          break;
        }
        static const char* kOpts[] = {"redirect_dir", "index", "metacopy",
                                      "xino", "userxattr", "volatile",
                                      "nfs_export", "uuid", "ro", "rw",
                                      "default_permissions"};
        if (std::none_of(std::begin(kOpts), std::end(kOpts),
                         [&](const char* o) { return k == o; }))
          return Status{EINVAL};
      } else if (ctxs[ci].fstype == "tmpfs") {
        static const char* kOpts[] = {"size", "mode", "nr_inodes", "uid",
                                      "gid", "huge", "ro", "rw", "source"};
        if (std::none_of(std::begin(kOpts), std::end(kOpts),
                         [&](const char* o) { return k == o; }))
          return Status{EINVAL};
      } else if (ctxs[ci].fstype == "devpts") {
        static const char* kOpts[] = {"ptmxmode", "mode", "gid", "uid", "newinstance",
                                      "max", "ro", "rw"};
        if (std::none_of(std::begin(kOpts), std::end(kOpts),
                         [&](const char* o) { return k == o; }))
          return Status{EINVAL};
      } else if (ctxs[ci].fstype == "proc") {
        static const char* kOpts[] = {"hidepid", "subset", "gid", "ro", "rw"};
        if (std::none_of(std::begin(kOpts), std::end(kOpts),
                         [&](const char* o) { return k == o; }))
          return Status{EINVAL};
      } else if (k != "ro" && k != "rw") {
        return Status{EINVAL};
      }
      ctxs[ci].params.push_back({k, a.value});
      break;
    }
    case FSCONFIG_CMD_CREATE: {
      if (ctxs[ci].sb >= 0) return Status{EBUSY};
      int sb = -1;
      if (ctxs[ci].fstype == "overlay") {
        FsCtx c = ctxs[ci];
        std::vector<Node> lowers;
        for (uint32_t l : c.lowers) {
          // Layers were checked at fsconfig time; only the inode matters.
          lowers.push_back(Node{0, l, {}});
          lowers.back().mnt = FindDiskMount(l);
        }
        Node upper{c.upper_mnt, c.upper, {}}, work{c.work_mnt, c.work, {}};
        bool has_upper = c.upper != 0, has_work = c.work != 0;
        std::string opts;
        std::string lj;
        for (auto& l : c.lower_paths) lj += (lj.empty() ? "" : ":") + l;
        opts = "lowerdir=" + lj;
        if (has_upper) opts += ",upperdir=" + c.upper_path;
        if (has_work) opts += ",workdir=" + c.work_path;
        if (int r = MakeOverlaySb(lowers, has_upper ? &upper : nullptr,
                                  has_work ? &work : nullptr, opts, &sb))
          return Status{r};
      } else {
        // The mount's source is the "source" parameter, else "none".
        std::string data, source = "none";
        for (auto& [k, v] : ctxs[ci].params) {
          if (k == "source") {
            source = v;
            continue;
          }
          data += (data.empty() ? "" : ",") + k + (v.empty() ? "" : "=" + v);
        }
        if (int r = MakeSimpleSb(ctxs[ci].fstype, source, data, &sb))
          return Status{r};
      }
      ctxs[ci].sb = sb;
      break;
    }
    case FSCONFIG_CMD_RECONFIGURE:
      return Status{EOPNOTSUPP};
    default:
      return Status{EINVAL};
  }
  return Status{};
}

int FakeKernel::State::FindDiskMount(uint32_t ino) {
  uint32_t sb = inodes[ino].sb;
  for (size_t k = 0; k < mounts.size(); ++k)
    if (mounts[k].alive && mounts[k].sb == static_cast<int>(sb))
      return static_cast<int>(k);
  return 0;
}

Result<int> FakeKernel::State::Fsmount(int fs_fd, unsigned int flags,
                                       unsigned int attr) {
  OpenFile* f = OfdOf(fs_fd);
  if (!f) return {-1, EBADF};
  if (f->kind != FileKind::kFsCtx) return {-1, EINVAL};
  if (flags & ~FSMOUNT_CLOEXEC) return {-1, EINVAL};
  FsCtx& c = ctxs[f->ctx];
  if (c.sb < 0) return {-1, EINVAL};
  if (c.mounted) return {-1, EBUSY};
  unsigned long mf = 0;
  if (attr & MOUNT_ATTR_RDONLY) mf |= MS_RDONLY;
  if (attr & MOUNT_ATTR_NOSUID) mf |= MS_NOSUID;
  if (attr & MOUNT_ATTR_NODEV) mf |= MS_NODEV;
  if (attr & MOUNT_ATTR_NOEXEC) mf |= MS_NOEXEC;
  int sb = c.sb;
  c.mounted = true;
  int m = sbs[sb].kind == FsKind::kOverlay ? NewMount(sb, OvlTop(sb, ""), "", mf)
                                           : NewMount(sb, sbs[sb].root, "", mf);
  OpenFile mf_file;
  mf_file.kind = FileKind::kMountFd;
  mf_file.mnt = m;
  return {InstallFd(std::move(mf_file), flags & FSMOUNT_CLOEXEC), 0};
}

Status FakeKernel::State::MoveMount(const mydocker::MoveMountArgs& a) {
  int src = -1;
  if ((a.flags & MOVE_MOUNT_F_EMPTY_PATH) && a.from_path.empty()) {
    OpenFile* f = OfdOf(a.from_dirfd);
    if (!f) return Status{EBADF};
    if (f->kind == FileKind::kMountFd) {
      src = f->mnt;
    } else if (f->node.mnt >= 0 && IsMountRoot(f->node)) {
      src = f->node.mnt;
    } else {
      return Status{EINVAL};
    }
  } else {
    if (a.from_dirfd != AT_FDCWD && (a.from_path.empty() || a.from_path[0] != '/'))
      return Status{EINVAL};
    Node s;
    if (int r = ResolveMountRoot(a.from_path, &s)) return Status{r};
    src = s.mnt;
  }
  Node t;
  if ((a.flags & MOVE_MOUNT_T_EMPTY_PATH) && a.to_path.empty()) {
    // Onto the node an fd names (an O_PATH fd of a resolved mount point,
    // or a mount fd: its root).
    if (int r = FdNode(a.to_dirfd, &t)) return Status{r};
    t = CrossMounts(t);
  } else {
    if (a.to_dirfd != AT_FDCWD && (a.to_path.empty() || a.to_path[0] != '/'))
      return Status{EINVAL};
    if (int r = Walk(a.to_path, true, &t)) return Status{r};
  }
  if (!mounts[src].alive) return Status{EINVAL};
  if (IsDir(RootOf(src)) != IsDir(t)) return Status{ENOTDIR};
  if (mounts[src].ns < 0 && mounts[src].parent < 0) {
    Attach(src, t);
    return Status{};
  }
  return Status{MoveExisting(src, t)};
}

size_t FakeKernel::State::LiveMountCount() const {
  size_t n = 0;
  for (const MountRec& m : mounts) n += m.alive;
  return n;
}

}  // namespace faultline
