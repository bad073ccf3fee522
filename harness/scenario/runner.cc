#include "harness/scenario/runner.h"
#include "harness/sweep/shard.h"

#include "harness/adapters/profile.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <functional>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>

#include "harness/adapters/process.h"
#include "harness/scenario/isolation.h"
#include "harness/scenario/steps.h"
#include "harness/sweep/scenario_sweep.h"
#include "runtime/rootfs/hardening.h"
#include "runtime/sys/fs_util.h"
#include "runtime/sys/mountinfo.h"

namespace faultline {
namespace {

using mydocker::Sys;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string IsoNow() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string Excerpt(const std::string& s, size_t max = 4000) {
  if (s.size() <= max) return s;
  return s.substr(0, max / 2) + "\n...[" + std::to_string(s.size() - max) + " bytes cut]...\n" +
         s.substr(s.size() - max / 2);
}

std::string Tail(const std::string& s, size_t max = 300) {
  std::string t = s;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t.size() <= max ? t : "..." + t.substr(t.size() - max);
}

bool Contains(const std::string& hay, const std::string& needle) {
  return !needle.empty() && hay.find(needle) != std::string::npos;
}

// A short stable key for a scenario on a runtime: container ids, volume dirs.
std::string KeyFor(const std::string& scenario, const std::string& runtime) {
  uint32_t h = 2166136261u;
  for (char c : scenario + "@" + runtime) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  char buf[16];
  std::snprintf(buf, sizeof buf, "fl%08x", h);
  return buf;
}

std::string Digest(Sys& sys, const std::string& path) {
  auto text = mydocker::ReadFile(sys, path, "digest");
  if (!text) return "";
  uint64_t h = 1469598103934665603ull;
  for (char c : *text) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return std::to_string(text->size()) + ":" + std::to_string(h);
}

// Makes <hierarchy>/<parent> in every cgroup hierarchy (idempotent), so a
// runtime's first run does not make the parent appear as a leftover.
void EnsureCgroupParent(Sys& sys, const std::string& parent, std::vector<std::string>* notes) {
  auto mounts = mydocker::ReadMountinfo(sys);
  if (!mounts) {
    notes->push_back("cgroup parent: " + mounts.error().Message());
    return;
  }
  std::set<std::string> seen;
  for (const auto& m : *mounts) {
    if ((m.fstype != "cgroup" && m.fstype != "cgroup2") || m.root != "/") continue;
    if (!seen.insert(m.target).second) continue;
    const std::string dir = mydocker::JoinPath(m.target, parent);
    auto st = sys.Mkdir(dir, 0755);
    if (!st.ok() && st.err != EEXIST) {
      notes->push_back("cgroup parent: mkdir " + dir + ": " + mydocker::ErrnoName(st.err));
      continue;
    }
    // An empty cpuset refuses tasks: fill it from the hierarchy root.
    if (m.super_options.find("cpuset") != std::string::npos && m.fstype == "cgroup") {
      for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
        auto cur = mydocker::ReadFile(sys, dir + "/" + f, "read");
        if (cur && (cur->empty() || *cur == "\n")) {
          auto top = mydocker::ReadFile(sys, m.target + "/" + f, "read");
          if (top) (void)mydocker::WriteExisting(sys, dir + "/" + f, *top, "cpuset");
        }
      }
    }
  }
}

}  // namespace

std::vector<std::string> RemoveCgroupParent(Sys& sys, const std::string& parent) {
  std::vector<std::string> left;
  auto mounts = mydocker::ReadMountinfo(sys);
  if (!mounts) return {mounts.error().Message()};
  std::set<std::string> seen;
  for (const auto& m : *mounts) {
    if ((m.fstype != "cgroup" && m.fstype != "cgroup2") || m.root != "/") continue;
    if (!seen.insert(m.target).second) continue;
    const std::string dir = mydocker::JoinPath(m.target, parent);
    auto st = sys.Rmdir(dir);
    if (!st.ok() && st.err != ENOENT) {
      left.push_back(dir + " (" + mydocker::ErrnoName(st.err) + ")");
    }
  }
  return left;
}

namespace {

struct ScenarioSetup {
  int shm_id = -1;
  long long shm_key = 0;
  bool shm_visible = false;
  bool shared_bind = false;
};

CheckResult Check(const std::string& name, bool ok, const std::string& detail = "") {
  return CheckResult{name, ok, ok ? "" : detail};
}

// One check name over many containers: the first failure's detail and a count.
void Aggregate(const std::string& name, const std::vector<std::vector<CheckResult>>& per,
               std::vector<CheckResult>* out) {
  int failed = 0;
  std::string first;
  for (size_t i = 0; i < per.size(); ++i) {
    for (const auto& c : per[i]) {
      if (c.name != name || c.ok) continue;
      if (failed++ == 0) first = (per.size() > 1 ? "container " + std::to_string(i) + ": " : "") +
                                 c.detail;
    }
  }
  std::string detail = first;
  if (failed > 1) detail += " (" + std::to_string(failed) + " of " +
                            std::to_string(per.size()) + " containers failed this check)";
  out->push_back(Check(name, failed == 0, detail));
}

class Runner {
 public:
  explicit Runner(const RunOptions& o) : o_(o) {}

