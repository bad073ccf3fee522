// The in-process core over LinuxSys: each run is a `faultline __run-builtin`
// worker process (see builtin_worker.h), so the container's stdio can be
// files of its own and a crash (a fault plan's kill action) stays contained.
#include <errno.h>
#include "harness/report/report.h"
#include <signal.h>
#include <sys/utsname.h>

#include <filesystem>
#include <mutex>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "harness/adapters/adapter.h"
#include "harness/adapters/builtin_worker.h"
#include "harness/adapters/process.h"
#include "runtime/container/runtime.h"
#include "runtime/image/image_store.h"
#include "runtime/sys/fs_util.h"
#include "runtime/sys/linux_sys.h"

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
    auto info = InstallImage(sys_, root_, layer_, work_ + "/" + image.name + ".tar", image);
    if (!info) return info.error();
    return Outcome::Ok();
  }

  ContainerResult Run(const ContainerRequest& req) override {
    ContainerResult res;
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
    const std::string base = work_ + "/" + req.id;
    const std::string req_path = base + ".request.json";
    const std::string res_path = base + ".result.json";
    WriteTextFile(req_path, DumpJson(q, 2));
    SpawnOptions opts;
    opts.argv = {env_.self_exe, "__run-builtin", req_path, res_path};
    opts.stdout_path = base + ".out";
    opts.stderr_path = base + ".err";
    res.replay = ShellJoin(opts.argv);
    ProcessResult p = RunProcess(opts, req.timeout_seconds);
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
      RecoverWithGc(&res);
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

  void RecoverWithGc(ContainerResult* res) {
    mydocker::Runtime rt(sys_, Config());
    auto gc = rt.Gc();
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

  RunEnv env_;
  mydocker::LinuxSys sys_;
  std::string root_, work_, layer_;
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
