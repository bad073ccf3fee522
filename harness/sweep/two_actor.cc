// The two-actor sweep on FakeKernel: see two_actor.h and docs/sweeps.md
// ("Two actors") for what an interleaving is and what passes.
#include "harness/sweep/two_actor.h"

#include <errno.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "harness/sweep/common.h"
#include "harness/sweep/sweep.h"
#include "runtime/cgroups/cgroups.h"
#include "runtime/sys/fs_util.h"
#include "runtime/sys/sys_wrapper.h"

namespace faultline {
namespace {

using mydocker::Error;
using mydocker::JoinPath;
using namespace sweep_internal;

// B's container (the `run` actor): another id than A's.
constexpr const char* kSecondId = "5ee900000002";
constexpr const char* kImage = "busybox";

std::string StoreLock(const std::string& root = kFakeRoot) {
  return JoinPath(root, "containers.lock");
}
std::string ContainerDir(const std::string& root = kFakeRoot) {
  return JoinPath(JoinPath(root, "containers"), kSweepId);
}
std::string ContainerLock(const std::string& root = kFakeRoot) {
  return JoinPath(ContainerDir(root), "lock");
}

// Lets every call through; before the k-th it runs `at` (once).
class HoldAt : public mydocker::SysWrapper {
 public:
  HoldAt(mydocker::Sys& target, size_t k, std::function<void()> at)
      : SysWrapper(target), k_(k), at_(std::move(at)) {}

 protected:
  void Intercept(mydocker::SysCall& call) override {
    if (++n_ == k_) at_();
    call.Proceed();
  }

