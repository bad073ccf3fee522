// FakeKernel: see fake_kernel.h for the contract. Layout of this file:
//   1. the model (inodes, superblocks, mounts, processes, open files)
//   2. path resolution and overlay / proc views
//   3. file and directory ops
//   4. mounts, propagation, pivot_root, the new mount API
//   5. cgroupfs
//   6. processes, fds, pipes, fake programs
//   7. /proc content
//   8. construction, seeding, observation
#include "fakekernel/fake_kernel.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <forward_list>
#include <set>

#include <spdlog/spdlog.h>

namespace faultline {

using mydocker::DirEntry;
using mydocker::FileStat;
using mydocker::PipeFds;
using mydocker::Result;
using mydocker::Status;

namespace {

constexpr int64_t kExt4Magic = 0xEF53;
constexpr int64_t kRamfsMagic = 0x858458f6;
constexpr int64_t kTmpfsMagic = 0x01021994;
constexpr int64_t kCgroupMagic = 0x27e0eb;
constexpr int64_t kCgroup2Magic = 0x63677270;
constexpr int64_t kOverlayMagic = 0x794c7630;
constexpr int64_t kProcMagic = 0x9fa0;
constexpr int64_t kDevptsMagic = 0x1cd1;
constexpr int64_t kSysfsMagic = 0x62656572;
constexpr int64_t kMqueueMagic = 0x19800202;

constexpr unsigned long kPropagationFlags =
    MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;
constexpr unsigned long kPerMountFlags =
    MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME |
    MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME;

// Thrown by Execve (and a process killing itself) to end the running child;
// caught only by the clone driver of that child.
struct ProcessExit {
  pid_t pid;
  int status;  // raw wait status
};
// Thrown by Execve of a long-running program (sleep): the process stays
// alive, parked, until it is waited for (it then exits 0), killed, or its
// parent dies (pdeathsig).
struct ProcessPark {
  pid_t pid;
};

enum class FsKind : uint8_t { kDisk, kOverlay, kProc, kCgroup };

struct Inode {
  uint32_t sb = 0;
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t rdev = 0;
  uint32_t nlink = 0;
  uint32_t parent = 0;  // dirs: parent dir (itself at a sb root); else first link's dir
  std::string name;     // first link's name
  std::string data;     // file content or symlink target
  std::map<std::string, uint32_t, std::less<>> children;
  bool opaque = false;  // overlay: trusted.overlay.opaque
  bool cgfile = false;  // a cgroupfs control file
};

struct Super {
  FsKind kind = FsKind::kDisk;
  std::string fstype;
  std::string source;
  std::string opts;  // super options after rw/ro, shown in mountinfo
  int64_t magic = 0;
  uint64_t dev = 0;
  uint32_t root = 0;
  bool ro = false;
  // overlay
  uint32_t upper = 0;
  uint32_t work = 0;
  std::vector<uint32_t> lowers;
  // cgroup
  int cg_version = 0;
  std::vector<std::string> controllers;
  // proc
  int pidns = 0;
};

// A position in the tree: a mount and a dentry in it. Disk and cgroup
// filesystems name dentries by inode; overlay and proc by their path
// relative to the filesystem root (rel), with ino the overlay's top inode.
struct Node {
  int mnt = -1;
  uint32_t ino = 0;
  std::string rel;
};

struct MountRec {
  bool alive = true;
  int sb = 0;
  uint32_t root_ino = 0;
  std::string root_rel;
  int parent = -1;
  Node mp;       // where it is mounted, in parent
  int ns = -1;   // -1: detached
  std::vector<int> kids;
  unsigned long flags = 0;  // kPerMountFlags
  int peer = 0;             // shared peer group, 0 = none
  int master = 0;           // slave of this peer group
};

enum class FileKind : uint8_t {
  kFile, kDir, kPipeR, kPipeW, kFsCtx, kMountFd, kProc, kCgroup, kNull,
  kZero, kConsole,
};

struct OpenFile {
  FileKind kind = FileKind::kFile;
  int refs = 0;
  int flags = 0;
  uint64_t off = 0;
  Node node;
  uint32_t ino = 0;  // the inode holding the data (after overlay copy-up)
  std::string snap;  // generated content (proc, cgroup.procs)
  int pipe = -1;
  int ctx = -1;
  int mnt = -1;
};

struct PipeObj {
  std::string buf;
  int rofd = -1;
  int wofd = -1;
};

struct FsCtx {
  std::string fstype;
  std::vector<std::pair<std::string, std::string>> params;
  std::vector<uint32_t> lowers;
  uint32_t upper = 0;
  int upper_mnt = -1;
  uint32_t work = 0;
  int work_mnt = -1;
  std::vector<std::string> lower_paths;
  std::string upper_path, work_path;
  int sb = -1;       // after FSCONFIG_CMD_CREATE
  bool mounted = false;
};

// kDeferred: cloned, fn not run yet. kRunning: on the call stack (or the
// runtime / init). kParked: exec'd a long-running program and waits to be
// finished. kZombie: exited, not reaped.
enum class PState : uint8_t { kDeferred, kRunning, kParked, kZombie };

struct FdSlot {
  int ofd = -1;
  bool cloexec = false;
};

struct Process {
  pid_t pid = 0;
  pid_t ppid = 0;
  int pidns = 0;
  pid_t nspid = 0;
  PState state = PState::kRunning;
  int mntns = 0;
  int utsns = 0;
  Node root;
  Node cwd;
  std::vector<FdSlot> fds;
  int pdeathsig = 0;
  uint64_t ignored = 0;  // bit n-1: signal n ignored
  bool subreaper = false;
  mode_t umask = 022;
  std::vector<std::pair<int, uint32_t>> cgroups;  // hierarchy sb -> cgroup dir
  int status = 0;
  std::string comm;
  std::vector<std::string> cmdline;
  mydocker::CloneFn fn;
  int clone_flags = 0;
  int pending_sig = 0;
};

void SplitPathInto(std::string_view p, std::vector<std::string_view>* out) {
  size_t i = 0;
  while (i < p.size()) {
    while (i < p.size() && p[i] == '/') ++i;
    size_t j = i;
    while (j < p.size() && p[j] != '/') ++j;
    if (j > i) out->push_back(p.substr(i, j - i));
    i = j;
  }
}

std::vector<std::string_view> SplitPath(std::string_view p) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < p.size()) {
    while (i < p.size() && p[i] == '/') ++i;
    size_t j = i;
    while (j < p.size() && p[j] != '/') ++j;
    if (j > i) out.push_back(p.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string Dirname(const std::string& rel) {
  auto k = rel.rfind('/');
  return k == std::string::npos ? std::string() : rel.substr(0, k);
}
std::string Basename(std::string_view p) {
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  auto k = p.rfind('/');
  return std::string(k == std::string::npos ? p : p.substr(k + 1));
}
std::string JoinRel(const std::string& rel, std::string_view name) {
  return rel.empty() ? std::string(name) : rel + "/" + std::string(name);
}

uint8_t DtOf(uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFDIR: return DT_DIR;
    case S_IFREG: return DT_REG;
    case S_IFLNK: return DT_LNK;
    case S_IFCHR: return DT_CHR;
    case S_IFBLK: return DT_BLK;
    case S_IFIFO: return DT_FIFO;
    case S_IFSOCK: return DT_SOCK;
  }
  return DT_UNKNOWN;
}

bool IsWhiteout(const Inode& i) {
  return S_ISCHR(i.mode) && i.rdev == 0;
}

bool ParseI64(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

// memparse: digits with an optional k/m/g/t suffix.
bool ParseMem(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  int64_t mult = 1;
  char c = s.back();
  if (c == 'k' || c == 'K') mult = 1LL << 10;
  if (c == 'm' || c == 'M') mult = 1LL << 20;
  if (c == 'g' || c == 'G') mult = 1LL << 30;
  if (c == 't' || c == 'T') mult = 1LL << 40;
  if (mult != 1) s.remove_suffix(1);
  int64_t v = 0;
  if (!ParseI64(s, &v) || v < 0) return false;
  if (v > INT64_MAX / mult) return false;
  *out = v * mult;
  return true;
}

// "0-1,3" -> set of numbers; false when malformed.
bool ParseList(std::string_view s, std::set<int>* out) {
  out->clear();
  if (s.empty()) return true;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string_view::npos) j = s.size();
    std::string_view item = s.substr(i, j - i);
    if (item.empty()) return false;
    auto dash = item.find('-');
    int64_t a = 0, b = 0;
    if (dash == std::string_view::npos) {
      if (!ParseI64(item, &a)) return false;
      b = a;
    } else if (!ParseI64(item.substr(0, dash), &a) ||
               !ParseI64(item.substr(dash + 1), &b)) {
      return false;
    }
    if (a < 0 || b < a || b > 4096) return false;
    for (int64_t k = a; k <= b; ++k) out->insert(static_cast<int>(k));
    i = j + 1;
  }
  return true;
}

std::string EscapeMountPath(std::string_view p) {
  std::string out;
  for (char c : p) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\\') {
      char buf[5];
      snprintf(buf, sizeof buf, "\\%03o", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

const std::vector<std::string>& V2Controllers() {
  static const std::vector<std::string> k = {"cpuset", "cpu", "io", "memory",
                                             "pids"};
  return k;
}

}  // namespace

// ===========================================================================
// 1. The model
// ===========================================================================
struct FakeKernel::State {
  FakeKernelOptions opt;
  FakeKernel* self = nullptr;

  std::vector<Inode> inodes;  // index = ino; 0 unused
  std::vector<Super> sbs;
  std::vector<MountRec> mounts;  // index = mount id - 1
  std::vector<int> ns_root;   // mount ns -> its bottom mount, -1 when dropped
  std::vector<std::string> uts;
  std::vector<pid_t> pidns_next;  // next pid per pid namespace (0: host)
  std::vector<OpenFile> ofds;
  std::vector<int> free_ofds;
  std::vector<PipeObj> pipes;
  std::vector<FsCtx> ctxs;
  std::map<pid_t, Process> procs;
  pid_t cur = 0;
  pid_t runtime = 0;
  pid_t next_pid = 0;
  int next_peer = 1;
  uint32_t next_minor = 20;
  std::string console;
  std::vector<FakeExec> execs;
  std::function<void(FakeKernel&, const FakeExec&)> exec_hook;

  // ---- small accessors ----
  Process& P() { return procs.at(cur); }
  const Process& P() const { return procs.at(cur); }
  Process* Find(pid_t pid) {
    auto it = procs.find(pid);
    return it == procs.end() ? nullptr : &it->second;
  }
  Super& SbOf(int mnt) { return sbs[mounts[mnt].sb]; }
  FsKind KindOf(int mnt) const { return sbs[mounts[mnt].sb].kind; }
  bool Virtual(int mnt) const {
    FsKind k = KindOf(mnt);
    return k == FsKind::kOverlay || k == FsKind::kProc;
  }
  bool Same(const Node& a, const Node& b) const {
    if (a.mnt != b.mnt) return false;
    return Virtual(a.mnt) ? a.rel == b.rel : a.ino == b.ino;
  }
  Node RootOf(int m) {
    Node n{m, mounts[m].root_ino, mounts[m].root_rel};
    if (KindOf(m) == FsKind::kOverlay) n.ino = OvlTop(mounts[m].sb, n.rel);
    return n;
  }
  bool IsMountRoot(const Node& n) {
    const MountRec& m = mounts[n.mnt];
    return Virtual(n.mnt) ? n.rel == m.root_rel : n.ino == m.root_ino;
  }
  // Overlay nodes carry their top inode; refresh it (copy-up changes it).
  Node Fresh(Node n) {
    if (n.mnt >= 0 && KindOf(n.mnt) == FsKind::kOverlay)
      n.ino = OvlTop(mounts[n.mnt].sb, n.rel);
    return n;
  }

  uint32_t NewInode(uint32_t sb, uint32_t mode) {
    Inode i;
    i.sb = sb;
    i.mode = mode;
    i.nlink = 1;
    inodes.push_back(std::move(i));
    return static_cast<uint32_t>(inodes.size() - 1);
  }
  // Creates name in dir (a disk inode); returns the new inode.
  uint32_t AddChild(uint32_t dir, std::string_view name, uint32_t mode) {
    uint32_t ino = NewInode(inodes[dir].sb, mode);
    Inode& c = inodes[ino];
    c.parent = dir;
    c.name = std::string(name);
    if (S_ISDIR(mode)) c.nlink = 2;
    inodes[dir].children.emplace(std::string(name), ino);
    return ino;
  }
  int NewSuper(FsKind kind, std::string fstype, std::string source,
               int64_t magic, uint64_t dev = 0) {
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
  int NewMount(int sb, uint32_t root_ino, std::string root_rel,
               unsigned long flags) {
    MountRec m;
    m.sb = sb;
    m.root_ino = root_ino;
    m.root_rel = std::move(root_rel);
    m.flags = flags & kPerMountFlags;
    mounts.push_back(std::move(m));
    return static_cast<int>(mounts.size() - 1);
  }

  // =========================================================================
  // 2. Views: overlay layers, proc entries, path resolution
  // =========================================================================

  // The layer dirs that make up overlay dir rel, top first. Empty when rel
  // is not a directory in the merged view.
  std::vector<uint32_t> OvlDirs(int sb, std::string_view rel,
                                bool lowers_only = false) {
    const Super& s = sbs[sb];
    std::vector<uint32_t> dirs;
    if (s.upper && !lowers_only) dirs.push_back(s.upper);
    for (uint32_t l : s.lowers) dirs.push_back(l);
    for (std::string_view comp : SplitPath(rel)) {
      std::vector<uint32_t> next;
      for (uint32_t d : dirs) {
        const Inode& di = inodes[d];
        auto it = di.children.find(comp);
        if (it == di.children.end()) continue;
        const Inode& c = inodes[it->second];
        if (IsWhiteout(c)) break;
        if (!S_ISDIR(c.mode)) {
          if (next.empty()) return {};  // the merged entry is not a dir
          break;
        }
        next.push_back(it->second);
        if (c.opaque) break;
      }
      dirs.swap(next);
      if (dirs.empty()) return {};
    }
    return dirs;
  }
  // The top inode of merged entry rel (0 when absent).
  uint32_t OvlTop(int sb, std::string_view rel) {
    if (rel.empty()) {
      const Super& s = sbs[sb];
      return s.upper ? s.upper : (s.lowers.empty() ? 0 : s.lowers[0]);
    }
    std::string r(rel);
    auto dirs = OvlDirs(sb, Dirname(r));
    std::string name = Basename(r);
    for (uint32_t d : dirs) {
      auto it = inodes[d].children.find(name);
      if (it == inodes[d].children.end()) continue;
      if (IsWhiteout(inodes[it->second])) return 0;
      return it->second;
    }
    return 0;
  }

  // Proc entries: 'd' dir, 'f' file, 'l' symlink, 0 absent.
  pid_t ProcPid(int sb, std::string_view s) {
    int64_t v = 0;
    if (!ParseI64(s, &v) || v <= 0) return 0;
    int ns = sbs[sb].pidns;
    for (auto& [pid, p] : procs) {
      if (p.state == PState::kZombie && pid == 1) continue;
      if (ns == 0 ? pid == v : (p.pidns == ns && p.nspid == v)) return pid;
    }
    return 0;
  }
  pid_t ShownPid(int sb, const Process& p) {
    int ns = sbs[sb].pidns;
    if (ns == 0) return p.pid;
    return p.pidns == ns ? p.nspid : 0;
  }
  char ProcType(int sb, std::string_view rel) {
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

  bool IsDir(const Node& n) {
    switch (KindOf(n.mnt)) {
      case FsKind::kProc: return ProcType(mounts[n.mnt].sb, n.rel) == 'd';
      default: return n.ino && S_ISDIR(inodes[n.ino].mode);
    }
  }
  bool IsLink(const Node& n) {
    if (KindOf(n.mnt) == FsKind::kProc)
      return ProcType(mounts[n.mnt].sb, n.rel) == 'l';
    return n.ino && S_ISLNK(inodes[n.ino].mode);
  }

  // The child name of dir (no mount crossing, no symlink following).
  int Lookup(const Node& dir, std::string_view name, Node* out) {
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

  // The mount attached at n, if any.
  int MountAt(const Node& n) {
    for (int k : mounts[n.mnt].kids) {
      const MountRec& m = mounts[k];
      if (m.alive && Same(m.mp, n)) return k;
    }
    return -1;
  }
  Node CrossMounts(Node n) {
    for (int guard = 0; guard < 64; ++guard) {
      int k = MountAt(n);
      if (k < 0) return n;
      n = RootOf(k);
    }
    return n;
  }
  Node ParentInFs(const Node& n) {
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
  Node DotDot(Node n, const Node& root) {
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

  // Magic links of /proc/<pid>/{cwd,root,fd/N}: the node they jump to.
  bool ProcJump(const Node& n, Node* out) {
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

  // Resolves path as the current process. follow_last: follow a symlink in
  // the last component. parent_only: stop before the last component and
  // return it in *last (never "" unless the path is "/").
  int Walk(std::string_view path, bool follow_last, Node* out,
           bool parent_only = false, std::string* last = nullptr,
           bool* trailing = nullptr) {
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
  std::vector<std::string_view> walk_scratch_;

  std::string LinkTarget(const Node& n) {
    if (KindOf(n.mnt) == FsKind::kProc) return ProcLink(n);
    return inodes[n.ino].data;
  }

  // Path of n as seen from root (d_path).
  std::string PathOf(Node n, const Node& root) {
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
  // Path of inode dir within its filesystem ("/" for the root).
  std::string FsPath(uint32_t ino) {
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

  int CheckWritable(const Node& n) {
    const MountRec& m = mounts[n.mnt];
    if ((m.flags & MS_RDONLY) || sbs[m.sb].ro) return EROFS;
    return 0;
  }

  // Is n a mount point in the current namespace? Mounts on it in other
  // namespaces are detached (the kernel's lazy unmount on unlink).
  bool MountpointInOwnNs(const Node& n, bool detach_others) {
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

  // =========================================================================
  // 3. Files and directories
  // =========================================================================

  // The disk dir inode in which entries of dir are created or removed:
  // overlay dirs are copied up first.
  int DirForWrite(const Node& dir, uint32_t* out) {
    switch (KindOf(dir.mnt)) {
      case FsKind::kProc: return ENOENT;
      case FsKind::kDisk:
      case FsKind::kCgroup: *out = dir.ino; return 0;
      case FsKind::kOverlay: return CopyUpDir(mounts[dir.mnt].sb, dir.rel, out);
    }
    return EINVAL;
  }
  int CopyUpDir(int sb, const std::string& rel, uint32_t* out) {
    const Super& s = sbs[sb];
    if (!s.upper) return EROFS;
    uint32_t cur_dir = s.upper;
    std::string prefix;
    for (std::string_view comp : SplitPath(rel)) {
      prefix = JoinRel(prefix, comp);
      auto it = inodes[cur_dir].children.find(comp);
      if (it != inodes[cur_dir].children.end() &&
          S_ISDIR(inodes[it->second].mode)) {
        cur_dir = it->second;
        continue;
      }
      uint32_t src = OvlTop(sb, prefix);
      if (!src) return ENOENT;
      Inode proto = inodes[src];
      if (it != inodes[cur_dir].children.end()) RemoveEntry(cur_dir, comp);
      uint32_t d = AddChild(cur_dir, comp, proto.mode);
      inodes[d].uid = proto.uid;
      inodes[d].gid = proto.gid;
      cur_dir = d;
    }
    *out = cur_dir;
    return 0;
  }
  // Copies overlay entry n up (file content included); returns its upper inode.
  int CopyUp(const Node& n, uint32_t* out) {
    int sb = mounts[n.mnt].sb;
    if (S_ISDIR(inodes[n.ino].mode)) return CopyUpDir(sb, n.rel, out);
    uint32_t pdir = 0;
    if (int e = CopyUpDir(sb, Dirname(n.rel), &pdir)) return e;
    std::string name = Basename(n.rel);
    auto it = inodes[pdir].children.find(name);
    if (it != inodes[pdir].children.end() && it->second == n.ino) {
      *out = n.ino;
      return 0;
    }
    Inode proto = inodes[n.ino];
    uint32_t c = AddChild(pdir, name, proto.mode);
    Inode& ci = inodes[c];
    ci.uid = proto.uid;
    ci.gid = proto.gid;
    ci.rdev = proto.rdev;
    ci.data = proto.data;
    *out = c;
    return 0;
  }
  // Creating name in an overlay upper dir replaces a whiteout; returns true
  // when one was there (a dir created over it must be opaque).
  bool PrepareCreate(uint32_t dir, std::string_view name) {
    auto it = inodes[dir].children.find(name);
    if (it != inodes[dir].children.end() && IsWhiteout(inodes[it->second])) {
      inodes[dir].children.erase(it);
      return true;
    }
    return false;
  }

  void RemoveEntry(uint32_t dir, std::string_view name) {
    auto it = inodes[dir].children.find(name);
    if (it == inodes[dir].children.end()) return;
    uint32_t c = it->second;
    inodes[dir].children.erase(it);
    Inode& ci = inodes[c];
    if (S_ISDIR(ci.mode)) {
      std::vector<std::string> names;
      for (auto& [n, _] : ci.children) names.push_back(n);
      for (auto& n : names) RemoveEntry(c, n);
      ci.nlink = 0;
    } else if (ci.nlink > 0) {
      --ci.nlink;
    }
  }
  // After removing name from an overlay dir: hide lower copies.
  void Whiteout(int sb, const std::string& parent_rel, uint32_t upper_dir,
                const std::string& name) {
    bool in_lower = false;
    for (uint32_t d : OvlDirs(sb, parent_rel, /*lowers_only=*/true)) {
      auto it = inodes[d].children.find(name);
      if (it == inodes[d].children.end()) continue;
      in_lower = !IsWhiteout(inodes[it->second]);
      break;
    }
    if (in_lower) AddChild(upper_dir, name, S_IFCHR | 0);
  }

  // Creates an entry (dir, file, symlink, node) at path.
  int Create(const std::string& path, uint32_t mode, uint64_t rdev,
             const std::string& link_target, uint32_t* out_ino = nullptr,
             Node* out_node = nullptr) {
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

  Status Mkdir(const std::string& path, mode_t mode) {
    return Status{Create(path, S_IFDIR | (mode & 07777 & ~P().umask), 0, "")};
  }
  Status Symlink(const std::string& target, const std::string& linkpath) {
    if (target.empty()) return Status{ENOENT};
    return Status{Create(linkpath, S_IFLNK | 0777, 0, target)};
  }
  Status Mknod(const std::string& path, mode_t mode, dev_t dev) {
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

  // Resolves the parent and the entry for a removal.
  struct Entry {
    Node dir;
    std::string name;
    Node node;  // not crossed
  };
  int FindEntry(const std::string& path, Entry* e) {
    bool trailing = false;
    if (int r = Walk(path, false, &e->dir, true, &e->name, &trailing)) return r;
    if (e->name.empty()) return EBUSY;  // "/"
    if (e->name == "." || e->name == "..") return EINVAL;
    if (int r = Lookup(e->dir, e->name, &e->node)) return r;
    return 0;
  }
  int RemoveCommon(const Entry& e) {
    FsKind kind = KindOf(e.dir.mnt);
    uint32_t pdir = 0;
    if (int r = DirForWrite(e.dir, &pdir)) return r;
    RemoveEntry(pdir, e.name);
    if (kind == FsKind::kOverlay)
      Whiteout(mounts[e.dir.mnt].sb, e.dir.rel, pdir, e.name);
    return 0;
  }

  Status Rmdir(const std::string& path) {
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
      for (uint32_t d : OvlDirs(mounts[e.dir.mnt].sb, e.node.rel))
        for (auto& [n, c] : inodes[d].children)
          if (!IsWhiteout(inodes[c])) return Status{ENOTEMPTY};
    } else if (!inodes[e.node.ino].children.empty()) {
      return Status{ENOTEMPTY};
    }
    return Status{RemoveCommon(e)};
  }

  Status Unlink(const std::string& path) {
    Entry e;
    if (int r = FindEntry(path, &e)) return Status{r == EBUSY ? EISDIR : r};
    FsKind kind = KindOf(e.dir.mnt);
    if (kind == FsKind::kProc || kind == FsKind::kCgroup) return Status{EPERM};
    if (IsDir(e.node)) return Status{EISDIR};
    if (int w = CheckWritable(e.dir)) return Status{w};
    if (MountpointInOwnNs(e.node, true)) return Status{EBUSY};
    return Status{RemoveCommon(e)};
  }

  Status Rename(const std::string& from, const std::string& to) {
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

  Status Link(const std::string& existing, const std::string& newpath) {
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

  // Resolves path for an attribute change (follow: chmod follows, lchown not).
  int ForAttr(const std::string& path, bool follow, uint32_t* ino) {
    Node n;
    if (int r = Walk(path, follow, &n)) return r;
    FsKind kind = KindOf(n.mnt);
    if (kind == FsKind::kProc) return EPERM;
    if (int w = CheckWritable(n)) return w;
    if (kind == FsKind::kOverlay) return CopyUp(n, ino);
    *ino = n.ino;
    return 0;
  }
  Status Chmod(const std::string& path, mode_t mode) {
    uint32_t ino = 0;
    if (int r = ForAttr(path, true, &ino)) return Status{r};
    inodes[ino].mode = (inodes[ino].mode & S_IFMT) | (mode & 07777);
    return Status{};
  }
  Status Lchown(const std::string& path, uid_t uid, gid_t gid) {
    uint32_t ino = 0;
    if (int r = ForAttr(path, false, &ino)) return Status{r};
    if (uid != static_cast<uid_t>(-1)) inodes[ino].uid = uid;
    if (gid != static_cast<gid_t>(-1)) inodes[ino].gid = gid;
    return Status{};
  }

  FileStat StatOf(const Node& n) {
    FileStat st;
    const Super& s = SbOf(n.mnt);
    st.dev = s.dev;
    if (s.kind == FsKind::kProc) {
      char t = ProcType(mounts[n.mnt].sb, n.rel);
      st.mode = t == 'd' ? (S_IFDIR | 0555) : t == 'l' ? (S_IFLNK | 0777)
                                                       : (S_IFREG | 0444);
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
    st.size = S_ISREG(i.mode) || S_ISLNK(i.mode) ? i.data.size() : 0;
    if (S_ISDIR(i.mode)) {
      uint64_t dirs = 0;
      for (auto& [_, c] : i.children) dirs += S_ISDIR(inodes[c].mode);
      st.nlink = 2 + dirs;
      st.size = 4096;
    } else {
      st.nlink = i.nlink;
    }
    return st;
  }
  Result<FileStat> Lstat(const std::string& path) {
    Node n;
    if (int r = Walk(path, false, &n)) return {FileStat{}, r};
    return {StatOf(n), 0};
  }
  Result<int64_t> Statfs(const std::string& path) {
    Node n;
    if (int r = Walk(path, true, &n)) return {0, r};
    return {SbOf(n.mnt).magic, 0};
  }
  Result<std::vector<DirEntry>> ReadDir(const std::string& path) {
    Node n;
    if (int r = Walk(path, true, &n)) return {{}, r};
    if (!IsDir(n)) return {{}, ENOTDIR};
    return {ListDir(n), 0};
  }
  std::vector<DirEntry> ListDir(const Node& n) {
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
  Result<std::string> Readlink(const std::string& path) {
    Node n;
    if (int r = Walk(path, false, &n)) return {{}, r};
    if (!IsLink(n)) return {{}, EINVAL};
    return {LinkTarget(n), 0};
  }


  // =========================================================================
  // 4. Mounts
  // =========================================================================

  void SetNs(int m, int ns) {
    mounts[m].ns = ns;
    for (int k : mounts[m].kids)
      if (mounts[k].alive) SetNs(k, ns);
  }
  // Attaches m (and the tree below it) at `at`, no propagation.
  void AttachRaw(int m, const Node& at) {
    mounts[m].parent = at.mnt;
    mounts[m].mp = at;
    mounts[at.mnt].kids.push_back(m);
    SetNs(m, mounts[at.mnt].ns);
  }
  void Unhook(int m) {
    int parent = mounts[m].parent;
    if (parent < 0) return;
    auto& kids = mounts[parent].kids;
    kids.erase(std::remove(kids.begin(), kids.end(), m), kids.end());
    mounts[m].parent = -1;
  }
  // A copy of m and every mount below it; returns the copy of m.
  int CloneTree(int m) {
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
  // Attaches m at `at` and propagates the event to the peers and slaves of
  // the parent's peer group (the new mount becomes shared when the parent is).
  void Attach(int m, const Node& at) {
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
  void CollectTree(int m, std::vector<int>* out) {
    out->push_back(m);
    for (int k : mounts[m].kids)
      if (mounts[k].alive) CollectTree(k, out);
  }
  // Takes m and its subtree out of their namespace (lazy umount): a mount
  // still referenced (cwd, root, open fd) lives on detached.
  void DetachTree(int m) {
    Unhook(m);
    std::vector<int> tree;
    CollectTree(m, &tree);
    for (int k : tree) mounts[k].ns = -1;
    GcDetached();
  }
  bool Referenced(int m) {
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
  // Detached mounts that nothing references any more go away.
  void GcDetached() {
    for (size_t k = 0; k < mounts.size(); ++k) {
      MountRec& m = mounts[k];
      if (!m.alive || m.ns >= 0) continue;
      if (!Referenced(static_cast<int>(k))) m.alive = false;
    }
  }
  // umount of m with propagation to the peers of its parent.
  void UmountPropagated(int m) {
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
  bool Busy(int m) {
    for (auto& [pid, p] : procs) {
      if (p.state == PState::kZombie) continue;
      if (p.cwd.mnt == m || p.root.mnt == m) return true;
    }
    for (const OpenFile& f : ofds)
      if (f.refs > 0 && f.node.mnt == m) return true;
    return false;
  }
  // Is n at or below root within one filesystem?
  bool IsSubdir(Node n, const Node& root) {
    for (int guard = 0; guard < 4096; ++guard) {
      if (Same(n, root)) return true;
      Node up = ParentInFs(n);
      if (Same(up, n)) return false;
      n = up;
    }
    return false;
  }
  // Is x at or below top (walking up through mounts)?
  bool Reachable(Node x, const Node& top) {
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
  // Copies mount namespace ns; fills map old -> new.
  int CopyNs(int ns, std::map<int, int>* map) {
    int nns = static_cast<int>(ns_root.size());
    ns_root.push_back(-1);
    std::vector<int> order;
    CollectTree(ns_root[ns], &order);
    for (int m : order) {
      int c = NewMount(mounts[m].sb, mounts[m].root_ino, mounts[m].root_rel,
                       mounts[m].flags);
      mounts[c].peer = mounts[m].peer;
      mounts[c].master = mounts[m].master;
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
  void MaybeDropNs(int ns) {
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

  int ResolveMountRoot(const std::string& path, Node* out) {
    if (int r = Walk(path, true, out)) return r;
    if (!IsMountRoot(*out)) return EINVAL;
    return 0;
  }

  int MakeSimpleSb(const std::string& fstype, const std::string& source,
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

  // lowers top first. upper/work may be null (a read-only overlay).
  int MakeOverlaySb(const std::vector<Node>& lowers, const Node* upper,
                    const Node* work, const std::string& opts, int* sb_out) {
    if (lowers.empty()) return EINVAL;
    if (!upper != !work) return EINVAL;
    for (const Node& l : lowers)
      if (KindOf(l.mnt) != FsKind::kDisk) return EINVAL;
    if (upper) {
      if (KindOf(upper->mnt) != FsKind::kDisk) return EINVAL;
      if (upper->mnt != work->mnt) return EINVAL;  // must share a mount
      if (Same(*upper, *work) || Reachable(*work, *upper) ||
          Reachable(*upper, *work))
        return EINVAL;
      if (int w = CheckWritable(*upper)) return w;
    }
    int sb = NewSuper(FsKind::kOverlay, "overlay", "overlay", kOverlayMagic);
    Super& s = sbs[sb];
    for (const Node& l : lowers) s.lowers.push_back(l.ino);
    if (upper) {
      s.upper = upper->ino;
      s.work = work->ino;
      if (!inodes[s.work].children.count("work")) AddChild(s.work, "work", S_IFDIR);
    }
    sbs[sb].opts = opts;
    *sb_out = sb;
    return 0;
  }
  int OverlayLayer(const std::string& path, Node* out) {
    if (path.empty()) return EINVAL;
    if (int r = Walk(path, true, out)) return r;
    if (!IsDir(*out)) return ENOTDIR;
    return 0;
  }

  Status Mount(const mydocker::MountArgs& a) {
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
      int nm = NewMount(mounts[src_m].sb, s.ino, s.rel, mounts[src_m].flags);
      mounts[nm].peer = mounts[src_m].peer;  // a bind of a shared mount is a peer
      if (f & MS_REC) {
        std::vector<int> kids = mounts[src_m].kids;
        for (int k : kids) {
          if (!mounts[k].alive || !Reachable(mounts[k].mp, s)) continue;
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

  int MoveExisting(int m, const Node& t) {
    if (mounts[m].parent < 0) return EINVAL;
    if (mounts[m].ns != P().mntns) return EINVAL;
    if (mounts[mounts[m].parent].peer) return EINVAL;
    if (Reachable(t, RootOf(m))) return ELOOP;
    Unhook(m);
    Attach(m, t);
    return 0;
  }

  Status Umount2(const std::string& target, int flags) {
    if (flags & ~(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW))
      return Status{EINVAL};
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

  Status PivotRoot(const std::string& new_root, const std::string& put_old) {
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

  // ---- the new mount API ----
  OpenFile* OfdOf(int fd) {
    Process& p = P();
    if (fd < 0 || fd >= static_cast<int>(p.fds.size()) || p.fds[fd].ofd < 0)
      return nullptr;
    return &ofds[p.fds[fd].ofd];
  }

  Result<int> Fsopen(const std::string& fstype, unsigned int flags) {
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

  Status Fsconfig(const mydocker::FsconfigArgs& a) {
    OpenFile* f = OfdOf(a.fd);
    if (!f) return Status{EBADF};
    if (f->kind != FileKind::kFsCtx) return Status{EINVAL};
    int ci = f->ctx;
    switch (a.cmd) {
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
                                        "gid", "huge", "ro", "rw"};
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
          std::string data;
          for (auto& [k, v] : ctxs[ci].params)
            data += (data.empty() ? "" : ",") + k + (v.empty() ? "" : "=" + v);
          if (int r = MakeSimpleSb(ctxs[ci].fstype, "", data, &sb))
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
  // A live mount of the filesystem holding inode ino (for layer checks).
  int FindDiskMount(uint32_t ino) {
    uint32_t sb = inodes[ino].sb;
    for (size_t k = 0; k < mounts.size(); ++k)
      if (mounts[k].alive && mounts[k].sb == static_cast<int>(sb))
        return static_cast<int>(k);
    return 0;
  }

  Result<int> Fsmount(int fs_fd, unsigned int flags, unsigned int attr) {
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

  Status MoveMount(const mydocker::MoveMountArgs& a) {
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
    if (a.flags & MOVE_MOUNT_T_EMPTY_PATH) return Status{EINVAL};
    if (a.to_dirfd != AT_FDCWD && (a.to_path.empty() || a.to_path[0] != '/'))
      return Status{EINVAL};
    Node t;
    if (int r = Walk(a.to_path, true, &t)) return Status{r};
    if (!mounts[src].alive) return Status{EINVAL};
    if (IsDir(RootOf(src)) != IsDir(t)) return Status{ENOTDIR};
    if (mounts[src].ns < 0 && mounts[src].parent < 0) {
      Attach(src, t);
      return Status{};
    }
    return Status{MoveExisting(src, t)};
  }

  // =========================================================================
  // 5. cgroupfs
  // =========================================================================

  void CgFile(uint32_t dir, const std::string& name, uint32_t perm,
              std::string value) {
    uint32_t f = AddChild(dir, name, S_IFREG | perm);
    inodes[f].cgfile = true;
    inodes[f].data = std::move(value);
  }
  bool CgIsRoot(uint32_t dir) { return sbs[inodes[dir].sb].root == dir; }
  std::string CgValue(uint32_t dir, std::string_view name) {
    auto it = inodes[dir].children.find(name);
    if (it == inodes[dir].children.end()) return {};
    return std::string(Trim(inodes[it->second].data));
  }

  void CgControllerFiles(uint32_t dir, const std::string& c, bool root,
                         int version) {
    const std::string host_cpus = opt.cpus + "\n", host_mems = opt.mems + "\n";
    if (version == 1) {
      if (c == "memory") {
        CgFile(dir, "memory.limit_in_bytes", 0644, "9223372036854771712\n");
        CgFile(dir, "memory.usage_in_bytes", 0444, "0\n");
        CgFile(dir, "memory.max_usage_in_bytes", 0644, "0\n");
        CgFile(dir, "memory.oom_control", 0644, "oom_kill_disable 0\nunder_oom 0\n");
      } else if (c == "cpu") {
        CgFile(dir, "cpu.shares", 0644, "1024\n");
        CgFile(dir, "cpu.cfs_quota_us", 0644, "-1\n");
        CgFile(dir, "cpu.cfs_period_us", 0644, "100000\n");
        CgFile(dir, "cpu.stat", 0444, "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n");
      } else if (c == "cpuacct") {
        CgFile(dir, "cpuacct.usage", 0644, "0\n");
        CgFile(dir, "cpuacct.stat", 0444, "user 0\nsystem 0\n");
      } else if (c == "cpuset") {
        CgFile(dir, "cpuset.cpus", 0644, root ? host_cpus : "\n");
        CgFile(dir, "cpuset.mems", 0644, root ? host_mems : "\n");
        CgFile(dir, "cpuset.cpu_exclusive", 0644, "0\n");
      } else if (c == "pids") {
        if (!root) CgFile(dir, "pids.max", 0644, "max\n");
        CgFile(dir, "pids.current", 0444, "0\n");
      } else if (c == "devices") {
        CgFile(dir, "devices.allow", 0200, "");
        CgFile(dir, "devices.deny", 0200, "");
        CgFile(dir, "devices.list", 0444, "a *:* rwm\n");
      } else if (c == "freezer") {
        if (!root) CgFile(dir, "freezer.state", 0644, "THAWED\n");
      } else if (c == "blkio") {
        CgFile(dir, "blkio.reset_stats", 0200, "");
      }
      return;
    }
    if (c == "memory") {
      CgFile(dir, "memory.max", 0644, "max\n");
      CgFile(dir, "memory.high", 0644, "max\n");
      CgFile(dir, "memory.low", 0644, "0\n");
      CgFile(dir, "memory.min", 0644, "0\n");
      CgFile(dir, "memory.swap.max", 0644, "max\n");
      CgFile(dir, "memory.current", 0444, "0\n");
    } else if (c == "cpu") {
      CgFile(dir, "cpu.weight", 0644, "100\n");
      CgFile(dir, "cpu.max", 0644, "max 100000\n");
      CgFile(dir, "cpu.stat", 0444, "usage_usec 0\n");
    } else if (c == "cpuset") {
      CgFile(dir, "cpuset.cpus", 0644, "\n");
      CgFile(dir, "cpuset.mems", 0644, "\n");
      CgFile(dir, "cpuset.cpus.effective", 0444, host_cpus);
      CgFile(dir, "cpuset.mems.effective", 0444, host_mems);
    } else if (c == "io") {
      CgFile(dir, "io.max", 0644, "");
      CgFile(dir, "io.weight", 0644, "default 100\n");
    } else if (c == "pids") {
      CgFile(dir, "pids.max", 0644, "max\n");
      CgFile(dir, "pids.current", 0444, "0\n");
    }
  }
  // Controllers a v2 cgroup may enable: all at the root, else the parent's
  // subtree_control.
  std::vector<std::string> CgAvailable(uint32_t dir) {
    if (CgIsRoot(dir)) return sbs[inodes[dir].sb].controllers;
    std::vector<std::string> out;
    std::string v = CgValue(inodes[dir].parent, "cgroup.subtree_control");
    for (auto w : SplitWords(v)) out.push_back(std::string(w));
    return out;
  }
  static std::vector<std::string_view> SplitWords(std::string_view s) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t')) ++i;
      size_t j = i;
      while (j < s.size() && s[j] != ' ' && s[j] != '\n' && s[j] != '\t') ++j;
      if (j > i) out.push_back(s.substr(i, j - i));
      i = j;
    }
    return out;
  }
  void CgPopulate(uint32_t dir) {
    const Super& s = sbs[inodes[dir].sb];
    int version = s.cg_version;
    std::vector<std::string> ctrls = s.controllers;
    bool root = CgIsRoot(dir);
    CgFile(dir, "cgroup.procs", 0644, "");
    if (version == 1) {
      CgFile(dir, "tasks", 0644, "");
      CgFile(dir, "cgroup.clone_children", 0644, "0\n");
      CgFile(dir, "notify_on_release", 0644, "0\n");
      if (root) CgFile(dir, "release_agent", 0644, "\n");
      for (auto& c : ctrls) CgControllerFiles(dir, c, root, 1);
      return;
    }
    CgFile(dir, "cgroup.controllers", 0444, "");
    CgFile(dir, "cgroup.subtree_control", 0644, "\n");
    CgFile(dir, "cgroup.events", 0444, "");
    if (root) return;
    CgFile(dir, "cgroup.type", 0644, "domain\n");
    for (auto& c : CgAvailable(dir)) CgControllerFiles(dir, c, false, 2);
  }
  int CgMkdir(const Node& dir, const std::string& name, uint32_t mode) {
    uint32_t d = AddChild(dir.ino, name, S_IFDIR | (mode & 07777));
    CgPopulate(d);
    return 0;
  }
  uint32_t CgOf(const Process& p, int sb) {
    for (auto& [s, d] : p.cgroups)
      if (s == sb) return d;
    return 0;
  }
  std::vector<pid_t> CgMembers(uint32_t dir) {
    std::vector<pid_t> out;
    int sb = static_cast<int>(inodes[dir].sb);
    for (auto& [pid, p] : procs)
      if (p.state != PState::kZombie && CgOf(p, sb) == dir) out.push_back(pid);
    return out;
  }
  int CgRmdir(const Entry& e) {
    uint32_t dir = e.node.ino;
    for (auto& [n, c] : inodes[dir].children)
      if (S_ISDIR(inodes[c].mode)) return EBUSY;
    if (!CgMembers(dir).empty()) return EBUSY;
    RemoveEntry(e.dir.ino, e.name);
    return 0;
  }
  std::string CgRead(uint32_t f) {
    const Inode& fi = inodes[f];
    uint32_t dir = fi.parent;
    const std::string& n = fi.name;
    if (n == "cgroup.procs" || n == "tasks") {
      std::string out;
      for (pid_t pid : CgMembers(dir)) out += std::to_string(pid) + "\n";
      return out;
    }
    if (n == "pids.current") return std::to_string(CgMembers(dir).size()) + "\n";
    if (n == "cgroup.controllers") {
      std::string out;
      for (auto& c : CgAvailable(dir)) out += (out.empty() ? "" : " ") + c;
      return out + "\n";
    }
    if (n == "cgroup.events")
      return std::string("populated ") + (CgMembers(dir).empty() ? "0" : "1") +
             "\nfrozen 0\n";
    return fi.data;
  }
  // The set a cpuset file of dir may use: the parent's (v1) or the host's.
  std::string CgParentSet(uint32_t dir, const std::string& file) {
    bool cpus = file == "cpuset.cpus";
    if (CgIsRoot(dir)) return cpus ? opt.cpus : opt.mems;
    std::string v = CgValue(inodes[dir].parent, file);
    if (v.empty()) {
      if (sbs[inodes[dir].sb].cg_version == 2)
        return CgParentSet(inodes[dir].parent, file);
      return v;
    }
    return v;
  }
  int CgWrite(uint32_t f, std::string_view text) {
    std::string name = inodes[f].name;
    uint32_t dir = inodes[f].parent;
    int sb = static_cast<int>(inodes[f].sb);
    int version = sbs[sb].cg_version;
    std::string_view v = Trim(text);
    int64_t n = 0;
    auto store = [&](std::string value) {
      inodes[f].data = std::move(value) + "\n";
      return 0;
    };
    if (name == "cgroup.procs" || name == "tasks") {
      if (!ParseI64(v, &n) || n < 0) return EINVAL;
      Process* q = nullptr;
      if (n == 0) {
        q = &P();
      } else if (P().pidns == 0) {
        q = Find(static_cast<pid_t>(n));
      } else {
        for (auto& [pid, p] : procs)
          if (p.pidns == P().pidns && p.nspid == n) q = &p;
      }
      if (!q || q->state == PState::kZombie) return ESRCH;
      const auto& ctrls = sbs[sb].controllers;
      if (version == 1 &&
          std::find(ctrls.begin(), ctrls.end(), "cpuset") != ctrls.end() &&
          (CgValue(dir, "cpuset.cpus").empty() || CgValue(dir, "cpuset.mems").empty()))
        return ENOSPC;
      if (version == 2 && !CgIsRoot(dir) &&
          !CgValue(dir, "cgroup.subtree_control").empty())
        return EBUSY;
      for (auto& [s, d] : q->cgroups)
        if (s == sb) d = dir;
      return 0;
    }
    if (name == "cgroup.subtree_control") {
      std::vector<std::string> enabled;
      for (auto w : SplitWords(CgValue(dir, name))) enabled.emplace_back(w);
      auto avail = CgAvailable(dir);
      std::vector<std::string> add, del;
      for (auto w : SplitWords(v)) {
        if (w.size() < 2 || (w[0] != '+' && w[0] != '-')) return EINVAL;
        std::string c(w.substr(1));
        const auto& all = V2Controllers();
        if (std::find(all.begin(), all.end(), c) == all.end()) return EINVAL;
        if (std::find(avail.begin(), avail.end(), c) == avail.end()) return ENOENT;
        (w[0] == '+' ? add : del).push_back(c);
      }
      if (!add.empty() && !CgIsRoot(dir) && !CgMembers(dir).empty()) return EBUSY;
      std::vector<uint32_t> kids;
      for (auto& [kn, kc] : inodes[dir].children)
        if (S_ISDIR(inodes[kc].mode)) kids.push_back(kc);
      for (auto& c : del)
        for (uint32_t k : kids)
          for (auto w : SplitWords(CgValue(k, "cgroup.subtree_control")))
            if (w == c) return EBUSY;
      for (auto& c : add)
        if (std::find(enabled.begin(), enabled.end(), c) == enabled.end()) {
          enabled.push_back(c);
          for (uint32_t k : kids) CgControllerFiles(k, c, false, 2);
        }
      for (auto& c : del) {
        auto it = std::find(enabled.begin(), enabled.end(), c);
        if (it == enabled.end()) continue;
        enabled.erase(it);
        for (uint32_t k : kids) {
          std::vector<std::string> drop;
          for (auto& [fname, fc] : inodes[k].children)
            if (fname.rfind(c + ".", 0) == 0) drop.push_back(fname);
          for (auto& d : drop) RemoveEntry(k, d);
        }
      }
      std::string out;  // canonical order
      for (auto& c : V2Controllers())
        if (std::find(enabled.begin(), enabled.end(), c) != enabled.end())
          out += (out.empty() ? "" : " ") + c;
      return store(out);
    }
    if (name == "cgroup.clone_children" || name == "notify_on_release") {
      if (v != "0" && v != "1") return EINVAL;
      return store(std::string(v));
    }
    if (name == "memory.limit_in_bytes" || name == "memory.memsw.limit_in_bytes") {
      if (v == "-1") return store("9223372036854771712");
      if (!ParseMem(v, &n)) return EINVAL;
      return store(std::to_string((n + 4095) / 4096 * 4096));
    }
    if (name == "memory.max" || name == "memory.high" || name == "memory.swap.max") {
      if (v == "max") return store("max");
      if (!ParseMem(v, &n)) return EINVAL;
      return store(std::to_string(n / 4096 * 4096));
    }
    if (name == "memory.min" || name == "memory.low") {
      if (!ParseMem(v, &n)) return EINVAL;
      return store(std::to_string(n));
    }
    if (name == "cpu.shares") {
      if (!ParseI64(v, &n) || n < 0) return EINVAL;
      return store(std::to_string(std::clamp<int64_t>(n, 2, 262144)));
    }
    if (name == "cpu.cfs_quota_us") {
      if (!ParseI64(v, &n)) return EINVAL;
      if (n != -1 && (n < 1000 || n > (1LL << 44))) return EINVAL;
      return store(std::to_string(n));
    }
    if (name == "cpu.cfs_period_us") {
      if (!ParseI64(v, &n) || n < 1000 || n > 1000000) return EINVAL;
      return store(std::to_string(n));
    }
    if (name == "cpu.weight") {
      if (!ParseI64(v, &n) || n < 1 || n > 10000) return EINVAL;
      return store(std::to_string(n));
    }
    if (name == "cpu.max") {
      auto w = SplitWords(v);
      if (w.empty() || w.size() > 2) return EINVAL;
      std::string quota = "max";
      if (w[0] != "max") {
        if (!ParseI64(w[0], &n) || n < 1000) return EINVAL;
        quota = std::to_string(n);
      }
      int64_t period = 100000;
      if (w.size() == 2) {
        std::string cur_v = CgValue(dir, name);
        if (!ParseI64(w[1], &period) || period < 1000 || period > 1000000)
          return EINVAL;
      } else {
        auto old = SplitWords(inodes[f].data);
        if (old.size() == 2) ParseI64(old[1], &period);
      }
      return store(quota + " " + std::to_string(period));
    }
    if (name == "cpuset.cpus" || name == "cpuset.mems") {
      std::set<int> want, allowed;
      if (!ParseList(v, &want)) return EINVAL;
      if (!ParseList(CgParentSet(dir, name), &allowed)) return EINVAL;
      for (int c : want)
        if (!allowed.count(c)) return EINVAL;
      return store(std::string(v));
    }
    if (name == "pids.max") {
      if (v == "max") return store("max");
      if (!ParseI64(v, &n) || n < 0) return EINVAL;
      return store(std::to_string(n));
    }
    if (name == "freezer.state") {
      if (v != "FROZEN" && v != "THAWED") return EINVAL;
      return store(std::string(v));
    }
    if (name == "devices.allow" || name == "devices.deny") {
      return v.empty() ? EINVAL : 0;
    }
    if (name == "cgroup.type") {
      if (v != "threaded") return EINVAL;
      return store("threaded");
    }
    if (name == "io.max" || name == "io.weight" || name == "memory.oom_control" ||
        name == "cpuset.cpu_exclusive" || name == "release_agent" ||
        name == "memory.max_usage_in_bytes" || name == "blkio.reset_stats" ||
        name == "cpuacct.usage") {
      return store(std::string(v));
    }
    return EINVAL;
  }

  // =========================================================================
  // 6. Processes, fds, pipes
  // =========================================================================

  int NewOfd(OpenFile f) {
    f.refs = 0;
    if (!free_ofds.empty()) {
      int o = free_ofds.back();
      free_ofds.pop_back();
      ofds[o] = std::move(f);
      return o;
    }
    ofds.push_back(std::move(f));
    return static_cast<int>(ofds.size() - 1);
  }
  int InstallOfd(int o, bool cloexec, int min_fd = 0) {
    Process& p = P();
    int fd = min_fd;
    while (fd < static_cast<int>(p.fds.size()) && p.fds[fd].ofd >= 0) ++fd;
    if (fd >= static_cast<int>(p.fds.size())) p.fds.resize(fd + 1);
    p.fds[fd] = FdSlot{o, cloexec};
    ++ofds[o].refs;
    return fd;
  }
  int InstallFd(OpenFile f, bool cloexec) {
    return InstallOfd(NewOfd(std::move(f)), cloexec);
  }
  void ReleaseOfd(int o) {
    if (--ofds[o].refs > 0) return;
    bool gc = ofds[o].kind == FileKind::kMountFd ||
              (ofds[o].node.mnt >= 0 && mounts[ofds[o].node.mnt].ns < 0);
    ofds[o] = OpenFile{};
    free_ofds.push_back(o);
    if (gc) GcDetached();
  }
  void CloseAll(Process& p, bool only_cloexec) {
    for (auto& slot : p.fds) {
      if (slot.ofd < 0 || (only_cloexec && !slot.cloexec)) continue;
      int o = slot.ofd;
      slot = FdSlot{};
      ReleaseOfd(o);
    }
    if (!only_cloexec) p.fds.clear();
  }

  Result<int> Open(const std::string& path, int flags, mode_t mode) {
    int acc = flags & O_ACCMODE;
    bool write = acc != O_RDONLY || (flags & O_TRUNC);
    Node n;
    if (flags & O_CREAT) {
      Node dir;
      std::string name;
      bool trailing = false;
      if (int r = Walk(path, false, &dir, true, &name, &trailing)) return {-1, r};
      if (name.empty() || trailing) return {-1, EISDIR};
      Node child;
      if (Lookup(dir, name, &child) == 0) {
        if (flags & O_EXCL) return {-1, EEXIST};
        if (int r = Walk(path, !(flags & O_NOFOLLOW), &n)) return {-1, r};
      } else {
        uint32_t perm = (mode & 07777) & ~P().umask;
        if (int r = Create(path, S_IFREG | perm, 0, "", nullptr, &n)) return {-1, r};
      }
    } else {
      if (int r = Walk(path, !(flags & O_NOFOLLOW), &n)) return {-1, r};
    }
    if (IsLink(n)) return {-1, ELOOP};
    bool dir = IsDir(n);
    if ((flags & O_DIRECTORY) && !dir) return {-1, ENOTDIR};
    if (dir && write) return {-1, EISDIR};
    OpenFile f;
    f.flags = flags;
    f.node = n;
    FsKind kind = KindOf(n.mnt);
    if (dir) {
      f.kind = FileKind::kDir;
    } else if (kind == FsKind::kProc) {
      if (write) return {-1, EACCES};
      f.kind = FileKind::kProc;
      f.snap = ProcRead(n);
    } else {
      if (write) {
        if (int r = CheckWritable(n)) return {-1, r};
        if (kind == FsKind::kOverlay)
          if (int r = CopyUp(n, &n.ino)) return {-1, r};
      }
      f.node = n;
      const Inode& i = inodes[n.ino];
      f.ino = n.ino;
      if (i.cgfile) {
        if (write && !(i.mode & 0222)) return {-1, EACCES};
        if (acc != O_WRONLY && !(i.mode & 0444)) return {-1, EACCES};
        f.kind = FileKind::kCgroup;
        f.snap = CgRead(n.ino);
      } else if (S_ISCHR(i.mode)) {
        unsigned ma = major(i.rdev), mi = minor(i.rdev);
        if (ma == 1 && (mi == 5 || mi == 8 || mi == 9)) f.kind = FileKind::kZero;
        else if ((ma == 5 && mi <= 1) || ma == 136) f.kind = FileKind::kConsole;
        else f.kind = FileKind::kNull;
      } else if (S_ISREG(i.mode)) {
        f.kind = FileKind::kFile;
        if ((flags & O_TRUNC) && write) inodes[n.ino].data.clear();
      } else {
        f.kind = FileKind::kNull;  // fifos, sockets, block devices
      }
    }
    return {InstallFd(std::move(f), flags & O_CLOEXEC), 0};
  }

  Status Close(int fd) {
    Process& p = P();
    if (fd < 0 || fd >= static_cast<int>(p.fds.size()) || p.fds[fd].ofd < 0)
      return Status{EBADF};
    int o = p.fds[fd].ofd;
    p.fds[fd] = FdSlot{};
    ReleaseOfd(o);
    return Status{};
  }

  // A deferred or parked process holding ofd o (it can make progress on a
  // pipe: run it, or let it finish).
  pid_t DeferredHolder(int o) {
    for (auto& [pid, p] : procs) {
      if (p.state != PState::kDeferred && p.state != PState::kParked) continue;
      for (auto& s : p.fds)
        if (s.ofd == o) return pid;
    }
    return 0;
  }

  Result<size_t> Read(int fd, void* buf, size_t len) {
    for (;;) {
      OpenFile* f = OfdOf(fd);
      if (!f) return {0, EBADF};
      switch (f->kind) {
        case FileKind::kPipeR: {
          PipeObj& pp = pipes[f->pipe];
          if (!pp.buf.empty()) {
            size_t n = std::min(len, pp.buf.size());
            memcpy(buf, pp.buf.data(), n);
            pp.buf.erase(0, n);
            return {n, 0};
          }
          if (ofds[pp.wofd].refs <= 0) return {0, 0};
          if (f->flags & O_NONBLOCK) return {0, EAGAIN};
          pid_t holder = DeferredHolder(pp.wofd);
          if (!holder) {
            spdlog::warn("FakeKernel: pid {} would block forever reading fd {} "
                         "(no runnable writer): EDEADLK",
                         cur, fd);
            return {0, EDEADLK};
          }
          Advance(holder);
          continue;  // state changed: look again
        }
        case FileKind::kFile:
        case FileKind::kProc:
        case FileKind::kCgroup: {
          if ((f->flags & O_ACCMODE) == O_WRONLY) return {0, EBADF};
          const std::string& data =
              f->kind == FileKind::kFile ? inodes[f->ino].data : f->snap;
          if (f->off >= data.size()) return {0, 0};
          size_t n = std::min<size_t>(len, data.size() - f->off);
          memcpy(buf, data.data() + f->off, n);
          f->off += n;
          return {n, 0};
        }
        case FileKind::kZero:
          memset(buf, 0, len);
          return {len, 0};
        case FileKind::kNull:
        case FileKind::kConsole:
          return {0, 0};
        case FileKind::kDir:
          return {0, EISDIR};
        default:
          return {0, EBADF};
      }
    }
  }

  Result<size_t> Write(int fd, const void* buf, size_t len) {
    OpenFile* f = OfdOf(fd);
    if (!f) return {0, EBADF};
    const char* b = static_cast<const char*>(buf);
    switch (f->kind) {
      case FileKind::kPipeW: {
        PipeObj& pp = pipes[f->pipe];
        if (ofds[pp.rofd].refs <= 0) return {0, EPIPE};
        pp.buf.append(b, len);
        return {len, 0};
      }
      case FileKind::kFile: {
        if ((f->flags & O_ACCMODE) == O_RDONLY) return {0, EBADF};
        std::string& data = inodes[f->ino].data;
        if (f->flags & O_APPEND) f->off = data.size();
        if (data.size() < f->off + len) data.resize(f->off + len);
        memcpy(data.data() + f->off, b, len);
        f->off += len;
        return {len, 0};
      }
      case FileKind::kCgroup: {
        if ((f->flags & O_ACCMODE) == O_RDONLY) return {0, EBADF};
        if (int r = CgWrite(f->ino, std::string_view(b, len))) return {0, r};
        return {len, 0};
      }
      case FileKind::kConsole:
        console.append(b, len);
        return {len, 0};
      case FileKind::kNull:
      case FileKind::kZero:
        return {len, 0};
      case FileKind::kProc:
        return {0, EACCES};
      default:
        return {0, EBADF};
    }
  }

  Result<PipeFds> Pipe(int flags) {
    if (flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT)) return {{}, EINVAL};
    int id = static_cast<int>(pipes.size());
    pipes.push_back(PipeObj{});
    OpenFile r, w;
    r.kind = FileKind::kPipeR;
    w.kind = FileKind::kPipeW;
    r.pipe = w.pipe = id;
    r.flags = O_RDONLY | (flags & O_NONBLOCK);
    w.flags = O_WRONLY | (flags & O_NONBLOCK);
    int ro = NewOfd(std::move(r)), wo = NewOfd(std::move(w));
    pipes[id].rofd = ro;
    pipes[id].wofd = wo;
    PipeFds out;
    out.read_fd = InstallOfd(ro, flags & O_CLOEXEC);
    out.write_fd = InstallOfd(wo, flags & O_CLOEXEC);
    return {out, 0};
  }

  Status Dup2(int oldfd, int newfd) {
    Process& p = P();
    if (!OfdOf(oldfd)) return Status{EBADF};
    if (newfd < 0 || newfd >= 1024) return Status{EBADF};
    if (oldfd == newfd) return Status{};
    int o = p.fds[oldfd].ofd;
    if (newfd >= static_cast<int>(p.fds.size())) p.fds.resize(newfd + 1);
    int old = p.fds[newfd].ofd;
    p.fds[newfd] = FdSlot{o, false};
    ++ofds[o].refs;
    if (old >= 0) ReleaseOfd(old);
    return Status{};
  }

  Status Chdir(const std::string& path) {
    Node n;
    if (int r = Walk(path, true, &n)) return Status{r};
    if (!IsDir(n)) return Status{ENOTDIR};
    Node old = P().cwd;
    P().cwd = n;
    if (old.mnt >= 0 && mounts[old.mnt].ns < 0) GcDetached();
    return Status{};
  }

  Status Sethostname(const std::string& name) {
    if (name.size() > 64) return Status{EINVAL};
    if (P().utsns == 0) return Status{EPERM};
    uts[P().utsns] = name;
    return Status{};
  }

  Result<pid_t> Clone(const mydocker::CloneFn& fn, int flags) {
    if (!fn) return {-1, EINVAL};
    pid_t parent_pid = cur;
    Process c;
    {
      const Process& parent = P();
      c.ppid = parent.pid;
      c.pidns = parent.pidns;
      c.mntns = parent.mntns;
      c.utsns = parent.utsns;
      c.root = parent.root;
      c.cwd = parent.cwd;
      c.fds = parent.fds;
      c.ignored = parent.ignored;
      c.umask = parent.umask;
      c.cgroups = parent.cgroups;
      c.comm = parent.comm;
      c.cmdline = parent.cmdline;
    }
    c.pid = next_pid++;
    c.state = PState::kDeferred;
    c.fn = fn;
    c.clone_flags = flags;
    for (auto& s : c.fds)
      if (s.ofd >= 0) ++ofds[s.ofd].refs;
    if (flags & CLONE_NEWNS) {
      std::map<int, int> map;
      c.mntns = CopyNs(c.mntns, &map);
      if (map.count(c.root.mnt)) c.root.mnt = map[c.root.mnt];
      if (map.count(c.cwd.mnt)) c.cwd.mnt = map[c.cwd.mnt];
    }
    if (flags & CLONE_NEWUTS) {
      uts.push_back(uts[c.utsns]);
      c.utsns = static_cast<int>(uts.size() - 1);
    }
    if (flags & CLONE_NEWPID) {
      pidns_next.push_back(1);
      c.pidns = static_cast<int>(pidns_next.size() - 1);
    }
    c.nspid = c.pidns == 0 ? c.pid : pidns_next[c.pidns]++;
    pid_t pid = c.pid;
    procs.emplace(pid, std::move(c));
    (void)parent_pid;
    return {pid, 0};
  }

  // Lets a deferred process run, or a parked one finish (time passes).
  void Advance(pid_t pid) {
    if (procs.at(pid).state == PState::kParked) ExitProcess(pid, 0);
    else RunChild(pid);
  }

  // Runs deferred process pid to its end (or until it parks), as the current
  // process.
  void RunChild(pid_t pid) {
    Process& c = procs.at(pid);
    c.state = PState::kRunning;
    mydocker::CloneFn fn = std::move(c.fn);
    c.fn = nullptr;
    pid_t saved = cur;
    cur = pid;
    int status = 0;
    try {
      int r = fn();
      status = (r & 0xff) << 8;
    } catch (const ProcessExit& e) {
      if (e.pid != pid) {
        cur = saved;
        throw;
      }
      status = e.status;
    } catch (const ProcessPark& e) {
      cur = saved;
      if (e.pid != pid) throw;
      Process& q = procs.at(pid);
      if (q.pending_sig) ExitProcess(pid, q.pending_sig);
      else q.state = PState::kParked;
      return;
    } catch (...) {
      cur = saved;
      ExitProcess(pid, SIGKILL);
      throw;
    }
    cur = saved;
    if (int sig = procs.at(pid).pending_sig) status = sig;
    ExitProcess(pid, status);
  }

  // pid ends with raw wait status.
  void ExitProcess(pid_t pid, int status) {
    Process& p = procs.at(pid);
    if (p.state == PState::kZombie) return;
    CloseAll(p, false);
    p.cgroups.clear();
    p.state = PState::kZombie;
    p.status = status;
    p.fn = nullptr;
    int ns = p.mntns;
    pid_t ppid = p.ppid;
    // Orphans go to the nearest subreaper ancestor, else init.
    pid_t reaper = 1;
    for (pid_t a = ppid; a > 1;) {
      Process* ap = Find(a);
      if (!ap) break;
      if (ap->subreaper && ap->state != PState::kZombie) {
        reaper = a;
        break;
      }
      a = ap->ppid;
    }
    std::vector<pid_t> kids;
    for (auto& [kp, k] : procs)
      if (k.ppid == pid) kids.push_back(kp);
    for (pid_t kp : kids) {
      Process& k = procs.at(kp);
      k.ppid = reaper;
      if (k.state != PState::kZombie && k.pdeathsig) KillProcess(kp, k.pdeathsig);
    }
    for (pid_t kp : kids) {
      auto it = procs.find(kp);
      if (it != procs.end() && it->second.state == PState::kZombie && reaper == 1)
        procs.erase(it);
    }
    MaybeDropNs(ns);
    GcDetached();
    if (ppid == 1 || !Find(ppid)) procs.erase(pid);
  }

  // Delivers a terminating signal to pid.
  void KillProcess(pid_t pid, int sig) {
    Process& q = procs.at(pid);
    if (q.state == PState::kDeferred || q.state == PState::kParked) {
      ExitProcess(pid, sig);
    } else if (q.state == PState::kRunning) {
      if (pid == cur && pid != runtime && pid != 1) throw ProcessExit{pid, sig};
      q.pending_sig = sig;  // ends when its frames return (or never: runtime)
    }
  }

  Status Execve(const char* path, char* const argv[], char* const envp[]) {
    if (!path) return Status{EFAULT};
    Process& p = P();
    if (cur == runtime || cur == 1 || p.state != PState::kRunning) {
      spdlog::error("FakeKernel: execve({}) by pid {} outside a cloned child is "
                    "not modeled",
                    path, cur);
      return Status{ENOSYS};
    }
    Node n;
    if (int r = Walk(path, true, &n)) return Status{r};
    if (IsDir(n) || KindOf(n.mnt) == FsKind::kProc) return Status{EACCES};
    const Inode& i = inodes[n.ino];
    if (!S_ISREG(i.mode) || !(i.mode & 0111)) return Status{EACCES};
    if (mounts[n.mnt].flags & MS_NOEXEC) return Status{EACCES};
    FakeExec e;
    e.pid = cur;
    e.path = PathOf(n, Fresh(p.root));
    for (size_t k = 0; argv && argv[k]; ++k) e.argv.push_back(argv[k]);
    for (size_t k = 0; envp && envp[k]; ++k) e.envp.push_back(envp[k]);
    CloseAll(p, true);
    std::string prog = Basename(e.argv.empty() ? std::string(path) : e.argv[0]);
    p.comm = prog.substr(0, 15);
    p.cmdline = e.argv;
    execs.push_back(e);
    if (exec_hook) exec_hook(*self, e);
    std::vector<std::string> args = e.argv;
    if (args.empty()) args.push_back(prog);
    int code = RunProgram(args, 0);
    if (code == kParkCode) throw ProcessPark{cur};
    throw ProcessExit{cur, (code & 0xff) << 8};
  }

  void Out(int fd, const std::string& s) { (void)Write(fd, s.data(), s.size()); }

  static constexpr int kParkCode = -1;
  // The fake programs. Returns the exit code, or kParkCode for a program that
  // keeps running (sleep).
  int RunProgram(std::vector<std::string> argv, int depth) {
    std::string name = Basename(argv[0]);
    if (name == "busybox" && argv.size() > 1) {
      argv.erase(argv.begin());
      name = Basename(argv[0]);
    }
    if (name == "true") return 0;
    if (name == "sleep") return kParkCode;
    if (name == "false") return 1;
    if (name == "sh" || name == "ash" || name == "bash") {
      if (argv.size() < 3 || argv[1] != "-c") return 0;
      std::string_view cmd = Trim(argv[2]);
      auto words = SplitWords(cmd);
      if (words.empty()) return 0;
      if (words[0] == "exit") {
        int64_t n = 0;
        if (words.size() > 1 && !ParseI64(words[1], &n)) return 2;
        return static_cast<int>(n & 0xff);
      }
      if (depth > 4) return 0;
      std::vector<std::string> sub(words.begin(), words.end());
      return RunProgram(sub, depth + 1);
    }
    if (name == "hostname") {
      if (argv.size() > 1) return Sethostname(argv[1]).ok() ? 0 : 1;
      Out(1, uts[P().utsns] + "\n");
      return 0;
    }
    if (name == "echo") {
      bool nl = true;
      size_t k = 1;
      if (argv.size() > 1 && argv[1] == "-n") {
        nl = false;
        k = 2;
      }
      std::string s;
      for (; k < argv.size(); ++k) s += (s.empty() ? "" : " ") + argv[k];
      Out(1, nl ? s + "\n" : s);
      return 0;
    }
    if (name == "cat") {
      int rc = 0;
      for (size_t k = 1; k < argv.size(); ++k) {
        auto r = ReadWholeFile(argv[k]);
        if (!r.ok()) {
          Out(2, "cat: " + argv[k] + ": " + strerror(r.err) + "\n");
          rc = 1;
          continue;
        }
        Out(1, r.value);
      }
      return rc;
    }
    if (name == "ls") {
      std::string dir = argv.size() > 1 ? argv[1] : ".";
      auto r = ReadDir(dir);
      if (!r.ok()) {
        Out(2, "ls: " + dir + ": " + strerror(r.err) + "\n");
        return 1;
      }
      std::string s;
      for (auto& e : r.value) s += e.name + "\n";
      Out(1, s);
      return 0;
    }
    if (name == "ps") {
      std::string s = "PID   COMMAND\n";
      for (auto& [pid, q] : procs)
        if (q.state != PState::kZombie && q.pidns == P().pidns && pid != 1)
          s += std::to_string(q.nspid) + " " + q.comm + "\n";
      Out(1, s);
      return 0;
    }
    return 0;  // unknown programs succeed
  }

  Result<std::string> ReadWholeFile(const std::string& path) {
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

  Result<int> Waitpid(pid_t pid, int options) {
    pid_t target = 0;
    if (pid == -1) {
      pid_t deferred = 0;
      bool any = false;
      for (auto& [kp, k] : procs) {
        if (k.ppid != cur) continue;
        any = true;
        if (k.state == PState::kZombie) {
          target = kp;
          break;
        }
        if ((k.state == PState::kDeferred || k.state == PState::kParked) && !deferred)
          deferred = kp;
      }
      if (!any) return {0, ECHILD};
      if (!target) target = deferred;
      if (!target) return {0, EDEADLK};
    } else if (pid > 0) {
      Process* q = Find(pid);
      if (!q || q->ppid != cur) return {0, ECHILD};
      target = pid;
    } else {
      return {0, EINVAL};  // process groups are not modeled
    }
    PState st = procs.at(target).state;
    if (st == PState::kDeferred || st == PState::kParked) Advance(target);
    auto it = procs.find(target);
    if (it == procs.end()) return {0, ECHILD};
    if (it->second.state != PState::kZombie) return {0, EDEADLK};
    int status = it->second.status;
    procs.erase(it);
    (void)options;
    return {status, 0};
  }

  Status Kill(pid_t pid, int sig) {
    if (sig < 0 || sig > 64) return Status{EINVAL};
    if (pid <= 0) return Status{EINVAL};  // groups and "everyone" not modeled
    Process* q = Find(pid);
    if (!q) return Status{ESRCH};
    if (sig == 0 || q->state == PState::kZombie) return Status{};
    if (pid == 1) return Status{};  // init ignores signals it has no handler for
    if (sig != SIGKILL && sig != SIGSTOP && (q->ignored >> (sig - 1)) & 1) return Status{};
    if (sig == SIGCHLD || sig == SIGCONT || sig == SIGWINCH || sig == SIGURG ||
        sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
      return Status{};
    KillProcess(pid, sig);
    return Status{};
  }

  Status Signal(int sig, mydocker::SignalDisposition d) {
    if (sig <= 0 || sig > 64 || sig == SIGKILL || sig == SIGSTOP)
      return Status{EINVAL};
    uint64_t bit = 1ULL << (sig - 1);
    if (d == mydocker::SignalDisposition::kIgnore) P().ignored |= bit;
    else P().ignored &= ~bit;
    return Status{};
  }

  Status Prctl(int option, unsigned long arg2) {
    Process& p = P();
    switch (option) {
      case PR_SET_PDEATHSIG:
        if (arg2 > 64) return Status{EINVAL};
        p.pdeathsig = static_cast<int>(arg2);
        return Status{};
      case PR_SET_CHILD_SUBREAPER:
        p.subreaper = arg2 != 0;
        return Status{};
      case PR_SET_NO_NEW_PRIVS:
        return arg2 == 1 ? Status{} : Status{EINVAL};
      case PR_SET_NAME:
        if (arg2) p.comm = std::string(reinterpret_cast<const char*>(arg2)).substr(0, 15);
        return Status{};
      case PR_SET_KEEPCAPS:
      case PR_SET_DUMPABLE:
        return arg2 <= 1 ? Status{} : Status{EINVAL};
      case PR_CAPBSET_DROP:
        return arg2 <= 63 ? Status{} : Status{EINVAL};
    }
    return Status{EINVAL};
  }

  Result<int> Ioctl(int fd, unsigned long /*request*/, void* /*arg*/) {
    if (!OfdOf(fd)) return {-1, EBADF};
    return {-1, ENOTTY};
  }

  Result<pid_t> Setsid() { return {cur, 0}; }

  Result<int> Poll(struct pollfd* fds, size_t n, int timeout_ms) {
    int ready = 0;
    for (size_t i = 0; i < n; ++i) {
      struct pollfd& q = fds[i];
      q.revents = 0;
      if (q.fd < 0) continue;
      OpenFile* f = OfdOf(q.fd);
      if (!f) {
        q.revents = POLLNVAL;
      } else if (f->kind == FileKind::kPipeR) {
        const PipeObj& pp = pipes[f->pipe];
        if (!pp.buf.empty()) q.revents |= q.events & POLLIN;
        if (ofds[pp.wofd].refs <= 0) q.revents |= POLLHUP;
      } else if (f->kind == FileKind::kPipeW) {
        const PipeObj& pp = pipes[f->pipe];
        if (ofds[pp.rofd].refs <= 0) q.revents |= POLLERR;
        else q.revents |= q.events & POLLOUT;
      } else {
        q.revents |= q.events & (POLLIN | POLLOUT);
      }
      if (q.revents) ++ready;
    }
    if (ready == 0 && timeout_ms < 0) {
      spdlog::warn("FakeKernel: pid {} would poll forever (nothing ready): EDEADLK", cur);
      return {-1, EDEADLK};
    }
    return {ready, 0};
  }

  // =========================================================================
  // 7. /proc
  // =========================================================================

  std::string MountOpts(const MountRec& m) {
    std::string o = (m.flags & MS_RDONLY) ? "ro" : "rw";
    if (m.flags & MS_NOSUID) o += ",nosuid";
    if (m.flags & MS_NODEV) o += ",nodev";
    if (m.flags & MS_NOEXEC) o += ",noexec";
    if (m.flags & MS_NOATIME) o += ",noatime";
    else if (!(m.flags & MS_STRICTATIME)) o += ",relatime";
    return o;
  }
  std::string SuperOpts(const Super& s) {
    std::string o = s.ro ? "ro" : "rw";
    if (!s.opts.empty()) o += "," + s.opts;
    return o;
  }
  // Mounts visible from q's root, parents first.
  std::vector<int> VisibleMounts(const Process& q) {
    std::vector<int> out;
    if (q.root.mnt < 0 || !mounts[q.root.mnt].alive) return out;
    CollectTree(q.root.mnt, &out);
    return out;
  }
  std::string MountinfoOf(const Process& q) {
    std::string out;
    Node root = Fresh(q.root);
    for (int m : VisibleMounts(q)) {
      const MountRec& mt = mounts[m];
      const Super& s = sbs[mt.sb];
      int parent = (m == root.mnt || mt.parent < 0) ? (mt.parent >= 0 ? mt.parent : m)
                                                    : mt.parent;
      std::string fsroot = s.kind == FsKind::kOverlay || s.kind == FsKind::kProc
                               ? "/" + mt.root_rel
                               : FsPath(mt.root_ino);
      std::string point = m == root.mnt ? "/" : PathOf(RootOf(m), root);
      out += std::to_string(m + 1) + " " + std::to_string(parent + 1) + " " +
             std::to_string(major(s.dev)) + ":" + std::to_string(minor(s.dev)) +
             " " + EscapeMountPath(fsroot) + " " + EscapeMountPath(point) + " " +
             MountOpts(mt);
      if (mt.peer) out += " shared:" + std::to_string(mt.peer);
      if (mt.master) out += " master:" + std::to_string(mt.master);
      out += " - " + s.fstype + " " + EscapeMountPath(s.source) + " " +
             SuperOpts(s) + "\n";
    }
    return out;
  }
  std::string MountsOf(const Process& q) {
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
  char StateChar(const Process& q) {
    if (q.state == PState::kZombie) return 'Z';
    return q.pid == cur ? 'R' : 'S';
  }
  std::string CgroupFileOf(const Process& q) {
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
  std::string FdLink(const Process& q, int fd) {
    const OpenFile& f = ofds[q.fds[fd].ofd];
    switch (f.kind) {
      case FileKind::kPipeR:
      case FileKind::kPipeW:
        return "pipe:[" + std::to_string(4000 + f.pipe) + "]";
      case FileKind::kFsCtx:
        return "anon_inode:[fscontext]";
      case FileKind::kMountFd:
        return "/";
      default: {
        std::string p = PathOf(Fresh(f.node), Fresh(P().root));
        if (KindOf(f.node.mnt) != FsKind::kProc && f.ino &&
            inodes[f.ino].nlink == 0)
          p += " (deleted)";
        return p;
      }
    }
  }
  std::string ProcLink(const Node& n) {
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
  std::vector<DirEntry> ProcList(const Node& n) {
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
    } else if (c[1] == "ns") {
      for (const char* f : {"mnt", "pid", "uts"}) out.push_back(DirEntry{f, DT_LNK});
    }
    return out;
  }
  std::string ProcRead(const Node& n) {
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
      for (int k = 0; k < 46; ++k) out += " 0";
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

  // =========================================================================
  // 8. Construction, seeding, observation
  // =========================================================================

  Node host_root;

  explicit State(FakeKernelOptions o) : opt(std::move(o)) {
    inodes.emplace_back();  // ino 0: none
    uts.push_back(opt.hostname);
    pidns_next.push_back(0);
    int rootfs = NewSuper(FsKind::kDisk, "rootfs", "rootfs", kRamfsMagic);
    int m0 = NewMount(rootfs, sbs[rootfs].root, "", 0);
    mounts[m0].ns = 0;
    ns_root.push_back(m0);
    int ext4 = NewSuper(FsKind::kDisk, "ext4", "/dev/vda", kExt4Magic,
                        makedev(254, 0));
    sbs[ext4].opts = "discard";
    int m1 = NewMount(ext4, sbs[ext4].root, "", MS_RELATIME);
    AttachRaw(m1, RootOf(m0));
    if (opt.host_root_shared) mounts[m1].peer = next_peer++;
    host_root = RootOf(m1);

    Process init;
    init.pid = 1;
    init.nspid = 1;
    init.root = init.cwd = host_root;
    init.comm = "init";
    init.cmdline = {"/sbin/init"};
    procs.emplace(1, init);
    Process rt = init;
    rt.pid = rt.nspid = opt.runtime_pid;
    rt.ppid = 1;
    rt.comm = "mydocker";
    rt.cmdline = {"mydocker"};
    procs.emplace(rt.pid, rt);
    runtime = cur = rt.pid;
    next_pid = rt.pid + 1;

    auto must = [](Status st, const char* what) {
      if (!st.ok())
        spdlog::error("FakeKernel: building the host tree: {}: errno {}", what, st.err);
    };
    for (const char* d : {"/bin", "/dev", "/etc", "/proc", "/sys", "/tmp", "/var",
                          "/var/lib", "/var/run", "/run", "/root", "/usr",
                          "/usr/bin", "/home", "/mnt", "/opt"})
      must(Mkdir(d, 0755), d);
    must(Chmod("/tmp", 01777), "/tmp");
    must(AddFile("/etc/hostname", opt.hostname + "\n", 0644), "/etc/hostname");
    must(AddFile("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0644), "passwd");
    must(AddFile("/bin/busybox", "\x7f" "ELF fake busybox\n", 0755), "busybox");
    for (const char* a : {"sh", "true", "false", "hostname", "ls", "ps", "cat",
                          "echo", "sleep"})
      must(Symlink("busybox", std::string("/bin/") + a), a);

    auto mount = [&](const char* src, const char* target, const char* type,
                     unsigned long flags, const char* data) {
      mydocker::MountArgs a{src, target, type, flags, data};
      must(Mount(a), target);
    };
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "");
    mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "");
    mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=755");
    struct DevNode { const char* name; unsigned ma, mi; };
    for (DevNode d : {DevNode{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7},
                      {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
                      {"console", 5, 1}, {"ptmx", 5, 2}})
      must(AddDevice(std::string("/dev/") + d.name, S_IFCHR | 0666,
                     makedev(d.ma, d.mi)), d.name);
    must(Mkdir("/dev/pts", 0755), "/dev/pts");
    must(Mkdir("/dev/shm", 01777), "/dev/shm");
    must(Symlink("/proc/self/fd", "/dev/fd"), "/dev/fd");
    mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=620");
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "");
    mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755");
    must(AddDir("/sys/fs/cgroup", 0755), "/sys/fs/cgroup");
    if (opt.cgroups == FakeCgroupMode::kV1Hybrid) {
      mount("tmpfs", "/sys/fs/cgroup", "tmpfs",
            MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755");
      struct H { const char* dir; std::vector<std::string> ctrls; };
      for (const H& h : {H{"cpu", {"cpu"}}, H{"cpuacct", {"cpuacct"}},
                         H{"cpuset", {"cpuset"}}, H{"memory", {"memory"}},
                         H{"devices", {"devices"}}, H{"freezer", {"freezer"}},
                         H{"blkio", {"blkio"}}, H{"pids", {"pids"}},
                         H{"systemd", {"name=systemd"}}}) {
        std::string dir = std::string("/sys/fs/cgroup/") + h.dir;
        must(Mkdir(dir, 0555), h.dir);
        int sb = NewSuper(FsKind::kCgroup, "cgroup", "cgroup", kCgroupMagic);
        sbs[sb].cg_version = 1;
        sbs[sb].controllers = h.ctrls;
        sbs[sb].opts = h.ctrls[0];
        CgPopulate(sbs[sb].root);
        AttachNewSb(sb, dir, MS_NOSUID | MS_NODEV | MS_NOEXEC);
      }
      must(Mkdir("/sys/fs/cgroup/unified", 0555), "unified");
      int sb = NewSuper(FsKind::kCgroup, "cgroup2", "cgroup2", kCgroup2Magic);
      sbs[sb].cg_version = 2;  // no controllers: they are bound to v1
      CgPopulate(sbs[sb].root);
      AttachNewSb(sb, "/sys/fs/cgroup/unified", MS_NOSUID | MS_NODEV | MS_NOEXEC);
    } else {
      int sb = NewSuper(FsKind::kCgroup, "cgroup2", "cgroup2", kCgroup2Magic);
      sbs[sb].cg_version = 2;
      sbs[sb].controllers = V2Controllers();
      sbs[sb].opts = "nsdelegate,memory_recursiveprot";
      CgPopulate(sbs[sb].root);
      AttachNewSb(sb, "/sys/fs/cgroup", MS_NOSUID | MS_NODEV | MS_NOEXEC);
    }
    for (auto& [pid, p] : procs)
      for (size_t k = 0; k < sbs.size(); ++k)
        if (sbs[k].kind == FsKind::kCgroup)
          p.cgroups.push_back({static_cast<int>(k), sbs[k].root});
    OpenConsole();
  }
  void AttachNewSb(int sb, const std::string& at, unsigned long flags) {
    Node t;
    if (int r = Walk(at, true, &t)) {
      spdlog::error("FakeKernel: mount point {}: errno {}", at, r);
      return;
    }
    Attach(NewMount(sb, sbs[sb].root, "", flags), t);
  }
  void OpenConsole() {
    auto fd = Open("/dev/console", O_RDWR, 0);
    if (!fd.ok() || fd.value != 0) {
      spdlog::error("FakeKernel: console fd: errno {}", fd.err);
      return;
    }
    Dup2(0, 1);
    Dup2(0, 2);
  }

  // Seeding helpers.
  Status AddDir(const std::string& path, mode_t mode, uid_t uid = 0, gid_t gid = 0) {
    std::string prefix = path[0] == '/' ? "" : ".";
    for (std::string_view comp : SplitPath(path)) {
      prefix += "/" + std::string(comp);
      Status st = Mkdir(prefix, 0755);
      if (!st.ok() && st.err != EEXIST) return st;
    }
    if (Status st = Chmod(path, mode); !st.ok()) return st;
    return Lchown(path, uid, gid);
  }
  Status EnsureParent(const std::string& path) {
    std::string dir = path.substr(0, path.rfind('/'));
    if (dir.empty()) return Status{};
    Node n;
    if (Walk(dir, true, &n) == 0) return Status{};
    return AddDir(dir, 0755);
  }
  Status AddFile(const std::string& path, const std::string& content, mode_t mode,
                 uid_t uid = 0, gid_t gid = 0) {
    if (Status st = EnsureParent(path); !st.ok()) return st;
    auto fd = Open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (!fd.ok()) return Status{fd.err};
    auto w = Write(fd.value, content.data(), content.size());
    Close(fd.value);
    if (!w.ok()) return Status{w.err};
    if (Status st = Chmod(path, mode); !st.ok()) return st;
    return Lchown(path, uid, gid);
  }
  Status AddSymlink(const std::string& target, const std::string& linkpath) {
    if (Status st = EnsureParent(linkpath); !st.ok()) return st;
    return Symlink(target, linkpath);
  }
  Status AddDevice(const std::string& path, mode_t mode, dev_t dev) {
    if (Status st = EnsureParent(path); !st.ok()) return st;
    if (Status st = Mknod(path, mode, dev); !st.ok()) return st;
    return Chmod(path, mode & 07777);
  }
  Status BuildBusyboxImage(const std::string& dir) {
    if (Status st = AddDir(dir, 0755); !st.ok()) return st;
    auto at = [&](const char* rel) { return dir + "/" + rel; };
    for (const char* d : {"bin", "dev", "etc", "proc", "sys", "root", "var",
                          "usr", "usr/bin", "home", "mnt", "run"})
      if (Status st = AddDir(at(d), d == std::string("root") ? 0700 : 0755); !st.ok())
        return st;
    if (Status st = AddDir(at("tmp"), 01777); !st.ok()) return st;
    if (Status st = AddFile(at("bin/busybox"), "\x7f" "ELF fake busybox\n", 0755);
        !st.ok())
      return st;
    for (const char* a : {"sh", "true", "false", "hostname", "ls", "ps", "cat",
                          "echo", "sleep", "mount", "umount", "env"})
      if (Status st = Symlink("busybox", at("bin/") + a); !st.ok()) return st;
    if (Status st = AddFile(at("etc/passwd"),
                            "root:x:0:0:root:/root:/bin/sh\n", 0644);
        !st.ok())
      return st;
    if (Status st = AddFile(at("etc/group"), "root:x:0:\n", 0644); !st.ok())
      return st;
    return AddFile(at("etc/hostname"), "busybox\n", 0644);
  }

  // Room to grow without reallocating the tables during a run.
  void Headroom() {
    inodes.reserve(inodes.size() + 512);
    mounts.reserve(mounts.size() + 64);
    ofds.reserve(ofds.size() + 32);
  }

  size_t LiveMountCount() const {
    size_t n = 0;
    for (const MountRec& m : mounts) n += m.alive;
    return n;
  }
};

// ===========================================================================
// FakeKernel: forwarding to State
// ===========================================================================

FakeKernel::FakeKernel(FakeKernelOptions options)
    : s_(std::make_unique<State>(std::move(options))) {
  s_->self = this;
}
FakeKernel::~FakeKernel() = default;
FakeKernel::FakeKernel(const FakeKernel& other)
    : s_(std::make_unique<State>(*other.s_)) {
  s_->self = this;
  s_->Headroom();
}
FakeKernel& FakeKernel::operator=(const FakeKernel& other) {
  if (this != &other) {
    s_ = std::make_unique<State>(*other.s_);
    s_->self = this;
    s_->Headroom();
  }
  return *this;
}
FakeKernel::FakeKernel(FakeKernel&& other) noexcept : s_(std::move(other.s_)) {
  if (s_) s_->self = this;
}
FakeKernel& FakeKernel::operator=(FakeKernel&& other) noexcept {
  s_ = std::move(other.s_);
  if (s_) s_->self = this;
  return *this;
}

#define FAULTLINE_FAKE_FORWARD(Method, name, Ret, Params, Args, ...) \
  Ret FakeKernel::Method Params { return s_->Method Args; }
MYDOCKER_SYS_OPS(FAULTLINE_FAKE_FORWARD)
#undef FAULTLINE_FAKE_FORWARD

pid_t FakeKernel::CurrentPid() const { return s_->cur; }

Status FakeKernel::AddDir(const std::string& p, mode_t m, uid_t u, gid_t g) {
  return s_->AddDir(p, m, u, g);
}
Status FakeKernel::AddFile(const std::string& p, const std::string& c, mode_t m,
                           uid_t u, gid_t g) {
  return s_->AddFile(p, c, m, u, g);
}
Status FakeKernel::AddSymlink(const std::string& t, const std::string& l) {
  return s_->AddSymlink(t, l);
}
Status FakeKernel::AddDevice(const std::string& p, mode_t m, dev_t d) {
  return s_->AddDevice(p, m, d);
}
Status FakeKernel::BuildBusyboxImage(const std::string& dir) {
  return s_->BuildBusyboxImage(dir);
}
Result<std::string> FakeKernel::ReadWholeFile(const std::string& p) {
  return s_->ReadWholeFile(p);
}

pid_t FakeKernel::RuntimePid() const { return s_->runtime; }
size_t FakeKernel::MountCount(pid_t pid) const {
  const Process* p = s_->Find(pid);
  return p ? s_->VisibleMounts(*p).size() : 0;
}
size_t FakeKernel::TotalMountCount() const { return s_->LiveMountCount(); }
size_t FakeKernel::MountNamespaceCount() const {
  size_t n = 0;
  for (int r : s_->ns_root) n += r >= 0;
  return n;
}
std::vector<pid_t> FakeKernel::Pids() const {
  std::vector<pid_t> out;
  for (auto& [pid, p] : s_->procs)
    if (pid != 1) out.push_back(pid);
  return out;
}
bool FakeKernel::ProcessExists(pid_t pid) const { return s_->Find(pid) != nullptr; }
bool FakeKernel::ProcessRunnable(pid_t pid) const {
  const Process* p = s_->Find(pid);
  return p && p->state == PState::kDeferred;
}
bool FakeKernel::ProcessParked(pid_t pid) const {
  const Process* p = s_->Find(pid);
  return p && p->state == PState::kParked;
}
size_t FakeKernel::OpenFdCount(pid_t pid) const {
  const Process* p = s_->Find(pid);
  if (!p) return 0;
  size_t n = 0;
  for (auto& slot : p->fds) n += slot.ofd >= 0;
  return n;
}
std::string FakeKernel::Hostname(pid_t pid) const {
  const Process* p = s_->Find(pid);
  return p ? s_->uts[p->utsns] : std::string();
}
std::string FakeKernel::Mountinfo(pid_t pid) const {
  const Process* p = s_->Find(pid);
  return p ? s_->MountinfoOf(*p) : std::string();
}
const std::string& FakeKernel::console() const { return s_->console; }
void FakeKernel::SetExecHook(std::function<void(FakeKernel&, const FakeExec&)> hook) {
  s_->exec_hook = std::move(hook);
}
const std::vector<FakeExec>& FakeKernel::execs() const { return s_->execs; }

pid_t FakeKernel::RuntimeCrashed() {
  State& s = *s_;
  pid_t old = s.runtime;
  s.cur = old;
  if (Process* p = s.Find(old)) {
    p->ppid = 1;  // so that it is reaped once dead
    s.ExitProcess(old, SIGKILL);
  }
  Process rt;
  rt.pid = rt.nspid = s.next_pid++;
  rt.ppid = 1;
  rt.root = rt.cwd = s.host_root;
  rt.comm = "mydocker";
  rt.cmdline = {"mydocker", "gc"};
  for (size_t k = 0; k < s.sbs.size(); ++k)
    if (s.sbs[k].kind == FsKind::kCgroup)
      rt.cgroups.push_back({static_cast<int>(k), s.sbs[k].root});
  s.procs.emplace(rt.pid, rt);
  s.runtime = s.cur = rt.pid;
  s.OpenConsole();
  return rt.pid;
}

}  // namespace faultline
