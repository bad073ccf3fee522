// Any OCI runtime its profile describes (harness/adapters/profile.h): an OCI
// bundle per container (harness/oci), then (global args from the profile:
// `--root R`, crun's `--cgroup-manager=cgroupfs`, ...)
//   <rt> G create --bundle B ID   (stdio: the container's, into files)
//   <rt> G state ID               (pid; the cgroups probe while it waits)
//   <rt> G start ID
//   wait for the init pid (the harness is a child subreaper, so the init
//   becomes its child once `create` exits, and its status is the exit code)
//   <rt> G delete ID              (then the profile's cleanup if that failed)
// then the workspace is unmounted and the bundle removed.
//
// crun 1.8 refuses a hybrid cgroup layout whose v2 mount still has a
// controller enabled; for a profile with hide_unified_controllers, when
// /sys/fs/cgroup/unified/cgroup.controllers is not empty, Prepare
// bind-mounts an empty file over it, inside the harness's private mount
// namespace only (never on the host).
#include <errno.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <signal.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "harness/adapters/builtin_worker.h"
#include "harness/adapters/process.h"
#include "harness/adapters/profile.h"
#include "harness/oci/bundle.h"
#include "runtime/rootfs/hardening.h"
#include "runtime/image/image_store.h"
#include "runtime/container/runtime.h"
#include "runtime/sys/fs_util.h"
#include "runtime/sys/linux_sys.h"

namespace faultline {
namespace {

using mydocker::MakeError;
using mydocker::Outcome;

constexpr const char* kUnifiedControllers = "/sys/fs/cgroup/unified/cgroup.controllers";

class OciAdapter : public RuntimeAdapter {
 public:
  OciAdapter(RuntimeProfile profile, RunEnv env)
      : profile_(std::move(profile)), rt_(profile_.name), env_(std::move(env)) {
    base_ = env_.scratch + "/" + rt_;
    state_root_ = base_ + "/state";
    bundles_ = base_ + "/bundles";
    work_ = base_ + "/work";
  }
  std::string name() const override { return rt_; }
  std::string family() const override { return profile_.family; }
  std::string version() const override { return version_; }

  Outcome Prepare() override {
    std::string override_binary;
    if (auto it = env_.runtime_binaries.find(rt_); it != env_.runtime_binaries.end()) {
      override_binary = it->second;
    }
    binary_ = ResolveProfileBinary(profile_, override_binary);
    const std::string named = override_binary.empty() ? profile_.binary : override_binary;
    if (binary_.empty() || ::access(binary_.c_str(), X_OK) != 0) {
      return MakeError(rt_ + ": find binary (profile " + profile_.file + ")", named,
                       binary_.empty() ? ENOENT : errno, "not installed");
    }
    if (std::find(profile_.cgroup_managers.begin(), profile_.cgroup_managers.end(), "cgroupfs") ==
        profile_.cgroup_managers.end()) {
      return MakeError(rt_ + ": cgroup manager (profile " + profile_.file + ")", "cgroupfs",
                       ENOTSUP, "the harness makes cgroups itself (cgroupfs); the profile lists "
                       "no cgroupfs manager");
    }
    version_ = profile_.version;
    if (version_.empty()) {
      std::string why;
      version_ = VersionNumber(VersionLine(binary_, &why));
      if (!why.empty()) spdlog::warn("{}: {}", rt_, why);
    }
    for (const auto& d : {state_root_, bundles_, work_}) {
      MYDOCKER_TRY(mydocker::MkdirAll(sys_, d, 0700, rt_ + ": create directory"));
    }
    mydocker::ImageStore images(sys_, base_ + "/images-root");
    auto info = images.Import(env_.image_tar, "busybox");
    if (!info) return info.error();
    layer_ = info->rootfs;
    // Container inits become our children once `create` exits.
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
      return MakeError(rt_ + ": prctl(PR_SET_CHILD_SUBREAPER)", "", errno);
    }
    if (profile_.hide_unified_controllers) MYDOCKER_TRY(HideUnifiedControllers());
    return Outcome::Ok();
  }

  // The bundle's rootfs is an overlay over a layer: a hostile image is laid
  // out as one (an import is mydocker's: runc and crun take none).
  Outcome AddImage(const HostileImage& image) override {
    if (image.import) {
      return MakeError(rt_ + ": image", image.name, ENOTSUP,
                       "runc and crun import no images (a bundle holds a rootfs)");
    }
    const std::string dir = base_ + "/images-root/hostile";
    MYDOCKER_TRY(mydocker::MkdirAll(sys_, dir, 0700, rt_ + ": hostile image"));
    const std::string layer = dir + "/" + image.name;
    MYDOCKER_TRY(LayOutImage(sys_, layer_, layer, image));
    layers_[image.name] = layer;
    return Outcome::Ok();
  }

