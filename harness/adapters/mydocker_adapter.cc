// The mydocker binary: `mydocker --root R --cgroup-parent P run ...`. While it
// runs, a thread polls the cgroups probe so the live check sees the
// container's cgroup (a command shorter than the poll interval may be missed;
// a scenario that asserts cgroup_live runs long enough).
#include <errno.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>

#include "harness/adapters/builtin_worker.h"
#include "harness/adapters/process.h"
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
    // The state directory every run uses: made once, so it is no "leftover".
    MYDOCKER_TRY(mydocker::MkdirAll(sys_, root_ + "/containers", 0700, "mydocker: create state dir"));
    // ... and the store lock the first run would make (StateStore::StoreLockPath).
    MYDOCKER_TRY(mydocker::WriteFile(sys_, root_ + "/containers.lock", "", 0600,
                                     "mydocker: create store lock"));
    return Outcome::Ok();
  }

  // The same store layout as the binary's (image_store.h), made in-process.
  Outcome AddImage(const HostileImage& image) override {
    auto info = InstallImage(sys_, root_, layer_, work_ + "/" + image.name + ".tar", image);
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

  RunEnv env_;
  std::string name_;
  mydocker::LinuxSys sys_;
  std::string root_, work_, layer_;
};

}  // namespace

std::unique_ptr<RuntimeAdapter> MakeMydockerAdapter(const RunEnv& env, std::string name) {
  return std::make_unique<MydockerAdapter>(env, std::move(name));
}

}  // namespace faultline
