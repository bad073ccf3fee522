// The in-process core over FakeKernel: the `mock` label's runtime. No
// privileges and no kernel side effects; the probes read the same FakeKernel
// the runtime ran on. Fake programs only (true, false, sh -c "exit N",
// hostname, echo, cat, ls, grep, sleep; sh -c scripts with ; && || | >&2):
// isolation checks cannot run here. Steps: attached and detached runs (a
// detached run's monitor lives on in the kernel, on its fiber), exec,
// stop, rm, gc, ps, logs, wait (time passes for the init) and
// kill_runtime (SIGKILL to the monitor).
#include <errno.h>
#include <fcntl.h>
#include <signal.h>

#include <chrono>
#include <optional>
#include <map>
#include <mutex>
#include <set>

#include <spdlog/spdlog.h>

#include "harness/adapters/builtin_worker.h"
#include "harness/adapters/fault_bridge.h"
#include "harness/adapters/step_support.h"
#include "fakekernel/fake_kernel.h"
#include "faults/fault_injecting_sys.h"
#include "runtime/container/runtime.h"

namespace faultline {
namespace {

// What a scenario's container asks of Runtime::Run.
mydocker::RunSpec RunSpecOf(const ContainerRequest& req) {
  mydocker::RunSpec spec;
  spec.image = req.image;
  spec.argv = req.argv;
  spec.env = req.env;
  spec.hostname = req.hostname;
  spec.security.cap_add = req.cap_add;
  spec.limits = req.limits;
  spec.volumes = req.volumes;
  return spec;
}

using mydocker::Outcome;

constexpr const char* kRoot = "/var/lib/faultline-fake";

class FakeAdapter : public RuntimeAdapter {
 public:
  explicit FakeAdapter(RunEnv env) : env_(std::move(env)) {}
  std::string name() const override { return "fake"; }
  std::string PauseLacks() const override {
    return "the fake adapter cannot hold a call of a run (pause_at): on FakeKernel a run "
           "returns within its step, started or failed (no pause channel between steps)";
  }
  bool SupportsFaults() const override { return true; }
  bool RealKernel() const override { return false; }

  Outcome Prepare() override { return BeginScenario(); }

  // A fresh kernel with the busybox image in the store, per scenario.
  Outcome BeginScenario() override {
    std::lock_guard<std::mutex> lock(mu_);
    kernel_ = std::make_unique<FakeKernel>();
    detached_.clear();  // after the kernel that ran their monitors is gone
    const std::string dir = std::string(kRoot) + "/images/busybox";
    if (auto s = kernel_->BuildBusyboxImage(dir + "/rootfs"); !s.ok()) {
      return mydocker::MakeError("fake: build busybox image", dir, s.err);
    }
    if (auto s = kernel_->AddFile(dir + "/image.json",
                                  R"({"name":"busybox","source":"fake","size":0,"files":0})");
        !s.ok()) {
      return mydocker::MakeError("fake: write image.json", dir, s.err);
    }
    layer_ = dir + "/rootfs";
    // The state directory every run uses: made once, so it is no "leftover".
    if (auto st = kernel_->AddDir(std::string(kRoot) + "/containers", 0700); !st.ok()) {
      return mydocker::MakeError("fake: create state dir", kRoot, st.err);
    }
    // ... and the store lock the first run would make (StateStore::StoreLockPath).
    if (auto st = kernel_->AddFile(std::string(kRoot) + "/containers.lock", "", 0600); !st.ok()) {
      return mydocker::MakeError("fake: create store lock", kRoot, st.err);
    }
    return Outcome::Ok();
  }

  Outcome AddImage(const HostileImage& image) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto info = InstallImage(*kernel_, kRoot, layer_, "/faultline-" + image.name + ".tar", image);
    if (!info) return info.error();
    return Outcome::Ok();
  }

