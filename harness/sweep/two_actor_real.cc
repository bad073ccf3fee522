// The two-actor sweep on the kernel and seccomp backends: see
// two_actor_real.h and docs/sweeps.md ("Two actors on the kernel and
// seccomp backends").
#include "harness/sweep/two_actor_real.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "harness/adapters/process.h"
#include "harness/adapters/profile.h"
#include "harness/probes/tmp_watch.h"
#include "harness/sweep/common.h"
#include "harness/sweep/sweep.h"
#include "runtime/cgroups/cgroups.h"
#include "runtime/image/image_store.h"
#include "runtime/sys/fs_util.h"
#include "runtime/sys/linux_sys.h"
#include "runtime/sys/mountinfo.h"

namespace faultline {
namespace {

using mydocker::Error;
using mydocker::JoinPath;
using namespace sweep_internal;

using Clock = std::chrono::steady_clock;

// B's container name on an OCI runtime (run B on A's bundle).
constexpr const char* kOciSecond = "faultline-sweep-b";

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

ino_t Inode(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// Is the flock on path held by someone? Probed with a non-blocking flock
// of the harness's own (dropped at once). A is held, so nothing races it.
bool LockHeld(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool held = false;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    held = errno == EWOULDBLOCK;
  } else {
    ::flock(fd, LOCK_UN);
  }
  ::close(fd);
  return held;
}

// The inode process pid waits to lock (a "->" line of /proc/locks), or 0.
ino_t WaitingFor(pid_t pid) {
  std::ifstream in("/proc/locks");
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("->") == std::string::npos) continue;
    std::istringstream ss(line);
    std::string num, arrow, kind, adv, mode, owner, dev;
    ss >> num >> arrow >> kind >> adv >> mode >> owner >> dev;
    if (arrow != "->" || owner != std::to_string(pid)) continue;
    const size_t colon = dev.rfind(':');
    if (colon == std::string::npos) continue;
    return static_cast<ino_t>(std::strtoull(dev.c_str() + colon + 1, nullptr, 10));
  }
  return 0;
}

// "<state> <voluntary> <nonvoluntary>" of /proc/PID/status; "" when gone.
std::string SchedState(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line, state, vol, nonvol;
  while (std::getline(in, line)) {
    if (line.rfind("State:", 0) == 0) state = line.substr(6);
    if (line.rfind("voluntary_ctxt_switches:", 0) == 0) vol = line.substr(24);
    if (line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) nonvol = line.substr(27);
  }
  if (state.empty()) return "";
  return state + " " + vol + " " + nonvol;
}

