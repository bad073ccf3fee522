// Remote reads and the tree killer against this very process and children
// it forks (no privilege needed: a process may read itself).
#include "harness/seccomp/remote.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "harness/seccomp/filter.h"

namespace faultline::seccomp {
namespace {

TEST(SeccompRemote, StringEndingAtAPageEdgeBeforeAnUnmappedPage) {
  long page = sysconf(_SC_PAGESIZE);
  char* mem = static_cast<char*>(mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(mem, MAP_FAILED);
  ASSERT_EQ(mprotect(mem + page, page, PROT_NONE), 0);
  // "abc\0" occupying the last 4 bytes of the readable page.
  char* s = mem + page - 4;
  std::memcpy(s, "abc", 4);
  std::string out;
  EXPECT_EQ(ReadRemoteString(getpid(), reinterpret_cast<uint64_t>(s), 4096, &out), 0);
  EXPECT_EQ(out, "abc");
  // Without its NUL the string runs into the hole: EFAULT, not garbage.
  std::memset(mem + page - 4, 'x', 4);
  EXPECT_EQ(ReadRemoteString(getpid(), reinterpret_cast<uint64_t>(s), 4096, &out),
            EFAULT);
  munmap(mem, 2 * page);
}

TEST(SeccompRemote, LongStringsAcrossPagesAndTheLimit) {
  std::string big(10000, 'p');
  std::string out;
  EXPECT_EQ(ReadRemoteString(getpid(), reinterpret_cast<uint64_t>(big.c_str()),
                             20000, &out), 0);
  EXPECT_EQ(out, big);
  EXPECT_EQ(ReadRemoteString(getpid(), reinterpret_cast<uint64_t>(big.c_str()),
                             100, &out), ENAMETOOLONG);
  EXPECT_EQ(out.size(), 100u);
  std::string exact(100, 'q');
  EXPECT_EQ(ReadRemoteString(getpid(), reinterpret_cast<uint64_t>(exact.c_str()),
                             100, &out), 0);
  EXPECT_EQ(ReadRemoteString(getpid(), 0, 100, &out), EFAULT);
}

TEST(SeccompRemote, ProcLinksAndParents) {
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  EXPECT_EQ(ReadProcLink(getpid(), "cwd"), cwd);
  EXPECT_EQ(ReadProcLink(getpid(), "root"), "/");
  EXPECT_EQ(ParentOf(getpid()), getppid());
  EXPECT_EQ(ReadProcLink(-5, "cwd"), "");
}

TEST(SeccompRemote, KillDescendantsTakesTheWholeSubtreeOnly) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  pid_t middle = fork();
  ASSERT_GE(middle, 0);
  if (middle == 0) {
    // middle -> child -> grandchild, all paused; middle reaps what dies.
    pid_t child = fork();
    if (child == 0) {
      pid_t grand = fork();
      if (grand == 0) {
        pause();
        _exit(0);
      }
      (void)!write(p[1], &grand, sizeof(grand));
      pause();
      _exit(0);
    }
    (void)!write(p[1], &child, sizeof(child));
    while (wait(nullptr) > 0 || errno == EINTR) {
    }
    pause();
    _exit(0);
  }
  pid_t a = 0, b = 0;
  ASSERT_EQ(read(p[0], &a, sizeof(a)), static_cast<ssize_t>(sizeof(a)));
  ASSERT_EQ(read(p[0], &b, sizeof(b)), static_cast<ssize_t>(sizeof(b)));
  // Pin both while they surely live, so cleanup never signals a stranger.
  int pin_a = static_cast<int>(syscall(SYS_pidfd_open, a, 0));
  int pin_b = static_cast<int>(syscall(SYS_pidfd_open, b, 0));
  ASSERT_GE(pin_a, 0);
  ASSERT_GE(pin_b, 0);
  pid_t killed[8];
  EXPECT_EQ(KillDescendants(middle, killed, 8), 2);
  EXPECT_TRUE((killed[0] == a && killed[1] == b) || (killed[0] == b && killed[1] == a));
  EXPECT_EQ(kill(middle, 0), 0) << "the root itself is spared";
  EXPECT_EQ(KillDescendants(middle, nullptr, 0), 0) << "nothing left to kill";
  // Cleanup even when the expectations failed.
  syscall(SYS_pidfd_send_signal, pin_a, SIGKILL, nullptr, 0);
  syscall(SYS_pidfd_send_signal, pin_b, SIGKILL, nullptr, 0);
  close(pin_a);
  close(pin_b);
  kill(middle, SIGKILL);
  int st;
  waitpid(middle, &st, 0);
  close(p[0]);
  close(p[1]);
}

TEST(SeccompFilter, BuildsAProgramAndNamesUnknownSyscalls) {
  auto prog = BuildNotifyFilter({"mkdir", "mount", "clone3"});
  ASSERT_TRUE(prog.ok()) << prog.error().Message();
  EXPECT_GT(prog->size(), 5u);
  auto bad = BuildNotifyFilter({"mkdir", "no_such_call"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().path, "no_such_call");
  EXPECT_EQ(bad.error().err, EINVAL);
}

TEST(SeccompFilter, LoadedFilterGivesAListenerInAChild) {
  auto prog = BuildNotifyFilter({"mkdir"});
  ASSERT_TRUE(prog.ok());
  sock_fprog fprog{static_cast<unsigned short>(prog->size()), prog->data()};
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    LoadResult r = LoadNotifyFilter(&fprog, true);
    // A second listener on the same chain is refused.
    LoadResult again = LoadNotifyFilter(&fprog, false);
    _exit(r.fd >= 0 && again.fd < 0 && again.err == EBUSY ? 0 : 1);
  }
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
}

}  // namespace
}  // namespace faultline::seccomp
