// The mydocker binary: `mydocker --root R --cgroup-parent P run ...`. While it
// runs, a thread polls the cgroups probe so the live check sees the
// container's cgroup (a command shorter than the poll interval may be missed;
// a scenario that asserts cgroup_live runs long enough).
#include <errno.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <signal.h>
#include <regex>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>

#include "harness/adapters/builtin_worker.h"
#include "harness/adapters/process.h"
#include "harness/adapters/step_support.h"
#include "runtime/container/runtime.h"
#include "runtime/sys/fs_util.h"
#include "runtime/sys/linux_sys.h"

namespace faultline {
namespace {

using mydocker::Outcome;

std::string FormatCpus(double cpus) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", cpus);
  return buf;
}

}  // namespace

std::vector<std::string> MydockerRunArgs(const ContainerRequest& req) {
  std::vector<std::string> args = {"run", "--name", req.id};
  if (!req.hostname.empty()) args.insert(args.end(), {"--hostname", req.hostname});
  for (const auto& c : req.cap_add) args.insert(args.end(), {"--cap-add", c});
  // -e and -v take several values each in mydocker's CLI (CLI11 vectors):
  // attached values ("-eK=V") keep IMAGE from being read as one of them.
  for (const auto& e : req.env) args.push_back("-e" + e);
  for (const auto& v : req.volumes) {
    args.push_back("-v" + v.host + ":" + v.container + (v.read_only ? ":ro" : ""));
  }
  const auto& l = req.limits;
  if (l.memory_bytes) args.insert(args.end(), {"-m", std::to_string(*l.memory_bytes)});
  if (l.cpus) args.insert(args.end(), {"--cpus", FormatCpus(*l.cpus)});
  if (l.cpu_shares) args.insert(args.end(), {"--cpu-shares", std::to_string(*l.cpu_shares)});
  if (l.cpuset_cpus) args.insert(args.end(), {"--cpuset-cpus", *l.cpuset_cpus});
  if (l.pids_limit) args.insert(args.end(), {"--pids-limit", std::to_string(*l.pids_limit)});
  args.push_back(req.image);
  args.insert(args.end(), req.argv.begin(), req.argv.end());
  return args;
}

namespace {

class MydockerAdapter : public RuntimeAdapter {
 public:
  MydockerAdapter(RunEnv env, std::string name) : env_(std::move(env)), name_(std::move(name)) {
    root_ = env_.scratch + "/" + name_ + "/root";
    work_ = env_.scratch + "/" + name_ + "/work";
  }
  std::string name() const override { return name_; }
  std::string family() const override { return "mydocker"; }

  Outcome Prepare() override {
    MYDOCKER_TRY(mydocker::MkdirAll(sys_, work_, 0700, "mydocker: create work dir"));
    ProcessResult p = RunProcess({Base({"image", "import", env_.image_tar, "busybox"}),
                                  {}, work_ + "/import.out", work_ + "/import.err", true},
                                 120);
    if (p.exit_code != 0) {
      return mydocker::MakeError("mydocker: image import", env_.image_tar, 0,
                                 p.start_error + ReadTextFile(work_ + "/import.err"));
    }
    layer_ = root_ + "/images/busybox/rootfs";
    // Which verbs this build of mydocker has (its --help lists them).
    ProcessResult h = RunProcess({Base({"--help"}), {}, work_ + "/help.out", work_ + "/help.err",
                                  true},
                                 30);
    const std::string help = ReadTextFile(work_ + "/help.out");
    for (const char* v : {"run", "exec", "stop", "logs", "kill", "pause", "resume", "ps", "rm",
                          "gc"}) {
      if (std::regex_search(help, std::regex(std::string("^\\s+") + v + "\\s",
                                             std::regex::multiline))) {
        verbs_.insert(v);
      }
    }
    (void)h;
    ProcessResult rh = RunProcess({Base({"run", "--help"}), {}, work_ + "/help.out",
                                   work_ + "/help.err", true},
                                  30);
    detach_flag_ = rh.exit_code == 0 &&
                   ReadTextFile(work_ + "/help.out").find("--detach") != std::string::npos;
    // The state directory every run uses: made once, so it is no "leftover".
    MYDOCKER_TRY(mydocker::MkdirAll(sys_, root_ + "/containers", 0700, "mydocker: create state dir"));
    // ... and the store lock the first run would make (StateStore::StoreLockPath).
    MYDOCKER_TRY(mydocker::WriteFile(sys_, root_ + "/containers.lock", "", 0600,
                                     "mydocker: create store lock"));
    return Outcome::Ok();
  }

