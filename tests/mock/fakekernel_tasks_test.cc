// FakeKernel tasks layer (fakekernel/tasks.cc): processes (deferred clone,
// exec, exit, wait, kill, pdeathsig, parking), fd tables and pipes.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakekernel/fake_kernel.h"
#include "tests/support/fake_kernel_helpers.h"

namespace faultline {
namespace {

using fktest::Read;
using ::testing::HasSubstr;

TEST(FakeKernelProcesses, CloneRunsWhenTheParentBlocksOnAPipe) {
  FakeKernel k;
  ASSERT_TRUE(k.BuildBusyboxImage("/img").ok());
  auto p = k.Pipe(O_CLOEXEC);
  ASSERT_TRUE(p.ok());
  std::vector<pid_t> seen;
  std::string path = "/img/bin/hostname";
  static char* const argv[] = {const_cast<char*>("hostname"), nullptr};
  static char* const envp[] = {nullptr};
  pid_t child = k.Clone(
      [&]() -> int {
        seen.push_back(k.CurrentPid());
        if (int e = k.Sethostname("c1").err) return 100 + e;
        if (int e = k.Dup2(p.value.write_fd, 1).err) return 100 + e;
        return 100 + k.Execve(path.c_str(), argv, envp).err;  // on success not reached
      },
      CLONE_NEWUTS | SIGCHLD).value;
  EXPECT_TRUE(seen.empty());  // deferred
  EXPECT_TRUE(k.ProcessRunnable(child));
  ASSERT_EQ(k.Close(p.value.write_fd).err, 0);
  char buf[64];
  auto r = k.Read(p.value.read_fd, buf, sizeof buf);  // runs the child
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::string(buf, r.value), "c1\n");
  EXPECT_EQ(seen, std::vector<pid_t>{child});
  EXPECT_EQ(k.Read(p.value.read_fd, buf, sizeof buf).value, 0u);  // EOF
  auto st = k.Waitpid(child, 0);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(WIFEXITED(st.value));
  EXPECT_EQ(WEXITSTATUS(st.value), 0);
  EXPECT_EQ(k.Hostname(k.RuntimePid()), "faultline-host");
  EXPECT_EQ(k.Waitpid(child, 0).err, ECHILD);
  EXPECT_EQ(k.Close(p.value.read_fd).err, 0);
}

TEST(FakeKernelProcesses, CloexecFdsCloseOnExecAndHostnameNeedsUts) {
  FakeKernel k;
  EXPECT_EQ(k.Sethostname("x").err, EPERM);
  auto keep = k.Open("/etc/passwd", O_RDONLY, 0);
  auto drop = k.Open("/etc/passwd", O_RDONLY | O_CLOEXEC, 0);
  size_t fds_in_exec = 0;
  k.SetExecHook(
      [&](FakeKernel& kk, const FakeExec& e) { fds_in_exec = kk.OpenFdCount(e.pid); });
  static char* const argv[] = {const_cast<char*>("true"), nullptr};
  pid_t c = k.Clone([&] { return k.Execve("/bin/true", argv, nullptr).err; }, SIGCHLD).value;
  EXPECT_EQ(k.OpenFdCount(c), 5u);  // 0,1,2 + both
  ASSERT_EQ(k.Waitpid(c, 0).value, 0);
  EXPECT_EQ(fds_in_exec, 4u);
  ASSERT_EQ(k.execs().size(), 1u);
  EXPECT_EQ(k.execs()[0].path, "/bin/busybox");
  EXPECT_EQ(k.Close(keep.value).err, 0);
  EXPECT_EQ(k.Close(drop.value).err, 0);
}

TEST(FakeKernelProcesses, KillAndDeadlock) {
  FakeKernel k;
  bool ran = false;
  pid_t c = k.Clone([&] { ran = true; return 0; }, SIGCHLD).value;
  ASSERT_EQ(k.Kill(c, SIGKILL).err, 0);
  auto st = k.Waitpid(c, 0);
  EXPECT_TRUE(WIFSIGNALED(st.value));
  EXPECT_EQ(WTERMSIG(st.value), SIGKILL);
  EXPECT_FALSE(ran);
  EXPECT_EQ(k.Kill(c, SIGKILL).err, ESRCH);
  // A child reading a pipe whose only writer is its blocked parent: EDEADLK.
  auto p = k.Pipe(0);
  int child_read = 0;
  pid_t c2 = k.Clone(
      [&] {
        char b;
        child_read = k.Read(p.value.read_fd, &b, 1).err;
        return 0;
      },
      SIGCHLD).value;
  EXPECT_EQ(k.Waitpid(c2, 0).value, 0);
  EXPECT_EQ(child_read, EDEADLK);
  EXPECT_EQ(k.Close(p.value.read_fd).err, 0);
  EXPECT_EQ(k.Close(p.value.write_fd).err, 0);
}

TEST(FakeKernelProcesses, SleepParksPdeathsigKillsOnCrash) {
  FakeKernel k;
  static char* const argv[] = {const_cast<char*>("sleep"), const_cast<char*>("100"), nullptr};
  // Like the runtime: the child holds the close-on-exec write end of a report
  // pipe; the parent reads it, which runs the child until its exec.
  auto start_sleeper = [&k](bool pdeathsig) {
    auto p = k.Pipe(O_CLOEXEC).value;
    pid_t pid = k.Clone(
                     [&k, pdeathsig] {
                       if (pdeathsig)
                         if (int e = k.Prctl(PR_SET_PDEATHSIG, SIGKILL).err)
                           return 100 + e;
                       return k.Execve("/bin/sleep", argv, nullptr).err;
                     },
                     SIGCHLD)
                    .value;
    EXPECT_EQ(k.Close(p.write_fd).err, 0);
    char b;
    EXPECT_EQ(k.Read(p.read_fd, &b, 1).value, 0u);  // EOF: the exec closed it
    EXPECT_EQ(k.Close(p.read_fd).err, 0);
    return pid;
  };
  pid_t guarded = start_sleeper(true);
  pid_t orphan = start_sleeper(false);
  pid_t waited = start_sleeper(false);
  EXPECT_TRUE(k.ProcessParked(guarded));
  EXPECT_TRUE(k.ProcessParked(orphan));
  // Waiting finishes a sleeper (time passes): exit 0.
  EXPECT_EQ(k.Waitpid(waited, 0).value, 0);
  // Killing one ends it with the signal.
  pid_t killed = start_sleeper(false);
  ASSERT_EQ(k.Kill(killed, SIGTERM).err, 0);
  EXPECT_EQ(k.Waitpid(killed, 0).value, SIGTERM);
  // The runtime crashes: the pdeathsig child dies, the other is orphaned.
  pid_t old = k.RuntimePid();
  pid_t fresh = k.RuntimeCrashed();
  EXPECT_NE(fresh, old);
  EXPECT_FALSE(k.ProcessExists(old));
  EXPECT_FALSE(k.ProcessExists(guarded));
  EXPECT_TRUE(k.ProcessParked(orphan));
  EXPECT_THAT(Read(k, "/proc/" + std::to_string(orphan) + "/stat"), HasSubstr(" S 1 "));
  EXPECT_EQ(k.OpenFdCount(fresh), 3u);
  // The new runtime (gc) can kill the orphan; init reaps it.
  ASSERT_EQ(k.Kill(orphan, SIGKILL).err, 0);
  EXPECT_FALSE(k.ProcessExists(orphan));
}

// Pipes: EOF once every write end is closed, EPIPE once every read end is;
// each end refuses the other direction.
TEST(FakeKernelProcesses, PipeEofAndEpipe) {
  FakeKernel k;
  auto p = k.Pipe(0);
  ASSERT_TRUE(p.ok());
  const int r = p.value.read_fd, w = p.value.write_fd;
  char buf[8];
  EXPECT_EQ(k.Write(w, "ab", 2).value, 2u);
  EXPECT_EQ(k.Write(r, "x", 1).err, EBADF);
  EXPECT_EQ(k.Read(w, buf, sizeof buf).err, EBADF);
  // A second write end (dup2) keeps the pipe open after the first closes.
  ASSERT_EQ(k.Dup2(w, 9).err, 0);
  ASSERT_EQ(k.Close(w).err, 0);
  EXPECT_EQ(k.Write(9, "c", 1).value, 1u);
  ASSERT_EQ(k.Close(9).err, 0);
  auto got = k.Read(r, buf, sizeof buf);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(std::string(buf, got.value), "abc");
  EXPECT_EQ(k.Read(r, buf, sizeof buf).value, 0u);  // EOF
  EXPECT_EQ(k.Read(r, buf, sizeof buf).value, 0u);  // and stays so
  ASSERT_EQ(k.Close(r).err, 0);
  EXPECT_EQ(k.Read(r, buf, sizeof buf).err, EBADF);
  auto q = k.Pipe(0);
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(k.Close(q.value.read_fd).err, 0);
  EXPECT_EQ(k.Write(q.value.write_fd, "x", 1).err, EPIPE);
  ASSERT_EQ(k.Close(q.value.write_fd).err, 0);
  EXPECT_EQ(k.OpenFdCount(k.RuntimePid()), 3u);
}

// execve closes exactly the close-on-exec fds: a dup2 copy of a CLOEXEC fd
// does not inherit the flag; O_CLOEXEC pipes vanish in the new program.
TEST(FakeKernelProcesses, CloexecAcrossExecve) {
  FakeKernel k;
  auto keep = k.Open("/etc/passwd", O_RDONLY, 0);
  auto drop = k.Open("/etc/hostname", O_RDONLY | O_CLOEXEC, 0);
  auto p = k.Pipe(O_CLOEXEC);
  ASSERT_TRUE(keep.ok() && drop.ok() && p.ok());
  std::string keep_link, dup_link;
  int drop_err = 0, pipe_err = 0;
  k.SetExecHook([&](FakeKernel& kk, const FakeExec& e) {
    std::string fd = "/proc/" + std::to_string(e.pid) + "/fd/";
    keep_link = kk.Readlink(fd + std::to_string(keep.value)).value;
    dup_link = kk.Readlink(fd + "7").value;
    drop_err = kk.Readlink(fd + std::to_string(drop.value)).err;
    pipe_err = kk.Readlink(fd + std::to_string(p.value.read_fd)).err;
  });
  static char* const argv[] = {const_cast<char*>("true"), nullptr};
  int st = fktest::RunChild(k, [&] {
    if (int e = k.Dup2(drop.value, 7).err) return 100 + e;
    return 100 + k.Execve("/bin/true", argv, nullptr).err;
  });
  EXPECT_EQ(st, 0);
  EXPECT_EQ(keep_link, "/etc/passwd");
  EXPECT_EQ(dup_link, "/etc/hostname");
  EXPECT_EQ(drop_err, ENOENT);
  EXPECT_EQ(pipe_err, ENOENT);
  for (int fd : {keep.value, drop.value, p.value.read_fd, p.value.write_fd})
    EXPECT_EQ(k.Close(fd).err, 0);
}

// waitpid and kill on what is not there.
TEST(FakeKernelProcesses, WaitAndKillErrors) {
  FakeKernel k;
  EXPECT_EQ(k.Waitpid(4242, 0).err, ECHILD);
  EXPECT_EQ(k.Kill(4242, SIGTERM).err, ESRCH);
  EXPECT_EQ(k.Kill(0, SIGTERM).err, EINVAL);  // process groups: not modeled
  EXPECT_EQ(k.Kill(k.RuntimePid(), 65).err, EINVAL);
  bool ran = false;
  pid_t c = k.Clone([&] { ran = true; return 5; }, SIGCHLD).value;
  EXPECT_EQ(k.Kill(c, 0).err, 0);  // exists
  EXPECT_FALSE(ran);
  // WNOHANG still runs the deferred child: time is virtual.
  auto st = k.Waitpid(c, WNOHANG);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(ran);
  EXPECT_EQ(st.value, 5 << 8);
  EXPECT_FALSE(k.ProcessExists(c));
  EXPECT_EQ(k.Waitpid(c, 0).err, ECHILD);
}


// /proc/PID/stat field 22: every process has its own start time, so the
// runtime's liveness check (pid + start) sees a fake process as alive.
TEST(FakeKernelProcesses, StatCarriesADistinctStartTime) {
  FakeKernel k;
  auto field22 = [&](pid_t pid) {
    std::string stat = Read(k, "/proc/" + std::to_string(pid) + "/stat");
    std::string rest = stat.substr(stat.rfind(')') + 2);
    std::istringstream in(rest);
    std::string f;
    for (int field = 3; field <= 22 && in >> f; ++field) {
    }
    return f;
  };
  pid_t child = k.Clone([] { return 0; }, SIGCHLD).value;
  pid_t other = k.StartHostProcess({"mydocker", "gc"});
  const std::string rt = field22(k.RuntimePid()), c = field22(child), o = field22(other);
  EXPECT_NE(rt, "0");
  EXPECT_NE(c, "0");
  EXPECT_NE(o, "0");
  EXPECT_NE(rt, c);
  EXPECT_NE(c, o);
  EXPECT_NE(rt, o);
  // 52 fields in all, as Linux prints them.
  std::string stat = Read(k, "/proc/" + std::to_string(child) + "/stat");
  std::istringstream all(stat.substr(stat.rfind(')') + 2));
  size_t n = 2;
  for (std::string f; all >> f;) ++n;
  EXPECT_EQ(n, 52u);
  ASSERT_TRUE(k.Waitpid(child, 0).ok());
}

// A second process of the host runs while the first one's child is held in
// one of its calls (what a two-actor sweep does): it sees the child in its
// cgroup; its SIGKILL ends the child at once (out of the cgroup, fds
// closed) although its frames are still on the stack; the child's next
// call does not happen, and its parent reaps it as killed.
TEST(FakeKernelProcesses, AHeldChildKilledByAnotherProcessLeavesItsCgroupAtOnce) {
  FakeKernel k;
  const std::string cg = "/sys/fs/cgroup/pids/held";
  ASSERT_EQ(k.Mkdir(cg, 0755).err, 0);
  auto p = k.Pipe(O_CLOEXEC);
  ASSERT_TRUE(p.ok());
  std::string procs_while_held, procs_after_kill;
  std::vector<pid_t> lock_holders;
  bool after_ran = false;
  pid_t other = 0;
  pid_t child = k.Clone(
      [&]() -> int {
        // Held here: another `mydocker` runs to its end.
        const pid_t me = k.CurrentPid();
        other = k.StartHostProcess({"mydocker", "rm", "-f", "held"});
        EXPECT_EQ(k.SwitchProcess(other), me);
        EXPECT_EQ(k.CurrentPid(), other);
        procs_while_held = Read(k, cg + "/cgroup.procs");
        lock_holders = k.FlockHolders("/tmp/lock");
        EXPECT_EQ(k.Kill(me, SIGKILL).err, 0);
        procs_after_kill = Read(k, cg + "/cgroup.procs");
        k.EndHostProcess(other, 0);
        k.SwitchProcess(me);
        // The held call goes on: the process is dead, so it never happens.
        (void)k.Mkdir("/tmp/after-the-kill", 0755);
        after_ran = true;
        return 0;
      },
      SIGCHLD).value;
  auto lock = k.Open("/tmp/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_TRUE(lock.ok());
  ASSERT_EQ(k.Flock(lock.value, LOCK_EX).err, 0);
  ASSERT_EQ(fktest::Write(k, cg + "/cgroup.procs", std::to_string(child)), 0);
  ASSERT_EQ(k.Close(p.value.write_fd).err, 0);
  char buf[8];
  // The child holds the pipe's write end: this read runs it.
  EXPECT_EQ(k.Read(p.value.read_fd, buf, sizeof buf).value, 0u);
  EXPECT_EQ(procs_while_held, std::to_string(child) + "\n");
  EXPECT_EQ(lock_holders, std::vector<pid_t>{k.RuntimePid()});
  EXPECT_EQ(procs_after_kill, "");
  EXPECT_FALSE(after_ran);
  EXPECT_FALSE(k.Lstat("/tmp/after-the-kill").ok());
  auto st = k.Waitpid(child, 0);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(WIFSIGNALED(st.value));
  EXPECT_EQ(WTERMSIG(st.value), SIGKILL);
  EXPECT_FALSE(k.ProcessExists(other));
  EXPECT_EQ(k.CurrentPid(), k.RuntimePid());
  ASSERT_EQ(k.Close(lock.value).err, 0);
  EXPECT_TRUE(k.FlockHolders("/tmp/lock").empty());
  EXPECT_EQ(k.Rmdir(cg).err, 0);
}

}  // namespace
}  // namespace faultline