 private:
  size_t n_ = 0;
  size_t k_;
  std::function<void()> at_;
};

std::vector<pid_t> MembersOfA(mydocker::Sys& sys) {
  auto layout = mydocker::DetectCgroupLayout(sys);
  if (!layout) return {};
  auto members = mydocker::Cgroup::Existing(sys, *layout, kFakeCgroupParent, kSweepId).Members();
  return members ? *members : std::vector<pid_t>{};
}

HeldState Observe(FakeKernel& kernel) {
  HeldState h;
  h.store_lock = !kernel.FlockHolders(StoreLock()).empty();
  h.container_lock = !kernel.FlockHolders(ContainerLock()).empty();
  h.container_dir = kernel.Lstat(ContainerDir()).ok();
  h.init_in_cgroup = !MembersOfA(kernel).empty();
  return h;
}

bool IsError(const SecondActorRun& b, const std::string& step, const std::string& path, int err) {
  return b.returned_error && b.error.step == step && b.error.path == path && b.error.err == err;
}

}  // namespace

SecondActorRun RunMydockerSecondActor(mydocker::Sys& sys, SecondActor a,
                                      const mydocker::RunSpec& spec, const std::string& root,
                                      const std::string& cgroup_parent) {
  SecondActorRun out;
  mydocker::RuntimeConfig config = ConfigFor(root, cgroup_parent);
  config.new_id = [] { return std::string(kSecondId); };
  // FakeKernel cannot run A while rm waits: rm answers at once (the kernel
  // two-actor sweep keeps the rule: one table of outcomes for both).
  config.rm_wait_ms = 0;
  mydocker::Runtime rt(sys, config);
  auto take = [&](const mydocker::Outcome& o) {
    if (!o) {
      out.returned_error = true;
      out.error = o.error();
    }
  };
  switch (a) {
    case SecondActor::kGc: {
      auto r = rt.Gc();
      if (r) out.gc = *r;
      else take(r.error());
      break;
    }
    case SecondActor::kRmForce:
      take(rt.Remove(kSweepId, true));
      break;
    case SecondActor::kRun: {
      auto r = rt.Run(spec);
      if (r) out.run = *r;
      else take(r.error());
      break;
    }
    case SecondActor::kImageRm:
      take(rt.RemoveImage(kImage));
      break;
  }
  return out;
}

std::vector<std::string> SecondActorArgv(SecondActor a, const mydocker::RunSpec& spec) {
  switch (a) {
    case SecondActor::kGc: return {"mydocker", "gc"};
    case SecondActor::kRmForce: return {"mydocker", "rm", "-f", kSweepId};
    case SecondActor::kRun: {
      std::vector<std::string> argv = {"mydocker", "run", kImage};
      argv.insert(argv.end(), spec.argv.begin(), spec.argv.end());
      return argv;
    }
    case SecondActor::kImageRm: return {"mydocker", "image", "rm", kImage};
  }
  return {"mydocker"};
}

std::string SecondActorRun::Text(SecondActor a) const {
  if (returned_error) return "error: " + error.Message();
  switch (a) {
    case SecondActor::kGc: {
      std::string out = "gc: removed [";
      for (size_t i = 0; i < gc.removed.size(); ++i) out += (i ? " " : "") + gc.removed[i];
      out += "] skipped [";
      for (size_t i = 0; i < gc.skipped.size(); ++i) out += (i ? " " : "") + gc.skipped[i];
      out += "] errors [";
      for (size_t i = 0; i < gc.errors.size(); ++i) out += (i ? "; " : "") + gc.errors[i].Message();
      return out + "]";
    }
    case SecondActor::kRun:
      return "run: exit " + std::to_string(run.exit_code) +
             (run.message.empty() ? "" : " (" + run.message + ")");
    case SecondActor::kRmForce:
      return "rm -f: removed";
    case SecondActor::kImageRm:
      return "image rm: removed";
  }
  return "?";
}

std::string TwoActorAllowed(SecondActor a, const HeldState& h) {
  if (h.store_lock) return "waits-for-store-lock";
  switch (a) {
    case SecondActor::kGc:
      if (h.container_lock) return "gc-skips-a";
      if (!h.container_dir) return "gc-finds-nothing";
      return "";
    case SecondActor::kRmForce:
      if (h.container_lock) return "rm-kills-and-refuses";
      if (!h.container_dir) return "rm-no-such-container";
      return "";
    case SecondActor::kRun:
      return "run-runs";
    case SecondActor::kImageRm:
      if (h.container_dir) return "image-rm-refuses-in-use";
      return "image-rm-removes";
  }
  return "";
}

std::string CheckSecondActor(SecondActor a, const std::string& allowed, const SecondActorRun& b,
                             const std::string& root) {
  auto want = [&](bool ok, const std::string& what) { return ok ? std::string() : what; };
  if (allowed == "waits-for-store-lock") {
    return want(IsError(b, "container: lock store: lock", StoreLock(root), EDEADLK),
                "want the store lock's EDEADLK (container: lock store: lock " + StoreLock(root) +
                    ")");
  }
  if (allowed == "gc-skips-a") {
    return want(!b.returned_error && b.gc.removed.empty() && b.gc.errors.empty() &&
                    b.gc.skipped == std::vector<std::string>{kSweepId},
                "want gc to skip A and do nothing else");
  }
  if (allowed == "gc-finds-nothing") {
    return want(!b.returned_error && b.gc.removed.empty() && b.gc.errors.empty() &&
                    b.gc.skipped.empty(),
                "want gc to find nothing");
  }
  if (allowed == "rm-kills-and-refuses") {
    if (!IsError(b, "rm: lock container: lock", ContainerLock(root), EWOULDBLOCK)) {
      return "want rm -f to refuse with the container lock's EWOULDBLOCK (rm: lock container: "
             "lock " + ContainerLock(root) + ")";
    }
    return want(!b.a_members_known || b.a_members.empty(),
                "want rm -f to have killed every member of A's cgroup");
  }
  if (allowed == "rm-no-such-container") {
    return want(IsError(b, "rm", kSweepId, ENOENT), "want rm -f: ENOENT no such container");
  }
  if (allowed == "run-runs") {
    return want(!b.returned_error && b.run.exit_code == 0 && b.run.message.empty() &&
                    b.run.id == kSecondId,
                "want B to run to exit 0");
  }
  if (allowed == "image-rm-refuses-in-use") {
    return want(IsError(b, "image remove", kImage, EBUSY) &&
                    b.error.detail.find(std::string("used by container ") + kSweepId) !=
                        std::string::npos,
                "want image rm to refuse: EBUSY used by container " + std::string(kSweepId));
  }
  if (allowed == "image-rm-removes") {
    return want(!b.returned_error, "want image rm to remove the image");
  }
  (void)a;
  return "no outcome is allowed in this state";
}

std::string AOutcomeAllowed(SecondActor actor, const std::string& allowed, bool init_in_cgroup,
                            const SweepRun& a, int clean_exit, const std::string& root,
                            const std::string& cgroup_parent) {
  const bool killed =
      actor == SecondActor::kRmForce && allowed == "rm-kills-and-refuses" && init_in_cgroup;
  const std::string image_dir = JoinPath(JoinPath(root, "images"), kImage);
  auto a_error = [&](const char* step, const std::string& path, int err) {
    return a.returned_error && a.error.step == step && a.error.path == path && a.error.err == err;
  };
  if (!a.returned_error && a.exit_code == clean_exit && a.message.empty()) return "as-clean-run";
  if (killed && ((!a.returned_error && a.exit_code == 128 + SIGKILL && a.message.empty()) ||
                 (a.returned_error && a.error.step == "cgroup: attach" && a.error.err == ESRCH &&
                  a.error.path.ends_with("/" + cgroup_parent + "/" + kSweepId + "/cgroup.procs")) ||
                 a_error("container: send command", "command pipe", EPIPE))) {
    return "killed-by-rm-f";
  }
  if (actor == SecondActor::kImageRm && allowed == "image-rm-removes" &&
      a_error("image get", image_dir, ENOENT)) {
    return "image-gone";
  }
  return "";
}

namespace {

bool MentionsGc(const Error& e) { return e.Message().find("mydocker gc") != std::string::npos; }

struct Clean {
  std::vector<SweepCall> calls;
  int exit_code = 0;
};

TwoActorResult RunOne(const FakeSweepWorld& w, const TwoActorConfig& cfg, const Clean& clean,
                      size_t k, SecondActor actor) {
  TwoActorResult res;
  res.point = k;
  res.actor = actor;
  if (k >= 1 && k <= clean.calls.size()) {
    const SweepCall& c = clean.calls[k - 1];
    uint64_t nth = 0;
    for (size_t i = 0; i < k; ++i) {
      nth += clean.calls[i].pid == c.pid && clean.calls[i].op == c.op;
    }
    res.point_id = PointId(c.pid, c.op, nth, c.args);
    res.process = c.pid == kSweepRuntimePid ? "runtime" : c.pid == kSweepInitPid ? "init" : "pid";
    res.op = c.op;
    res.args = c.args;
  }
  res.replay = cfg.replay_prefix + " --second-actor " + SecondActorName(actor) + " --point " +
               std::to_string(k) + " " + cfg.workload.source;

  FakeKernel kernel = w.kernel;
  std::unique_ptr<mydocker::Sys> wrap_a;
  mydocker::Sys* base = &kernel;
  if (cfg.wrap) {
    wrap_a = cfg.wrap(kernel);
    base = wrap_a.get();
  }
  SecondActorRun b;
  auto second = [&] {
    res.hold_fired = true;
    const pid_t p = kernel.StartHostProcess(SecondActorArgv(actor, w.spec));
    const pid_t back = kernel.SwitchProcess(p);
    res.held = Observe(kernel);
    const std::set<std::string> fds0 = FdSet(kernel);
    {
      std::unique_ptr<mydocker::Sys> wrap_b = cfg.wrap ? cfg.wrap(kernel) : nullptr;
      b = RunMydockerSecondActor(wrap_b ? *wrap_b : static_cast<mydocker::Sys&>(kernel), actor,
                                 w.spec, kFakeRoot, kFakeCgroupParent);
    }
    b.fds = FdDiff(fds0, FdSet(kernel));
    b.a_members = MembersOfA(kernel);
    kernel.EndHostProcess(p, 0);
    kernel.SwitchProcess(back);
  };
  SweepRun a;
  {
    FaultInjectingSys fis(*base, FaultPlan{});
    HoldAt hold(fis, k, second);
    mydocker::Runtime rt(hold, ConfigFor(kFakeRoot, kFakeCgroupParent));
    TakeOutcome(rt.Run(w.spec), &a);
  }
  std::vector<ProbeDiff> a_fds = FdDiff(w.fds_before, FdSet(kernel));
  EndFakeRuntimeProcess(kernel);
  std::vector<ProbeDiff> left = Compare(w.before, TakeSnapshot(kernel, w.scope));
  for (auto& d : a_fds) {
    d.probe = "fds (A)";
    left.push_back(std::move(d));
  }
  for (auto d : b.fds) {
    d.probe = "fds (second actor)";
    left.push_back(std::move(d));
  }
  res.left = Describe(left);

  // The second actor.
  res.second_outcome = b.Text(actor);
  if (!res.hold_fired) {
    res.failures.push_back("A never reached its call " + std::to_string(k));
  } else {
    res.allowed = TwoActorAllowed(actor, res.held);
    if (res.allowed.empty()) {
      res.failures.push_back("no second-actor outcome is allowed while A holds " +
                             res.held.Text() + "; it did: " + res.second_outcome);
    } else if (std::string why = CheckSecondActor(actor, res.allowed, b, kFakeRoot); !why.empty()) {
      res.failures.push_back("second actor " + std::string(SecondActorName(actor)) + " (" +
                             res.allowed + "): " + why + "; it did: " + res.second_outcome);
    }
  }

  // A: the clean run's result, or exactly one the second actor explains.
  if (a.returned_error) {
    res.a_outcome = "error: " + a.error.Message();
  } else {
    res.a_outcome = "exit " + std::to_string(a.exit_code) +
                    (a.message.empty() ? "" : " (" + a.message + ")");
  }
  res.a_allowed = AOutcomeAllowed(actor, res.allowed, res.held.init_in_cgroup, a, clean.exit_code,
                                  kFakeRoot, kFakeCgroupParent);
  if (res.a_allowed.empty()) {
    res.failures.push_back("A's outcome is neither the clean run's nor one the second actor " +
                           std::string("explains: ") + res.a_outcome);
  }

  // Leftovers: none after A's end; where A's error says so, none after gc.
  if (!left.empty()) {
    const bool gc_promised = a.returned_error && MentionsGc(a.error);
    mydocker::Runtime gc(*base, ConfigFor(kFakeRoot, kFakeCgroupParent));
    SweepRun g;
    RunGc(gc, &g);
    res.gc_ran = true;
    std::vector<ProbeDiff> after = Compare(w.before, TakeSnapshot(kernel, w.scope));
    res.left_after_gc = Describe(after);
    if (!gc_promised) {
      res.failures.push_back("left after A's end (its outcome promised no gc): " + res.left);
    } else if (!after.empty()) {
      res.failures.push_back("left after gc: " + res.left_after_gc);
    }
  }
  res.passed = res.failures.empty();
  return res;
}

class QuietLogs {
 public:
  explicit QuietLogs(bool verbose) : level_(spdlog::get_level()), active_(!verbose) {
    if (active_) spdlog::set_level(spdlog::level::off);
  }
  ~QuietLogs() {
    if (active_) spdlog::set_level(level_);
  }

