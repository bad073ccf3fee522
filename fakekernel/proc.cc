// FakeKernel /proc: entries and links (self, <pid>/..., fd/, ns/) and the
// content of the files, generated from the model.
#include "fakekernel/state.h"

namespace faultline {

pid_t FakeKernel::State::ProcPid(int sb, std::string_view s) {
  int64_t v = 0;
  if (!ParseI64(s, &v) || v <= 0) return 0;
  int ns = sbs[sb].pidns;
  for (auto& [pid, p] : procs) {
    if (p.state == PState::kZombie && pid == 1) continue;
    if (ns == 0 ? pid == v : (p.pidns == ns && p.nspid == v)) return pid;
  }
  return 0;
}

pid_t FakeKernel::State::ShownPid(int sb, const Process& p) {
  int ns = sbs[sb].pidns;
  if (ns == 0) return p.pid;
  return p.pidns == ns ? p.nspid : 0;
}

char FakeKernel::State::ProcType(int sb, std::string_view rel) {
  auto c = SplitPath(rel);
  if (c.empty()) return 'd';
  if (c.size() == 1 && (c[0] == "self" || c[0] == "mounts")) return 'l';
  pid_t pid = ProcPid(sb, c[0]);
  if (!pid) return 0;
  Process& p = procs.at(pid);
  if (c.size() == 1) return 'd';
  std::string_view f = c[1];
  if (c.size() == 2) {
    if (f == "fd" || f == "ns") return 'd';
    if (f == "cwd" || f == "root") return p.state == PState::kZombie ? 0 : 'l';
    if (f == "mountinfo" || f == "mounts" || f == "stat" || f == "status" ||
        f == "comm" || f == "cmdline" || f == "cgroup")
      return 'f';
    return 0;
  }
  if (c.size() == 3 && f == "fd") {
    int64_t fd = 0;
    if (!ParseI64(c[2], &fd) || fd < 0 ||
        fd >= static_cast<int64_t>(p.fds.size()) || p.fds[fd].ofd < 0)
      return 0;
    return 'l';
  }
  if (c.size() == 3 && f == "ns") {
    return (c[2] == "mnt" || c[2] == "uts" || c[2] == "pid") ? 'l' : 0;
  }
  return 0;
}

bool FakeKernel::State::ProcJump(const Node& n, Node* out) {
  auto c = SplitPath(n.rel);
  if (c.size() < 2) return false;
  pid_t pid = ProcPid(mounts[n.mnt].sb, c[0]);
  if (!pid) return false;
  Process& p = procs.at(pid);
  if (c.size() == 2 && c[1] == "cwd") { *out = Fresh(p.cwd); return true; }
  if (c.size() == 2 && c[1] == "root") { *out = Fresh(p.root); return true; }
  if (c.size() == 3 && c[1] == "fd") {
    int64_t fd = 0;
    ParseI64(c[2], &fd);
    const OpenFile& f = ofds[p.fds[fd].ofd];
    if (f.node.mnt < 0) return false;
    *out = Fresh(f.node);
    return true;
  }
  return false;
}

std::string FakeKernel::State::MountOpts(const MountRec& m) {
  std::string o = (m.flags & MS_RDONLY) ? "ro" : "rw";
  if (m.flags & MS_NOSUID) o += ",nosuid";
  if (m.flags & MS_NODEV) o += ",nodev";
  if (m.flags & MS_NOEXEC) o += ",noexec";
  if (m.flags & MS_NOATIME) o += ",noatime";
  else if (!(m.flags & MS_STRICTATIME)) o += ",relatime";
  return o;
}

std::string FakeKernel::State::SuperOpts(const Super& s) {
  std::string o = s.ro ? "ro" : "rw";
  if (!s.opts.empty()) o += "," + s.opts;
  return o;
}

std::vector<int> FakeKernel::State::VisibleMounts(const Process& q) {
  std::vector<int> out;
  if (q.root.mnt < 0 || !mounts[q.root.mnt].alive) return out;
  CollectTree(q.root.mnt, &out);
  return out;
}

std::string FakeKernel::State::MountinfoOf(const Process& q) {
  std::string out;
  Node root = Fresh(q.root);
  for (int m : VisibleMounts(q)) {
    const MountRec& mt = mounts[m];
    const Super& s = sbs[mt.sb];
    int parent = (m == root.mnt || mt.parent < 0) ? (mt.parent >= 0 ? mt.parent : m)
                                                  : mt.parent;
    std::string fsroot = Virtual(m) ? "/" + mt.root_rel : FsPath(mt.root_ino);
    std::string point = m == root.mnt ? "/" : PathOf(RootOf(m), root);
    out += std::to_string(m + 1) + " " + std::to_string(parent + 1) + " " +
           std::to_string(major(s.dev)) + ":" + std::to_string(minor(s.dev)) +
           " " + EscapeMountPath(fsroot) + " " + EscapeMountPath(point) + " " +
           MountOpts(mt);
    if (mt.peer) out += " shared:" + std::to_string(mt.peer);
    if (mt.master) out += " master:" + std::to_string(mt.master);
    if (mt.unbindable) out += " unbindable";
    out += " - " + s.fstype + " " + EscapeMountPath(s.source) + " " +
           SuperOpts(s) + "\n";
  }
  return out;
}

std::string FakeKernel::State::MountsOf(const Process& q) {
  std::string out;
  Node root = Fresh(q.root);
  for (int m : VisibleMounts(q)) {
    const MountRec& mt = mounts[m];
    const Super& s = sbs[mt.sb];
    std::string point = m == root.mnt ? "/" : PathOf(RootOf(m), root);
    out += EscapeMountPath(s.source) + " " + EscapeMountPath(point) + " " +
           s.fstype + " " + MountOpts(mt) + " 0 0\n";
  }
  return out;
}

char FakeKernel::State::StateChar(const Process& q) {
  if (q.state == PState::kZombie) return 'Z';
  return q.pid == cur ? 'R' : 'S';
}

std::string FakeKernel::State::CgroupFileOf(const Process& q) {
  std::string out;
  int v1_id = 0;
  for (size_t k = 0; k < sbs.size(); ++k) {
    const Super& s = sbs[k];
    if (s.kind != FsKind::kCgroup) continue;
    uint32_t dir = CgOf(q, static_cast<int>(k));
    std::string path = dir ? FsPath(dir) : "/";
    if (s.cg_version == 2) {
      out += "0::" + path + "\n";
    } else {
      std::string names;
      for (auto& c : s.controllers) names += (names.empty() ? "" : ",") + c;
      out += std::to_string(++v1_id) + ":" + names + ":" + path + "\n";
    }
  }
  return out;
}

std::string FakeKernel::State::FdLink(const Process& q, int fd) {
  const OpenFile& f = ofds[q.fds[fd].ofd];
  switch (f.kind) {
    case FileKind::kPipeR:
    case FileKind::kPipeW:
      return "pipe:[" + std::to_string(4000 + f.pipe) + "]";
    case FileKind::kFsCtx:
      return "anon_inode:[fscontext]";
    case FileKind::kMountFd:
      return "/";
    case FileKind::kPidfd:
      return "anon_inode:[pidfd]";
    default: {
      std::string p = PathOf(Fresh(f.node), Fresh(P().root));
      if (KindOf(f.node.mnt) != FsKind::kProc && f.ino &&
          inodes[f.ino].nlink == 0)
        p += " (deleted)";
      return p;
    }
  }
}

std::string FakeKernel::State::ProcLink(const Node& n) {
  int sb = mounts[n.mnt].sb;
  auto c = SplitPath(n.rel);
  if (c.size() == 1 && c[0] == "self") {
    pid_t shown = ShownPid(sb, P());
    return shown ? std::to_string(shown) : std::string();
  }
  if (c.size() == 1 && c[0] == "mounts") return "self/mounts";
  pid_t pid = ProcPid(sb, c[0]);
  if (!pid || c.size() < 2) return {};
  const Process& q = procs.at(pid);
  if (c[1] == "cwd") return PathOf(Fresh(q.cwd), Fresh(P().root));
  if (c[1] == "root") return PathOf(Fresh(q.root), Fresh(P().root));
  if (c[1] == "fd" && c.size() == 3) {
    int64_t fd = 0;
    ParseI64(c[2], &fd);
    return FdLink(q, static_cast<int>(fd));
  }
  if (c[1] == "ns" && c.size() == 3) {
    if (c[2] == "mnt") return "mnt:[" + std::to_string(4026531840u + q.mntns) + "]";
    if (c[2] == "uts") return "uts:[" + std::to_string(4026531838u + q.utsns * 16) + "]";
    if (c[2] == "pid") return "pid:[" + std::to_string(4026531836u + q.pidns * 16) + "]";
  }
  return {};
}

std::vector<DirEntry> FakeKernel::State::ProcList(const Node& n) {
  int sb = mounts[n.mnt].sb;
  auto c = SplitPath(n.rel);
  std::vector<DirEntry> out;
  if (c.empty()) {
    for (auto& [pid, q] : procs) {
      if (pid_t shown = ShownPid(sb, q))
        out.push_back(DirEntry{std::to_string(shown), DT_DIR});
    }
    out.push_back(DirEntry{"mounts", DT_LNK});
    out.push_back(DirEntry{"self", DT_LNK});
    return out;
  }
  pid_t pid = ProcPid(sb, c[0]);
  if (!pid) return out;
  const Process& q = procs.at(pid);
  if (c.size() == 1) {
    for (const char* f : {"cgroup", "cmdline", "comm", "mountinfo", "mounts",
                          "stat", "status"})
      out.push_back(DirEntry{f, DT_REG});
    out.push_back(DirEntry{"fd", DT_DIR});
    out.push_back(DirEntry{"ns", DT_DIR});
    if (q.state != PState::kZombie) {
      out.push_back(DirEntry{"cwd", DT_LNK});
      out.push_back(DirEntry{"root", DT_LNK});
    }
  } else if (c[1] == "fd") {
    for (size_t fd = 0; fd < q.fds.size(); ++fd)
      if (q.fds[fd].ofd >= 0) out.push_back(DirEntry{std::to_string(fd), DT_LNK});
    // ReadDir opens the directory (opendir): a process listing its own fds
    // sees that fd too, the lowest free one.
    if (pid == cur) {
      size_t fd = 0;
      while (fd < q.fds.size() && q.fds[fd].ofd >= 0) ++fd;
      out.push_back(DirEntry{std::to_string(fd), DT_LNK});
      std::sort(out.begin(), out.end(), [](const DirEntry& a, const DirEntry& b) {
        return std::stoi(a.name) < std::stoi(b.name);
      });
    }
  } else if (c[1] == "ns") {
    for (const char* f : {"mnt", "pid", "uts"}) out.push_back(DirEntry{f, DT_LNK});
  }
  return out;
}

std::string FakeKernel::State::ProcRead(const Node& n) {
  int sb = mounts[n.mnt].sb;
  auto c = SplitPath(n.rel);
  if (c.size() != 2) return {};
  pid_t pid = ProcPid(sb, c[0]);
  if (!pid) return {};
  const Process& q = procs.at(pid);
  std::string_view f = c[1];
  if (f == "mountinfo") return q.state == PState::kZombie ? "" : MountinfoOf(q);
  if (f == "mounts") return q.state == PState::kZombie ? "" : MountsOf(q);
  if (f == "comm") return q.comm + "\n";
  if (f == "cgroup") return CgroupFileOf(q);
  if (f == "cmdline") {
    std::string out;
    for (auto& a : q.cmdline) out += a + '\0';
    return out;
  }
  pid_t shown = ShownPid(sb, q);
  const Process* parent = Find(q.ppid);
  pid_t ppid_shown = parent ? ShownPid(sb, *parent) : 0;
  if (f == "stat") {
    std::string out = std::to_string(shown) + " (" + q.comm + ") " +
                      StateChar(q) + " " + std::to_string(ppid_shown) + " " +
                      std::to_string(shown) + " " + std::to_string(shown);
    // Fields 7-52; field 22 is the start time (the others stay 0).
    for (int field = 7; field <= 52; ++field)
      out += field == 22 ? " " + std::to_string(q.start) : std::string(" 0");
    return out + "\n";
  }
  if (f == "status") {
    return "Name:\t" + q.comm + "\nState:\t" + StateChar(q) + "\nTgid:\t" +
           std::to_string(shown) + "\nPid:\t" + std::to_string(shown) +
           "\nPPid:\t" + std::to_string(ppid_shown) + "\nNSpid:\t" +
           std::to_string(shown) + (q.pidns && sbs[sb].pidns == 0
                                        ? "\t" + std::to_string(q.nspid)
                                        : "") +
           "\n";
  }
  return {};
}

// ---- proc's FsOps hooks: entries are generated, named by path ----
struct FakeKernel::State::ProcFs {
  static int Lookup(State& s, const Node& dir, std::string_view name,
                    Node* out) {
    std::string rel = JoinRel(dir.rel, name);
    if (!s.ProcType(s.mounts[dir.mnt].sb, rel)) return ENOENT;
    *out = Node{dir.mnt, 0, std::move(rel)};
    return 0;
  }

