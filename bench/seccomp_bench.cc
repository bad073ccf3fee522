// What the seccomp supervisor costs a target, per call, next to native and
// next to strace's ptrace-based injection.
//
// Every row runs the same small loop in a fresh process (this binary,
// re-invoked with --seccomp-bench-helper) and times only the loop, inside
// the helper, so process start and supervisor setup are left out:
//   mkdir_rmdir: N mkdir+rmdir pairs in a tmpfs scratch dir (/dev/shm)
//   getppid:     N getppid calls, which no filter notifies
// under one of:
//   native                   plain fork+exec
//   supervised               RunSupervised, Decider says continue
//   supervised_no_sync_wakeup  the same without SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
//   supervised_fail_mkdir    RunSupervised, mkdir fails EPERM (as strace's)
//   strace                   strace -f --seccomp-bpf -e trace=mkdir,rmdir
//                              -e inject=mkdir:error=EPERM
// Counters: ns_per_call (per syscall of the loop; a pair is two calls).
// Iteration time is the helper's loop time (manual time).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "harness/seccomp/supervisor.h"

namespace {

using faultline::seccomp::RunSupervised;
using faultline::seccomp::SupervisorOptions;
using faultline::seccomp::SyscallEvent;
using faultline::seccomp::Verdict;

constexpr const char* kHelperFlag = "--seccomp-bench-helper";

// The helper: runs the loop and prints "<loop ns> <calls>".
int RunHelper(const std::string& loop, long n, const std::string& dir) {
  std::string d = dir + "/d";
  long calls = 0;
  auto t0 = std::chrono::steady_clock::now();
  if (loop == "mkdir_rmdir") {
    for (long i = 0; i < n; ++i) {
      mkdir(d.c_str(), 0700);
      rmdir(d.c_str());
    }
    calls = 2 * n;
  } else if (loop == "getppid") {
    for (long i = 0; i < n; ++i) syscall(SYS_getppid);
    calls = n;
  } else {
    return 2;
  }
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::steady_clock::now() - t0).count();
  std::printf("%lld %ld\n", static_cast<long long>(ns), calls);
  return 0;
}

std::string SelfExe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf));
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// A tmpfs scratch dir for the whole run, removed at exit.
const std::string& Scratch() {
  static const std::string dir = [] {
    char tmpl[] = "/dev/shm/faultline-seccomp-bench-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return std::string("/tmp");
    std::string d = tmpl;
    static std::string to_remove = d;
    std::atexit([] {
      rmdir((to_remove + "/d").c_str());
      rmdir(to_remove.c_str());
    });
    return d;
  }();
  return dir;
}

struct LoopTiming {
  double seconds = 0;
  long calls = 0;
  std::string error;
};

bool ParseHelperOutput(const std::string& out, LoopTiming* t) {
  long long ns = 0;
  long calls = 0;
  if (std::sscanf(out.c_str(), "%lld %ld", &ns, &calls) != 2 || calls <= 0) {
    t->error = "helper printed '" + out + "'";
    return false;
  }
  t->seconds = static_cast<double>(ns) * 1e-9;
  t->calls = calls;
  return true;
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// fork+exec argv with stdout to a pipe; returns what it printed.
LoopTiming RunPlain(const std::vector<std::string>& argv) {
  LoopTiming t;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    t.error = "pipe: " + std::string(strerror(errno));
    return t;
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], 1);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 2);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(p[1]);
  std::string out = ReadAll(p[0]);
  close(p[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    t.error = argv[0] + " exited with status " + std::to_string(st);
    return t;
  }
  ParseHelperOutput(out, &t);
  return t;
}

