// The supervisor's per-thread root cache against this process and children
// it forks (no privilege needed).
#include "harness/seccomp/root_cache.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "harness/seccomp/remote.h"

namespace faultline::seccomp {
namespace {

// A child that waits to be killed; KillAndReap ends it.
pid_t SleepingChild() {
  pid_t pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  return pid;
}

void KillAndReap(pid_t pid) {
  kill(pid, SIGKILL);
  int st;
  waitpid(pid, &st, 0);
}

TEST(SeccompRootCache, SecondLookupComesFromTheCache) {
  RootCache cache;
  pid_t self = gettid();
  std::string want = ReadProcLink(self, "root");
  ASSERT_FALSE(want.empty());
  EXPECT_EQ(cache.Get(self), want);
  EXPECT_EQ(cache.Get(self), want);
  EXPECT_EQ(cache.reads(), 1u);
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(SeccompRootCache, DeadThreadIsNeverServedFromTheCache) {
  RootCache cache;
  pid_t child = SleepingChild();
  ASSERT_GT(child, 0);
  EXPECT_EQ(cache.Get(child), ReadProcLink(getpid(), "root"));
  KillAndReap(child);
  // The tid is free now (and could be recycled): the entry must not answer.
  EXPECT_EQ(cache.Get(child), "");
  EXPECT_EQ(cache.hits(), 0u);
  EXPECT_EQ(cache.reads(), 2u);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(SeccompRootCache, RootChangeBypassesUntilTheThreadsNextCall) {
  RootCache cache;
  pid_t self = gettid();
  pid_t other = 1;  // any other tid
  cache.Get(self);
  cache.OnRootChange(self);
  EXPECT_EQ(cache.size(), 0u) << "a root change drops every entry";
  cache.Get(self);
  cache.Get(self);
  EXPECT_EQ(cache.reads(), 3u) << "bypassed while the change is in flight";
  EXPECT_EQ(cache.hits(), 0u);
  cache.OnCall(other);  // someone else's call proves nothing
  cache.Get(self);
  EXPECT_EQ(cache.reads(), 4u);
  cache.OnCall(self);  // the changing thread's next call: the change is over
  cache.Get(self);
  cache.Get(self);
  EXPECT_EQ(cache.reads(), 5u);
  EXPECT_EQ(cache.hits(), 1u);
}

TEST(SeccompRootCache, RootChangeEndsWhenTheThreadExits) {
  RootCache cache;
  pid_t self = gettid();
  pid_t child = SleepingChild();
  ASSERT_GT(child, 0);
  cache.OnRootChange(child);
  cache.Get(self);
  cache.Get(self);
  EXPECT_EQ(cache.reads(), 2u);
  KillAndReap(child);
  cache.Get(self);
  cache.Get(self);
  EXPECT_EQ(cache.reads(), 3u);
  EXPECT_EQ(cache.hits(), 1u);
}

TEST(SeccompRootCache, PidfdSeesExit) {
  pid_t child = SleepingChild();
  ASSERT_GT(child, 0);
  int fd = OpenThreadPidfd(child);
  ASSERT_GE(fd, 0);
  EXPECT_FALSE(PidfdExited(fd));
  KillAndReap(child);
  EXPECT_TRUE(PidfdExited(fd));
  close(fd);
}

}  // namespace
}  // namespace faultline::seccomp
