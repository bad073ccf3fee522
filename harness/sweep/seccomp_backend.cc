// The sweep on a runtime binary under the seccomp supervisor (root). See
// backend.h (SeccompBackendOptions) for the contract: what counts as a point,
// what one run does, what is probed.
//
// Process layout of one run:
//   harness (this process: private mount namespace; the supervisor loop runs
//   on the sweep's thread)
//     `- reaper (the supervisor's subreaper)
//          `- runtime binary, its helpers and the container: one filter, one
//             listener, one counter for the whole tree
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "harness/adapters/adapter.h"
#include "harness/adapters/process.h"
#include "harness/adapters/profile.h"
#include "harness/oci/bundle.h"
#include "harness/scenario/runner.h"
#include "harness/seccomp/supervisor.h"
#include "harness/sweep/common.h"
#include "runtime/image/image_store.h"
#include "runtime/sys/fs_util.h"
#include "runtime/sys/linux_sys.h"
#include "runtime/sys/mountinfo.h"

namespace faultline {
namespace {

using mydocker::JoinPath;
using mydocker::MakeError;
using mydocker::Outcome;
using seccomp::SyscallEvent;
using seccomp::Verdict;
using namespace sweep_internal;

// The container name (runc/crun id, mydocker --name) of every run.
constexpr const char* kContainerName = "faultline-sweep";
constexpr uint64_t kCloneThread = CLONE_THREAD;
constexpr size_t kMessageMax = 2000;


// The tail of a runtime's stderr: its error, without the noise before it.
std::string MessageOf(const std::string& err_text) {
  std::string t = err_text;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  if (t.size() > kMessageMax) t = "..." + t.substr(t.size() - kMessageMax);
  return t;
}

std::string Comm(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string c;
  std::getline(in, c);
  return c.empty() ? "?" : c;
}

// One call as the sweep lists it: "runc:[2:INIT] 1234: mount /proc <- proc
// fstype=proc flags=0xe".
std::string DescribeCall(const SyscallEvent& ev) {
  std::string s = Comm(ev.pid) + " " + std::to_string(ev.pid) + ": " + ev.name;
  if (!ev.path.empty()) s += " " + ev.path;
  if (!ev.path2.empty()) s += " <- " + ev.path2;
  if (!ev.fstype.empty()) s += " fstype=" + ev.fstype;
  if (ev.flags != 0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, " flags=0x%llx", static_cast<unsigned long long>(ev.flags));
    s += buf;
  }
  return s;
}

// Files a runtime may make outside its state root (its profile's
// temp_paths: crun clones its own binary into a bind mount at
// /tmp/crun.XXXXXX and does not read TMPDIR) are probed by name.
using TempPrefixes = std::vector<std::pair<std::string, std::string>>;  // {dir, name prefix}

std::set<std::string> SharedTmpEntries(mydocker::Sys& sys, const TempPrefixes& prefixes) {
  std::set<std::string> out;
  for (const auto& [dir, prefix] : prefixes) {
    auto ents = sys.ReadDir(dir);
    if (!ents.ok()) continue;
    for (const auto& e : ents.value) {
      if (e.name.rfind(prefix, 0) == 0) out.insert(JoinPath(dir, e.name));
    }
  }
  return out;
}

class SeccompSweepBackend : public SweepBackend {
 public:
  explicit SeccompSweepBackend(SeccompBackendOptions o) : options_(std::move(o)) {}
  ~SeccompSweepBackend() override { Finish(); }

  std::string name() const override { return "seccomp"; }

