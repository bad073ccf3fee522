// FakeKernel cgroupfs: v1 hierarchies and v2 unified; control files, their
// values and validation, cgroup.procs moves, subtree_control, EBUSY rules.
#include "fakekernel/state.h"

namespace faultline {

void FakeKernel::State::CgFile(uint32_t dir, const std::string& name,
                               uint32_t perm, std::string value) {
  uint32_t f = AddChild(dir, name, S_IFREG | perm);
  inodes[f].cgfile = true;
  inodes[f].data = std::move(value);
}

std::string FakeKernel::State::CgValue(uint32_t dir, std::string_view name) {
  auto it = inodes[dir].children.find(name);
  if (it == inodes[dir].children.end()) return {};
  return std::string(Trim(inodes[it->second].data));
}

void FakeKernel::State::CgControllerFiles(uint32_t dir, const std::string& c,
                                          bool root, int version) {
  const std::string host_cpus = opt.cpus + "\n", host_mems = opt.mems + "\n";
  if (version == 1) {
    if (c == "memory") {
      CgFile(dir, "memory.limit_in_bytes", 0644, "9223372036854771712\n");
      // Swap accounting on (Debian's kernels, this host).
      CgFile(dir, "memory.memsw.limit_in_bytes", 0644, "9223372036854771712\n");
      CgFile(dir, "memory.usage_in_bytes", 0444, "0\n");
      CgFile(dir, "memory.max_usage_in_bytes", 0644, "0\n");
      CgFile(dir, "memory.oom_control", 0644, "oom_kill_disable 0\nunder_oom 0\n");
    } else if (c == "cpu") {
      CgFile(dir, "cpu.shares", 0644, "1024\n");
      CgFile(dir, "cpu.cfs_quota_us", 0644, "-1\n");
      CgFile(dir, "cpu.cfs_period_us", 0644, "100000\n");
      CgFile(dir, "cpu.stat", 0444, "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n");
    } else if (c == "cpuacct") {
      CgFile(dir, "cpuacct.usage", 0644, "0\n");
      CgFile(dir, "cpuacct.stat", 0444, "user 0\nsystem 0\n");
    } else if (c == "cpuset") {
      CgFile(dir, "cpuset.cpus", 0644, root ? host_cpus : "\n");
      CgFile(dir, "cpuset.mems", 0644, root ? host_mems : "\n");
      CgFile(dir, "cpuset.cpu_exclusive", 0644, "0\n");
    } else if (c == "pids") {
      if (!root) {
        CgFile(dir, "pids.max", 0644, "max\n");
        CgFile(dir, "pids.events", 0444, "max 0\n");
        CgFile(dir, "pids.peak", 0444, "0\n");
      }
      CgFile(dir, "pids.current", 0444, "0\n");
    } else if (c == "devices") {
      CgFile(dir, "devices.allow", 0200, "");
      CgFile(dir, "devices.deny", 0200, "");
      CgFile(dir, "devices.list", 0444, "a *:* rwm\n");
    } else if (c == "freezer") {
      if (!root) CgFile(dir, "freezer.state", 0644, "THAWED\n");
    } else if (c == "blkio") {
      CgFile(dir, "blkio.reset_stats", 0200, "");
    }
    return;
  }
  if (c == "memory") {
    CgFile(dir, "memory.max", 0644, "max\n");
    CgFile(dir, "memory.high", 0644, "max\n");
    CgFile(dir, "memory.low", 0644, "0\n");
    CgFile(dir, "memory.min", 0644, "0\n");
    CgFile(dir, "memory.swap.max", 0644, "max\n");
    CgFile(dir, "memory.current", 0444, "0\n");
  } else if (c == "cpu") {
    CgFile(dir, "cpu.weight", 0644, "100\n");
    CgFile(dir, "cpu.max", 0644, "max 100000\n");
    CgFile(dir, "cpu.stat", 0444, "usage_usec 0\n");
  } else if (c == "cpuset") {
    CgFile(dir, "cpuset.cpus", 0644, "\n");
    CgFile(dir, "cpuset.mems", 0644, "\n");
    CgFile(dir, "cpuset.cpus.effective", 0444, host_cpus);
    CgFile(dir, "cpuset.mems.effective", 0444, host_mems);
  } else if (c == "io") {
    CgFile(dir, "io.max", 0644, "");
    CgFile(dir, "io.weight", 0644, "default 100\n");
  } else if (c == "pids") {
    CgFile(dir, "pids.max", 0644, "max\n");
    CgFile(dir, "pids.current", 0444, "0\n");
  }
}

std::vector<std::string> FakeKernel::State::CgAvailable(uint32_t dir) {
  if (CgIsRoot(dir)) return sbs[inodes[dir].sb].controllers;
  std::vector<std::string> out;
  std::string v = CgValue(inodes[dir].parent, "cgroup.subtree_control");
  for (auto w : SplitWords(v)) out.push_back(std::string(w));
  return out;
}

std::vector<std::string_view> FakeKernel::State::SplitWords(
    std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\n' && s[j] != '\t') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

void FakeKernel::State::CgPopulate(uint32_t dir) {
  const Super& s = sbs[inodes[dir].sb];
  int version = s.cg_version;
  std::vector<std::string> ctrls = s.controllers;
  bool root = CgIsRoot(dir);
  CgFile(dir, "cgroup.procs", 0644, "");
  if (version == 1) {
    CgFile(dir, "tasks", 0644, "");
    CgFile(dir, "cgroup.clone_children", 0644, "0\n");
    CgFile(dir, "notify_on_release", 0644, "0\n");
    if (root) CgFile(dir, "release_agent", 0644, "\n");
    for (auto& c : ctrls) CgControllerFiles(dir, c, root, 1);
    return;
  }
  CgFile(dir, "cgroup.controllers", 0444, "");
  CgFile(dir, "cgroup.subtree_control", 0644, "\n");
  CgFile(dir, "cgroup.events", 0444, "");
  if (root) return;
  CgFile(dir, "cgroup.type", 0644, "domain\n");
  CgFile(dir, "cgroup.kill", 0200, "");
  CgFile(dir, "cgroup.freeze", 0644, "0\n");
  for (auto& c : CgAvailable(dir)) CgControllerFiles(dir, c, false, 2);
}

int FakeKernel::State::CgMkdir(const Node& dir, const std::string& name,
                               uint32_t mode) {
  uint32_t d = AddChild(dir.ino, name, S_IFDIR | (mode & 07777));
  CgPopulate(d);
  return 0;
}

uint32_t FakeKernel::State::CgOf(const Process& p, int sb) {
  for (auto& [s, d] : p.cgroups)
    if (s == sb) return d;
  return 0;
}

std::vector<pid_t> FakeKernel::State::CgSubtreeMembers(uint32_t dir) {
  std::vector<pid_t> out = CgMembers(dir);
  for (auto& [n, c] : inodes[dir].children) {
    if (!S_ISDIR(inodes[c].mode)) continue;
    for (pid_t p : CgSubtreeMembers(c)) out.push_back(p);
  }
  return out;
}

std::vector<pid_t> FakeKernel::State::CgMembers(uint32_t dir) {
  std::vector<pid_t> out;
  int sb = static_cast<int>(inodes[dir].sb);
  for (auto& [pid, p] : procs)
    if (p.state != PState::kZombie && CgOf(p, sb) == dir) out.push_back(pid);
  return out;
}

int FakeKernel::State::CgRmdir(const Entry& e) {
  uint32_t dir = e.node.ino;
  for (auto& [n, c] : inodes[dir].children)
    if (S_ISDIR(inodes[c].mode)) return EBUSY;
  if (!CgMembers(dir).empty()) return EBUSY;
  RemoveEntry(e.dir.ino, e.name);
  return 0;
}

std::string FakeKernel::State::CgRead(uint32_t f) {
  const Inode& fi = inodes[f];
  uint32_t dir = fi.parent;
  const std::string& n = fi.name;
  if (n == "cgroup.procs" || n == "tasks") {
    std::string out;
    for (pid_t pid : CgMembers(dir)) out += std::to_string(pid) + "\n";
    return out;
  }
  if (n == "pids.current") return std::to_string(CgMembers(dir).size()) + "\n";
  // The kernel prints a controller list with a newline, an empty one as "".
  if (n == "cgroup.controllers") {
    std::string out;
    for (auto& c : CgAvailable(dir)) out += (out.empty() ? "" : " ") + c;
    return out.empty() ? out : out + "\n";
  }
  if (n == "cgroup.subtree_control") {
    std::string v = CgValue(dir, n);
    return v.empty() ? v : v + "\n";
  }
  // populated: a process in this cgroup or any below it.
  if (n == "cgroup.events")
    return std::string("populated ") + (CgSubtreeMembers(dir).empty() ? "0" : "1") +
           "\nfrozen 0\n";
  return fi.data;
}

std::string FakeKernel::State::CgParentSet(uint32_t dir,
                                           const std::string& file) {
  bool cpus = file == "cpuset.cpus";
  if (CgIsRoot(dir)) return cpus ? opt.cpus : opt.mems;
  std::string v = CgValue(inodes[dir].parent, file);
  if (v.empty()) {
    if (sbs[inodes[dir].sb].cg_version == 2)
      return CgParentSet(inodes[dir].parent, file);
    return v;
  }
  return v;
}

int FakeKernel::State::CgWrite(uint32_t f, std::string_view text) {
  std::string name = inodes[f].name;
  uint32_t dir = inodes[f].parent;
  int sb = static_cast<int>(inodes[f].sb);
  int version = sbs[sb].cg_version;
  std::string_view v = Trim(text);
  int64_t n = 0;
  auto store = [&](std::string value) {
    inodes[f].data = std::move(value) + "\n";
    return 0;
  };
  if (name == "cgroup.procs" || name == "tasks") {
    if (!ParseI64(v, &n) || n < 0) return EINVAL;
    Process* q = nullptr;
    if (n == 0) {
      q = &P();
    } else if (P().pidns == 0) {
      q = Find(static_cast<pid_t>(n));
    } else {
      for (auto& [pid, p] : procs)
        if (p.pidns == P().pidns && p.nspid == n) q = &p;
    }
    if (!q || q->state == PState::kZombie) return ESRCH;
    const auto& ctrls = sbs[sb].controllers;
    if (version == 1 &&
        std::find(ctrls.begin(), ctrls.end(), "cpuset") != ctrls.end() &&
        (CgValue(dir, "cpuset.cpus").empty() || CgValue(dir, "cpuset.mems").empty()))
      return ENOSPC;
    if (version == 2 && !CgIsRoot(dir) &&
        !CgValue(dir, "cgroup.subtree_control").empty())
      return EBUSY;
    for (auto& [s, d] : q->cgroups)
      if (s == sb) d = dir;
    return 0;
  }
  if (name == "cgroup.subtree_control") {
    std::vector<std::string> enabled;
    const std::string current = CgValue(dir, name);  // the words point into it
    for (auto w : SplitWords(current)) enabled.emplace_back(w);
    auto avail = CgAvailable(dir);
    std::vector<std::string> add, del;
    for (auto w : SplitWords(v)) {
      if (w.size() < 2 || (w[0] != '+' && w[0] != '-')) return EINVAL;
      std::string c(w.substr(1));
      const auto& all = V2Controllers();
      if (std::find(all.begin(), all.end(), c) == all.end()) return EINVAL;
      if (std::find(avail.begin(), avail.end(), c) == avail.end()) return ENOENT;
      (w[0] == '+' ? add : del).push_back(c);
    }
    if (!add.empty() && !CgIsRoot(dir) && !CgMembers(dir).empty()) return EBUSY;
    std::vector<uint32_t> kids;
    for (auto& [kn, kc] : inodes[dir].children)
      if (S_ISDIR(inodes[kc].mode)) kids.push_back(kc);
    for (auto& c : del)
      for (uint32_t k : kids)
        for (const std::string kid_ctrl = CgValue(k, "cgroup.subtree_control");
             auto w : SplitWords(kid_ctrl))
          if (w == c) return EBUSY;
    for (auto& c : add)
      if (std::find(enabled.begin(), enabled.end(), c) == enabled.end()) {
        enabled.push_back(c);
        for (uint32_t k : kids) CgControllerFiles(k, c, false, 2);
      }
    for (auto& c : del) {
      auto it = std::find(enabled.begin(), enabled.end(), c);
      if (it == enabled.end()) continue;
      enabled.erase(it);
      for (uint32_t k : kids) {
        std::vector<std::string> drop;
        for (auto& [fname, fc] : inodes[k].children)
          if (fname.rfind(c + ".", 0) == 0) drop.push_back(fname);
        for (auto& d : drop) RemoveEntry(k, d);
      }
    }
    std::string out;  // canonical order
    for (auto& c : V2Controllers())
      if (std::find(enabled.begin(), enabled.end(), c) != enabled.end())
        out += (out.empty() ? "" : " ") + c;
    return store(out);
  }
  // A flag: any unsigned number, stored as 0 or 1.
  if (name == "cgroup.clone_children" || name == "notify_on_release") {
    if (!ParseI64(v, &n) || n < 0) return EINVAL;
    return store(n ? "1" : "0");
  }
  // cgroup.kill: "1" SIGKILLs every process of the cgroup and below it.
  if (name == "cgroup.kill") {
    if (!ParseI64(v, &n)) return EINVAL;
    if (n != 1) return ERANGE;
    for (pid_t pid : CgSubtreeMembers(dir)) KillProcess(pid, SIGKILL);
    return 0;
  }
  if (name == "cgroup.freeze") {
    if (v != "0" && v != "1") return EINVAL;
    return store(std::string(v));
  }
  if (name == "memory.limit_in_bytes" || name == "memory.memsw.limit_in_bytes") {
    if (v == "-1") return store("9223372036854771712");
    if (!ParseMem(v, &n)) return EINVAL;
    return store(std::to_string(n / 4096 * 4096));  // whole pages, rounded down
  }
  if (name == "memory.max" || name == "memory.high" || name == "memory.swap.max") {
    if (v == "max") return store("max");
    if (!ParseMem(v, &n)) return EINVAL;
    return store(std::to_string(n / 4096 * 4096));
  }
  if (name == "memory.min" || name == "memory.low") {
    if (!ParseMem(v, &n)) return EINVAL;
    return store(std::to_string(n));
  }
  if (name == "cpu.shares") {
    if (!ParseI64(v, &n) || n < 0) return EINVAL;
    return store(std::to_string(std::clamp<int64_t>(n, 2, 262144)));
  }
  if (name == "cpu.cfs_quota_us") {
    if (!ParseI64(v, &n)) return EINVAL;
    if (n != -1 && (n < 1000 || n > (1LL << 44))) return EINVAL;
    return store(std::to_string(n));
  }
  if (name == "cpu.cfs_period_us") {
    if (!ParseI64(v, &n) || n < 1000 || n > 1000000) return EINVAL;
    return store(std::to_string(n));
  }
  if (name == "cpu.weight") {
    if (!ParseI64(v, &n) || n < 1 || n > 10000) return EINVAL;
    return store(std::to_string(n));
  }
  if (name == "cpu.max") {
    auto w = SplitWords(v);
    if (w.empty() || w.size() > 2) return EINVAL;
    std::string quota = "max";
    if (w[0] != "max") {
      if (!ParseI64(w[0], &n) || n < 1000) return EINVAL;
      quota = std::to_string(n);
    }
    int64_t period = 100000;
    if (w.size() == 2) {
      std::string cur_v = CgValue(dir, name);
      if (!ParseI64(w[1], &period) || period < 1000 || period > 1000000)
        return EINVAL;
    } else {
      auto old = SplitWords(inodes[f].data);
      if (old.size() == 2) ParseI64(old[1], &period);
    }
    return store(quota + " " + std::to_string(period));
  }
  if (name == "cpuset.cpus" || name == "cpuset.mems") {
    std::set<int> want, allowed;
    if (!ParseList(v, &want)) return EINVAL;
    if (!ParseList(CgParentSet(dir, name), &allowed)) return EINVAL;
    // A cpu the machine does not have (>= nr_cpu_ids: the host's set is all
    // of them) is ERANGE; one outside the parent's set EINVAL.
    std::set<int> host;
    if (name == "cpuset.cpus" && ParseList(opt.cpus, &host) && !host.empty())
      for (int c : want)
        if (c > *host.rbegin()) return ERANGE;
    for (int c : want)
      if (!allowed.count(c)) return EINVAL;
    return store(std::string(v));
  }
  if (name == "pids.max") {
    if (v == "max") return store("max");
    if (!ParseI64(v, &n) || n < 0) return EINVAL;
    return store(std::to_string(n));
  }
  if (name == "freezer.state") {
    if (v != "FROZEN" && v != "THAWED") return EINVAL;
    return store(std::string(v));
  }
  if (name == "devices.allow" || name == "devices.deny") {
    return v.empty() ? EINVAL : 0;
  }
  if (name == "cgroup.type") {
    if (v != "threaded") return EINVAL;
    return store("threaded");
  }
  if (name == "io.max" || name == "io.weight" || name == "memory.oom_control" ||
      name == "cpuset.cpu_exclusive" || name == "release_agent" ||
      name == "memory.max_usage_in_bytes" || name == "blkio.reset_stats" ||
      name == "cpuacct.usage") {
    return store(std::string(v));
  }
  return EINVAL;
}

// ---- cgroupfs's FsOps hooks: an inode tree where mkdir and rmdir make
// and remove cgroups and nothing else may be created or removed ----
struct FakeKernel::State::CgroupFs {
  static int Create(State& s, const Node& dir, const std::string& name,
               uint32_t mode) {
    // kernfs has no create (EACCES, as vfs_create says) nor mknod/symlink
    // (EPERM).
    if (S_ISREG(mode)) return EACCES;
    if (!S_ISDIR(mode)) return EPERM;
    return s.CgMkdir(dir, name, mode);
  }

  static int Rmdir(State& s, const State::Entry& e) { return s.CgRmdir(e); }
};

const FakeKernel::State::FsOps FakeKernel::State::kCgroupOps = {
    .by_rel = false,
    .lookup = InodeFs::Lookup,
    .parent = InodeFs::Parent,
    .type = InodeFs::Type,
    .link_target = InodeFs::LinkTarget,
    .stat = InodeFs::Stat,
    .list = InodeFs::List,
    .refresh = InodeFs::NoRefresh,
    .dir_empty = InodeFs::DirEmpty,
    .dir_for_write = InodeFs::DirForWrite,
    .writable = InodeFs::Writable,
    .removed = InodeFs::NoRemoved,
    .rename_check = InodeFs::NoRenameCheck,
    .create_err = 0,
    .rmdir_err = 0,
    .unlink_err = EPERM,
    .attr_err = 0,
    .jump = nullptr,
    .create = CgroupFs::Create,
    .rmdir = CgroupFs::Rmdir,
    .open = nullptr,
};

}  // namespace faultline
