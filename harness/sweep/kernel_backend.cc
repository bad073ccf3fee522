// The sweep on the real kernel (root). See backend.h for the contract.
//
// Process layout of one run:
//   harness (this process: private mount namespace, child subreaper)
//     `- runtime process (fork): Runtime::Run over CloseReleasesFd ->
//          InitRecorder -> FaultInjectingSys(plan) -> RoleSys -> LinuxSys
//          `- container init (clone, new namespaces): the same Sys chain,
//             copied by clone; its trace goes to shared memory
// The runtime process sends its outcome and trace to the harness over a
// pipe (JSON) and exits; a crash rule makes it SIGKILL itself right there.
// A crash rule in the init asks the harness (a byte on a pipe) to SIGKILL
// the runtime process, so the runtime dies while its init is at that call;
// the init exits once the runtime is gone (faults/init_crash.h, the same
// path as the builtin worker's; its trace so far is in shared memory; the
// runtime's trace of that run is lost with it). Then the harness probes, runs gc in-process
// with faults off, probes again, and, when a run left something gc did not
// remove (a failed point), scrubs the scratch area back to the prepared
// state so that the next run starts from it.
//
// Trace pids are roles (kSweepRuntimePid, kSweepInitPid), mapped from
// getpid() by RoleSys, so plans match the fake backend's. The init's calls
// are listed right after the runtime's clone call.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "harness/probes/tmp_watch.h"
#include "harness/report/report.h"
#include "harness/scenario/runner.h"
#include "faults/init_crash.h"
#include "faults/pause_channel.h"
#include "harness/sweep/common.h"
#include "runtime/image/image_store.h"
#include "runtime/sys/fs_util.h"
#include "runtime/sys/linux_sys.h"
#include "runtime/sys/mountinfo.h"

namespace faultline {
namespace {

using mydocker::MakeError;
using mydocker::Outcome;
using mydocker::Result;
using mydocker::Status;
using namespace sweep_internal;

constexpr int kRunTimeoutSeconds = 60;

// ---- the init's trace, in memory shared with the harness -----------------

struct SharedCall {
  uint64_t seq;
  uint64_t flags;
  int64_t handle;
  int32_t err;
  int32_t rule;
  uint8_t action;
  uint8_t after_crash;
  char op[16];
  char args[232];
  char path[200];
  char path2[200];
  char fstype[16];
};

struct SharedTrace {
  static constexpr uint32_t kMax = 1024;
  std::atomic<uint32_t> count;
  std::atomic<uint32_t> dropped;
  SharedCall calls[kMax];
};

// Copies the init's entries of fis's trace into shared memory, without
// allocating (the init runs between clone and execve). Entries already
// copied are updated in place (their errno is final only once the call
// returned).
class InitTraceWriter {
 public:
  InitTraceWriter(SharedTrace* shm, const FaultInjectingSys* fis) : shm_(shm), fis_(fis) {}

  void Flush() {
    const auto& trace = fis_->trace();
    for (size_t i = first_unseen_; i < trace.size(); ++i) {
      if (trace[i].pid != kSweepInitPid) continue;
      Write(trace[i], i == last_index_ ? last_slot_ : NextSlot(i));
    }
    // The last entry is visited again: its call may not have returned yet.
    if (!trace.empty()) first_unseen_ = trace.size() - 1;
  }
 private:
  uint32_t NextSlot(size_t trace_index) {
    uint32_t slot = shm_->count.load();
    if (slot >= SharedTrace::kMax) {
      shm_->dropped.fetch_add(1);
      return SharedTrace::kMax;
    }
    shm_->count.store(slot + 1);
    last_index_ = trace_index;
    last_slot_ = slot;
    return slot;
  }
  void Write(const TraceEntry& e, uint32_t slot) {
    if (slot >= SharedTrace::kMax) return;
    SharedCall& c = shm_->calls[slot];
    c.seq = e.seq;
    c.err = e.err;
    c.rule = e.rule;
    c.action = static_cast<uint8_t>(e.action);
    c.after_crash = e.after_crash;
    c.flags = e.flags;
    Copy(c.path, sizeof c.path, e.path);
    Copy(c.path2, sizeof c.path2, e.path2);
    Copy(c.fstype, sizeof c.fstype, e.fstype);
    size_t n = std::min(e.op.size(), sizeof c.op - 1);
    memcpy(c.op, e.op.data(), n);
    c.op[n] = 0;
    n = std::min(e.args.size(), sizeof c.args - 1);
    memcpy(c.args, e.args.data(), n);
    c.args[n] = 0;
  }