  // The same store layout as the binary's (image_store.h), made in-process.
  Outcome AddImage(const HostileImage& image) override {
    HostileImage img = image;
    img.base_tar = env_.image_tar;  // layer 1 of a layered image
    auto info = InstallImage(sys_, root_, layer_, work_ + "/" + image.name + ".tar", img);
    if (!info) return info.error();
    return Outcome::Ok();
  }

  ContainerResult Run(const ContainerRequest& req) override {
    ContainerResult res;
    std::vector<std::string> args = MydockerRunArgs(req);
    SpawnOptions opts;
    opts.argv = Base(args);
    opts.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME=/root"};
    opts.stdout_path = work_ + "/" + req.id + ".out";
    opts.stderr_path = work_ + "/" + req.id + ".err";
    res.replay = ShellJoin(opts.argv);
    std::string error;
    pid_t pid = Spawn(opts, &error);
    if (pid < 0) {
      res.runtime_error = true;
      res.error_message = error;
      return res;
    }
    res.ran = true;
    // Poll the cgroups probe while it runs.
    std::atomic<bool> done{false};
    std::set<std::string> seen;
    std::thread poll([&] {
      mydocker::LinuxSys sys;
      ProbeScope scope;
      scope.cgroup_parent = env_.cgroup_parent;
      scope.holders = false;
      scope.fds = false;
      while (!done.load()) {
        Snapshot s = TakeSnapshot(sys, scope);
        for (const auto& c : s.probes["cgroups"]) seen.insert(c);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
    ProcessResult p = WaitFor(pid, req.timeout_seconds);
    done = true;
    poll.join();
    res.live_checked = true;
    res.live_cgroups.assign(seen.begin(), seen.end());
    res.out = ReadTextFile(opts.stdout_path);
    res.err = ReadTextFile(opts.stderr_path);
    std::error_code ec;
    std::filesystem::remove(opts.stdout_path, ec);
    std::filesystem::remove(opts.stderr_path, ec);
    res.exit_code = p.exit_code;
    res.timed_out = p.timed_out;
    res.seconds = p.seconds;
    res.crashed = WIFSIGNALED(p.status);
    if (p.exit_code == mydocker::kExitRuntimeError) {
      res.runtime_error = true;
    }
    // mydocker prints "mydocker: <step> <path>: ERRNO (...)" for its failures.
    size_t at = res.err.find("mydocker: ");
    if (at != std::string::npos) {
      size_t end = res.err.find('\n', at);
      res.error_message = res.err.substr(at + 10, end == std::string::npos ? end : end - at - 10);
    }
    if (res.crashed) RecoverWithGc(&res);
    return res;
  }

  // ---- steps: the mydocker CLI ----
  std::string StepLacks(const std::string& action, bool) const override {
    // Done by the harness around the CLI: a run in the background is
    // `mydocker run` left running (its runtime process, to kill or wait
    // for); recover is the profile's cleanup (gc).
    if (action == "wait" || action == "kill_runtime" || action == "recover") return "";
    const std::string verb = action == "create" || action == "start" ? "" : action;
    if (!verb.empty() && verbs_.count(verb)) return "";
    if (action == "create" || action == "start") {
      return "mydocker has no create/start (run creates and starts in one)";
    }
    return "this mydocker (" + env_.mydocker_bin + ") has no " + action + " verb";
  }

  StepOutcome Step(const StepRequest& q) override {
    StepOutcome o;
    if (q.action == "run" && !q.detach) {
      ContainerResult c = Run(q.container);
      names_.insert(q.name);
      ids_[q.name] = q.container.id;
      o.exit_code = c.exit_code;
      o.out = c.out;
      o.err = c.err;
      o.timed_out = c.timed_out;
      o.replay = c.replay;
      return o;
    }
    if (q.action == "run" && detach_flag_) {
      // mydocker run -d: returns once the command runs; its monitor keeps
      // the container (the run's runtime process, state.runtime_pid).
      ids_[q.name] = q.container.id;
      detached_.insert(q.name);
      std::vector<std::string> args = MydockerRunArgs(q.container);
      args.insert(args.begin() + 1, "-d");
      return Cli(args, q.container.timeout_seconds);
    }
    if (q.action == "run") {
      ids_[q.name] = q.container.id;
      BackgroundRun& b = runs_[q.name];
      b.id = q.container.id;
      b.out = work_ + "/" + b.id + ".bg.out";
      b.err = work_ + "/" + b.id + ".bg.err";
      SpawnOptions opts;
      opts.argv = Base(MydockerRunArgs(q.container));
      // mydocker names the container --name (the id is its own).
      return StartInBackground(sys_, root_, b, std::move(opts), q.container.timeout_seconds);
    }
    const std::string name = ids_.count(q.name) ? ids_[q.name] : q.name;
    if ((q.action == "wait" || q.action == "kill_runtime") && detached_.count(q.name)) {
      return q.action == "wait" ? WaitDetached(name, q.timeout.value_or(60))
                                : KillMonitor(name);
    }
    if (q.action == "wait") {
      auto it = runs_.find(q.name);
      if (it == runs_.end()) {
        o.exit_code = 1;
        o.err = "wait: " + q.name + " was not run in the background";
        return o;
      }
      BackgroundRun& b = it->second;
      if (b.pid > 0) {
        ProcessResult p = WaitFor(b.pid, q.timeout.value_or(60));
        b.exit_code = p.exit_code;
        o.timed_out = p.timed_out;
        b.pid = -1;
        b.waited = true;
      }
      o.exit_code = b.exit_code;
      o.out = ReadTextFile(b.out);
      o.err = ReadTextFile(b.err);
      return o;
    }
    if (q.action == "kill_runtime") {
      auto it = runs_.find(q.name);
      if (it == runs_.end()) {
        o.exit_code = 1;
        o.err = "kill_runtime: " + q.name + " was not run in the background";
        return o;
      }
      return KillRuntimeProcess(it->second);
    }
    std::vector<std::string> args;
    if (q.action == "rm") args = q.force ? std::vector<std::string>{"rm", "-f", name}
                                         : std::vector<std::string>{"rm", name};
    else if (q.action == "gc" || q.action == "recover") args = {"gc"};
    else if (q.action == "ps") args = {"ps", "-a"};
    else if (q.action == "exec") {
      args = {"exec", name};
      args.insert(args.end(), q.argv.begin(), q.argv.end());
    } else if (q.action == "stop") {
      args = {"stop"};
      if (q.timeout) args.insert(args.end(), {"-t", std::to_string(*q.timeout)});
      args.push_back(name);
    } else if (q.action == "kill") {
      args = {"kill", "-s", q.signal, name};
    } else {
      args = {q.action, name};  // logs, pause, resume
    }
    o = Cli(args, 120);
    // Its run ends once the container is removed, by this rm or by the run's
    // own teardown (rm then fails: no such container).
    if (q.action == "rm" && (o.exit_code == 0 || !Inspect(q.name).known)) ReapRun(q.name, &o);
    return o;
  }

  StepOutcome Cli(const std::vector<std::string>& args, int timeout) {
    StepOutcome o;
    const std::string base = work_ + "/step";
    SpawnOptions opts;
    opts.argv = Base(args);
    opts.stdout_path = base + ".out";
    opts.stderr_path = base + ".err";
    o.replay = ShellJoin(opts.argv);
    ProcessResult p = RunProcess(opts, timeout);
    o.exit_code = p.started ? p.exit_code : 127;
    o.timed_out = p.timed_out;
    o.out = ReadTextFile(opts.stdout_path);
    o.err = ReadTextFile(opts.stderr_path) + p.start_error;
    std::error_code ec;
    std::filesystem::remove(opts.stdout_path, ec);
    std::filesystem::remove(opts.stderr_path, ec);
    return o;
  }

  // The state of the container named name (mydocker --name), if any.
  std::optional<mydocker::ContainerState> StateOf(const std::string& name) {
    mydocker::StateStore store(sys_, root_);
    auto ids = store.Ids();
    if (!ids) return std::nullopt;
    for (const auto& id : *ids) {
      auto st = store.Read(id);
      if (st && (st->name == name || st->id == name)) return *st;
    }
    return std::nullopt;
  }

  // A detached container ends: its state leaves "running"; the exit code is
  // the state's, the output its logs.
  StepOutcome WaitDetached(const std::string& name, int timeout) {
    StepOutcome o;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
    std::optional<mydocker::ContainerState> st;
    while (std::chrono::steady_clock::now() < until) {
      st = StateOf(name);
      if (!st || st->status != "running") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (st && st->status == "running") {
      o.timed_out = true;
      o.exit_code = -1;
      return o;
    }
    o.exit_code = st ? st->exit_code : -1;
    StepOutcome logs = Cli({"logs", name}, 30);
    o.out = logs.out;
    o.err = logs.err;
    o.notes.push_back("state after the wait: " + (st ? st->status : std::string("gone")));
    return o;
  }

  // SIGKILLs the run's monitor (state.runtime_pid, checked by its start
  // time): a process of the `mydocker run -d` the harness started.
  StepOutcome KillMonitor(const std::string& name) {
    StepOutcome o;
    auto st = StateOf(name);
    if (!st || st->runtime_pid <= 0 ||
        !mydocker::ProcessAlive(sys_, st->runtime_pid, st->runtime_start)) {
      o.exit_code = 1;
      o.err = "kill_runtime: " + name + " has no live monitor process";
      return o;
    }
    ::kill(st->runtime_pid, SIGKILL);
    for (int i = 0; i < 1000 && mydocker::ProcessAlive(sys_, st->runtime_pid, st->runtime_start);
         ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    o.notes.push_back("SIGKILLed the monitor of " + name + " (pid " +
                      std::to_string(st->runtime_pid) + ")");
    return o;
  }

  ContainerView Inspect(const std::string& name) override {
    return ViewFromStore(sys_, root_, ids_.count(name) ? ids_[name] : name);
  }

  void EndSteps(std::vector<std::string>* notes) override {
    for (const auto& [name, id] : ids_) {
      if (!ViewFromStore(sys_, root_, id).known) continue;
      bool not_found = false;
      std::string err = TeardownAgain(id, &not_found);
      notes->push_back("harness removed " + name + " after the last step (mydocker rm -f): " +
                       (err.empty() ? std::string("ok") : err));
    }
    for (auto& [name, b] : runs_) {
      StepOutcome o;
      ReapRun(name, &o);
      for (const auto& n : o.notes) notes->push_back(n);
      std::error_code ec;
      std::filesystem::remove(b.out, ec);
      std::filesystem::remove(b.err, ec);
    }
    ids_.clear();
    runs_.clear();
    names_.clear();
    detached_.clear();
  }

  std::string TeardownAgain(const std::string& id, bool* not_found) override {
    ProcessResult p = RunProcess({Base({"rm", "-f", id}), {}, work_ + "/rm.out",
                                  work_ + "/rm.err", true},
                                 60);
    std::string err = ReadTextFile(work_ + "/rm.err");
    *not_found = p.exit_code != 0 && err.find("no such container") != std::string::npos;
    if (p.exit_code == 0 || *not_found) return "";
    return "mydocker rm -f " + id + " exited " + std::to_string(p.exit_code) + ": " + err;
  }

  std::string ExpectedCgroup(const std::string&) const override {
    return "/" + env_.cgroup_parent + "/*";  // mydocker picks the id
  }
  mydocker::Sys& ProbeSys() override { return sys_; }
  ProbeScope Scope() const override {
    return MydockerScope(root_, env_.cgroup_parent, env_.scratch);
  }
  std::string ImageLayer() const override { return layer_; }
  std::string HostHostname() override { return HostHostnameNow(); }

 private:
  std::vector<std::string> Base(const std::vector<std::string>& rest) const {
    std::vector<std::string> v = {env_.mydocker_bin, "--root", root_, "--cgroup-parent",
                                  env_.cgroup_parent};
    v.insert(v.end(), rest.begin(), rest.end());
    return v;
  }
  void RecoverWithGc(ContainerResult* res) {
    ProcessResult p = RunProcess({Base({"gc"}), {}, work_ + "/gc.out", work_ + "/gc.err", true},
                                 60);
    res->notes.push_back("mydocker died by a signal; ran mydocker gc (exit " +
                         std::to_string(p.exit_code) + "): " + ReadTextFile(work_ + "/gc.out"));
  }

  void ReapRun(const std::string& name, StepOutcome* o) {
    auto it = runs_.find(name);
    if (it != runs_.end()) ReapBackgroundRun(it->second, "mydocker run of " + name, o);
  }

  RunEnv env_;
  std::string name_;
  mydocker::LinuxSys sys_;
  std::string root_, work_, layer_;
  std::set<std::string> verbs_;
  bool detach_flag_ = false;          // this mydocker has run -d
  std::set<std::string> detached_;    // step names run with -d
  std::set<std::string> names_;
  std::map<std::string, std::string> ids_;     // step name -> mydocker --name
  std::map<std::string, BackgroundRun> runs_;  // step name -> its `mydocker run` in the background
};

}  // namespace

std::unique_ptr<RuntimeAdapter> MakeMydockerAdapter(const RunEnv& env, std::string name) {
  return std::make_unique<MydockerAdapter>(env, std::move(name));
}

}  // namespace faultline
