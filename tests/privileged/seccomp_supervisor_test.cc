// The seccomp supervisor on the real kernel, as root: trace, fail, lie,
// kill, delay, one sequence across a process tree, mount in a private mount
// namespace, runc (static Go) and crun (C), the restart accounting, and a
// target's own listener getting EBUSY.
//
// The test binary doubles as a tiny target: with FAULTLINE_SECCOMP_HELPER set
// it runs the helper below instead of the tests.
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "faults/pause_channel.h"
#include "harness/seccomp/supervisor.h"

namespace {

volatile sig_atomic_t g_signals = 0;
void CountSignal(int) { g_signals = g_signals + 1; }

// Helper modes, run in a supervised child (see the tests that use them).
int RunHelper(const std::string& mode) {
  if (mode == "restart") {
    // A mkdir that a signal interrupts while the supervisor holds it.
    struct sigaction sa {};
    sa.sa_handler = CountSignal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, nullptr);
    const char* dir = std::getenv("FAULTLINE_SECCOMP_DIR");
    int rc = mkdir(dir, 0755);
    std::printf("mkdir=%d signals=%d\n", rc, static_cast<int>(g_signals));
    return rc == 0 ? 0 : 1;
  }
  if (mode == "nested") {
    // Installs its own listener filter: the kernel allows one per chain.
    sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    sock_fprog prog{1, &allow};
    long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                      SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    std::printf("seccomp=%ld errno=%s\n", fd, fd < 0 ? strerrorname_np(errno) : "0");
    return fd < 0 ? 3 : 0;
  }
  if (mode == "getppid") {
    for (int i = 0; i < 1000; ++i) syscall(SYS_getppid);
    return 0;
  }
  return 2;
}

// Runs before main when the binary is a helper.
const bool g_helper = [] {
  const char* mode = std::getenv("FAULTLINE_SECCOMP_HELPER");
  if (mode != nullptr) {
    std::fflush(stdout);
    int rc = RunHelper(mode);
    std::fflush(stdout);
    _exit(rc);
  }
  return false;
}();

using faultline::seccomp::CallOutcome;
using faultline::seccomp::RunSupervised;
using faultline::seccomp::SupervisorOptions;
using faultline::seccomp::SupervisorResult;
using faultline::seccomp::SyscallEvent;
using faultline::seccomp::TraceEntry;
using faultline::seccomp::Verdict;
using ::testing::HasSubstr;

std::string SelfExe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf));
  return n > 0 ? std::string(buf, n) : std::string();
}

bool KernelAtLeast(int major, int minor) {
  utsname u{};
  uname(&u);
  int ma = 0, mi = 0;
  std::sscanf(u.release, "%d.%d", &ma, &mi);
  return ma > major || (ma == major && mi >= minor);
}

bool IsMkdir(const SyscallEvent& e) { return e.name == "mkdir" || e.name == "mkdirat"; }
bool IsRmdir(const SyscallEvent& e) {
  return e.name == "rmdir" || (e.name == "unlinkat" && (e.flags & AT_REMOVEDIR));
}

class SeccompSupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    char tmpl[] = "/tmp/faultline-seccomp-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    scratch_ = tmpl;
    out_path_ = scratch_ + "/.out";
    err_path_ = scratch_ + "/.err";
  }
  void TearDown() override {
    if (scratch_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(scratch_, ec);
    EXPECT_FALSE(std::filesystem::exists(scratch_)) << scratch_;
  }

  // Runs argv in scratch_ with stdout/stderr captured.
  SupervisorResult Run(std::vector<std::string> argv,
                       const faultline::seccomp::Decider& decide,
                       SupervisorOptions opts = {}) {
    int out = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    opts.argv = std::move(argv);
    opts.cwd = scratch_;
    opts.stdout_fd = out;
    opts.stderr_fd = err;
    if (opts.timeout.count() == 0) opts.timeout = std::chrono::seconds(30);
    auto r = RunSupervised(opts, decide);
    close(out);
    close(err);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().Message());
    if (!r.ok()) return {};
    for (const TraceEntry& e : r->trace) {
      trace_text_ += faultline::seccomp::FormatTraceEntry(e) + "\n";
    }
    if (std::getenv("FAULTLINE_SECCOMP_VERBOSE") != nullptr) {
      std::printf("%s: %llu calls, %llu restarts\n%s", opts.argv[0].c_str(),
                  static_cast<unsigned long long>(r->calls),
                  static_cast<unsigned long long>(r->restarts), trace_text_.c_str());
    }
    return std::move(*r);
  }
  std::string Slurp(const std::string& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  std::string Out() { return Slurp(out_path_); }
  std::string Err() { return Slurp(err_path_); }

  std::string scratch_, out_path_, err_path_;
  std::string trace_text_;  // for failure messages
};

