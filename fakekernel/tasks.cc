// FakeKernel tasks: processes (clone deferred until the parent blocks,
// exec, exit, wait, kill, signals, prctl), fd tables, open files and pipes.
#include "fakekernel/state.h"

namespace faultline {

int FakeKernel::State::NewOfd(OpenFile f) {
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

int FakeKernel::State::InstallOfd(int o, bool cloexec, int min_fd) {
  Process& p = P();
  int fd = min_fd;
  while (fd < static_cast<int>(p.fds.size()) && p.fds[fd].ofd >= 0) ++fd;
  if (fd >= static_cast<int>(p.fds.size())) p.fds.resize(fd + 1);
  p.fds[fd] = FdSlot{o, cloexec};
  ++ofds[o].refs;
  return fd;
}

int FakeKernel::State::InstallFd(OpenFile f, bool cloexec) {
  return InstallOfd(NewOfd(std::move(f)), cloexec);
}

void FakeKernel::State::ReleaseOfd(int o) {
  if (--ofds[o].refs > 0) return;
  DropFlocks(o);
  bool gc = ofds[o].kind == FileKind::kMountFd ||
            (ofds[o].node.mnt >= 0 && mounts[ofds[o].node.mnt].ns < 0);
  ofds[o] = OpenFile{};
  free_ofds.push_back(o);
  if (gc) GcDetached();
}

void FakeKernel::State::CloseAll(Process& p, bool only_cloexec) {
  for (auto& slot : p.fds) {
    if (slot.ofd < 0 || (only_cloexec && !slot.cloexec)) continue;
    int o = slot.ofd;
    slot = FdSlot{};
    ReleaseOfd(o);
  }
  if (!only_cloexec) p.fds.clear();
}

Result<int> FakeKernel::State::Open(const std::string& path, int flags,
                                    mode_t mode) {
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
  const FsOps& ops = Ops(n);
  if (dir) {
    f.kind = FileKind::kDir;
  } else if (ops.open) {
    if (int r = ops.open(*this, n, write, &f)) return {-1, r};
  } else {
    if (write) {
      if (int r = CheckWritable(n)) return {-1, r};
      if (int r = ops.writable(*this, n, &n.ino)) return {-1, r};
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
      if ((flags & O_TRUNC) && write && !inodes[n.ino].data.empty()) {
        DirtyData(n.ino);
        inodes[n.ino].data.clear();
      }
    } else {
      f.kind = FileKind::kNull;  // fifos, sockets, block devices
    }
  }
  return {InstallFd(std::move(f), flags & O_CLOEXEC), 0};
}

Status FakeKernel::State::Close(int fd) {
  Process& p = P();
  if (fd < 0 || fd >= static_cast<int>(p.fds.size()) || p.fds[fd].ofd < 0)
    return Status{EBADF};
  int o = p.fds[fd].ofd;
  p.fds[fd] = FdSlot{};
  ReleaseOfd(o);
  return Status{};
}

pid_t FakeKernel::State::DeferredHolder(int o) {
  for (auto& [pid, p] : procs) {
    if (p.state != PState::kDeferred && p.state != PState::kParked &&
        p.state != PState::kBlocked)
      continue;
    for (auto& s : p.fds)
      if (s.ofd == o) return pid;
  }
  return 0;
}

Result<size_t> FakeKernel::State::Read(int fd, void* buf, size_t len) {
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

Result<size_t> FakeKernel::State::Write(int fd, const void* buf, size_t len) {
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
      DirtyData(f->ino);
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

Result<PipeFds> FakeKernel::State::Pipe(int flags) {
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

Status FakeKernel::State::Dup2(int oldfd, int newfd) {
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

Status FakeKernel::State::Chdir(const std::string& path) {
  Node n;
  if (int r = Walk(path, true, &n)) return Status{r};
  if (!IsDir(n)) return Status{ENOTDIR};
  Node old = P().cwd;
  P().cwd = n;
  if (old.mnt >= 0 && mounts[old.mnt].ns < 0) GcDetached();
  return Status{};
}

Status FakeKernel::State::Sethostname(const std::string& name) {
  if (name.size() > 64) return Status{EINVAL};
  if (P().utsns == 0) return Status{EPERM};
  uts[P().utsns] = name;
  return Status{};
}

Result<pid_t> FakeKernel::State::Clone(const mydocker::CloneFn& fn, int flags) {
  if (!fn) return {-1, EINVAL};
  pid_t parent_pid = cur;
  Process c;
  {
    const Process& parent = P();
    c.ppid = parent.pid;
    c.pidns = parent.pidns;
    c.pidns_children = parent.pidns_children;
    c.mntns = parent.mntns;
    c.utsns = parent.utsns;
    c.root = parent.root;
    c.cwd = parent.cwd;
    c.fds = parent.fds;
    c.ignored = parent.ignored;
    c.cap_eff = parent.cap_eff;
    c.cap_prm = parent.cap_prm;
    c.cap_inh = parent.cap_inh;
    c.cap_bnd = parent.cap_bnd;
    c.no_new_privs = parent.no_new_privs;
    c.seccomp_filters = parent.seccomp_filters;
    c.umask = parent.umask;
    c.cgroups = parent.cgroups;
    c.comm = parent.comm;
    c.cmdline = parent.cmdline;
  }
  c.pid = next_pid++;
  c.start = next_start;
  next_start += 10;
  c.state = PState::kDeferred;
  c.cloned = true;
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
  if (c.pidns_children >= 0) {
    c.pidns = c.pidns_children;  // the parent setns'd into it
    c.pidns_children = -1;
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

void FakeKernel::State::Advance(pid_t pid) {
  Process& p = procs.at(pid);
  if (p.state == PState::kBlocked) {
    // Time passes for what it waits for, then it goes on.
    if (!fibers.m.count(pid)) {
      ExitProcess(pid, 0);  // a copied kernel: no frames to resume
      return;
    }
    const pid_t child = p.wait_for;
    if (Process* c = Find(child); c && c->state != PState::kZombie && c->state != PState::kRunning)
      Advance(child);
    Process* again = Find(pid);
    if (again && again->state == PState::kBlocked) Resume(pid);
    return;
  }
  if (p.state == PState::kParked) FinishParked(pid);
  else RunChild(pid);
}

// A clone child's own stack. Its fn runs there, so a blocking call can
// switch back to whoever resumed it and continue later where it was.
struct FakeKernel::State::Fiber {
  static constexpr size_t kStack = size_t{1} << 20;
  ucontext_t ctx{};
  ucontext_t back{};
  std::unique_ptr<char[]> stack;
  mydocker::CloneFn fn;
  pid_t pid = 0;
  bool done = false;
  enum class How : uint8_t { kReturned, kExited, kParked, kThrew } how = How::kReturned;
  int status = 0;
  std::exception_ptr exc;

  static void Main(unsigned lo, unsigned hi) {
    auto* f = reinterpret_cast<Fiber*>((static_cast<uintptr_t>(hi) << 32) | lo);
    try {
      int r = f->fn();
      f->status = (r & 0xff) << 8;
    } catch (const ProcessExit& e) {
      if (e.pid == f->pid) {
        f->how = How::kExited;
        f->status = e.status;
      } else {
        f->how = How::kThrew;
        f->exc = std::current_exception();
      }
    } catch (const ProcessPark& e) {
      if (e.pid == f->pid) {
        f->how = How::kParked;
      } else {
        f->how = How::kThrew;
        f->exc = std::current_exception();
      }
    } catch (...) {
      f->how = How::kThrew;
      f->exc = std::current_exception();
    }
    f->done = true;
    setcontext(&f->back);  // never returns: the fiber is over
  }
};

void FakeKernel::State::RunChild(pid_t pid) {
  Process& c = procs.at(pid);
  c.state = PState::kRunning;
  auto f = std::make_shared<Fiber>();
  f->fn = std::move(c.fn);
  c.fn = nullptr;
  f->pid = pid;
  f->stack.reset(new char[Fiber::kStack]);
  getcontext(&f->ctx);
  f->ctx.uc_stack.ss_sp = f->stack.get();
  f->ctx.uc_stack.ss_size = Fiber::kStack;
  f->ctx.uc_link = nullptr;
  const auto addr = reinterpret_cast<uintptr_t>(f.get());
  makecontext(&f->ctx, reinterpret_cast<void (*)()>(&Fiber::Main), 2,
              static_cast<unsigned>(addr & 0xffffffffu), static_cast<unsigned>(addr >> 32));
  fibers.m[pid] = std::move(f);
  Resume(pid);
}

void FakeKernel::State::Resume(pid_t pid) {
  std::shared_ptr<Fiber> f = fibers.m.at(pid);
  pid_t saved = cur;
  cur = pid;
  swapcontext(&f->back, &f->ctx);
  cur = saved;
  if (!f->done) return;  // blocked: it goes on when its child ends
  fibers.m.erase(pid);
  // Gone already when it was killed while held in a call and reaped since.
  Process* q = Find(pid);
  switch (f->how) {
    case Fiber::How::kReturned:
    case Fiber::How::kExited: {
      if (!q) return;
      int status = f->status;
      if (q->pending_sig) status = q->pending_sig;
      ExitProcess(pid, status);
      return;
    }
    case Fiber::How::kParked:
      if (!q) return;
      if (q->pending_sig) ExitProcess(pid, q->pending_sig);
      else q->state = PState::kParked;
      return;
    case Fiber::How::kThrew:
      if (q) ExitProcess(pid, SIGKILL);
      std::rethrow_exception(f->exc);
  }
}

void FakeKernel::State::BlockCurrent(pid_t child) {
  const pid_t me = cur;
  std::shared_ptr<Fiber> f = fibers.m.at(me);
  Process& p = P();
  p.state = PState::kBlocked;
  p.wait_for = child;
  swapcontext(&f->ctx, &f->back);
  Process& q = procs.at(me);  // resumed (cur == me again)
  q.state = PState::kRunning;
  q.wait_for = 0;
  if (q.pending_sig) throw ProcessExit{me, q.pending_sig};
}

void FakeKernel::State::RunReady() {
  if (draining || ready.empty()) return;
  draining = true;
  try {
    while (!ready.empty()) {
      const pid_t pid = ready.front();
      ready.erase(ready.begin());
      Process* p = Find(pid);
      if (!p || p->state != PState::kBlocked || !fibers.m.count(pid)) continue;
      const Process* t = Find(p->wait_for);
      if (!p->pending_sig && t && t->state != PState::kZombie) continue;  // not yet
      Resume(pid);
    }
  } catch (...) {
    draining = false;
    throw;
  }
  draining = false;
}

void FakeKernel::State::ExitProcess(pid_t pid, int status) {
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
  if (Process* pp = Find(ppid); pp && pp->state == PState::kBlocked && pp->wait_for == pid)
    ready.push_back(ppid);
  if (ppid == 1 || !Find(ppid)) procs.erase(pid);
}

void FakeKernel::State::KillProcess(pid_t pid, int sig) {
  Process& q = procs.at(pid);
  if (q.state == PState::kBlocked && fibers.m.count(pid)) {
    q.pending_sig = sig;  // its fiber unwinds when resumed (RunReady)
    ready.push_back(pid);
  } else if (q.state == PState::kDeferred || q.state == PState::kParked ||
             q.state == PState::kBlocked) {
    ExitProcess(pid, sig);
  } else if (q.state == PState::kRunning) {
    if (pid == cur && pid != runtime && pid != 1) throw ProcessExit{pid, sig};
    if (sig == SIGKILL && q.cloned) {
      // A cloned child on the stack but not the current process: it is held
      // in one of its calls (a second actor runs nested in that call). On
      // Linux SIGKILL ends it even so: it exits now (fds closed, out of its
      // cgroups, a zombie for its parent) and its frames end at its next
      // call (DieAtCall).
      q.pending_sig = sig;
      ExitProcess(pid, sig);
      return;
    }
    q.pending_sig = sig;  // ends when its frames return (or never: runtime)
  }
}

void FakeKernel::State::DieAtCall() {
  if (std::uncaught_exceptions() > 0) return;
  throw ProcessExit{cur, SIGKILL};
}

Status FakeKernel::State::Execve(const char* path, char* const argv[],
                                 char* const envp[]) {
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
  // Entries without an inode (proc's) are not programs.
  if (IsDir(n) || !n.ino) return Status{EACCES};
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

Result<int> FakeKernel::State::Waitpid(pid_t pid, int options) {
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
      if ((k.state == PState::kDeferred || k.state == PState::kParked ||
           k.state == PState::kBlocked) &&
          !deferred)
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
  // A deferred child runs now. A parked or blocked one: a clone child on
  // its fiber waits for it (a detached run's monitor: the container goes
  // on); the runtime itself lets time pass until it ends.
  auto it = procs.find(target);
  for (int round = 0; round < 1000 && it != procs.end() && it->second.state != PState::kZombie;
       ++round) {
    const PState st = it->second.state;
    if (st == PState::kDeferred) {
      Advance(target);
    } else if ((st == PState::kParked || st == PState::kBlocked) && cur != runtime && cur != 1 &&
               fibers.m.count(cur)) {
      BlockCurrent(target);
    } else if (st == PState::kParked || st == PState::kBlocked) {
      Advance(target);
    } else {
      break;  // running: a cycle of waits
    }
    it = procs.find(target);
  }
  if (it == procs.end()) return {0, ECHILD};
  if (it->second.state != PState::kZombie) return {0, EDEADLK};
  int status = it->second.status;
  procs.erase(it);
  (void)options;
  return {status, 0};
}

Status FakeKernel::State::Kill(pid_t pid, int sig) {
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

Status FakeKernel::State::Signal(int sig, mydocker::SignalDisposition d) {
  if (sig <= 0 || sig > 64 || sig == SIGKILL || sig == SIGSTOP)
    return Status{EINVAL};
  uint64_t bit = 1ULL << (sig - 1);
  if (d == mydocker::SignalDisposition::kIgnore) P().ignored |= bit;
  else P().ignored &= ~bit;
  return Status{};
}

Status FakeKernel::State::Prctl(int option, unsigned long arg2) {
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
      if (arg2 != 1) return Status{EINVAL};
      p.no_new_privs = true;
      return Status{};
    case PR_SET_NAME:
      if (arg2) p.comm = std::string(reinterpret_cast<const char*>(arg2)).substr(0, 15);
      return Status{};
    case PR_SET_KEEPCAPS:
    case PR_SET_DUMPABLE:
      return arg2 <= 1 ? Status{} : Status{EINVAL};
    case PR_CAPBSET_DROP:
      // cap_last_cap is 40 (CAP_CHECKPOINT_RESTORE), as on Linux 5.9+.
      if (arg2 > 40) return Status{EINVAL};
      p.cap_bnd &= ~(uint64_t{1} << arg2);
      return Status{};
    case PR_CAP_AMBIENT:
      // Only PR_CAP_AMBIENT_CLEAR_ALL (the ambient set is always empty here).
      return arg2 == PR_CAP_AMBIENT_CLEAR_ALL ? Status{} : Status{EINVAL};
  }
  return Status{EINVAL};
}

// pidfd_open: flags 0 only (EINVAL); ESRCH for a pid that is not a live
// or zombie process (pids are never reused in the model).
Result<int> FakeKernel::State::PidfdOpen(pid_t pid, unsigned int flags) {
  if (flags != 0 || pid <= 0) return {-1, EINVAL};
  const Process* q = Find(pid);
  if (!q) return {-1, ESRCH};
  OpenFile f;
  f.kind = FileKind::kPidfd;
  f.flags = O_RDWR;
  f.pid = pid;
  return {InstallFd(std::move(f), true), 0};
}

// pidfd_send_signal: EBADF for an fd that is not a pidfd, ESRCH once the
// process is reaped; else as kill(2).
Status FakeKernel::State::PidfdSendSignal(int pidfd, int sig) {
  OpenFile* f = OfdOf(pidfd);
  if (!f || f->kind != FileKind::kPidfd) return Status{EBADF};
  if (!Find(f->pid)) return Status{ESRCH};
  return Kill(f->pid, sig);
}

// setns: only on a pidfd (a /proc/PID/ns file is EINVAL here), nstype a
// non-empty set of CLONE_NEWNS|NEWUTS|NEWIPC|NEWNET|NEWPID|NEWCGROUP
// (EINVAL otherwise); ESRCH when the process has exited. Mount: the
// caller's namespace, root and cwd become the target's (its root); UTS:
// its hostname; pid: for the caller's children. IPC, net and cgroup
// namespaces are not modeled (joining them succeeds).
Status FakeKernel::State::Setns(int fd, int nstype) {
  OpenFile* f = OfdOf(fd);
  if (!f) return Status{EBADF};
  if (f->kind != FileKind::kPidfd) return Status{EINVAL};
  constexpr int kKnown = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET |
                         CLONE_NEWPID | CLONE_NEWCGROUP;
  if (nstype == 0 || (nstype & ~kKnown)) return Status{EINVAL};
  Process* t = Find(f->pid);
  if (!t || t->state == PState::kZombie) return Status{ESRCH};
  const int mntns = t->mntns, utsns = t->utsns, pidns = t->pidns;
  const Node root = t->root;
  Process& p = P();
  if (nstype & CLONE_NEWNS) {
    const int old = p.mntns;
    p.mntns = mntns;
    p.root = root;
    p.cwd = root;
    if (old != mntns) MaybeDropNs(old);
  }
  if (nstype & CLONE_NEWUTS) p.utsns = utsns;
  if (nstype & CLONE_NEWPID) p.pidns_children = pidns;
  return Status{};
}

Result<int> FakeKernel::State::Ioctl(int fd, unsigned long /*request*/,
                                     void* /*arg*/) {
  if (!OfdOf(fd)) return {-1, EBADF};
  return {-1, ENOTTY};
}

Result<int> FakeKernel::State::Poll(struct pollfd* fds, size_t n,
                                    int timeout_ms) {
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
    } else if (f->kind == FileKind::kPidfd) {
      const Process* t = Find(f->pid);
      if (!t || t->state == PState::kZombie) q.revents |= q.events & POLLIN;
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

// ---- Durability and locks ----

// fsync: a file's content, or a directory's entries, become durable (what
// survives PowerLoss; the file's own name in its directory does not: that
// takes an fsync of the directory, as POSIX says); devices, proc and cgroup
// files sync trivially; pipes are EINVAL as in Linux; a closed fd is EBADF.
Status FakeKernel::State::Fsync(int fd) {
  OpenFile* f = OfdOf(fd);
  if (!f) return Status{EBADF};
  if (f->kind == FileKind::kPipeR || f->kind == FileKind::kPipeW ||
      f->kind == FileKind::kFsCtx || f->kind == FileKind::kMountFd)
    return Status{EINVAL};
  if (f->kind == FileKind::kFile) SyncInode(f->ino ? f->ino : f->node.ino);
  if (f->kind == FileKind::kDir && f->node.ino) SyncInode(f->node.ino);
  return Status{};
}

// syncfs: everything on the filesystem holding fd becomes durable (an
// overlay: its upper layer's filesystem); EBADF on a closed fd.
Status FakeKernel::State::Syncfs(int fd) {
  OpenFile* f = OfdOf(fd);
  if (!f) return Status{EBADF};
  if (f->node.mnt >= 0) {
    const int sb = mounts[f->node.mnt].sb;
    SyncSb(sb);
    if (sbs[sb].kind == FsKind::kOverlay && sbs[sb].upper)
      SyncSb(static_cast<int>(inodes[sbs[sb].upper].sb));
  } else if (f->ino) {
    SyncSb(static_cast<int>(inodes[f->ino].sb));
  }
  return Status{};
}

void FakeKernel::State::DirtyData(uint32_t ino) {
  Inode& i = inodes[ino];
  if (i.dirty_data || !sbs[i.sb].persistent) return;
  i.durable_data = i.data;
  i.dirty_data = true;
}

void FakeKernel::State::DirtyDir(uint32_t ino) {
  Inode& i = inodes[ino];
  if (i.dirty_dir || !sbs[i.sb].persistent) return;
  i.durable_children = i.children;
  i.dirty_dir = true;
}

void FakeKernel::State::SyncInode(uint32_t ino) {
  Inode& i = inodes[ino];
  i.dirty_data = i.dirty_dir = false;
  i.durable_data.clear();
  i.durable_children.clear();
}

void FakeKernel::State::SyncSb(int sb) {
  for (uint32_t ino = 1; ino < inodes.size(); ++ino) {
    const uint32_t s = inodes[ino].sb;
    if (sb < 0 ? sbs[s].persistent : static_cast<int>(s) == sb) SyncInode(ino);
  }
}

// A power loss, then a reboot. What the persistent disk holds reverts to
// what was durable: a file's content to its last synced content (a file
// never synced is empty), a directory's entries to those of its last
// fsync (an entry created since is gone, one removed since is back, a
// rename since is undone). Everything else is the kernel as booted: a
// fresh State (mounts, tmpfs, cgroupfs, processes, fds, locks), whose
// construction is deterministic, so its first inodes are the ones this
// kernel was built with: the persistent disk's inodes are taken from here
// (reverted), every other one from the fresh kernel, and inodes added
// since on other filesystems are gone. keep_metadata: directories keep
// their entries as they are (only file content reverts).
void FakeKernel::State::PowerLoss(bool keep_metadata) {
  for (uint32_t ino = 1; ino < inodes.size(); ++ino) {
    Inode& i = inodes[ino];
    if (!sbs[i.sb].persistent) continue;
    if (i.dirty_data && S_ISREG(i.mode)) i.data = std::move(i.durable_data);
    if (i.dirty_dir && !keep_metadata) i.children = std::move(i.durable_children);
    SyncInode(ino);
  }
  State fresh(opt);
  std::vector<Inode> merged = std::move(inodes);
  if (merged.size() < fresh.inodes.size()) merged.resize(fresh.inodes.size());
  for (uint32_t ino = 1; ino < merged.size(); ++ino) {
    const bool keep = merged[ino].sb < fresh.sbs.size() && sbs[merged[ino].sb].persistent &&
                      fresh.sbs[merged[ino].sb].persistent;
    if (keep) continue;
    merged[ino] = ino < fresh.inodes.size() ? fresh.inodes[ino] : Inode{};
  }
  // Links, parents and names from the surviving tree; what it does not
  // reach is gone.
  std::vector<uint32_t> links(merged.size(), 0);
  std::vector<uint32_t> stack;
  for (const Super& s : fresh.sbs)
    if (s.persistent) stack.push_back(s.root);
  std::vector<bool> seen(merged.size(), false);
  for (uint32_t r : stack) seen[r] = true;
  while (!stack.empty()) {
    const uint32_t d = stack.back();
    stack.pop_back();
    for (const auto& [name, c] : merged[d].children) {
      if (c >= merged.size()) continue;
      ++links[c];
      Inode& ci = merged[c];
      if (seen[c]) continue;
      seen[c] = true;
      ci.parent = d;
      ci.name = name;
      if (S_ISDIR(ci.mode)) stack.push_back(c);
    }
  }
  for (uint32_t ino = 1; ino < merged.size(); ++ino) {
    Inode& i = merged[ino];
    if (!fresh.sbs[i.sb].persistent) continue;
    if (!seen[ino]) {
      i = Inode{};
      continue;
    }
    if (!S_ISDIR(i.mode)) i.nlink = links[ino];
  }
  fresh.inodes = std::move(merged);
  fresh.Headroom();
  FakeKernel* owner = self;
  *this = std::move(fresh);
  self = owner;
}

uint32_t FakeKernel::State::LockKey(const OpenFile& f) const {
  return f.kind == FileKind::kDir ? f.node.ino : (f.ino ? f.ino : f.node.ino);
}

void FakeKernel::State::DropFlocks(int o) {
  for (auto it = flocks.begin(); it != flocks.end();) {
    FlockRec& r = it->second;
    if (r.excl == o) r.excl = -1;
    std::erase(r.shared, o);
    it = (r.excl < 0 && r.shared.empty()) ? flocks.erase(it) : std::next(it);
  }
}

// flock: one lock per open file description (dup'ed fds share it);
// converting between shared and exclusive replaces the old lock. A
// conflicting lock is EWOULDBLOCK with LOCK_NB; without it the caller would
// wait for another process: the model does not run processes for locks, so
// that is EDEADLK (as a read nobody can satisfy).
Status FakeKernel::State::Flock(int fd, int operation) {
  OpenFile* f = OfdOf(fd);
  if (!f) return Status{EBADF};
  const int o = P().fds[fd].ofd;
  const int op = operation & ~LOCK_NB;
  if (op != LOCK_SH && op != LOCK_EX && op != LOCK_UN) return Status{EINVAL};
  if (f->kind == FileKind::kFsCtx || f->kind == FileKind::kMountFd) return Status{EINVAL};
  const uint32_t key = LockKey(*f);
  FlockRec& r = flocks[key];
  if (op == LOCK_UN) {
    if (r.excl == o) r.excl = -1;
    std::erase(r.shared, o);
    if (r.excl < 0 && r.shared.empty()) flocks.erase(key);
    return Status{};
  }
  bool others_shared = false;
  for (int h : r.shared) others_shared |= h != o;
  const bool conflict = (r.excl >= 0 && r.excl != o) || (op == LOCK_EX && others_shared);
  if (conflict) {
    if (r.excl < 0 && r.shared.empty()) flocks.erase(key);
    return Status{(operation & LOCK_NB) ? EWOULDBLOCK : EDEADLK};
  }
  std::erase(r.shared, o);
  if (r.excl == o) r.excl = -1;
  if (op == LOCK_EX) r.excl = o;
  else r.shared.push_back(o);
  return Status{};
}

// ftruncate: regular files opened for writing (EINVAL otherwise, EBADF on a
// closed fd, EINVAL for a negative length); grows with zeros.
Status FakeKernel::State::Ftruncate(int fd, int64_t length) {
  OpenFile* f = OfdOf(fd);
  if (!f) return Status{EBADF};
  if (length < 0) return Status{EINVAL};
  if (f->kind != FileKind::kFile || (f->flags & O_ACCMODE) == O_RDONLY) return Status{EINVAL};
  DirtyData(f->ino);
  inodes[f->ino].data.resize(static_cast<size_t>(length));
  return Status{};
}

// pwrite: a regular file at offset (the fd's offset is unchanged; holes are
// zeros: the model keeps no block map); ESPIPE on pipes, EBADF read-only.
Result<size_t> FakeKernel::State::Pwrite(int fd, const void* buf, size_t len, int64_t offset) {
  OpenFile* f = OfdOf(fd);
  if (!f) return {0, EBADF};
  if (f->kind == FileKind::kPipeR || f->kind == FileKind::kPipeW) return {0, ESPIPE};
  if (offset < 0) return {0, EINVAL};
  if (f->kind != FileKind::kFile) return Write(fd, buf, len);
  if ((f->flags & O_ACCMODE) == O_RDONLY) return {0, EBADF};
  DirtyData(f->ino);
  std::string& data = inodes[f->ino].data;
  const size_t off = static_cast<size_t>(offset);
  if (data.size() < off + len) data.resize(off + len);
  memcpy(data.data() + off, buf, len);
  return {len, 0};
}

}  // namespace faultline
