// The in-process core over LinuxSys: each run is a `faultline __run-builtin`
// worker process (see builtin_worker.h), so the container's stdio can be
// files of its own and a crash (a fault plan's kill action) stays contained.
#include <errno.h>
#include "harness/report/report.h"
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/utsname.h>

#include <chrono>
#include <thread>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "harness/adapters/adapter.h"
#include "harness/adapters/builtin_worker.h"
#include "harness/adapters/process.h"
#include "harness/adapters/step_support.h"
#include "faults/pause_channel.h"
#include "runtime/container/runtime.h"
#include "runtime/image/image_store.h"
#include "runtime/sys/fs_util.h"
#include "runtime/sys/linux_sys.h"

extern char** environ;

namespace faultline {
namespace {

using mydocker::MakeError;
using mydocker::Outcome;

class BuiltinAdapter : public RuntimeAdapter {
 public:
  explicit BuiltinAdapter(RunEnv env) : env_(std::move(env)) {
    root_ = env_.scratch + "/builtin/root";
    work_ = env_.scratch + "/builtin/work";
  }
  std::string name() const override { return "builtin"; }
  bool SupportsFaults() const override { return true; }

  Outcome Prepare() override {
    MYDOCKER_TRY(mydocker::MkdirAll(sys_, work_, 0700, "builtin: create work dir"));
    mydocker::ImageStore images(sys_, root_);
    auto info = images.Import(env_.image_tar, "busybox");
    if (!info) return info.error();
    layer_ = info->rootfs;
    // The state directory every run uses: made once, so it is no "leftover".
    MYDOCKER_TRY(mydocker::MkdirAll(sys_, root_ + "/containers", 0700, "builtin: create state dir"));
    // ... and the store lock the first run would make (StateStore::StoreLockPath).
    MYDOCKER_TRY(mydocker::WriteFile(sys_, root_ + "/containers.lock", "", 0600,
                                     "builtin: create store lock"));
    return Outcome::Ok();
  }

  Outcome AddImage(const HostileImage& image) override {
    HostileImage img = image;
    img.base_tar = env_.image_tar;  // layer 1 of a layered image
    auto info = InstallImage(sys_, root_, layer_, work_ + "/" + image.name + ".tar", img);
    if (!info) return info.error();
    return Outcome::Ok();
  }

  ContainerResult Run(const ContainerRequest& req) override {
    ContainerResult res;
    const std::string base = work_ + "/" + req.id;
    const std::string req_path = base + ".request.json";
    const std::string res_path = base + ".result.json";
    WriteTextFile(req_path, DumpJson(RequestJson(req), 2));
    SpawnOptions opts;
    opts.argv = {env_.self_exe, "__run-builtin", req_path, res_path};
    opts.stdout_path = base + ".out";
    opts.stderr_path = base + ".err";
    res.replay = ShellJoin(opts.argv);
    ProcessResult p = RunProcess(opts, req.timeout_seconds);
    return Collect(p, opts, req_path, res_path, &res);
  }

  ContainerResult Collect(const ProcessResult& p, const SpawnOptions& opts,
                          const std::string& req_path, const std::string& res_path,
                          ContainerResult* out) {
    ContainerResult& res = *out;
    res.out = ReadTextFile(opts.stdout_path);
    res.err = ReadTextFile(opts.stderr_path);
    res.seconds = p.seconds;
    res.timed_out = p.timed_out;
    std::error_code ec;
    for (const auto& f : {opts.stdout_path, opts.stderr_path, req_path}) {
      std::filesystem::remove(f, ec);
    }
    if (!p.started) {
      res.runtime_error = true;
      res.error_message = p.start_error;
      return res;
    }
    res.ran = true;
    std::string text = ReadTextFile(res_path);
    std::filesystem::remove(res_path, ec);
    if (text.empty() || WIFSIGNALED(p.status)) {
      // The worker died before writing its result: a crash (kill action) or
      // a timeout. gc is the documented recovery path; the probes then
      // check that it left nothing.
      res.crashed = WIFSIGNALED(p.status);
      res.runtime_error = true;
      res.exit_code = p.exit_code;
      res.error_message = p.timed_out ? "the runtime ran past the timeout and was killed"
                                      : "the runtime died (exit " +
                                            std::to_string(p.exit_code) + ") without a result";
      if (recover_after_crash_) RecoverWithGc(&res);
      return res;
    }
    try {
      auto r = nlohmann::json::parse(text);
      res.exit_code = r.value("exit_code", -1);
      res.runtime_error = r.value("runtime_error", false);
      res.error_step = r.value("error_step", "");
      res.error_errno = r.value("error_errno", 0);
      res.error_message = r.value("error_message", "");
      res.live_checked = r.value("live_checked", false);
      res.live_cgroups = r.value("live_cgroups", std::vector<std::string>{});
      for (const auto& n : r.value("notes", std::vector<std::string>{})) res.notes.push_back(n);
    } catch (const std::exception& e) {
      res.runtime_error = true;
      res.error_message = std::string("unreadable worker result: ") + e.what();
    }
    return res;
  }

