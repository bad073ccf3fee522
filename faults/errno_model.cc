#include "faults/errno_model.h"

#include <sys/mount.h>
#include <fcntl.h>

#include <algorithm>
#include <cstdlib>
#include <cstdio>

#include <yaml-cpp/yaml.h>

#include "faults/plan.h"

namespace faultline {
namespace {

using mydocker::Expected;
using mydocker::MakeError;

constexpr std::string_view kCgroupRoot = "/sys/fs/cgroup";

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// path is dir or below it (whole components).
bool Under(std::string_view path, std::string_view dir) {
  if (dir == "/") return StartsWith(path, "/");
  if (!StartsWith(path, dir)) return false;
  return path.size() == dir.size() || path[dir.size()] == '/';
}

std::string Normalize(std::string_view path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view c = path.substr(i, j - i);
    if (c == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!c.empty() && c != ".") {
      parts.emplace_back(c);
    }
    i = j + 1;
  }
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

std::string Parent(const std::string& abs) {
  const size_t slash = abs.rfind('/');
  if (slash == 0 || slash == std::string::npos) return "/";
  return abs.substr(0, slash);
}

std::string Base(std::string_view path) {
  const size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

bool IsV1Controller(std::string_view name) {
  static const std::set<std::string, std::less<>> kV1 = {
      "cpu",     "cpuacct",   "cpu,cpuacct", "cpuacct,cpu", "memory",  "pids",
      "cpuset",  "blkio",     "devices",     "freezer",     "net_cls", "net_prio",
      "net_cls,net_prio", "perf_event", "hugetlb", "rdma", "misc", "systemd"};
  return kV1.count(name) != 0;
}

bool IsDirOp(std::string_view op) { return op == "mkdir" || op == "mkdirat" || op == "rmdir"; }
bool IsOpenOp(std::string_view op) { return op == "open" || op == "openat" || op == "openat2"; }
bool IsFdOp(std::string_view op) { return op == "read" || op == "write"; }

}  // namespace

bool Reachability::Reachable(int err) const {
  if (!modeled) return true;
  return std::find(errnos.begin(), errnos.end(), err) != errnos.end();
}

Expected<ErrnoModel> ErrnoModel::FromYaml(const std::string& text) {
  ErrnoModel m;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return MakeError("errno model", "line " + std::to_string(e.mark.line + 1), 0, e.msg);
  }
  YAML::Node list = root["entries"];
  if (!list || !list.IsSequence()) return MakeError("errno model", "entries", 0, "expected a list");
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node& n = list[i];
    const std::string where = "entries[" + std::to_string(i) + "]";
    ErrnoModelEntry e;
    try {
      YAML::Node op = n["op"];
      if (op && op.IsScalar()) e.ops.push_back(op.Scalar());
      else if (op && op.IsSequence())
        for (const auto& o : op) e.ops.push_back(o.Scalar());
      else return MakeError("errno model", where + ".op", 0, "expected an op or a list of ops");
      if (n["class"]) e.cls = n["class"].Scalar();
      if (!n["errnos"] || !n["errnos"].IsSequence())
        return MakeError("errno model", where + ".errnos", 0, "expected a list (may be empty)");
      for (const auto& x : n["errnos"]) {
        int err = 0;
        if (!ErrnoFromName(x.Scalar(), &err))
          return MakeError("errno model", where + ".errnos", 0, "unknown errno " + x.Scalar());
        e.errnos.push_back(err);
      }
      if (!n["source"] || n["source"].Scalar().empty())
        return MakeError("errno model", where + ".source", 0, "every entry names its source");
      e.source = n["source"].Scalar();
      if (n["short_min"]) {
        const int64_t v = n["short_min"].as<int64_t>();
        if (v < 1)
          return MakeError("errno model", where + ".short_min", 0, "expected a byte count >= 1");
        e.short_min = static_cast<size_t>(v);
      }
      for (auto it = n.begin(); it != n.end(); ++it) {
        const std::string k = it->first.Scalar();
        if (k != "op" && k != "class" && k != "errnos" && k != "source" && k != "note" &&
            k != "short_min")
          return MakeError("errno model", where + "." + k, 0, "unknown key");
      }
    } catch (const YAML::Exception& ex) {
      return MakeError("errno model", where, 0, ex.msg);
    }
    m.entries_.push_back(std::move(e));
  }
  return m;
}