 private:
  spdlog::level::level_enum level_;
  bool active_;
};

}  // namespace

const char* SecondActorName(SecondActor a) {
  switch (a) {
    case SecondActor::kGc: return "gc";
    case SecondActor::kRmForce: return "rm-f";
    case SecondActor::kRun: return "run";
    case SecondActor::kImageRm: return "image-rm";
  }
  return "?";
}

bool SecondActorFromName(const std::string& name, SecondActor* a) {
  for (SecondActor x : AllSecondActors()) {
    if (name == SecondActorName(x)) {
      *a = x;
      return true;
    }
  }
  return false;
}

std::vector<SecondActor> AllSecondActors() {
  return {SecondActor::kGc, SecondActor::kRmForce, SecondActor::kRun, SecondActor::kImageRm};
}

mydocker::Expected<std::vector<SecondActor>> ParseSecondActors(
    const std::vector<std::string>& items) {
  std::vector<SecondActor> out;
  for (const std::string& item : SplitList(items)) {
    if (item == "all") {
      for (SecondActor a : AllSecondActors()) {
        if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
      }
      continue;
    }
    SecondActor a;
    if (!SecondActorFromName(item, &a)) {
      return mydocker::MakeError("--second-actor", item, EINVAL,
                                 "want gc, rm-f, run, image-rm or all");
    }
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  }
  if (out.empty()) return mydocker::MakeError("--second-actor", "", EINVAL, "no actor given");
  return out;
}

std::string HeldState::Text() const {
  std::string out;
  auto add = [&](bool on, const char* name) {
    if (on) out += (out.empty() ? "" : " ") + std::string(name);
  };
  add(store_lock, "store-lock");
  add(container_lock, "container-lock");
  add(container_dir, "container-dir");
  add(init_in_cgroup, "init-in-cgroup");
  return out.empty() ? "nothing" : out;
}

TwoActorReport RunTwoActorSweep(const TwoActorConfig& config) {
  const auto t0 = std::chrono::steady_clock::now();
  TwoActorReport report;
  report.workload = config.workload.name;
  for (SecondActor a : config.actors) report.actors.push_back(SecondActorName(a));
  auto finish = [&]() -> TwoActorReport {
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return report;
  };
  QuietLogs quiet(config.verbose);
  FakeSweepWorld world;
  try {
    if (auto o = PrepareFakeSweepWorld(config.kernel, config.workload, &world); !o) {
      report.errors.push_back("prepare: " + o.error().Message());
      return finish();
    }
    // A's clean run: its calls are the points.
    Clean clean;
    {
      FakeKernel kernel = world.kernel;
      std::unique_ptr<mydocker::Sys> wrap;
      mydocker::Sys* base = &kernel;
      if (config.wrap) {
        wrap = config.wrap(kernel);
        base = wrap.get();
      }
      SweepRun run;
      {
        FaultInjectingSys fis(*base, FaultPlan{});
        mydocker::Runtime rt(fis, ConfigFor(kFakeRoot, kFakeCgroupParent));
        TakeOutcome(rt.Run(world.spec), &run);
        for (const TraceEntry& e : fis.trace()) clean.calls.push_back(ToCall(e));
      }
      if (run.returned_error) {
        report.errors.push_back("the clean run failed: " + run.error.Message());
        return finish();
      }
      clean.exit_code = run.exit_code;
      EndFakeRuntimeProcess(kernel);
      if (auto left = Compare(world.before, TakeSnapshot(kernel, world.scope)); !left.empty()) {
        report.errors.push_back("the clean run left: " + Describe(left));
        return finish();
      }
    }
    report.points = clean.calls.size();
    std::vector<size_t> points;
    if (config.only_point) {
      if (*config.only_point < 1 || *config.only_point > clean.calls.size()) {
        report.errors.push_back("point " + std::to_string(*config.only_point) +
                                " does not exist: the clean run has " +
                                std::to_string(clean.calls.size()) + " calls");
        return finish();
      }
      points.push_back(*config.only_point);
    } else {
      for (size_t k = 1; k <= clean.calls.size(); ++k) points.push_back(k);
    }
    struct Task {
      size_t k;
      SecondActor a;
    };
    std::vector<Task> tasks;
    for (size_t k : points) {
      for (SecondActor a : config.actors) tasks.push_back({k, a});
    }
    report.results.resize(tasks.size());
    size_t jobs = config.max_parallel > 0
                      ? config.max_parallel
                      : std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8);
    jobs = std::min(jobs, std::max<size_t>(tasks.size(), 1));
    std::atomic<size_t> next{0};
    std::mutex error_mu;
    auto worker = [&] {
      for (size_t i; (i = next.fetch_add(1)) < tasks.size();) {
        try {
          report.results[i] = RunOne(world, config, clean, tasks[i].k, tasks[i].a);
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> l(error_mu);
          report.results[i].point = tasks[i].k;
          report.results[i].actor = tasks[i].a;
          report.results[i].failures.push_back(std::string("the interleaving threw: ") +
                                               e.what());
        }
      }
    };
    std::vector<std::thread> threads;
    for (size_t j = 1; j < jobs; ++j) threads.emplace_back(worker);
    worker();
    for (auto& t : threads) t.join();
  } catch (const std::exception& e) {
    report.errors.push_back(std::string("the sweep threw: ") + e.what());
    return finish();
  }
  report.interleavings = report.results.size();
  report.planned = report.points * config.actors.size();
  for (const TwoActorResult& r : report.results) {
    (r.passed ? report.passed : report.failed) += 1;
    const std::string actor = SecondActorName(r.actor);
    ++report.outcomes[actor + " " + (r.allowed.empty() ? "(none)" : r.allowed)];
    ++report.outcomes[actor + " a:" + (r.a_allowed.empty() ? "(none)" : r.a_allowed)];
  }
  return finish();
}