  nlohmann::json RequestJson(const ContainerRequest& req) const {
    nlohmann::json q;
    q["root"] = root_;
    q["cgroup_parent"] = env_.cgroup_parent;
    q["id"] = req.id;
    q["image"] = req.image;
    q["argv"] = req.argv;
    q["env"] = req.env;
    q["hostname"] = req.hostname;
    q["cap_add"] = req.cap_add;
    q["limits"] = LimitsToJson(req.limits);
    nlohmann::json vols = nlohmann::json::array();
    for (const auto& v : req.volumes) {
      vols.push_back({{"host", v.host}, {"container", v.container}, {"ro", v.read_only}});
    }
    q["volumes"] = vols;
    if (req.faults && !req.faults.IsNull()) q["faults"] = YAML::Dump(req.faults);
    return q;
  }

  // ---- steps: the in-process core (runtime/container/runtime.h) ----
  std::string StepLacks(const std::string& action, bool) const override {
    static const std::set<std::string> kHave = {"run", "rm", "gc", "ps", "recover", "wait",
                                                "kill_runtime", "exec", "stop",
                                                "release_call"};
    if (kHave.count(action)) return "";
    if (action == "logs") {
      return "the builtin adapter runs a container in the background as an attached run in a "
             "worker process (its output is the worker's), not run -d: no logs";
    }
    return "the in-process core has no " + action +
           " (runtime/container/runtime.h: Run, List, Logs, Exec, Stop, Remove, Gc)";
  }

  // The worker runs the core under FaultInjectingSys with the one-rule
  // pause plan; the held call (the runtime's, or its init's: the channel is
  // inherited across clone) talks to the adapter over a PauseChannel.
  std::string PauseLacks() const override { return ""; }