const ErrnoModel& ErrnoModel::Builtin() {
  static const ErrnoModel* model = [] {
    auto m = FromYaml(BuiltinText());
    if (!m) {
      std::fprintf(stderr, "faultline: the built-in errno model is malformed: %s\n",
                   m.error().Message().c_str());
      std::abort();
    }
    return new ErrnoModel(std::move(*m));
  }();
  return *model;
}

Reachability ErrnoModel::Lookup(std::string_view op,
                                const std::vector<std::string>& classes) const {
  Reachability r;
  r.classes = classes;
  auto find = [&](const std::string& cls) -> const ErrnoModelEntry* {
    for (const auto& e : entries_) {
      if (e.cls != cls) continue;
      if (std::find(e.ops.begin(), e.ops.end(), op) != e.ops.end()) return &e;
    }
    return nullptr;
  };
  const ErrnoModelEntry* hit = nullptr;
  for (const auto& c : classes) {
    if ((hit = find(c)) != nullptr) break;
  }
  if (hit == nullptr) hit = find("");
  if (hit == nullptr) return r;
  r.modeled = true;
  r.cls = hit->cls.empty() ? "any" : hit->cls;
  r.errnos = hit->errnos;
  r.source = hit->source;
  r.short_min = hit->short_min;
  return r;
}

int FdFromArgs(std::string_view args) {
  const size_t at = args.find("fd=");
  if (at == std::string_view::npos || (at > 0 && args[at - 1] != ' ')) return -1;
  return std::atoi(std::string(args.substr(at + 3, 12)).c_str());
}

const CallClassifier::Proc& CallClassifier::Of(pid_t pid) const {
  static const Proc kNone;
  auto it = procs_.find(pid);
  if (it != procs_.end()) return it->second;
  return procs_.empty() ? kNone : procs_.begin()->second;
}

std::string CallClassifier::Resolve(const Proc& p, std::string_view path) const {
  if (path.empty()) return "";
  if (path.front() == '/') return Normalize(path);
  return Normalize(p.cwd + "/" + std::string(path));
}

std::string CallClassifier::FdPath(pid_t pid, int fd) const {
  return AttributedFd(Of(pid), fd);
}

std::string CallClassifier::AttributedFd(const Proc& p, int fd) const {
  auto it = p.fds.find(fd);
  if (it != p.fds.end()) return it->second;
  return p.pending_opens.empty() ? "" : p.pending_opens.back();
}

std::string CallClassifier::FsClass(const Proc& p, const std::string& abs) const {
  // The deepest mount of this run over the path.
  std::string best, fstype;
  for (const auto& [target, type] : p.mounts) {
    if (Under(abs, target) && target.size() >= best.size() && !type.empty()) {
      best = target;
      fstype = type;
    }
  }
  auto known = [](const std::string& t) -> std::string {
    if (t == "overlay") return "overlay";
    if (t == "tmpfs" || t == "devpts" || t == "mqueue") return "tmpfs";
    if (t == "proc") return "proc";
    if (t == "sysfs") return "sysfs";
    if (t == "cgroup") return "cgroup1";
    if (t == "cgroup2") return "cgroup2";
    return "";
  };
  if (!best.empty() && !known(fstype).empty()) return known(fstype);
  if (p.pivoted) {
    // Inside the container's root: the root is the overlay.
    return "overlay";
  }
  if (Under(abs, kCgroupRoot)) {
    std::string rest = abs.size() > kCgroupRoot.size() ? abs.substr(kCgroupRoot.size() + 1) : "";
    std::string first = rest.substr(0, rest.find('/'));
    if (first == "unified") return "cgroup2";
    return IsV1Controller(first) ? "cgroup1" : "cgroup2";
  }
  if (Under(abs, "/proc")) return "proc";
  if (Under(abs, "/sys")) return "sysfs";
  if (Under(abs, "/dev")) return "tmpfs";
  if (abs.find("/merged/") != std::string::npos || abs.ends_with("/merged")) return "overlay";
  return "disk";
}