  static Node Parent(State&, const Node& n) {
    return Node{n.mnt, 0, Dirname(n.rel)};
  }

  static uint32_t Type(State& s, const Node& n) {
    switch (s.ProcType(s.mounts[n.mnt].sb, n.rel)) {
      case 'd': return S_IFDIR;
      case 'l': return S_IFLNK;
      case 'f': return S_IFREG;
    }
    return 0;
  }

  static std::string LinkTarget(State& s, const Node& n) {
    return s.ProcLink(n);
  }

  static FileStat Stat(State& s, const Node& n) {
    FileStat st;
    char t = s.ProcType(s.mounts[n.mnt].sb, n.rel);
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

  static std::vector<DirEntry> List(State& s, const Node& dir) {
    return s.ProcList(dir);
  }

  // Never reached: proc refuses every change first (the *_err fields).
  static bool DirEmpty(State&, const Node&) { return false; }
  static int DirForWrite(State&, const Node&, uint32_t*) { return ENOENT; }
  static int Writable(State&, const Node&, uint32_t*) { return EPERM; }

  static bool Jump(State& s, const Node& n, Node* out) {
    return s.ProcJump(n, out);
  }

  // Read-only files whose content is generated at open.
  static int Open(State& s, const Node& n, bool write, OpenFile* f) {
    if (write) return EACCES;
    f->kind = FileKind::kProc;
    f->snap = s.ProcRead(n);
    return 0;
  }
};

const FakeKernel::State::FsOps FakeKernel::State::kProcOps = {
    .by_rel = true,
    .lookup = ProcFs::Lookup,
    .parent = ProcFs::Parent,
    .type = ProcFs::Type,
    .link_target = ProcFs::LinkTarget,
    .stat = ProcFs::Stat,
    .list = ProcFs::List,
    .refresh = InodeFs::NoRefresh,
    .dir_empty = ProcFs::DirEmpty,
    .dir_for_write = ProcFs::DirForWrite,
    .writable = ProcFs::Writable,
    .removed = InodeFs::NoRemoved,
    .rename_check = InodeFs::NoRenameCheck,
    .create_err = ENOENT,
    .rmdir_err = EPERM,
    .unlink_err = EPERM,
    .attr_err = EPERM,
    .jump = ProcFs::Jump,
    .create = nullptr,
    .rmdir = nullptr,
    .open = ProcFs::Open,
};

}  // namespace faultline