// Waits until process pid sleeps and stays asleep (state S, no context
// switch) for 5 samples 10 ms apart, or is gone; false after timeout.
// A pause in the init holds only the init: its runtime runs on until it
// waits for it, and only then is what A holds a state.
bool WaitUntilAsleep(pid_t pid, std::chrono::milliseconds timeout) {
  const auto until = Clock::now() + timeout;
  std::string last;
  int same = 0;
  while (Clock::now() < until) {
    const std::string now = SchedState(pid);
    if (now.empty()) return true;
    const bool sleeping = now.find("S (sleeping)") != std::string::npos;
    same = sleeping && now == last ? same + 1 : 0;
    if (same >= 5) return true;
    last = now;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// The cgroup mount points of this process's mount table.
std::vector<std::string> CgroupMounts(mydocker::Sys& sys) {
  std::vector<std::string> out;
  if (auto table = mydocker::ReadMountinfo(sys, "/proc/self/mountinfo")) {
    for (const auto& m : *table) {
      if ((m.fstype == "cgroup" || m.fstype == "cgroup2") &&
          std::find(out.begin(), out.end(), m.target) == out.end()) {
        out.push_back(m.target);
      }
    }
  }
  return out;
}

// Members of <hierarchy>/<parent>/<name> in any hierarchy.
std::vector<pid_t> CgroupMembers(const std::vector<std::string>& mounts,
                                 const std::string& parent, const std::string& name) {
  std::vector<pid_t> out;
  for (const auto& m : mounts) {
    std::ifstream in(JoinPath(JoinPath(JoinPath(m, parent), name), "cgroup.procs"));
    long pid;
    while (in >> pid) {
      if (std::find(out.begin(), out.end(), static_cast<pid_t>(pid)) == out.end()) {
        out.push_back(static_cast<pid_t>(pid));
      }
    }
  }
  return out;
}

nlohmann::json ErrorJson(const Error& e) {
  return {{"step", e.step}, {"path", e.path}, {"err", e.err}, {"detail", e.detail}};
}
Error ErrorFromJson(const nlohmann::json& j) {
  Error e;
  e.step = j.value("step", "");
  e.path = j.value("path", "");
  e.err = j.value("err", 0);
  e.detail = j.value("detail", "");
  return e;
}

nlohmann::json SecondJson(const SecondActorRun& b) {
  nlohmann::json j;
  j["returned_error"] = b.returned_error;
  j["error"] = ErrorJson(b.error);
  j["removed"] = b.gc.removed;
  j["skipped"] = b.gc.skipped;
  j["kept"] = b.gc.kept;
  nlohmann::json errs = nlohmann::json::array();
  for (const auto& e : b.gc.errors) errs.push_back(ErrorJson(e));
  j["gc_errors"] = errs;
  j["run_id"] = b.run.id;
  j["run_exit"] = b.run.exit_code;
  j["run_message"] = b.run.message;
  j["a_members"] = b.a_members;
  return j;
}
SecondActorRun SecondFromJson(const nlohmann::json& j) {
  SecondActorRun b;
  b.returned_error = j.value("returned_error", false);
  b.error = ErrorFromJson(j.at("error"));
  b.gc.removed = j.value("removed", std::vector<std::string>{});
  b.gc.skipped = j.value("skipped", std::vector<std::string>{});
  b.gc.kept = j.value("kept", std::vector<std::string>{});
  for (const auto& e : j.at("gc_errors")) b.gc.errors.push_back(ErrorFromJson(e));
  b.run.id = j.value("run_id", "");
  b.run.exit_code = j.value("run_exit", 0);
  b.run.message = j.value("run_message", "");
  b.a_members = j.value("a_members", std::vector<pid_t>{});
  return b;
}

// One interleaving as the hook and the driver share it.
struct Current {
  SecondActor actor = SecondActor::kGc;
  size_t k = 0;
  bool paused = false;
  PauseNote note;
  HeldState held;
  // builtin
  bool b_done = false;
  SecondActorRun b;
  // OCI (and for reports)
  ProcessResult oci;
  std::string oci_err;
  std::string b_argv;
  bool waited = false;
  std::string waited_on;
  std::string harness_error;  // the interleaving proves nothing
  std::string root, cgroup_parent;  // A's (from the PauseContext)
};

// Reads fd to EOF until deadline; false on timeout.
bool ReadAll(int fd, Clock::time_point deadline, std::string* out) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 50)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[8192];
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return true;
    out->append(buf, static_cast<size_t>(r));
  }
}

// ---- builtin (kernel backend) ----------------------------------------------

class BuiltinActor {
 public:
  BuiltinActor(const RealTwoActorConfig& cfg, Current* cur) : cfg_(cfg), cur_(cur) {}