  ContainerResult Run(const ContainerRequest& req) override {
    ContainerResult res;
    const std::string bundle_dir = bundles_ + "/" + req.id;
    const std::string out = work_ + "/" + req.id + ".out";
    const std::string err = work_ + "/" + req.id + ".err";
    pid_t pid = Create(req, &res);
    if (pid == 0) return res;  // no bundle: nothing to tear down
    if (pid < 0) {
      Finish(req, bundle_dir, out, err, &res);
      return res;
    }
    ProcessResult st = RunProcess({Cmd({"start", req.id}), {}, work_ + "/" + req.id + ".start.out",
                                   work_ + "/" + req.id + ".start.err", true},
                                  req.timeout_seconds);
    if (st.exit_code != 0) {
      res.runtime_error = true;
      res.error_message = "start: " + LastLine(ReadTextFile(work_ + "/" + req.id + ".start.err"));
      Kill(req.id);
    }
    ProcessResult w = WaitFor(pid, req.timeout_seconds);
    if (w.timed_out) Kill(req.id);
    res.exit_code = st.exit_code != 0 && res.exit_code < 0 ? st.exit_code : w.exit_code;
    if (!w.start_error.empty()) {
      res.notes.push_back("wait for init " + std::to_string(pid) + ": " + w.start_error);
    }
    res.timed_out = w.timed_out;
    res.seconds += w.seconds;
    Finish(req, bundle_dir, out, err, &res);
    return res;
  }

  // The bundle, then `create` and `state`: the init's pid (adopted), or 0
  // when no bundle could be made, -1 when create or state failed (the
  // bundle is there: Finish tears it down). res says what happened.
  pid_t Create(const ContainerRequest& req, ContainerResult* out_res) {
    ContainerResult& res = *out_res;
    const std::string bundle_dir = bundles_ + "/" + req.id;
    const std::string layer = layers_.count(req.image) ? layers_[req.image] : layer_;
    OciSpecInput in;
    in.argv = req.argv;
    in.env = req.env;
    in.hostname = req.hostname.empty() ? req.id : req.hostname;
    in.cgroups_path = ExpectedCgroup(req.id);
    in.limits = req.limits;
    in.volumes = req.volumes;
    in.cap_bounding = SelfCapBounding();
    // mydocker's defaults (docker's): caps, no_new_privs, seccomp profile.
    auto caps = mydocker::ResolveCaps(req.cap_add, {});
    if (!caps) {
      res.runtime_error = true;
      res.error_step = caps.error().step;
      res.error_message = caps.error().Message();
      return 0;
    }
    in.caps = *caps;
    {
      std::string release;
      if (auto r = mydocker::ReadFile(sys_, "/proc/sys/kernel/osrelease", "osrelease")) release = *r;
      auto rules = mydocker::ParseSeccompProfile(mydocker::DefaultSeccompProfile(),
                                                 "default profile", in.caps, release);
      if (rules) in.seccomp = *rules;
    }
    auto bundle = CreateBundle(sys_, bundle_dir, layer, in);
    if (!bundle) {
      res.runtime_error = true;
      res.error_step = bundle.error().step;
      res.error_errno = bundle.error().err;
      res.error_message = bundle.error().Message();
      return 0;
    }
    const std::string out = work_ + "/" + req.id + ".out";
    const std::string err = work_ + "/" + req.id + ".err";
    std::vector<std::string> create = Cmd({"create", "--bundle", bundle_dir, req.id});
    res.replay = "(bundle " + bundle_dir + ") " + ShellJoin(create) + " && " +
                 ShellJoin(Cmd({"start", req.id}));
    res.ran = true;
    ProcessResult c = RunProcess({create, {}, out, err, true}, req.timeout_seconds);
    res.seconds = c.seconds;
    if (c.exit_code != 0) {
      // The runtime failed before the container ran.
      res.runtime_error = true;
      res.exit_code = c.exit_code;
      res.timed_out = c.timed_out;
      res.error_message = LastLine(ReadTextFile(err)) + c.start_error;
      return -1;
    }
    pid_t pid = StatePid(req.id, &res);
    if (pid <= 0) {
      res.runtime_error = true;
      res.exit_code = mydocker::kExitRuntimeError;
      return -1;
    }
    AdoptPid(pid);
    // The container exists and waits for start: its cgroup must be visible.
    {
      ProbeScope scope;
      scope.cgroup_parent = env_.cgroup_parent;
      scope.holders = false;
      scope.fds = false;
      Snapshot s = TakeSnapshot(sys_, scope);
      res.live_checked = true;
      for (const auto& cg : s.probes["cgroups"]) res.live_cgroups.push_back(cg);
    }
    return pid;
  }

