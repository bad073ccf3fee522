// Privileged end-to-end tests of the mydocker binary on the real kernel.
//
// Every test takes a probe snapshot before (PrivilegedTest fixture: private
// mount namespace, scratch root with busybox imported, per-run cgroup
// parent), runs mydocker, and ends with ExpectHostAsBefore: the host mount
// table, other namespaces' mounts naming the scratch dir, every path under
// the scratch dir (the image layer pruned, but checked byte for byte by its
// digest), the cgroup trees under the parent, leftover processes and the
// test's fds are exactly as before. Tests that look at a running container
// first prove the probes see it (mount, cgroups, processes, holders), so
// "nothing left" is not the probe being blind.
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <chrono>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness/probes/probes.h"
#include "runtime/rootfs/hardening.h"
#include "runtime/cgroups/cgroups.h"
#include "runtime/sys/fs_util.h"
#include "runtime/sys/mountinfo.h"
#include "tests/privileged/privileged_env.h"

namespace faultline {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

constexpr const char* kImage = PrivilegedEnv::kImage;

// Waits until pred() holds, up to timeout; returns the last pred().
bool WaitUntil(const std::function<bool()>& pred,
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::vector<std::string> Words(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

class MydockerRun : public PrivilegedTest {
 protected:
  void SetUp() override {
    PrivilegedTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    Refresh();
  }

  // Takes the reference snapshot (again, after a test prepared its dirs).
  void Refresh() {
    before_ = env().TakeSnapshot();
    ASSERT_THAT(before_.errors, IsEmpty());
  }

  CommandResult Run(const std::vector<std::string>& args) {
    std::vector<std::string> a = {"run"};
    a.insert(a.end(), args.begin(), args.end());
    return env().Mydocker(a);
  }

  ProbeDiff DiffOf(const Snapshot& now, const std::string& name) {
    for (auto& d : Compare(before_, now)) {
      if (d.probe == name) return d;
    }
    return ProbeDiff{name, {}, {}};
  }

  std::string ContainersDir() { return env().root() + "/containers"; }

  // Ids of the container directories present now.
  std::vector<std::string> ContainerIds() {
    std::vector<std::string> ids;
    auto entries = env().sys().ReadDir(ContainersDir());
    if (entries.ok()) {
      for (const auto& e : entries.value) ids.push_back(e.name);
    }
    return ids;
  }

  // A directory under the scratch dir (made before Refresh, removed by the
  // test), e.g. for a volume or a signal file.
  std::string MakeScratchDir(const std::string& name) {
    const std::string dir = env().scratch() + "/" + name;
    EXPECT_EQ(::mkdir(dir.c_str(), 0755), 0) << dir << ": " << strerror(errno);
    return dir;
  }

  // The cgroup directories mydocker makes for container id, one per
  // hierarchy it uses.
  std::set<std::string> CgroupDirsOf(const std::string& id) {
    std::set<std::string> dirs;
    auto layout = mydocker::DetectCgroupLayout(env().sys());
    EXPECT_TRUE(layout.ok());
    if (!layout) return dirs;
    const std::string rel = env().cgroup_parent() + "/" + id;
    if (layout->version == mydocker::CgroupVersion::kV2) {
      dirs.insert(mydocker::JoinPath(layout->unified, rel));
    } else {
      for (const auto& [controller, mount] : layout->v1_mounts) {
        dirs.insert(mydocker::JoinPath(mount, rel));
      }
    }
    return dirs;
  }

  Snapshot before_;
};

// What a mydocker run on a terminal of this test did.
struct TtyRun {
  int exit_code = -1;            // exit status, 128+signal, -1: not started/timed out
  std::string out;               // everything read from the terminal's master
  struct termios before = {}, after = {};  // the terminal's settings around the run
  std::string error;             // why it could not run
};

// Runs argv with the slave of a fresh pty pair (openpty, this process's) as
// its controlling terminal and fds 0-2, the window rows x cols; writes input
// to the master once started; reads the master until every slave holder is
// gone (EIO) or 30 s pass (then SIGKILLs it, only this pid); reaps it.
TtyRun RunOnPty(const std::vector<std::string>& argv, unsigned short rows, unsigned short cols,
                const std::string& input = "") {
  TtyRun r;
  int m = -1, s = -1;
  struct winsize ws = {};
  ws.ws_row = rows;
  ws.ws_col = cols;
  if (::openpty(&m, &s, nullptr, nullptr, &ws) != 0) {
    r.error = std::string("openpty: ") + strerror(errno);
    return r;
  }
  ::fcntl(m, F_SETFD, FD_CLOEXEC);
  ::fcntl(s, F_SETFD, FD_CLOEXEC);
  ::tcgetattr(s, &r.before);
  const std::string slave_path = ::ptsname(m);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::setsid() < 0 || ::ioctl(s, TIOCSCTTY, 0) != 0) ::_exit(120);
    for (int fd = 0; fd <= 2; ++fd) {
      if (::dup2(s, fd) < 0) ::_exit(121);
    }
    ::execv(args[0], args.data());
    ::_exit(122);
  }
  ::close(s);
  if (pid < 0) {
    r.error = std::string("fork: ") + strerror(errno);
    ::close(m);
    return r;
  }
  if (!input.empty() && ::write(m, input.data(), input.size()) != static_cast<ssize_t>(input.size())) {
    r.error = std::string("write input: ") + strerror(errno);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  char buf[4096];
  bool timed_out = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    struct pollfd pfd = {m, POLLIN, 0};
    int n = ::poll(&pfd, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    ssize_t got = ::read(m, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // EIO: no slave holder left
    r.out.append(buf, static_cast<size_t>(got));
  }
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!timed_out) {
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  } else {
    r.error += "timed out after 30 s";
  }
  // The terminal outlives its last slave holder while the master is open.
  int again = ::open(slave_path.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (again >= 0) {
    ::tcgetattr(again, &r.after);
    ::close(again);
  } else {
    r.error += " reopen " + slave_path + ": " + strerror(errno);
  }
  ::close(m);
  return r;
}

bool SameTermios(const struct termios& a, const struct termios& b) {
  return a.c_iflag == b.c_iflag && a.c_oflag == b.c_oflag && a.c_cflag == b.c_cflag &&
         a.c_lflag == b.c_lflag && std::memcmp(a.c_cc, b.c_cc, sizeof a.c_cc) == 0;
}

// Script for a container that does `work`, then waits for /sig/go (a file
// the test creates on the host through the volume) before exiting.
std::string WaitForGo(const std::string& work) {
  return work + "; while [ ! -e /sig/go ]; do sleep 0.02; done";
}

TEST_F(MydockerRun, TrueExitsZeroAndLeavesNothing) {
  CommandResult r = Run({kImage, "true"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  RecordProperty("run_true_seconds", std::to_string(r.seconds));
  std::printf("mydocker run true: %.3f s\n", r.seconds);
  ExpectHostAsBefore(before_, "run true");
}

TEST_F(MydockerRun, HostnameIsTheOneGiven) {
  CommandResult r = Run({"--hostname", "faultline-box", kImage, "hostname"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(r.out, "faultline-box\n");
  // /etc/hostname in the init layer agrees.
  r = Run({"--hostname", "faultline-box", kImage, "cat", "/etc/hostname"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.out, StartsWith("faultline-box"));
  ExpectHostAsBefore(before_, "run hostname");
}

TEST_F(MydockerRun, PsShowsTheCommandAsPid1AndOnlyContainerProcesses) {
  // The command alone: one process, PID 1, its own argv.
  CommandResult r = Run({kImage, "ps", "-o", "pid,ppid,args"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_EQ(Words(lines[1]), (std::vector<std::string>{"1", "0", "ps", "-o", "pid,ppid,args"}));

  // A shell with a background child: PID 1 is the shell, every other
  // process is its child; the host's hundreds of processes are not there.
  const std::string script = "sleep 30 & sleep 0.1; ps -o pid,ppid,comm; exit 0";
  r = Run({kImage, "sh", "-c", script});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;  // header, sh, sleep, ps
  std::multiset<std::string> comms;
  for (size_t i = 1; i < lines.size(); ++i) {
    auto w = Words(lines[i]);
    ASSERT_EQ(w.size(), 3u) << lines[i];
    if (w[0] == "1") {
      EXPECT_EQ(w[1], "0");
      EXPECT_EQ(w[2], "sh");
    } else {
      EXPECT_EQ(w[1], "1") << "not a child of the command: " << lines[i];
    }
    comms.insert(w[2]);
  }
  EXPECT_EQ(comms, (std::multiset<std::string>{"sh", "sleep", "ps"}));
  // The background sleep died with PID 1: the processes probe finds nothing.
  ExpectHostAsBefore(before_, "run ps");
}

TEST_F(MydockerRun, MountinfoShowsOverlayRootAndNoHostPaths) {
  CommandResult r = Run({kImage, "cat", "/proc/self/mountinfo"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  auto table = mydocker::ParseMountinfo(r.out);
  ASSERT_TRUE(table.ok()) << table.error().Message();
  // What a container may have mounted; anything else (an old root, a host
  // /tmp, /sys/fs/cgroup/...) is a leak of the host into the container.
  std::set<std::string> allowed = {"/",        "/proc",     "/sys",       "/dev",
                                   "/dev/pts", "/dev/shm",  "/dev/mqueue"};
  // docker's masked paths (a tmpfs or /dev/null over them) and read-only
  // paths (bound onto themselves), those that exist on this kernel.
  for (const char* p : mydocker::MaskedPaths()) allowed.insert(p);
  for (const char* p : mydocker::ReadonlyPaths()) allowed.insert(p);
  std::set<int> ids;
  for (const auto& m : *table) ids.insert(m.id);
  int roots = 0;
  for (const auto& m : *table) {
    SCOPED_TRACE(m.target + " " + m.fstype + " " + m.source + " root=" + m.root);
    EXPECT_TRUE(allowed.count(m.target)) << "unexpected mount point in the container";
    // No mount shows a host path as its point or root...
    EXPECT_THAT(m.target, Not(HasSubstr(env().scratch())));
    EXPECT_THAT(m.root, Not(HasSubstr(env().scratch())));
    if (m.target == "/") {
      ++roots;
      EXPECT_EQ(m.fstype, "overlay");
      // The old root is detached: "/" has no parent in this table.
      EXPECT_EQ(ids.count(m.parent), 0u) << "the root mount's parent is visible";
      // ...and only the overlay's own options name the scratch dir.
      EXPECT_THAT(m.super_options,
                  HasSubstr("upperdir=" + ContainersDir() + "/"));
    } else {
      EXPECT_THAT(m.super_options, Not(HasSubstr(env().scratch())));
      EXPECT_THAT(m.options, Not(HasSubstr(env().scratch())));
    }
  }
  EXPECT_EQ(roots, 1);
  std::set<std::string> targets;
  for (const auto& m : *table) targets.insert(m.target);
  EXPECT_TRUE(targets.count("/proc") && targets.count("/dev")) << r.out;
  ExpectHostAsBefore(before_, "run cat mountinfo");
}

TEST_F(MydockerRun, WritesGoToTheWriteLayerAndVanishAfterExit) {
  const std::string sig = MakeScratchDir("sig-write");
  Refresh();
  Spawned run = env().SpawnMydocker(
      {"run", "-v", sig + ":/sig", kImage, "sh", "-c", WaitForGo("echo hi > /hello")});
  ASSERT_TRUE(run.started());

  // The shell creates the file, then writes to it: wait for the content,
  // not only the name (CI once read the empty file in between).
  std::string id, upper_hello;
  ASSERT_TRUE(WaitUntil([&] {
    for (const auto& c : ContainerIds()) {
      std::string p = ContainersDir() + "/" + c + "/upper/hello";
      auto content = mydocker::ReadFile(env().sys(), p, "read upper");
      if (content.ok() && *content == "hi\n") {
        id = c;
        upper_hello = p;
        return true;
      }
    }
    return false;
  })) << "no <root>/containers/*/upper/hello with \"hi\\n\" appeared";
  const std::string dir = ContainersDir() + "/" + id;
  // The host sees it through the merged dir too (same mount namespace as
  // the mydocker that mounted it), and not in the image layer.
  auto merged = mydocker::ReadFile(env().sys(), dir + "/merged/hello", "read merged");
  EXPECT_TRUE(merged.ok() && *merged == "hi\n");
  EXPECT_FALSE(mydocker::Exists(env().sys(), env().image_rootfs() + "/hello"));

  // The probes see the running container.
  Snapshot during = env().TakeSnapshot();
  EXPECT_THAT(during.errors, IsEmpty());
  EXPECT_THAT(DiffOf(during, "mounts").appeared, Contains(dir + "/merged overlay overlay"));
  EXPECT_THAT(DiffOf(during, "dirs").appeared, Contains(upper_hello));
  EXPECT_THAT(DiffOf(during, "processes").appeared,
              Contains(std::to_string(run.pid()) + " mydocker"));
  EXPECT_THAT(DiffOf(during, "holders").appeared, Contains(HasSubstr(" / overlay overlay")));

  ASSERT_EQ(::close(::open((sig + "/go").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644)), 0);
  CommandResult r = run.Wait(std::chrono::seconds(20));
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_FALSE(mydocker::Exists(env().sys(), upper_hello));
  EXPECT_FALSE(mydocker::Exists(env().sys(), dir));
  ASSERT_EQ(::unlink((sig + "/go").c_str()), 0);
  ExpectHostAsBefore(before_, "run with a write");
  ASSERT_EQ(::rmdir(sig.c_str()), 0);
}

TEST_F(MydockerRun, CgroupIsVisibleWithItsLimitsWhileRunningAndGoneAfter) {
  const std::string sig = MakeScratchDir("sig-cgroup");
  Refresh();
  Spawned run = env().SpawnMydocker({"run", "-m", "32m", "--pids-limit", "20", "-v",
                                     sig + ":/sig", kImage, "sh", "-c", WaitForGo("true")});
  ASSERT_TRUE(run.started());
  std::string id;
  ASSERT_TRUE(WaitUntil([&] {
    auto ids = ContainerIds();
    if (ids.size() != 1) return false;
    id = ids[0];
    auto state = mydocker::ReadFile(env().sys(), ContainersDir() + "/" + id + "/state.json", "");
    if (!state.ok() || state->find("\"running\"") == std::string::npos) return false;
    // "running" is recorded before the command is sent: wait for the exec
    // too, so the processes probe below sees sh, not the init before exec.
    auto j = nlohmann::json::parse(*state, nullptr, false);
    int pid = j.is_object() ? j.value("pid", 0) : 0;
    auto comm = mydocker::ReadFile(env().sys(), "/proc/" + std::to_string(pid) + "/comm", "");
    return pid > 0 && comm.ok() && *comm == "sh\n";
  })) << "the container never reached running";

  const std::set<std::string> expected = CgroupDirsOf(id);
  ASSERT_FALSE(expected.empty());
  Snapshot during = env().TakeSnapshot();
  EXPECT_THAT(during.errors, IsEmpty());
  auto cg = DiffOf(during, "cgroups");
  EXPECT_EQ(std::set<std::string>(cg.appeared.begin(), cg.appeared.end()), expected);
  EXPECT_THAT(cg.vanished, IsEmpty());
  // The container's processes are found by their cgroup.
  EXPECT_THAT(DiffOf(during, "processes").appeared, Contains(HasSubstr(" sh")));
  for (const auto& d : expected) {
    if (d.find("/memory/") != std::string::npos) {
      auto v = mydocker::ReadFile(env().sys(), d + "/memory.limit_in_bytes", "read");
      EXPECT_TRUE(v.ok() && *v == "33554432\n") << d;
    }
    if (d.find("/pids/") != std::string::npos) {
      auto v = mydocker::ReadFile(env().sys(), d + "/pids.max", "read");
      EXPECT_TRUE(v.ok() && *v == "20\n") << d;
    }
  }

  ASSERT_EQ(::close(::open((sig + "/go").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644)), 0);
  CommandResult r = run.Wait(std::chrono::seconds(20));
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  for (const auto& d : expected) EXPECT_FALSE(mydocker::Exists(env().sys(), d)) << d;
  ASSERT_EQ(::unlink((sig + "/go").c_str()), 0);
  ExpectHostAsBefore(before_, "run with limits");
  ASSERT_EQ(::rmdir(sig.c_str()), 0);
}

TEST_F(MydockerRun, MemoryLimitOomKillsTheCommand) {
  // dd's 64 MiB buffer is filled from /dev/zero: 64 MiB resident.
  const std::vector<std::string> dd = {kImage, "dd", "if=/dev/zero", "of=/dev/null", "bs=64M",
                                       "count=1"};
  // Control: without a limit it completes (so 137 below is the limit's).
  CommandResult free_run = Run(dd);
  EXPECT_EQ(free_run.exit_code, 0) << free_run.Describe();
  std::vector<std::string> limited = {"-m", "32m"};
  limited.insert(limited.end(), dd.begin(), dd.end());
  CommandResult r = Run(limited);
  EXPECT_EQ(r.exit_code, 137) << r.Describe();  // 128 + SIGKILL
  ExpectHostAsBefore(before_, "OOM kill");
}

TEST_F(MydockerRun, PidsLimitStopsAForkLoop) {
  // Counts the container's processes with shell builtins only (no fork),
  // from the EXIT trap, which runs even when a fork failure ends the shell.
  const std::string script =
      "trap 'n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo procs=$n' EXIT; "
      "for i in $(seq 30); do sleep 1 & done";
  // Control: without a limit all 30 start (sh + 30).
  CommandResult free_run = Run({kImage, "sh", "-c", script});
  EXPECT_EQ(free_run.exit_code, 0) << free_run.Describe();
  EXPECT_EQ(free_run.out, "procs=31\n");

  CommandResult r = Run({"--pids-limit", "10", kImage, "sh", "-c", script});
  EXPECT_NE(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("can't fork"));
  ASSERT_THAT(r.out, StartsWith("procs="));
  int procs = std::atoi(r.out.c_str() + 6);
  EXPECT_LE(procs, 10) << r.out;
  EXPECT_GE(procs, 2) << r.out;  // the loop did start some
  EXPECT_LT(r.seconds, 5.0);
  ExpectHostAsBefore(before_, "pids limit");
}

TEST_F(MydockerRun, VolumeRoundTrip) {
  const std::string vol = MakeScratchDir("vol");
  ASSERT_TRUE(mydocker::WriteFile(env().sys(), vol + "/keep", "kept\n", 0640, "seed").ok());
  Refresh();

  CommandResult r = Run({"-v", vol + ":/data", kImage, "sh", "-c",
                         "cat /data/keep && echo x > /data/x && grep ' /data ' /proc/self/mountinfo"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.out, StartsWith("kept\n"));
  EXPECT_THAT(r.out, HasSubstr(" /data "));  // it was a mount inside
  auto x = mydocker::ReadFile(env().sys(), vol + "/x", "read x");
  EXPECT_TRUE(x.ok() && *x == "x\n");
  auto keep = mydocker::ReadFile(env().sys(), vol + "/keep", "read keep");
  EXPECT_TRUE(keep.ok() && *keep == "kept\n");
  auto st = env().sys().Lstat(vol + "/keep");
  EXPECT_EQ(st.value.mode & 07777, 0640u);
  // Exactly one thing changed on the host: the file the container wrote.
  // No mount, holder, cgroup or process is left.
  auto diffs = Compare(before_, env().TakeSnapshot());
  ASSERT_EQ(diffs.size(), 1u) << Describe(diffs);
  EXPECT_EQ(diffs[0].probe, "dirs");
  EXPECT_EQ(diffs[0].appeared, std::vector<std::string>{vol + "/x"});
  EXPECT_THAT(diffs[0].vanished, IsEmpty());

  // Read-only: the write is refused and nothing appears.
  r = Run({"-v", vol + ":/data:ro", kImage, "sh", "-c", "echo y > /data/y"});
  EXPECT_NE(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("Read-only file system"));
  EXPECT_FALSE(mydocker::Exists(env().sys(), vol + "/y"));

  ASSERT_EQ(::unlink((vol + "/x").c_str()), 0);
  ExpectHostAsBefore(before_, "volume runs");
  ASSERT_EQ(::unlink((vol + "/keep").c_str()), 0);
  ASSERT_EQ(::rmdir(vol.c_str()), 0);
}

TEST_F(MydockerRun, ExitStatusOfTheCommand) {
  CommandResult r = Run({kImage, "sh", "-c", "exit 7"});
  EXPECT_EQ(r.exit_code, 7) << r.Describe();
  ExpectHostAsBefore(before_, "exit 7");

  r = Run({kImage, "no-such-command"});
  EXPECT_EQ(r.exit_code, 127) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("no-such-command"));
  EXPECT_THAT(r.err, HasSubstr("ENOENT"));
  ExpectHostAsBefore(before_, "missing command");

  r = Run({kImage, "/etc/passwd"});
  EXPECT_EQ(r.exit_code, 126) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("/etc/passwd"));
  EXPECT_THAT(r.err, HasSubstr("EACCES"));
  ExpectHostAsBefore(before_, "not executable");

}

TEST_F(MydockerRun, ContainerKilledFromTheHostGives128PlusSignal) {
  // PID 1 of a pid namespace ignores signals it has no handler for when they
  // come from inside, so the kill comes from the host: SIGKILL to the
  // container's init (started by this test), read from state.json.
  Spawned run = env().SpawnMydocker({"run", kImage, "sleep", "30"});
  ASSERT_TRUE(run.started());
  pid_t init = 0;
  ASSERT_TRUE(WaitUntil([&] {
    auto ids = ContainerIds();
    if (ids.size() != 1) return false;
    auto text = mydocker::ReadFile(env().sys(), ContainersDir() + "/" + ids[0] + "/state.json", "");
    if (!text.ok() || text->find("\"running\"") == std::string::npos) return false;
    auto j = nlohmann::json::parse(*text, nullptr, false);
    init = j.is_object() ? j.value("pid", 0) : 0;
    return init > 0;
  })) << "the container never reached running";
  ASSERT_EQ(::kill(init, SIGKILL), 0);
  CommandResult r = run.Wait(std::chrono::seconds(10));
  EXPECT_EQ(r.exit_code, 128 + SIGKILL) << r.Describe();
  ExpectHostAsBefore(before_, "container killed from the host");
}

TEST_F(MydockerRun, GcCleansUpAfterAKilledRun) {
  Spawned run = env().SpawnMydocker({"run", kImage, "sleep", "30"});
  ASSERT_TRUE(run.started());
  std::string id;
  ASSERT_TRUE(WaitUntil([&] {
    auto ids = ContainerIds();
    if (ids.size() != 1) return false;
    id = ids[0];
    auto state = mydocker::ReadFile(env().sys(), ContainersDir() + "/" + id + "/state.json", "");
    return state.ok() && state->find("\"running\"") != std::string::npos;
  })) << "the container never reached running";

  // A crash of the runtime: SIGKILL to the mydocker we started.
  ASSERT_EQ(::kill(run.pid(), SIGKILL), 0);
  CommandResult killed = run.Wait(std::chrono::seconds(10));
  EXPECT_EQ(killed.exit_code, 128 + SIGKILL) << killed.Describe();

  // It left its container behind: the probes see the leftovers gc must fix.
  Snapshot left = env().TakeSnapshot();
  EXPECT_THAT(DiffOf(left, "dirs").appeared, Contains(ContainersDir() + "/" + id));
  EXPECT_THAT(DiffOf(left, "mounts").appeared,
              Contains(ContainersDir() + "/" + id + "/merged overlay overlay"));
  auto cg = DiffOf(left, "cgroups").appeared;
  EXPECT_EQ(std::set<std::string>(cg.begin(), cg.end()), CgroupDirsOf(id));

  CommandResult gc = env().Mydocker({"gc"});
  EXPECT_EQ(gc.exit_code, 0) << gc.Describe();
  RecordProperty("gc_seconds", std::to_string(gc.seconds));
  std::printf("mydocker gc after a killed run: %.3f s\n", gc.seconds);
  EXPECT_EQ(gc.out, "removed " + id + "\n");
  ExpectHostAsBefore(before_, "gc after a killed run");

  // A second gc finds nothing to do.
  gc = env().Mydocker({"gc"});
  EXPECT_EQ(gc.exit_code, 0) << gc.Describe();
  EXPECT_EQ(gc.out, "");
}

// --state on a tmpfs (as runc's /run/runc): the container's state and its
// workspace (write layer, overlay) live there, the image stays under --root;
// ps and gc see the container only with the same --state; nothing is left
// under either.
TEST_F(MydockerRun, StateRootOnATmpfsHoldsTheContainerAndGcNeedsIt) {
  // The fixture runs in a private mount namespace: this tmpfs is invisible
  // to the host and detached below.
  const std::string state = MakeScratchDir("state");
  ASSERT_EQ(::mount("tmpfs", state.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700"), 0)
      << state << ": " << strerror(errno);
  // containers/ as a first run leaves it (the snapshot's reference state).
  const std::string containers = state + "/containers";
  ASSERT_EQ(::mkdir(containers.c_str(), 0700), 0) << strerror(errno);
  const std::string sig = MakeScratchDir("sig-state");
  Refresh();
  auto state_ids = [&] {
    std::vector<std::string> ids;
    auto entries = env().sys().ReadDir(containers);
    if (entries.ok()) {
      for (const auto& e : entries.value) ids.push_back(e.name);
    }
    return ids;
  };
  auto wait_running = [&](std::string* id) {
    return WaitUntil([&] {
      auto ids = state_ids();
      if (ids.size() != 1) return false;
      *id = ids[0];
      auto text = mydocker::ReadFile(env().sys(), containers + "/" + *id + "/state.json", "");
      return text.ok() && text->find("\"running\"") != std::string::npos;
    });
  };

  // 1. A run that ends by itself.
  Spawned run = env().SpawnMydocker({"--state", state, "run", "-v", sig + ":/sig", kImage,
                                     "sh", "-c", WaitForGo("echo hi > /hello")});
  ASSERT_TRUE(run.started());
  std::string id;
  ASSERT_TRUE(wait_running(&id)) << "no running container under " << containers;
  const std::string dir = containers + "/" + id;
  EXPECT_TRUE(ContainerIds().empty()) << "a container directory under --root";
  Snapshot during = env().TakeSnapshot();
  EXPECT_THAT(during.errors, IsEmpty());
  EXPECT_THAT(DiffOf(during, "mounts").appeared, Contains(dir + "/merged overlay overlay"));
  EXPECT_TRUE(WaitUntil([&] { return mydocker::Exists(env().sys(), dir + "/upper/hello"); }));
  CommandResult ps = env().Mydocker({"--state", state, "ps"});
  EXPECT_EQ(ps.exit_code, 0) << ps.Describe();
  EXPECT_THAT(ps.out, HasSubstr(id));
  ps = env().Mydocker({"ps", "-a"});
  EXPECT_EQ(ps.exit_code, 0) << ps.Describe();
  EXPECT_THAT(ps.out, Not(HasSubstr(id))) << "ps without --state looked in the state root";
  ASSERT_EQ(::close(::open((sig + "/go").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644)), 0);
  CommandResult r = run.Wait(std::chrono::seconds(20));
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_TRUE(state_ids().empty());
  ASSERT_EQ(::unlink((sig + "/go").c_str()), 0);

  // 2. A killed run: gc without --state leaves it, gc with it removes it.
  Spawned killed = env().SpawnMydocker({"--state", state, "run", kImage, "sleep", "30"});
  ASSERT_TRUE(killed.started());
  ASSERT_TRUE(wait_running(&id)) << "no running container under " << containers;
  ASSERT_EQ(::kill(killed.pid(), SIGKILL), 0);
  CommandResult k = killed.Wait(std::chrono::seconds(10));
  EXPECT_EQ(k.exit_code, 128 + SIGKILL) << k.Describe();
  CommandResult gc = env().Mydocker({"gc"});
  EXPECT_EQ(gc.exit_code, 0) << gc.Describe();
  EXPECT_EQ(gc.out, "");
  gc = env().Mydocker({"--state", state, "gc"});
  EXPECT_EQ(gc.exit_code, 0) << gc.Describe();
  EXPECT_EQ(gc.out, "removed " + id + "\n");
  EXPECT_TRUE(state_ids().empty());
  ExpectHostAsBefore(before_, "runs with --state on a tmpfs");
  ASSERT_EQ(::rmdir(sig.c_str()), 0);
  ASSERT_EQ(::rmdir(containers.c_str()), 0) << strerror(errno);
  ASSERT_EQ(::umount2(state.c_str(), MNT_DETACH), 0) << strerror(errno);
  ASSERT_EQ(::rmdir(state.c_str()), 0);
}

// -t: the container's stdio is a pty of its own, so `tty` names a terminal
// (/dev/console, the bind of the slave, or /dev/pts/N) and `stty size`
// shows the caller's window size; the caller's terminal is left as it was.
TEST_F(MydockerRun, TtyGivesTheCommandATerminalWithTheCallersSize) {
  TtyRun r = RunOnPty(env().MydockerArgv({"run", "-t", kImage, "sh", "-c", "tty; stty size"}),
                      37, 111);
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  // Each "\n" gets a "\r" from the container's pty and one more from this
  // test's (not in raw mode without -i), as on a real terminal.
  EXPECT_THAT(r.out, ::testing::ContainsRegex("(/dev/console|/dev/pts/[0-9]+)\r*\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("not a tty")));
  EXPECT_THAT(r.out, HasSubstr("37 111"));
  EXPECT_TRUE(SameTermios(r.before, r.after)) << "the caller's terminal was changed";
  ExpectHostAsBefore(before_, "run -t tty");
}

// -it: the caller's keys reach the container's shell through the relay (the
// caller's terminal in raw mode meanwhile), and its settings come back on a
// normal exit and on a failed exec.
TEST_F(MydockerRun, InteractiveTtyRelaysInputAndRestoresTheTerminal) {
  TtyRun r = RunOnPty(env().MydockerArgv({"run", "-i", "-t", kImage, "sh"}), 24, 80,
                      "echo in-$((6*7))-side; exit 3\n");
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.exit_code, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("in-42-side"));
  EXPECT_TRUE(SameTermios(r.before, r.after)) << "raw mode left on the caller's terminal";
  ExpectHostAsBefore(before_, "run -it sh");

  r = RunOnPty(env().MydockerArgv({"run", "-i", "-t", kImage, "no-such-command"}), 24, 80);
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.exit_code, 127) << r.out;
  EXPECT_THAT(r.out, HasSubstr("no-such-command"));
  EXPECT_TRUE(SameTermios(r.before, r.after)) << "raw mode left after a failed exec";
  ExpectHostAsBefore(before_, "run -it with a missing command");
}

// -t without a terminal anywhere (stdin /dev/null or a pipe, stdout a pipe):
// the container still gets a pty; its output is relayed to the pipe.
TEST_F(MydockerRun, TtyWorksWithoutACallerTerminal) {
  // (No caller terminal: the pty keeps the size 0x0, which busybox's
  // `stty size` refuses; `tty` is the check here.)
  CommandResult r = Run({"-t", kImage, "tty"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.out, ::testing::ContainsRegex("(/dev/console|/dev/pts/[0-9]+)"));
  EXPECT_THAT(r.out, Not(HasSubstr("not a tty")));
  ExpectHostAsBefore(before_, "run -t without a terminal");

  // -it with input from a pipe: relayed, and its end is the terminal's EOF.
  int in[2];
  ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
  const std::string input = "echo piped-$((2+3)); exit 4\n";
  ASSERT_EQ(::write(in[1], input.data(), input.size()), static_cast<ssize_t>(input.size()));
  ::close(in[1]);
  const auto argv = env().MydockerArgv({"run", "-i", "-t", kImage, "sh"});
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int out[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::dup2(in[0], 0) < 0 || ::dup2(out[1], 1) < 0 || ::dup2(out[1], 2) < 0) ::_exit(121);
    ::execv(args[0], args.data());
    ::_exit(122);
  }
  ASSERT_GT(pid, 0);
  ::close(in[0]);
  ::close(out[1]);
  std::string got;
  char buf[4096];
  for (;;) {
    struct pollfd pfd = {out[0], POLLIN, 0};
    int n = ::poll(&pfd, 1, 30000);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      ::kill(pid, SIGKILL);
      ADD_FAILURE() << "no end of output after 30 s: " << got;
      break;
    }
    ssize_t k = ::read(out[0], buf, sizeof buf);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got.append(buf, static_cast<size_t>(k));
  }
  ::close(out[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 4) << got;
  EXPECT_THAT(got, HasSubstr("piped-5"));
  ExpectHostAsBefore(before_, "run -it from a pipe");
}

}  // namespace
}  // namespace faultline