  std::function<void()> OnPause(const PauseContext& ctx) {
    Current& c = *cur_;
    c.paused = true;
    c.note = ctx.note;
    c.root = ctx.root;
    c.cgroup_parent = ctx.cgroup_parent;
    if (ctx.note.pid == kSweepInitPid &&
        !WaitUntilAsleep(ctx.runtime_pid, std::chrono::seconds(cfg_.second_timeout_seconds))) {
      c.harness_error = "A's runtime did not wait for its held init within " +
                        std::to_string(cfg_.second_timeout_seconds) + " s";
      return nullptr;
    }
    const std::string store_lock = JoinPath(ctx.root, "containers.lock");
    const std::string dir = JoinPath(JoinPath(ctx.root, "containers"), ctx.container);
    const std::string container_lock = JoinPath(dir, "lock");
    c.held.store_lock = LockHeld(store_lock);
    c.held.container_lock = LockHeld(container_lock);
    c.held.container_dir = Exists(dir);
    mounts_ = CgroupMounts(sys_);
    c.held.init_in_cgroup = !CgroupMembers(mounts_, ctx.cgroup_parent, ctx.container).empty();
    c.b_argv = ShellJoin(SecondActorArgv(c.actor, SpecFor(cfg_.workload, ctx.scratch + "/volumes")));

    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
      c.harness_error = "second actor: pipe: " + mydocker::ErrnoName(errno);
      return nullptr;
    }
    const mydocker::RunSpec spec = SpecFor(cfg_.workload, ctx.scratch + "/volumes");
    auto forked = ForkSweepChild("second actor", [&]() -> int {
      // The second actor: a process of its own on the same host, the
      // harness's fds closed but its report pipe.
      ::close(p[0]);
      if (::dup3(p[1], 3, O_CLOEXEC) < 0) return 71;
      ::syscall(SYS_close_range, 4U, ~0U, 0U);
      mydocker::LinuxSys sys;
      SecondActorRun r = RunMydockerSecondActor(sys, c.actor, spec, ctx.root, ctx.cgroup_parent);
      r.a_members = CgroupMembers(CgroupMounts(sys), ctx.cgroup_parent, ctx.container);
      const std::string text = SecondJson(r).dump();
      size_t off = 0;
      while (off < text.size()) {
        ssize_t w = ::write(3, text.data() + off, text.size() - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return 73;
        off += static_cast<size_t>(w);
      }
      return 0;
    });
    ::close(p[1]);
    if (!forked) {
      c.harness_error = "second actor: " + forked.error().Message();
      ::close(p[0]);
      return nullptr;
    }
    const pid_t pid = *forked;
    // Until it ends, or waits for a lock A holds.
    const auto deadline = Clock::now() + std::chrono::seconds(cfg_.second_timeout_seconds);
    std::string text;
    for (;;) {
      if (Clock::now() >= deadline) {
        c.harness_error = "second actor " + std::string(SecondActorName(c.actor)) +
                          " neither ended nor waited for a lock within " +
                          std::to_string(cfg_.second_timeout_seconds) + " s while A was held at " +
                          "call " + std::to_string(c.k) + " (" + c.note.op + ")";
        ::kill(pid, SIGKILL);
        Reap(pid);
        ::close(p[0]);
        return nullptr;
      }
      pollfd pf{p[0], POLLIN, 0};
      int n = ::poll(&pf, 1, 20);
      if (n > 0) {
        char buf[8192];
        ssize_t r = ::read(p[0], buf, sizeof buf);
        if (r > 0) {
          text.append(buf, static_cast<size_t>(r));
          continue;
        }
        if (r == 0) break;  // ended
        if (errno != EINTR) break;
        continue;
      }
      if (const ino_t ino = WaitingFor(pid); ino != 0) {
        c.waited = true;
        c.waited_on = ino == Inode(store_lock)        ? "store-lock"
                      : ino == Inode(container_lock) ? "container-lock"
                                                     : "inode " + std::to_string(ino);
        break;
      }
    }
    if (!c.waited) {
      Finish(pid, text);
      ::close(p[0]);
      return [this, ctx] { RestoreImage(ctx.root); };
    }
    // A must go on for it to get the lock: it ends after A's release.
    const int fd = p[0];
    return [this, pid, fd, text, ctx]() mutable {
      const auto until = Clock::now() + std::chrono::seconds(cfg_.second_timeout_seconds);
      if (!ReadAll(fd, until, &text)) {
        cur_->harness_error = "second actor " + std::string(SecondActorName(cur_->actor)) +
                              " did not end within " +
                              std::to_string(cfg_.second_timeout_seconds) +
                              " s after A's release (it waited for " + cur_->waited_on + ")";
        ::kill(pid, SIGKILL);
      }
      ::close(fd);
      Finish(pid, text);
      cur_->b.a_members_known = false;
      RestoreImage(ctx.root);
    };
  }

 private:
  static int Reap(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
  }

  void Finish(pid_t pid, const std::string& text) {
    const int status = Reap(pid);
    try {
      cur_->b = SecondFromJson(nlohmann::json::parse(text));
      cur_->b_done = true;
    } catch (const std::exception&) {
      if (cur_->harness_error.empty()) {
        cur_->harness_error =
            "the second actor's process ended without a report (" +
            (WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                 : "exit " + std::to_string(WEXITSTATUS(status))) +
            ")";
      }
    }
  }

  // image rm removed the prepared image: the next interleaving needs it.
  void RestoreImage(const std::string& root) {
    if (Exists(JoinPath(JoinPath(root, "images"), "busybox"))) return;
    mydocker::ImageStore images(sys_, root);
    if (auto info = images.Import(cfg_.kernel.image_tar, "busybox"); !info) {
      cur_->harness_error = "restore the image image rm removed: " + info.error().Message();
    }
  }