  // ---- steps: the profile's verbs ----
  std::string StepLacks(const std::string& action, bool) const override {
    auto verb = [&](const std::string& v) -> std::string {
      return profile_.HasVerb(v) ? "" : rt_ + "'s profile (" + profile_.file + ") has no " + v +
                                            " verb";
    };
    if (action == "run" || action == "create") return verb("create");
    if (action == "start") return verb("start");
    if (action == "exec" || action == "kill" || action == "pause" || action == "resume") {
      return verb(action);
    }
    if (action == "stop") return verb("kill");  // docker's stop: TERM, then KILL after -t
    if (action == "rm" || action == "recover") return verb("delete");
    if (action == "ps") return verb("list");
    if (action == "wait" || action == "kill_runtime") return "";  // checked when it runs
    if (action == "gc") return rt_ + " has no gc (an OCI runtime's cleanup is delete)";
    if (action == "logs") return rt_ + " keeps no logs (the container's stdio is the caller's)";
    return rt_ + " has no " + action;
  }

  StepOutcome Step(const StepRequest& q) override {
    StepOutcome o;
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
    if (q.action == "run" || q.action == "create") {
      ids_[q.name] = q.container.id;
      Box& b = boxes_[q.name];
      b.req = q.container;
      ContainerResult c;
      b.pid = Create(q.container, &c);
      b.bundle = b.pid != 0;
      o.replay = c.replay;
      if (b.pid <= 0) {
        o.exit_code = c.exit_code < 0 ? mydocker::kExitRuntimeError : c.exit_code;
        o.err = c.error_message + "\n" + ReadTextFile(work_ + "/" + b.req.id + ".err");
        b.pid = -1;
        return o;
      }
      if (q.action == "create") return o;
      return Verb(q.name, {"start", b.req.id}, &b);
    }
    auto it = boxes_.find(q.name);
    const std::string id = ids_.count(q.name) ? ids_[q.name] : q.name;
    Box* b = it == boxes_.end() ? nullptr : &it->second;
    if (q.action == "start") return Verb(q.name, {"start", id}, b);
    if (q.action == "exec") {
      std::vector<std::string> args = {"exec", id};
      args.insert(args.end(), q.argv.begin(), q.argv.end());
      return Verb(q.name, args, b);
    }
    if (q.action == "kill") return Verb(q.name, {"kill", id, q.signal}, b);
    if (q.action == "pause" || q.action == "resume") return Verb(q.name, {q.action, id}, b);
    if (q.action == "ps") return Verb(q.name, {"list"}, b);
    if (q.action == "kill_runtime") {
      // Between create and start the init is still the runtime's own
      // process (`runc init`, crun's child), waiting for start.
      ContainerView v = Inspect(q.name);
      if (v.status != "created" || b == nullptr || b->pid <= 0) {
        o.not_applicable = rt_ + " has no process of its own once the container started "
                                 "(status " + v.status + "): only a created container's init is";
        return o;
      }
      ::kill(b->pid, SIGKILL);
      ProcessResult p = WaitFor(b->pid, 30);
      o.notes.push_back("SIGKILLed " + rt_ + "'s init of " + id + " (pid " +
                        std::to_string(b->pid) + ", exit " + std::to_string(p.exit_code) +
                        ") before start");
      b->pid = -1;
      return o;
    }
    if (q.action == "stop") {
      o = Verb(q.name, {"kill", id, "TERM"}, b);
      if (o.exit_code != 0 || b == nullptr || b->pid <= 0) return o;
      ProcessResult w = WaitFor(b->pid, q.timeout.value_or(10));
      if (w.timed_out) {
        // WaitFor SIGKILLed the init at the deadline; KILL through the
        // runtime too, as docker's stop does.
        (void)Verb(q.name, {"kill", id, "KILL"}, b);
        o.notes.push_back("stop: still running after " +
                          std::to_string(q.timeout.value_or(10)) + " s: KILL");
      }
      b->pid = -1;
      b->exit_code = w.timed_out ? 128 + SIGKILL : w.exit_code;
      return o;
    }
    if (q.action == "wait") {
      if (b == nullptr) {
        o.exit_code = 1;
        o.err = "wait: " + q.name + " was not run in the background";
        return o;
      }
      if (b->pid > 0) {
        ProcessResult w = WaitFor(b->pid, q.timeout.value_or(60));
        b->exit_code = w.exit_code;
        o.timed_out = w.timed_out;
        b->pid = -1;
      }
      o.exit_code = b->exit_code;
      o.out = ReadTextFile(work_ + "/" + id + ".out");
      o.err = ReadTextFile(work_ + "/" + id + ".err");
      return o;
    }
    if (q.action == "rm" || q.action == "recover") {
      if (q.action == "recover") {
        o.replay = ShellJoin(Cleanup(id));
        ProcessResult p = RunProcess({Cleanup(id), {}, work_ + "/step.out", work_ + "/step.err",
                                      true},
                                     60);
        o.exit_code = p.exit_code;
        o.out = ReadTextFile(work_ + "/step.out");
        o.err = ReadTextFile(work_ + "/step.err");
      } else {
        std::vector<std::string> args = {"delete"};
        if (q.force) args.push_back("--force");
        args.push_back(id);
        o = Verb(q.name, args, b);
      }
      if (o.exit_code == 0 && b != nullptr) {
        if (b->pid > 0) {
          ProcessResult w = WaitFor(b->pid, 10);
          b->pid = -1;
          o.notes.push_back("the init of " + id + " ended: exit " + std::to_string(w.exit_code));
        }
        if (b->bundle) {
          if (Outcome d = DestroyBundle(sys_, bundles_ + "/" + id); !d) {
            o.notes.push_back("bundle teardown: " + d.error().Message());
          }
          b->bundle = false;
        }
      }
      ReapOrphans();
      return o;
    }
    o.not_applicable = StepLacks(q.action, q.detach);
    return o;
  }