Verdict Record(const SyscallEvent&) { return Verdict::Continue(); }

TEST_F(SeccompSupervisorTest, TracesMkdirAndRmdirWithResolvedPaths) {
  auto r = Run({"/bin/sh", "-c", "mkdir X; rmdir X"}, Record);
  EXPECT_TRUE(r.exited);
  EXPECT_EQ(r.exit_code, 0) << Err();
  const TraceEntry* mk = nullptr;
  const TraceEntry* rm = nullptr;
  for (const auto& e : r.trace) {
    if (IsMkdir(e.event) && !mk) mk = &e;
    if (IsRmdir(e.event) && !rm) rm = &e;
  }
  ASSERT_NE(mk, nullptr) << trace_text_;
  ASSERT_NE(rm, nullptr) << trace_text_;
  EXPECT_EQ(mk->event.path, scratch_ + "/X");
  EXPECT_EQ(mk->event.host_path, scratch_ + "/X");
  EXPECT_EQ(rm->event.path, scratch_ + "/X");
  EXPECT_LT(mk->event.seq, rm->event.seq);
  EXPECT_EQ(mk->outcome, CallOutcome::kContinued);
  EXPECT_GT(r.per_syscall.size(), 0u);
  EXPECT_EQ(r.calls, r.trace.size());
  if (KernelAtLeast(5, 19)) {
    EXPECT_TRUE(r.wait_killable);
  }
  if (KernelAtLeast(6, 6)) {
    EXPECT_TRUE(r.sync_wakeup);
  }
  EXPECT_TRUE(r.leftover_pids.empty());
  EXPECT_FALSE(std::filesystem::exists(scratch_ + "/X"));

  nlohmann::json j = faultline::seccomp::TraceToJson(r);
  ASSERT_EQ(j["trace"].size(), r.trace.size());
  EXPECT_EQ(j["trace"][mk - r.trace.data()]["path"], scratch_ + "/X");
  EXPECT_EQ(j["trace"][mk - r.trace.data()]["verdict"], "continue");
  EXPECT_EQ(j["exit_code"], 0);
}

