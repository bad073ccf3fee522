// Cgroups v1 and v2: detect the layout, create a container's cgroup with its
// limits, attach the container's init, destroy it after exit.
//
// All file and directory work goes through Sys, so the same code runs on the
// real kernel and on FakeKernel. Control file names follow the kernel docs
// (Documentation/admin-guide/cgroup-v1/, cgroup-v2.rst).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/sys/sys.h"
#include "runtime/util/error.h"

namespace mydocker {

struct CgroupLimits {
  std::optional<int64_t> memory_bytes;     // -m/--memory
  std::optional<uint64_t> cpu_shares;      // --cpu-shares (v1 units, 2..262144)
  std::optional<double> cpus;              // --cpus: quota = cpus * period
  std::optional<std::string> cpuset_cpus;  // --cpuset-cpus "0-1,3"
  std::optional<int64_t> pids_limit;       // --pids-limit
  bool empty() const {
    return !memory_bytes && !cpu_shares && !cpus && !cpuset_cpus && !pids_limit;
  }
};

enum class CgroupVersion { kV1, kV2 };

struct CgroupLayout {
  CgroupVersion version = CgroupVersion::kV2;
  // v2: the unified mount point. v1: unused.
  std::string unified;
  // v1: mount point of each controller mydocker uses, in the order memory,
  // cpu, cpuset, pids; a controller the host lacks is absent. Co-mounted
  // controllers share a mount point ("cpu" -> /sys/fs/cgroup/cpu,cpuacct).
  std::vector<std::pair<std::string, std::string>> v1_mounts;
};

// Reads /proc/self/mountinfo through sys (ReadMountinfo's parser, libmount).
// v2 when cgroup2 is mounted at /sys/fs/cgroup, otherwise v1: each of
// memory, cpu, cpuset, pids maps to the first "cgroup" mount whose super
// options name it ("rw,cpu,cpuacct" serves cpu). A hybrid host's v2 mount is
// not used. Fails (step "cgroup: detect layout", ENOENT) when there is
// neither; a read or parse failure is returned as is.
Expected<CgroupLayout> DetectCgroupLayout(Sys& sys);
// The same from mountinfo text (pure; for tests).
Expected<CgroupLayout> CgroupLayoutFromMountinfo(const std::string& mountinfo);

// Value parsing, shared by the CLI and the scenario files. Errors carry
// errno EINVAL (ERANGE for too large) and the offending value in the detail.
// "32m", "1g", "512K", "2kb", "1048576" -> bytes: a decimal integer, then an
// optional k/m/g/t (powers of 1024, any case) and an optional "b". Empty,
// negative, overflowing or other text is an error. "0" parses to 0 (which
// Cgroup::Create refuses as a limit).
Expected<int64_t> ParseMemorySize(std::string_view text);
// "1.5" -> 1.5: plain decimal, finite and > 0 ("1e3", "inf", "0x1" refused).
Expected<double> ParseCpus(std::string_view text);
// "0-2,4" -> the same text, validated: comma-separated N or N-M with N <= M,
// every number <= 8191. Whether the cpus exist is the kernel's call.
Expected<std::string> ParseCpuList(std::string_view text);
// v1 cpu.shares -> v2 cpu.weight (the runc/crun formula):
// 1 + ((shares - 2) * 9999) / 262142, shares clamped to 2..262144 first, so
// the result is 1..10000.
uint64_t SharesToWeight(uint64_t shares);
// cpus -> "quota period" for cpu.max, period 100000 us: 1.5 -> "150000 100000".
std::string CpusToMax(double cpus);

class Cgroup {
 public:
  // Creates <parent>/<name> in every hierarchy mydocker manages (v1: memory,
  // cpu, cpuset, pids, where present; v2: one directory, with the needed
  // controllers enabled in the parent's cgroup.subtree_control), creating
  // <parent> if missing, then writes the limits. A failure at any step
  // removes what this call created, in reverse order, and returns an error
  // naming the step, the file and the errno.
  //
  // parent: a relative path ("mydocker" or "a/b"; "" = the hierarchy root);
  // name: one path component. An existing <parent>/<name> is EEXIST (never
  // adopted). Steps: "cgroup: create parent", "cgroup: create",
  // "cgroup: init cpuset", "cgroup: enable controllers", "cgroup: write limit".
  // v1: memory.limit_in_bytes (and memory.memsw.limit_in_bytes, same value,
  // only where swap accounting exists), cpu.shares, cpu.cfs_period_us +
  // cpu.cfs_quota_us, cpuset.cpus (else copied from the parent) and
  // cpuset.mems (copied), pids.max. Each parent level with empty cpuset.cpus
  // or cpuset.mems gets them from the level above (an empty cpuset refuses
  // tasks with ENOSPC). v2: memory.max, cpu.weight (SharesToWeight), cpu.max,
  // cpuset.cpus, pids.max. pids_limit <= 0 writes "max".
  // Left in place on failure, as every runtime leaves them: cpuset values
  // filled into a parent that existed, and controllers enabled in the
  // subtree_control of levels that existed.
  // A v1 limit whose controller the host lacks fails before anything is made.
  static Expected<Cgroup> Create(Sys& sys, const CgroupLayout& layout,
                                 const std::string& parent,
                                 const std::string& name,
                                 const CgroupLimits& limits);

  // Rebuilds the handle of an existing cgroup (for gc): nothing is touched.
  static Cgroup Existing(Sys& sys, const CgroupLayout& layout,
                         const std::string& parent, const std::string& name);

  // Moves pid into the cgroup (cgroup.procs of every hierarchy), stopping at
  // the first failure (step "cgroup: attach", that cgroup.procs, the errno).
  Outcome Attach(pid_t pid);

  // Removes the cgroup directories (not the parent); missing ones are fine
  // (idempotent). Tries every path, then returns the first failure (step
  // "cgroup: destroy", the directory, EBUSY while a process is inside).
  Outcome Destroy();

  // The processes in the cgroup (cgroup.procs of every hierarchy, merged,
  // sorted, host pids): the truth for killing a container, never a recorded
  // pid that may have been reused. A hierarchy whose directory is gone adds
  // nothing; another read failure is the error (step "cgroup: members").
  Expected<std::vector<pid_t>> Members();

  // Absolute paths of the cgroup's directories, one per hierarchy.
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  Cgroup(Sys& sys, std::vector<std::string> paths)
      : sys_(&sys), paths_(std::move(paths)) {}
  Sys* sys_;
  std::vector<std::string> paths_;
};

}  // namespace mydocker
