// Probes: see probes.h. Every read goes through mydocker::Sys, so the same
// code answers from LinuxSys and from FakeKernel.
//
// Rules shared by every probe:
//  * A probe that cannot read what it must (the mount table, a scope
//    directory that exists, /proc) records an Error message in
//    Snapshot::errors naming the step, the path and the errno; it never
//    yields a silently empty set.
//  * Things that vanish while the probe walks them (a process that exits, a
//    directory removed by a container that is still running) are skipped:
//    ENOENT/ESRCH on an entry found a moment earlier (and EINVAL from the
//    mountinfo of a process that is exiting) is a race, not an error.
//  * A scope directory or cgroup parent that does not exist is a state, not
//    an error: it simply contributes no items (Compare then shows it as
//    vanished or appeared against the other snapshot).
//
// Compare treats errors as differences: when either snapshot has errors, the
// result holds a ProbeDiff named "errors" listing them ("before: ..." /
// "after: ..."), so a probe that could not read never passes as "no change".
#include "harness/probes/probes.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include <spdlog/spdlog.h>

#include "harness/probes/tmp_watch.h"
#include "runtime/sys/fs_util.h"
#include "runtime/sys/mountinfo.h"
#include "runtime/util/error.h"

namespace faultline {
namespace {

using mydocker::DirEntry;
using mydocker::FileStat;
using mydocker::JoinPath;
using mydocker::MakeError;
using mydocker::MountEntry;
using mydocker::Sys;

bool IsVanished(int err) { return err == ENOENT || err == ESRCH; }
// Another process's /proc/PID/mountinfo gives EINVAL once the process is
// exiting (its mount namespace is already released): it has vanished too.
bool IsVanishedMountinfo(int err) { return IsVanished(err) || err == EINVAL; }

bool AllDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The kernel's mountinfo escaping (seq_file mangle): space, tab, newline and
// backslash become \ooo. A scope path appears in the raw text in this form.
std::string MountinfoEscape(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\\') {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\%03o", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

std::string StripTrailingSlashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

std::string MountItem(const MountEntry& m) {
  return m.target + " " + m.fstype + " " + m.source;
}

// Adds item to set; a repeated item (a mount stacked twice on the same
// point) gets " #2", " #3", ... so a second copy is not lost in the set.
void AddCounted(std::set<std::string>& set, const std::string& item) {
  if (set.insert(item).second) return;
  for (int n = 2;; ++n) {
    if (set.insert(item + " #" + std::to_string(n)).second) return;
  }
}

class Prober {
 public:
  Prober(Sys& sys, const ProbeScope& scope, Snapshot& snap)
      : sys_(sys), scope_(scope), snap_(snap) {
    for (const auto& d : scope.dirs) scope_dirs_.push_back(StripTrailingSlashes(d));
    for (const auto& d : scope.dirs_prune) prune_.insert(StripTrailingSlashes(d));
    for (const auto& d : scope.dirs_persistent) persistent_.insert(StripTrailingSlashes(d));
    outside_roots_ = scope_dirs_;
    for (const auto& d : scope.outside_skip) outside_roots_.push_back(StripTrailingSlashes(d));
  }

  void Run() {
    // The watch's own fd is made first, so the fds probe lists it in
    // every snapshot, the first one too.
    if (scope_.shared_tmp_events && !scope_.outside.empty()) (void)SharedTmpWatch::Get();
    // The probes always present, even when empty, so Compare sees them.
    snap_.probes["mounts"];
    snap_.probes["dirs"];
    if (!scope_.cgroup_parent.empty()) snap_.probes["cgroups"];
    snap_.probes["processes"];
    if (scope_.holders) snap_.probes["holders"];
    if (scope_.fds) snap_.probes["fds"];
    if (!scope_.outside.empty()) snap_.probes["outside"];

    Mounts();
    Dirs();
    if (!scope_.cgroup_parent.empty()) Cgroups();
    Procs();
    if (scope_.fds) {
      // Not while the /tmp watch's reader has a /proc file open.
      std::unique_lock<std::mutex> hold;
      if (scope_.shared_tmp_events) hold = SharedTmpWatch::Hold();
      Fds();
    }
    if (!scope_.outside.empty()) Outside();
  }

 private:
  void Fail(const std::string& step, const std::string& path, int err,
            const std::string& detail = {}) {
    snap_.errors.push_back(MakeError(step, path, err, detail).Message());
  }
  void Fail(const mydocker::Error& e) { snap_.errors.push_back(e.Message()); }

  // ---- mounts: /proc/self/mountinfo --------------------------------------
  void Mounts() {
    auto table = mydocker::ReadMountinfo(sys_, "/proc/self/mountinfo");
    if (!table) {
      Fail(table.error());
      return;
    }
    self_mounts_ = std::move(*table);
    have_self_mounts_ = true;
    auto& items = snap_.probes["mounts"];
    for (const MountEntry& m : self_mounts_) AddCounted(items, MountItem(m));
  }

  // ---- dirs: every path under the scope directories ----------------------
  void Dirs() {
    auto& items = snap_.probes["dirs"];
    for (const std::string& root : scope_dirs_) {
      auto st = sys_.Lstat(root);
      if (!st.ok()) {
        if (st.err != ENOENT) Fail("probe dirs: lstat", root, st.err);
        continue;
      }
      if (!Persistent(root)) items.insert(root);
      if (S_ISDIR(st.value.mode) && prune_.count(root) == 0) Walk(root, st.value.dev, items);
    }
  }

  // A dirs_persistent path: exactly that path, or for "DIR/*" any name
  // directly in DIR (not what is below it).
  bool Persistent(const std::string& path) const {
    if (persistent_.count(path) != 0) return true;
    const size_t slash = path.rfind('/');
    return slash != std::string::npos && slash > 0 &&
           persistent_.count(path.substr(0, slash) + "/*") != 0;
  }

  // Lists everything below dir. Does not descend into a directory on another
  // device (a mount point: the mounts probe covers what is mounted there) nor
  // below a pruned path; both are still listed themselves. A persistent
  // path is not listed itself, but what is below it is.
  void Walk(const std::string& dir, uint64_t dev, std::set<std::string>& items) {
    auto entries = sys_.ReadDir(dir);
    if (!entries.ok()) {
      if (!IsVanished(entries.err)) Fail("probe dirs: read directory", dir, entries.err);
      return;
    }
    for (const DirEntry& e : entries.value) {
      const std::string path = JoinPath(dir, e.name);
      if (!Persistent(path)) items.insert(path);
      if (e.type != DT_DIR && e.type != DT_UNKNOWN) continue;
      if (prune_.count(path) != 0) continue;
      auto st = sys_.Lstat(path);
      if (!st.ok()) {
        if (!IsVanished(st.err)) Fail("probe dirs: lstat", path, st.err);
        continue;
      }
      if (!S_ISDIR(st.value.mode) || st.value.dev != dev) continue;
      Walk(path, dev, items);
    }
  }

  // ---- outside: the places an escape would reach --------------------------
  bool InScope(const std::string& path) const {
    for (const std::string& d : outside_roots_) {
      if (path == d || (path.size() > d.size() && path.compare(0, d.size(), d) == 0 &&
                        (d == "/" || path[d.size()] == '/'))) {
        return true;
      }
    }
    return false;
  }
  bool LeftOut(const std::string& path) const {
    static const char* const kVirtual[] = {"/proc", "/sys", "/dev"};
    for (const char* v : kVirtual) {
      std::string_view pv(v);
      if (path == pv || (path.size() > pv.size() && path.compare(0, pv.size(), pv) == 0 &&
                         path[pv.size()] == '/')) {
        return true;
      }
    }
    if (InScope(path)) return true;
    for (const std::string& g : scope_.outside_ignore) {
      if (fnmatch(g.c_str(), path.c_str(), 0) == 0) return true;
    }
    return false;
  }
  // Scope dirs' parents are places, but a scope dir itself is left out:
  // so is the parent's mtime (the runtime creates and removes inside it).
  bool ParentOfScope(const std::string& path) const {
    for (const std::string& d : outside_roots_) {
      if (d.size() > path.size() && d.compare(0, path.size(), path) == 0 &&
          (path == "/" || d[path.size()] == '/')) {
        return true;
      }
    }
    return false;
  }
  // An entry of a shared temporary directory (/tmp, /var/tmp): every
  // program on the host writes there, so it is watched only where an
  // escape is expected (outside_shared_tmp), and only its name, type and
  // inode count (a new, removed or replaced name), not its size or times.
  static bool InSharedTmp(const std::string& path) {
    for (std::string_view t : {std::string_view("/tmp/"), std::string_view("/var/tmp/")}) {
      if (path.size() > t.size() && path.compare(0, t.size(), t) == 0 &&
          path.find('/', t.size()) == std::string::npos)
        return true;
    }
    return false;
  }
  bool WatchedTmpDir(const std::string& path) const {
    return scope_.shared_tmp_events && SharedTmpWatch::Get().Watches(path);
  }
  // /tmp or /var/tmp where fanotify should watch them but cannot: their
  // entries are listed (by name, type and inode) instead.
  bool ListedTmp(const std::string& dir) const {
    return scope_.shared_tmp_events && !SharedTmpWatch::Get().Watches(dir);
  }
  void OutsideItem(const std::string& path, const FileStat& st, std::set<std::string>& items) {
    std::string item = path;
    const uint32_t type = st.mode & S_IFMT;
    item += type == S_IFDIR ? " dir" : type == S_IFLNK ? " link" : type == S_IFREG ? " file" : " other";
    item += " ino=" + std::to_string(st.ino);
    if (InSharedTmp(path)) {
      items.insert(item);
      return;
    }
    if (type != S_IFDIR) item += " size=" + std::to_string(st.size);
    // Not for a scope dir's parent, nor /tmp and /var/tmp where fanotify
    // watches the entries (shared_tmp_events): what happens inside them
    // changes their times, and is seen otherwise.
    if (type != S_IFDIR || (!ParentOfScope(path) && !WatchedTmpDir(path))) {
      item += " mode=" + std::to_string(st.mode) + " uid=" + std::to_string(st.uid) +
              " mtime=" + std::to_string(st.mtime_ns) + " ctime=" + std::to_string(st.ctime_ns);
    }
    items.insert(item);
  }
  void Outside() {
    auto& items = snap_.probes["outside"];
    std::set<std::string> done;
    for (const std::string& place : scope_.outside) {
      const std::string root = StripTrailingSlashes(place);
      if (LeftOut(root) || !done.insert(root).second) continue;
      auto st = sys_.Lstat(root);
      if (!st.ok()) {
        if (!IsVanished(st.err)) Fail("probe outside: lstat", root, st.err);
        else items.insert(root + " missing");
        continue;
      }
      OutsideItem(root, st.value, items);
      if (!S_ISDIR(st.value.mode)) continue;
      auto entries = sys_.ReadDir(root);
      if (!entries.ok()) {
        if (!IsVanished(entries.err)) Fail("probe outside: read directory", root, entries.err);
        continue;
      }
      for (const DirEntry& e : entries.value) {
        const std::string path = JoinPath(root, e.name);
        if (LeftOut(path) || done.count(path) != 0) continue;
        if (!scope_.outside_shared_tmp && InSharedTmp(path) && !ListedTmp(root)) continue;
        auto cst = sys_.Lstat(path);
        if (!cst.ok()) {
          if (!IsVanished(cst.err)) Fail("probe outside: lstat", path, cst.err);
          continue;
        }
        OutsideItem(path, cst.value, items);
      }
    }
    if (scope_.shared_tmp_events) SharedTmpEvents(items);
  }

  // What fanotify saw written directly in /tmp and /var/tmp (tmp_watch.h),
  // but not in the scope, the skipped dirs or the ignored globs.
  void SharedTmpEvents(std::set<std::string>& items) {
    std::string error;
    std::vector<std::string> leave_out = scope_.outside_ignore;
    for (const TmpEvent& e : SharedTmpWatch::Get().Events(leave_out, scope_.cgroup_parent, &error)) {
      if (!LeftOut(e.path)) items.insert(e.Item());
    }
    if (!error.empty()) snap_.errors.push_back(error);
  }

  // ---- cgroups: every directory under <hierarchy>/<cgroup_parent> --------
  void Cgroups() {
    if (!have_self_mounts_) {
      Fail("probe cgroups: find hierarchies", "/proc/self/mountinfo", 0,
           "the mount table could not be read");
      return;
    }
    auto& items = snap_.probes["cgroups"];
    std::set<std::string> seen;  // one mount per hierarchy
    size_t hierarchies = 0;
    for (const MountEntry& m : self_mounts_) {
      if (m.fstype != "cgroup" && m.fstype != "cgroup2") continue;
      if (m.root != "/") continue;  // a bind of a sub-cgroup: not a hierarchy root
      if (!seen.insert(m.fstype + " " + m.super_options).second) continue;
      ++hierarchies;
      const std::string top = JoinPath(m.target, scope_.cgroup_parent);
      auto st = sys_.Lstat(top);
      if (!st.ok()) {
        if (st.err != ENOENT) Fail("probe cgroups: lstat", top, st.err);
        continue;
      }
      items.insert(top);
      WalkCgroup(top, items);
    }
    if (hierarchies == 0) {
      Fail("probe cgroups: find hierarchies", "/proc/self/mountinfo", ENOENT,
           "no cgroup or cgroup2 mount");
    }
  }

  void WalkCgroup(const std::string& dir, std::set<std::string>& items) {
    auto entries = sys_.ReadDir(dir);
    if (!entries.ok()) {
      if (!IsVanished(entries.err)) Fail("probe cgroups: read directory", dir, entries.err);
      return;
    }
    for (const DirEntry& e : entries.value) {
      const std::string path = JoinPath(dir, e.name);
      bool is_dir = e.type == DT_DIR;
      if (e.type == DT_UNKNOWN) {
        auto st = sys_.Lstat(path);
        if (!st.ok()) {
          if (!IsVanished(st.err)) Fail("probe cgroups: lstat", path, st.err);
          continue;
        }
        is_dir = S_ISDIR(st.value.mode);
      }
      if (!is_dir) continue;
      items.insert(path);
      WalkCgroup(path, items);
    }
  }

  // ---- processes and holders: one pass over /proc ------------------------
  void Procs() {
    auto self = sys_.Readlink("/proc/self");
    if (!self.ok() || !AllDigits(self.value)) {
      Fail("probe processes: readlink", "/proc/self", self.ok() ? EINVAL : self.err,
           self.ok() ? "not a pid: " + self.value : "");
      return;
    }
    const std::string self_pid = self.value;
    std::string self_ns;
    if (scope_.holders) {
      auto ns = sys_.Readlink("/proc/self/ns/mnt");
      if (!ns.ok()) {
        Fail("probe holders: readlink", "/proc/self/ns/mnt", ns.err);
      } else {
        self_ns = ns.value;
      }
    }
    auto entries = sys_.ReadDir("/proc");
    if (!entries.ok()) {
      Fail("probe processes: read directory", "/proc", entries.err);
      return;
    }
    std::vector<long> pids;
    for (const DirEntry& e : entries.value) {
      if (AllDigits(e.name)) pids.push_back(std::strtol(e.name.c_str(), nullptr, 10));
    }
    std::sort(pids.begin(), pids.end());

    std::set<std::string> namespaces_seen;
    if (!self_ns.empty()) namespaces_seen.insert(self_ns);
    for (long pid : pids) {
      const std::string p = std::to_string(pid);
      if (p == self_pid) continue;
      Process(p, self_pid);
      if (scope_.holders && !self_ns.empty()) Holder(p, namespaces_seen);
    }
  }

  // Adds "<pid> <comm>" when the process is a child of the caller or lives
  // in a cgroup under cgroup_parent.
  void Process(const std::string& pid, const std::string& self_pid) {
    const std::string stat_path = "/proc/" + pid + "/stat";
    auto stat = mydocker::ReadFile(sys_, stat_path, "probe processes: read");
    if (!stat) {
      if (!IsVanished(stat.error().err)) Fail(stat.error());
      return;
    }
    // "<pid> (<comm>) <state> <ppid> ...": comm may hold spaces and ')'.
    const std::string& text = *stat;
    size_t open = text.find('(');
    size_t close = text.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open) {
      Fail("probe processes: parse", stat_path, EINVAL, "unexpected stat line");
      return;
    }
    const std::string comm = text.substr(open + 1, close - open - 1);
    std::string ppid;
    {
      size_t i = close + 1;
      auto skip_space = [&] { while (i < text.size() && text[i] == ' ') ++i; };
      skip_space();
      while (i < text.size() && text[i] != ' ') ++i;  // state
      skip_space();
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') ppid += text[i++];
    }
    bool ours = ppid == self_pid;
    if (!ours && !scope_.cgroup_parent.empty()) ours = InCgroupParent(pid);
    if (ours) snap_.probes["processes"].insert(pid + " " + comm);
  }

  bool InCgroupParent(const std::string& pid) {
    const std::string path = "/proc/" + pid + "/cgroup";
    auto text = mydocker::ReadFile(sys_, path, "probe processes: read");
    if (!text) {
      if (!IsVanished(text.error().err)) Fail(text.error());
      return false;
    }
    // "<id>:<controllers>:<path>" per line.
    const std::string prefix = "/" + scope_.cgroup_parent;
    std::string_view rest(*text);
    while (!rest.empty()) {
      size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      size_t c1 = line.find(':');
      size_t c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
      if (c2 == std::string_view::npos) continue;
      std::string_view cg = line.substr(c2 + 1);
      if (cg == prefix || (cg.size() > prefix.size() && cg.substr(0, prefix.size()) == prefix &&
                           cg[prefix.size()] == '/')) {
        return true;
      }
    }
    return false;
  }

  // Reads the mount table of pid's namespace once per namespace (the first
  // pid seen in it) and keeps the mounts that name a scope directory.
  void Holder(const std::string& pid, std::set<std::string>& namespaces_seen) {
    const std::string ns_path = "/proc/" + pid + "/ns/mnt";
    auto ns = sys_.Readlink(ns_path);
    if (ns.ok()) {
      if (!namespaces_seen.insert(ns.value).second) return;
    } else if (IsVanished(ns.err)) {
      return;  // zombies and exited processes have no namespace left
    } else if (ns.err != EACCES && ns.err != EPERM) {
      Fail("probe holders: readlink", ns_path, ns.err);
      return;
    }
    // EACCES/EPERM: a process that hides its namespace (not dumpable) may
    // still show its mountinfo; read it without knowing the namespace.
    const std::string path = "/proc/" + pid + "/mountinfo";
    auto text = mydocker::ReadFile(sys_, path, "probe holders: read");
    if (!text) {
      if (!IsVanishedMountinfo(text.error().err)) Fail(text.error());
      return;
    }
    // Fast path: most namespaces mention no scope directory at all.
    bool mentions = false;
    for (const std::string& d : scope_dirs_) {
      if (text->find(MountinfoEscape(d)) != std::string::npos ||
          text->find(d) != std::string::npos) {
        mentions = true;
        break;
      }
    }
    if (!mentions) return;
    auto table = mydocker::ParseMountinfo(*text);
    if (!table) {
      auto e = table.error();
      e.path = path;
      Fail(e);
      return;
    }
    auto& items = snap_.probes["holders"];
    for (const MountEntry& m : *table) {
      if (NamesScope(m)) AddCounted(items, "pid=" + pid + " " + MountItem(m));
    }
  }

  bool NamesScope(const MountEntry& m) const {
    for (const std::string& d : scope_dirs_) {
      const std::string esc = MountinfoEscape(d);
      for (const std::string* field : {&m.target, &m.root, &m.options, &m.super_options, &m.source}) {
        if (field->find(d) != std::string::npos || field->find(esc) != std::string::npos) {
          return true;
        }
      }
    }
    return false;
  }

  // ---- fds: /proc/self/fd -------------------------------------------------
  void Fds() {
    auto entries = sys_.ReadDir("/proc/self/fd");
    if (!entries.ok()) {
      Fail("probe fds: read directory", "/proc/self/fd", entries.err);
      return;
    }
    auto& items = snap_.probes["fds"];
    for (const DirEntry& e : entries.value) {
      if (!AllDigits(e.name)) continue;
      const std::string path = "/proc/self/fd/" + e.name;
      auto target = sys_.Readlink(path);
      if (!target.ok()) {
        // The directory's own fd, closed once ReadDir returned.
        if (!IsVanished(target.err)) Fail("probe fds: readlink", path, target.err);
        continue;
      }
      items.insert(e.name + " -> " + target.value);
    }
  }

  Sys& sys_;
  const ProbeScope& scope_;
  Snapshot& snap_;
  std::vector<std::string> scope_dirs_;
  std::vector<std::string> outside_roots_;  // scope dirs + outside_skip
  std::set<std::string> prune_;
  std::set<std::string> persistent_;  // listed as nothing; walked below
  std::vector<MountEntry> self_mounts_;
  bool have_self_mounts_ = false;
};

}  // namespace

std::vector<std::string> OutsidePlaces(const std::vector<std::string>& scope_dirs) {
  std::set<std::string> places = {"/", "/etc", "/tmp", "/var", "/run"};
  for (const std::string& raw : scope_dirs) {
    std::string d = StripTrailingSlashes(raw);
    while (true) {
      size_t slash = d.rfind('/');
      if (slash == std::string::npos || d == "/") break;
      d = slash == 0 ? "/" : d.substr(0, slash);
      places.insert(d);
    }
  }
  return {places.begin(), places.end()};
}

std::vector<std::string> OutsideIgnoreFromEnv() {
  std::vector<std::string> out;
  const char* env = std::getenv("FAULTLINE_OUTSIDE_IGNORE");
  if (env == nullptr) return out;
  std::string_view v(env);
  while (!v.empty()) {
    size_t colon = v.find(':');
    std::string_view one = v.substr(0, colon);
    if (!one.empty()) out.emplace_back(one);
    if (colon == std::string_view::npos) break;
    v.remove_prefix(colon + 1);
  }
  return out;
}

ProbeScope WithOutside(ProbeScope scope, std::vector<std::string> skip) {
  std::vector<std::string> all = scope.dirs;
  all.insert(all.end(), skip.begin(), skip.end());
  scope.outside = OutsidePlaces(all);
  scope.outside_skip = std::move(skip);
  scope.outside_ignore = OutsideIgnoreFromEnv();
  return scope;
}

ProbeScope WithHostOutside(ProbeScope scope, std::vector<std::string> skip) {
  scope = WithOutside(std::move(scope), std::move(skip));
  scope.shared_tmp_events = true;
  return scope;
}

Snapshot TakeSnapshot(mydocker::Sys& sys, const ProbeScope& scope) {
  Snapshot snap;
  Prober(sys, scope, snap).Run();
  for (const auto& e : snap.errors) spdlog::warn("probe: {}", e);
  return snap;
}

std::vector<ProbeDiff> Compare(const Snapshot& before, const Snapshot& after) {
  std::vector<ProbeDiff> out;
  std::set<std::string> names;
  for (const auto& [name, items] : before.probes) names.insert(name);
  for (const auto& [name, items] : after.probes) names.insert(name);
  static const std::set<std::string> kEmpty;
  for (const std::string& name : names) {
    auto b = before.probes.find(name);
    auto a = after.probes.find(name);
    const std::set<std::string>& bs = b == before.probes.end() ? kEmpty : b->second;
    const std::set<std::string>& as = a == after.probes.end() ? kEmpty : a->second;
    ProbeDiff d;
    d.probe = name;
    std::set_difference(as.begin(), as.end(), bs.begin(), bs.end(), std::back_inserter(d.appeared));
    std::set_difference(bs.begin(), bs.end(), as.begin(), as.end(), std::back_inserter(d.vanished));
    if (!d.appeared.empty() || !d.vanished.empty()) out.push_back(std::move(d));
  }
  if (!before.errors.empty() || !after.errors.empty()) {
    ProbeDiff d;
    d.probe = "errors";
    for (const auto& e : before.errors) d.appeared.push_back("before: " + e);
    for (const auto& e : after.errors) d.appeared.push_back("after: " + e);
    out.push_back(std::move(d));
  }
  return out;
}

std::string Describe(const std::vector<ProbeDiff>& diffs) {
  std::string out;
  for (const ProbeDiff& d : diffs) {
    if (!out.empty()) out += "; ";
    out += d.probe + ":";
    bool first = true;
    auto add = [&](const char* sign, const std::string& item) {
      out += first ? " " : ", ";
      first = false;
      out += sign;
      out += item;
    };
    // Errors carry their own "before: "/"after: " prefix instead of a sign.
    for (const auto& i : d.appeared) add(d.probe == "errors" ? "" : "+", i);
    for (const auto& i : d.vanished) add("-", i);
  }
  return out;
}

}  // namespace faultline
