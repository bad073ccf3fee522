// The console relay and pty helpers on a real pty (openpty in this process:
// no privileges, nothing mounted), through LinuxSys.
#include <fcntl.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/container/console.h"
#include "runtime/sys/linux_sys.h"

namespace mydocker {
namespace {

using ::testing::HasSubstr;

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

TEST(Console, OpenPtyGivesAPairWithTheCallersWindowSize) {
  LinuxSys sys;
  int m = -1, s = -1;
  struct winsize want = {};
  want.ws_row = 33;
  want.ws_col = 97;
  ASSERT_EQ(::openpty(&m, &s, nullptr, nullptr, &want), 0) << strerror(errno);
  EXPECT_EQ(WindowSizeSource(sys, {-1, s}), s);

  auto pty = OpenPty(sys, s);
  ASSERT_TRUE(pty.ok()) << pty.error().Message();
  EXPECT_THAT(pty->slave_path, ::testing::StartsWith("/dev/pts/"));
  EXPECT_EQ(::fcntl(pty->master, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  EXPECT_EQ(::fcntl(pty->slave, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  struct winsize got = {};
  ASSERT_EQ(::ioctl(pty->slave, TIOCGWINSZ, &got), 0);
  EXPECT_EQ(got.ws_row, 33);
  EXPECT_EQ(got.ws_col, 97);
  // The pair is connected: the slave's output reaches the master.
  ASSERT_EQ(::write(pty->slave, "x", 1), 1);
  char c = 0;
  ASSERT_EQ(::read(pty->master, &c, 1), 1);
  EXPECT_EQ(c, 'x');
  for (int fd : {pty->master, pty->slave, m, s}) ::close(fd);
}

TEST(Console, NoTerminalNoSizeSourceAndRawModeIsANoOp) {
  LinuxSys sys;
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  EXPECT_EQ(WindowSizeSource(sys, {p[0], p[1]}), -1);
  RawMode raw = RawMode::Enter(sys, p[0]);
  EXPECT_FALSE(raw.active());
  ::close(p[0]);
  ::close(p[1]);
}

TEST(Console, RawModeIsRestoredWhenItGoesOutOfScope) {
  LinuxSys sys;
  int m = -1, s = -1;
  ASSERT_EQ(::openpty(&m, &s, nullptr, nullptr, nullptr), 0);
  struct termios before = {};
  ASSERT_EQ(::tcgetattr(s, &before), 0);
  ASSERT_TRUE(before.c_lflag & ICANON);
  {
    RawMode raw = RawMode::Enter(sys, s);
    EXPECT_TRUE(raw.active());
    struct termios now = {};
    ASSERT_EQ(::tcgetattr(s, &now), 0);
    EXPECT_FALSE(now.c_lflag & (ICANON | ECHO));
    RawMode moved = std::move(raw);  // the moved-from one restores nothing
    EXPECT_FALSE(raw.active());
    EXPECT_TRUE(moved.active());
  }
  struct termios after = {};
  ASSERT_EQ(::tcgetattr(s, &after), 0);
  EXPECT_EQ(after.c_lflag, before.c_lflag);
  EXPECT_EQ(after.c_iflag, before.c_iflag);
  EXPECT_EQ(after.c_oflag, before.c_oflag);
  ::close(m);
  ::close(s);
}

// The relay from a pipe (no terminal on stdin): input reaches the slave,
// the end of input becomes the terminal's EOF, the slave's output reaches
// out_fd, and the relay ends when the last slave holder closes it.
TEST(Console, RelayCopiesBothWaysAndEndsWhenTheSlaveCloses) {
  LinuxSys sys;
  auto pty = OpenPty(sys, -1);
  ASSERT_TRUE(pty.ok()) << pty.error().Message();
  int in[2], out[2];
  ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  ASSERT_EQ(::write(in[1], "ping\n", 5), 5);
  ::close(in[1]);  // then EOF

  // The "container": reads a line and the EOF from the slave, answers.
  std::thread container([slave = pty->slave] {
    struct termios t = {};
    ::tcgetattr(slave, &t);
    t.c_lflag &= ~ECHO;  // keep the expected output simple
    ::tcsetattr(slave, TCSANOW, &t);
    std::string got;
    char buf[64];
    for (;;) {
      ssize_t n = ::read(slave, buf, sizeof buf);  // canonical: a line, then 0 at ^D
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    std::string reply = "got:" + got + "eof\n";
    (void)!::write(slave, reply.data(), reply.size());
    ::close(slave);
  });

  RelaySpec spec;
  spec.master = pty->master;
  spec.in_fd = in[0];
  spec.out_fd = out[1];
  spec.forward_input = true;
  Outcome o = RelayConsole(sys, spec);
  container.join();
  EXPECT_TRUE(o.ok()) << o.error().Message();
  ::close(out[1]);
  // The pty turns "\n" into "\r\n" on output (onlcr).
  EXPECT_THAT(ReadAll(out[0]), HasSubstr("got:ping\r\neof"));
  for (int fd : {pty->master, in[0], out[0]}) ::close(fd);
}

// A reader that went away (closed pipe) does not end the relay early: the
// master is drained until the container's side closes.
TEST(Console, RelayKeepsDrainingWhenTheOutputIsGone) {
  LinuxSys sys;
  auto pty = OpenPty(sys, -1);
  ASSERT_TRUE(pty.ok()) << pty.error().Message();
  int out[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  ::close(out[0]);
  ASSERT_TRUE(sys.Signal(SIGPIPE, SignalDisposition::kIgnore).ok());
  std::thread container([slave = pty->slave] {
    std::string line(1000, 'y');
    line += "\n";
    for (int i = 0; i < 200; ++i) (void)!::write(slave, line.data(), line.size());
    ::close(slave);
  });
  RelaySpec spec;
  spec.master = pty->master;
  spec.out_fd = out[1];
  Outcome o = RelayConsole(sys, spec);
  container.join();
  EXPECT_TRUE(sys.Signal(SIGPIPE, SignalDisposition::kDefault).ok());
  EXPECT_TRUE(o.ok()) << o.error().Message();
  ::close(out[1]);
  ::close(pty->master);
}

}  // namespace
}  // namespace mydocker
