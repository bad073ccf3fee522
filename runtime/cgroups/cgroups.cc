#include "runtime/cgroups/cgroups.h"

#include <errno.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include <spdlog/spdlog.h>

#include "runtime/sys/fs_util.h"
#include "runtime/sys/mountinfo.h"

namespace mydocker {
namespace {

constexpr const char* kCgroupRoot = "/sys/fs/cgroup";
constexpr int64_t kCfsPeriodUs = 100000;
// The controllers mydocker manages, in the order their hierarchies are made.
constexpr const char* kControllers[] = {"memory", "cpu", "cpuset", "pids"};

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t end = s.find(sep, start);
    out.emplace_back(s.substr(start, end == std::string_view::npos ? s.npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// One hierarchy the cgroup lives in: a mount point and the managed
// controllers it carries (v2: all of them, in one tree).
struct Hierarchy {
  std::string mount;
  std::vector<std::string> controllers;
  bool Has(std::string_view c) const {
    return std::find(controllers.begin(), controllers.end(), c) != controllers.end();
  }
};

std::vector<Hierarchy> Hierarchies(const CgroupLayout& layout) {
  std::vector<Hierarchy> out;
  if (layout.version == CgroupVersion::kV2) {
    out.push_back({layout.unified, {std::begin(kControllers), std::end(kControllers)}});
    return out;
  }
  for (const auto& [controller, mount] : layout.v1_mounts) {
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const Hierarchy& h) { return h.mount == mount; });
    if (it == out.end()) {
      out.push_back({mount, {controller}});
    } else if (!it->Has(controller)) {
      it->controllers.push_back(controller);
    }
  }
  return out;
}

// "a/b" -> {"a", "a/b"}: the parent's path components, outermost first.
std::vector<std::string> ParentChain(const std::string& parent) {
  std::vector<std::string> chain;
  std::string cur;
  for (const std::string& part : Split(parent, '/')) {
    if (part.empty()) continue;
    cur = cur.empty() ? part : cur + "/" + part;
    chain.push_back(cur);
  }
  return chain;
}

// "/a//b/" -> "a/b".
std::string NormalizeParent(const std::string& parent) {
  std::vector<std::string> chain = ParentChain(parent);
  return chain.empty() ? std::string() : chain.back();
}

Outcome CheckNames(const std::string& parent, const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    return MakeError("cgroup: check name", name, EINVAL,
                     "the cgroup name must be one non-empty path component");
  }
  for (const std::string& part : Split(parent, '/')) {
    if (part == "." || part == "..") {
      return MakeError("cgroup: check name", parent, EINVAL,
                       "the parent must not contain . or .. components");
    }
  }
  return Outcome::Ok();
}

Outcome CheckLimits(const CgroupLimits& l) {
  const char* step = "cgroup: check limits";
  if (l.memory_bytes && *l.memory_bytes <= 0) {
    return MakeError(step, "", EINVAL, "memory limit must be > 0, got " + std::to_string(*l.memory_bytes));
  }
  if (l.cpus && !(std::isfinite(*l.cpus) && *l.cpus > 0)) {
    return MakeError(step, "", EINVAL, "cpus must be finite and > 0");
  }
  if (l.cpus && std::llround(*l.cpus * kCfsPeriodUs) < 1000) {
    return MakeError(step, "", EINVAL, "cpus must be >= 0.01 (the kernel's minimum quota is 1000us)");
  }
  if (l.cpuset_cpus && l.cpuset_cpus->empty()) {
    return MakeError(step, "", EINVAL, "cpuset cpus must not be empty");
  }
  return Outcome::Ok();
}

std::string PidsValue(int64_t limit) { return limit <= 0 ? "max" : std::to_string(limit); }

// Creates one cgroup in every hierarchy and records each directory it made so
// that a failure can remove exactly those, newest first.
class Creator {
  static constexpr const char* kCpusetStep = "cgroup: init cpuset";