LoopTiming RunUnderSupervisor(const std::vector<std::string>& argv, bool fail_mkdir,
                              bool sync_wakeup) {
  LoopTiming t;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    t.error = "pipe: " + std::string(strerror(errno));
    return t;
  }
  SupervisorOptions opts;
  opts.argv = argv;
  opts.stdout_fd = p[1];
  opts.record_trace = false;
  opts.sync_wakeup = sync_wakeup;
  opts.timeout = std::chrono::seconds(120);
  auto r = RunSupervised(opts, [fail_mkdir](const SyscallEvent& e) {
    if (fail_mkdir && e.name == "mkdir") return Verdict::Fail(EPERM);
    return Verdict::Continue();
  });
  close(p[1]);
  std::string out = ReadAll(p[0]);
  close(p[0]);
  if (!r.ok()) {
    t.error = r.error().Message();
    return t;
  }
  if (!r->exited || r->exit_code != 0) {
    t.error = "helper status " + std::to_string(r->wait_status);
    return t;
  }
  ParseHelperOutput(out, &t);
  return t;
}

enum class Runner { kNative, kSupervised, kSupervisedFailMkdir, kSupervisedAsync, kStrace };

void BM_Loop(benchmark::State& state, const char* loop, Runner runner) {
  const long n = state.range(0);
  std::vector<std::string> helper = {SelfExe(), kHelperFlag, loop,
                                     std::to_string(n), Scratch()};
  std::vector<std::string> argv = helper;
  if (runner == Runner::kStrace) {
    argv = {"strace", "-f", "--seccomp-bpf", "-o", "/dev/null",
            "-e", "trace=mkdir,rmdir", "-e", "inject=mkdir:error=EPERM"};
    argv.insert(argv.end(), helper.begin(), helper.end());
  }
  double total_s = 0;
  long total_calls = 0;
  for (auto _ : state) {
    LoopTiming t;
    switch (runner) {
      case Runner::kNative:
      case Runner::kStrace:
        t = RunPlain(argv);
        break;
      case Runner::kSupervised:
        t = RunUnderSupervisor(argv, false, true);
        break;
      case Runner::kSupervisedFailMkdir:
        t = RunUnderSupervisor(argv, true, true);
        break;
      case Runner::kSupervisedAsync:
        t = RunUnderSupervisor(argv, false, false);
        break;
    }
    if (!t.error.empty()) {
      state.SkipWithError(t.error.c_str());
      return;
    }
    state.SetIterationTime(t.seconds);
    total_s += t.seconds;
    total_calls += t.calls;
  }
  if (total_calls > 0) {
    state.counters["ns_per_call"] = total_s * 1e9 / static_cast<double>(total_calls);
    state.counters["calls"] = static_cast<double>(total_calls);
  }
}

constexpr long kMkdirPairs = 500;
constexpr long kGetppidCalls = 100000;

BENCHMARK_CAPTURE(BM_Loop, mkdir_rmdir_native, "mkdir_rmdir", Runner::kNative)
    ->Arg(kMkdirPairs)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Loop, mkdir_rmdir_supervised, "mkdir_rmdir", Runner::kSupervised)
    ->Arg(kMkdirPairs)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Loop, mkdir_rmdir_supervised_no_sync_wakeup, "mkdir_rmdir",
                  Runner::kSupervisedAsync)
    ->Arg(kMkdirPairs)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Loop, mkdir_rmdir_supervised_fail_mkdir, "mkdir_rmdir",
                  Runner::kSupervisedFailMkdir)
    ->Arg(kMkdirPairs)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Loop, mkdir_rmdir_strace_inject, "mkdir_rmdir", Runner::kStrace)
    ->Arg(kMkdirPairs)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Loop, getppid_native, "getppid", Runner::kNative)
    ->Arg(kGetppidCalls)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Loop, getppid_supervised, "getppid", Runner::kSupervised)
    ->Arg(kGetppidCalls)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Loop, getppid_strace, "getppid", Runner::kStrace)
    ->Arg(kGetppidCalls)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::strcmp(argv[1], kHelperFlag) == 0) {
    return RunHelper(argv[2], std::atol(argv[3]), argv[4]);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