  ContainerView Inspect(const std::string& name) override {
    ContainerView v;
    const std::string id = ids_.count(name) ? ids_[name] : name;
    const std::string out = work_ + "/" + id + ".inspect.json";
    ProcessResult p = RunProcess({Cmd({"state", id}), {}, out, "", true}, 30);
    std::string text = ReadTextFile(out);
    std::error_code ec;
    std::filesystem::remove(out, ec);
    if (p.exit_code != 0) return v;
    v.known = true;
    try {
      auto j = nlohmann::json::parse(text);
      v.status = j.value("status", "");
      v.pid = j.value("pid", 0);
      v.running = v.status == "running";
    } catch (const std::exception& e) {
      v.status = std::string("unreadable state: ") + e.what();
    }
    return v;
  }

  void EndSteps(std::vector<std::string>* notes) override {
    for (auto& [name, id] : ids_) {
      Box* b = boxes_.count(name) ? &boxes_[name] : nullptr;
      if (Inspect(name).known) {
        ProcessResult p = RunProcess({Cleanup(id), {}, "", "", true}, 60);
        notes->push_back("harness removed " + name + " after the last step (" +
                         ShellJoin(profile_.cleanup) + "): exit " + std::to_string(p.exit_code));
      }
      if (b != nullptr && b->pid > 0) {
        ::kill(b->pid, SIGKILL);
        WaitFor(b->pid, 10);
      }
      if (b != nullptr && b->bundle) {
        if (Outcome d = DestroyBundle(sys_, bundles_ + "/" + id); !d) {
          notes->push_back("bundle teardown of " + name + ": " + d.error().Message());
        }
      }
      std::error_code ec;
      for (const auto& f : {".out", ".err", ".start.out", ".start.err", ".step.out", ".step.err"}) {
        std::filesystem::remove(work_ + "/" + id + f, ec);
      }
    }
    ids_.clear();
    boxes_.clear();
    ReapOrphans();
  }

  std::string TeardownAgain(const std::string& id, bool* not_found) override {
    const std::string err = work_ + "/" + id + ".again.err";
    ProcessResult p = RunProcess({Cmd({"delete", id}), {}, "", err, true}, 60);
    std::string text = ReadTextFile(err);
    std::error_code ec;
    std::filesystem::remove(err, ec);
    *not_found = p.exit_code != 0 && NotFound(text);
    std::string bundle_err;
    if (Outcome o = DestroyBundle(sys_, bundles_ + "/" + id); !o) {
      bundle_err = "; workspace teardown again: " + o.error().Message();
    }
    if ((p.exit_code == 0 || *not_found) && bundle_err.empty()) return "";
    return rt_ + " delete " + id + " exited " + std::to_string(p.exit_code) + ": " +
           LastLine(text) + bundle_err;
  }