  RunSummary Run() {
    RunSummary sum;
    sum.started = IsoNow();
    double t0 = Now();
    sum.runtimes = o_.runtimes;
    auto files = FindScenarioFiles(o_.paths, &sum.errors);
    if (files.empty() && sum.errors.empty()) sum.errors.push_back("no scenario files found");
    std::optional<std::regex> filter;
    if (!o_.filter.empty()) filter.emplace(o_.filter);

    std::vector<Scenario> scenarios;
    for (size_t i = 0; i < files.size(); ++i) {
      if (!InShard(i, o_.shard_index, o_.shard_total)) continue;
      ScenarioError err;
      auto s = ParseScenarioFile(files[i].path, files[i].root, &err);
      if (!s) {
        spdlog::error("{}", err.Message());
        ScenarioResult r;
        r.scenario = files[i].path;
        r.file = files[i].path;
        r.runtime = "*";
        r.status = ResultStatus::kFailed;
        r.failures.push_back(err.Message());
        r.checks.push_back(Check("parse", false, err.Message()));
        r.replay = o_.self_command + " run " + files[i].path;
        sum.results.push_back(r);
        continue;
      }
      if (filter && !std::regex_search(s->name, *filter)) continue;
      roots_[s->name] = files[i].root;
      scenarios.push_back(*s);
    }
    if (o_.env.private_mounts && !scenarios.empty()) MountMarker(&sum);

    for (const auto& rt : o_.runtimes) {
      std::string why;
      auto adapter = MakeAdapter(rt, o_.env, &why);
      if (!adapter) {
        sum.errors.push_back("runtime '" + rt + "': " + why);
        continue;
      }
      bool needed = false;
      for (const auto& s : scenarios) needed |= Applies(s, *adapter);
      std::string prepare_error;
      if (needed) {
        spdlog::info("{}: preparing (image import)", rt);
        if (auto p = adapter->Prepare(); !p) prepare_error = p.error().Message();
        if (!prepare_error.empty()) spdlog::error("{}: {}", rt, prepare_error);
        if (adapter->RealKernel()) {
          EnsureCgroupParent(adapter->ProbeSys(), o_.env.cgroup_parent, &sum.errors);
        }
      }
      for (const auto& s : scenarios) {
        auto diffs = Differences(roots_[s.name], rt, adapter->version(), &sum);
        const ExpectedDifference* d = nullptr;
        if (auto it = diffs.find(s.name); it != diffs.end()) d = &it->second;
        ScenarioResult r = RunOne(s, *adapter, prepare_error, d);
        spdlog::info("{} on {}: {}{}", s.name, rt, StatusName(r.status),
                     r.failures.empty() ? "" : " (" + r.failures.front() + ")");
        sum.results.push_back(std::move(r));
      }
      if (adapter->RealKernel()) ReapOrphans();
    }
    if (marker_mounted_) umount2(marker_dir_.c_str(), MNT_DETACH);
    sum.seconds = Now() - t0;
    return sum;
  }

 private:
  static bool Applies(const Scenario& s, const RuntimeAdapter& a) {
    return s.AppliesTo(a.name()) || s.AppliesTo(a.family());
  }

  // The expected differences of the runtime's profile (the scenario root's
  // runtimes/ first, then the search path) that hold for its version.
  const std::map<std::string, ExpectedDifference>& Differences(const std::string& root,
                                                               const std::string& rt,
                                                               const std::string& version,
                                                               RunSummary* sum) {
    const std::string key = root + "\n" + rt;
    auto it = diffs_.find(key);
    if (it != diffs_.end()) return it->second;
    std::vector<std::string> search = ProfileSearchPath(root + "/runtimes");
    for (const auto& d : o_.env.profile_search) {
      if (std::find(search.begin(), search.end(), d) == search.end()) search.push_back(d);
    }
    std::map<std::string, ExpectedDifference> d;
    bool have = false;
    for (const auto& f : ListProfiles(search)) have |= f.name == rt;
    if (have) {
      ScenarioError err;
      if (auto p = FindProfile(rt, search, &err)) {
        for (const auto& e : p->errors) sum->errors.push_back(e.Message());
        d = p->DifferencesFor(version);
      } else {
        sum->errors.push_back(err.Message());
      }
    }
    return diffs_[key] = d;
  }

