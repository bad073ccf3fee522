#include "harness/seccomp/supervisor.h"
#include "harness/seccomp/hang.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_map>

#include <optional>

#include "faults/pause_channel.h"
#include "harness/seccomp/decode.h"
#include "harness/seccomp/filter.h"
#include "harness/seccomp/inflight.h"
#include "harness/seccomp/remote.h"
#include "harness/seccomp/root_cache.h"

extern char** environ;

namespace faultline::seccomp {

using mydocker::ErrnoName;
using mydocker::Error;
using mydocker::Expected;
using mydocker::MakeError;

const char* OutcomeName(CallOutcome o) {
  switch (o) {
    case CallOutcome::kContinued: return "continued";
    case CallOutcome::kFailed: return "failed";
    case CallOutcome::kLied: return "lied";
    case CallOutcome::kKilled: return "killed";
    case CallOutcome::kGone: return "gone";
  }
  return "?";
}

std::string VerdictString(const Verdict& v) {
  switch (v.kind) {
    case Verdict::kContinue: return "continue";
    case Verdict::kFail: return "fail " + ErrnoName(v.err);
    case Verdict::kLie: return "lie";
    case Verdict::kDelay: return "delay " + std::to_string(v.delay_ms) + "ms";
    case Verdict::kKill: return "kill";
    case Verdict::kPause: return "pause (at most " + std::to_string(v.delay_ms) + "ms)";
  }
  return "?";
}

std::string FormatTraceEntry(const TraceEntry& e) {
  const SyscallEvent& ev = e.event;
  std::string s = "#" + std::to_string(ev.seq) + " pid " +
                  std::to_string(ev.pid) + " " + ev.name;
  if (!ev.fstype.empty()) s += " type=" + ev.fstype;
  if (!ev.path.empty()) {
    s += " " + ev.path;
    if (ev.host_path != ev.path) s += " (host " + ev.host_path + ")";
  }
  if (!ev.path2.empty()) s += " <- " + ev.path2;
  if (ev.flags != 0) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), " flags=0x%llx",
                  static_cast<unsigned long long>(ev.flags));
    s += buf;
  }
  s += " -> " + VerdictString(e.verdict) + ": " + OutcomeName(e.outcome);
  if (e.restarts > 0) s += " (restarted " + std::to_string(e.restarts) + "x)";
  return s;
}

nlohmann::json TraceToJson(const SupervisorResult& r) {
  nlohmann::json calls = nlohmann::json::array();
  for (const TraceEntry& e : r.trace) {
    const SyscallEvent& ev = e.event;
    calls.push_back({{"seq", ev.seq},
                     {"pid", ev.pid},
                     {"syscall", ev.name},
                     {"nr", ev.nr},
                     {"path", ev.path},
                     {"host_path", ev.host_path},
                     {"path2", ev.path2},
                     {"host_path2", ev.host_path2},
                     {"fstype", ev.fstype},
                     {"flags", ev.flags},
                     {"args", std::vector<uint64_t>(ev.args, ev.args + 6)},
                     {"verdict", VerdictString(e.verdict)},
                     {"outcome", OutcomeName(e.outcome)},
                     {"restarts", e.restarts}});
  }
  return {{"target_pid", r.target_pid},
          {"wait_status", r.wait_status},
          {"exit_code", r.exit_code},
          {"term_signal", r.term_signal},
          {"timed_out", r.timed_out},
          {"wait_killable", r.wait_killable},
          {"sync_wakeup", r.sync_wakeup},
          {"calls", r.calls},
          {"notifications", r.notifications},
          {"restarts", r.restarts},
          {"leftover_pids", r.leftover_pids},
          {"trace", calls}};
}