  Outcome Prepare(const SweepWorkload& workload) override {
    if (workload.verbs) {
      return MakeError("sweep: workload", workload.name, ENOTSUP,
                       "the verbs workload runs on the fake backend only");
    }
    const std::string& rt = options_.runtime;
    const std::string step = "sweep: seccomp backend (" + rt + ")";
    if (rt != "custom") {
      ScenarioError err;
      std::vector<std::string> search = options_.profile_search;
      if (search.empty()) search = ProfileSearchPath();
      auto p = FindProfile(rt, search, &err);
      if (!p) return MakeError(step + ": runtime profile", rt, ENOENT, err.Message());
      profile_ = *p;
      kind_ = profile_.kind;
      if (kind_ == "none") {
        return MakeError(step + ": runtime profile", profile_.file, EINVAL,
                         "kind: none (differences only) has no binary to sweep");
      }
      if (kind_ == "oci" && !profile_.HasVerb("run")) {
        return MakeError(step + ": runtime profile", profile_.file, EINVAL,
                         "the seccomp sweep drives the verb 'run', which the profile does not list");
      }
    }
    if (::geteuid() != 0) return MakeError(step, "", EPERM, "needs root");
    binary_ = options_.binary;
    if (binary_.empty() && kind_ == "oci") binary_ = ResolveProfileBinary(profile_, "");
    if (binary_.empty() && kind_ == "mydocker" && profile_.binary != "mydocker") {
      binary_ = ResolveProfileBinary(profile_, "");
    }
    temp_prefixes_ = profile_.SharedTempPrefixes();
    // The runtime runs in the scratch's work directory: a relative path
    // must not change its meaning.
    if (!binary_.empty()) binary_ = std::filesystem::absolute(binary_).lexically_normal().string();
    if (rt != "custom") {
      if (binary_.empty()) return MakeError(step + ": find the binary", rt, ENOENT, "not installed");
      if (::access(binary_.c_str(), X_OK) != 0) {
        return MakeError(step + ": find the binary", binary_, errno);
      }
      if (options_.image_tar.empty()) {
        return MakeError(step, "", EINVAL, "no image tar (ci/build-image OUT.tar)");
      }
    } else if (options_.custom_run.empty()) {
      return MakeError(step, "", EINVAL, "a custom runtime needs its run command");
    }
    if (::unshare(CLONE_NEWNS) != 0) return MakeError(step + ": unshare mount namespace", "", errno);
    if (::mount("", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      return MakeError(step + ": make / rprivate", "/", errno);
    }
    std::string tmpl = JoinPath(options_.tmp, "faultline-sweep-XXXXXX");
    if (::mkdtemp(tmpl.data()) == nullptr) {
      return MakeError(step + ": create scratch directory", tmpl, errno);
    }
    scratch_ = tmpl;
    state_ = scratch_ + "/state";
    work_ = scratch_ + "/work";
    bundle_ = scratch_ + "/bundle";
    tmpdir_ = scratch_ + "/tmp";
    cgroup_parent_ = "faultline-sweep-" + std::to_string(::getpid());
    prepared_ = true;
    for (const auto& d : {state_, work_, tmpdir_}) {
      MYDOCKER_TRY(mydocker::MkdirAll(sys_, d, 0700, step + ": create directory"));
    }
    MYDOCKER_TRY(MakeVolumes(sys_, workload, scratch_ + "/volumes"));
    MYDOCKER_TRY(EnsureCgroupParentDirs(sys_, cgroup_parent_));

    ContainerRequest req;
    req.id = kContainerName;
    req.argv = workload.argv;
    req.env = workload.env;
    req.hostname = workload.hostname;
    req.limits = workload.limits;
    req.volumes = SpecFor(workload, scratch_ + "/volumes").volumes;
    // TMPDIR too: crun puts its clone of its own binary there.
    scope_.dirs = {state_, tmpdir_};
    scope_.cgroup_parent = cgroup_parent_;
    scope_.holders = true;
    scope_.fds = true;
    scope_ = WithHostOutside(std::move(scope_), {scratch_});
    // The profile's temp_paths (crun's /tmp/crun.*): the tmp probe below
    // checks those by name.
    for (std::string& g : profile_.SharedTempGlobs()) scope_.outside_ignore.push_back(std::move(g));
    if (kind_ == "mydocker") {
      mydocker::ImageStore images(sys_, state_);
      auto info = images.Import(options_.image_tar, "busybox");
      if (!info) return info.error();
      MYDOCKER_TRY(mydocker::MkdirAll(sys_, state_ + "/containers", 0700, step + ": create state"));
      MYDOCKER_TRY(mydocker::WriteFile(sys_, state_ + "/containers.lock", "", 0600,
                                       step + ": create store lock"));
      scope_.dirs_prune = {state_ + "/images"};
      run_argv_ = {binary_, "--root", state_, "--cgroup-parent", cgroup_parent_};
      cleanup_argv_ = run_argv_;
      for (auto& a : MydockerRunArgs(req)) run_argv_.push_back(std::move(a));
      cleanup_argv_.push_back("gc");
      cleanup_hint_ = "mydocker gc";
    } else if (kind_ == "oci") {
      mydocker::ImageStore images(sys_, scratch_ + "/images");
      auto info = images.Import(options_.image_tar, "busybox");
      if (!info) return info.error();
      layer_ = info->rootfs;
      scope_.dirs_persistent = profile_.PersistentPaths(state_);
      if (profile_.hide_unified_controllers) {
        std::string hidden;
        MYDOCKER_TRY(HideUnifiedControllers(sys_, work_ + "/empty-controllers", &hidden));
        if (!hidden.empty()) spdlog::info("{}: hid unified controllers '{}'", rt, hidden);
      }
      oci_.argv = req.argv;
      oci_.env = req.env;
      oci_.hostname = req.hostname.empty() ? req.id : req.hostname;
      oci_.cgroups_path = "/" + cgroup_parent_ + "/" + kContainerName;
      oci_.limits = req.limits;
      oci_.volumes = req.volumes;
      oci_.cap_bounding = SelfCapBounding();
      run_argv_ = profile_.VerbArgv(binary_, "run", {{"root", state_}},
                                    {"--bundle", bundle_, kContainerName});
      // No cleanup hint: an OCI runtime's error need not name its own
      // cleanup (mydocker's must say `mydocker gc`).
      cleanup_argv_ = profile_.CleanupArgv(binary_, {{"root", state_}, {"id", kContainerName}});
    } else {
      run_argv_ = Substitute(options_.custom_run);
      cleanup_argv_ = Substitute(options_.custom_cleanup);
    }
    before_ = TakeSnapshot(sys_, scope_);
    tmp_before_ = SharedTmpEntries(sys_, temp_prefixes_);
    if (!before_.errors.empty()) {
      return MakeError(step + ": probe the prepared world", state_, 0, before_.errors.front());
    }
    syscalls_ = options_.syscalls;
    if (syscalls_.empty()) {
      syscalls_ = seccomp::DefaultSyscalls();
      syscalls_.push_back("write");
    }
    cgroup_mounts_.clear();
    if (auto table = mydocker::ReadMountinfo(sys_, "/proc/self/mountinfo")) {
      for (const auto& m : *table) {
        if (m.fstype == "cgroup" || m.fstype == "cgroup2") cgroup_mounts_.push_back(m.target);
      }
    }
    return Outcome::Ok();
  }

  SweepRun Run(const FaultPlan& plan_in, bool always_gc) override {
    auto t0 = std::chrono::steady_clock::now();
    SweepRun run;
    run.external = true;
    run.cleanup_hint = cleanup_hint_;
    run.strict_errno = kind_ == "mydocker";
    if (broken_) {
      run.harness_error = "an earlier run left what the harness could not remove: " + broken_why_;
      return run;
    }
    if (kind_ == "mydocker") {
      // Every run starts without mydocker's seccomp cache (as the kernel
      // backend's runs: the clean run's calls line up with every run's).
      if (Outcome c = mydocker::RemoveTree(sys_, state_ + "/images/.seccomp",
                                           "sweep: remove the runtime's seccomp cache");
          !c) {
        run.harness_error = c.error().Message();
        return run;
      }
    }
    if (!layer_.empty()) {
      auto b = CreateBundle(sys_, bundle_, layer_, oci_);
      if (!b) {
        run.harness_error = "bundle: " + b.error().Message();
        Scrub();
        return run;
      }
    }
    FaultPlan plan = plan_in;
    plan.Reset();
    Supervise(plan, &run);
    if (!layer_.empty()) {
      // A mount the runtime left inside the rootfs keeps the overlay busy:
      // the mounts probe then shows both.
      if (auto o = DestroyBundle(sys_, bundle_); !o) {
        spdlog::debug("sweep: bundle teardown: {}", o.error().Message());
      }
    }
    if (run.harness_error.empty()) {
      Snapshot after = TakeSnapshot(sys_, scope_);
      for (auto& d : Compare(before_, after)) run.left.push_back(std::move(d));
      if (auto d = SharedTmpDiff(); !d.appeared.empty()) run.left.push_back(std::move(d));
      if (!leftover_pids_.empty()) run.left.push_back(leftover_pids_.front());
      if (run.crashed || run.hung || always_gc || !run.left.empty()) {
        Cleanup(&run);
        run.left_after_gc = Compare(before_, TakeSnapshot(sys_, scope_));
        if (auto d = SharedTmpDiff(); !d.appeared.empty()) run.left_after_gc.push_back(d);
      }
    }
    if (!run.harness_error.empty() || !run.left_after_gc.empty() ||
        (!run.gc_ran && !run.left.empty())) {
      Scrub();
    }
    run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return run;
  }

  void Finish() override {
    if (!prepared_) return;
    prepared_ = false;
    Scrub();
    for (const auto& l : RemoveCgroupParent(sys_, cgroup_parent_)) {
      spdlog::error("sweep: cgroup left: {}", l);
    }
    DetachMountsUnder(sys_, scratch_);
    if (!options_.keep_scratch) {
      if (auto o = mydocker::RemoveTree(sys_, scratch_, "sweep: remove scratch"); !o) {
        spdlog::error("sweep: {}", o.error().Message());
      }
    }
  }

 private:
  std::vector<std::string> Substitute(const std::vector<std::string>& argv) const {
    std::vector<std::string> out;
    for (std::string a : argv) {
      for (const auto& [key, value] : {std::pair<std::string, std::string>{"{scratch}", scratch_},
                                       {"{state}", state_}}) {
        for (size_t at = a.find(key); at != std::string::npos; at = a.find(key, at + value.size())) {
          a.replace(at, key.size(), value);
        }
      }
      out.push_back(std::move(a));
    }
    return out;
  }

  // The runtime's argv for `verb operands...` (a second actor's command).
  std::vector<std::string> VerbArgv(const std::string& verb,
                                    const std::vector<std::string>& operands) const {
    if (kind_ == "oci") return profile_.VerbArgv(binary_, verb, {{"root", state_}}, operands);
    std::vector<std::string> argv = {binary_, "--root", state_, "--cgroup-parent",
                                     cgroup_parent_, verb};
    argv.insert(argv.end(), operands.begin(), operands.end());
    return argv;
  }

  // Is this call a point of the sweep (backend.h)?
  bool InScope(const SyscallEvent& ev) const {
    const std::string& n = ev.name;
    if (n == "seccomp") return false;
    if (n == "clone" || n == "clone3" || n == "fork" || n == "vfork") {
      return (ev.flags & kCloneThread) == 0;
    }
    if (n == "open" || n == "openat" || n == "openat2" || n == "write") {
      const std::string& p = ev.host_path.empty() ? ev.path : ev.host_path;
      // Not the harness's own files (the runtime's stdout and stderr): a
      // runtime that cannot print its error is no finding.
      if (Under(p, work_)) return false;
      if (Under(p, scratch_)) return true;
      for (const auto& cg : cgroup_mounts_) {
        if (Under(p, cg)) return true;
      }
      return false;
    }
    return true;
  }

  void Supervise(FaultPlan& plan, SweepRun* run) {
    const std::string out_path = work_ + "/run.out", err_path = work_ + "/run.err";
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    auto close_all = [&] {
      for (int fd : {out, err, in}) {
        if (fd >= 0) ::close(fd);
      }
    };
    if (out < 0 || err < 0 || in < 0) {
      run->harness_error = "open the run's output files in " + work_ + ": " +
                           mydocker::ErrnoName(errno);
      close_all();
      return;
    }
    seccomp::SupervisorOptions so;
    so.argv = run_argv_;
    so.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
              "TMPDIR=" + tmpdir_};
    so.syscalls = syscalls_;
    so.cwd = work_;
    so.stdin_fd = in;
    so.stdout_fd = out;
    so.stderr_fd = err;
    so.timeout = std::chrono::seconds(options_.run_timeout_seconds);
    so.quiet = std::chrono::milliseconds(static_cast<int64_t>(options_.quiet_seconds * 1000));
    so.record_trace = false;
    // A pause action's channel: the supervisor notes a held call on pn and
    // releases it on a byte on pr; the hook runs on its own thread meanwhile
    // (the supervisor keeps serving the tree's other calls).
    int pn[2] = {-1, -1}, pr[2] = {-1, -1};
    const bool pauses = std::any_of(plan.rules().begin(), plan.rules().end(), [](const Rule& r) {
      return r.action.kind == ActionKind::kPause;
    });
    if (pauses && (::pipe2(pn, O_CLOEXEC) != 0 || ::pipe2(pr, O_CLOEXEC) != 0)) {
      run->harness_error = "pipe: " + mydocker::ErrnoName(errno);
      close_all();
      return;
    }
    so.pause_note_fd = pn[1];
    so.pause_release_fd = pr[0];
    std::atomic<bool> stop_hook{false};
    std::atomic<bool> paused{false};
    std::function<void()> after_pause;
    std::thread hook_thread;
    if (pauses) {
      hook_thread = std::thread([&] {
        while (!stop_hook.load()) {
          bool eof = false;
          auto note = WaitForPause(pn[0], 100, &eof);
          if (eof) return;
          if (!note) continue;
          paused.store(true);
          if (options_.on_pause) {
            PauseContext ctx;
            ctx.note = *note;
            ctx.runtime_pid = note->pid;
            ctx.root = state_;
            ctx.cgroup_parent = cgroup_parent_;
            ctx.scratch = scratch_;
            ctx.bundle = layer_.empty() ? "" : bundle_;
            ctx.container = kContainerName;
            ctx.kind = kind_;
            ctx.verb_argv = [this](const std::string& verb,
                                   const std::vector<std::string>& operands) {
              return VerbArgv(verb, operands);
            };
            after_pause = options_.on_pause(ctx);
          }
          ReleasePause(pr[1]);
        }
      });
    }
    auto end_hook = [&] {
      stop_hook.store(true);
      if (hook_thread.joinable()) hook_thread.join();
      for (int fd : {pn[0], pn[1], pr[0], pr[1]}) {
        if (fd >= 0) ::close(fd);
      }
      run->paused = paused.load();
      if (after_pause) after_pause();
    };
    bool killed = false;
    auto decide = [&](const SyscallEvent& ev) -> Verdict {
      NoteSharedTmp(ev.path);
      if (!InScope(ev)) return Verdict::Continue();
      SweepCall call;
      call.pid = kSweepRuntimePid;
      call.seq = run->calls.size() + 1;
      call.op = ev.name;
      call.args = DescribeCall(ev);
      call.path = ev.host_path.empty() ? ev.path : ev.host_path;
      call.path2 = ev.path2;
      call.real_pid = ev.pid;
      call.host_paths = true;
      call.fstype = ev.fstype;
      call.flags = ev.flags;
      call.after_crash = killed;
      CallInfo info;
      info.op = ev.name;
      info.path = ev.path;
      info.path2 = ev.path2;
      info.fstype = ev.fstype;
      info.flags = ev.flags;
      info.pid = kSweepRuntimePid;
      Decision d = plan.Decide(info);
      Verdict v = Verdict::Continue();
      switch (d.action.kind) {
        case ActionKind::kNone: break;
        case ActionKind::kFail: v = Verdict::Fail(d.action.err); break;
        case ActionKind::kLie: v = Verdict::Lie(); break;
        case ActionKind::kDelay: v = Verdict::Delay(d.action.delay_ms); break;
        case ActionKind::kCrash:
          v = Verdict::Kill();
          killed = true;
          break;
        case ActionKind::kPause: v = Verdict::Pause(d.action.PauseBoundMs()); break;
        case ActionKind::kShort:
          // A user notification cannot change a syscall's arguments: the
          // call runs whole, and the run proves nothing.
          run->harness_error = "the seccomp backend cannot shorten a read or write "
                               "(action short is FaultInjectingSys only)";
          break;
      }
      call.fired = d.fired();
      call.err = v.kind == Verdict::kFail ? v.err : 0;
      run->calls.push_back(std::move(call));
      return v;
    };
    mydocker::Expected<seccomp::SupervisorResult> result =
        MakeError("supervisor", "", 0, "did not run");
    try {
      result = seccomp::RunSupervised(so, decide);
    } catch (const std::exception& e) {
      // The Decider threw: the supervisor killed the tree; the run proves nothing.
      result = MakeError("supervisor: decide", "", 0, e.what());
    }
    close_all();
    end_hook();
    if (!result) {
      run->harness_error = "supervisor: " + result.error().Message();
      return;
    }
    run->crashed = killed;
    run->hung = result->timed_out;
    if (result->quiet_hang) {
      char quiet[32];
      std::snprintf(quiet, sizeof quiet, "%g", options_.quiet_seconds);
      run->hang_state = "every thread asleep, no CPU time used and no supervised call for " +
                        std::string(quiet) + " s:\n" + result->hang_state;
    }
    run->exit_code = result->exited ? result->exit_code : 128 + result->term_signal;
    run->message = MessageOf(ReadTextFile(err_path));
    for (const SweepCall& c : run->calls) run->fired = run->fired || c.fired;
    leftover_pids_.clear();
    if (!result->leftover_pids.empty() && !killed && !run->hung) {
      ProbeDiff d;
      d.probe = "processes";
      for (pid_t p : result->leftover_pids) {
        d.appeared.push_back("pid " + std::to_string(p) + " (alive after the runtime exited; "
                             "killed by the supervisor)");
      }
      leftover_pids_.push_back(std::move(d));
    }
    if (result->nested_listener_attempts > 0) {
      spdlog::warn("sweep: the runtime tried to install its own seccomp listener {} times (EBUSY)",
                   result->nested_listener_attempts);
    }
  }