// True when some live process has needle in its command line.
bool SomeProcessRuns(const std::string& needle) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream f(entry.path() / "cmdline");
    std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    if (cmd.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST_F(SeccompSupervisorTest, ThrowingDeciderLeavesNothingRunning) {
  SupervisorOptions opts;
  opts.argv = {"/bin/sh", "-c", "sleep 31.4159 & sleep 0.2; mkdir X"};
  opts.cwd = scratch_;
  EXPECT_THROW(
      (void)RunSupervised(opts, [](const SyscallEvent& e) -> Verdict {
        if (IsMkdir(e)) throw std::runtime_error("decider broke");
        return Verdict::Continue();
      }),
      std::runtime_error);
  EXPECT_FALSE(SomeProcessRuns("sleep 31.4159"));
  EXPECT_FALSE(std::filesystem::exists(scratch_ + "/X"));
}

TEST_F(SeccompSupervisorTest, FailedMkdirIsReportedBySh) {
  auto r = Run({"/bin/sh", "-c", "mkdir X"}, [](const SyscallEvent& e) {
    return IsMkdir(e) ? Verdict::Fail(EPERM) : Verdict::Continue();
  });
  EXPECT_TRUE(r.exited);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(Err(), HasSubstr("Operation not permitted"));
  EXPECT_FALSE(std::filesystem::exists(scratch_ + "/X"));
  bool seen = false;
  for (const auto& e : r.trace) {
    if (IsMkdir(e.event)) {
      seen = true;
      EXPECT_EQ(e.outcome, CallOutcome::kFailed);
    }
  }
  EXPECT_TRUE(seen) << trace_text_;
}

TEST_F(SeccompSupervisorTest, LieReportsSuccessWithoutDoingIt) {
  auto r = Run({"/bin/sh", "-c", "mkdir X && echo made; test -d X || echo missing"},
               [](const SyscallEvent& e) {
                 return IsMkdir(e) ? Verdict::Lie() : Verdict::Continue();
               });
  EXPECT_EQ(r.exit_code, 0) << Err();
  EXPECT_EQ(Out(), "made\nmissing\n");
  EXPECT_FALSE(std::filesystem::exists(scratch_ + "/X"));
}

TEST_F(SeccompSupervisorTest, KillOnNthCallKillsTheTarget) {
  // Find the seq of the second mkdir in a clean run, then kill right there.
  const std::vector<std::string> argv = {"/bin/sh", "-c",
                                         "mkdir A; mkdir B; mkdir C; echo survived"};
  auto clean = Run(argv, Record);
  ASSERT_EQ(clean.exit_code, 0) << Err();
  uint64_t nth = 0;
  int mkdirs = 0;
  for (const auto& e : clean.trace) {
    if (IsMkdir(e.event) && ++mkdirs == 2) nth = e.event.seq;
  }
  ASSERT_GT(nth, 0u) << trace_text_;
  for (const char* d : {"A", "B", "C"}) rmdir((scratch_ + "/" + d).c_str());

  auto r = Run(argv, [nth](const SyscallEvent& e) {
    return e.seq == nth ? Verdict::Kill() : Verdict::Continue();
  });
  EXPECT_TRUE(r.signaled);
  EXPECT_EQ(r.term_signal, SIGKILL);
  EXPECT_EQ(r.calls, nth) << "nothing after the kill point may run\n" << trace_text_;
  EXPECT_EQ(r.trace.back().outcome, CallOutcome::kKilled);
  EXPECT_TRUE(std::filesystem::exists(scratch_ + "/A"));
  EXPECT_FALSE(std::filesystem::exists(scratch_ + "/B"));
  EXPECT_EQ(Out(), "");
}

TEST_F(SeccompSupervisorTest, DelayAddsTime) {
  auto run = [&](int ms) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = Run({"/bin/sh", "-c", "mkdir X; rmdir X"}, [ms](const SyscallEvent& e) {
      return IsMkdir(e) || IsRmdir(e) ? Verdict::Delay(ms) : Verdict::Continue();
    });
    EXPECT_EQ(r.exit_code, 0);
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now() - t0).count();
  };
  long fast = run(0);
  long slow = run(250);
  EXPECT_GE(slow, 500) << "two calls held 250ms each";
  EXPECT_GT(slow, fast);
}