std::vector<std::string> DefaultSyscalls() {
  std::vector<std::string> out = {
      "mount",         "umount2",    "pivot_root", "mkdir",       "mkdirat",
      "rmdir",         "unlink",     "unlinkat",   "open",        "openat",
      "openat2",       "clone",      "clone3",     "fork",        "vfork",
      "unshare",       "setns",      "fsopen",     "fsconfig",    "fsmount",
      "fspick",        "move_mount", "open_tree",  "sethostname", "seccomp",
      "mount_setattr", "mknod",      "mknodat",    "symlink",     "symlinkat",
      "fchownat",      "keyctl",     "close_range", "capset",     "pidfd_open"};
  // Newer than the libseccomp a host may have (open_tree_attr: Linux 6.15;
  // Debian 12's libseccomp 2.5.4 does not know it): only when it resolves.
  for (const char* newer : {"open_tree_attr"}) {
    if (seccomp_syscall_resolve_name(newer) >= 0) out.push_back(newer);
  }
  return out;
}

std::vector<std::string> RootChangingSyscalls() {
  return {"chroot", "pivot_root", "unshare", "setns"};
}

namespace {

// Not in the 6.1 uapi headers Debian 12 ships (added in 6.6).
constexpr unsigned long kIoctlNotifSetFlags = SECCOMP_IOW(4, uint64_t);
constexpr uint64_t kSyncWakeUp = 1;  // SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP

// What the target child tells the supervisor: the listener (as SCM_RIGHTS)
// or the step that failed before exec.
struct ChildHello {
  int32_t step = 0;  // 0 ok, else a ChildStep
  int32_t err = 0;
  int32_t wait_killable = 0;
  int32_t pid = 0;
};
enum ChildStep : int32_t {
  kStepOk = 0,
  kStepLoadFilter = 1,
  kStepSendFd = 2,
  kStepAck = 3,
  kStepChdir = 4,
  kStepExec = 5,
  kStepRedirect = 6,
};
const char* ChildStepName(int32_t step) {
  switch (step) {
    case kStepLoadFilter: return "seccomp: load notify filter";
    case kStepSendFd: return "seccomp: send listener fd";
    case kStepAck: return "seccomp: wait for supervisor ack";
    case kStepChdir: return "seccomp: chdir target";
    case kStepExec: return "seccomp: exec target";
    case kStepRedirect: return "seccomp: redirect target stdio";
  }
  return "seccomp: target child";
}

// What the reaper reports when the whole tree is gone.
constexpr int kMaxLeftovers = 64;
struct ReaperReport {
  int32_t magic = 0;
  int32_t target = 0;
  int32_t status = 0;
  int32_t nleft = 0;
  int32_t left[kMaxLeftovers] = {};
};
constexpr int32_t kReportMagic = 0x5ecc0b;

void WriteAll(int fd, const void* buf, size_t len) {
  const char* p = static_cast<const char*>(buf);
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    len -= static_cast<size_t>(n);
  }
}

void SendHelloError(int sock, int32_t step, int32_t err) {
  ChildHello h;
  h.step = step;
  h.err = err;
  h.pid = getpid();
  send(sock, &h, sizeof(h), MSG_NOSIGNAL);
}

struct ChildPlan {
  const char* file;
  char* const* argv;
  char* const* envp;
  const char* cwd;  // may be null
  int stdio[3];
  sock_fprog prog;
  bool want_killable;
  int sock;  // child's end of the socketpair
};

// The target: between fork and exec, syscalls only.
[[noreturn]] void RunTargetChild(const ChildPlan& p) {
  // No setpgid: the target stays in the caller's process group, so it may
  // read a terminal; the tree is found through /proc, not by group.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);
  signal(SIGCHLD, SIG_DFL);
  for (int i = 0; i < 3; ++i) {
    if (p.stdio[i] >= 0 && p.stdio[i] != i && dup2(p.stdio[i], i) < 0) {
      SendHelloError(p.sock, kStepRedirect, errno);
      _exit(127);
    }
  }
  if (p.cwd != nullptr && chdir(p.cwd) != 0) {
    SendHelloError(p.sock, kStepChdir, errno);
    _exit(127);
  }
  LoadResult lr = LoadNotifyFilter(&p.prog, p.want_killable);
  if (lr.fd < 0) {
    SendHelloError(p.sock, kStepLoadFilter, lr.err);
    _exit(127);
  }
  ChildHello h;
  h.wait_killable = lr.wait_killable ? 1 : 0;
  h.pid = getpid();
  iovec iov{&h, sizeof(h)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cm), &lr.fd, sizeof(int));
  if (sendmsg(p.sock, &msg, MSG_NOSIGNAL) != sizeof(h)) _exit(127);
  close(lr.fd);
  char ack = 0;
  ssize_t n;
  do {
    n = recv(p.sock, &ack, 1, 0);
  } while (n < 0 && errno == EINTR);
  if (n != 1) _exit(127);  // the supervisor went away: do not run unwatched
  execve(p.file, p.argv, p.envp);
  // The socket is close-on-exec: reaching here means exec failed.
  SendHelloError(p.sock, kStepExec, errno);
  _exit(127);
}

