// PauseChannel across a fork: the child holds a call until the parent
// releases it, or until its bound passes; the env form.
#include "faults/pause_channel.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace faultline {
namespace {

struct Pipes {
  int notify[2] = {-1, -1};
  int release[2] = {-1, -1};
  Pipes() {
    EXPECT_EQ(::pipe2(notify, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(release, O_CLOEXEC), 0);
  }
  ~Pipes() {
    for (int fd : {notify[0], notify[1], release[0], release[1]}) {
      if (fd >= 0) ::close(fd);
    }
  }
};

// The child's exit status: 10 released, 20 bound passed; the marker file
// is written only after the hold.
TEST(PauseChannel, HoldsAcrossForkUntilReleased) {
  Pipes p;
  char dir[] = "/tmp/faultline-pause-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string marker = std::string(dir) + "/after";
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    PauseChannel ch(p.notify[1], p.release[0]);
    const bool released = ch.Hold({7, 101, "mount", 20000});
    int fd = ::open(marker.c_str(), O_CREAT | O_WRONLY, 0600);
    if (fd >= 0) ::close(fd);
    ::_exit(released ? 10 : 20);
  }
  ::close(p.notify[1]);
  p.notify[1] = -1;
  bool eof = true;
  auto note = WaitForPause(p.notify[0], 20000, &eof);
  ASSERT_TRUE(note.has_value());
  EXPECT_FALSE(eof);
  EXPECT_EQ(note->seq, 7u);
  EXPECT_EQ(note->pid, 101);
  EXPECT_STREQ(note->op, "mount");
  EXPECT_NE(::access(marker.c_str(), F_OK), 0);  // still held
  ASSERT_TRUE(ReleasePause(p.release[1]));
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 10);
  EXPECT_EQ(::access(marker.c_str(), F_OK), 0);
  // The writer is gone: the harness sees EOF, not a pause.
  EXPECT_FALSE(WaitForPause(p.notify[0], 20000, &eof).has_value());
  EXPECT_TRUE(eof);
  ::unlink(marker.c_str());
  ::rmdir(dir);
}

TEST(PauseChannel, BoundPassesWithoutRelease) {
  Pipes p;
  PauseChannel ch(p.notify[1], p.release[0]);
  EXPECT_FALSE(ch.Hold({1, 100, "rmdir", 1}));
  bool eof = true;
  auto note = WaitForPause(p.notify[0], 1000, &eof);
  ASSERT_TRUE(note.has_value());  // the note was sent all the same
  EXPECT_STREQ(note->op, "rmdir");
  // A closed release end also ends the hold.
  ::close(p.release[1]);
  p.release[1] = -1;
  EXPECT_FALSE(ch.Hold({2, 100, "rmdir", 20000}));
}

// The held process died before the release (a second actor killed it):
// the release reports it, and the harness gets no SIGPIPE.
TEST(PauseChannel, ReleaseAfterTheHolderIsGoneIsNoSigpipe) {
  Pipes p;
  ::close(p.release[0]);
  p.release[0] = -1;
  EXPECT_FALSE(ReleasePause(p.release[1]));
}

TEST(PauseChannel, FromEnv) {
  ::unsetenv(kPauseFdsEnv);
  EXPECT_FALSE(PauseChannel::FromEnv().has_value());
  ::setenv(kPauseFdsEnv, "5,9", 1);
  auto ch = PauseChannel::FromEnv();
  ASSERT_TRUE(ch.has_value());
  EXPECT_EQ(ch->notify_fd(), 5);
  EXPECT_EQ(ch->release_fd(), 9);
  ::setenv(kPauseFdsEnv, "5;9", 1);
  EXPECT_FALSE(PauseChannel::FromEnv().has_value());
  ::unsetenv(kPauseFdsEnv);
}

}  // namespace
}  // namespace faultline