  // Remembers a file of the profile's temp_paths a call of our tree named.
  void NoteSharedTmp(const std::string& path) {
    for (const auto& [d, p] : temp_prefixes_) {
      const std::string dir = d == "/" ? d : d + "/";
      if (path.size() <= dir.size() || path.compare(0, dir.size(), dir) != 0) continue;
      const std::string name = path.substr(dir.size());
      if (name.rfind(p, 0) == 0 && name.find('/') == std::string::npos) own_tmp_.insert(path);
    }
  }

  // Files of the profile's temp_paths our runs made and left. Only those a
  // call of our process trees named: another crun on the host (a benchmark,
  // a parallel test) makes and removes its own in /tmp all the time.
  ProbeDiff SharedTmpDiff() {
    ProbeDiff d;
    d.probe = "tmp";
    for (const auto& p : SharedTmpEntries(sys_, temp_prefixes_)) {
      if (tmp_before_.count(p) == 0 && own_tmp_.count(p) != 0) d.appeared.push_back(p);
    }
    return d;
  }

  // The runtime's own cleanup, with faults off.
  void Cleanup(SweepRun* run) {
    run->gc_ran = true;
    if (cleanup_argv_.empty()) return;
    if (kind_ == "oci") {
      // A second actor's containers first (two-actor sweeps).
      for (const std::string& name : options_.extra_containers) {
        RunCleanup(profile_.CleanupArgv(binary_, {{"root", state_}, {"id", name}}), run);
      }
    }
    RunCleanup(cleanup_argv_, run);
  }