 public:
  Creator(Sys& sys, const std::string& parent, const std::string& name,
          const CgroupLimits& limits)
      : sys_(sys), parent_(parent), name_(name), limits_(limits) {}

  Outcome CreateV1(const Hierarchy& h, std::string* child) {
    std::string dir = h.mount;
    // dir's cpuset.cpus and cpuset.mems once read or written: each file
    // of a level is read once, and the container's from its parent's.
    std::string cpus, mems;
    for (const std::string& rel : ParentChain(parent_)) {
      const std::string level = JoinPath(h.mount, rel);
      MYDOCKER_TRY(MkdirOnce(level, "cgroup: create parent", /*may_exist=*/true));
      // A v1 cpuset with empty cpus or mems refuses tasks (ENOSPC) and
      // children inherit nothing: fill them from the level above.
      if (h.Has("cpuset")) {
        MYDOCKER_TRY(FillIfEmpty(dir, level, "cpuset.cpus", &cpus));
        MYDOCKER_TRY(FillIfEmpty(dir, level, "cpuset.mems", &mems));
      }
      dir = level;
    }
    *child = JoinPath(dir, name_);
    MYDOCKER_TRY(MkdirOnce(*child, "cgroup: create", /*may_exist=*/false));
    if (h.Has("cpuset")) {
      // The container's cgroup is new: its files are empty, or hold the
      // parent's values (cgroup.clone_children), which are written again.
      if (limits_.cpuset_cpus) {
        MYDOCKER_TRY(WriteLimit(*child, "cpuset.cpus", *limits_.cpuset_cpus));
      } else {
        MYDOCKER_TRY(CopyDown(dir, *child, "cpuset.cpus", &cpus));
      }
      MYDOCKER_TRY(CopyDown(dir, *child, "cpuset.mems", &mems));
    }
    if (h.Has("memory") && limits_.memory_bytes) {
      const std::string v = std::to_string(*limits_.memory_bytes);
      MYDOCKER_TRY(WriteLimit(*child, "memory.limit_in_bytes", v));
      // Present only with swap accounting; memory+swap = memory means the
      // container cannot swap.
      if (Exists(sys_, JoinPath(*child, "memory.memsw.limit_in_bytes"))) {
        MYDOCKER_TRY(WriteLimit(*child, "memory.memsw.limit_in_bytes", v));
      }
    }
    if (h.Has("cpu")) {
      if (limits_.cpu_shares) {
        MYDOCKER_TRY(WriteLimit(*child, "cpu.shares", std::to_string(*limits_.cpu_shares)));
      }
      if (limits_.cpus) {
        MYDOCKER_TRY(WriteLimit(*child, "cpu.cfs_period_us", std::to_string(kCfsPeriodUs)));
        MYDOCKER_TRY(WriteLimit(*child, "cpu.cfs_quota_us",
                                std::to_string(std::llround(*limits_.cpus * kCfsPeriodUs))));
      }
    }
    if (h.Has("pids") && limits_.pids_limit) {
      MYDOCKER_TRY(WriteLimit(*child, "pids.max", PidsValue(*limits_.pids_limit)));
    }
    return Outcome::Ok();
  }

  Outcome CreateV2(const Hierarchy& h, std::string* child) {
    std::vector<std::string> levels = {h.mount};
    for (const std::string& rel : ParentChain(parent_)) {
      levels.push_back(JoinPath(h.mount, rel));
      MYDOCKER_TRY(MkdirOnce(levels.back(), "cgroup: create parent", /*may_exist=*/true));
    }
    // Pass the controllers down from the root to the parent: each level
    // enables, for its children, those it has itself.
    for (const std::string& level : levels) MYDOCKER_TRY(EnableControllers(level));
    *child = JoinPath(levels.back(), name_);
    MYDOCKER_TRY(MkdirOnce(*child, "cgroup: create", /*may_exist=*/false));
    if (limits_.memory_bytes) {
      MYDOCKER_TRY(WriteLimit(*child, "memory.max", std::to_string(*limits_.memory_bytes)));
    }
    if (limits_.cpu_shares) {
      MYDOCKER_TRY(WriteLimit(*child, "cpu.weight",
                              std::to_string(SharesToWeight(*limits_.cpu_shares))));
    }
    if (limits_.cpus) MYDOCKER_TRY(WriteLimit(*child, "cpu.max", CpusToMax(*limits_.cpus)));
    if (limits_.cpuset_cpus) MYDOCKER_TRY(WriteLimit(*child, "cpuset.cpus", *limits_.cpuset_cpus));
    if (limits_.pids_limit) MYDOCKER_TRY(WriteLimit(*child, "pids.max", PidsValue(*limits_.pids_limit)));
    return Outcome::Ok();
  }

