// Conformance scripts: cgroup v1 and v2 control files and their rules.
// Everything is under the per-run parent $CG of each hierarchy; the script
// moves only itself (cgroup.procs "0") and a sleep it started, and moves
// itself back to the hierarchy's root before removing its cgroups.
#include <fcntl.h>
#include <signal.h>
#include <sched.h>

#include "tests/conformance/conformance.h"
#include "tests/conformance/scripts_util.h"

namespace faultline::conformance {
namespace {

void V1Pids(Ctx& c) {
  (void)c.Mkdir("mkdir $CG", c.Cg1("pids"));
  (void)c.Mkdir("mkdir $CG again", c.Cg1("pids"));
  (void)c.Statfs("statfs is cgroup v1", c.Cg1("pids"));
  (void)c.ReadDir("the control files of a v1 pids cgroup", c.Cg1("pids"));
  (void)c.Lstat("lstat pids.max", c.Cg1("pids", "pids.max"));
  (void)c.Lstat("lstat cgroup.procs", c.Cg1("pids", "cgroup.procs"));
  (void)c.ReadFile("read pids.max", c.Cg1("pids", "pids.max"));
  (void)c.WriteFile("pids.max 10", c.Cg1("pids", "pids.max"), "10");
  (void)c.ReadFile("read pids.max 10", c.Cg1("pids", "pids.max"));
  (void)c.WriteFile("pids.max -1", c.Cg1("pids", "pids.max"), "-1");
  (void)c.WriteFile("pids.max abc", c.Cg1("pids", "pids.max"), "abc");
  (void)c.WriteFile("pids.max max", c.Cg1("pids", "pids.max"), "max");
  (void)c.ReadFile("read pids.max max", c.Cg1("pids", "pids.max"));
  (void)c.ReadFile("read notify_on_release", c.Cg1("pids", "notify_on_release"));
  (void)c.WriteFile("notify_on_release 2", c.Cg1("pids", "notify_on_release"), "2");
  (void)c.Mkdir("mkdir $CG/c1", c.Cg1("pids", "c1"));
  (void)c.WriteFile("move self into c1", c.Cg1("pids", "c1/cgroup.procs"), "0");
  (void)c.ReadFile("c1 cgroup.procs lists self", c.Cg1("pids", "c1/cgroup.procs"));
  (void)c.ReadFile("c1 tasks lists self", c.Cg1("pids", "c1/tasks"));
  (void)c.ReadFile("c1 pids.current", c.Cg1("pids", "c1/pids.current"));
  (void)c.ProcCgroup("/proc/self/cgroup names c1", "/proc/self/cgroup");
  (void)c.WriteFile("cgroup.procs of a missing pid", c.Cg1("pids", "c1/cgroup.procs"), "999999");
  (void)c.WriteFile("cgroup.procs abc", c.Cg1("pids", "c1/cgroup.procs"), "abc");
  (void)c.Rmdir("rmdir c1 with a task", c.Cg1("pids", "c1"));
  (void)c.Rmdir("rmdir $CG with a child cgroup", c.Cg1("pids"));
  (void)c.Unlink("unlink a control file", c.Cg1("pids", "c1/pids.max"));
  (void)c.Rmdir("rmdir a control file", c.Cg1("pids", "c1/pids.max"));
  (void)c.Open("create a file in a cgroup", c.Cg1("pids", "c1/newfile"), O_WRONLY | O_CREAT);
  (void)c.WriteFile("move self back to the root", "/sys/fs/cgroup/pids/cgroup.procs", "0");
  (void)c.ReadFile("c1 is empty again", c.Cg1("pids", "c1/cgroup.procs"));
  (void)c.Rmdir("rmdir c1", c.Cg1("pids", "c1"));
  (void)c.Rmdir("rmdir $CG", c.Cg1("pids"));
  (void)c.Rmdir("rmdir $CG again", c.Cg1("pids"));
}

void V1Limits(Ctx& c) {
  (void)c.Mkdir("mkdir memory $CG", c.Cg1("memory"));
  (void)c.ReadFile("read memory.limit_in_bytes", c.Cg1("memory", "memory.limit_in_bytes"));
  (void)c.WriteFile("memory limit 100M", c.Cg1("memory", "memory.limit_in_bytes"), "100M");
  (void)c.ReadFile("read the 100M limit", c.Cg1("memory", "memory.limit_in_bytes"));
  (void)c.WriteFile("memory limit 1000 bytes", c.Cg1("memory", "memory.limit_in_bytes"), "1000");
  (void)c.ReadFile("read the 1000 byte limit", c.Cg1("memory", "memory.limit_in_bytes"));
  (void)c.WriteFile("memory limit -1", c.Cg1("memory", "memory.limit_in_bytes"), "-1");
  (void)c.ReadFile("read the -1 limit", c.Cg1("memory", "memory.limit_in_bytes"));
  (void)c.WriteFile("memory limit abc", c.Cg1("memory", "memory.limit_in_bytes"), "abc");
  (void)c.Rmdir("rmdir memory $CG", c.Cg1("memory"));
  (void)c.Mkdir("mkdir cpu $CG", c.Cg1("cpu"));
  (void)c.WriteFile("cpu.shares 1", c.Cg1("cpu", "cpu.shares"), "1");
  (void)c.ReadFile("cpu.shares clamps to 2", c.Cg1("cpu", "cpu.shares"));
  (void)c.WriteFile("cfs_quota 500", c.Cg1("cpu", "cpu.cfs_quota_us"), "500");
  (void)c.WriteFile("cfs_quota 50000", c.Cg1("cpu", "cpu.cfs_quota_us"), "50000");
  (void)c.ReadFile("read cfs_quota", c.Cg1("cpu", "cpu.cfs_quota_us"));
  (void)c.WriteFile("cfs_period 100", c.Cg1("cpu", "cpu.cfs_period_us"), "100");
  (void)c.WriteFile("cfs_quota -1", c.Cg1("cpu", "cpu.cfs_quota_us"), "-1");
  (void)c.Rmdir("rmdir cpu $CG", c.Cg1("cpu"));
  (void)c.Mkdir("mkdir cpuset $CG", c.Cg1("cpuset"));
  (void)c.ReadFile("a new cpuset has no cpus", c.Cg1("cpuset", "cpuset.cpus"));
  (void)c.WriteFile("join an empty cpuset", c.Cg1("cpuset", "cgroup.procs"), "0");
  (void)c.WriteFile("cpuset.cpus 99", c.Cg1("cpuset", "cpuset.cpus"), "99");
  (void)c.WriteFile("cpuset.cpus 0", c.Cg1("cpuset", "cpuset.cpus"), "0");
  (void)c.WriteFile("cpuset.mems 0", c.Cg1("cpuset", "cpuset.mems"), "0");
  (void)c.ReadFile("read cpuset.cpus", c.Cg1("cpuset", "cpuset.cpus"));
  (void)c.WriteFile("join the cpuset", c.Cg1("cpuset", "cgroup.procs"), "0");
  (void)c.ProcCgroup("/proc/self/cgroup names the cpuset", "/proc/self/cgroup");
  (void)c.WriteFile("leave the cpuset", "/sys/fs/cgroup/cpuset/cgroup.procs", "0");
  (void)c.Rmdir("rmdir cpuset $CG", c.Cg1("cpuset"));
  (void)c.Mkdir("mkdir freezer $CG", c.Cg1("freezer"));
  (void)c.ReadFile("freezer.state", c.Cg1("freezer", "freezer.state"));
  (void)c.WriteFile("freezer.state bogus", c.Cg1("freezer", "freezer.state"), "BOGUS");
  (void)c.Rmdir("rmdir freezer $CG", c.Cg1("freezer"));
}

// The v2 rules that need no controller (so they run on the hybrid host's
// controller-less unified hierarchy too).
void V2Core(Ctx& c) {
  const std::string root = c.params().v2_root;
  (void)c.Mkdir("mkdir $CG", c.Cg2());
  (void)c.Statfs("statfs is cgroup2", c.Cg2());
  for (const char* f : {"cgroup.procs", "cgroup.events", "cgroup.kill", "cgroup.subtree_control",
                        "cgroup.controllers", "cgroup.type", "cgroup.freeze"})
    (void)c.Lstat(std::string("lstat ") + f, c.Cg2(f));
  (void)c.ReadFile("read cgroup.events", c.Cg2("cgroup.events"));
  (void)c.ReadFile("read cgroup.type", c.Cg2("cgroup.type"));
  (void)c.ReadFile("read cgroup.subtree_control", c.Cg2("cgroup.subtree_control"));
  (void)c.WriteFile("subtree_control without a sign", c.Cg2("cgroup.subtree_control"), "memory");
  (void)c.WriteFile("subtree_control +nosuch", c.Cg2("cgroup.subtree_control"), "+nosuch");
  (void)c.WriteFile("move self into $CG", c.Cg2("cgroup.procs"), "0");
  (void)c.ReadFile("cgroup.events populated", c.Cg2("cgroup.events"));
  (void)c.ReadFile("cgroup.procs lists self", c.Cg2("cgroup.procs"));
  (void)c.ProcCgroup("/proc/self/cgroup names $CG", "/proc/self/cgroup");
  (void)c.Rmdir("rmdir $CG with self inside", c.Cg2());
  (void)c.WriteFile("cgroup.procs of a missing pid", c.Cg2("cgroup.procs"), "999999");
  (void)c.WriteFile("move self back to the root", root + "/cgroup.procs", "0");
  (void)c.ReadFile("cgroup.events unpopulated", c.Cg2("cgroup.events"));
  // cgroup.kill on a sleep moved into $CG/k.
  (void)c.Mkdir("mkdir $CG/k", c.Cg2("k"));
  (void)c.Rmdir("rmdir $CG with a child", c.Cg2());
  auto sync = c.Pipe("sync pipe", O_CLOEXEC);
  auto pid = c.Clone("clone a sleep", "sleeper", SleeperFn(c.sys(), sync.value.read_fd), 0);
  (void)c.Close("close the sync write end", sync.value.write_fd);
  (void)c.Read("the sleep has exec'd (EOF)", sync.value.read_fd);
  (void)c.Close("close the sync read end", sync.value.read_fd);
  (void)c.WriteFile("move the sleep into $CG/k", c.Cg2("k/cgroup.procs"), std::to_string(pid.value));
  (void)c.ReadFile("$CG/k lists the sleep", c.Cg2("k/cgroup.procs"));
  (void)c.ReadFile("$CG/k is populated", c.Cg2("k/cgroup.events"));
  (void)c.ReadFile("$CG is populated through k", c.Cg2("cgroup.events"));
  (void)c.WriteFile("cgroup.kill 2", c.Cg2("k/cgroup.kill"), "2");
  (void)c.Rmdir("rmdir $CG/k with the sleep", c.Cg2("k"));
  (void)c.WriteFile("cgroup.kill 1", c.Cg2("k/cgroup.kill"), "1");
  (void)c.Waitpid("the sleep died of SIGKILL", pid.value);
  (void)c.ReadFile("$CG/k is empty after the kill", c.Cg2("k/cgroup.procs"));
  (void)c.ReadFile("$CG/k is unpopulated", c.Cg2("k/cgroup.events"));
  (void)c.Rmdir("rmdir $CG/k", c.Cg2("k"));
  (void)c.Rmdir("rmdir $CG", c.Cg2());
}

// The v2 rules of controllers: subtree_control, the no-internal-process
// rule, limits. Uses the first two controllers of memory, pids, cpu that the
// host's root enables.
void V2Controllers(Ctx& c) {
  const std::string root = c.params().v2_root;
  std::vector<std::string> use;
  for (const char* want : {"memory", "pids", "cpu"})
    for (const auto& have : c.params().v2_controllers)
      if (have == want && use.size() < 2) use.push_back(have);
  const bool memory = !use.empty() && use[0] == "memory";
  std::string enable, listed;
  for (const auto& u : use) {
    enable += (enable.empty() ? "+" : " +") + u;
    listed += (listed.empty() ? "" : " ") + u;
  }
  (void)c.Mkdir("mkdir $CG", c.Cg2());
  (void)c.WriteFile("enable " + listed + " in $CG", c.Cg2("cgroup.subtree_control"), enable);
  (void)c.ReadFile("read $CG subtree_control", c.Cg2("cgroup.subtree_control"));
  (void)c.Mkdir("mkdir $CG/c1", c.Cg2("c1"));
  (void)c.ReadFile("c1 cgroup.controllers", c.Cg2("c1/cgroup.controllers"));
  (void)c.ReadFile("c1 subtree_control is empty", c.Cg2("c1/cgroup.subtree_control"));
  (void)c.Lstat("c1 has " + use[0] + " files", c.Cg2("c1/" + use[0] + ".max"));
  (void)c.Lstat("c1 has no io.max", c.Cg2("c1/io.max"));
  (void)c.WriteFile("c1 enables io, not in its parent", c.Cg2("c1/cgroup.subtree_control"), "+io");
  const std::string limit = memory ? "memory.max" : use[0] + ".max";
  (void)c.WriteFile("c1 " + limit + " abc", c.Cg2("c1/" + limit), "abc");
  (void)c.WriteFile("c1 " + limit + " max", c.Cg2("c1/" + limit), "max");
  (void)c.ReadFile("read c1 " + limit, c.Cg2("c1/" + limit));
  if (memory) {
    (void)c.WriteFile("c1 memory.max 100M", c.Cg2("c1/memory.max"), "100M");
    (void)c.ReadFile("read c1 memory.max 100M", c.Cg2("c1/memory.max"));
    (void)c.WriteFile("c1 memory.max 5000", c.Cg2("c1/memory.max"), "5000");
    (void)c.ReadFile("read c1 memory.max 5000", c.Cg2("c1/memory.max"));
    // Before this process joins c1 (one page would OOM-kill it).
    (void)c.WriteFile("c1 memory.max max again", c.Cg2("c1/memory.max"), "max");
  }
  // The no-internal-process rule.
  (void)c.WriteFile("join $CG, which has controllers on", c.Cg2("cgroup.procs"), "0");
  (void)c.WriteFile("join c1", c.Cg2("c1/cgroup.procs"), "0");
  (void)c.WriteFile("c1 with a task enables " + use[0], c.Cg2("c1/cgroup.subtree_control"),
                    "+" + use[0]);
  (void)c.ReadFile("$CG subtree_control with a task below", c.Cg2("cgroup.subtree_control"));
  (void)c.WriteFile("leave c1", root + "/cgroup.procs", "0");
  (void)c.Mkdir("mkdir c1/c2", c.Cg2("c1/c2"));
  (void)c.WriteFile("c1 enables " + use[0] + " for c2", c.Cg2("c1/cgroup.subtree_control"),
                    "+" + use[0]);
  (void)c.Lstat("c2 has " + use[0] + " files", c.Cg2("c1/c2/" + use[0] + ".max"));
  (void)c.WriteFile("join c1 with controllers on", c.Cg2("c1/cgroup.procs"), "0");
  (void)c.WriteFile("$CG disables " + use[0] + " that c1 uses", c.Cg2("cgroup.subtree_control"),
                    "-" + use[0]);
  (void)c.WriteFile("c1 disables " + use[0], c.Cg2("c1/cgroup.subtree_control"), "-" + use[0]);
  (void)c.Lstat("c2 lost its " + use[0] + " files", c.Cg2("c1/c2/" + use[0] + ".max"));
  (void)c.WriteFile("$CG disables " + use[0], c.Cg2("cgroup.subtree_control"), "-" + use[0]);
  (void)c.Lstat("c1 lost its " + use[0] + " files", c.Cg2("c1/" + use[0] + ".max"));
  (void)c.Rmdir("rmdir c1/c2", c.Cg2("c1/c2"));
  (void)c.Rmdir("rmdir c1", c.Cg2("c1"));
  (void)c.Rmdir("rmdir $CG", c.Cg2());
}

Register r1("cgroup.v1_pids", "cgroup v1", V1Pids, Script::Needs::kCgroupV1);
Register r2("cgroup.v1_limits", "cgroup v1", V1Limits, Script::Needs::kCgroupV1);
Register r3("cgroup.v2_core", "cgroup v2", V2Core, Script::Needs::kCgroupV2);
Register r4("cgroup.v2_controllers", "cgroup v2", V2Controllers, Script::Needs::kV2Controllers);

}  // namespace
}  // namespace faultline::conformance