// A pause verdict holds the call, not yet run, until a byte on the release
// fd: the note names it; what it would make does not exist while it is held.
TEST_F(SeccompSupervisorTest, PauseHoldsTheCallUntilReleased) {
  int note[2], release[2];
  ASSERT_EQ(pipe2(note, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(release, O_CLOEXEC), 0);
  SupervisorOptions opts;
  opts.pause_note_fd = note[1];
  opts.pause_release_fd = release[0];
  const std::string held_dir = scratch_ + "/held", after_dir = scratch_ + "/after";
  bool existed_while_held = true, after_while_held = true;
  faultline::PauseNote seen;
  std::thread harness([&] {
    bool eof = false;
    auto n = faultline::WaitForPause(note[0], 20000, &eof);
    if (n) seen = *n;
    existed_while_held = access(held_dir.c_str(), F_OK) == 0;
    after_while_held = access(after_dir.c_str(), F_OK) == 0;
    faultline::ReleasePause(release[1]);
  });
  bool first = true;
  auto r = Run({"/bin/sh", "-c", "mkdir held; mkdir after"}, [&](const SyscallEvent& e) {
    if (IsMkdir(e) && first) {
      first = false;
      return Verdict::Pause(20000);
    }
    return Verdict::Continue();
  }, opts);
  harness.join();
  for (int fd : {note[0], note[1], release[0], release[1]}) close(fd);
  EXPECT_EQ(r.exit_code, 0) << Err();
  EXPECT_GT(seen.seq, 0u);
  EXPECT_THAT(std::string(seen.op), ::testing::StartsWith("mkdir"));
  EXPECT_FALSE(existed_while_held) << "the held mkdir ran before its release";
  EXPECT_FALSE(after_while_held) << "the shell went on past the held call";
  EXPECT_EQ(access(held_dir.c_str(), F_OK), 0);
  EXPECT_EQ(access(after_dir.c_str(), F_OK), 0);
  EXPECT_EQ(r.per_verdict[Verdict::kPause], 1u);
}

TEST_F(SeccompSupervisorTest, OneSequenceAcrossTheProcessTree) {
  auto r = Run({"/bin/sh", "-c",
                "mkdir a; (mkdir b; rmdir b) & (mkdir c; rmdir c) & wait; rmdir a"},
               Record);
  EXPECT_EQ(r.exit_code, 0) << Err();
  std::set<pid_t> mkdir_pids;
  for (size_t i = 0; i < r.trace.size(); ++i) {
    EXPECT_EQ(r.trace[i].event.seq, i + 1) << "seq is one gapless counter";
    if (IsMkdir(r.trace[i].event)) mkdir_pids.insert(r.trace[i].event.pid);
  }
  EXPECT_EQ(r.per_syscall["mkdir"] + r.per_syscall["mkdirat"], 3u) << trace_text_;
  EXPECT_EQ(mkdir_pids.size(), 3u) << "each mkdir ran in its own process";
  EXPECT_GE(r.per_syscall["clone"] + r.per_syscall["clone3"] + r.per_syscall["fork"] +
                r.per_syscall["vfork"],
            5u)
      << trace_text_;
}

TEST_F(SeccompSupervisorTest, MountInPrivateNamespaceSeenAndFailed) {
  const std::string dir = scratch_ + "/mnt";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  const std::vector<std::string> argv = {
      "unshare", "-m", "--propagation", "private", "sh", "-c",
      // A source no other mount has: for EBUSY, util-linux's mount names
      // the mount point of any mount with the same source ("none" matches
      // tracefs on some hosts) instead of saying "busy".
      "mount -t tmpfs faultline-tmpfs " + dir + " && echo mounted"};
  auto seen = Run(argv, Record);
  EXPECT_EQ(seen.exit_code, 0) << Err();
  EXPECT_EQ(Out(), "mounted\n");
  const SyscallEvent* m = nullptr;
  for (const auto& e : seen.trace) {
    if (e.event.name == "mount" && e.event.fstype == "tmpfs") m = &e.event;
  }
  ASSERT_NE(m, nullptr) << trace_text_;
  EXPECT_EQ(m->path, dir);
  EXPECT_EQ(m->path2, "faultline-tmpfs");
  EXPECT_EQ(m->flags & MS_BIND, 0u);

  auto failed = Run(argv, [](const SyscallEvent& e) {
    return e.fstype == "tmpfs" ? Verdict::Fail(EBUSY) : Verdict::Continue();
  });
  EXPECT_NE(failed.exit_code, 0);
  EXPECT_EQ(Out(), "");
  EXPECT_THAT(Err(), ::testing::AnyOf(HasSubstr("busy"), HasSubstr("Busy")));
  // The host never saw the tmpfs.
  std::ifstream mi("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mi, line)) EXPECT_THAT(line, ::testing::Not(HasSubstr(dir)));
}

TEST_F(SeccompSupervisorTest, RuncAndCrunRunUnderTheSupervisor) {
  for (const char* rt : {"runc", "crun"}) {
    auto r = Run({rt, "--version"}, Record);
    EXPECT_TRUE(r.exited) << rt;
    EXPECT_EQ(r.exit_code, 0) << rt << ": " << Err();
    EXPECT_THAT(Out(), HasSubstr(std::string(rt) + " version")) << rt;
  }
}

TEST_F(SeccompSupervisorTest, GoRuntimeSurvivesHeldCalls) {
  // runc is static Go: its threads come from clone, and its runtime sends
  // SIGURG preemption signals. Hold every notified call, with and without
  // WAIT_KILLABLE_RECV, and check the output stays right.
  for (bool killable : {true, false}) {
    SupervisorOptions opts;
    opts.wait_killable = killable;
    auto r = Run({"runc", "--version"},
                 [](const SyscallEvent&) { return Verdict::Delay(5); }, opts);
    EXPECT_EQ(r.exit_code, 0) << Err();
    EXPECT_THAT(Out(), HasSubstr("runc version"));
    EXPECT_GT(r.per_syscall["clone"] + r.per_syscall["clone3"], 0u) << trace_text_;
    EXPECT_EQ(r.calls, r.trace.size());
  }
}

TEST_F(SeccompSupervisorTest, RestartedCallCountsOnce) {
  // Without WAIT_KILLABLE_RECV a signal interrupts a held call; with
  // SA_RESTART the kernel re-sends it under a new id. It must keep its seq
  // and not reach the Decider twice.
  for (bool killable : {false, true}) {
    SupervisorOptions opts;
    opts.wait_killable = killable;
    opts.env = {"FAULTLINE_SECCOMP_HELPER=restart",
                "FAULTLINE_SECCOMP_DIR=" + scratch_ + "/R"};
    std::atomic<int> decided_mkdirs{0};
    std::thread poker;
    auto r = Run({SelfExe()}, [&](const SyscallEvent& e) {
      if (!IsMkdir(e)) return Verdict::Continue();
      ++decided_mkdirs;
      pid_t pid = e.pid;
      // The caller is blocked in the supervisor: poke it while it is held.
      poker = std::thread([pid] {
        for (int i = 0; i < 3; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(60));
          kill(pid, SIGUSR1);  // our own target, blocked in mkdir
        }
      });
      return Verdict::Delay(1000);  // long past the three pokes
    }, opts);
    if (poker.joinable()) poker.join();
    EXPECT_EQ(r.exit_code, 0) << Out() << Err();
    EXPECT_EQ(decided_mkdirs.load(), 1);
    ASSERT_EQ(r.per_syscall["mkdir"] + r.per_syscall["mkdirat"], 1u) << trace_text_;
    EXPECT_TRUE(std::filesystem::exists(scratch_ + "/R"));
    if (!killable) {
      EXPECT_GE(r.restarts, 1u) << trace_text_;
      EXPECT_THAT(Out(), HasSubstr("mkdir=0 signals=3"));
    } else {
      if (!r.wait_killable) GTEST_SKIP() << "kernel without WAIT_KILLABLE_RECV";
      EXPECT_EQ(r.restarts, 0u) << "a received call ignores non-fatal signals";
      EXPECT_THAT(Out(), HasSubstr("mkdir=0"));
    }
    rmdir((scratch_ + "/R").c_str());
    trace_text_.clear();
  }
}

TEST_F(SeccompSupervisorTest, NestedListenerGetsEbusy) {
  SupervisorOptions opts;
  opts.env = {"FAULTLINE_SECCOMP_HELPER=nested"};
  auto r = Run({SelfExe()}, Record, opts);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(Out(), HasSubstr("errno=EBUSY"));
  EXPECT_EQ(r.nested_listener_attempts, 1u);
}

TEST_F(SeccompSupervisorTest, ExecFailureNamesTheTarget) {
  SupervisorOptions opts;
  opts.argv = {scratch_ + "/missing-binary"};
  auto r = RunSupervised(opts, Record);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().err, ENOENT);
  EXPECT_THAT(r.error().path, HasSubstr("missing-binary"));

  // Executable but not a program: found, then refused by execve in the child.
  const std::string junk = scratch_ + "/junk";
  {
    std::ofstream f(junk);
    f << "\x01\x02\x03 not an ELF";
  }
  ASSERT_EQ(chmod(junk.c_str(), 0755), 0);
  opts.argv = {junk};
  r = RunSupervised(opts, Record);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().step, "seccomp: exec target");
  EXPECT_EQ(r.error().err, ENOEXEC);
  EXPECT_EQ(r.error().path, junk);
}