  // Removes every directory this call made, newest first.
  void Rollback() {
    while (!created_.empty()) {
      const std::string dir = created_.back();
      created_.pop_back();
      Status st = sys_.Rmdir(dir);
      if (!st.ok() && st.err != ENOENT) {
        spdlog::warn("cgroup: undo: rmdir {}: {}", dir, ErrnoName(st.err));
      } else {
        spdlog::debug("cgroup: undo: removed {}", dir);
      }
    }
  }

 private:
  Outcome MkdirOnce(const std::string& dir, const char* step, bool may_exist) {
    Status st = sys_.Mkdir(dir, 0755);
    if (st.ok()) {
      created_.push_back(dir);
      return Outcome::Ok();
    }
    if (st.err == EEXIST && may_exist) {
      auto s = sys_.Lstat(dir);
      if (!s.ok()) return MakeError(step, dir, s.err);
      if (!S_ISDIR(s.value.mode)) return MakeError(step, dir, ENOTDIR);
      return Outcome::Ok();
    }
    return MakeError(step, dir, st.err);
  }

  // Copies <from>/<file> into <to>/<file> when the latter is empty.
  // *value: from's content when known ("" if not: then it is read), and
  // on return to's.
  Outcome FillIfEmpty(const std::string& from, const std::string& to, const std::string& file,
                      std::string* value) {
    auto cur = ReadFile(sys_, JoinPath(to, file), kCpusetStep);
    if (!cur.ok()) return cur.error();
    if (std::string v = Trim(*cur); !v.empty()) {
      *value = std::move(v);
      return Outcome::Ok();
    }
    return CopyDown(from, to, file, value);
  }

  // Writes from's <file> (*value, read first when "") into <to>/<file>.
  Outcome CopyDown(const std::string& from, const std::string& to, const std::string& file,
                   std::string* value) {
    if (value->empty()) {
      auto src = ReadFile(sys_, JoinPath(from, file), kCpusetStep);
      if (!src.ok()) return src.error();
      *value = Trim(*src);
      if (value->empty()) {
        return MakeError(kCpusetStep, JoinPath(from, file), ENOSPC,
                         "the level above has no " + file + " either");
      }
    }
    return WriteExisting(sys_, JoinPath(to, file), *value, kCpusetStep);
  }

  Outcome WriteLimit(const std::string& dir, const std::string& file, const std::string& value) {
    const std::string path = JoinPath(dir, file);
    spdlog::debug("cgroup: {} <- {}", path, value);
    Outcome o = WriteExisting(sys_, path, value, "cgroup: write limit");
    if (!o.ok()) {
      Error e = o.error();
      e.detail = "value " + Quoted(value);
      if (e.err == ENOENT) e.detail += "; the controller is not available in this cgroup";
      return e;
    }
    return o;
  }

