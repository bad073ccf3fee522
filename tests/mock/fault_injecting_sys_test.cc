// FaultInjectingSys over FakeKernel (and MockSys): each action, once versus
// persistent, crash semantics, and the trace.
#include "faults/fault_injecting_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakekernel/fake_kernel.h"
#include "tests/support/mock_sys.h"
#include "runtime/sys/fs_util.h"

namespace faultline {
namespace {

using ::testing::_;
using ::testing::HasSubstr;
using ::testing::Return;

FaultPlan Plan(const std::string& text) {
  auto p = FaultPlan::Parse(text);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().Message());
  return p.ok() ? p.value() : FaultPlan{};
}

TEST(FaultInjectingSys, FailOnceThenForward) {
  FakeKernel k;
  ASSERT_TRUE(k.AddDir("/srv").ok());
  FaultInjectingSys sys(k, Plan("op=mkdir,path=/srv/*,nth=2,errno=ENOSPC,mode=transient"));
  EXPECT_EQ(sys.Mkdir("/srv/a", 0755).err, 0);
  EXPECT_EQ(sys.Mkdir("/srv/b", 0755).err, ENOSPC);
  EXPECT_EQ(k.Lstat("/srv/b").err, ENOENT);  // never reached the kernel
  EXPECT_EQ(sys.Mkdir("/srv/b", 0755).err, 0);
  EXPECT_EQ(sys.Mkdir("/tmp/x", 0755).err, 0);  // path does not match
  ASSERT_EQ(sys.trace().size(), 4u);
  EXPECT_EQ(sys.trace()[1].rule, 0);
  EXPECT_EQ(sys.trace()[1].err, ENOSPC);
  EXPECT_EQ(sys.trace()[1].action, ActionKind::kFail);
  EXPECT_EQ(sys.trace()[2].rule, -1);
}

TEST(FaultInjectingSys, AWrapperOfItGoesThroughThePlan) {
  // SysWrapper(wrapper) wraps the wrapper, not the wrapper's target.
  FakeKernel k;
  ASSERT_TRUE(k.AddDir("/srv").ok());
  FaultInjectingSys faults(k, Plan("op=mkdir,path=/srv/*,nth=1,errno=EPERM,mode=transient"));
  SysWrapper outer(faults);
  EXPECT_EQ(&outer.target(), static_cast<mydocker::Sys*>(&faults));
  EXPECT_EQ(outer.Mkdir("/srv/a", 0755).err, EPERM);
  EXPECT_EQ(faults.trace().size(), 1u);
}

TEST(FaultInjectingSys, PersistentFailsFromThenOn) {
  FakeKernel k;
  FaultInjectingSys sys(k, Plan("op=mkdir,nth=2,errno=EIO,mode=persistent"));
  std::vector<int> errs;
  for (int i = 0; i < 4; ++i) errs.push_back(sys.Mkdir("/d" + std::to_string(i), 0755).err);
  EXPECT_EQ(errs, (std::vector<int>{0, EIO, EIO, EIO}));
}

TEST(FaultInjectingSys, LieReportsSuccessAndDoesNothing) {
  FakeKernel k;
  ASSERT_TRUE(k.AddDir("/mnt/x").ok());
  FaultInjectingSys sys(k, Plan("op=mount,action=lie,mode=transient;op=open,action=lie"));
  size_t mounts = k.MountCount(k.RuntimePid());
  EXPECT_EQ(sys.Mount({"tmpfs", "/mnt/x", "tmpfs", 0, ""}).err, 0);
  EXPECT_EQ(k.MountCount(k.RuntimePid()), mounts);  // nothing happened
  auto fd = sys.Open("/etc/passwd", O_RDONLY, 0);
  ASSERT_TRUE(fd.ok());
  EXPECT_GE(fd.value, FaultInjectingSys::kLieHandle);
  EXPECT_EQ(sys.Close(fd.value).err, EBADF);  // the handle does not exist
  EXPECT_EQ(sys.trace()[0].action, ActionKind::kLie);
  EXPECT_EQ(sys.trace()[0].err, 0);
}

TEST(FaultInjectingSys, DelaySleepsThenForwards) {
  FakeKernel k;
  FaultInjectingSys sys(k, Plan("op=rmdir,action=delay,delay_ms=25,mode=persistent"));
  std::vector<int> slept;
  sys.set_sleeper([&](int ms) { slept.push_back(ms); });
  ASSERT_TRUE(k.AddDir("/a").ok());
  EXPECT_EQ(sys.Rmdir("/a").err, 0);
  EXPECT_EQ(sys.Rmdir("/a").err, ENOENT);  // forwarded: the kernel's answer
  EXPECT_EQ(slept, (std::vector<int>{25, 25}));
  EXPECT_EQ(sys.trace()[1].err, ENOENT);
  EXPECT_EQ(sys.trace()[1].rule, 0);
}

TEST(FaultInjectingSys, PauseHoldsTheCallBeforeTheTargetSeesIt) {
  FakeKernel k;
  ASSERT_TRUE(k.AddDir("/a").ok());
  FaultInjectingSys sys(k, Plan("op=rmdir,nth=1,action=pause,pause_ms=900"));
  std::vector<PauseRequest> held;
  bool existed_while_held = false;
  sys.set_pauser([&](const PauseRequest& r) {
    held.push_back(r);
    existed_while_held = k.Lstat("/a").ok();  // not executed yet
    return true;
  });
  EXPECT_EQ(sys.Rmdir("/a").err, 0);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_TRUE(existed_while_held);
  EXPECT_FALSE(k.Lstat("/a").ok());  // then executed
  EXPECT_EQ(held[0].seq, 1u);
  EXPECT_STREQ(held[0].op, "rmdir");
  EXPECT_EQ(held[0].bound_ms, 900);
  EXPECT_EQ(sys.trace()[0].action, ActionKind::kPause);
  EXPECT_EQ(sys.trace()[0].pause, PauseEnd::kReleased);
  EXPECT_THAT(sys.TraceText(), HasSubstr("[rule 0 pause] [pause released]"));
  EXPECT_EQ(sys.TraceJson()[0]["pause"], "released");
}

TEST(FaultInjectingSys, PauseWhoseBoundPassesOrWithoutPauserGoesOn) {
  FakeKernel k;
  ASSERT_TRUE(k.AddDir("/a").ok());
  ASSERT_TRUE(k.AddDir("/b").ok());
  FaultInjectingSys sys(k, Plan("op=rmdir,action=pause,mode=persistent"));
  EXPECT_EQ(sys.Rmdir("/a").err, 0);  // no pauser: at once
  EXPECT_EQ(sys.trace()[0].pause, PauseEnd::kNoPauser);
  int calls = 0;
  sys.set_pauser([&](const PauseRequest& r) {
    ++calls;
    EXPECT_EQ(r.bound_ms, kDefaultPauseMs);
    return false;  // the bound passed
  });
  EXPECT_EQ(sys.Rmdir("/b").err, 0);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(sys.trace()[1].pause, PauseEnd::kBoundPassed);
  EXPECT_FALSE(k.Lstat("/b").ok());
}

TEST(FaultInjectingSys, CrashThrowsAndThenNothingPasses) {
  FakeKernel k;
  FaultInjectingSys sys(k, Plan("op=mkdir,nth=2,action=crash"));
  EXPECT_EQ(sys.Mkdir("/one", 0755).err, 0);
  try {
    (void)sys.Mkdir("/two", 0755);  // throws Crash: there is no result
    FAIL() << "no crash";
  } catch (const Crash& c) {
    EXPECT_EQ(c.seq, 2u);
    EXPECT_EQ(c.rule, 0);
    EXPECT_EQ(c.op, "mkdir");
  }
  EXPECT_TRUE(sys.crashed());
  EXPECT_EQ(sys.Mkdir("/three", 0755).err, EIO);
  EXPECT_EQ(sys.Rmdir("/one").err, EIO);
  EXPECT_EQ(k.Lstat("/one").err, 0);  // the kernel never saw the rmdir
  EXPECT_EQ(k.Lstat("/three").err, ENOENT);
  EXPECT_TRUE(sys.trace().back().after_crash);
  // The harness then tells the kernel the runtime died.
  pid_t fresh = k.RuntimeCrashed();
  EXPECT_EQ(k.CurrentPid(), fresh);
}

TEST(FaultInjectingSys, CrashInsideAChildUnwindsEverything) {
  FakeKernel k;
  FaultInjectingSys sys(k, Plan("op=sethostname,action=crash"));
  auto p = sys.Pipe(O_CLOEXEC);
  ASSERT_TRUE(p.ok());
  pid_t child = sys.Clone(
      [&] {
        (void)sys.Sethostname("c1");  // throws Crash: there is no result
        return 0;
      },
      CLONE_NEWUTS | SIGCHLD).value;
  EXPECT_EQ(sys.Close(p.value.write_fd).err, 0);
  EXPECT_THROW((void)sys.Waitpid(child, 0), Crash);
  EXPECT_EQ(k.CurrentPid(), k.RuntimePid());  // the clone driver restored it
  EXPECT_FALSE(k.ProcessRunnable(child));
}

TEST(FaultInjectingSys, TraceHasPidsArgsAndJson) {
  FakeKernel k;
  ASSERT_TRUE(k.BuildBusyboxImage("/img").ok());
  FaultInjectingSys sys(k, Plan("op=umount2,errno=EBUSY"));
  static char* const argv[] = {const_cast<char*>("true"), nullptr};
  pid_t child = sys.Clone(
                       [&] {
                         return 100 + sys.Execve("/img/bin/true", argv, nullptr).err;
                       },
                       SIGCHLD)
                    .value;
  auto st = sys.Waitpid(child, 0);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st.value, 0);
  EXPECT_EQ(sys.Umount2("/proc", 0).err, EBUSY);
  const auto& t = sys.trace();
  ASSERT_EQ(t.size(), 4u);  // clone, waitpid, (child) execve, umount2
  EXPECT_EQ(t[0].op, "clone");
  EXPECT_EQ(t[1].op, "waitpid");
  EXPECT_EQ(t[2].op, "execve");
  EXPECT_EQ(t[2].pid, child);  // the child's call, traced inside the parent's waitpid
  EXPECT_EQ(t[2].err, 0);
  EXPECT_EQ(t[1].pid, k.RuntimePid());
  EXPECT_EQ(t[2].seq, 3u);
  EXPECT_THAT(t[2].args, HasSubstr("\"/img/bin/true\""));
  EXPECT_THAT(sys.TraceText(), HasSubstr("umount2 target=\"/proc\" flags=0x0 -> EBUSY [rule 0 fail]"));
  nlohmann::json j = sys.TraceJson();
  ASSERT_EQ(j.size(), 4u);
  EXPECT_EQ(j[3]["errno"], "EBUSY");
  EXPECT_EQ(j[3]["rule"], 0);
  EXPECT_EQ(j[3]["action"], "fail");
}

