// FakeKernel userland (fakekernel/userland.cc): the programs Execve runs by
// basename(argv[0]), their output and exit codes.
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakekernel/fake_kernel.h"
#include "tests/support/fake_kernel_helpers.h"

namespace faultline {
namespace {

using ::testing::HasSubstr;

TEST(FakeKernelUserland, ExecveErrorsAndExitCodes) {
  FakeKernel k;
  ASSERT_TRUE(k.BuildBusyboxImage("/img").ok());
  ASSERT_TRUE(k.AddFile("/img/noexec", "x", 0644).ok());
  auto run = [&k](std::vector<std::string> args, std::string path) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int exec_err = 0;
    pid_t c = k.Clone(
        [&]() -> int {
          exec_err = k.Execve(path.c_str(), argv.data(), nullptr).err;
          return 100 + exec_err;
        },
        SIGCHLD).value;
    int st = k.Waitpid(c, 0).value;
    return std::make_pair(exec_err, st);
  };
  EXPECT_EQ(run({"true"}, "/img/bin/true"), std::make_pair(0, 0));
  EXPECT_EQ(run({"false"}, "/img/bin/false").second, 1 << 8);
  EXPECT_EQ(run({"sh", "-c", "exit 7"}, "/img/bin/sh").second, 7 << 8);
  EXPECT_EQ(run({"x"}, "/img/missing"), std::make_pair(ENOENT, (100 + ENOENT) << 8));
  EXPECT_EQ(run({"x"}, "/img/noexec").first, EACCES);
  EXPECT_EQ(run({"x"}, "/img/bin").first, EACCES);
}

// Runs argv as a child (flags | SIGCHLD) with its stdout on a pipe; returns
// the raw wait status and what it printed.
std::pair<int, std::string> RunCaptured(FakeKernel& k, std::vector<std::string> args,
                                        int flags = 0) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  auto p = k.Pipe(O_CLOEXEC);
  EXPECT_TRUE(p.ok());
  const std::string path = "/bin/" + args[0];
  pid_t c = k.Clone(
                 [&]() -> int {
                   if (flags & CLONE_NEWUTS)
                     if (int e = k.Sethostname("c1").err) return 100 + e;
                   if (int e = k.Dup2(p.value.write_fd, 1).err) return 100 + e;
                   return 100 + k.Execve(path.c_str(), argv.data(), nullptr).err;
                 },
                 flags | SIGCHLD)
                .value;
  EXPECT_EQ(k.Close(p.value.write_fd).err, 0);
  std::string out;
  char buf[256];
  for (;;) {
    auto r = k.Read(p.value.read_fd, buf, sizeof buf);
    EXPECT_TRUE(r.ok()) << strerror(r.err);
    if (!r.ok() || r.value == 0) break;
    out.append(buf, r.value);
  }
  EXPECT_EQ(k.Close(p.value.read_fd).err, 0);
  return {k.Waitpid(c, 0).value, out};
}

TEST(FakeKernelUserland, ProgramsAndTheirOutput) {
  FakeKernel k;
  using R = std::pair<int, std::string>;
  EXPECT_EQ(RunCaptured(k, {"echo", "a", "b"}), (R{0, "a b\n"}));
  EXPECT_EQ(RunCaptured(k, {"echo", "-n", "x"}), (R{0, "x"}));
  EXPECT_EQ(RunCaptured(k, {"cat", "/etc/hostname"}),
            (R{0, fktest::Read(k, "/etc/hostname")}));
  EXPECT_EQ(RunCaptured(k, {"cat", "/missing"}).first, 1 << 8);
  EXPECT_EQ(RunCaptured(k, {"hostname"}), (R{0, "faultline-host\n"}));
  EXPECT_EQ(RunCaptured(k, {"hostname"}, CLONE_NEWUTS), (R{0, "c1\n"}));
  EXPECT_EQ(RunCaptured(k, {"sh", "-c", "echo hi"}), (R{0, "hi\n"}));
  EXPECT_EQ(RunCaptured(k, {"sh", "-c", "exit 300"}).first, (300 & 0xff) << 8);
  EXPECT_EQ(RunCaptured(k, {"sh", "-c", "exit x"}).first, 2 << 8);
  EXPECT_THAT(RunCaptured(k, {"ls", "/etc"}).second, HasSubstr("hostname\n"));
  // Every program ran from the busybox binary the applet links point to.
  ASSERT_EQ(k.execs().size(), 10u);
  for (const FakeExec& e : k.execs()) EXPECT_EQ(e.path, "/bin/busybox");
}