  const RealTwoActorConfig& cfg_;
  Current* cur_;
  mydocker::LinuxSys sys_;
  std::vector<std::string> mounts_;
};

// ---- OCI runtimes (seccomp backend) ----------------------------------------

class OciActor {
 public:
  OciActor(const RealTwoActorConfig& cfg, Current* cur) : cfg_(cfg), cur_(cur) {}

  std::function<void()> OnPause(const PauseContext& ctx) {
    Current& c = *cur_;
    c.paused = true;
    c.note = ctx.note;
    c.held.container_dir = Exists(JoinPath(ctx.root, ctx.container));
    c.held.init_in_cgroup =
        !CgroupMembers(CgroupMounts(sys_), ctx.cgroup_parent, ctx.container).empty();
    std::vector<std::string> argv =
        c.actor == SecondActor::kRmForce
            ? ctx.verb_argv("delete", {"--force", ctx.container})
            : ctx.verb_argv("run", {"--bundle", ctx.bundle, kOciSecond});
    c.b_argv = ShellJoin(argv);
    const std::string out = ctx.scratch + "/work/second.out";
    err_path_ = ctx.scratch + "/work/second.err";
    SpawnOptions so;
    so.argv = argv;
    so.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
              "TMPDIR=" + ctx.scratch + "/tmp"};
    so.stdout_path = out;
    so.stderr_path = err_path_;
    std::string error;
    const pid_t pid = Spawn(so, &error);
    if (pid < 0) {
      c.harness_error = "second actor: " + c.b_argv + ": " + error;
      return nullptr;
    }
    // Until it ends; one still running when the time is up (it waits for
    // A?) ends after A's release.
    const auto t0 = Clock::now();
    const auto deadline = t0 + std::chrono::seconds(cfg_.second_timeout_seconds);
    while (Clock::now() < deadline) {
      int status = 0;
      const pid_t w = ::waitpid(pid, &status, WNOHANG);
      if (w == pid) {
        ReleasePid(pid);
        c.oci.started = true;
        c.oci.status = status;
        c.oci.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        c.oci.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        c.oci_err = ReadTextFile(err_path_);
        return nullptr;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    c.waited = true;
    c.waited_on = "A (still running " + std::to_string(cfg_.second_timeout_seconds) +
                  " s after it started)";
    return [this, pid] {
      cur_->oci = WaitFor(pid, cfg_.second_timeout_seconds);
      cur_->oci_err = ReadTextFile(err_path_);
    };
  }

 private:
  const RealTwoActorConfig& cfg_;
  Current* cur_;
  mydocker::LinuxSys sys_;
  std::string err_path_;
};

std::string Trim(std::string t) {
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  if (t.size() > 600) t = "..." + t.substr(t.size() - 600);
  return t;
}

FaultPlan PausePlan(const SweepCall& c, uint64_t nth, int pause_ms) {
  Rule r;
  r.match.ops = {c.op};
  r.match.pid = c.pid;
  r.when.kind = When::Kind::kNth;
  r.when.nth = nth;
  r.action.kind = ActionKind::kPause;
  r.action.pause_ms = pause_ms;
  r.times = Times::kOnce;
  return FaultPlan({r});
}

// The OCI outcome of the second actor: "deleted", "no-such-container",
// "delete-refuses", "run-runs", "run-refuses"; "" when none (a hang, a
// signal, a failure that says nothing).
std::string OciSecondOutcome(SecondActor a, const ProcessResult& p, const std::string& err,
                             const std::vector<std::string>& not_found) {
  if (p.timed_out || !p.started) return "";
  const bool has_message = !Trim(err).empty() && err.find("%!") == std::string::npos;
  if (a == SecondActor::kRmForce) {
    if (p.exit_code == 0) return "deleted";
    if (p.exit_code > 128 || !has_message) return "";
    for (const auto& nf : not_found) {
      if (err.find(nf) != std::string::npos) return "no-such-container";
    }
    return "delete-refuses";
  }
  if (p.exit_code == 0) return "run-runs";
  if (p.exit_code > 128 || !has_message) return "";
  return "run-refuses";
}

}  // namespace

std::vector<SecondActor> ApplicableSecondActors(const std::string& kind) {
  if (kind == "builtin") return AllSecondActors();
  if (kind == "oci") return {SecondActor::kRmForce, SecondActor::kRun};
  return {};
}