  ContainerResult Run(const ContainerRequest& req) override {
    std::lock_guard<std::mutex> lock(mu_);
    ContainerResult res;
    res.ran = true;
    res.replay = "faultline run --runtime fake <scenario file>";
    auto start = std::chrono::steady_clock::now();
    mydocker::Sys* sys = kernel_.get();
    std::unique_ptr<mydocker::Sys> faulty;
    if (req.faults && !req.faults.IsNull()) {
      std::string error;
      faulty = MakeFaultySys(*kernel_, req.faults, &error);
      if (!faulty) {
        res.runtime_error = true;
        res.error_step = "fault plan";
        res.error_message = error;
        res.exit_code = mydocker::kExitRuntimeError;
        return res;
      }
      sys = faulty.get();
    }
    mydocker::RuntimeConfig config;
    config.root = kRoot;
    config.cgroup_parent = env_.cgroup_parent;
    config.inherited_env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
    const std::string id = req.id;
    config.new_id = [id] { return id; };
    config.on_running = [&](const mydocker::ContainerState&) {
      ProbeScope scope;
      scope.cgroup_parent = env_.cgroup_parent;
      scope.holders = false;
      scope.fds = false;
      Snapshot s = TakeSnapshot(*kernel_, scope);
      res.live_checked = true;
      for (const auto& c : s.probes["cgroups"]) res.live_cgroups.push_back(c);
    };
    mydocker::Runtime rt(*sys, config);
    mydocker::RunSpec spec = RunSpecOf(req);
    const size_t console_before = kernel_->console().size();
    std::optional<mydocker::Expected<mydocker::RunResult>> ran;
    try {
      ran.emplace(rt.Run(spec));
    } catch (const Crash& c) {
      // The runtime died at the crash point: the kernel model reaps it, then
      // gc (a fresh runtime process, no faults) must clean up.
      res.out = kernel_->console().substr(console_before);
      res.crashed = true;
      res.runtime_error = true;
      res.exit_code = 128 + 9;
      res.error_message = std::string("crash injected: ") + c.what();
      kernel_->RuntimeCrashed();
      mydocker::Runtime recover(*kernel_, config);
      auto gc = recover.Gc();
      if (!gc) {
        res.notes.push_back("gc after the crash failed: " + gc.error().Message());
      } else {
        res.notes.push_back("ran gc after the crash: removed " +
                            std::to_string(gc->removed.size()));
        for (const auto& e : gc->errors) res.notes.push_back("gc error: " + e.Message());
      }
      return res;
    }
    auto& r = *ran;
    res.out = kernel_->console().substr(console_before);
    if (!r) {
      res.runtime_error = true;
      res.error_step = r.error().step;
      res.error_errno = r.error().err;
      res.error_message = r.error().Message();
      res.exit_code = mydocker::kExitRuntimeError;
      res.err = "mydocker: " + res.error_message + "\n";
    } else {
      res.exit_code = r->exit_code;
      if (!r->message.empty()) {
        res.error_message = r->message;
        res.err = "mydocker: " + r->message + "\n";
      }
    }
    res.notes.push_back("fake kernel: stdout and stderr share the console");
    res.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return res;
  }

  std::string TeardownAgain(const std::string& id, bool* not_found) override {
    std::lock_guard<std::mutex> lock(mu_);
    mydocker::RuntimeConfig config;
    config.root = kRoot;
    config.cgroup_parent = env_.cgroup_parent;
    mydocker::Runtime rt(*kernel_, config);
    Outcome o = rt.Remove(id, true);
    *not_found = !o.ok() && o.error().err == ENOENT;
    if (o.ok() || *not_found) return "";
    return o.error().Message();
  }

  // ---- steps: the in-process core over FakeKernel ----
  // A detached run's monitor and init stay in the kernel (the monitor
  // blocked on its fiber in waitpid) while later steps run; its Runtime
  // object stays alive with it (the monitor's frames use it).
  std::string StepLacks(const std::string& action, bool) const override {
    static const std::set<std::string> kHave = {"run",  "rm",   "gc",   "ps",          "recover",
                                                "exec", "stop", "wait", "kill_runtime", "logs"};
    if (kHave.count(action)) return "";
    return "the in-process core over the fake kernel has no " + action +
           " (runtime/container/runtime.h: Run, List, Logs, Exec, Stop, Remove, Gc)";
  }

