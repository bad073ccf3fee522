// The reachable-fault model (faults/errno_model.yaml) and the classes the
// sweep gives a call; the path-scoped persistence of fault plans.
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>

#include <algorithm>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "faults/errno_model.h"
#include "faults/plan.h"

namespace faultline {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

ClassifiedCall Call(pid_t pid, std::string_view op, std::string_view path, uint64_t flags = 0,
                    std::string_view fstype = "", std::string_view path2 = "") {
  ClassifiedCall c;
  c.pid = pid;
  c.op = op;
  c.path = path;
  c.flags = flags;
  c.fstype = fstype;
  c.path2 = path2;
  return c;
}

Reachability Reach(CallClassifier& cls, const ClassifiedCall& c) {
  return ErrnoModel::Builtin().Lookup(c.op, cls.Classes(c));
}

TEST(ErrnoModel, TheBuiltInModelParsesAndEveryEntryHasASource) {
  const ErrnoModel& m = ErrnoModel::Builtin();
  EXPECT_GE(m.entries().size(), 40u);
  for (const auto& e : m.entries()) {
    EXPECT_FALSE(e.ops.empty());
    EXPECT_FALSE(e.source.empty()) << e.ops.front();
  }
}

TEST(ErrnoModel, RejectsAnUnknownErrnoAndAMissingSource) {
  auto bad = ErrnoModel::FromYaml("entries:\n  - op: mkdir\n    errnos: [EWHAT]\n    source: x\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().Message(), HasSubstr("entries[0].errnos"));
  auto nosrc = ErrnoModel::FromYaml("entries:\n  - op: mkdir\n    errnos: [EIO]\n");
  ASSERT_FALSE(nosrc.ok());
  EXPECT_THAT(nosrc.error().Message(), HasSubstr("entries[0].source"));
}

TEST(ErrnoModel, ACgroupRmdirIsBusyOrGoneNeverAnIoError) {
  CallClassifier cls;
  auto r = Reach(cls, Call(100, "rmdir", "/sys/fs/cgroup/pids/faultline-sweep/c1"));
  ASSERT_TRUE(r.modeled);
  EXPECT_EQ(r.cls, "cgroup-dir");
  EXPECT_TRUE(r.Reachable(EBUSY));
  EXPECT_FALSE(r.Reachable(EIO));
  EXPECT_FALSE(r.Reachable(ENOSPC));
  EXPECT_THAT(r.source, HasSubstr("cgroup_destroy_locked"));
  // The same on a v2 hierarchy, and seen as unlinkat(AT_REMOVEDIR).
  auto v2 = Reach(cls, Call(100, "unlinkat", "/sys/fs/cgroup/unified/x/c1", AT_REMOVEDIR));
  EXPECT_EQ(v2.cls, "cgroup-dir");
  EXPECT_THAT(v2.classes, ::testing::Contains("cgroup2"));
  EXPECT_FALSE(v2.Reachable(EIO));
}

TEST(ErrnoModel, ARmdirOnTheDiskCanFailWithAnIoError) {
  CallClassifier cls;
  auto r = Reach(cls, Call(100, "rmdir", "/var/lib/mydocker/containers/c1"));
  EXPECT_EQ(r.cls, "disk");
  EXPECT_TRUE(r.Reachable(EIO));
  EXPECT_TRUE(r.Reachable(EBUSY));
  EXPECT_FALSE(r.Reachable(ENOMEM));
}

TEST(ErrnoModel, DetachingOnesOwnFreshBindMountCannotFail) {
  CallClassifier cls;
  auto mount = Call(100, "mount", "/tmp/crun.abc", MS_BIND, "", "/usr/bin/crun");
  cls.Observe(mount);
  auto r = Reach(cls, Call(100, "umount2", "/tmp/crun.abc", MNT_DETACH));
  ASSERT_TRUE(r.modeled);
  EXPECT_EQ(r.cls, "detach-own-mount");
  EXPECT_TRUE(r.errnos.empty());
  EXPECT_FALSE(r.Reachable(EBUSY));
  // Without MNT_DETACH it can be busy.
  auto busy = Reach(cls, Call(100, "umount2", "/tmp/crun.abc", 0));
  EXPECT_EQ(busy.cls, "umount-own-mount");
  EXPECT_TRUE(busy.Reachable(EBUSY));
  // A mount this run did not make: the general entry.
  auto other = Reach(cls, Call(100, "umount2", "/mnt/other", MNT_DETACH));
  EXPECT_EQ(other.cls, "any");
}

TEST(ErrnoModel, CgroupControlFilesAndTheirWrites) {
  CallClassifier cls;
  auto open = Call(100, "open", "/sys/fs/cgroup/memory/p/c1/cgroup.procs", O_WRONLY);
  auto r = Reach(cls, open);
  EXPECT_EQ(r.cls, "cgroup-file");
  EXPECT_FALSE(r.Reachable(EIO));
  open.handle = 3;
  cls.Observe(open);
  ClassifiedCall w;
  w.pid = 100;
  w.op = "write";
  w.fd = 3;
  auto wr = Reach(cls, w);
  EXPECT_EQ(wr.cls, "cgroup-procs");
  EXPECT_TRUE(wr.Reachable(EBUSY));  // v2: no internal processes
  EXPECT_FALSE(wr.Reachable(ESRCH));  // a live task: a claim the fault cannot make true
  EXPECT_FALSE(wr.Reachable(EIO));
  // seccomp: write's path is the fd's target.
  auto ws = Reach(cls, Call(100, "write", "/sys/fs/cgroup/memory/p/c1/memory.limit_in_bytes"));
  EXPECT_EQ(ws.cls, "cgroup-file");
  EXPECT_TRUE(ws.Reachable(EBUSY));
}

TEST(ErrnoModel, AfterPivotRootPathsAreTheContainersAndItsRootIsTheOverlay) {
  CallClassifier cls;
  cls.Observe(Call(101, "mount", "/c/merged", 0, "overlay", "overlay"));
  cls.Observe(Call(101, "chdir", "/c/merged"));
  cls.Observe(Call(101, "pivot_root", ".", 0, "", "."));
  EXPECT_THAT(cls.Classes(Call(101, "mkdir", "/proc")), ElementsAre("overlay"));
  auto detach = Reach(cls, Call(101, "umount2", ".", MNT_DETACH));
  EXPECT_EQ(detach.cls, "detach-own-mount");
  cls.Observe(Call(101, "mount", "/proc", 0, "proc", "proc"));
  EXPECT_THAT(cls.Classes(Call(101, "open", "/proc/self/mountinfo")), ElementsAre("proc"));
}

TEST(ErrnoModel, AnUnknownOpIsNotModeledAndEveryErrnoCounts) {
  CallClassifier cls;
  auto r = Reach(cls, Call(100, "frobnicate", "/x"));
  EXPECT_FALSE(r.modeled);
  EXPECT_TRUE(r.Reachable(EIO));
}

TEST(FaultPlanPersistentPath, FailsLaterCallsOnTheSameObjectOnly) {
  auto plan = FaultPlan::FromCompact("op=rmdir,pid=100,nth=2,errno=EBUSY,mode=persistent-path");
  ASSERT_TRUE(plan.ok()) << plan.error().Message();
  EXPECT_EQ(plan->rules()[0].times, Times::kPersistentPath);
  EXPECT_EQ(plan->ToString(), "op=rmdir,pid=100,nth=2,errno=EBUSY,mode=persistent-path");
  EXPECT_EQ(*FaultPlan::FromYaml(plan->ToJson()), *plan);
  auto decide = [&](const char* path) {
    return plan->Decide(CallInfo{"rmdir", path, "", "", 0, 100}).fired();
  };
  EXPECT_FALSE(decide("/sys/fs/cgroup/pids/p/c1"));    // 1st
  EXPECT_TRUE(decide("/sys/fs/cgroup/memory/p/c1"));   // 2nd: fires, remembers it
  EXPECT_FALSE(decide("/var/lib/state/c1"));           // another object: runs
  EXPECT_TRUE(decide("/sys/fs/cgroup/memory/p/c1"));   // the same cgroup again
  EXPECT_TRUE(decide("/sys/fs/cgroup/memory/p/c1/"));  // the same, spelled with '/'
  EXPECT_FALSE(decide("/sys/fs/cgroup/memory/p"));     // its parent is another object
  EXPECT_EQ(plan->fired(0), 3u);
}

TEST(FaultPlanPersistentPath, ACgroupControlFileBelongsToItsCgroup) {
  EXPECT_EQ(ObjectKey("open", "/sys/fs/cgroup/memory/p/c1/cgroup.procs"),
            "/sys/fs/cgroup/memory/p/c1");
  EXPECT_EQ(ObjectKey("open", "/sys/fs/cgroup/cpu/p/c1/tasks"), "/sys/fs/cgroup/cpu/p/c1");
  EXPECT_EQ(ObjectKey("rmdir", "/sys/fs/cgroup/system.slice"), "/sys/fs/cgroup/system.slice");
  EXPECT_EQ(ObjectKey("open", "/var/lib/x/state.json"), "/var/lib/x/state.json");
}

}  // namespace
}  // namespace faultline