TEST_F(SeccompSupervisorTest, LeftoverDescendantsAreKilled) {
  // The target exits, leaving a background sleeper: the reaper kills it.
  auto r = Run({"/bin/sh", "-c", "sleep 30 & echo $!"}, Record);
  EXPECT_EQ(r.exit_code, 0);
  ASSERT_EQ(r.leftover_pids.size(), 1u) << trace_text_;
  pid_t sleeper = std::atoi(Out().c_str());
  EXPECT_EQ(r.leftover_pids[0], sleeper);
  EXPECT_FALSE(std::filesystem::exists("/proc/" + std::to_string(sleeper) + "/exe") &&
               std::filesystem::read_symlink("/proc/" + std::to_string(sleeper) + "/exe")
                       .filename() == "sleep");
}

// The root cache (cache_roots, on by default) must follow a chroot: the
// chroot binary's loader opens its libraries (root "/" cached for its pid),
// then the same pid chroots and runs busybox mkdir in the jail. The mkdir's
// host path is inside the jail only if the cache noticed the chroot.
TEST_F(SeccompSupervisorTest, RootCacheFollowsChroot) {
  const std::string jail = scratch_ + "/jail";
  std::filesystem::create_directories(jail + "/bin");
  std::filesystem::create_directories(jail + "/tmp");
  std::filesystem::copy_file("/bin/busybox", jail + "/bin/busybox");
  ASSERT_EQ(chmod((jail + "/bin/busybox").c_str(), 0755), 0);

  for (bool chroot_notified : {false, true}) {
    SCOPED_TRACE(chroot_notified ? "chroot in syscalls" : "chroot added for the cache");
    std::filesystem::remove_all(jail + "/tmp/Y");
    trace_text_.clear();
    SupervisorOptions opts;
    if (chroot_notified) opts.syscalls.push_back("chroot");
    auto r = Run({"/usr/sbin/chroot", jail, "/bin/busybox", "mkdir", "/tmp/Y"}, Record, opts);
    EXPECT_EQ(r.exit_code, 0) << Err();
    EXPECT_TRUE(std::filesystem::is_directory(jail + "/tmp/Y"));
    const TraceEntry* before = nullptr;  // a path call of the target before chroot
    const TraceEntry* mk = nullptr;
    const TraceEntry* ch = nullptr;
    for (const auto& e : r.trace) {
      if (e.event.pid == r.target_pid && !e.event.path.empty() && !mk && !ch &&
          !before) {
        before = &e;
      }
      if (e.event.name == "chroot") ch = &e;
      if (IsMkdir(e.event)) mk = &e;
    }
    ASSERT_NE(before, nullptr) << trace_text_;
    EXPECT_EQ(before->event.host_path, before->event.path) << trace_text_;
    ASSERT_NE(mk, nullptr) << trace_text_;
    EXPECT_EQ(mk->event.pid, r.target_pid);
    EXPECT_EQ(mk->event.path, "/tmp/Y");
    EXPECT_EQ(mk->event.host_path, jail + "/tmp/Y") << trace_text_;
    EXPECT_GT(r.root_cache_hits, 0u) << "the loader's opens share one cached root";
    if (chroot_notified) {
      ASSERT_NE(ch, nullptr) << trace_text_;
      EXPECT_EQ(ch->event.host_path, jail);
      EXPECT_EQ(r.root_change_notifications, 0u);
    } else {
      EXPECT_EQ(ch, nullptr) << "a chroot added for the cache is not traced";
      EXPECT_GE(r.root_change_notifications, 1u);
    }
  }
}

}  // namespace