std::vector<std::string> CallClassifier::Classes(const ClassifiedCall& c) const {
  const Proc& p = Of(c.pid);
  std::vector<std::string> out;
  const std::string op(c.op);
  std::string abs = Resolve(p, c.path);
  if (IsFdOp(op) && abs.empty() && c.fd >= 0) abs = AttributedFd(p, c.fd);
  // Argument classes first.
  if (op == "umount2") {
    const bool own = mounted_.count(abs) != 0 ||
                     ((p.pivoted || p.pivoted_host) && (c.path == "." || c.path == "/"));
    if (own) out.push_back((c.flags & MNT_DETACH) ? "detach-own-mount" : "umount-own-mount");
  } else if (op == "mount") {
    constexpr uint64_t kProp = MS_PRIVATE | MS_SLAVE | MS_SHARED | MS_UNBINDABLE;
    if (c.flags & MS_REMOUNT) out.push_back("remount");
    else if (c.flags & MS_BIND) out.push_back("bind-mount");
    else if ((c.flags & kProp) != 0 && (c.flags & ~(kProp | MS_REC | MS_SILENT)) == 0)
      out.push_back("propagation");
    else out.push_back("new-mount");
  }
  const std::string fs_of_path = abs.empty() ? "" : FsClass(p, abs);
  const std::string fs = (IsDirOp(op) || op == "unlink" || op == "unlinkat" ||
                          op == "symlink" || op == "mknod" || op == "link") && !abs.empty()
                             ? (StartsWith(fs_of_path, "cgroup") ? fs_of_path : FsClass(p, Parent(abs)))
                             : fs_of_path;
  const bool cgroup = StartsWith(fs, "cgroup");
  if (cgroup && (IsDirOp(op) || (op == "unlinkat" && (c.flags & AT_REMOVEDIR))))
    out.push_back("cgroup-dir");
  if (cgroup && IsOpenOp(op)) out.push_back("cgroup-file");
  if (cgroup && op == "write") {
    const std::string base = Base(abs);
    out.push_back(base == "cgroup.procs" || base == "tasks" || base == "cgroup.threads"
                      ? "cgroup-procs"
                      : "cgroup-file");
  }
  if (!cgroup && IsOpenOp(op) && (c.flags & O_CREAT)) out.push_back("create");
  if (IsFdOp(op) && abs.empty()) out.push_back("pipe-io");
  if (!fs.empty()) out.push_back(fs);
  if (cgroup) out.push_back("cgroup");
  return out;
}

void CallClassifier::Observe(const ClassifiedCall& c) {
  if (procs_.find(c.pid) == procs_.end()) {
    Proc init = procs_.empty() ? Proc{} : procs_.begin()->second;
    init.fds.clear();
    init.pending_opens.clear();
    procs_[c.pid] = init;
  }
  Proc& p = procs_[c.pid];
  const std::string op(c.op);
  if ((IsFdOp(op) || op == "close") && c.fd >= 0 && p.fds.count(c.fd) == 0 &&
      !p.pending_opens.empty()) {
    p.fds[c.fd] = p.pending_opens.back();
    p.pending_opens.pop_back();
  }
  if (c.err != 0 && op != "close") return;
  const std::string abs = Resolve(p, c.path);
  if (op == "chdir") {
    p.cwd = abs;
  } else if (op == "mount" && !(c.flags & MS_REMOUNT)) {
    std::string type(c.fstype);
    if (c.flags & MS_BIND) type = FsClass(p, Resolve(p, c.path2)) == "overlay" ? "overlay" : "";
    if (!abs.empty() && (c.flags & (MS_BIND | MS_PRIVATE | MS_SLAVE | MS_SHARED)) != MS_PRIVATE) {
      p.mounts[abs] = type;
      mounted_.insert(abs);
    }
  } else if (op == "umount2") {
    p.mounts.erase(abs);
  } else if (op == "pivot_root" && c.host_paths) {
    // Host paths stay host paths; only the old root's detach changes.
    p.pivoted_host = true;
  } else if (op == "pivot_root") {
    // Paths are container paths from now on: the new root's mounts move to
    // "/" (the root itself is the overlay).
    const std::string root = abs;
    std::map<std::string, std::string> moved;
    for (const auto& [target, type] : p.mounts) {
      if (Under(target, root) && target != root) moved[target.substr(root.size())] = type;
    }
    p.mounts = std::move(moved);
    p.mounts["/"] = "overlay";
    p.pivoted = true;
    for (const auto& [t, type] : p.mounts) mounted_.insert(t);
  } else if (IsOpenOp(op)) {
    if (c.handle >= 0) p.fds[static_cast<int>(c.handle)] = abs;
    else p.pending_opens.push_back(abs);
  } else if (op == "close" && c.fd >= 0) {
    p.fds.erase(c.fd);
  }
}

}  // namespace faultline