  static void Copy(char* dst, size_t size, const std::string& src) {
    const size_t n = std::min(src.size(), size - 1);
    memcpy(dst, src.data(), n);
    dst[n] = 0;
  }

  SharedTrace* shm_;
  const FaultInjectingSys* fis_;
  size_t first_unseen_ = 0;
  size_t last_index_ = static_cast<size_t>(-1);  // trace index of last_slot_
  uint32_t last_slot_ = 0;
};

// Below the FaultInjectingSys: names the calling process by its role, and
// flushes the init's trace right before a successful execve would lose it.
class RoleSys : public SysWrapper, public ProcessIdentity {
 public:
  RoleSys(mydocker::Sys& target, pid_t runtime_pid) : SysWrapper(target), runtime_(runtime_pid) {}
  void set_writer(InitTraceWriter* w) { writer_ = w; }
  pid_t CurrentPid() const override {
    return ::getpid() == runtime_ ? kSweepRuntimePid : kSweepInitPid;
  }
  Status Execve(const char* path, char* const argv[], char* const envp[]) override {
    if (writer_ != nullptr && ::getpid() != runtime_) writer_->Flush();
    return SysWrapper::Execve(path, argv, envp);
  }

 private:
  pid_t runtime_;
  InitTraceWriter* writer_ = nullptr;
};

// Above the FaultInjectingSys: in the init, after every call, flushes the
// trace. (A crash rule there: InitCrash, set up in RuntimeProcess.)
class InitRecorder : public SysWrapper {
 public:
  InitRecorder(FaultInjectingSys& fis, InitTraceWriter& writer, pid_t runtime_pid)
      : SysWrapper(fis), writer_(writer), runtime_(runtime_pid) {}

 protected:
  void Intercept(SysCall& call) override {
    if (::getpid() == runtime_) return call.Proceed();
    call.Proceed();
    writer_.Flush();
  }

