// The in-process core over FakeKernel: the `mock` label's runtime. No
// privileges and no kernel side effects; the probes read the same FakeKernel
// the runtime ran on. Fake programs only (true, false, sh -c "exit N",
// hostname, echo, cat, ls, sleep): isolation checks cannot run here.
#include <errno.h>

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

using mydocker::Outcome;

constexpr const char* kRoot = "/var/lib/faultline-fake";

class FakeAdapter : public RuntimeAdapter {
 public:
  explicit FakeAdapter(RunEnv env) : env_(std::move(env)) {}
  std::string name() const override { return "fake"; }
  bool SupportsFaults() const override { return true; }
  bool RealKernel() const override { return false; }

  Outcome Prepare() override { return BeginScenario(); }

  // A fresh kernel with the busybox image in the store, per scenario.
  Outcome BeginScenario() override {
    std::lock_guard<std::mutex> lock(mu_);
    kernel_ = std::make_unique<FakeKernel>();
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
    mydocker::RunSpec spec;
    spec.image = req.image;
    spec.argv = req.argv;
    spec.env = req.env;
    spec.hostname = req.hostname;
    spec.security.cap_add = req.cap_add;
    spec.limits = req.limits;
    spec.volumes = req.volumes;
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

  // ---- steps: the in-process core over FakeKernel, one run at a time ----
  std::string StepLacks(const std::string& action, bool detach) const override {
    if (action == "run" && detach) {
      return "the fake kernel runs one attached run at a time (no run in the background)";
    }
    static const std::set<std::string> kHave = {"run", "rm", "gc", "ps", "recover"};
    if (kHave.count(action)) return "";
    return "the in-process core over the fake kernel has no " + action +
           " (runtime/container/runtime.h: Run, List, Remove, Gc; attached runs only)";
  }

  StepOutcome Step(const StepRequest& q) override {
    StepOutcome o;
    if (q.action == "run") {
      ContainerResult c = Run(q.container);
      ids_[q.name] = q.container.id;
      o.exit_code = c.exit_code;
      o.out = c.out;
      o.err = c.err;
      return o;
    }
    std::lock_guard<std::mutex> lock(mu_);
    mydocker::RuntimeConfig config;
    config.root = kRoot;
    config.cgroup_parent = env_.cgroup_parent;
    mydocker::Runtime rt(*kernel_, config);
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
  RunEnv env_;
  std::mutex mu_;
  std::unique_ptr<FakeKernel> kernel_;
  std::string layer_;
  std::map<std::string, std::string> ids_;  // step name -> container id
};

}  // namespace

std::unique_ptr<RuntimeAdapter> MakeFakeAdapter(const RunEnv& env) {
  return std::make_unique<FakeAdapter>(env);
}

}  // namespace faultline