// The reaper: subreaper over the target's tree; reports and cleans up.
[[noreturn]] void RunReaper(const ChildPlan& p, int report_fd, pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  pid_t target = fork();
  if (target < 0) {
    SendHelloError(p.sock, kStepLoadFilter, errno);
    _exit(1);
  }
  if (target == 0) {
    close(report_fd);
    RunTargetChild(p);
  }
  close(p.sock);
  ReaperReport report;
  report.magic = kReportMagic;
  report.target = target;
  bool target_done = false;
  for (;;) {
    int status = 0;
    pid_t w = waitpid(-1, &status, 0);
    if (w < 0) {
      if (errno == EINTR) continue;
      break;  // ECHILD: the tree is empty
    }
    if (w == target && !target_done) {
      target_done = true;
      report.status = status;
      // Whatever the target left behind is ours (we are its subreaper).
      report.nleft = KillDescendants(getpid(), report.left, kMaxLeftovers);
      if (report.nleft > kMaxLeftovers) report.nleft = kMaxLeftovers;
    } else if (target_done) {
      KillDescendants(getpid(), nullptr, 0);
    }
  }
  WriteAll(report_fd, &report, sizeof(report));
  _exit(0);
}

// Looks argv0 up in PATH like execvp, before fork.
Expected<std::string> FindExecutable(const std::string& argv0) {
  if (argv0.empty()) return MakeError("seccomp: find target", "", ENOENT);
  if (argv0.find('/') != std::string::npos) {
    if (access(argv0.c_str(), X_OK) != 0) {
      return MakeError("seccomp: find target", argv0, errno);
    }
    return argv0;
  }
  const char* path_env = getenv("PATH");
  std::string path = path_env ? path_env : "/usr/local/bin:/usr/bin:/bin";
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find(':', i);
    if (j == std::string::npos) j = path.size();
    std::string dir = path.substr(i, j - i);
    std::string cand = (dir.empty() ? "." : dir) + "/" + argv0;
    struct stat st;
    if (stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(cand.c_str(), X_OK) == 0) {
      return cand;
    }
    i = j + 1;
  }
  return MakeError("seccomp: find target", argv0, ENOENT, "not in PATH");
}

std::vector<char*> CStrings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// Receives the hello (and the listener) from the target child.
Expected<ChildHello> ReceiveHello(int sock, int* listener, pid_t reaper) {
  pollfd pfd{sock, POLLIN, 0};
  int pr;
  do {
    pr = poll(&pfd, 1, 30000);
  } while (pr < 0 && errno == EINTR);
  if (pr <= 0) {
    return MakeError("seccomp: receive listener fd", "", pr == 0 ? ETIMEDOUT : errno);
  }
  ChildHello h;
  iovec iov{&h, sizeof(h)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof(h))) {
    return MakeError("seccomp: receive listener fd", "", n < 0 ? errno : EPIPE,
                     "reaper pid " + std::to_string(reaper));
  }
  for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
      std::memcpy(listener, CMSG_DATA(cm), sizeof(int));
    }
  }
  if (h.step != kStepOk) {
    return MakeError(ChildStepName(h.step), "", h.err);
  }
  if (*listener < 0) {
    return MakeError("seccomp: receive listener fd", "", EBADMSG);
  }
  return h;
}

