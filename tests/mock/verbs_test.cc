// mydocker's verbs around a detached container on FakeKernel: run -d, ps
// (StatusText), logs, exec, stop, rm [-f], gc. The monitor of a detached run
// is a clone child that blocks in waitpid on its own stack (FakeKernel's
// fibers) and goes on once its container is killed, inside the call that
// killed it: every step is deterministic and checked in-process.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakekernel/fake_kernel.h"
#include "runtime/container/runtime.h"
#include "runtime/sys/fs_util.h"

namespace faultline {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr const char* kRoot = "/var/lib/mydocker";
constexpr const char* kId = "0123456789ab";

struct World {
  FakeKernel k;
  World() {
    EXPECT_TRUE(k.BuildBusyboxImage(std::string(kRoot) + "/images/busybox/rootfs").ok());
    EXPECT_TRUE(k.AddFile(std::string(kRoot) + "/images/busybox/image.json",
                          R"({"name":"busybox","source":"fake","size":0,"files":0})")
                    .ok());
  }
  mydocker::RuntimeConfig Config(const std::string& id = kId) {
    mydocker::RuntimeConfig c;
    c.root = kRoot;
    c.new_id = [id] { return id; };
    return c;
  }
  mydocker::RunSpec Detached(std::vector<std::string> argv) {
    mydocker::RunSpec spec;
    spec.image = "busybox";
    spec.argv = std::move(argv);
    spec.detach = true;
    return spec;
  }
  std::vector<std::string> Containers() {
    auto r = k.ReadDir(std::string(kRoot) + "/containers");
    std::vector<std::string> out;
    if (r.ok()) {
      for (auto& e : r.value) out.push_back(e.name);
    }
    return out;
  }
  mydocker::ContainerState State(const std::string& id = kId) {
    mydocker::StateStore st(k, kRoot);
    auto s = st.Read(id);
    EXPECT_TRUE(s.ok()) << (s ? "" : s.error().Message());
    return s ? *s : mydocker::ContainerState{};
  }
  // Runs argv in the container with its stdout in a file; returns the
  // status and sets *out.
  int Exec(mydocker::Runtime& rt, const std::string& name, std::vector<std::string> argv,
           std::string* out) {
    auto fd = k.Open("/tmp/exec.out", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    EXPECT_TRUE(fd.ok());
    mydocker::ExecSpec spec;
    spec.argv = std::move(argv);
    spec.stdout_fd = fd.value;
    auto r = rt.Exec(name, spec);
    EXPECT_TRUE(k.Close(fd.value).ok());
    EXPECT_TRUE(r.ok()) << (r ? "" : r.error().Message());
    auto text = k.ReadWholeFile("/tmp/exec.out");
    *out = text.value;
    return r ? r->exit_code : -1;
  }
  static std::string CgroupDir(const std::string& controller, const std::string& id = kId) {
    return "/sys/fs/cgroup/" + controller + "/mydocker/" + id;
  }
};

TEST(FakeVerbs, DetachedLifecycle) {
  World w;
  const size_t mounts_before = w.k.TotalMountCount();
  mydocker::Runtime rt(w.k, w.Config());
  mydocker::RunSpec spec = w.Detached({"sleep", "1000"});
  spec.name = "web";
  spec.hostname = "box1";
  auto run = rt.Run(spec);
  ASSERT_TRUE(run.ok()) << run.error().Message();
  EXPECT_EQ(run->id, kId);
  EXPECT_EQ(run->exit_code, 0);
  EXPECT_EQ(run->message, "");

  // Run returned; the container lives on, its monitor holding its lock.
  mydocker::ContainerState s = w.State();
  EXPECT_EQ(s.status, "running");
  EXPECT_TRUE(s.detached);
  EXPECT_TRUE(w.k.ProcessParked(s.pid)) << "the init is not the parked sleep";
  EXPECT_NE(s.runtime_pid, w.k.RuntimePid()) << "the monitor is not a process of its own";
  EXPECT_TRUE(w.k.ProcessExists(s.runtime_pid));
  EXPECT_EQ(mydocker::StatusText(w.k, s), "running");
  EXPECT_TRUE(mydocker::Exists(w.k, World::CgroupDir("memory")));
  EXPECT_GT(w.k.TotalMountCount(), mounts_before);

  // exec: the container's UTS, pid and mount namespaces, and its cgroup.
  std::string out;
  EXPECT_EQ(w.Exec(rt, "web", {"hostname"}, &out), 0);
  EXPECT_EQ(out, "box1\n");
  EXPECT_EQ(w.Exec(rt, "web", {"cat", "/proc/1/cmdline"}, &out), 0);
  EXPECT_EQ(out, std::string("sleep\0001000\000", 11));
  EXPECT_EQ(w.Exec(rt, kId, {"cat", "/proc/self/cgroup"}, &out), 0);
  EXPECT_THAT(out, HasSubstr("memory:/mydocker/" + std::string(kId) + "\n"));
  EXPECT_EQ(w.Exec(rt, "web", {"sh", "-c", "exit 7"}, &out), 7);
  EXPECT_EQ(w.k.Pids().size(), 3u) << "runtime, monitor, init: the exec'd processes are reaped";
  // A missing command: docker's 127, the container unharmed.
  mydocker::ExecSpec missing;
  missing.argv = {"no-such-command"};
  auto nf = rt.Exec("web", missing);
  ASSERT_TRUE(nf.ok()) << nf.error().Message();
  EXPECT_EQ(nf->exit_code, 127);
  EXPECT_THAT(nf->message, HasSubstr("not found"));
  EXPECT_EQ(mydocker::StatusText(w.k, w.State()), "running");

  // gc leaves the live container alone.
  auto gc = rt.Gc();
  ASSERT_TRUE(gc.ok());
  EXPECT_THAT(gc->skipped, ElementsAre(kId));
  EXPECT_THAT(gc->removed, IsEmpty());
  // rm without -f refuses.
  auto busy = rt.Remove("web", false);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().err, EBUSY);