  std::string ExpectedCgroup(const std::string& id) const override {
    return "/" + env_.cgroup_parent + "/" + id;
  }
  mydocker::Sys& ProbeSys() override { return sys_; }
  ProbeScope Scope() const override {
    ProbeScope s;
    s.dirs = {state_root_, bundles_};
    s.dirs_persistent = profile_.PersistentPaths(state_root_);
    s.cgroup_parent = env_.cgroup_parent;
    s = WithHostOutside(std::move(s), {env_.scratch});
    // The profile's temp_paths outside {root} (crun runs from a copy of its
    // own binary in /tmp/crun.XXXXXX, its CVE-2019-5736 guard, made and
    // removed by every command): its own scope, on every version.
    for (std::string& g : profile_.SharedTempGlobs()) s.outside_ignore.push_back(std::move(g));
    return s;
  }
  std::string ImageLayer() const override { return layer_; }
  std::string HostHostname() override { return HostHostnameNow(); }

 private:
  // The argv of a verb (rest[0]) and its operands, as the profile says.
  std::vector<std::string> Cmd(const std::vector<std::string>& rest) const {
    std::vector<std::string> operands(rest.begin() + 1, rest.end());
    return profile_.VerbArgv(binary_, rest[0], {{"root", state_root_}}, operands);
  }

  bool NotFound(const std::string& text) const {
    for (const auto& n : profile_.not_found) {
      if (text.find(n) != std::string::npos) return true;
    }
    return false;
  }

  static std::string LastLine(const std::string& text) {
    std::string t = text;
    while (!t.empty() && t.back() == '\n') t.pop_back();
    size_t nl = t.rfind('\n');
    return nl == std::string::npos ? t : t.substr(nl + 1);
  }

  pid_t StatePid(const std::string& id, ContainerResult* res) {
    const std::string out = work_ + "/" + id + ".state.json";
    const std::string err = work_ + "/" + id + ".state.err";
    ProcessResult p = RunProcess({Cmd({"state", id}), {}, out, err, true}, 30);
    std::string text = ReadTextFile(out);
    std::error_code ec;
    std::filesystem::remove(out, ec);
    std::filesystem::remove(err, ec);
    if (p.exit_code != 0) {
      res->error_message = "state " + id + " exited " + std::to_string(p.exit_code);
      return -1;
    }
    try {
      auto j = nlohmann::json::parse(text);
      if (j.value("status", "") != "created") {
        res->notes.push_back("state after create: " + j.value("status", "?"));
      }
      return j.value("pid", 0);
    } catch (const std::exception& e) {
      res->error_message = std::string("state: unreadable JSON: ") + e.what();
      return -1;
    }
  }

  void Kill(const std::string& id) {
    if (profile_.HasVerb("kill")) {
      RunProcess({Cmd({"kill", id, "KILL"}), {}, "", "", true}, 30);
    } else {
      RunProcess({Cleanup(id), {}, "", "", true}, 30);
    }
  }

  std::vector<std::string> Cleanup(const std::string& id) const {
    return profile_.CleanupArgv(binary_, {{"root", state_root_}, {"id", id}});
  }

  // Collects output, runs before_teardown, deletes the container and the
  // bundle, and records every teardown failure (a leftover's first witness).
  void Finish(const ContainerRequest& req, const std::string& bundle_dir, const std::string& out,
              const std::string& err, ContainerResult* res) {
    res->out = ReadTextFile(out);
    res->err = ReadTextFile(err);
    std::error_code ec;
    for (const auto& f : {out, err, work_ + "/" + req.id + ".start.out",
                          work_ + "/" + req.id + ".start.err"}) {
      std::filesystem::remove(f, ec);
    }
    if (req.before_teardown) req.before_teardown(bundle_dir + "/upper");
    const std::string derr = work_ + "/" + req.id + ".delete.err";
    ProcessResult d = RunProcess({Cmd({"delete", req.id}), {}, "", derr, true}, 60);
    if (d.exit_code != 0) {
      std::string text = ReadTextFile(derr);
      // A create that failed may leave nothing to delete: that is fine.
      if (!(res->runtime_error && NotFound(text))) {
        res->notes.push_back("delete exited " + std::to_string(d.exit_code) + ": " +
                             LastLine(text) + "; ran " + ShellJoin(profile_.cleanup));
        RunProcess({Cleanup(req.id), {}, "", "", true}, 60);
      }
    }
    std::filesystem::remove(derr, ec);
    if (Outcome o = DestroyBundle(sys_, bundle_dir); !o) {
      res->notes.push_back("bundle teardown: " + o.error().Message());
    }
    ReapOrphans();
  }