// The notification loop for one run.
class Loop {
 public:
  Loop(const SupervisorOptions& opts, const Decider& decide, int listener,
       pid_t reaper, SupervisorResult* result)
      : opts_(opts), decide_(decide), listener_(listener), reaper_(reaper),
        r_(result), release_fd_(opts.pause_release_fd) {
    for (const auto& name : opts.syscalls) {
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr >= 0) names_[nr] = name;
    }
    for (const auto& name : RootChangingSyscalls()) {
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr >= 0) root_changing_.push_back(nr);
    }
  }

  // Copies the root cache's counters into the result.
  void RecordStats() {
    r_->root_cache_hits = roots_.hits();
    r_->root_reads = roots_.reads();
  }

  // Serves notifications until the reaper reports (or its pipe closes).
  Expected<ReaperReport> Run(int report_fd, int hello_sock) {
    seccomp_notif* req = nullptr;
    seccomp_notif_resp* resp = nullptr;
    if (int rc = seccomp_notify_alloc(&req, &resp); rc != 0) {
      KillTree();
      return MakeError("seccomp: notify alloc", "", -rc);
    }
    std::unique_ptr<seccomp_notif, void (*)(seccomp_notif*)> req_owner(
        req, [](seccomp_notif* p) { seccomp_notify_free(p, nullptr); });
    std::unique_ptr<seccomp_notif_resp, void (*)(seccomp_notif_resp*)>
        resp_owner(resp,
                   [](seccomp_notif_resp* p) { seccomp_notify_free(nullptr, p); });
    auto start = Clock::now();
    ReaperReport report;
    size_t got = 0;
    bool listener_open = true;
    HangDetector hang(opts_.quiet);
    hang.Event(start);
    uint64_t seen_notifications = r_->notifications + r_->root_change_notifications;
    for (;;) {
      auto now = Clock::now();
      AnswerDue(now, resp);
      if (hang.enabled() && !r_->timed_out) {
        // A delayed call is a sign of life: the supervisor holds it.
        const uint64_t seen_now = r_->notifications + r_->root_change_notifications;
        if (seen_now != seen_notifications || inflight_.NextDeadline()) {
          seen_notifications = seen_now;
          hang.Event(now);
        } else if (hang.Check(now, SampleTree(reaper_))) {
          r_->hang_state = DescribeTree(reaper_);
          spdlog::debug("seccomp: the tree slept {}ms with no call; killing it",
                        opts_.quiet.count());
          r_->timed_out = true;
          r_->quiet_hang = true;
          KillTree();
        }
      }
      int timeout = -1;
      if (auto next = inflight_.NextDeadline()) {
        timeout = static_cast<int>(std::max<int64_t>(
            0, std::chrono::duration_cast<std::chrono::milliseconds>(
                   *next - now).count() + 1));
      }
      if (opts_.timeout.count() > 0 && !r_->timed_out) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        start + opts_.timeout - now).count();
        if (left <= 0) {
          spdlog::warn("seccomp: target timed out after {}ms; killing its tree",
                       opts_.timeout.count());
          r_->timed_out = true;
          KillTree();
        } else if (timeout < 0 || left < timeout) {
          timeout = static_cast<int>(left);
        }
      }
      if (hang.enabled() && !r_->timed_out &&
          (timeout < 0 || timeout > HangDetector::kSampleEvery.count())) {
        timeout = static_cast<int>(HangDetector::kSampleEvery.count());
      }
      pollfd pfds[4] = {{report_fd, POLLIN, 0},
                        {listener_open ? listener_ : -1, POLLIN, 0},
                        {hello_sock, POLLIN, 0},
                        {release_fd_, POLLIN, 0}};
      int pr = poll(pfds, 4, timeout);
      if (pr < 0) {
        if (errno == EINTR) continue;
        KillTree();
        return MakeError("seccomp: poll listener", "", errno);
      }
      if (pfds[3].revents & (POLLIN | POLLHUP | POLLERR)) ReleaseOnePause();
      if (pfds[2].revents & POLLIN) CheckExecFailure(hello_sock);
      if (pfds[2].revents & (POLLIN | POLLHUP)) hello_sock = -1;
      if (pfds[1].revents & POLLIN) {
        Receive(req, resp);
      } else if (pfds[1].revents & (POLLHUP | POLLERR | POLLNVAL)) {
        listener_open = false;  // every filtered task is gone
      }
      if (pfds[0].revents & (POLLIN | POLLHUP)) {
        ssize_t n = read(report_fd, reinterpret_cast<char*>(&report) + got,
                         sizeof(report) - got);
        if (n > 0) got += static_cast<size_t>(n);
        if (n == 0 || got == sizeof(report)) break;
        if (n < 0 && errno != EINTR && errno != EAGAIN) break;
      }
    }
    // Whatever is still waiting for a delay belongs to a dead tree.
    for (pid_t tid : inflight_.Delayed()) {
      if (InflightCall* c = inflight_.Find(tid)) SetOutcome(*c, CallOutcome::kGone);
    }
    if (got != sizeof(report) || report.magic != kReportMagic) {
      return MakeError("seccomp: read reaper report", "", EPIPE,
                       "reaper pid " + std::to_string(reaper_) +
                           " ended without a report");
    }
    return report;
  }

  const Error* exec_error() const { return exec_error_ ? &*exec_error_ : nullptr; }

 private:
  // A byte on the release fd: the oldest held call goes on (its deadline is
  // now; AnswerDue answers it). EOF: the harness is gone: every held call
  // goes on and the fd is dropped.
  void ReleaseOnePause() {
    char c;
    ssize_t n = read(release_fd_, &c, 1);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    const bool all = n <= 0;
    if (all) release_fd_ = -1;
    while (!paused_.empty()) {
      pid_t tid = paused_.front();
      paused_.erase(paused_.begin());
      if (InflightCall* call = inflight_.Find(tid);
          call && call->verdict.kind == Verdict::kPause && call->deadline) {
        call->deadline = Clock::now();
        if (!all) return;
      }
    }
  }

  // Tells the harness a call is held (one PauseNote: an atomic pipe write).
  void NotePause(const SyscallEvent& ev) {
    paused_.push_back(ev.pid);
    if (opts_.pause_note_fd < 0) return;
    PauseNote note;
    note.seq = ev.seq;
    note.pid = ev.pid;
    std::snprintf(note.op, sizeof note.op, "%s", ev.name.c_str());
    ssize_t w;
    do {
      w = write(opts_.pause_note_fd, &note, sizeof note);
    } while (w < 0 && errno == EINTR);
    if (w != static_cast<ssize_t>(sizeof note)) {
      spdlog::warn("seccomp: pause note for call {}: {}", ev.seq, ErrnoName(errno));
    }
  }

  void KillTree() {
    tree_killed_ = true;
    int n = KillDescendants(reaper_, nullptr, 0);
    spdlog::debug("seccomp: SIGKILL to {} processes under reaper {}", n, reaper_);
  }

  void CheckExecFailure(int sock) {
    ChildHello h;
    ssize_t n = recv(sock, &h, sizeof(h), MSG_DONTWAIT);
    if (n == static_cast<ssize_t>(sizeof(h)) && h.step != kStepOk) {
      exec_error_ = MakeError(ChildStepName(h.step),
                              opts_.argv.empty() ? "" : opts_.argv[0], h.err);
    }
  }

  void SetOutcome(const InflightCall& c, CallOutcome o) {
    if (opts_.record_trace && c.trace_index < r_->trace.size()) {
      r_->trace[c.trace_index].outcome = o;
    }
  }

  // Sends the answer for verdict v; returns the outcome.
  CallOutcome Respond(seccomp_notif_resp* resp, uint64_t id, const Verdict& v) {
    std::memset(resp, 0, sizeof(*resp));
    resp->id = id;
    CallOutcome o = CallOutcome::kContinued;
    switch (v.kind) {
      case Verdict::kContinue:
      case Verdict::kDelay:
      case Verdict::kPause:
        resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        break;
      case Verdict::kFail:
        resp->error = -(v.err > 0 ? v.err : EPERM);
        o = CallOutcome::kFailed;
        break;
      case Verdict::kLie:
        o = CallOutcome::kLied;
        break;
      case Verdict::kKill:
        return CallOutcome::kKilled;
    }
    int rc = seccomp_notify_respond(listener_, resp);
    if (rc != 0) {
      // -ENOENT: the id died (the caller was interrupted or killed).
      if (rc != -ENOENT) {
        spdlog::warn("seccomp: respond to id {}: {}", id, ErrnoName(-rc));
      }
      return CallOutcome::kGone;
    }
    return o;
  }

  // Answers c (with its verdict) and updates the trace and the table.
  void Answer(pid_t tid, InflightCall& c, seccomp_notif_resp* resp) {
    if (c.verdict.kind == Verdict::kKill) {
      KillTree();
      SetOutcome(c, CallOutcome::kKilled);
      inflight_.Finish(tid);
      return;
    }
    CallOutcome o = Respond(resp, c.id, c.verdict);
    SetOutcome(c, o);
    if (o == CallOutcome::kGone) {
      inflight_.MarkGone(tid);
    } else {
      inflight_.Finish(tid);
    }
  }

  void AnswerDue(Clock::time_point now, seccomp_notif_resp* resp) {
    for (pid_t tid : inflight_.Due(now)) {
      if (InflightCall* c = inflight_.Find(tid)) Answer(tid, *c, resp);
    }
  }

  void Receive(seccomp_notif* req, seccomp_notif_resp* resp) {
    std::memset(req, 0, sizeof(*req));
    int rc = seccomp_notify_receive(listener_, req);
    if (rc != 0) {
      // -ENOENT: the caller left between poll and receive.
      if (rc != -ENOENT && rc != -EINTR) {
        spdlog::warn("seccomp: notify receive: {}", ErrnoName(-rc));
      }
      return;
    }
    pid_t tid = static_cast<pid_t>(req->pid);
    uint64_t args[6];
    for (int i = 0; i < 6; ++i) args[i] = req->data.args[i];
    if (tree_killed_) {
      // The tree is being killed (kill verdict or timeout): this caller has
      // SIGKILL pending or is about to get it. Nothing more is decided or
      // run: fail the call without asking the Decider.
      inflight_.OnNotification(tid, req->data.nr, args, req->id);
      Respond(resp, req->id, Verdict::Fail(EPERM));
      return;
    }
    const bool changes_root =
        opts_.cache_roots &&
        std::find(root_changing_.begin(), root_changing_.end(), req->data.nr) !=
            root_changing_.end();
    auto name = names_.find(req->data.nr);
    if (name == names_.end() && changes_root) {
      // Notified for the root cache only: no Decider, no counts.
      inflight_.OnNotification(tid, req->data.nr, args, req->id);  // ends tid's old call
      roots_.OnCall(tid);
      roots_.OnRootChange(tid);
      ++r_->root_change_notifications;
      Respond(resp, req->id, Verdict::Continue());
      return;
    }
    ++r_->notifications;

    if (InflightCall* c = inflight_.OnNotification(tid, req->data.nr, args, req->id)) {
      // The kernel restarted a call we had already decided: same seq, same
      // verdict, no new question to the Decider.
      ++r_->restarts;
      if (opts_.record_trace && c->trace_index < r_->trace.size()) {
        ++r_->trace[c->trace_index].restarts;
      }
      if (c->deadline && *c->deadline > Clock::now()) return;  // keep waiting
      Answer(tid, *c, resp);
      return;
    }

    // A new call from tid: whatever root change tid had pending is over.
    roots_.OnCall(tid);
    if (changes_root) roots_.OnRootChange(tid);

    SyscallEvent ev;
    ev.pid = tid;
    ev.nr = req->data.nr;
    ev.name = name != names_.end() ? name->second
                                   : "syscall_" + std::to_string(ev.nr);
    std::memcpy(ev.args, args, sizeof(args));
    LiveProcessView view(tid, opts_.cache_roots ? &roots_ : nullptr);
    DecodeEvent(view, &ev);
    // What we read belongs to this call only if the call is still waiting
    // (the pid could otherwise have been recycled).
    if (seccomp_notify_id_valid(listener_, req->id) != 0) return;
    ev.seq = ++seq_;
    if (ev.name == "seccomp" && ev.args[0] == SECCOMP_SET_MODE_FILTER &&
        (ev.args[1] & SECCOMP_FILTER_FLAG_NEW_LISTENER)) {
      ++r_->nested_listener_attempts;
    }

    Verdict v = decide_(ev);
    r_->calls = seq_;
    ++r_->per_syscall[ev.name];
    ++r_->per_verdict[v.kind];

    InflightCall c;
    c.id = req->id;
    c.nr = ev.nr;
    std::memcpy(c.args, args, sizeof(args));
    c.seq = ev.seq;
    c.verdict = v;
    if (opts_.record_trace) {
      c.trace_index = r_->trace.size();
      r_->trace.push_back(TraceEntry{std::move(ev), v, CallOutcome::kContinued, 0});
    } else {
      c.trace_index = SIZE_MAX;
    }
    if (v.kind == Verdict::kDelay && v.delay_ms > 0) {
      c.deadline = Clock::now() + std::chrono::milliseconds(v.delay_ms);
      inflight_.Track(tid, c);
      return;
    }
    if (v.kind == Verdict::kPause && release_fd_ >= 0) {
      c.deadline = Clock::now() + std::chrono::milliseconds(std::max(v.delay_ms, 1));
      inflight_.Track(tid, c);
      SyscallEvent held;
      held.seq = c.seq;
      held.pid = tid;
      held.name = name != names_.end() ? name->second : "syscall_" + std::to_string(c.nr);
      NotePause(held);
      return;
    }
    // Answered at once: tracked only when the answer hits ENOENT, to match
    // the restart that may follow (as Answer does for a tracked call).
    if (v.kind == Verdict::kKill) {
      KillTree();
      SetOutcome(c, CallOutcome::kKilled);
      return;
    }
    CallOutcome o = Respond(resp, c.id, v);
    SetOutcome(c, o);
    if (o == CallOutcome::kGone) {
      c.gone = true;
      inflight_.Track(tid, c);
    }
  }

  const SupervisorOptions& opts_;
  const Decider& decide_;
  int listener_;
  pid_t reaper_;
  SupervisorResult* r_;
  std::unordered_map<int, std::string> names_;
  std::vector<int> root_changing_;  // syscall numbers of RootChangingSyscalls()
  RootCache roots_;
  InflightCalls inflight_;
  uint64_t seq_ = 0;
  bool tree_killed_ = false;  // KillTree ran: no call is decided any more
  std::optional<Error> exec_error_;
  int release_fd_ = -1;         // opts_.pause_release_fd until its EOF
  std::vector<pid_t> paused_;   // threads with a held call, oldest first
};

}  // namespace