// sh -c scripts: sequences, && and ||, pipelines into grep and cat, quotes,
// >&2, and a sleep that parks the script until time passes (then the rest
// of it runs and its status is the exit).
TEST(FakeKernelUserland, ShellScripts) {
  FakeKernel k;
  using R = std::pair<int, std::string>;
  auto sh = [&k](const std::string& script) { return RunCaptured(k, {"sh", "-c", script}); };
  EXPECT_EQ(sh("echo a; echo b"), (R{0, "a\nb\n"}));
  EXPECT_EQ(sh("false && echo no; false || echo yes"), (R{0, "yes\n"}));
  EXPECT_EQ(sh("true && echo and || echo or"), (R{0, "and\n"}));
  EXPECT_EQ(sh("echo 'x; y' \"q | r\""), (R{0, "x; y q | r\n"}));
  EXPECT_EQ(sh("cat /etc/passwd | grep -c root"), (R{0, "1\n"}));
  EXPECT_EQ(sh("echo one | cat | grep o"), (R{0, "one\n"}));
  EXPECT_EQ(sh("grep -q nomatch /etc/hostname"), (R{1 << 8, ""}));
  EXPECT_EQ(sh("grep -c -v nomatch /etc/passwd"), (R{0, "1\n"}));
  EXPECT_EQ(sh("echo x | grep -c y"), (R{1 << 8, "0\n"}));
  EXPECT_EQ(sh("exit 3; echo never"), (R{3 << 8, ""}));
  // >&2: the text goes to fd 2 (the console here), not to the pipe.
  const size_t console = k.console().size();
  EXPECT_EQ(sh("echo to-err >&2; echo to-out"), (R{0, "to-out\n"}));
  EXPECT_EQ(k.console().substr(console), "to-err\n");
  // The reader of the pipe lets the parked sleep finish: the rest runs.
  EXPECT_EQ(sh("echo before; sleep 5; echo after; exit 4"), (R{4 << 8, "before\nafter\n"}));
  EXPECT_EQ(sh("sleep 1 && echo slept"), (R{0, "slept\n"}));
}

// TimePasses: a parked script finishes (its rest runs) and exits; the
// parent then reaps its status.
TEST(FakeKernelUserland, TimePassesFinishesAParkedScript) {
  FakeKernel k;
  std::vector<std::string> args = {"sh", "-c", "sleep 60; echo done-sleeping; exit 5"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  auto f = k.Open("/tmp/out", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_TRUE(f.ok());
  pid_t c = k.Clone(
                 [&]() -> int {
                   if (int e = k.Dup2(f.value, 1).err) return 100 + e;
                   return 100 + k.Execve("/bin/sh", argv.data(), nullptr).err;
                 },
                 SIGCHLD)
                .value;
  ASSERT_TRUE(k.Close(f.value).ok());
  // Deferred: it runs and parks in its sleep before time passes for it.
  EXPECT_FALSE(k.ProcessParked(c));
  EXPECT_TRUE(k.TimePasses(c));
  EXPECT_FALSE(k.ProcessParked(c));
  EXPECT_EQ(fktest::Read(k, "/tmp/out"), "done-sleeping\n");
  EXPECT_EQ(k.Waitpid(c, 0).value, 5 << 8);
  EXPECT_FALSE(k.TimePasses(k.RuntimePid())) << "the runtime itself never ends by time";
}

}  // namespace
}  // namespace faultline