nlohmann::json TwoActorReport::ToJson() const {
  nlohmann::json j;
  j["kind"] = "two-actor-sweep";
  j["backend"] = backend;
  j["planned"] = planned;
  if (!shard.empty()) j["shard"] = shard;
  j["workload"] = workload;
  j["points"] = points;
  j["interleavings"] = interleavings;
  j["passed"] = passed;
  j["failed"] = failed;
  j["actors"] = actors;
  j["outcomes"] = outcomes;
  j["errors"] = errors;
  j["seconds"] = seconds;
  j["results"] = nlohmann::json::array();
  for (const TwoActorResult& r : results) {
    nlohmann::json x;
    x["point"] = r.point;
    x["point_id"] = r.point_id;
    x["process"] = r.process;
    x["op"] = r.op;
    x["args"] = r.args;
    x["second_actor"] = SecondActorName(r.actor);
    x["held"] = r.held.Text();
    x["allowed"] = r.allowed;
    x["second_outcome"] = r.second_outcome;
    x["a_outcome"] = r.a_outcome;
    x["a_allowed"] = r.a_allowed;
    x["left"] = r.left;
    x["left_after_gc"] = r.left_after_gc;
    x["gc_ran"] = r.gc_ran;
    x["passed"] = r.passed;
    x["failures"] = r.failures;
    x["replay"] = r.replay;
    if (r.waited) x["waited_on"] = r.waited_on;
    j["results"].push_back(std::move(x));
  }
  return j;
}