  StepOutcome Step(const StepRequest& q) override {
    StepOutcome o;
    if (q.action == "run" && !q.detach) {
      ContainerResult c = Run(q.container);
      ids_[q.name] = q.container.id;
      o.exit_code = c.exit_code;
      o.out = c.out;
      o.err = c.err;
      return o;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (q.action == "run") return RunDetached(q);
    mydocker::Runtime rt(*kernel_, StepConfig());
    const std::string id = ids_.count(q.name) ? ids_[q.name] : q.name;
    if (q.action == "rm") {
      Outcome r = rt.Remove(id, q.force);
      if (!r) {
        o.exit_code = 1;
        o.err = "mydocker: " + r.error().Message() + "\n";
      }
    } else if (q.action == "gc" || q.action == "recover") {
      auto gc = rt.Gc();
      if (!gc) {
        o.exit_code = 1;
        o.err = "mydocker: " + gc.error().Message() + "\n";
      } else {
        for (const auto& x : gc->removed) o.out += "removed " + x + "\n";
        for (const auto& x : gc->skipped) o.out += "skipped " + x + "\n";
        for (const auto& e : gc->errors) o.err += "mydocker: " + e.Message() + "\n";
        if (!gc->errors.empty()) o.exit_code = 1;
      }
    } else if (q.action == "ps") {
      auto l = rt.List();
      if (!l) {
        o.exit_code = 1;
        o.err = "mydocker: " + l.error().Message() + "\n";
      } else {
        o.out = PsText(*l);
      }
    } else if (q.action == "exec") {
      return Exec(rt, id, q.argv);
    } else if (q.action == "stop") {
      Outcome r = rt.Stop(id, q.timeout.value_or(10));
      if (!r) {
        o.exit_code = 1;
        o.err = "mydocker: " + r.error().Message() + "\n";
      }
    } else if (q.action == "logs") {
      auto l = rt.Logs(id);
      if (!l) {
        o.exit_code = 1;
        o.err = "mydocker: " + l.error().Message() + "\n";
      } else {
        o.out = l->out;
        o.err = l->err;
      }
    } else if (q.action == "wait" || q.action == "kill_runtime") {
      if (!detached_.count(q.name)) {
        o.exit_code = 1;
        o.err = q.action + ": " + q.name + " was not run in the background\n";
        return o;
      }
      return q.action == "wait" ? WaitDetached(rt, id) : KillMonitor(q.name, id);
    } else {
      o.not_applicable = StepLacks(q.action, q.detach);
    }
    return o;
  }

  ContainerView Inspect(const std::string& name) override {
    std::lock_guard<std::mutex> lock(mu_);
    return ViewFromStore(*kernel_, kRoot, ids_.count(name) ? ids_[name] : name);
  }

  void EndSteps(std::vector<std::string>* notes) override {
    for (const auto& [name, id] : ids_) {
      if (!Inspect(name).known) continue;
      bool not_found = false;
      std::string err = TeardownAgain(id, &not_found);
      notes->push_back("harness removed " + name + " after the last step (rm -f): " +
                       (err.empty() ? std::string("ok") : err));
    }
    ids_.clear();
  }

  std::string ExpectedCgroup(const std::string& id) const override {
    return "/" + env_.cgroup_parent + "/" + id;
  }
  mydocker::Sys& ProbeSys() override { return *kernel_; }
  ProbeScope Scope() const override {
    ProbeScope s;
    s.dirs = {kRoot};
    s.cgroup_parent = env_.cgroup_parent;
    s.dirs_prune = {std::string(kRoot) + "/images"};
    return WithOutside(std::move(s));
  }
  std::string ImageLayer() const override { return layer_; }
  std::string HostHostname() override {
    std::lock_guard<std::mutex> lock(mu_);
    return kernel_->Hostname(kernel_->RuntimePid());
  }

 private:
  mydocker::RuntimeConfig StepConfig() const {
    mydocker::RuntimeConfig config;
    config.root = kRoot;
    config.cgroup_parent = env_.cgroup_parent;
    config.inherited_env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
    return config;
  }

  // run -d: Run returns once the command is exec'd; the monitor goes on
  // in the kernel with this Runtime (kept in detached_).
  StepOutcome RunDetached(const StepRequest& q) {
    StepOutcome o;
    const ContainerRequest& req = q.container;
    mydocker::RuntimeConfig config = StepConfig();
    const std::string id = req.id;
    config.new_id = [id] { return id; };
    auto rt = std::make_unique<mydocker::Runtime>(*kernel_, config);
    mydocker::RunSpec spec = RunSpecOf(req);
    spec.detach = true;
    ids_[q.name] = id;
    auto r = rt->Run(spec);
    detached_[q.name] = std::move(rt);
    if (!r) {
      o.exit_code = mydocker::kExitRuntimeError;
      o.err = "mydocker: " + r.error().Message() + "\n";
      return o;
    }
    o.exit_code = r->exit_code;
    if (!r->message.empty()) o.err = "mydocker: " + r->message + "\n";
    if (r->exit_code == 0) o.out = r->id + "\n";  // as docker run -d prints
    return o;
  }

  // exec with the command's stdout and stderr in two pipes of the kernel
  // (unbounded: read once the command ended).
  StepOutcome Exec(mydocker::Runtime& rt, const std::string& id,
                   const std::vector<std::string>& argv) {
    StepOutcome o;
    auto out = kernel_->Pipe(O_CLOEXEC);
    auto err = kernel_->Pipe(O_CLOEXEC);
    if (!out.ok() || !err.ok()) {
      o.exit_code = mydocker::kExitRuntimeError;
      o.err = std::string("exec ") + id + ": pipe2 of the " + (out.ok() ? "stderr" : "stdout") +
              " pipe: " + mydocker::ErrnoName(out.ok() ? err.err : out.err);
      for (auto* p : {&out, &err}) {
        if (!p->ok()) continue;
        (void)kernel_->Close(p->value.read_fd);
        (void)kernel_->Close(p->value.write_fd);
      }
      return o;
    }
    mydocker::ExecSpec spec;
    spec.argv = argv;
    spec.stdout_fd = out.value.write_fd;
    spec.stderr_fd = err.value.write_fd;
    auto e = rt.Exec(id, spec);
    (void)kernel_->Close(out.value.write_fd);
    (void)kernel_->Close(err.value.write_fd);
    o.out = Drain(out.value.read_fd);
    o.err = Drain(err.value.read_fd);
    AddExecResult(e, &o);
    return o;
  }

  // Reads fd to its end (or until it would block) and closes it.
  std::string Drain(int fd) {
    std::string text;
    char buf[4096];
    for (;;) {
      auto n = kernel_->Read(fd, buf, sizeof buf);
      if (!n.ok() || n.value == 0) break;
      text.append(buf, n.value);
    }
    (void)kernel_->Close(fd);
    return text;
  }

  // wait of a detached run: time passes for its init (a sleep ends, the
  // rest of its script runs), its monitor records the end; the exit is
  // the recorded one, the output its logs.
  StepOutcome WaitDetached(mydocker::Runtime& rt, const std::string& id) {
    StepOutcome o;
    mydocker::StateStore store(*kernel_, kRoot);
    auto st = store.Read(id);
    if (!st) {
      o.exit_code = 1;
      o.err = "wait: " + st.error().Message() + "\n";
      return o;
    }
    if (st->status == "running" && st->pid > 0 && !kernel_->TimePasses(st->pid)) {
      o.timed_out = true;  // the init cannot end (a cycle of waits)
      o.exit_code = -1;
      return o;
    }
    st = store.Read(id);
    o.exit_code = st ? st->exit_code : -1;
    o.notes.push_back("state after the wait: " + (st ? st->status : std::string("gone")));
    if (auto logs = rt.Logs(id)) {
      o.out = logs->out;
      o.err = logs->err;
    } else {
      o.notes.push_back("logs after the wait: " + logs.error().Message());
    }
    return o;
  }

  // kill_runtime of a detached run: SIGKILL to its monitor (the run's
  // runtime process, state.runtime_pid); its init dies with it (pdeathsig).
  StepOutcome KillMonitor(const std::string& name, const std::string& id) {
    StepOutcome o;
    mydocker::StateStore store(*kernel_, kRoot);
    auto st = store.Read(id);
    if (!st || st->runtime_pid <= 0 || st->runtime_pid == kernel_->RuntimePid() ||
        !kernel_->ProcessExists(st->runtime_pid)) {
      o.exit_code = 1;
      o.err = "kill_runtime: " + name + " has no live monitor process\n";
      return o;
    }
    if (auto k = kernel_->Kill(st->runtime_pid, SIGKILL); !k.ok()) {
      o.exit_code = 1;
      o.err = "kill_runtime: kill " + std::to_string(st->runtime_pid) + ": " +
              mydocker::ErrnoName(k.err) + "\n";
      return o;
    }
    o.notes.push_back("SIGKILLed the monitor of " + name + " (pid " +
                      std::to_string(st->runtime_pid) + ")");
    return o;
  }

  RunEnv env_;
  std::mutex mu_;
  // Declared before kernel_, so destroyed after it: a kernel destroyed with
  // a blocked monitor frees its stack without unwinding it.
  std::map<std::string, std::unique_ptr<mydocker::Runtime>> detached_;
  std::unique_ptr<FakeKernel> kernel_;
  std::string layer_;
  std::map<std::string, std::string> ids_;  // step name -> container id
};

}  // namespace

std::unique_ptr<RuntimeAdapter> MakeFakeAdapter(const RunEnv& env) {
  return std::make_unique<FakeAdapter>(env);
}

}  // namespace faultline