  Outcome EnableControllers(const std::string& level) {
    const char* step = "cgroup: enable controllers";
    auto available = ReadFile(sys_, JoinPath(level, "cgroup.controllers"), step);
    if (!available.ok()) return available.error();
    auto enabled = ReadFile(sys_, JoinPath(level, "cgroup.subtree_control"), step);
    if (!enabled.ok()) return enabled.error();
    const std::vector<std::string> have = Split(Trim(*available), ' ');
    const std::vector<std::string> on = Split(Trim(*enabled), ' ');
    std::string request;
    for (const char* c : kControllers) {
      if (std::find(have.begin(), have.end(), c) == have.end()) continue;
      if (std::find(on.begin(), on.end(), c) != on.end()) continue;
      request += std::string(request.empty() ? "" : " ") + "+" + c;
    }
    if (request.empty()) return Outcome::Ok();
    spdlog::debug("cgroup: {}/cgroup.subtree_control <- {}", level, request);
    Outcome o = WriteExisting(sys_, JoinPath(level, "cgroup.subtree_control"), request, step);
    if (!o.ok()) {
      Error e = o.error();
      e.detail = "value " + Quoted(request);
      return e;
    }
    return o;
  }

  Sys& sys_;
  const std::string& parent_;
  const std::string& name_;
  const CgroupLimits& limits_;
  std::vector<std::string> created_;
};

std::vector<std::string> PathsFor(const CgroupLayout& layout, const std::string& parent,
                                  const std::string& name) {
  std::vector<std::string> paths;
  for (const Hierarchy& h : Hierarchies(layout)) {
    paths.push_back(JoinPath(JoinPath(h.mount, parent), name));
  }
  return paths;
}

}  // namespace

// ---- layout ----------------------------------------------------------------

Expected<CgroupLayout> CgroupLayoutFromMountinfo(const std::string& mountinfo) {
  auto entries = ParseMountinfo(mountinfo);
  if (!entries.ok()) return entries.error();
  CgroupLayout layout;
  for (const MountEntry& e : *entries) {
    if (e.fstype == "cgroup2" && e.target == kCgroupRoot) {
      layout.version = CgroupVersion::kV2;
      layout.unified = e.target;
      layout.v1_mounts.clear();
      return layout;
    }
  }
  layout.version = CgroupVersion::kV1;
  for (const char* controller : kControllers) {
    for (const MountEntry& e : *entries) {
      if (e.fstype != "cgroup") continue;
      const std::vector<std::string> opts = Split(e.super_options, ',');
      if (std::find(opts.begin(), opts.end(), controller) == opts.end()) continue;
      layout.v1_mounts.emplace_back(controller, e.target);
      break;  // the first mount of a controller wins (later ones are binds)
    }
  }
  if (layout.v1_mounts.empty()) {
    return MakeError("cgroup: detect layout", "/proc/self/mountinfo", ENOENT,
                     "no cgroup2 mount at /sys/fs/cgroup and no v1 mount of memory, cpu, "
                     "cpuset or pids");
  }
  return layout;
}

Expected<CgroupLayout> DetectCgroupLayout(Sys& sys) {
  auto text = ReadFile(sys, "/proc/self/mountinfo", "cgroup: detect layout");
  if (!text.ok()) return text.error();
  auto layout = CgroupLayoutFromMountinfo(*text);
  if (layout.ok()) {
    if (layout->version == CgroupVersion::kV2) {
      spdlog::debug("cgroup: v2 at {}", layout->unified);
    } else {
      for (const auto& [c, m] : layout->v1_mounts) spdlog::debug("cgroup: v1 {} at {}", c, m);
    }
  }
  return layout;
}

// ---- values ----------------------------------------------------------------

Expected<int64_t> ParseMemorySize(std::string_view text) {
  const char* step = "cgroup: parse memory size";
  if (text.empty()) return MakeError(step, "", EINVAL, "empty value");
  if (text.front() == '-') return MakeError(step, "", EINVAL, Quoted(text) + ": must not be negative");
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) {
    return MakeError(step, "", EINVAL, Quoted(text) + ": expected a number of bytes with an optional k, m, g or t");
  }
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits, n);
  if (ec == std::errc::result_out_of_range) {
    return MakeError(step, "", ERANGE, Quoted(text) + ": too large");
  }
  std::string unit(text.substr(digits));
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return std::tolower(c); });
  int shift = -1;
  if (unit.empty() || unit == "b") shift = 0;
  else if (unit == "k" || unit == "kb") shift = 10;
  else if (unit == "m" || unit == "mb") shift = 20;
  else if (unit == "g" || unit == "gb") shift = 30;
  else if (unit == "t" || unit == "tb") shift = 40;
  if (shift < 0) {
    return MakeError(step, "", EINVAL,
                     Quoted(text) + ": unknown unit " + Quoted(text.substr(digits)) + " (use k, m, g or t, optionally followed by b)");
  }
  if (n > (std::numeric_limits<int64_t>::max() >> shift)) {
    return MakeError(step, "", ERANGE, Quoted(text) + ": too large");
  }
  return n << shift;
}