  Outcome HideUnifiedControllers() {
    if (!env_.private_mounts) {
      std::string controllers = ReadTextFile(kUnifiedControllers);
      while (!controllers.empty() && controllers.back() == '\n') controllers.pop_back();
      if (controllers.empty()) return Outcome::Ok();
      return MakeError(rt_ + ": hide unified controllers", kUnifiedControllers, EPERM,
                       "the v2 mount has controllers (" + controllers +
                           ") and the profile says " + rt_ + " refuses that layout; the "
                           "workaround needs faultline's private mount namespace (drop "
                           "--no-unshare)");
    }
    std::string hidden;
    MYDOCKER_TRY(faultline::HideUnifiedControllers(sys_, work_ + "/empty-controllers", &hidden));
    if (!hidden.empty()) {
      spdlog::info("{}: hid unified controllers '{}' in the private namespace", rt_, hidden);
    }
    return Outcome::Ok();
  }

  // A container of the steps, created (and maybe started) in the background.
  struct Box {
    ContainerRequest req;
    pid_t pid = -1;     // its init (adopted); -1 once waited for
    int exit_code = -1;
    bool bundle = false;  // its bundle and workspace are still there
  };

  // `<rt> G verb...`, its output into files.
  StepOutcome Verb(const std::string& name, const std::vector<std::string>& args, Box*) {
    StepOutcome o;
    const std::string id = ids_.count(name) ? ids_[name] : name;
    const std::string base = work_ + "/" + id + ".step";
    std::vector<std::string> argv = Cmd(args);
    o.replay = ShellJoin(argv);
    ProcessResult p = RunProcess({argv, {}, base + ".out", base + ".err", true}, 120);
    o.exit_code = p.started ? p.exit_code : 127;
    o.timed_out = p.timed_out;
    o.out = ReadTextFile(base + ".out");
    o.err = ReadTextFile(base + ".err") + p.start_error;
    std::error_code ec;
    std::filesystem::remove(base + ".out", ec);
    std::filesystem::remove(base + ".err", ec);
    return o;
  }

  std::map<std::string, std::string> ids_;  // step name -> container id
  std::map<std::string, Box> boxes_;
  RuntimeProfile profile_;
  std::string rt_;
  RunEnv env_;
  std::map<std::string, std::string> layers_;  // hostile image -> its layer
  mydocker::LinuxSys sys_;
  std::string binary_, version_, base_, state_root_, bundles_, work_, layer_;
};

}  // namespace

std::unique_ptr<RuntimeAdapter> MakeOciAdapter(const RuntimeProfile& profile, const RunEnv& env) {
  return std::make_unique<OciAdapter>(profile, env);
}

std::unique_ptr<RuntimeAdapter> MakeAdapter(const std::string& runtime, const RunEnv& env,
                                            std::string* error) {
  if (runtime == "builtin") return MakeBuiltinAdapter(env);
  if (runtime == "fake") return MakeFakeAdapter(env);
  ScenarioError err;
  std::vector<std::string> search = env.profile_search;
  if (search.empty()) search = ProfileSearchPath();
  auto p = FindProfile(runtime, search, &err);
  if (!p) {
    if (error != nullptr) *error = err.Message();
    return nullptr;
  }
  if (p->kind == "mydocker") {
    RunEnv e = env;
    if (auto it = env.runtime_binaries.find(runtime); it != env.runtime_binaries.end()) {
      e.mydocker_bin = it->second;
    } else if (!p->binary.empty() && p->binary != "mydocker") {
      e.mydocker_bin = ResolveProfileBinary(*p, "");
    }
    return MakeMydockerAdapter(e, runtime);
  }
  if (p->kind == "oci") return MakeOciAdapter(*p, env);
  if (error != nullptr) {
    *error = p->file + ": kind: " + p->kind + " (differences only): no runtime to run";
  }
  return nullptr;
}

}  // namespace faultline