  void RunCleanup(const std::vector<std::string>& cleanup_argv, SweepRun* run) {
    const std::string out = work_ + "/cleanup.out", err = work_ + "/cleanup.err";
    ProcessResult p = RunProcess({cleanup_argv, {}, out, err, true}, 60);
    const std::string text = ReadTextFile(err);
    std::error_code ec;
    std::filesystem::remove(out, ec);
    std::filesystem::remove(err, ec);
    if (p.exit_code == 0) return;
    // "Nothing to delete" is fine: the run may have removed it all.
    for (const char* nothing : {"does not exist", "not found", "No such file"}) {
      if (text.find(nothing) != std::string::npos) return;
    }
    run->gc_errors.push_back(ShellJoin(cleanup_argv) + " exited " +
                             std::to_string(p.exit_code) + p.start_error + ": " + MessageOf(text));
  }

  // Back to the prepared world after a run that left something: processes
  // of the cgroup parent (ours) killed, mounts under the scratch detached,
  // the bundle, state entries and cgroups removed. Marks the backend broken
  // when that does not restore the prepared snapshot.
  void Scrub() {
    if (scratch_.empty()) return;
    std::vector<std::string> cgdirs;  // every cgroup below the parent
    for (const auto& mnt : cgroup_mounts_) {
      std::vector<std::string> stack = {JoinPath(mnt, cgroup_parent_)};
      while (!stack.empty()) {
        std::string dir = stack.back();
        stack.pop_back();
        auto ents = sys_.ReadDir(dir);
        if (!ents.ok()) continue;
        for (const auto& e : ents.value) {
          if (e.type != DT_DIR) continue;
          const std::string cg = JoinPath(dir, e.name);
          cgdirs.push_back(cg);
          stack.push_back(cg);
          if (auto procs = mydocker::ReadFile(sys_, cg + "/cgroup.procs", "read")) {
            std::stringstream ss(*procs);
            long pid;
            while (ss >> pid) ::kill(static_cast<pid_t>(pid), SIGKILL);
          }
        }
      }
    }
    for (const auto& d : {bundle_, state_, tmpdir_}) DetachMountsUnder(sys_, d);
    // Unmounted if mounted (in our namespace), then removed.
    for (const auto& p : SharedTmpDiff().appeared) {
      ::umount2(p.c_str(), MNT_DETACH);
      ::unlink(p.c_str());
    }
    (void)mydocker::RemoveTree(sys_, bundle_, "sweep: scrub bundle");
    if (auto ents = sys_.ReadDir(tmpdir_); ents.ok()) {
      for (const auto& e : ents.value) {
        (void)mydocker::RemoveTree(sys_, JoinPath(tmpdir_, e.name), "sweep: scrub");
      }
    }
    if (auto ents = sys_.ReadDir(state_); ents.ok()) {
      for (const auto& e : ents.value) {
        const std::string p = JoinPath(state_, e.name);
        // The prepared store: images and the store lock stay (the lock file
        // is made once, as the store is; a run only takes and drops it).
        if (kind_ == "mydocker" && (e.name == "images" || e.name == "containers.lock"))
          continue;
        if (kind_ == "mydocker" && e.name == "containers") {
          if (auto c = sys_.ReadDir(p); c.ok()) {
            for (const auto& ce : c.value) {
              (void)mydocker::RemoveTree(sys_, JoinPath(p, ce.name), "sweep: scrub");
            }
          }
          continue;
        }
        (void)mydocker::RemoveTree(sys_, p, "sweep: scrub");
      }
    }
    // Children before parents: the deepest paths first.
    std::sort(cgdirs.begin(), cgdirs.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
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
    if (auto d = SharedTmpDiff(); !d.appeared.empty()) diff.push_back(d);
    if (!diff.empty()) {
      broken_ = true;
      broken_why_ = Describe(diff);
      spdlog::error("sweep: the scratch area could not be restored: {}", broken_why_);
    }
  }

  SeccompBackendOptions options_;
  RuntimeProfile profile_;       // empty for a custom runtime
  std::string kind_ = "custom";  // the profile's kind: oci, mydocker; or custom
  TempPrefixes temp_prefixes_;
  mydocker::LinuxSys sys_;
  bool prepared_ = false;
  bool broken_ = false;
  std::string broken_why_;
  std::string binary_, scratch_, state_, work_, bundle_, tmpdir_, cgroup_parent_, layer_, cleanup_hint_;
  std::vector<std::string> run_argv_, cleanup_argv_, syscalls_, cgroup_mounts_;
  OciSpecInput oci_;
  ProbeScope scope_;
  Snapshot before_;
  std::set<std::string> tmp_before_;
  std::set<std::string> own_tmp_;  // temp_paths files named by a call of our runs
  std::vector<ProbeDiff> leftover_pids_;  // 0 or 1 "processes" diff of the last run
};

}  // namespace

std::unique_ptr<SweepBackend> MakeSeccompSweepBackend(SeccompBackendOptions options) {
  return std::make_unique<SeccompSweepBackend>(std::move(options));
}

}  // namespace faultline