Expected<double> ParseCpus(std::string_view text) {
  const char* step = "cgroup: parse cpus";
  if (text.empty()) return MakeError(step, "", EINVAL, "empty value");
  if (!std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.' || c == '-'; })) {
    return MakeError(step, "", EINVAL, Quoted(text) + ": expected a decimal number such as 1.5");
  }
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v, std::chars_format::fixed);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return MakeError(step, "", EINVAL, Quoted(text) + ": expected a decimal number such as 1.5");
  }
  if (!std::isfinite(v) || v <= 0) return MakeError(step, "", EINVAL, Quoted(text) + ": must be > 0");
  if (v * kCfsPeriodUs > 1e15) return MakeError(step, "", ERANGE, Quoted(text) + ": too large");
  return v;
}

Expected<std::string> ParseCpuList(std::string_view text) {
  const char* step = "cgroup: parse cpu list";
  constexpr int kMaxCpu = 8191;  // the kernel's largest NR_CPUS
  if (text.empty()) return MakeError(step, "", EINVAL, "empty value");
  for (const std::string& item : Split(text, ',')) {
    const size_t dash = item.find('-');
    const std::string lo_s = item.substr(0, dash);
    const std::string hi_s = dash == std::string::npos ? lo_s : item.substr(dash + 1);
    if (!AllDigits(lo_s) || !AllDigits(hi_s)) {
      return MakeError(step, "", EINVAL,
                       Quoted(text) + ": bad item " + Quoted(item) + " (expected N or N-M, as in \"0-2,4\")");
    }
    int lo = 0, hi = 0;
    auto r1 = std::from_chars(lo_s.data(), lo_s.data() + lo_s.size(), lo);
    auto r2 = std::from_chars(hi_s.data(), hi_s.data() + hi_s.size(), hi);
    if (r1.ec != std::errc() || r2.ec != std::errc() || lo > kMaxCpu || hi > kMaxCpu) {
      return MakeError(step, "", ERANGE, Quoted(text) + ": cpu number above " + std::to_string(kMaxCpu));
    }
    if (lo > hi) {
      return MakeError(step, "", EINVAL, Quoted(text) + ": range " + Quoted(item) + " runs backwards");
    }
  }
  return std::string(text);
}

uint64_t SharesToWeight(uint64_t shares) {
  shares = std::clamp<uint64_t>(shares, 2, 262144);
  return 1 + ((shares - 2) * 9999) / 262142;
}

std::string CpusToMax(double cpus) {
  return std::to_string(std::llround(cpus * kCfsPeriodUs)) + " " + std::to_string(kCfsPeriodUs);
}

// ---- Cgroup ----------------------------------------------------------------