Expected<SupervisorResult> RunSupervised(const SupervisorOptions& options,
                                         const Decider& decide) {
  if (options.argv.empty()) {
    return MakeError("seccomp: run supervised", "", EINVAL, "empty argv");
  }
  auto file = FindExecutable(options.argv[0]);
  if (!file) return file.error();
  std::vector<std::string> filtered = options.syscalls;
  if (options.cache_roots) {
    for (const auto& name : RootChangingSyscalls()) {
      if (std::find(filtered.begin(), filtered.end(), name) == filtered.end()) {
        filtered.push_back(name);
      }
    }
  }
  auto prog = BuildNotifyFilter(filtered);
  if (!prog) return prog.error();

  std::vector<std::string> env_strings;
  if (options.env.empty()) {
    for (char** e = environ; e && *e; ++e) env_strings.emplace_back(*e);
  } else {
    env_strings = options.env;
  }
  std::vector<char*> argv = CStrings(options.argv);
  std::vector<char*> envp = CStrings(env_strings);

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return MakeError("seccomp: socketpair", "", errno);
  }
  Fd sock(sv[0]), child_sock(sv[1]);
  int pp[2];
  if (pipe2(pp, O_CLOEXEC) != 0) return MakeError("seccomp: report pipe", "", errno);
  Fd report_r(pp[0]), report_w(pp[1]);

  ChildPlan plan{};
  plan.file = file->c_str();
  plan.argv = argv.data();
  plan.envp = envp.data();
  plan.cwd = options.cwd.empty() ? nullptr : options.cwd.c_str();
  plan.stdio[0] = options.stdin_fd;
  plan.stdio[1] = options.stdout_fd;
  plan.stdio[2] = options.stderr_fd;
  plan.prog.len = static_cast<unsigned short>(prog->size());
  plan.prog.filter = prog->data();
  plan.want_killable = options.wait_killable;
  plan.sock = child_sock.get();

  pid_t self = getpid();
  pid_t reaper = fork();
  if (reaper < 0) return MakeError("seccomp: fork reaper", "", errno);
  if (reaper == 0) {
    close(sock.get());
    close(report_r.get());
    // Never back into the caller's loop, whatever is thrown.
    try {
      RunReaper(plan, report_w.get(), self);
    } catch (...) {
    }
    _exit(70);
  }
  child_sock.reset();
  report_w.reset();

  auto reap_reaper = [&] {
    int st;
    while (waitpid(reaper, &st, 0) < 0 && errno == EINTR) {
    }
  };

  int listener_raw = -1;
  auto hello = ReceiveHello(sock.get(), &listener_raw, reaper);
  Fd listener(listener_raw);
  if (!hello) {
    KillDescendants(reaper, nullptr, 0);
    kill(reaper, SIGKILL);  // our own child: its pid cannot be recycled yet
    reap_reaper();
    return hello.error();
  }

  SupervisorResult result;
  result.target_pid = hello->pid;
  result.wait_killable = hello->wait_killable != 0;
  if (options.sync_wakeup) {
    uint64_t flags = kSyncWakeUp;
    if (ioctl(listener.get(), kIoctlNotifSetFlags, flags) == 0) {
      result.sync_wakeup = true;
    } else {
      spdlog::debug("seccomp: no synchronous wake-up: {}", ErrnoName(errno));
    }
  }
  spdlog::debug("seccomp: target {} ({}) under supervision, wait_killable={}",
                hello->pid, options.argv[0], result.wait_killable);

  // The loop runs before the target may exec: answer the ack only now.
  Loop loop(options, decide, listener.get(), reaper, &result);
  char ack = 1;
  if (send(sock.get(), &ack, 1, MSG_NOSIGNAL) != 1) {
    int err = errno;
    KillDescendants(reaper, nullptr, 0);
    reap_reaper();
    return MakeError("seccomp: ack target", "", err);
  }
  Expected<ReaperReport> report = Error{};
  try {
    report = loop.Run(report_r.get(), sock.get());
  } catch (...) {
    // A throwing Decider: leave nothing running behind us.
    KillDescendants(reaper, nullptr, 0);
    kill(reaper, SIGKILL);
    reap_reaper();
    throw;
  }
  reap_reaper();
  loop.RecordStats();
  if (!report) return report.error();
  if (const Error* e = loop.exec_error()) return *e;

  result.wait_status = report->status;
  result.exited = WIFEXITED(report->status);
  result.exit_code = result.exited ? WEXITSTATUS(report->status) : -1;
  result.signaled = WIFSIGNALED(report->status);
  result.term_signal = result.signaled ? WTERMSIG(report->status) : 0;
  for (int i = 0; i < report->nleft; ++i) {
    result.leftover_pids.push_back(report->left[i]);
  }
  if (!result.leftover_pids.empty()) {
    spdlog::info("seccomp: target {} left {} processes behind; killed them",
                 result.target_pid, result.leftover_pids.size());
  }
  return result;
}

}  // namespace faultline::seccomp