  // stop: the monitor records the end (SIGTERM ends a fake sleep) and tears
  // down; the directory stays with its state and logs.
  ASSERT_TRUE(rt.Stop("web", 10).ok());
  s = w.State();
  EXPECT_EQ(s.status, "exited");
  EXPECT_EQ(s.exit_code, 128 + SIGTERM);
  EXPECT_EQ(s.pid, 0);
  EXPECT_EQ(mydocker::StatusText(w.k, s), "exited (143)");
  EXPECT_FALSE(w.k.ProcessExists(s.runtime_pid)) << "the monitor did not end";
  EXPECT_FALSE(mydocker::Exists(w.k, World::CgroupDir("memory")));
  EXPECT_FALSE(mydocker::Exists(w.k, std::string(kRoot) + "/containers/" + kId + "/merged"));
  EXPECT_EQ(w.k.TotalMountCount(), mounts_before);
  EXPECT_THAT(w.Containers(), ElementsAre(kId));
  // exec of a stopped container: ESRCH (the caller exits 125).
  auto dead = rt.Exec("web", missing);
  ASSERT_FALSE(dead.ok());
  EXPECT_EQ(dead.error().err, ESRCH);
  EXPECT_THAT(dead.error().Message(), HasSubstr("not running"));
  // stop again: nothing to do.
  EXPECT_TRUE(rt.Stop("web", 10).ok());
  // gc keeps it for rm.
  gc = rt.Gc();
  ASSERT_TRUE(gc.ok());
  EXPECT_THAT(gc->kept, ElementsAre(kId));
  EXPECT_THAT(w.Containers(), ElementsAre(kId));

  ASSERT_TRUE(rt.Remove("web", false).ok());
  EXPECT_THAT(w.Containers(), IsEmpty());
  EXPECT_THAT(w.k.Pids(), ElementsAre(w.k.RuntimePid()));
  EXPECT_EQ(w.k.OpenFdCount(w.k.RuntimePid()), 3u);
}

TEST(FakeVerbs, LogsKeepTheOutputOfACommandThatEnded) {
  World w;
  mydocker::Runtime rt(w.k, w.Config());
  auto run = rt.Run(w.Detached({"echo", "hello", "world"}));
  ASSERT_TRUE(run.ok()) << run.error().Message();
  mydocker::ContainerState s = w.State();
  EXPECT_EQ(s.status, "exited");
  EXPECT_EQ(s.exit_code, 0);
  EXPECT_EQ(mydocker::StatusText(w.k, s), "exited (0)");
  auto logs = rt.Logs(kId);
  ASSERT_TRUE(logs.ok()) << logs.error().Message();
  EXPECT_EQ(logs->out, "hello world\n");
  EXPECT_EQ(logs->err, "");
  EXPECT_EQ(w.k.console(), "") << "a detached command wrote to the caller";
  ASSERT_TRUE(rt.Remove(kId, false).ok());
  auto gone = rt.Logs(kId);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().err, ENOENT);
}