namespace faultline {
namespace {

// pidfd_open, pidfd_send_signal, setns on a pidfd and poll of a pidfd, as
// FakeKernel models them (fake_kernel.h).
TEST(FakeKernelPidfd, OpenSignalPollAndSetns) {
  FakeKernel k;
  ASSERT_TRUE(k.BuildBusyboxImage("/img").ok());
  EXPECT_EQ(k.PidfdOpen(k.RuntimePid(), 1).err, EINVAL);
  EXPECT_EQ(k.PidfdOpen(4000000, 0).err, ESRCH);
  static char* const argv[] = {const_cast<char*>("sleep"), const_cast<char*>("9"), nullptr};
  static char* const envp[] = {nullptr};
  std::string sleep_path = "/img/bin/sleep";
  auto c = k.Clone(
      [&]() -> int {
        if (int e = k.Sethostname("inside").err) return 100 + e;
        return 100 + k.Execve(sleep_path.c_str(), argv, envp).err;
      },
      CLONE_NEWUTS | CLONE_NEWPID | SIGCHLD);
  ASSERT_TRUE(c.ok());
  // Let it run to its sleep: a child that waits for nothing would run it.
  auto fd = k.PidfdOpen(c.value, 0);
  ASSERT_TRUE(fd.ok());
  EXPECT_EQ(k.Setns(fd.value, 0).err, EINVAL);
  EXPECT_EQ(k.Setns(0, CLONE_NEWUTS).err, EINVAL) << "not a pidfd";
  struct pollfd p = {fd.value, POLLIN, 0};
  auto r = k.Poll(&p, 1, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value, 0) << "a live process' pidfd is not readable";

  // A second child joins the first one's UTS namespace through the pidfd.
  const std::string host = k.Hostname(k.RuntimePid());
  std::string seen;
  auto joiner = k.Clone(
      [&]() -> int {
        if (int e = k.Setns(fd.value, CLONE_NEWUTS).err) return 100 + e;
        if (int e = k.Sethostname("joined").err) return 100 + e;
        seen = k.Hostname(k.CurrentPid());
        return 0;
      },
      SIGCHLD);
  ASSERT_TRUE(joiner.ok());
  auto st = k.Waitpid(joiner.value, 0);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(WEXITSTATUS(st.value), 0);
  EXPECT_EQ(seen, "joined");
  EXPECT_EQ(k.Hostname(c.value), "joined") << "the joiner was not in the first child's UTS ns";
  EXPECT_EQ(k.Hostname(k.RuntimePid()), host) << "the host's hostname changed";

  ASSERT_TRUE(k.PidfdSendSignal(fd.value, SIGTERM).ok());
  r = k.Poll(&p, 1, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value, 1);
  EXPECT_EQ(p.revents & POLLIN, POLLIN) << "an exited process' pidfd is readable";
  st = k.Waitpid(c.value, 0);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(WIFSIGNALED(st.value));
  EXPECT_EQ(k.PidfdSendSignal(fd.value, SIGTERM).err, ESRCH) << "reaped";
  EXPECT_EQ(k.Setns(fd.value, CLONE_NEWUTS).err, ESRCH);
  EXPECT_TRUE(k.Close(fd.value).ok());
}

// A clone child waiting for a parked child of its own blocks on its own
// stack; the caller goes on; killing the grandchild resumes it where it
// waited, inside the kill.
TEST(FakeKernelFibers, AWaiterBlocksAndResumesWhenItsChildEnds) {
  FakeKernel k;
  ASSERT_TRUE(k.BuildBusyboxImage("/img").ok());
  static char* const argv[] = {const_cast<char*>("sleep"), const_cast<char*>("9"), nullptr};
  static char* const envp[] = {nullptr};
  std::string sleep_path = "/img/bin/sleep";
  auto p = k.Pipe(O_CLOEXEC);
  ASSERT_TRUE(p.ok());
  pid_t grandchild = 0;
  int waited_status = -1;
  auto child = k.Clone(
      [&]() -> int {
        auto g = k.Clone([&]() -> int { return 100 + k.Execve(sleep_path.c_str(), argv, envp).err; },
                         SIGCHLD);
        if (!g.ok()) return 1;
        grandchild = g.value;
        (void)k.Write(p.value.write_fd, "x", 1);
        (void)k.Close(p.value.write_fd);
        auto st = k.Waitpid(g.value, 0);  // blocks: the grandchild sleeps
        waited_status = st.ok() ? st.value : -2;
        return 7;
      },
      SIGCHLD);
  ASSERT_TRUE(child.ok());
  ASSERT_TRUE(k.Close(p.value.write_fd).ok());
  char b = 0;
  auto r = k.Read(p.value.read_fd, &b, 1);  // runs the child until it blocks
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value, 1u);
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(k.ProcessParked(grandchild));
  EXPECT_TRUE(k.ProcessExists(child.value));
  EXPECT_EQ(waited_status, -1) << "the waiter did not block";
  ASSERT_TRUE(k.Kill(grandchild, SIGKILL).ok());
  EXPECT_TRUE(WIFSIGNALED(waited_status)) << "the waiter did not resume inside the kill";
  EXPECT_EQ(WTERMSIG(waited_status), SIGKILL);
  auto st = k.Waitpid(child.value, 0);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(WEXITSTATUS(st.value), 7);
  EXPECT_TRUE(k.Close(p.value.read_fd).ok());
}

}  // namespace
}  // namespace faultline