 private:
  InitTraceWriter& writer_;
  pid_t runtime_;
};

// ---- small helpers --------------------------------------------------------

// The harness's fds in the runtime process sit at this number and up.
constexpr int kHarnessFdBase = 200;

// fd moved to kHarnessFdBase or up (close-on-exec; the old number closed);
// fd itself when that fails.
int MoveFdHigh(int fd) {
  if (fd < 0 || fd >= kHarnessFdBase) return fd;
  const int n = ::fcntl(fd, F_DUPFD_CLOEXEC, kHarnessFdBase);
  if (n < 0) return fd;
  ::close(fd);
  return n;
}

// "<fd> -> <target>" of this process's open fds (raw syscalls: not traced).
std::set<std::string> OwnFds() {
  std::set<std::string> out;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return out;
  const int dfd = ::dirfd(d);
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.' || atoi(e->d_name) == dfd) continue;
    char buf[512];
    std::string path = std::string("/proc/self/fd/") + e->d_name;
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
    if (n < 0) continue;
    buf[n] = 0;
    out.insert(std::string(e->d_name) + " -> " + buf);
  }
  ::closedir(d);
  return out;
}

bool WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

nlohmann::json CallJson(const SweepCall& c) {
  return {{"seq", c.seq},     {"pid", c.pid},       {"op", c.op},
          {"args", c.args},   {"path", c.path},     {"path2", c.path2},
          {"fstype", c.fstype}, {"flags", c.flags}, {"handle", c.handle},
          {"err", c.err},     {"fired", c.fired},   {"after_crash", c.after_crash}};
}
SweepCall CallFromJson(const nlohmann::json& j) {
  SweepCall c;
  c.pid = j.at("pid").get<pid_t>();
  c.op = j.at("op").get<std::string>();
  c.args = j.at("args").get<std::string>();
  c.seq = j.value("seq", uint64_t{0});
  c.path = j.value("path", "");
  c.path2 = j.value("path2", "");
  c.fstype = j.value("fstype", "");
  c.flags = j.value("flags", uint64_t{0});
  c.handle = j.value("handle", int64_t{-1});
  c.err = j.at("err").get<int>();
  c.fired = j.at("fired").get<bool>();
  c.after_crash = j.at("after_crash").get<bool>();
  return c;
}

// Children of this process (we are a subreaper: orphans land here).
std::vector<pid_t> OwnChildren() {
  std::vector<pid_t> out;
  const std::string path = "/proc/self/task/" + std::to_string(::getpid()) + "/children";
  FILE* f = ::fopen(path.c_str(), "r");
  if (f == nullptr) return out;
  long pid = 0;
  while (::fscanf(f, "%ld", &pid) == 1) out.push_back(static_cast<pid_t>(pid));
  ::fclose(f);
  return out;
}

// Reaps exited children; waits up to `patience` for children that are
// already dying (SIGKILLed by pdeathsig) to become reapable.
void ReapChildren(std::chrono::milliseconds patience) {
  auto until = std::chrono::steady_clock::now() + patience;
  for (;;) {
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    if (OwnChildren().empty() || std::chrono::steady_clock::now() >= until) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

class KernelSweepBackend : public SweepBackend {
 public:
  explicit KernelSweepBackend(KernelBackendOptions o) : options_(std::move(o)) {}
  ~KernelSweepBackend() override { Finish(); }

  std::string name() const override { return "kernel"; }

  Outcome Prepare(const SweepWorkload& workload) override {
    if (workload.verbs) {
      return MakeError("sweep: workload", workload.name, ENOTSUP,
                       "the verbs workload runs on the fake backend only");
    }
    if (::geteuid() != 0) {
      return MakeError("sweep: kernel backend", "", EPERM, "needs root");
    }
    if (options_.image_tar.empty()) {
      return MakeError("sweep: kernel backend", "", EINVAL,
                       "no image tar (ci/build-image OUT.tar, then --image-tar OUT.tar)");
    }
    if (::unshare(CLONE_NEWNS) != 0) {
      return MakeError("sweep: unshare mount namespace", "", errno);
    }
    if (::mount("", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      return MakeError("sweep: make / rprivate", "/", errno);
    }
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
      return MakeError("sweep: become child subreaper", "", errno);
    }
    std::string tmpl = mydocker::JoinPath(options_.tmp, "faultline-sweep-XXXXXX");
    if (::mkdtemp(tmpl.data()) == nullptr) {
      return MakeError("sweep: create scratch directory", tmpl, errno);
    }
    scratch_ = tmpl;
    root_ = scratch_ + "/root";
    volumes_ = scratch_ + "/volumes";
    cgroup_parent_ = "faultline-sweep-" + std::to_string(::getpid());
    prepared_ = true;

    mydocker::ImageStore images(sys_, root_);
    auto info = images.Import(options_.image_tar, "busybox");
    if (!info) return info.error();
    MYDOCKER_TRY(mydocker::MkdirAll(sys_, root_ + "/containers", 0700,
                                    "sweep: create state root"));
    // The store lock the first run makes (StateStore::StoreLockPath).
    MYDOCKER_TRY(mydocker::WriteFile(sys_, root_ + "/containers.lock", "", 0600,
                                     "sweep: create store lock"));
    MYDOCKER_TRY(MakeVolumes(sys_, workload, volumes_));
    MYDOCKER_TRY(EnsureCgroupParentDirs(sys_, cgroup_parent_));
    spec_ = SpecFor(workload, volumes_);

    void* mem = ::mmap(nullptr, sizeof(SharedTrace), PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return MakeError("sweep: map shared trace", "", errno);
    shm_ = static_cast<SharedTrace*>(mem);

    scope_.dirs = {root_};
    scope_.dirs_prune = {root_ + "/images"};
    scope_.cgroup_parent = cgroup_parent_;
    scope_.holders = true;
    scope_.fds = false;  // the runtime process checks its own fds
    scope_ = WithHostOutside(std::move(scope_), {scratch_});
    before_ = TakeSnapshot(sys_, scope_);
    if (!before_.errors.empty()) {
      return MakeError("sweep: probe the prepared world", root_, 0, before_.errors.front());
    }
    return Outcome::Ok();
  }

  SweepRun Run(const FaultPlan& plan, bool always_gc) override {
    auto t0 = std::chrono::steady_clock::now();
    SweepRun run;
    if (broken_) {
      run.harness_error = "an earlier run left what the harness could not remove: " + broken_why_;
      return run;
    }
    // Every run starts without the runtime's seccomp cache, as the first
    // did and as every fake run does (a copy of the prepared world): else
    // the clean run (the first) makes six calls the later runs skip, and
    // the truthful-errno rule, which compares a run with the clean run
    // call by call, is off by six after them.
    if (Outcome c = mydocker::RemoveTree(sys_, root_ + "/images/.seccomp",
                                         "sweep: remove the runtime's seccomp cache");
        !c) {
      run.harness_error = c.error().Message();
      return run;
    }
    RunRuntimeProcess(plan, &run);
    if (run.harness_error.empty()) {
      ReapChildren(std::chrono::milliseconds(run.crashed ? 500 : 50));
      Snapshot after = TakeSnapshot(sys_, scope_);
      for (auto& d : Compare(before_, after)) run.left.push_back(std::move(d));
      for (auto& d : fd_diffs_) run.left.push_back(d);
      if (run.crashed || always_gc || !run.left.empty()) {
        mydocker::Runtime gc(sys_, ConfigFor(root_, cgroup_parent_));
        RunGc(gc, &run);
        ReapChildren(std::chrono::milliseconds(500));
        run.left_after_gc = Compare(before_, TakeSnapshot(sys_, scope_));
      }
    }
    if (!run.harness_error.empty() || !run.left_after_gc.empty() ||
        (!run.gc_ran && !run.left.empty())) {
      Scrub();
    }
    run.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return run;
  }

  void Finish() override {
    if (!prepared_) return;
    prepared_ = false;
    Scrub();
    std::vector<std::string> left = RemoveCgroupParent(sys_, cgroup_parent_);
    for (const auto& l : left) spdlog::error("sweep: cgroup left: {}", l);
    DetachMountsUnder(sys_, scratch_);
    if (!options_.keep_scratch) {
      if (auto o = mydocker::RemoveTree(sys_, scratch_, "sweep: remove scratch"); !o) {
        spdlog::error("sweep: {}", o.error().Message());
      }
    }
    if (shm_ != nullptr) ::munmap(shm_, sizeof(SharedTrace));
    shm_ = nullptr;
  }

 private:
  // Forks the runtime process, collects its report.
  void RunRuntimeProcess(const FaultPlan& plan, SweepRun* run) {
    fd_diffs_.clear();
    shm_->count.store(0);
    shm_->dropped.store(0);
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
      run->harness_error = "pipe: " + mydocker::ErrnoName(errno);
      return;
    }
    // The init's crash requests (see InitRecorder): one byte = "kill the
    // runtime now".
    int req[2];
    if (::pipe2(req, O_CLOEXEC) != 0) {
      run->harness_error = "pipe: " + mydocker::ErrnoName(errno);
      ::close(p[0]);
      ::close(p[1]);
      return;
    }
    // A pause action's channel (faults/pause_channel.h): the runtime and
    // its init note a held call on pn, and wait for a byte on pr.
    int pn[2] = {-1, -1}, pr[2] = {-1, -1};
    if (::pipe2(pn, O_CLOEXEC) != 0 || ::pipe2(pr, O_CLOEXEC) != 0) {
      run->harness_error = "pipe: " + mydocker::ErrnoName(errno);
      for (int fd : {p[0], p[1], req[0], req[1], pn[0], pn[1]}) {
        if (fd >= 0) ::close(fd);
      }
      return;
    }
    auto close_pause = [&] {
      for (int* fd : {&pn[0], &pn[1], &pr[0], &pr[1]}) {
        if (*fd >= 0) ::close(*fd);
        *fd = -1;
      }
    };
    // The runtime process is a fork of this one, never back in the sweep
    // loop, forked from one thread (ForkSweepChild).
    auto forked = ForkSweepChild("runtime process", [&]() -> int {
      ::close(p[0]);
      ::close(req[0]);
      ::close(pn[0]);
      ::close(pr[1]);
      RuntimeProcess(plan, p[1], req[1], pn[1], pr[0]);  // does not return
    });
    if (!forked) {
      run->harness_error = forked.error().Message();
      for (int fd : {p[0], p[1], req[0], req[1]}) ::close(fd);
      close_pause();
      return;
    }
    const pid_t pid = *forked;
    ::close(p[1]);
    ::close(req[1]);
    ::close(pn[1]);
    ::close(pr[0]);
    pn[1] = pr[0] = -1;
    std::string text;
    bool timed_out = false;
    bool init_crash = false;
    int req_fd = req[0];
    std::function<void()> after_pause;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kRunTimeoutSeconds);
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) {
        timed_out = true;
        break;
      }
      pollfd pfd[3] = {{p[0], POLLIN, 0}, {req_fd, POLLIN, 0}, {pn[0], POLLIN, 0}};
      int n = ::poll(pfd, 3, static_cast<int>(left));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) continue;
      if (pn[0] >= 0 && (pfd[2].revents & (POLLIN | POLLHUP)) != 0) {
        bool eof = false;
        if (auto note = WaitForPause(pn[0], 1000, &eof)) {
          // A call of the runtime or its init is held: the harness's turn.
          run->paused = true;
          if (options_.on_pause) {
            PauseContext ctx;
            ctx.note = *note;
            ctx.runtime_pid = pid;
            ctx.root = root_;
            ctx.cgroup_parent = cgroup_parent_;
            ctx.scratch = scratch_;
            ctx.container = kSweepId;
            ctx.kind = "builtin";
            after_pause = options_.on_pause(ctx);
          }
          ReleasePause(pr[1]);
        } else {
          ::close(pn[0]);  // every writer gone (or a torn note): no more pauses
          pn[0] = -1;
        }
        continue;
      }
      if (req_fd >= 0 && (pfd[1].revents & (POLLIN | POLLHUP)) != 0) {
        char c = 0;
        if (::read(req_fd, &c, 1) == 1) {
          // The runtime dies while its init is at the crash point.
          ::kill(pid, SIGKILL);
          init_crash = true;
        }
        ::close(req_fd);
        req_fd = -1;
      }
      if ((pfd[0].revents & (POLLIN | POLLHUP)) == 0) continue;
      char buf[65536];
      ssize_t got = ::read(p[0], buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break;
      text.append(buf, static_cast<size_t>(got));
    }
    ::close(p[0]);
    if (req_fd >= 0) ::close(req_fd);
    if (timed_out) ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    close_pause();
    if (after_pause) after_pause();
    if (timed_out) {
      run->harness_error = "the run hung: no result after " +
                           std::to_string(kRunTimeoutSeconds) + " s (runtime process killed)";
      return;
    }
    nlohmann::json j;
    if (init_crash) {
      // Killed mid-run: no report. Only the init's trace is known.
      run->crashed = true;
      j["calls"] = nlohmann::json::array();
    } else {
      try {
        j = nlohmann::json::parse(text);
      } catch (const nlohmann::json::exception& e) {
        run->harness_error = "the runtime process died without a report (" +
                             (WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                                  : "exit " + std::to_string(WEXITSTATUS(status))) +
                             ")";
        return;
      }
      if (j.contains("harness_error")) {
        run->harness_error = j["harness_error"].get<std::string>();
        return;
      }
      run->crashed = j.value("crashed", false);
      if (run->crashed && !(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
        run->harness_error = "the runtime process did not die by SIGKILL after the crash";
      }
    }
    if (j.contains("error")) {
      run->returned_error = true;
      run->error.step = j["error"].value("step", "");
      run->error.path = j["error"].value("path", "");
      run->error.err = j["error"].value("err", 0);
      run->error.detail = j["error"].value("detail", "");
    }
    run->exit_code = j.value("exit_code", 0);
    run->message = j.value("message", "");
    run->id = j.value("id", "");
    for (const auto& c : j["calls"]) run->calls.push_back(CallFromJson(c));
    if (j.contains("fds_appeared") || j.contains("fds_vanished")) {
      ProbeDiff d;
      d.probe = "fds";
      d.appeared = j.value("fds_appeared", std::vector<std::string>{});
      d.vanished = j.value("fds_vanished", std::vector<std::string>{});
      if (!d.appeared.empty() || !d.vanished.empty()) fd_diffs_.push_back(d);
    }
    // The init's calls, right after the runtime's clone.
    std::vector<SweepCall> init;
    const uint32_t n = std::min(shm_->count.load(), SharedTrace::kMax);
    for (uint32_t i = 0; i < n; ++i) {
      const SharedCall& s = shm_->calls[i];
      SweepCall c;
      c.pid = kSweepInitPid;
      c.seq = s.seq;
      c.op = s.op;
      c.args = s.args;
      c.path = s.path;
      c.path2 = s.path2;
      c.fstype = s.fstype;
      c.flags = s.flags;
      c.handle = s.handle;
      c.err = s.err;
      c.fired = s.rule >= 0 && s.action != static_cast<uint8_t>(ActionKind::kNone);
      c.after_crash = s.after_crash != 0;
      init.push_back(std::move(c));
    }
    if (shm_->dropped.load() != 0) {
      run->harness_error = "the init's trace overflowed the shared buffer";
    }
    auto clone_at = std::find_if(run->calls.begin(), run->calls.end(),
                                 [](const SweepCall& c) { return c.op == "clone"; });
    if (clone_at != run->calls.end()) ++clone_at;
    run->calls.insert(clone_at, init.begin(), init.end());
    for (const SweepCall& c : run->calls) run->fired = run->fired || c.fired;
  }

  [[noreturn]] void RuntimeProcess(const FaultPlan& plan, int out_fd, int crash_request_fd,
                                   int pause_note_fd, int pause_release_fd) {
    // A fresh `mydocker run` holds fds 0-2 only: the harness's own fds move
    // to kHarnessFdBase and up and every other fd inherited from the harness
    // closes, so the runtime's fds get the numbers they get on the fake
    // backend (tests/privileged/sweep_traces_test.cc compares the traces).
    out_fd = MoveFdHigh(out_fd);
    crash_request_fd = MoveFdHigh(crash_request_fd);
    pause_note_fd = MoveFdHigh(pause_note_fd);
    pause_release_fd = MoveFdHigh(pause_release_fd);
    if (out_fd >= kHarnessFdBase && crash_request_fd >= kHarnessFdBase &&
        pause_note_fd >= kHarnessFdBase && pause_release_fd >= kHarnessFdBase) {
      ::close_range(3, kHarnessFdBase - 1, 0);
    }
    nlohmann::json j;
    std::set<std::string> fds_before = OwnFds();
    {
      mydocker::LinuxSys linux_sys;
      const pid_t self = ::getpid();
      RoleSys role(linux_sys, self);
      FaultInjectingSys fis(role, plan);
      // The init inherits the channel with the Sys chain across clone.
      fis.set_pauser(PauseChannel(pause_note_fd, pause_release_fd).AsPauser());
      InitTraceWriter writer(shm_, &fis);
      role.set_writer(&writer);
      // A crash rule in the init: the init flushes its trace and asks the
      // harness (crash_request_fd) to SIGKILL this process, then waits for
      // its death (faults/init_crash.h, the builtin worker's path too).
      auto init_crash = InitCrash::Make(crash_request_fd, kHarnessFdBase);
      if (!init_crash) {
        nlohmann::json e;
        e["harness_error"] = init_crash.error().Message();
        WriteAll(out_fd, DumpJson(e));
        ::_exit(0);
      }
      init_crash->Attach(fis, [&writer] { writer.Flush(); });
      InitRecorder recorder(fis, writer, self);
      CloseReleasesFd top(recorder, fis);
      mydocker::Runtime rt(top, ConfigFor(root_, cgroup_parent_));
      SweepRun r;
      bool crashed = false;
      try {
        TakeOutcome(rt.Run(spec_), &r);
      } catch (const Crash&) {
        crashed = true;
      }
      j["crashed"] = crashed;
      if (r.returned_error) {
        j["error"] = {{"step", r.error.step}, {"path", r.error.path}, {"err", r.error.err},
                      {"detail", r.error.detail}};
      }
      j["exit_code"] = r.exit_code;
      j["message"] = r.message;
      j["id"] = r.id;
      nlohmann::json calls = nlohmann::json::array();
      for (const TraceEntry& e : fis.trace()) {
        if (e.pid == kSweepRuntimePid || e.after_crash) calls.push_back(CallJson(ToCall(e)));
      }
      j["calls"] = std::move(calls);
      if (crashed) {
        // Die right there: the report first, then SIGKILL (fds close now).
        WriteAll(out_fd, DumpJson(j));
        ::kill(::getpid(), SIGKILL);
      }
    }
    std::set<std::string> fds_after = OwnFds();
    std::vector<std::string> appeared, vanished;
    std::set_difference(fds_after.begin(), fds_after.end(), fds_before.begin(), fds_before.end(),
                        std::back_inserter(appeared));
    std::set_difference(fds_before.begin(), fds_before.end(), fds_after.begin(), fds_after.end(),
                        std::back_inserter(vanished));
    j["fds_appeared"] = appeared;
    j["fds_vanished"] = vanished;
    WriteAll(out_fd, DumpJson(j));
    ::_exit(0);
  }

  // Back to the prepared world after a run that left something: processes
  // in the cgroup parent (ours) killed, mounts under the scratch detached,
  // the containers' directories and cgroups removed. Marks the backend
  // broken when that does not restore the prepared snapshot.
  void Scrub() {
    if (scratch_.empty()) return;
    auto table = mydocker::ReadMountinfo(sys_, "/proc/self/mountinfo");
    std::vector<std::string> cgdirs;
    if (table) {
      std::set<std::string> seen;
      for (const auto& m : *table) {
        if ((m.fstype != "cgroup" && m.fstype != "cgroup2") || m.root != "/") continue;
        if (!seen.insert(m.target).second) continue;
        const std::string top = mydocker::JoinPath(m.target, cgroup_parent_);
        auto ents = sys_.ReadDir(top);
        if (!ents.ok()) continue;
        for (const auto& e : ents.value) {
          if (e.type != DT_DIR) continue;
          const std::string cg = mydocker::JoinPath(top, e.name);
          cgdirs.push_back(cg);
          if (auto procs = mydocker::ReadFile(sys_, cg + "/cgroup.procs", "read")) {
            std::stringstream ss(*procs);
            long pid;
            while (ss >> pid) ::kill(static_cast<pid_t>(pid), SIGKILL);
          }
        }
      }
    }
    for (pid_t c : OwnChildren()) ::kill(c, SIGKILL);
    ReapChildren(std::chrono::milliseconds(1000));
    DetachMountsUnder(sys_, root_ + "/containers");
    if (auto ents = sys_.ReadDir(root_ + "/containers"); ents.ok()) {
      for (const auto& e : ents.value) {
        (void)mydocker::RemoveTree(sys_, root_ + "/containers/" + e.name, "sweep: scrub");
      }
    }
    for (const auto& cg : cgdirs) {
      for (int i = 0; i < 100 && ::rmdir(cg.c_str()) != 0 && errno == EBUSY; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    if (!prepared_) return;
    Snapshot now = TakeSnapshot(sys_, scope_);
    auto diff = Compare(before_, now);
    // Writes outside the scope were reported by the run that made them; the
    // harness never removes what it did not make on the host, so they do
    // not break the scratch area: later runs compare with the host as it is.
    std::erase_if(diff, [](const ProbeDiff& d) { return d.probe == "outside"; });
    before_.probes["outside"] = now.probes["outside"];
    if (!diff.empty()) {
      broken_ = true;
      broken_why_ = Describe(diff);
      spdlog::error("sweep: the scratch area could not be restored: {}", broken_why_);
    }
  }

  KernelBackendOptions options_;
  mydocker::LinuxSys sys_;
  bool prepared_ = false;
  bool broken_ = false;
  std::string broken_why_;
  std::string scratch_, root_, volumes_, cgroup_parent_;
  mydocker::RunSpec spec_;
  ProbeScope scope_;
  Snapshot before_;
  SharedTrace* shm_ = nullptr;
  std::vector<ProbeDiff> fd_diffs_;
};

}  // namespace

std::unique_ptr<SweepBackend> MakeKernelSweepBackend(KernelBackendOptions options) {
  return std::make_unique<KernelSweepBackend>(std::move(options));
}

}  // namespace faultline
