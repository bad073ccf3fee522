// FakeKernel::State: the model behind FakeKernel (see fake_kernel.h for the
// contract). Internal to fakekernel/: nothing outside this folder includes it.
//
// One State holds every table (inodes, superblocks, mounts, namespaces,
// processes, open files, pipes, fs contexts); its member functions are
// defined by layer, one .cc each:
//   vfs.cc: inodes, superblocks, lookup, resolution, file ops
//   overlay.cc: merged view, copy-up, whiteouts, opaque dirs
//   proc.cc: /proc entries and their content
//   cgroupfs.cc: cgroup v1 and v2 control files and rules
//   mounts.cc: mount table, namespaces, propagation, pivot_root
//   tasks.cc: processes, fds, pipes, clone/exec/wait/kill/signals
//   userland.cc: the fake programs run by Execve
//   fake_kernel.cc: construction (host layout), seeding
//   fake_kernel.cc also holds the public FakeKernel class (forwarding to State).
#pragma once

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <algorithm>
#include <charconv>
#include <cstring>
#include <exception>
#include <forward_list>
#include <memory>
#include <set>
#include <spdlog/spdlog.h>

#include "fakekernel/fake_kernel.h"

namespace faultline {

using mydocker::DirEntry;
using mydocker::FileStat;
using mydocker::PipeFds;
using mydocker::Result;
using mydocker::Status;

namespace fk {

inline constexpr int64_t kExt4Magic = 0xEF53;
inline constexpr int64_t kRamfsMagic = 0x858458f6;
inline constexpr int64_t kTmpfsMagic = 0x01021994;
inline constexpr int64_t kCgroupMagic = 0x27e0eb;
inline constexpr int64_t kCgroup2Magic = 0x63677270;
inline constexpr int64_t kOverlayMagic = 0x794c7630;
inline constexpr int64_t kProcMagic = 0x9fa0;
inline constexpr int64_t kDevptsMagic = 0x1cd1;
inline constexpr int64_t kSysfsMagic = 0x62656572;
inline constexpr int64_t kMqueueMagic = 0x19800202;
// fsconfig(2)'s longest key or string value (strndup_user(.., 256)).
inline constexpr size_t kFsconfigStringMax = 255;

inline constexpr unsigned long kPropagationFlags =
    MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;
inline constexpr unsigned long kPerMountFlags =
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
  // Durability (on a persistent superblock only, see Super::persistent):
  // what a power loss would leave of this inode. dirty_data: the content
  // changed since it was last made durable (fsync of the file, syncfs,
  // seeding), and durable_data is the content then; dirty_dir: the entries
  // changed since the last fsync of the directory, and durable_children
  // are the entries then. A new inode starts dirty with nothing durable.
  // Copied on the first change after a sync (copy-on-write), so a clean
  // inode costs nothing.
  bool dirty_data = false;
  bool dirty_dir = false;
  std::string durable_data;
  std::map<std::string, uint32_t, std::less<>> durable_children;
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
  // A disk that survives a power loss (the ext4 root): its inodes track
  // what is durable (Inode::dirty_*); every other superblock (tmpfs,
  // devtmpfs, sysfs, cgroupfs, proc, overlay) is gone after a reboot.
  bool persistent = false;
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
  bool unbindable = false;  // MS_UNBINDABLE: a bind of it is EINVAL
};

enum class FileKind : uint8_t {
  kFile, kDir, kPipeR, kPipeW, kFsCtx, kMountFd, kProc, kCgroup, kNull,
  kZero, kConsole, kPidfd,
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
  pid_t pid = 0;  // kPidfd: the process it refers to
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
// kBlocked: a clone child waiting in waitpid for a child that is parked or
// blocked itself (a detached run's monitor waiting for its container); its
// frames stay on its own stack (a Fiber, tasks.cc) until that child exits.
enum class PState : uint8_t { kDeferred, kRunning, kParked, kZombie, kBlocked };

struct FdSlot {
  int ofd = -1;
  bool cloexec = false;
};

struct Process {
  pid_t pid = 0;
  pid_t ppid = 0;
  int pidns = 0;
  int pidns_children = -1;  // setns(CLONE_NEWPID): children's pid ns
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
  // /proc/PID/stat field 22 (clock ticks after boot): distinct per process,
  // so a recorded (pid, start) names one process (the runtime's liveness
  // check reads it; 0 there means "unknown").
  uint64_t start = 0;
  bool cloned = false;  // made by Clone (its fn runs on the clone driver)
  pid_t wait_for = 0;  // kBlocked: the child it waits for
  // kParked by a `sleep` inside an sh -c script: the rest of the script
  // (from the operator after the sleep), run when time passes (Advance).
  std::string script_rest;
  // Hardening (confined.cc): capability sets (bit n = cap n; a fresh
  // process has all 41 the kernel knows), no_new_privs, seccomp filters.
  uint64_t cap_eff = (uint64_t{1} << 41) - 1;
  uint64_t cap_prm = (uint64_t{1} << 41) - 1;
  uint64_t cap_inh = 0;
  uint64_t cap_bnd = (uint64_t{1} << 41) - 1;
  bool no_new_privs = false;
  int seccomp_filters = 0;
};

inline void SplitPathInto(std::string_view p, std::vector<std::string_view>* out) {
  size_t i = 0;
  while (i < p.size()) {
    while (i < p.size() && p[i] == '/') ++i;
    size_t j = i;
    while (j < p.size() && p[j] != '/') ++j;
    if (j > i) out->push_back(p.substr(i, j - i));
    i = j;
  }
}

inline std::vector<std::string_view> SplitPath(std::string_view p) {
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

inline std::string Dirname(const std::string& rel) {
  auto k = rel.rfind('/');
  return k == std::string::npos ? std::string() : rel.substr(0, k);
}
inline std::string Basename(std::string_view p) {
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  auto k = p.rfind('/');
  return std::string(k == std::string::npos ? p : p.substr(k + 1));
}
inline std::string JoinRel(const std::string& rel, std::string_view name) {
  return rel.empty() ? std::string(name) : rel + "/" + std::string(name);
}

inline uint8_t DtOf(uint32_t mode) {
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

inline bool IsWhiteout(const Inode& i) {
  return S_ISCHR(i.mode) && i.rdev == 0;
}

inline bool ParseI64(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

inline std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

// memparse: digits with an optional k/m/g/t suffix.
inline bool ParseMem(std::string_view s, int64_t* out) {
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
inline bool ParseList(std::string_view s, std::set<int>* out) {
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

inline std::string EscapeMountPath(std::string_view p) {
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

inline const std::vector<std::string>& V2Controllers() {
  static const std::vector<std::string> k = {"cpuset", "cpu", "io", "memory",
                                             "pids"};
  return k;
}

}  // namespace fk
using namespace fk;  // NOLINT: internal header, the model types of State

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
  // flock(2) locks by inode: the open file descriptions holding it shared,
  // or the one holding it exclusively (released when its last fd closes).
  struct FlockRec {
    int excl = -1;
    std::vector<int> shared;
  };
  std::map<uint32_t, FlockRec> flocks;
  std::vector<PipeObj> pipes;
  std::vector<FsCtx> ctxs;
  std::map<pid_t, Process> procs;
  // Clone children run on stacks of their own (tasks.cc), so one can block
  // (kBlocked) and resume later. A copy of the kernel does not carry them:
  // its blocked processes then behave as parked ones.
  struct Fiber;
  struct FiberTable {
    std::map<pid_t, std::shared_ptr<Fiber>> m;
    FiberTable() = default;
    FiberTable(const FiberTable&) {}
    FiberTable& operator=(const FiberTable&) {
      m.clear();
      return *this;
    }
  };
  FiberTable fibers;
  std::vector<pid_t> ready;  // blocked processes whose child ended
  bool draining = false;
  pid_t cur = 0;
  pid_t runtime = 0;
  pid_t next_pid = 0;
  uint64_t next_start = 1000;  // the next process's start time (proc.cc)
  int next_peer = 1;
  uint32_t next_minor = 20;
  std::string console;
  std::vector<FakeExec> execs;
  std::function<void(FakeKernel&, const FakeExec&)> exec_hook;

  std::vector<std::string_view> walk_scratch_;

  // Resolves the parent and the entry for a removal.
  struct Entry {
    Node dir;
    std::string name;
    Node node;  // not crossed
  };

  // What a filesystem kind does where the generic vfs code (vfs.cc, and
  // Open in tasks.cc) would otherwise branch on the kind: one table per
  // FsKind, defined beside the kind's own code (kDiskOps in vfs.cc for
  // ext4, tmpfs, devtmpfs, sysfs, ...; kOverlayOps in overlay.cc; kProcOps
  // in proc.cc; kCgroupOps in cgroupfs.cc). Generic code calls
  // Ops(mnt).hook(*this, ...). Hooks marked "null: ..." may be null.
  struct FsOps {
    // Dentries are named by their path from the filesystem root (Node::rel)
    // rather than by inode: overlay (merged entries have no inode of their
    // own) and proc.
    bool by_rel;
    // The child name of dir (no mount crossing, no symlink following).
    int (*lookup)(State&, const Node& dir, std::string_view name, Node* out);
    // The parent of n within its filesystem (itself at the fs root).
    Node (*parent)(State&, const Node& n);
    // S_IFMT bits of n (0: none).
    uint32_t (*type)(State&, const Node& n);
    std::string (*link_target)(State&, const Node& n);
    // Everything but st_dev (StatOf sets it from the superblock).
    FileStat (*stat)(State&, const Node& n);
    std::vector<DirEntry> (*list)(State&, const Node& dir);
    // Refreshes the inode a node caches (overlay: copy-up changes the top).
    void (*refresh)(State&, Node* n);
    // Is dir empty, as rmdir and rename over a dir see it?
    bool (*dir_empty)(State&, const Node& dir);
    // The inode in which entries of dir are created or removed (overlay:
    // dir is copied up first).
    int (*dir_for_write)(State&, const Node& dir, uint32_t* out);
    // The inode whose data or attributes a write changes (overlay: n is
    // copied up first).
    int (*writable)(State&, const Node& n, uint32_t* ino);
    // Called after name was removed from (or renamed out of) dir, whose
    // writable inode is pdir (overlay: a whiteout hides lower copies).
    void (*removed)(State&, const Node& dir, uint32_t pdir,
                    const std::string& name);
    // May n (is_dir: a directory) be renamed? (overlay: a dir present in a
    // lower layer may not: EXDEV, no redirect_dir).
    int (*rename_check)(State&, const Node& n, bool is_dir);
    // Errnos of what the filesystem refuses (0: allowed), before the
    // read-only check: creating an entry; rmdir; unlink, rename and link;
    // chmod and lchown.
    int create_err;
    int rmdir_err;
    int unlink_err;
    int attr_err;
    // Magic links (proc's cwd, root, fd/N): the node they lead to, false
    // for a plain symlink. null: none.
    bool (*jump)(State&, const Node& n, Node* out);
    // Creating an entry in dir (after the generic checks). null: a new
    // inode in dir_for_write(dir) (cgroupfs: mkdir makes a cgroup).
    int (*create)(State&, const Node& dir, const std::string& name,
                  uint32_t mode);
    // rmdir of e (after the generic checks). null: the generic removal
    // (cgroupfs: EBUSY while the cgroup has tasks or children).
    int (*rmdir)(State&, const Entry& e);
    // Opens non-dir n that has no inode of its own. null: the inode's file
    // (proc: a snapshot of the generated content).
    int (*open)(State&, const Node& n, bool write, OpenFile* f);
  };
  // The tables, each defined beside its kind's code, and the hooks in them.
  static const FsOps kDiskOps;     // vfs.cc
  static const FsOps kOverlayOps;  // overlay.cc
  static const FsOps kProcOps;     // proc.cc
  static const FsOps kCgroupOps;   // cgroupfs.cc
  struct InodeFs;    // vfs.cc (declared below State)
  struct OverlayFs;  // overlay.cc
  struct ProcFs;     // proc.cc
  struct CgroupFs;   // cgroupfs.cc
  static const FsOps& OpsOf(FsKind kind);
  const FsOps& Ops(int mnt) const { return OpsOf(KindOf(mnt)); }
  const FsOps& Ops(const Node& n) const { return Ops(n.mnt); }

  static constexpr int kParkCode = -1;

  Node host_root;

  // ---- vfs.cc: inodes, superblocks, lookup, resolution, file ops ----
  // ---- small accessors ----
  Process& P() { return procs.at(cur); }
  const Process& P() const { return procs.at(cur); }
  Process* Find(pid_t pid);
  Super& SbOf(int mnt) { return sbs[mounts[mnt].sb]; }
  FsKind KindOf(int mnt) const { return sbs[mounts[mnt].sb].kind; }
  bool Virtual(int mnt) const;
  bool Same(const Node& a, const Node& b) const;
  Node RootOf(int m);
  bool IsMountRoot(const Node& n);
  // Overlay nodes carry their top inode; refresh it (copy-up changes it).
  Node Fresh(Node n);
  uint32_t NewInode(uint32_t sb, uint32_t mode);
  // Creates name in dir (a disk inode); returns the new inode.
  uint32_t AddChild(uint32_t dir, std::string_view name, uint32_t mode);
  int NewSuper(FsKind kind, std::string fstype, std::string source,
               int64_t magic, uint64_t dev = 0);
  int NewMount(int sb, uint32_t root_ino, std::string root_rel,
               unsigned long flags);
  bool IsDir(const Node& n);
  bool IsLink(const Node& n);
  // The child name of dir (no mount crossing, no symlink following).
  int Lookup(const Node& dir, std::string_view name, Node* out);
  // The mount attached at n, if any.
  int MountAt(const Node& n);
  Node CrossMounts(Node n);
  Node ParentInFs(const Node& n);
  Node DotDot(Node n, const Node& root);
  // Resolves path as the current process. follow_last: follow a symlink in
  // the last component. parent_only: stop before the last component and
  // return it in *last (never "" unless the path is "/").
  int Walk(std::string_view path, bool follow_last, Node* out,
           bool parent_only = false, std::string* last = nullptr,
           bool* trailing = nullptr);
  std::string LinkTarget(const Node& n);
  // Path of n as seen from root (d_path).
  std::string PathOf(Node n, const Node& root);
  // Path of inode dir within its filesystem ("/" for the root).
  std::string FsPath(uint32_t ino);
  // The disk dir inode in which entries of dir are created or removed:
  // overlay dirs are copied up first.
  int DirForWrite(const Node& dir, uint32_t* out);
  int CheckWritable(const Node& n);
  // Creates an entry (dir, file, symlink, node) at path.
  int Create(const std::string& path, uint32_t mode, uint64_t rdev,
             const std::string& link_target, uint32_t* out_ino = nullptr,
             Node* out_node = nullptr);
  Status Mkdir(const std::string& path, mode_t mode);
  Status Symlink(const std::string& target, const std::string& linkpath);
  Status Mknod(const std::string& path, mode_t mode, dev_t dev);
  int FindEntry(const std::string& path, Entry* e);
  int RemoveCommon(const Entry& e);
  Status Rmdir(const std::string& path);
  Status Unlink(const std::string& path);
  Status Rename(const std::string& from, const std::string& to);
  Status Link(const std::string& existing, const std::string& newpath);
  // Resolves path for an attribute change (follow: chmod follows, lchown not).
  int ForAttr(const std::string& path, bool follow, uint32_t* ino);
  Status Chmod(const std::string& path, mode_t mode);
  Status Lchown(const std::string& path, uid_t uid, gid_t gid);
  // Only trusted.overlay.opaque is modelled ("y" makes a directory opaque,
  // anything else clears it); other names are EOPNOTSUPP. flags:
  // XATTR_CREATE / XATTR_REPLACE as lsetxattr(2).
  Status Lsetxattr(const std::string& path, const std::string& name,
                   const std::string& value, int flags);
  FileStat StatOf(const Node& n);
  Result<FileStat> Lstat(const std::string& path);
  Result<int64_t> Statfs(const std::string& path);
  Result<std::vector<DirEntry>> ReadDir(const std::string& path);
  std::vector<DirEntry> ListDir(const Node& n);
  Result<std::string> Readlink(const std::string& path);
  Result<std::string> ReadWholeFile(const std::string& path);

  // ---- overlay.cc: merged view, copy-up, whiteouts, opaque dirs ----
  // The layer dirs that make up overlay dir rel, top first. Empty when rel
  // is not a directory in the merged view.
  std::vector<uint32_t> OvlDirs(int sb, std::string_view rel,
                                bool lowers_only = false);
  // The top inode of merged entry rel (0 when absent).
  uint32_t OvlTop(int sb, std::string_view rel);
  int CopyUpDir(int sb, const std::string& rel, uint32_t* out);
  // Copies overlay entry n up (file content included); returns its upper inode.
  int CopyUp(const Node& n, uint32_t* out);
  // Creating name in an overlay upper dir replaces a whiteout; returns true
  // when one was there (a dir created over it must be opaque).
  bool PrepareCreate(uint32_t dir, std::string_view name);
  void RemoveEntry(uint32_t dir, std::string_view name);
  // After removing name from an overlay dir: hide lower copies.
  void Whiteout(int sb, const std::string& parent_rel, uint32_t upper_dir,
                const std::string& name);
  // lowers top first. upper/work may be null (a read-only overlay).
  int MakeOverlaySb(const std::vector<Node>& lowers, const Node* upper,
                    const Node* work, const std::string& opts, int* sb_out);
  int OverlayLayer(const std::string& path, Node* out);

  // ---- proc.cc: /proc entries and their content ----
  // Proc entries: 'd' dir, 'f' file, 'l' symlink, 0 absent.
  pid_t ProcPid(int sb, std::string_view s);
  pid_t ShownPid(int sb, const Process& p);
  char ProcType(int sb, std::string_view rel);
  // Magic links of /proc/<pid>/{cwd,root,fd/N}: the node they jump to.
  bool ProcJump(const Node& n, Node* out);
  std::string MountOpts(const MountRec& m);
  std::string SuperOpts(const Super& s);
  // Mounts visible from q's root, parents first.
  std::vector<int> VisibleMounts(const Process& q);
  std::string MountinfoOf(const Process& q);
  std::string MountsOf(const Process& q);
  char StateChar(const Process& q);
  std::string CgroupFileOf(const Process& q);
  std::string FdLink(const Process& q, int fd);
  std::string ProcLink(const Node& n);
  std::vector<DirEntry> ProcList(const Node& n);
  std::string ProcRead(const Node& n);

  // ---- cgroupfs.cc: cgroup v1 and v2 control files and rules ----
  void CgFile(uint32_t dir, const std::string& name, uint32_t perm,
              std::string value);
  bool CgIsRoot(uint32_t dir) { return sbs[inodes[dir].sb].root == dir; }
  std::string CgValue(uint32_t dir, std::string_view name);
  void CgControllerFiles(uint32_t dir, const std::string& c, bool root,
                         int version);
  // Controllers a v2 cgroup may enable: all at the root, else the parent's
  // subtree_control.
  std::vector<std::string> CgAvailable(uint32_t dir);
  static std::vector<std::string_view> SplitWords(std::string_view s);
  void CgPopulate(uint32_t dir);
  int CgMkdir(const Node& dir, const std::string& name, uint32_t mode);
  uint32_t CgOf(const Process& p, int sb);
  std::vector<pid_t> CgMembers(uint32_t dir);
  // The members of dir and of every cgroup below it.
  std::vector<pid_t> CgSubtreeMembers(uint32_t dir);
  int CgRmdir(const Entry& e);
  std::string CgRead(uint32_t f);
  // The set a cpuset file of dir may use: the parent's (v1) or the host's.
  std::string CgParentSet(uint32_t dir, const std::string& file);
  int CgWrite(uint32_t f, std::string_view text);

  // ---- mounts.cc: mount table, namespaces, propagation, pivot_root ----
  // Is n a mount point in the current namespace? Mounts on it in other
  // namespaces are detached (the kernel's lazy unmount on unlink).
  bool MountpointInOwnNs(const Node& n, bool detach_others);
  void SetNs(int m, int ns);
  // Attaches m (and the tree below it) at `at`, no propagation.
  void AttachRaw(int m, const Node& at);
  void Unhook(int m);
  // A copy of m and every mount below it; returns the copy of m.
  int CloneTree(int m);
  // Attaches m at `at` and propagates the event to the peers and slaves of
  // the parent's peer group (the new mount becomes shared when the parent is).
  void Attach(int m, const Node& at);
  void CollectTree(int m, std::vector<int>* out);
  // Takes m and its subtree out of their namespace (lazy umount): a mount
  // still referenced (cwd, root, open fd) lives on detached.
  void DetachTree(int m);
  bool Referenced(int m);
  // Detached mounts that nothing references any more go away.
  void GcDetached();
  // umount of m with propagation to the peers of its parent.
  void UmountPropagated(int m);
  bool Busy(int m);
  // Is n at or below root within one filesystem?
  bool IsSubdir(Node n, const Node& root);
  // Is x at or below top (walking up through mounts)?
  bool Reachable(Node x, const Node& top);
  // Copies mount namespace ns; fills map old -> new.
  int CopyNs(int ns, std::map<int, int>* map);
  void MaybeDropNs(int ns);
  int ResolveMountRoot(const std::string& path, Node* out);
  int MakeSimpleSb(const std::string& fstype, const std::string& source,
                   const std::string& data, int* sb_out);
  Status Mount(const mydocker::MountArgs& a);
  int MoveExisting(int m, const Node& t);
  Status Umount2(const std::string& target, int flags);
  Status PivotRoot(const std::string& new_root, const std::string& put_old);
  // ---- the new mount API ----
  OpenFile* OfdOf(int fd);
  Result<int> Fsopen(const std::string& fstype, unsigned int flags);
  Status Fsconfig(const mydocker::FsconfigArgs& a);
  // A live mount of the filesystem holding inode ino (for layer checks).
  int FindDiskMount(uint32_t ino);
  Result<int> Fsmount(int fs_fd, unsigned int flags, unsigned int attr);
  Status MoveMount(const mydocker::MoveMountArgs& a);
  size_t LiveMountCount() const;

  // ---- tasks.cc: processes, fds, pipes, clone/exec/wait/kill/signals ----
  int NewOfd(OpenFile f);
  int InstallOfd(int o, bool cloexec, int min_fd = 0);
  int InstallFd(OpenFile f, bool cloexec);
  void ReleaseOfd(int o);
  void CloseAll(Process& p, bool only_cloexec);
  Result<int> Open(const std::string& path, int flags, mode_t mode);
  Status Close(int fd);
  // A deferred or parked process holding ofd o (it can make progress on a
  // pipe: run it, or let it finish).
  pid_t DeferredHolder(int o);
  Result<size_t> Read(int fd, void* buf, size_t len);
  Result<size_t> Write(int fd, const void* buf, size_t len);
  Result<PipeFds> Pipe(int flags);
  // ---- durability and locks (tasks.cc) ----
  Status Fsync(int fd);
  Status Syncfs(int fd);
  // Before a change of a file's content / a directory's entries: keeps what
  // is durable of the inode (no-op off a persistent superblock or when it is
  // already dirty).
  void DirtyData(uint32_t ino);
  void DirtyDir(uint32_t ino);
  // The inode's content and entries as they are now are durable.
  void SyncInode(uint32_t ino);
  // Every inode of superblock sb (-1: of every persistent superblock).
  void SyncSb(int sb);
  // Power loss and reboot (FakeKernel::PowerLoss).
  void PowerLoss(bool keep_metadata);
  uint32_t LockKey(const OpenFile& f) const;
  void DropFlocks(int o);
  Status Flock(int fd, int operation);
  Status Ftruncate(int fd, int64_t length);
  Result<size_t> Pwrite(int fd, const void* buf, size_t len, int64_t offset);
  Status Dup2(int oldfd, int newfd);
  Status Chdir(const std::string& path);
  Status Sethostname(const std::string& name);
  Result<pid_t> Clone(const mydocker::CloneFn& fn, int flags);
  // Lets a deferred process run, or a parked one finish (time passes).
  void Advance(pid_t pid);
  // Runs deferred process pid to its end (or until it parks), as the current
  // process.
  void RunChild(pid_t pid);
  // Switches to pid's fiber until it ends or blocks; ends the process when
  // its fiber ended.
  void Resume(pid_t pid);
  // Blocks the current process (on its fiber) until child ends or it is
  // killed (then throws its ProcessExit).
  void BlockCurrent(pid_t child);
  // Resumes the blocked processes whose awaited child ended (after every
  // Sys call, outside any other resumption).
  void RunReady();
  // pid ends with raw wait status.
  void ExitProcess(pid_t pid, int status);
  // Delivers a terminating signal to pid.
  void KillProcess(pid_t pid, int sig);
  Status Execve(const char* path, char* const argv[], char* const envp[]);
  Result<int> Waitpid(pid_t pid, int options);
  Status Kill(pid_t pid, int sig);
  Status Signal(int sig, mydocker::SignalDisposition d);
  Status Prctl(int option, unsigned long arg2);
  Result<int> Ioctl(int fd, unsigned long /*request*/, void* /*arg*/);
  Result<pid_t> Setsid() { return {cur, 0}; }
  Result<int> PidfdOpen(pid_t pid, unsigned int flags);
  Status PidfdSendSignal(int pidfd, int sig);
  Status Setns(int fd, int nstype);
  Result<int> Poll(struct pollfd* fds, size_t n, int timeout_ms);

  // ---- confined.cc: fd-relative and root-confined calls, open_tree,
  // mount_setattr, close_range, capset, seccomp ----
  bool no_magiclinks_ = false;  // set by openat2 RESOLVE_NO_MAGICLINKS for one call
  // The node an fd names (AT_FDCWD: the cwd; a mount fd: its root).
  int FdNode(int fd, Node* out);
  // For a relative path, sets the cwd to dirfd's node (the caller restores).
  int EnterAt(int dirfd, const std::string& path);
  Result<int> Openat2(int dirfd, const std::string& path, const mydocker::OpenHow& how);
  Result<int> Openat(int dirfd, const std::string& path, int flags, mode_t mode);
  Status Mkdirat(int dirfd, const std::string& path, mode_t mode);
  Status Mknodat(int dirfd, const std::string& path, mode_t mode, dev_t dev);
  Status Symlinkat(const std::string& target, int dirfd, const std::string& linkpath);
  Status Fchmodat(int dirfd, const std::string& path, mode_t mode);
  Status Unlinkat(int dirfd, const std::string& path, int flags);
  Result<FileStat> Fstatat(int dirfd, const std::string& path, int flags);
  Result<std::vector<DirEntry>> ReadDirFd(int fd);
  Status Fchdir(int fd);
  Result<int> OpenTree(int dirfd, const std::string& path, unsigned int flags);
  Status MountSetattr(int dirfd, const std::string& path, unsigned int flags,
                      const mydocker::MountAttr& attr);
  Status CloseRange(unsigned int first, unsigned int last, unsigned int flags);
  Status Capset(const mydocker::CapSets& caps);
  Status SeccompFilter(const mydocker::SeccompProgram& prog, unsigned int flags);
  Result<mydocker::SeccompBpf> SeccompExport(const mydocker::SeccompRules& rules);

  // ---- userland.cc: the fake programs run by Execve ----
  // fd 1 and 2 of the running fake program, after its redirections
  // (`>&2`, `2>&1`); text for fd 1 goes to *capture inside a pipeline.
  void Out(int fd, const std::string& s);
  // The fake programs. Returns the exit code, or kParkCode for a program that
  // keeps running (sleep).
  int RunProgram(std::vector<std::string> argv, int depth);
  // sh -c SCRIPT: `;`, `&&`, `||`, `|` pipelines, `>&2` / `1>&2` / `2>&1`,
  // quotes, `exit N`. A `sleep` parks the process (kParkCode) with the rest
  // of the script in Process::script_rest; `last` is the status the script
  // starts with (for a leading && or ||).
  int RunScript(std::string_view script, int depth, int last);
  // A parked process ends as time passes: the rest of its script runs (its
  // sleeps return at once), then it exits with the script's status.
  void FinishParked(pid_t pid);
  int Grep(const std::vector<std::string>& argv);
  int out_fd1 = 1, out_fd2 = 2;         // redirections of the running program
  std::string* capture = nullptr;       // fd 1 inside a pipeline stage
  const std::string* stdin_text = nullptr;  // a pipeline stage's input
  bool time_passes = false;             // FinishParked: sleep returns 0

  // ---- fake_kernel.cc: construction (host layout), seeding ----
  explicit State(FakeKernelOptions o);
  void AttachNewSb(int sb, const std::string& at, unsigned long flags);
  void OpenConsole();
  // A fresh process of the host: child of init, host namespaces and root,
  // the root cgroup of every hierarchy, the console as fds 0-2.
  pid_t NewHostProcess(const std::vector<std::string>& cmdline);
  // The current process was killed while its frames were on the stack (a
  // process held in one of its calls, killed by another): it ends at its
  // next call (DieAtCall throws ProcessExit, unless an exception is
  // already unwinding it: then the call fails EINTR and does nothing).
  bool CurrentDead() const {
    auto it = procs.find(cur);
    return it != procs.end() && it->second.state == PState::kZombie && it->second.cloned;
  }
  void DieAtCall();
  // Seeding helpers.
  Status AddDir(const std::string& path, mode_t mode, uid_t uid = 0, gid_t gid = 0);
  Status EnsureParent(const std::string& path);
  Status AddFile(const std::string& path, const std::string& content, mode_t mode,
                 uid_t uid = 0, gid_t gid = 0);
  Status AddSymlink(const std::string& target, const std::string& linkpath);
  Status AddDevice(const std::string& path, mode_t mode, dev_t dev);
  Status BuildBusyboxImage(const std::string& dir);
  // Room to grow without reallocating the tables during a run.
  void Headroom();
};

// The inode-based hooks (vfs.cc): every hook of disk filesystems; overlay
// and cgroupfs use those that fit them.
struct FakeKernel::State::InodeFs {
  static int Lookup(State& s, const Node& dir, std::string_view name,
                    Node* out);
  static Node Parent(State& s, const Node& n);
  static uint32_t Type(State& s, const Node& n);
  static std::string LinkTarget(State& s, const Node& n);
  static FileStat Stat(State& s, const Node& n);
  static std::vector<DirEntry> List(State& s, const Node& dir);
  static void NoRefresh(State& s, Node* n);
  static bool DirEmpty(State& s, const Node& dir);
  static int DirForWrite(State& s, const Node& dir, uint32_t* out);
  static int Writable(State& s, const Node& n, uint32_t* ino);
  static void NoRemoved(State& s, const Node& dir, uint32_t pdir,
                        const std::string& name);
  static int NoRenameCheck(State& s, const Node& n, bool is_dir);
};

}  // namespace faultline