TwoActorReport RunRealTwoActorSweep(const RealTwoActorConfig& config_in) {
  const auto t0 = Clock::now();
  RealTwoActorConfig cfg = config_in;
  TwoActorReport report;
  report.workload = cfg.workload.name;
  auto finish = [&]() -> TwoActorReport {
    report.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return report;
  };
  const bool kernel = cfg.backend == "kernel";
  if (!kernel && cfg.backend != "seccomp") {
    report.errors.push_back("two-actor sweep: backend " + cfg.backend +
                            ": want kernel or seccomp (fake: RunTwoActorSweep)");
    return finish();
  }
  std::string kind = "builtin";
  RuntimeProfile profile;
  if (!kernel) {
    ScenarioError err;
    std::vector<std::string> search = cfg.seccomp.profile_search;
    if (search.empty()) search = ProfileSearchPath();
    auto p = FindProfile(cfg.seccomp.runtime, search, &err);
    if (!p) {
      report.errors.push_back("two-actor sweep: runtime profile " + cfg.seccomp.runtime + ": " +
                              err.Message());
      return finish();
    }
    profile = *p;
    kind = profile.kind;
  }
  report.backend = kernel ? "kernel" : "seccomp/" + cfg.seccomp.runtime;
  const std::vector<SecondActor> applicable = ApplicableSecondActors(kind);
  if (applicable.empty()) {
    report.errors.push_back("two-actor sweep: runtime " + cfg.seccomp.runtime + " (kind " + kind +
                            "): not built (builtin on --backend kernel, runc/crun on seccomp)");
    return finish();
  }
  if (cfg.actors.empty()) cfg.actors = applicable;
  for (SecondActor a : cfg.actors) {
    if (std::find(applicable.begin(), applicable.end(), a) == applicable.end()) {
      report.errors.push_back(std::string("two-actor sweep: second actor ") + SecondActorName(a) +
                              " does not apply to " + report.backend +
                              (kind == "oci" ? " (an OCI runtime has no gc and no image store: "
                                               "rm-f and run apply)"
                                             : ""));
    }
    report.actors.push_back(SecondActorName(a));
  }
  if (!report.errors.empty()) return finish();
  if (cfg.replay_prefix.empty()) {
    cfg.replay_prefix = kernel ? "faultline sweep --backend kernel"
                               : "faultline sweep --backend seccomp --runtime " +
                                     cfg.seccomp.runtime;
  }
  if (cfg.shard.sharded()) report.shard = cfg.shard.ToString();

  Current cur;
  BuiltinActor builtin(cfg, &cur);
  OciActor oci(cfg, &cur);
  std::unique_ptr<SweepBackend> backend;
  if (kernel) {
    KernelBackendOptions o = cfg.kernel;
    o.on_pause = [&](const PauseContext& ctx) { return builtin.OnPause(ctx); };
    backend = MakeKernelSweepBackend(o);
  } else {
    SeccompBackendOptions o = cfg.seccomp;
    o.on_pause = [&](const PauseContext& ctx) { return oci.OnPause(ctx); };
    o.extra_containers = {kOciSecond};
    // The pause and the second actor add to a run's time.
    o.run_timeout_seconds = std::max(o.run_timeout_seconds, 3 * cfg.second_timeout_seconds + 15);
    backend = MakeSeccompSweepBackend(o);
  }
  if (auto o = backend->Prepare(cfg.workload); !o) {
    report.errors.push_back("prepare: " + o.error().Message());
    return finish();
  }
  // A's clean run: its calls are the points.
  SweepRun clean = backend->Run(FaultPlan{}, false);
  if (!clean.harness_error.empty() || clean.returned_error || clean.hung ||
      (!kernel && clean.exit_code != 0)) {
    report.errors.push_back("the clean run failed: " +
                            (!clean.harness_error.empty() ? clean.harness_error
                             : clean.returned_error       ? clean.error.Message()
                                                          : "exit " +
                                                                std::to_string(clean.exit_code) +
                                                                ": " + clean.message));
    backend->Finish();
    return finish();
  }
  if (!clean.left.empty()) {
    report.errors.push_back("the clean run left: " + Describe(clean.left));
    backend->Finish();
    return finish();
  }
  report.points = clean.calls.size();
  report.planned = report.points * cfg.actors.size();
  std::vector<size_t> points;
  if (cfg.only_point) {
    if (*cfg.only_point < 1 || *cfg.only_point > clean.calls.size()) {
      report.errors.push_back("point " + std::to_string(*cfg.only_point) +
                              " does not exist: the clean run has " +
                              std::to_string(clean.calls.size()) + " calls");
      backend->Finish();
      return finish();
    }
    points.push_back(*cfg.only_point);
  } else {
    for (size_t k = 1; k <= clean.calls.size(); ++k) {
      if (cfg.shard.Has(k - 1)) points.push_back(k);
    }
  }

  for (size_t k : points) {
    const SweepCall& call = clean.calls[k - 1];
    uint64_t nth = 0;
    for (size_t i = 0; i < k; ++i) {
      nth += clean.calls[i].pid == call.pid && clean.calls[i].op == call.op;
    }
    const FaultPlan plan = PausePlan(call, nth, cfg.pause_ms);
    for (SecondActor actor : cfg.actors) {
      cur = Current{};
      cur.actor = actor;
      cur.k = k;
      TwoActorResult res;
      res.point = k;
      res.actor = actor;
      res.point_id = PointId(call.pid, call.op, nth, call.args);
      res.process = call.pid == kSweepRuntimePid ? "runtime" : "init";
      res.op = call.op;
      res.args = call.args;
      res.replay = cfg.replay_prefix + " --second-actor " + SecondActorName(actor) +
                   " --point " + std::to_string(k) + " " + cfg.workload.source;
      SweepRun a = backend->Run(plan, false);
      res.hold_fired = cur.paused && a.paused;
      res.held = cur.held;
      res.waited = cur.waited;
      res.waited_on = cur.waited_on;
      res.left = Describe(a.left);
      res.gc_ran = a.gc_ran;
      res.left_after_gc = Describe(a.left_after_gc);
      if (!a.harness_error.empty()) res.failures.push_back("harness: " + a.harness_error);
      if (!cur.harness_error.empty()) res.failures.push_back("harness: " + cur.harness_error);
      if (a.hung) res.failures.push_back("A hung: " + a.hang_state);
      if (!res.hold_fired) {
        res.failures.push_back("A never reached its call " + std::to_string(k) + " (" + call.op +
                               ")");
      }
      if (a.returned_error) {
        res.a_outcome = "error: " + a.error.Message();
      } else {
        res.a_outcome = "exit " + std::to_string(a.exit_code) +
                        (a.message.empty() ? "" : " (" + Trim(a.message) + ")");
      }

      if (kernel && res.hold_fired && cur.b_done) {
        res.second_outcome = cur.b.Text(actor);
        std::string final_allowed;
        if (cur.held.store_lock) {
          // On Linux the actor waits: it must have, for the store lock, and
          // then done what it may do once A let go of it.
          if (!cur.waited || cur.waited_on != "store-lock") {
            res.failures.push_back("A held the store lock but the second actor " +
                                   std::string(cur.waited ? "waited for " + cur.waited_on
                                                          : "did not wait") +
                                   "; it did: " + res.second_outcome);
          } else {
            // A past its locked section: running (its container lock
            // and directory), or gone.
            HeldState running, gone;
            running.container_lock = running.container_dir = true;
            for (const HeldState& h : {running, gone}) {
              const std::string name = TwoActorAllowed(actor, h);
              if (final_allowed.empty() && !name.empty() &&
                  CheckSecondActor(actor, name, cur.b, cur.root).empty()) {
                final_allowed = name;
              }
            }
            res.allowed = "waits-for-store-lock";
            if (final_allowed.empty()) {
              res.failures.push_back("second actor " + std::string(SecondActorName(actor)) +
                                     " waited for the store lock, then did what no state of A "
                                     "allows: " + res.second_outcome);
            } else {
              res.allowed += " then " + final_allowed;
            }
          }
        } else if (cur.waited) {
          res.failures.push_back("the second actor waited for " + cur.waited_on +
                                 " though A did not hold the store lock; it did: " +
                                 res.second_outcome);
        } else {
          res.allowed = TwoActorAllowed(actor, cur.held);
          final_allowed = res.allowed;
          if (res.allowed.empty()) {
            res.failures.push_back("no second-actor outcome is allowed while A holds " +
                                   cur.held.Text() + "; it did: " + res.second_outcome);
          } else if (std::string why = CheckSecondActor(actor, res.allowed, cur.b, cur.root);
                     !why.empty()) {
            res.failures.push_back("second actor " + std::string(SecondActorName(actor)) + " (" +
                                   res.allowed + "): " + why + "; it did: " + res.second_outcome);
          }
        }
        const bool init_known = !cur.waited ? cur.held.init_in_cgroup : true;
        res.a_allowed = a.harness_error.empty()
                            ? AOutcomeAllowed(actor, final_allowed, init_known, a, clean.exit_code,
                                              cur.root, cur.cgroup_parent)
                            : "";
        if (res.a_allowed.empty()) {
          res.failures.push_back("A's outcome is neither the clean run's nor one the second "
                                 "actor explains: " + res.a_outcome);
        }
        if (!a.left.empty()) {
          const bool gc_promised =
              a.returned_error && a.error.Message().find("mydocker gc") != std::string::npos;
          if (!gc_promised) {
            res.failures.push_back("left after A's and the second actor's end (A's outcome "
                                   "promised no gc): " + res.left);
          } else if (!a.left_after_gc.empty()) {
            res.failures.push_back("left after gc: " + res.left_after_gc);
          }
        }
      } else if (!kernel && res.hold_fired) {
        res.second_outcome = "exit " + std::to_string(cur.oci.exit_code) +
                             (cur.oci.timed_out ? " (killed: timed out)" : "") +
                             (Trim(cur.oci_err).empty() ? "" : ": " + Trim(cur.oci_err));
        res.allowed = OciSecondOutcome(actor, cur.oci, cur.oci_err, profile.not_found);
        if (res.allowed.empty()) {
          res.failures.push_back("second actor " + cur.b_argv +
                                 ": neither success nor a clear error: " + res.second_outcome);
        }
        // A: the clean run's status, or a clear error (its stderr says
        // something), or killed by the delete.
        const bool killed_by_delete = actor == SecondActor::kRmForce && res.allowed == "deleted" &&
                                      a.exit_code == 128 + SIGKILL;
        if (a.hung) {
          res.a_allowed = "";
        } else if (a.exit_code == clean.exit_code) {
          res.a_allowed = "as-clean-run";
        } else if (killed_by_delete) {
          res.a_allowed = "killed-by-delete";
        } else if (!Trim(a.message).empty() && a.message.find("%!") == std::string::npos) {
          // A Go format error ("%!w(<nil>)") in place of the cause is no
          // clear error: it names nothing.
          res.a_allowed = "clear-error";
        }
        if (res.a_allowed.empty()) {
          res.failures.push_back("A's outcome is neither the clean run's, nor a clear error, nor "
                                 "a kill by the delete: " + res.a_outcome);
        }
        if (!a.left.empty()) {
          if (!a.gc_errors.empty()) {
            std::string e;
            for (const auto& x : a.gc_errors) e += (e.empty() ? "" : "; ") + x;
            res.failures.push_back("the cleanup failed: " + e);
          }
          if (!a.left_after_gc.empty()) {
            res.failures.push_back("left after A's and B's end and the runtime's cleanup "
                                   "(delete -f of both): " + res.left_after_gc);
          } else if (!res.a_allowed.empty()) {
            res.a_allowed += " (left " + res.left + "; cleaned by delete -f)";
          }
        }
      }
      res.passed = res.failures.empty();
      if (cfg.verbose || !res.passed) {
        spdlog::info("two-actor {} point {} {} {}: {}", report.backend, k, call.op,
                     SecondActorName(actor), res.passed ? "passed" : res.failures.front());
      }
      report.results.push_back(std::move(res));
    }
  }
  backend->Finish();
  report.interleavings = report.results.size();
  for (const TwoActorResult& r : report.results) {
    (r.passed ? report.passed : report.failed) += 1;
    const std::string actor = SecondActorName(r.actor);
    ++report.outcomes[actor + " " + (r.allowed.empty() ? "(none)" : r.allowed)];
    std::string a = r.a_allowed.empty() ? "(none)" : r.a_allowed;
    if (const size_t paren = a.find(" (left "); paren != std::string::npos) {
      a = a.substr(0, paren) + " +cleaned";
    }
    ++report.outcomes[actor + " a:" + a];
  }
  return finish();
}

}  // namespace faultline