  void MountMarker(RunSummary* sum) {
    marker_dir_ = o_.env.scratch + "/marker";
    marker_source_ = "faultline-marker-" + std::to_string(getpid());
    if (mkdir(marker_dir_.c_str(), 0700) != 0 && errno != EEXIST) return;
    if (mount(marker_source_.c_str(), marker_dir_.c_str(), "tmpfs", 0, "size=16k") != 0) {
      sum->errors.push_back("marker tmpfs: mount " + marker_dir_ + ": " +
                            mydocker::ErrnoName(errno));
      marker_source_.clear();
      return;
    }
    marker_mounted_ = true;
  }

  ScenarioResult RunOne(const Scenario& s, RuntimeAdapter& a, const std::string& prepare_error,
                        const ExpectedDifference* diff) {
    ScenarioResult r;
    r.scenario = s.name;
    r.file = s.file;
    r.runtime = a.name();
    r.labels = s.labels;
    r.replay = o_.self_command + " run --runtime " + a.name() + " " + s.file;
    auto na = [&](const std::string& why) {
      r.status = ResultStatus::kNotApplicable;
      r.reason = why;
      return r;
    };
    if (!Applies(s, a)) {
      std::string list;
      for (const auto& x : s.runtimes) list += (list.empty() ? "" : ", ") + x;
      return na("the scenario applies to: " + list);
    }
    if (s.faults && !s.faults.IsNull() && !a.SupportsFaults()) {
      return na("fault plans are injected in-process (builtin, fake); " + a.name() +
                " is driven as a binary");
    }
    if (!a.RealKernel() && (!s.expect.isolation.empty() || s.setup.shared_parent ||
                            s.setup.host_shm)) {
      return na("isolation checks and host setup need a real kernel");
    }
    if (!s.steps.empty()) {
      if (std::string why = StepsNotApplicable(s, a); !why.empty()) return na(why);
    }
    double t0 = Now();
    std::vector<CheckResult> checks;
    Expectations expect = s.expect;
    if (diff != nullptr && diff->expect) {
      ScenarioError err;
      auto e = ApplyExpectOverride(s.expect, *diff->expect, diff->file, &err);
      if (!e) {
        checks.push_back(Check("expected-difference", false, err.Message()));
      } else {
        expect = *e;
      }
    }
    if (s.sweep) {
      std::string not_applicable;
      for (auto& c : RunScenarioSweep(s, a.name(), o_.env, &not_applicable)) {
        checks.push_back(std::move(c));
      }
      if (!not_applicable.empty()) return na(not_applicable);
    } else if (!prepare_error.empty()) {
      checks.push_back(Check("prepare", false, a.name() + ": " + prepare_error));
    } else if (checks.empty() && !s.steps.empty()) {
      Scenario with = s;
      with.expect = expect;
      if (std::string why = ExecuteSteps(with, a, &r, &checks); !why.empty()) return na(why);
    } else if (checks.empty()) {
      Execute(s, expect, a, &r, &checks);
    }
    r.checks = checks;
    for (const auto& c : checks) {
      if (!c.ok) r.failures.push_back(c.name + ": " + c.detail);
    }
    bool passed = r.failures.empty();
    r.status = passed ? ResultStatus::kPassed : ResultStatus::kFailed;
    if (diff != nullptr) {
      r.difference = diff->difference;
      r.reason = diff->reason;
      if (diff->expect) {
        if (passed) r.status = ResultStatus::kExpectedDifferent;
      } else if (!passed) {
        r.status = ResultStatus::kExpectedDifferent;
      } else {
        r.status = ResultStatus::kFailed;
        r.failures.push_back("expected difference no longer seen: the scenario passes on " +
                             a.name() + "; remove '" + s.name + "' from " + diff->file);
      }
    }
    r.seconds = Now() - t0;
    return r;
  }

  std::string ExecuteSteps(const Scenario& s, RuntimeAdapter& a, ScenarioResult* r,
                           std::vector<CheckResult>* checks) {
    if (auto b = a.BeginScenario(); !b) {
      checks->push_back(Check("prepare", false, b.error().Message()));
      return "";
    }
    if (!a.RealKernel()) EnsureCgroupParent(a.ProbeSys(), o_.env.cgroup_parent, &r->notes);
    StepsContext ctx;
    ctx.env = &o_.env;
    ctx.key = KeyFor(s.name, a.name());
    ctx.clean_leftovers = [&](const std::vector<ProbeDiff>& diffs) {
      if (a.RealKernel()) CleanLeftovers(diffs, r);
    };
    std::string why = RunSteps(s, a, ctx, r, checks);
    int runs = 0;
    for (const auto& st : s.steps) runs += st.action == "run" || st.action == "create";
    r->containers = runs;
    return why;
  }

