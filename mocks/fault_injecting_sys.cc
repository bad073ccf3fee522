#include "mocks/fault_injecting_sys.h"

#include <errno.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include <spdlog/spdlog.h>

namespace faultline {

using mydocker::DirEntry;
using mydocker::FileStat;
using mydocker::Op;
using mydocker::PipeFds;
using mydocker::Result;
using mydocker::Status;

namespace {

std::string Q(const std::string& s) { return "\"" + s + "\""; }
std::string Hex(uint64_t v) {
  char b[32];
  snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}
std::string Oct(uint64_t v) {
  char b[32];
  snprintf(b, sizeof b, "0%llo", static_cast<unsigned long long>(v));
  return b;
}
std::string Argv(char* const argv[]) {
  std::string out = "[";
  for (size_t i = 0; argv && argv[i]; ++i) out += (i ? " " : "") + Q(argv[i]);
  return out + "]";
}

const ProcessIdentity* FindIdentity(mydocker::Sys* s) {
  for (int depth = 0; s && depth < 16; ++depth) {
    if (auto* id = dynamic_cast<const ProcessIdentity*>(s)) return id;
    auto* w = dynamic_cast<SysWrapper*>(s);
    s = w ? &w->target() : nullptr;
  }
  return nullptr;
}

}  // namespace

Crash::Crash(uint64_t s, int r, std::string o)
    : std::runtime_error("faultline: injected crash at call " + std::to_string(s) +
                         " (" + o + ", rule " + std::to_string(r) + ")"),
      seq(s),
      rule(r),
      op(std::move(o)) {}

FaultInjectingSys::FaultInjectingSys(mydocker::Sys& target, FaultPlan plan)
    : SysWrapper(target),
      plan_(std::move(plan)),
      identity_(FindIdentity(&target)),
      sleeper_([](int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }) {
  trace_.reserve(512);
}

void FaultInjectingSys::set_sleeper(std::function<void(int)> sleeper) {
  sleeper_ = std::move(sleeper);
}

pid_t FaultInjectingSys::CallerPid() const {
  return identity_ ? identity_->CurrentPid() : 0;
}

template <class R, class F>
R FaultInjectingSys::Intercept(Op op, CallInfo info, std::string args, R lie,
                               F&& call) {
  TraceEntry e;
  e.seq = ++seq_;
  e.pid = crashed_ ? 0 : CallerPid();
  e.op = mydocker::OpName(op);
  e.args = std::move(args);
  R failed{};
  if (crashed_) {
    e.err = EIO;
    e.after_crash = true;
    trace_.push_back(std::move(e));
    failed.err = EIO;
    return failed;
  }
  info.op = e.op;
  info.pid = e.pid;
  Decision d = plan_.Decide(info);
  e.rule = d.rule;
  e.action = d.action.kind;
  size_t idx = trace_.size();
  trace_.push_back(std::move(e));
  switch (d.action.kind) {
    case ActionKind::kFail:
      trace_[idx].err = d.action.err;
      failed.err = d.action.err;
      return failed;
    case ActionKind::kLie:
      return lie;
    case ActionKind::kCrash: {
      crashed_ = true;
      spdlog::debug("faultline: crash injected at call {} ({})", trace_[idx].seq,
                    trace_[idx].op);
      throw Crash(trace_[idx].seq, d.rule, trace_[idx].op);
    }
    case ActionKind::kDelay:
      sleeper_(d.action.delay_ms);
      break;
    case ActionKind::kNone:
      break;
  }
  try {
    R r = call();
    trace_[idx].err = r.err;
    return r;
  } catch (const Crash&) {  // injected inside this call (a child's call)
    trace_[idx].err = EIO;
    throw;
  } catch (...) {  // e.g. a fake execve ending the child: the call succeeded
    trace_[idx].err = 0;
    throw;
  }
}

// ---- the calls: CallInfo is {op, path, path2, fstype, flags} ----

Status FaultInjectingSys::Mount(const mydocker::MountArgs& a) {
  return Intercept(Op::kMount, {{}, a.target, a.source, a.fstype, a.flags},
                   "source=" + Q(a.source) + " target=" + Q(a.target) +
                       " fstype=" + Q(a.fstype) + " flags=" + Hex(a.flags) +
                       " data=" + Q(a.data),
                   Status{}, [&] { return target().Mount(a); });
}
Status FaultInjectingSys::Umount2(const std::string& t, int flags) {
  return Intercept(Op::kUmount2, {{}, t, {}, {}, static_cast<uint64_t>(flags)},
                   "target=" + Q(t) + " flags=" + Hex(flags), Status{},
                   [&] { return target().Umount2(t, flags); });
}
Status FaultInjectingSys::PivotRoot(const std::string& n, const std::string& o) {
  return Intercept(Op::kPivotRoot, {{}, n, o, {}, 0},
                   "new_root=" + Q(n) + " put_old=" + Q(o), Status{},
                   [&] { return target().PivotRoot(n, o); });
}
Result<int> FaultInjectingSys::Fsopen(const std::string& fstype, unsigned int flags) {
  return Intercept(Op::kFsopen, {{}, {}, {}, fstype, flags},
                   "fstype=" + Q(fstype) + " flags=" + Hex(flags),
                   Result<int>{kLieHandle, 0},
                   [&] { return target().Fsopen(fstype, flags); });
}
Status FaultInjectingSys::Fsconfig(const mydocker::FsconfigArgs& a) {
  return Intercept(Op::kFsconfig, {{}, a.value, a.key, {}, a.cmd},
                   "fd=" + std::to_string(a.fd) + " cmd=" + std::to_string(a.cmd) +
                       " key=" + Q(a.key) + " value=" + Q(a.value) +
                       " aux=" + std::to_string(a.aux),
                   Status{}, [&] { return target().Fsconfig(a); });
}
Result<int> FaultInjectingSys::Fsmount(int fd, unsigned int flags, unsigned int attr) {
  return Intercept(Op::kFsmount, {{}, {}, {}, {}, flags},
                   "fs_fd=" + std::to_string(fd) + " flags=" + Hex(flags) +
                       " attr=" + Hex(attr),
                   Result<int>{kLieHandle + 1, 0},
                   [&] { return target().Fsmount(fd, flags, attr); });
}
Status FaultInjectingSys::MoveMount(const mydocker::MoveMountArgs& a) {
  return Intercept(Op::kMoveMount, {{}, a.to_path, a.from_path, {}, a.flags},
                   "from_dirfd=" + std::to_string(a.from_dirfd) + " from=" +
                       Q(a.from_path) + " to_dirfd=" + std::to_string(a.to_dirfd) +
                       " to=" + Q(a.to_path) + " flags=" + Hex(a.flags),
                   Status{}, [&] { return target().MoveMount(a); });
}
Status FaultInjectingSys::Mkdir(const std::string& p, mode_t mode) {
  return Intercept(Op::kMkdir, {{}, p, {}, {}, mode}, "path=" + Q(p) + " mode=" + Oct(mode),
                   Status{}, [&] { return target().Mkdir(p, mode); });
}
Status FaultInjectingSys::Rmdir(const std::string& p) {
  return Intercept(Op::kRmdir, {{}, p, {}, {}, 0}, "path=" + Q(p), Status{},
                   [&] { return target().Rmdir(p); });
}
Status FaultInjectingSys::Unlink(const std::string& p) {
  return Intercept(Op::kUnlink, {{}, p, {}, {}, 0}, "path=" + Q(p), Status{},
                   [&] { return target().Unlink(p); });
}
Status FaultInjectingSys::Rename(const std::string& from, const std::string& to) {
  return Intercept(Op::kRename, {{}, from, to, {}, 0}, "from=" + Q(from) + " to=" + Q(to),
                   Status{}, [&] { return target().Rename(from, to); });
}
Status FaultInjectingSys::Symlink(const std::string& t, const std::string& l) {
  return Intercept(Op::kSymlink, {{}, l, t, {}, 0}, "target=" + Q(t) + " linkpath=" + Q(l),
                   Status{}, [&] { return target().Symlink(t, l); });
}
Status FaultInjectingSys::Link(const std::string& e, const std::string& n) {
  return Intercept(Op::kLink, {{}, n, e, {}, 0}, "existing=" + Q(e) + " newpath=" + Q(n),
                   Status{}, [&] { return target().Link(e, n); });
}
Status FaultInjectingSys::Mknod(const std::string& p, mode_t mode, dev_t dev) {
  return Intercept(Op::kMknod, {{}, p, {}, {}, mode},
                   "path=" + Q(p) + " mode=" + Oct(mode) + " dev=" + Hex(dev), Status{},
                   [&] { return target().Mknod(p, mode, dev); });
}
Status FaultInjectingSys::Chmod(const std::string& p, mode_t mode) {
  return Intercept(Op::kChmod, {{}, p, {}, {}, mode}, "path=" + Q(p) + " mode=" + Oct(mode),
                   Status{}, [&] { return target().Chmod(p, mode); });
}
Status FaultInjectingSys::Lchown(const std::string& p, uid_t uid, gid_t gid) {
  return Intercept(Op::kLchown, {{}, p, {}, {}, 0},
                   "path=" + Q(p) + " uid=" + std::to_string(uid) +
                       " gid=" + std::to_string(gid),
                   Status{}, [&] { return target().Lchown(p, uid, gid); });
}
Result<FileStat> FaultInjectingSys::Lstat(const std::string& p) {
  return Intercept(Op::kLstat, {{}, p, {}, {}, 0}, "path=" + Q(p), Result<FileStat>{},
                   [&] { return target().Lstat(p); });
}
Result<int64_t> FaultInjectingSys::Statfs(const std::string& p) {
  return Intercept(Op::kStatfs, {{}, p, {}, {}, 0}, "path=" + Q(p), Result<int64_t>{},
                   [&] { return target().Statfs(p); });
}
Result<std::vector<DirEntry>> FaultInjectingSys::ReadDir(const std::string& p) {
  return Intercept(Op::kReadDir, {{}, p, {}, {}, 0}, "path=" + Q(p),
                   Result<std::vector<DirEntry>>{}, [&] { return target().ReadDir(p); });
}
Result<std::string> FaultInjectingSys::Readlink(const std::string& p) {
  return Intercept(Op::kReadlink, {{}, p, {}, {}, 0}, "path=" + Q(p), Result<std::string>{},
                   [&] { return target().Readlink(p); });
}
Result<int> FaultInjectingSys::Open(const std::string& p, int flags, mode_t mode) {
  return Intercept(Op::kOpen, {{}, p, {}, {}, static_cast<uint64_t>(flags)},
                   "path=" + Q(p) + " flags=" + Hex(flags) + " mode=" + Oct(mode),
                   Result<int>{kLieHandle + 2, 0},
                   [&] { return target().Open(p, flags, mode); });
}
Status FaultInjectingSys::Close(int fd) {
  return Intercept(Op::kClose, {{}, {}, {}, {}, 0}, "fd=" + std::to_string(fd), Status{},
                   [&] { return target().Close(fd); });
}
Result<size_t> FaultInjectingSys::Read(int fd, void* buf, size_t len) {
  return Intercept(Op::kRead, {{}, {}, {}, {}, 0},
                   "fd=" + std::to_string(fd) + " len=" + std::to_string(len),
                   Result<size_t>{0, 0}, [&] { return target().Read(fd, buf, len); });
}
Result<size_t> FaultInjectingSys::Write(int fd, const void* buf, size_t len) {
  return Intercept(Op::kWrite, {{}, {}, {}, {}, 0},
                   "fd=" + std::to_string(fd) + " len=" + std::to_string(len),
                   Result<size_t>{len, 0}, [&] { return target().Write(fd, buf, len); });
}
Result<PipeFds> FaultInjectingSys::Pipe(int flags) {
  return Intercept(Op::kPipe, {{}, {}, {}, {}, static_cast<uint64_t>(flags)},
                   "flags=" + Hex(flags),
                   Result<PipeFds>{PipeFds{kLieHandle + 3, kLieHandle + 4}, 0},
                   [&] { return target().Pipe(flags); });
}
Status FaultInjectingSys::Dup2(int oldfd, int newfd) {
  return Intercept(Op::kDup2, {{}, {}, {}, {}, 0},
                   "oldfd=" + std::to_string(oldfd) + " newfd=" + std::to_string(newfd),
                   Status{}, [&] { return target().Dup2(oldfd, newfd); });
}
Status FaultInjectingSys::Chdir(const std::string& p) {
  return Intercept(Op::kChdir, {{}, p, {}, {}, 0}, "path=" + Q(p), Status{},
                   [&] { return target().Chdir(p); });
}
Status FaultInjectingSys::Sethostname(const std::string& name) {
  return Intercept(Op::kSethostname, {{}, name, {}, {}, 0}, "name=" + Q(name), Status{},
                   [&] { return target().Sethostname(name); });
}
Result<pid_t> FaultInjectingSys::Clone(const mydocker::CloneFn& fn, int flags) {
  return Intercept(Op::kClone, {{}, {}, {}, {}, static_cast<uint64_t>(flags)},
                   "flags=" + Hex(flags), Result<pid_t>{kLieHandle, 0},
                   [&] { return target().Clone(fn, flags); });
}
Status FaultInjectingSys::Execve(const char* path, char* const argv[], char* const envp[]) {
  std::string p = path ? path : "";
  return Intercept(Op::kExecve, {{}, p, {}, {}, 0}, "path=" + Q(p) + " argv=" + Argv(argv),
                   Status{}, [&] { return target().Execve(path, argv, envp); });
}
Result<int> FaultInjectingSys::Waitpid(pid_t pid, int options) {
  return Intercept(Op::kWaitpid, {{}, {}, {}, {}, static_cast<uint64_t>(options)},
                   "pid=" + std::to_string(pid) + " options=" + Hex(options),
                   Result<int>{0, 0}, [&] { return target().Waitpid(pid, options); });
}
Status FaultInjectingSys::Kill(pid_t pid, int sig) {
  return Intercept(Op::kKill, {{}, {}, {}, {}, static_cast<uint64_t>(sig)},
                   "pid=" + std::to_string(pid) + " sig=" + std::to_string(sig), Status{},
                   [&] { return target().Kill(pid, sig); });
}
Status FaultInjectingSys::Signal(int sig, mydocker::SignalDisposition d) {
  return Intercept(Op::kSignal, {{}, {}, {}, {}, static_cast<uint64_t>(sig)},
                   "sig=" + std::to_string(sig) + " disposition=" +
                       (d == mydocker::SignalDisposition::kIgnore ? "ignore" : "default"),
                   Status{}, [&] { return target().Signal(sig, d); });
}
Status FaultInjectingSys::Prctl(int option, unsigned long arg2) {
  return Intercept(Op::kPrctl, {{}, {}, {}, {}, static_cast<uint64_t>(option)},
                   "option=" + std::to_string(option) + " arg2=" + std::to_string(arg2),
                   Status{}, [&] { return target().Prctl(option, arg2); });
}
Result<int> FaultInjectingSys::Ioctl(int fd, unsigned long request, void* arg) {
  return Intercept(Op::kIoctl, {{}, {}, {}, {}, static_cast<uint64_t>(request)},
                   "fd=" + std::to_string(fd) + " request=" + Hex(request),
                   Result<int>{0, 0}, [&] { return target().Ioctl(fd, request, arg); });
}
Result<pid_t> FaultInjectingSys::Setsid() {
  return Intercept(Op::kSetsid, {{}, {}, {}, {}, 0}, "", Result<pid_t>{kLieHandle, 0},
                   [&] { return target().Setsid(); });
}
Result<int> FaultInjectingSys::Poll(struct pollfd* fds, size_t n, int timeout_ms) {
  std::string fd_list;
  for (size_t i = 0; i < n; ++i) {
    fd_list += (i ? "," : "") + std::to_string(fds[i].fd);
    // What a lie reports: every entry ready (a poll loop then reads, and the
    // lied reads' 0 bytes end it). A real poll overwrites every revents.
    fds[i].revents = static_cast<short>(fds[i].events | POLLHUP);
  }
  return Intercept(Op::kPoll, {{}, {}, {}, {}, 0},
                   "fds=[" + fd_list + "] timeout=" + std::to_string(timeout_ms),
                   Result<int>{static_cast<int>(n), 0},
                   [&] { return target().Poll(fds, n, timeout_ms); });
}

// ---- the trace ----

std::string FaultInjectingSys::FormatEntry(const TraceEntry& e) {
  std::string out = std::to_string(e.seq) + " pid=" + std::to_string(e.pid) + " " + e.op +
                    " " + e.args + " -> " + (e.err ? ErrnoToName(e.err) : "0");
  if (e.rule >= 0)
    out += std::string(" [rule ") + std::to_string(e.rule) + " " + ActionName(e.action) + "]";
  if (e.after_crash) out += " [after crash]";
  return out;
}

std::string FaultInjectingSys::TraceText() const {
  std::string out;
  for (const TraceEntry& e : trace_) out += FormatEntry(e) + "\n";
  return out;
}

nlohmann::json FaultInjectingSys::TraceJson() const {
  nlohmann::json arr = nlohmann::json::array();
  for (const TraceEntry& e : trace_) {
    nlohmann::json j = {{"seq", e.seq},       {"pid", e.pid},
                        {"op", e.op},         {"args", e.args},
                        {"err", e.err},       {"errno", e.err ? ErrnoToName(e.err) : ""},
                        {"rule", e.rule},     {"action", ActionName(e.action)},
                        {"after_crash", e.after_crash}};
    arr.push_back(std::move(j));
  }
  return arr;
}

}  // namespace faultline
