// FakeKernel: see fake_kernel.h for the contract and state.h for the layers.
// This file: State construction (the host layout), seeding, and the public
// class (copying, forwarding to State, observation).
#include "fakekernel/fake_kernel.h"

#include "fakekernel/state.h"

namespace faultline {

FakeKernel::State::State(FakeKernelOptions o) : opt(std::move(o)) {
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
  sbs[ext4].persistent = true;
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
  init.start = 1;
  procs.emplace(1, init);
  Process rt = init;
  rt.pid = rt.nspid = opt.runtime_pid;
  rt.ppid = 1;
  rt.comm = "mydocker";
  rt.cmdline = {"mydocker"};
  rt.start = next_start;
  next_start += 10;
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
  if (opt.cgroups != FakeCgroupMode::kV2Unified) {
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
    if (opt.cgroups == FakeCgroupMode::kV1Hybrid) {
      must(Mkdir("/sys/fs/cgroup/unified", 0555), "unified");
      int sb = NewSuper(FsKind::kCgroup, "cgroup2", "cgroup2", kCgroup2Magic);
      sbs[sb].cg_version = 2;  // no controllers: they are bound to v1
      CgPopulate(sbs[sb].root);
      AttachNewSb(sb, "/sys/fs/cgroup/unified", MS_NOSUID | MS_NODEV | MS_NOEXEC);
    }
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
  SyncSb(-1);  // the host's disk as booted
}

void FakeKernel::State::AttachNewSb(int sb, const std::string& at,
                                    unsigned long flags) {
  Node t;
  if (int r = Walk(at, true, &t)) {
    spdlog::error("FakeKernel: mount point {}: errno {}", at, r);
    return;
  }
  Attach(NewMount(sb, sbs[sb].root, "", flags), t);
}

void FakeKernel::State::OpenConsole() {
  auto fd = Open("/dev/console", O_RDWR, 0);
  if (!fd.ok() || fd.value != 0) {
    spdlog::error("FakeKernel: console fd: errno {}", fd.err);
    return;
  }
  for (int fd_no : {1, 2})
    if (Status st = Dup2(0, fd_no); !st.ok())
      spdlog::error("FakeKernel: console fd {}: errno {}", fd_no, st.err);
}

Status FakeKernel::State::AddDir(const std::string& path, mode_t mode,
                                 uid_t uid, gid_t gid) {
  std::string prefix = path[0] == '/' ? "" : ".";
  for (std::string_view comp : SplitPath(path)) {
    prefix += "/" + std::string(comp);
    Status st = Mkdir(prefix, 0755);
    if (!st.ok() && st.err != EEXIST) return st;
  }
  if (Status st = Chmod(path, mode); !st.ok()) return st;
  return Lchown(path, uid, gid);
}

Status FakeKernel::State::EnsureParent(const std::string& path) {
  std::string dir = path.substr(0, path.rfind('/'));
  if (dir.empty()) return Status{};
  Node n;
  if (Walk(dir, true, &n) == 0) return Status{};
  return AddDir(dir, 0755);
}

Status FakeKernel::State::AddFile(const std::string& path,
                                  const std::string& content, mode_t mode,
                                  uid_t uid, gid_t gid) {
  if (Status st = EnsureParent(path); !st.ok()) return st;
  auto fd = Open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (!fd.ok()) return Status{fd.err};
  auto w = Write(fd.value, content.data(), content.size());
  Status closed = Close(fd.value);
  if (!w.ok()) return Status{w.err};
  if (!closed.ok()) return closed;
  if (Status st = Chmod(path, mode); !st.ok()) return st;
  return Lchown(path, uid, gid);
}

Status FakeKernel::State::AddSymlink(const std::string& target,
                                     const std::string& linkpath) {
  if (Status st = EnsureParent(linkpath); !st.ok()) return st;
  return Symlink(target, linkpath);
}

Status FakeKernel::State::AddDevice(const std::string& path, mode_t mode,
                                    dev_t dev) {
  if (Status st = EnsureParent(path); !st.ok()) return st;
  if (Status st = Mknod(path, mode, dev); !st.ok()) return st;
  return Chmod(path, mode & 07777);
}

Status FakeKernel::State::BuildBusyboxImage(const std::string& dir) {
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

void FakeKernel::State::Headroom() {
  inodes.reserve(inodes.size() + 512);
  mounts.reserve(mounts.size() + 64);
  ofds.reserve(ofds.size() + 32);
}

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

// A process killed while held in a call ends at its next one (State::
// DieAtCall); during its unwinding its calls fail EINTR and do nothing.
// After every call, the blocked processes whose child ended go on (a
// detached run's monitor once its container was killed).
#define FAULTLINE_FAKE_FORWARD(Method, name, Ret, Params, Args, ...) \
  Ret FakeKernel::Method Params {                                    \
    if (s_->CurrentDead()) [[unlikely]] {                            \
      s_->DieAtCall();                                               \
      Ret dead{};                                                    \
      dead.err = EINTR;                                              \
      return dead;                                                   \
    }                                                                \
    Ret r = s_->Method Args;                                         \
    s_->RunReady();                                                  \
    return r;                                                        \
  }
MYDOCKER_SYS_OPS(FAULTLINE_FAKE_FORWARD)
#undef FAULTLINE_FAKE_FORWARD

pid_t FakeKernel::CurrentPid() const { return s_->cur; }

Status FakeKernel::AddDir(const std::string& p, mode_t m, uid_t u, gid_t g) {
  Status st = s_->AddDir(p, m, u, g);
  s_->SyncSb(-1);
  return st;
}
Status FakeKernel::AddFile(const std::string& p, const std::string& c, mode_t m,
                           uid_t u, gid_t g) {
  Status st = s_->AddFile(p, c, m, u, g);
  s_->SyncSb(-1);
  return st;
}
Status FakeKernel::AddSymlink(const std::string& t, const std::string& l) {
  Status st = s_->AddSymlink(t, l);
  s_->SyncSb(-1);
  return st;
}
Status FakeKernel::AddDevice(const std::string& p, mode_t m, dev_t d) {
  Status st = s_->AddDevice(p, m, d);
  s_->SyncSb(-1);
  return st;
}
Status FakeKernel::BuildBusyboxImage(const std::string& dir) {
  Status st = s_->BuildBusyboxImage(dir);
  s_->SyncSb(-1);
  return st;
}
Result<std::string> FakeKernel::ReadWholeFile(const std::string& p) {
  return s_->ReadWholeFile(p);
}

void FakeKernel::Sync() { s_->SyncSb(-1); }
void FakeKernel::PowerLoss(bool keep_metadata) { s_->PowerLoss(keep_metadata); }

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
bool FakeKernel::TimePasses(pid_t pid) {
  if (s_->cur != s_->runtime) return false;
  for (int round = 0; round < 1000; ++round) {
    const Process* p = s_->Find(pid);
    if (!p || p->state == PState::kZombie) return true;
    if (p->state == PState::kRunning) return false;  // on the stack: a cycle of waits
    s_->Advance(pid);
    s_->RunReady();
  }
  return false;
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

pid_t FakeKernel::State::NewHostProcess(const std::vector<std::string>& cmdline) {
  Process rt;
  rt.pid = rt.nspid = next_pid++;
  rt.ppid = 1;
  rt.root = rt.cwd = host_root;
  rt.comm = cmdline.empty() ? "mydocker" : Basename(cmdline[0]).substr(0, 15);
  rt.cmdline = cmdline;
  rt.start = next_start;
  next_start += 10;
  for (size_t k = 0; k < sbs.size(); ++k)
    if (sbs[k].kind == FsKind::kCgroup) rt.cgroups.push_back({static_cast<int>(k), sbs[k].root});
  procs.emplace(rt.pid, rt);
  const pid_t saved = cur;
  cur = rt.pid;
  OpenConsole();
  cur = saved;
  return rt.pid;
}

pid_t FakeKernel::RuntimeCrashed() {
  State& s = *s_;
  pid_t old = s.runtime;
  s.cur = old;
  if (Process* p = s.Find(old)) {
    p->ppid = 1;  // so that it is reaped once dead
    s.ExitProcess(old, SIGKILL);
  }
  s.runtime = s.cur = s.NewHostProcess({"mydocker", "gc"});
  return s.runtime;
}

pid_t FakeKernel::StartHostProcess(const std::vector<std::string>& cmdline) {
  return s_->NewHostProcess(cmdline);
}

pid_t FakeKernel::SwitchProcess(pid_t pid) {
  const pid_t old = s_->cur;
  if (s_->Find(pid)) s_->cur = pid;
  return old;
}

void FakeKernel::EndHostProcess(pid_t pid, int status) {
  State& s = *s_;
  Process* p = s.Find(pid);
  if (!p || pid == 1 || pid == s.runtime) return;
  const pid_t saved = s.cur;
  s.cur = pid;
  p->ppid = 1;  // reaped once dead: nobody waits for it
  s.ExitProcess(pid, status);
  s.cur = s.Find(saved) ? saved : s.runtime;
}

std::vector<pid_t> FakeKernel::FlockHolders(const std::string& path) {
  State& s = *s_;
  Node n;
  if (s.Walk(path, true, &n)) return {};
  auto it = s.flocks.find(n.ino);
  if (it == s.flocks.end()) return {};
  std::vector<int> ofds = it->second.shared;
  if (it->second.excl >= 0) ofds.push_back(it->second.excl);
  std::vector<pid_t> out;
  for (auto& [pid, p] : s.procs) {
    bool holds = false;
    for (const FdSlot& slot : p.fds)
      holds = holds || std::find(ofds.begin(), ofds.end(), slot.ofd) != ofds.end();
    if (holds && p.state != PState::kZombie) out.push_back(pid);
  }
  return out;
}

}  // namespace faultline