Expected<Cgroup> Cgroup::Create(Sys& sys, const CgroupLayout& layout, const std::string& parent_in,
                                const std::string& name, const CgroupLimits& limits) {
  MYDOCKER_TRY(CheckNames(parent_in, name));
  MYDOCKER_TRY(CheckLimits(limits));
  const std::string parent = NormalizeParent(parent_in);
  const std::vector<Hierarchy> hierarchies = Hierarchies(layout);
  if (hierarchies.empty() || hierarchies.front().mount.empty()) {
    return MakeError("cgroup: create", "", ENOENT, "the layout has no cgroup hierarchy");
  }
  if (layout.version == CgroupVersion::kV1) {
    // A limit whose controller the host lacks fails before anything is made.
    auto need = [&](bool wanted, const char* controller, const char* file) -> Outcome {
      if (!wanted) return Outcome::Ok();
      for (const Hierarchy& h : hierarchies) {
        if (h.Has(controller)) return Outcome::Ok();
      }
      return MakeError("cgroup: write limit", file, ENOENT,
                       std::string("the host has no v1 ") + controller + " hierarchy");
    };
    MYDOCKER_TRY(need(limits.memory_bytes.has_value(), "memory", "memory.limit_in_bytes"));
    MYDOCKER_TRY(need(limits.cpu_shares.has_value(), "cpu", "cpu.shares"));
    MYDOCKER_TRY(need(limits.cpus.has_value(), "cpu", "cpu.cfs_quota_us"));
    MYDOCKER_TRY(need(limits.cpuset_cpus.has_value(), "cpuset", "cpuset.cpus"));
    MYDOCKER_TRY(need(limits.pids_limit.has_value(), "pids", "pids.max"));
  }

  Creator creator(sys, parent, name, limits);
  std::vector<std::string> paths;
  for (const Hierarchy& h : hierarchies) {
    std::string child;
    Outcome o = layout.version == CgroupVersion::kV1 ? creator.CreateV1(h, &child)
                                                    : creator.CreateV2(h, &child);
    if (!o.ok()) {
      spdlog::warn("cgroup: create {}/{} failed: {}; undoing", parent, name, o.error().Message());
      creator.Rollback();
      return o.error();
    }
    paths.push_back(child);
  }
  spdlog::info("cgroup: created {}/{} in {} hierarch{}", parent, name, paths.size(),
               paths.size() == 1 ? "y" : "ies");
  return Cgroup(sys, std::move(paths));
}

Cgroup Cgroup::Existing(Sys& sys, const CgroupLayout& layout, const std::string& parent,
                        const std::string& name) {
  return Cgroup(sys, PathsFor(layout, NormalizeParent(parent), name));
}

Outcome Cgroup::Attach(pid_t pid) {
  for (const std::string& dir : paths_) {
    MYDOCKER_TRY(WriteExisting(*sys_, JoinPath(dir, "cgroup.procs"), std::to_string(pid), "cgroup: attach"));
  }
  spdlog::debug("cgroup: attached pid {} to {} hierarchies", pid, paths_.size());
  return Outcome::Ok();
}

Outcome Cgroup::Destroy() {
  std::optional<Error> first;
  for (auto it = paths_.rbegin(); it != paths_.rend(); ++it) {
    Status st = sys_->Rmdir(*it);
    if (st.ok() || st.err == ENOENT) continue;
    spdlog::warn("cgroup: destroy {}: {}", *it, ErrnoName(st.err));
    if (!first) {
      first = MakeError("cgroup: destroy", *it, st.err,
                        st.err == EBUSY ? "a process is still inside" : std::string());
    }
  }
  if (first) return *first;
  spdlog::debug("cgroup: destroyed {} directories", paths_.size());
  return Outcome::Ok();
}

Expected<std::vector<pid_t>> Cgroup::Members() {
  std::vector<pid_t> out;
  for (const std::string& dir : paths_) {
    auto text = ReadFile(*sys_, JoinPath(dir, "cgroup.procs"), "cgroup: members");
    if (!text) {
      // Gone, or removed between the open and the read (kernfs: ENODEV; a
      // run's teardown racing stop or rm -f): no members either way.
      if (text.error().err == ENOENT || text.error().err == ENODEV) continue;
      return text.error();
    }
    size_t pos = 0;
    while (pos < text->size()) {
      size_t nl = text->find('\n', pos);
      if (nl == std::string::npos) nl = text->size();
      if (nl > pos) out.push_back(static_cast<pid_t>(std::strtol(text->c_str() + pos, nullptr, 10)));
      pos = nl + 1;
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  std::erase_if(out, [](pid_t p) { return p <= 0; });
  return out;
}

}  // namespace mydocker