  StepOutcome Step(const StepRequest& q) override {
    StepOutcome o;
    mydocker::Runtime rt(sys_, Config());
    if (q.action == "run" && q.detach && !q.pause_at.empty()) return RunHeld(q);
    if (q.action == "release_call") return ReleaseCall(q.name);
    if (q.action == "run" && !q.detach) {
      ContainerResult c = Run(q.container);
      ids_[q.name] = q.container.id;
      o.exit_code = c.exit_code;
      o.out = c.out;
      o.err = c.err;
      o.timed_out = c.timed_out;
      o.replay = c.replay;
      for (const auto& n : c.notes) o.notes.push_back(n);
      return o;
    }
    if (q.action == "run") {
      // In the background: the worker is the run's runtime process.
      ids_[q.name] = q.container.id;
      BackgroundRun& b = runs_[q.name];
      b.id = q.container.id;
      const std::string base = work_ + "/" + b.id;
      WriteTextFile(base + ".request.json", DumpJson(RequestJson(q.container), 2));
      b.out = base + ".out";
      b.err = base + ".err";
      b.result = base + ".result.json";
      SpawnOptions opts;
      opts.argv = {env_.self_exe, "__run-builtin", base + ".request.json", b.result};
      return StartInBackground(sys_, root_, b, std::move(opts), q.container.timeout_seconds);
    }
    const std::string id = ids_.count(q.name) ? ids_[q.name] : q.name;
    if (q.action == "wait") {
      auto it = runs_.find(q.name);
      if (it == runs_.end()) {
        o.exit_code = 1;
        o.err = "wait: " + q.name + " was not run in the background";
        return o;
      }
      BackgroundRun& b = it->second;
      ProcessResult p;
      if (b.pid > 0) {
        p = WaitFor(b.pid, q.timeout.value_or(60));
        b.pid = -1;
        b.waited = true;
      } else {
        p.started = true;
        p.exit_code = b.exit_code;
      }
      SpawnOptions opts;
      opts.stdout_path = b.out;
      opts.stderr_path = b.err;
      ContainerResult c;
      const bool keep = recover_after_crash_;
      recover_after_crash_ = false;  // a killed run is the scenario's to recover
      Collect(p, opts, work_ + "/" + b.id + ".request.json", b.result, &c);
      recover_after_crash_ = keep;
      o.exit_code = c.exit_code;
      o.out = c.out;
      o.err = c.err;
      o.timed_out = c.timed_out;
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
    if (q.action == "rm") {
      Outcome r = rt.Remove(id, q.force);
      if (!r) {
        o.exit_code = 1;
        o.err = "mydocker: " + r.error().Message() + "\n";
      }
      // Its run ends once the container is removed, by this rm or by the run's
      // own teardown (rm then says ENOENT).
      if (r.ok() || !Inspect(q.name).known) ReapRun(q.name, &o);
      return o;
    }
    if (q.action == "gc" || q.action == "recover") {
      auto gc = rt.Gc();
      if (!gc) {
        o.exit_code = 1;
        o.err = "mydocker: " + gc.error().Message() + "\n";
        return o;
      }
      for (const auto& x : gc->removed) o.out += "removed " + x + "\n";
      for (const auto& x : gc->skipped) o.out += "skipped " + x + "\n";
      for (const auto& e : gc->errors) o.err += "mydocker: " + e.Message() + "\n";
      if (!gc->errors.empty()) o.exit_code = 1;
      return o;
    }
    if (q.action == "exec") {
      const std::string base = work_ + "/" + id + ".exec";
      int out = ::open((base + ".out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      int err = ::open((base + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      mydocker::ExecSpec spec;
      spec.argv = q.argv;
      spec.stdout_fd = out;
      spec.stderr_fd = err;
      auto e = rt.Exec(id, spec);
      if (out >= 0) ::close(out);
      if (err >= 0) ::close(err);
      o.out = ReadTextFile(base + ".out");
      o.err = ReadTextFile(base + ".err");
      std::error_code ec;
      std::filesystem::remove(base + ".out", ec);
      std::filesystem::remove(base + ".err", ec);
      AddExecResult(e, &o);
      return o;
    }
    if (q.action == "stop") {
      Outcome r = rt.Stop(id, q.timeout.value_or(10));
      if (!r) {
        o.exit_code = 1;
        o.err = "mydocker: " + r.error().Message() + "\n";
        return o;
      }
      ReapRun(q.name, &o);  // its run ends with the container
      return o;
    }
    if (q.action == "ps") {
      auto l = rt.List();
      if (!l) {
        o.exit_code = 1;
        o.err = "mydocker: " + l.error().Message() + "\n";
        return o;
      }
      o.out = PsText(*l);
      return o;
    }
    o.not_applicable = StepLacks(q.action, q.detach);
    return o;
  }

  ContainerView Inspect(const std::string& name) override {
    return ViewFromStore(sys_, root_, ids_.count(name) ? ids_[name] : name);
  }

  void EndSteps(std::vector<std::string>* notes) override {
    for (auto& [name, h] : held_) {
      // Closing the release end lets the held call go on at once.
      ::close(h.release_fd);
      ::close(h.note_fd);
      notes->push_back("harness let the held call of " + name + " go on after the last step");
    }
    held_.clear();
    mydocker::Runtime rt(sys_, Config());
    for (const auto& [name, id] : ids_) {
      if (!ViewFromStore(sys_, root_, id).known) continue;
      Outcome r = rt.Remove(id, true);
      notes->push_back("harness removed " + name + " after the last step (rm -f): " +
                       (r ? std::string("ok") : r.error().Message()));
    }
    for (auto& [name, b] : runs_) {
      StepOutcome o;
      ReapRun(name, &o);
      for (const auto& n : o.notes) notes->push_back(n);
      std::error_code ec;
      for (const auto& f : {b.out, b.err, b.result, work_ + "/" + b.id + ".request.json"}) {
        std::filesystem::remove(f, ec);
      }
    }
    ids_.clear();
    runs_.clear();
  }

  std::string TeardownAgain(const std::string& id, bool* not_found) override {
    mydocker::Runtime rt(sys_, Config());
    Outcome o = rt.Remove(id, true);
    *not_found = !o.ok() && o.error().err == ENOENT;
    if (o.ok() || *not_found) return "";
    return o.error().Message();
  }

  std::string ExpectedCgroup(const std::string& id) const override {
    return "/" + env_.cgroup_parent + "/" + id;
  }
  mydocker::Sys& ProbeSys() override { return sys_; }
  ProbeScope Scope() const override {
    return MydockerScope(root_, env_.cgroup_parent, env_.scratch);
  }
  std::string ImageLayer() const override { return layer_; }
  std::string HostHostname() override { return HostHostnameNow(); }

 private:
  mydocker::RuntimeConfig Config() const {
    mydocker::RuntimeConfig c;
    c.root = root_;
    c.cgroup_parent = env_.cgroup_parent;
    return c;
  }

  // A run held at the call its pause_at names, until release_call.
  struct Held {
    int note_fd = -1;     // the notify pipe's read end
    int release_fd = -1;  // the release pipe's write end
    PauseNote note;
    std::chrono::steady_clock::time_point since;
    int bound_ms = 0;
  };

  // run with detach and pause_at: starts the worker as the run's runtime
  // process and returns once the call is held (or why it never was).
  StepOutcome RunHeld(const StepRequest& q) {
    StepOutcome o;
    const std::string point = q.pause_at.ToString();
    ids_[q.name] = q.container.id;
    BackgroundRun& b = runs_[q.name];
    b.id = q.container.id;
    const std::string base = work_ + "/" + b.id;
    nlohmann::json req = RequestJson(q.container);
    req["faults"] = q.pause_at.ToJson();
    req["pause_channel"] = true;
    WriteTextFile(base + ".request.json", DumpJson(req, 2));
    b.out = base + ".out";
    b.err = base + ".err";
    b.result = base + ".result.json";
    int pn[2] = {-1, -1}, pr[2] = {-1, -1};
    if (::pipe2(pn, O_CLOEXEC) != 0 || ::pipe2(pr, O_CLOEXEC) != 0) {
      o.exit_code = mydocker::kExitRuntimeError;
      o.err = "run " + q.name + ": pause channel: pipe2: " + mydocker::ErrnoName(errno);
      for (int fd : {pn[0], pn[1]}) {
        if (fd >= 0) ::close(fd);
      }
      return o;
    }
    SpawnOptions opts;
    opts.argv = {env_.self_exe, "__run-builtin", base + ".request.json", b.result};
    opts.stdout_path = b.out;
    opts.stderr_path = b.err;
    opts.keep_fds = {pn[1], pr[0]};
    for (char** e = environ; *e != nullptr; ++e) opts.env.push_back(*e);
    const std::string fds_var = std::string(kPauseFdsEnv) + "=" + std::to_string(pn[1]) + "," +
                                std::to_string(pr[0]);
    opts.env.push_back(fds_var);
    o.replay = fds_var + " " + ShellJoin(opts.argv) + " &";
    std::string error;
    b.pid = Spawn(opts, &error);
    ::close(pn[1]);
    ::close(pr[0]);
    if (b.pid < 0) {
      ::close(pn[0]);
      ::close(pr[1]);
      o.exit_code = mydocker::kExitRuntimeError;
      o.err = "run " + q.name + ": " + error;
      return o;
    }
    const int wait_ms = q.container.timeout_seconds * 1000;
    bool eof = false;
    auto note = WaitForPause(pn[0], wait_ms, &eof);
    if (!note) {
      ::close(pn[0]);
      ::close(pr[1]);
      o.exit_code = mydocker::kExitRuntimeError;
      if (eof) {
        ProcessResult p = WaitFor(b.pid, 10);
        b.pid = -1;
        b.waited = true;
        b.exit_code = p.exit_code;
        const std::string said = ReadTextFile(b.err);
        o.err = "pause_at " + point + ": the run of " + q.name + " ended (exit " +
                std::to_string(p.exit_code) + ") before the call was reached" +
                (said.empty() ? "" : ": " + said);
      } else {
        // Its pause channel is closed now: a later hold would die of
        // SIGPIPE. End the run here (by its pid); the final cleanup removes
        // what it made.
        ::kill(b.pid, SIGKILL);
        ProcessResult p = WaitFor(b.pid, 10);
        b.pid = -1;
        b.waited = true;
        b.exit_code = p.exit_code;
        o.err = "pause_at " + point + ": the run of " + q.name +
                " did not reach the call within " +
                std::to_string(q.container.timeout_seconds) + " s (its worker was killed)";
      }
      return o;
    }
    Held& h = held_[q.name];
    h.note_fd = pn[0];
    h.release_fd = pr[1];
    h.note = *note;
    h.since = std::chrono::steady_clock::now();
    h.bound_ms = q.pause_at.rules().front().action.PauseBoundMs();
    o.notes.push_back("held at its call " + std::to_string(note->seq) + " (" + note->op +
                      ") by " + point);
    return o;
  }

  std::string HeldCall(const std::string& name) override {
    auto it = held_.find(name);
    if (it == held_.end()) return "the run of " + name + " holds no call (none, or released)";
    const Held& h = it->second;
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                                h.since).count();
    if (ms >= h.bound_ms) {
      return std::string(h.note.op) + " of " + name + " passed its bound of " +
             std::to_string(h.bound_ms) + " ms: it went on by itself";
    }
    auto r = runs_.find(name);
    if (r == runs_.end() || r->second.pid <= 0 || ::kill(r->second.pid, 0) != 0) {
      return "the run of " + name + " has no runtime process any more";
    }
    // Its worker still runs (not a zombie): the held call has not failed the run.
    const std::string stat = ReadTextFile("/proc/" + std::to_string(r->second.pid) + "/stat");
    const size_t close = stat.rfind(") ");
    if (close == std::string::npos || stat.compare(close + 2, 1, "Z") == 0) {
      return "the run of " + name + " ended while its call was to be held";
    }
    return "";
  }

  StepOutcome ReleaseCall(const std::string& name) {
    StepOutcome o;
    auto it = held_.find(name);
    if (it == held_.end()) {
      o.exit_code = 1;
      o.err = "release_call: the run of " + name + " holds no call";
      return o;
    }
    Held h = it->second;
    held_.erase(it);
    const double held_s = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                        h.since).count();
    const bool sent = ReleasePause(h.release_fd);
    ::close(h.release_fd);
    ::close(h.note_fd);
    char took[32];
    std::snprintf(took, sizeof took, "%.2f s", held_s);
    if (!sent) {
      o.exit_code = 1;
      o.err = "release_call: the run of " + name + " no longer waits for its release of " +
              h.note.op + " (EPIPE: it ended)";
    } else if (held_s * 1000 >= h.bound_ms) {
      o.exit_code = 1;
      o.err = "release_call: " + std::string(h.note.op) + " of " + name + " was held " + took +
              ", past its bound of " + std::to_string(h.bound_ms) +
              " ms: it went on by itself before the release (pause_ms)";
    }
    o.notes.push_back("released " + std::string(h.note.op) + " of " + name + " after " + took);
    return o;
  }

  void RecoverWithGc(ContainerResult* res) {
    mydocker::Runtime rt(sys_, Config());
    // A crash at an init's call kills the runtime while its init still
    // holds the container's lock (inherited across clone) for the moment it
    // takes to see the runtime gone and exit: gc skips the container then,
    // as it must. So gc runs again while it skips, for at most 5 s; an
    // orphan that keeps the lock longer leaves the container to the probes.
    auto gc = rt.Gc();
    const auto start = std::chrono::steady_clock::now();
    int again = 0;
    while (gc && !gc->skipped.empty() &&
           std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      gc = rt.Gc();
      ++again;
    }
    if (again > 0) {
      res->notes.push_back("gc after the crash skipped a container whose lock was still held; ran " +
                           std::to_string(again) + " more time" + (again == 1 ? "" : "s"));
    }
    if (!gc) {
      res->notes.push_back("gc after the crash failed: " + gc.error().Message());
      return;
    }
    std::string removed;
    for (const auto& id : gc->removed) removed += " " + id;
    res->notes.push_back("ran gc after the crash; removed:" +
                         (removed.empty() ? std::string(" nothing") : removed));
    for (const auto& e : gc->errors) res->notes.push_back("gc error: " + e.Message());
  }

  void ReapRun(const std::string& name, StepOutcome* o) {
    auto it = runs_.find(name);
    if (it != runs_.end()) ReapBackgroundRun(it->second, "the run of " + name, o);
  }

  RunEnv env_;
  mydocker::LinuxSys sys_;
  std::string root_, work_, layer_;
  bool recover_after_crash_ = true;
  std::map<std::string, std::string> ids_;       // step name -> container id
  std::map<std::string, BackgroundRun> runs_;    // step name -> its background run
  std::map<std::string, Held> held_;             // step name -> the call its run holds
};

}  // namespace

std::unique_ptr<RuntimeAdapter> MakeBuiltinAdapter(const RunEnv& env) {
  return std::make_unique<BuiltinAdapter>(env);
}

std::string HostHostnameNow() {
  struct utsname u {};
  if (uname(&u) != 0) return "";
  return u.nodename;
}

}  // namespace faultline