TEST(FakeVerbs, RmForceKillsARunningDetachedContainer) {
  World w;
  mydocker::Runtime rt(w.k, w.Config());
  ASSERT_TRUE(rt.Run(w.Detached({"sleep", "1000"})).ok());
  const pid_t monitor = w.State().runtime_pid;
  ASSERT_TRUE(rt.Remove(kId, true).ok());
  EXPECT_THAT(w.Containers(), IsEmpty());
  EXPECT_FALSE(w.k.ProcessExists(monitor));
  EXPECT_FALSE(mydocker::Exists(w.k, World::CgroupDir("memory")));
  EXPECT_THAT(w.k.Pids(), ElementsAre(w.k.RuntimePid()));
}

TEST(FakeVerbs, ACommandThatCannotStartFailsRunDetachedAndLeavesNothing) {
  World w;
  mydocker::Runtime rt(w.k, w.Config());
  auto run = rt.Run(w.Detached({"no-such-command"}));
  ASSERT_TRUE(run.ok()) << run.error().Message();
  EXPECT_EQ(run->exit_code, 127);
  EXPECT_THAT(run->message, HasSubstr("no-such-command"));
  EXPECT_THAT(w.Containers(), IsEmpty());
  EXPECT_THAT(w.k.Pids(), ElementsAre(w.k.RuntimePid()));
  // -d with -t is refused before anything is made.
  mydocker::RunSpec tty = w.Detached({"true"});
  tty.tty = true;
  auto refused = rt.Run(tty);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().err, EINVAL);
  // An image that is missing: the monitor's error reaches the caller whole.
  mydocker::RunSpec noimage = w.Detached({"true"});
  noimage.image = "nope";
  auto err = rt.Run(noimage);
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.error().err, ENOENT) << err.error().Message();
  EXPECT_THAT(w.Containers(), IsEmpty());
}

// The monitor killed (a crash): its init dies with it (PDEATHSIG), its lock
// is free, its state says running: ps says dead, gc removes it.
TEST(FakeVerbs, GcRemovesAContainerWhoseMonitorDied) {
  World w;
  mydocker::Runtime rt(w.k, w.Config());
  ASSERT_TRUE(rt.Run(w.Detached({"sleep", "1000"})).ok());
  const mydocker::ContainerState s = w.State();
  ASSERT_TRUE(w.k.Kill(s.runtime_pid, SIGKILL).ok());
  EXPECT_FALSE(w.k.ProcessExists(s.runtime_pid));
  EXPECT_FALSE(w.k.ProcessExists(s.pid)) << "the init outlived its monitor";
  EXPECT_EQ(mydocker::StatusText(w.k, w.State()), "dead");
  auto gc = rt.Gc();
  ASSERT_TRUE(gc.ok());
  EXPECT_THAT(gc->removed, ElementsAre(kId));
  EXPECT_THAT(gc->errors, IsEmpty());
  EXPECT_THAT(w.Containers(), IsEmpty());
}

// Two detached containers, one stopped while the other runs on.
TEST(FakeVerbs, TwoDetachedContainersStopApart) {
  World w;
  int n = 0;
  mydocker::RuntimeConfig cfg = w.Config();
  cfg.new_id = [&n] { return std::string(n++ == 0 ? "aaaaaaaaaaaa" : "bbbbbbbbbbbb"); };
  mydocker::Runtime rt(w.k, cfg);
  ASSERT_TRUE(rt.Run(w.Detached({"sleep", "1000"})).ok());
  ASSERT_TRUE(rt.Run(w.Detached({"sleep", "2000"})).ok());
  ASSERT_TRUE(rt.Stop("aaaaaaaaaaaa", 0).ok());
  EXPECT_EQ(w.State("aaaaaaaaaaaa").status, "exited");
  EXPECT_EQ(mydocker::StatusText(w.k, w.State("bbbbbbbbbbbb")), "running");
  std::string out;
  EXPECT_EQ(w.Exec(rt, "bbbbbbbbbbbb", {"cat", "/proc/1/cmdline"}, &out), 0);
  EXPECT_EQ(out, std::string("sleep\0002000\000", 11));
  ASSERT_TRUE(rt.Remove("bbbbbbbbbbbb", true).ok());
  ASSERT_TRUE(rt.Remove("aaaaaaaaaaaa", false).ok());
  EXPECT_THAT(w.Containers(), IsEmpty());
  EXPECT_THAT(w.k.Pids(), ElementsAre(w.k.RuntimePid()));
}

}  // namespace
}  // namespace faultline