std::string TwoActorText(const TwoActorReport& r, size_t max) {
  const size_t swept = r.actors.empty() ? 0 : r.interleavings / r.actors.size();
  std::string out = "two-actor sweep (" + r.backend + "), " + r.workload + ": " +
                    (swept == r.points ? std::to_string(r.points)
                                       : std::to_string(swept) + " of " + std::to_string(r.points)) +
                    " points x " + std::to_string(r.actors.size()) + " actors = " +
                    std::to_string(r.interleavings) + " interleavings, " +
                    std::to_string(r.passed) + " passed, " + std::to_string(r.failed) +
                    " failed\n";
  for (const auto& e : r.errors) out += "error: " + e + "\n";
  for (const auto& [k, n] : r.outcomes) out += "  " + k + ": " + std::to_string(n) + "\n";
  size_t shown = 0;
  for (const TwoActorResult& x : r.results) {
    if (x.passed || shown >= max) continue;
    ++shown;
    out += "FAIL point " + std::to_string(x.point) + " (" + x.point_id + " " + x.args +
           ") second actor " + SecondActorName(x.actor) + ", A held " + x.held.Text() + "\n";
    for (const auto& f : x.failures) out += "  " + f + "\n";
    out += "  A: " + x.a_outcome + "\n  second: " + x.second_outcome +
           (x.waited ? " (ran on after A's release; it waited for " + x.waited_on + ")" : "") +
           "\n";
    if (!x.left.empty()) out += "  left: " + x.left + "\n";
    out += "  replay: " + x.replay + "\n";
  }
  return out;
}

}  // namespace faultline