  void Execute(const Scenario& s, const Expectations& e, RuntimeAdapter& a, ScenarioResult* r,
               std::vector<CheckResult>* checks) {
    if (auto b = a.BeginScenario(); !b) {
      checks->push_back(Check("prepare", false, b.error().Message()));
      return;
    }
    Sys& sys = a.ProbeSys();
    if (!a.RealKernel()) EnsureCgroupParent(sys, o_.env.cgroup_parent, &r->notes);
    const std::string key = KeyFor(s.name, a.name());

    // ---- the hostile image ----
    // "{outside}" in a link target: a directory of the harness's own beside
    // the scratch directory, outside every scope, where an escape lands
    // instead of a host directory (so nothing is left on the host), watched
    // entry by entry by the outside probe, removed afterwards.
    std::string outside_dir;
    struct RemoveAtEnd {
      Sys& sys;
      const std::string& dir;
      ~RemoveAtEnd() {
        if (!dir.empty()) {
          if (auto o = mydocker::RemoveTree(sys, dir, "scenario: remove the outside directory"); !o)
            spdlog::warn("{}", o.error().Message());
        }
      }
    } remove_outside{sys, outside_dir};
    std::optional<HostileImage> hostile = s.hostile_image;
    if (hostile) {
      for (ImageEntry& e : hostile->entries) {
        const size_t at = e.target.find("{outside}");
        if (at == std::string::npos) continue;
        if (outside_dir.empty()) {
          outside_dir = (a.RealKernel() ? o_.env.scratch : std::string("/tmp/faultline-fake")) +
                        "-outside-" + key;
          if (mydocker::Status m = sys.Mkdir(outside_dir, 0755); !m.ok() && m.err != EEXIST) {
            checks->push_back(Check("image", false,
                                    "scenario: make the outside directory " + outside_dir + ": " +
                                        mydocker::ErrnoName(m.err)));
            outside_dir.clear();
            return;
          }
        }
        e.target.replace(at, 9, outside_dir);
      }
    }
    if (hostile) {
      const HostileImage& img = *hostile;
      // <store>/images/<name>: beside the busybox layer's image directory.
      const std::string layer0 = a.ImageLayer();
      const std::string images = layer0.substr(0, layer0.rfind("/busybox/rootfs"));
      mydocker::Outcome added = a.AddImage(img);
      if (!e.image_error.empty()) {
        if (added) {
          checks->push_back(Check("image", false,
                                  "the image was accepted; expected an error containing '" +
                                      e.image_error + "'"));
        } else {
          const std::string msg = added.error().Message();
          checks->push_back(Check("image", Contains(msg, e.image_error),
                                  Contains(msg, e.image_error)
                                      ? msg
                                      : "the error lacks '" + e.image_error + "': " + msg));
          // A refused import leaves nothing.
          const std::string left = images + "/" + img.name;
          checks->push_back(Check("image: nothing left", !mydocker::Exists(sys, left),
                                  mydocker::Exists(sys, left) ? left + " is left" : ""));
        }
        return;
      }
      if (!added) {
        checks->push_back(Check("image", false, added.error().Message()));
        return;
      }
    }
    const int count = s.load.count;

    // ---- setup ----
    ScenarioSetup setup;
    std::vector<std::vector<mydocker::Volume>> volumes(count);
    const std::string vol_base =
        (a.RealKernel() ? o_.env.scratch : std::string("/tmp/faultline-fake")) + "/volumes/" +
        key;
    for (int i = 0; i < count; ++i) {
      std::vector<VolumeSpec> specs = s.volumes;
      if (s.load.crosstalk_check) {
        specs.push_back(VolumeSpec{"id", "/data", true, {{"id", std::to_string(i)}}});
      }
      for (const auto& v : specs) {
        const std::string dir = vol_base + "/" + std::to_string(i) + "/" + v.host;
        if (auto m = mydocker::MkdirAll(sys, dir, 0755, "volume: create"); !m) {
          checks->push_back(Check("setup.volumes", false, m.error().Message()));
          return;
        }
        for (const auto& [name, content] : v.files) {
          if (auto w = mydocker::WriteFile(sys, dir + "/" + name, content, 0644,
                                           "volume: write file");
              !w) {
            checks->push_back(Check("setup.volumes", false, w.error().Message()));
            return;
          }
        }
        volumes[i].push_back(mydocker::Volume{dir, v.container, v.read_only});
      }
    }
    if (s.setup.host_shm) {
      setup.shm_key = 0x464c0000 + (getpid() & 0xffff);
      setup.shm_id = shmget(static_cast<key_t>(setup.shm_key), 4096, IPC_CREAT | 0600);
      struct shmid_ds ds {};
      setup.shm_visible = setup.shm_id >= 0 && shmctl(setup.shm_id, IPC_STAT, &ds) == 0;
      if (setup.shm_id < 0) {
        checks->push_back(Check("setup.host_shm", false,
                                "shmget: " + mydocker::ErrnoName(errno)));
        return;
      }
    }
    if (s.setup.shared_parent) {
      if (!o_.env.private_mounts) {
        checks->push_back(Check("setup.shared_parent", false,
                                "needs faultline's private mount namespace (no --no-unshare)"));
        return;
      }
      const std::string& d = o_.env.scratch;
      // Not recursive: the marker tmpfs below stays out of the bind, so the
      // bind can be unmounted again when nothing leaked onto it.
      if (mount(d.c_str(), d.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
          mount(nullptr, d.c_str(), nullptr, MS_SHARED, nullptr) != 0) {
        checks->push_back(Check("setup.shared_parent", false,
                                "make " + d + " a shared mount: " + mydocker::ErrnoName(errno)));
        return;
      }
      setup.shared_bind = true;
      r->notes.push_back("the scratch directory " + d + " is a shared mount for this scenario");
    }

    // ---- before ----
    const std::string layer = a.ImageLayer();
    const std::string passwd_before = Digest(sys, layer + "/etc/passwd");
    const std::string host_before = a.HostHostname();
    ProbeScope scope = a.Scope();
    if (!outside_dir.empty()) scope.outside.push_back(outside_dir);
    if (hostile) {
      for (const ImageEntry& e : hostile->entries) {
        if (e.type != ImageEntry::Type::kSymlink) continue;
        for (std::string_view t : {std::string_view("/tmp"), std::string_view("/var/tmp")}) {
          if (e.target.compare(0, t.size(), t) == 0 &&
              (e.target.size() == t.size() || e.target[t.size()] == '/'))
            scope.outside_shared_tmp = true;
        }
      }
    }
    Snapshot before = TakeSnapshot(sys, scope);

    // ---- the containers ----
    std::vector<ContainerResult> results(count);
    std::vector<std::string> ids(count);
    std::vector<bool> upper_has(count, false);
    std::vector<std::string> upper_dirs(count);
    std::vector<CheckResult> flat_checks;
    size_t base_mounts = before.probes["mounts"].size();
    size_t base_cgroups = before.probes["cgroups"].size();
    bool image_check = std::find(e.isolation.begin(), e.isolation.end(), "image_layer") !=
                       e.isolation.end();
    auto make_request = [&](int i) {
      ContainerRequest q;
      q.id = key + "-" + std::to_string(i);
      ids[i] = q.id;
      if (!s.expect.isolation.empty()) {
        q.argv = IsolationCommand(s.expect.isolation, s.limits);
      } else if (s.load.crosstalk_check) {
        q.argv = {"sh", "-c",
                  "i=$(cat /data/id); echo host=$(hostname); echo id=$i;"
                  " echo $i > /tmp/mine-$i; sleep 0.3; echo files=$(ls /tmp | tr '\\n' ' ')"};
      } else {
        q.argv = s.command;
      }
      q.env = s.env;
      q.image = s.image;
      q.hostname = s.hostname;
      q.cap_add = s.cap_add;
      if (s.load.crosstalk_check) {
        q.hostname = (s.hostname.empty() ? "box" : s.hostname) + "-" + std::to_string(i);
      }
      q.limits = s.limits;
      q.volumes = volumes[i];
      q.faults = s.faults;
      q.timeout_seconds = s.timeout_seconds;
      if (image_check) {
        q.before_teardown = [&, i](const std::string& upper) {
          upper_dirs[i] = upper;
          upper_has[i] =
              mydocker::Exists(sys, upper + "/etc/" + std::string(kImageLayerNewFile));
        };
      }
      return q;
    };
    const int workers = std::min(s.load.parallel, count);
    if (workers <= 1) {
      for (int i = 0; i < count; ++i) {
        results[i] = a.Run(make_request(i));
        if (s.load.sample_every > 0 && (i + 1) % s.load.sample_every == 0) {
          SampleFlat(a, scope, i + 1, base_mounts, base_cgroups, &flat_checks);
        }
      }
    } else {
      std::atomic<int> next{0};
      std::mutex mu;
      std::vector<std::thread> pool;
      for (int w = 0; w < workers; ++w) {
        pool.emplace_back([&] {
          for (int i = next++; i < count; i = next++) {
            ContainerRequest q;
            {
              std::lock_guard<std::mutex> lock(mu);
              q = make_request(i);
            }
            results[i] = a.Run(q);
          }
        });
      }
      for (auto& t : pool) t.join();
    }

    // ---- second teardown ----
    std::vector<std::vector<CheckResult>> per(count);
    if (e.teardown_twice) {
      for (int i = 0; i < count; ++i) {
        bool not_found = false;
        std::string err = a.TeardownAgain(ids[i], &not_found);
        per[i].push_back(Check("teardown_twice", err.empty(), err));
        if (err.empty()) {
          r->notes.push_back(std::string("second teardown of ") + ids[i] + ": " +
                             (not_found ? "not found (clean)" : "succeeded"));
        }
      }
    }

    // ---- after ----
    if (a.RealKernel()) ReapOrphans();
    Snapshot after = TakeSnapshot(sys, scope);
    IsolationContext ctx;
    ctx.host_hostname_before = host_before;
    ctx.host_hostname_after = a.HostHostname();
    ctx.limits = s.limits;
    ctx.shm_key = setup.shm_key;
    ctx.shm_visible_on_host = setup.shm_visible;
    ctx.marker_source = marker_source_;
    ctx.scratch = o_.env.scratch;
    // cap_add names were checked when the file was read.
    if (auto caps = mydocker::ResolveCaps(s.cap_add, {})) ctx.expected_caps = *caps;
    ctx.passwd_digest_before = passwd_before;
    ctx.passwd_digest_after = Digest(sys, layer + "/etc/passwd");
    ctx.new_file_in_layer = mydocker::Exists(sys, layer + "/etc/" + std::string(kImageLayerNewFile));

    // ---- checks per container ----
    std::set<std::string> names;
    for (int i = 0; i < count; ++i) {
      const ContainerResult& c = results[i];
      for (auto& k : CheckContainer(e, c, a.RealKernel())) per[i].push_back(k);
      if (!e.isolation.empty()) {
        auto sections = SplitSections(c.out);
        IsolationContext ci = ctx;
        ci.expected_hostname = s.hostname;
        ci.expected_cgroup = a.ExpectedCgroup(ids[i]);
        ci.upper_dir = upper_dirs[i];
        ci.upper_has_write = upper_has[i];
        for (const auto& check : e.isolation) {
          auto it = sections.find(check);
          std::string why;
          if (it == sections.end()) {
            why = "the check's section is missing from the output (the container died "
                  "before it?): " + Tail(c.out + c.err);
          } else {
            why = ValidateIsolation(check, it->second, ci);
          }
          per[i].push_back(Check("isolation." + check, why.empty(), why));
        }
        if (!sections.count("@end")) {
          per[i].push_back(Check("isolation.complete", false,
                                 "the checks did not run to the end: " + Tail(c.out + c.err)));
        }
      }
      if (s.load.crosstalk_check) {
        const std::string want_host =
            (s.hostname.empty() ? "box" : s.hostname) + "-" + std::to_string(i);
        std::string why;
        if (!Contains(c.out, "host=" + want_host + "\n")) {
          why = "expected host=" + want_host + ", got: " + Tail(c.out);
        } else if (!Contains(c.out, "id=" + std::to_string(i) + "\n")) {
          why = "expected id=" + std::to_string(i) + ", got: " + Tail(c.out);
        } else if (!Contains(c.out, "files=mine-" + std::to_string(i) + "\n")) {
          why = "its /tmp holds other files: " + Tail(c.out);
        }
        per[i].push_back(Check("crosstalk", why.empty(), why));
      }
      if (e.cgroup_live) {
        std::string why;
        const std::string cg = a.ExpectedCgroup(ids[i]);
        const bool any = cg.size() > 2 && cg.substr(cg.size() - 2) == "/*";
        bool seen = false;
        for (const auto& l : c.live_cgroups) {
          if (any ? l.find(cg.substr(0, cg.size() - 1)) != std::string::npos
                  : l.size() >= cg.size() && l.compare(l.size() - cg.size(), cg.size(), cg) == 0) {
            seen = true;
          }
        }
        if (!c.live_checked) why = "the adapter did not look while the container ran";
        else if (!seen) why = "no cgroup " + cg + " seen while the container ran";
        per[i].push_back(Check("cgroup_live", why.empty(), why));
      }
      for (const auto& k : per[i]) names.insert(k.name);
    }
    // Keep a stable order: the per-container checks in first-seen order.
    std::vector<std::string> order;
    for (int i = 0; i < count; ++i) {
      for (const auto& k : per[i]) {
        if (std::find(order.begin(), order.end(), k.name) == order.end()) order.push_back(k.name);
      }
    }
    for (const auto& n : order) Aggregate(n, per, checks);
    for (auto& f : flat_checks) checks->push_back(f);

    // ---- probes ----
    std::vector<ProbeDiff> diffs = Compare(before, after);
    for (const auto& p : e.probes) {
      std::vector<ProbeDiff> mine;
      for (const auto& d : diffs) {
        if (d.probe == p) mine.push_back(d);
      }
      checks->push_back(Check("probe." + p, mine.empty(), Describe(mine)));
    }
    for (const auto& d : diffs) {
      if (d.probe == "errors") checks->push_back(Check("probe.errors", false, Describe({d})));
    }

    // ---- the harness cleans up what the runtime left (after recording it) ----
    if (a.RealKernel()) CleanLeftovers(diffs, r);

    // ---- the report's details ----
    r->containers = count;
    int shown = 0;
    for (int i = 0; i < count; ++i) {
      bool failed = false;
      for (const auto& k : per[i]) failed |= !k.ok;
      if (i == 0 || (failed && shown == 0)) {
        r->stdout_excerpt = Excerpt(results[i].out);
        r->stderr_excerpt = Excerpt(results[i].err);
        r->runtime_replay = results[i].replay;
        if (failed) ++shown;
      }
      for (const auto& n : results[i].notes) {
        if (r->notes.size() < 20) r->notes.push_back("container " + std::to_string(i) + ": " + n);
      }
    }

    // ---- undo the setup ----
    if (setup.shm_id >= 0) shmctl(setup.shm_id, IPC_RMID, nullptr);
    if (setup.shared_bind) {
      if (umount2(o_.env.scratch.c_str(), 0) != 0) {
        checks->push_back(Check("setup.shared_parent.undo", false,
                                "umount " + o_.env.scratch + ": " + mydocker::ErrnoName(errno) +
                                    " (something still mounted below it)"));
        umount2(o_.env.scratch.c_str(), MNT_DETACH);
      }
    }
    (void)mydocker::RemoveTree(sys, vol_base, "volumes: remove");
  }

  // Removes leftovers the probes found, so the host is left as it was: mounts
  // under the scratch directory (lazily), then cgroup directories under the
  // run's parent, deepest first. Only what appeared during this scenario and
  // lies inside the run's own scratch directory or cgroup parent.
  void CleanLeftovers(const std::vector<ProbeDiff>& diffs, ScenarioResult* r) {
    for (const auto& d : diffs) {
      // What an escape made outside the scope: only the name the hostile
      // scenarios' volume targets use, and only an empty directory or file.
      if (d.probe == "outside") {
        for (const auto& item : d.appeared) {
          const std::string path = item.substr(0, item.find(' '));
          const std::string base = path.substr(path.rfind('/') + 1);
          if (base != "faultline-escape") continue;
          const bool dir = item.find(" dir ") != std::string::npos;
          if ((dir ? rmdir(path.c_str()) : unlink(path.c_str())) == 0) {
            r->notes.push_back("harness removed what an escape left outside: " + path);
          }
        }
      }
      if (d.probe == "mounts") {
        std::vector<std::string> points;
        for (const auto& item : d.appeared) {
          std::string point = item.substr(0, item.find(' '));
          if (point.rfind(o_.env.scratch + "/", 0) == 0) points.push_back(point);
        }
        std::sort(points.rbegin(), points.rend());
        for (const auto& p : points) {
          if (umount2(p.c_str(), MNT_DETACH) == 0) {
            r->notes.push_back("harness removed a leftover mount: " + p);
          }
        }
      }
      if (d.probe == "cgroups") {
        std::vector<std::string> dirs;
        for (const auto& item : d.appeared) {
          if (item.find("/" + o_.env.cgroup_parent + "/") != std::string::npos) {
            dirs.push_back(item);
          }
        }
        std::sort(dirs.begin(), dirs.end(), [](const std::string& x, const std::string& y) {
          return x.size() > y.size();
        });
        for (const auto& dir : dirs) {
          if (rmdir(dir.c_str()) == 0) {
            r->notes.push_back("harness removed a leftover cgroup: " + dir);
          } else {
            r->notes.push_back("could not remove leftover cgroup " + dir + ": " +
                               mydocker::ErrnoName(errno));
          }
        }
      }
    }
  }

  void SampleFlat(RuntimeAdapter& a, const ProbeScope& scope, int done, size_t base_mounts,
                  size_t base_cgroups, std::vector<CheckResult>* out) {
    ProbeScope light = scope;
    light.holders = false;
    light.fds = false;
    if (a.RealKernel()) ReapOrphans();
    Snapshot s = TakeSnapshot(a.ProbeSys(), light);
    size_t m = s.probes["mounts"].size(), c = s.probes["cgroups"].size();
    bool ok = m == base_mounts && c == base_cgroups;
    std::string detail = "after " + std::to_string(done) + " runs: mounts " +
                         std::to_string(base_mounts) + " -> " + std::to_string(m) +
                         ", cgroups " + std::to_string(base_cgroups) + " -> " + std::to_string(c);
    // One check per sample keeps the growth curve readable in the report.
    out->push_back(Check("flat.after_" + std::to_string(done), ok, detail));
  }

  const RunOptions& o_;
  std::map<std::string, std::string> roots_;
  std::map<std::string, std::map<std::string, ExpectedDifference>> diffs_;
  std::string marker_dir_, marker_source_;
  bool marker_mounted_ = false;
};

}  // namespace

const char* StatusName(ResultStatus s) {
  switch (s) {
    case ResultStatus::kPassed: return "passed";
    case ResultStatus::kFailed: return "failed";
    case ResultStatus::kExpectedDifferent: return "expected-different";
    case ResultStatus::kNotApplicable: return "not-applicable";
  }
  return "?";
}

int RunSummary::Count(const std::string& runtime, ResultStatus s) const {
  int n = 0;
  for (const auto& r : results) {
    if (r.status == s && (runtime.empty() || r.runtime == runtime)) ++n;
  }
  return n;
}

bool RunSummary::ok() const {
  return errors.empty() && Count("", ResultStatus::kFailed) == 0;
}

bool ParseShard(const std::string& text, int* index, int* total) {
  static const std::regex kShard(R"((\d{1,6})/(\d{1,6}))");
  std::smatch m;
  if (!std::regex_match(text, m, kShard)) return false;
  int k = std::stoi(m[1]), n = std::stoi(m[2]);
  if (n < 1 || k < 0 || k >= n) return false;
  *index = k;
  *total = n;
  return true;
}

bool ShardFromEnv(int* index, int* total) {
  Shard shard;
  bool found = false;
  std::string source, error;
  if (!ShardFromEnvironment(&shard, &found, &source, &error)) {
    spdlog::warn("run: {}; running every scenario", error);
    return false;
  }
  if (!found) return false;
  *index = shard.index;
  *total = shard.total;
  return true;
}

std::vector<CheckResult> CheckContainer(const Expectations& e, const ContainerResult& r,
                                        bool real_kernel) {
  std::vector<CheckResult> out;
  const std::string said = r.error_message.empty() ? Tail(r.err) : r.error_message;
  if (r.timed_out) out.push_back(Check("timeout", false, "the run passed its timeout"));
  if (!r.ran && !e.error) {
    out.push_back(Check("start", false, "the runtime did not start: " + said));
  }
  if (e.exit_code) {
    out.push_back(Check("exit", r.exit_code == *e.exit_code,
                        "exit " + std::to_string(r.exit_code) + ", expected " +
                            std::to_string(*e.exit_code) + (said.empty() ? "" : ": " + said)));
  } else if (e.exit_nonzero) {
    out.push_back(Check("exit", r.exit_code != 0, "exit 0, expected a failure"));
  } else if (!e.error) {
    out.push_back(Check("exit", r.exit_code == 0,
                        "exit " + std::to_string(r.exit_code) + ", expected 0" +
                            (said.empty() ? "" : ": " + said)));
  }
  auto patterns = [&](const char* name, const std::vector<OutputPattern>& list,
                      const std::string& text, bool want) {
    for (const auto& p : list) {
      bool found = std::regex_search(
          text, std::regex(p.regex, std::regex::ECMAScript | std::regex::multiline));
      if (found != want) {
        out.push_back(Check(name, false,
                            std::string(want ? "no match for /" : "unwanted match of /") +
                                p.regex + "/ (line " + std::to_string(p.line) + ") in: " +
                                Tail(text)));
        return;
      }
    }
    if (!list.empty()) out.push_back(Check(name, true));
  };
  patterns("stdout", e.stdout_has, r.out, true);
  patterns("stdout_not", e.stdout_lacks, r.out, false);
  // The fake kernel has one console: stderr is in the same text.
  const std::string& err_text = real_kernel ? r.err : r.out + r.err;
  patterns("stderr", e.stderr_has, err_text, true);
  patterns("stderr_not", e.stderr_lacks, err_text, false);
  if (e.error) {
    const std::string all = r.error_step + "\n" + r.error_message + "\n" + r.err;
    bool step_ok = Contains(r.error_step, e.error->step) || Contains(all, e.error->step);
    std::string why;
    if (!r.runtime_error && r.error_message.empty()) {
      why = "no runtime error (exit " + std::to_string(r.exit_code) + ")";
    } else if (!step_ok) {
      why = "the error does not name the step '" + e.error->step + "': " + said;
    } else if (!e.error->errno_name.empty()) {
      bool errno_ok = (r.error_errno != 0 &&
                       mydocker::ErrnoName(r.error_errno) == e.error->errno_name) ||
                      Contains(all, e.error->errno_name);
      if (!errno_ok) why = "the error does not carry " + e.error->errno_name + ": " + said;
    }
    out.push_back(Check("error", why.empty(), why));
  }
  return out;
}

RunSummary RunScenarios(const RunOptions& options) {
  Runner runner(options);
  return runner.Run();
}

}  // namespace faultline