TEST(FaultInjectingSys, ReplayingTheTracePlanFiresAtTheSamePoint) {
  // A sweep point is "the i-th call": nth=i with no op filter.
  auto run = [](const std::string& plan, std::string* failed_op) {
    FakeKernel k;
    FaultInjectingSys sys(k, Plan(plan));
    auto o = mydocker::WriteFileAtomic(sys, "/etc/app.conf", "x", 0644, "write conf");
    for (auto& e : sys.trace())
      if (e.rule >= 0) *failed_op = e.op;
    return o.ok() ? 0 : o.error().err;
  };
  std::string op1, op2;
  int e1 = run("nth=2,errno=ENOSPC", &op1);
  int e2 = run(Plan("nth=2,errno=ENOSPC").ToString(), &op2);
  EXPECT_EQ(e1, ENOSPC);
  EXPECT_EQ(e1, e2);
  EXPECT_EQ(op1, op2);
  EXPECT_FALSE(op1.empty());
}

TEST(FaultInjectingSys, WorksOverAnySysAndFindsNoPid) {
  MockSys mock;
  EXPECT_CALL(mock, Rmdir("/x")).WillOnce(Return(mydocker::Status{}));
  EXPECT_CALL(mock, Unlink(_)).Times(0);
  FaultInjectingSys sys(mock, Plan("op=unlink,errno=EPERM,mode=persistent"));
  EXPECT_EQ(sys.Rmdir("/x").err, 0);
  EXPECT_EQ(sys.Unlink("/y").err, EPERM);
  EXPECT_EQ(sys.trace()[0].pid, 0);
  // Through a wrapper chain the FakeKernel's pid is still found.
  FakeKernel k;
  SysWrapper middle(k);
  FaultInjectingSys outer(middle, FaultPlan{});
  EXPECT_EQ(outer.Mkdir("/z", 0755).err, 0);
  EXPECT_EQ(outer.trace()[0].pid, k.RuntimePid());
}

}  // namespace
}  // namespace faultline
