// What the seccomp supervisor costs a target, per call, next to native and
// next to strace's ptrace-based injection.
//
// Every run executes one small loop in a fresh process (this binary,
// re-invoked with --seccomp-bench-helper) and times only the loop, inside
// the helper, so process start and supervisor setup are left out. Loops:
//   mkdir_rmdir: N mkdir+rmdir pairs in a tmpfs scratch dir (/dev/shm);
//                both calls are notified (intercepted)
//   getppid:     N getppid calls: the cheapest syscall, not notified
//   fstat:       N fstat of an open small file, not notified
//   pread:       N pread of 64 bytes of a small file, not notified
// Runners:
//   native                 plain fork+exec
//   bare_filter            native, but the helper first loads a seccomp
//                          filter that is a single RET_ALLOW: the kernel's
//                          fixed price of having any filter at all
//   supervised             RunSupervised (default options), Decider: continue
//   supervised_fail_mkdir  the same, mkdir fails EPERM (what strace injects)
//   supervised_no_sync_wakeup  without SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
//   supervised_no_root_cache   with cache_roots off (a readlink of
//                          /proc/TID/root per call, as before the cache)
//   strace                 strace -f --seccomp-bpf -e trace=mkdir,rmdir
//                            -e inject=mkdir:error=EPERM
// Single rows (BM_Loop) time one runner; counter ns_per_call (per syscall of
// the loop; a mkdir+rmdir pair is two calls).
// Ratio rows (BM_Ratio, names ending in _ratio) run several runners in turn
// in every iteration, so load drifts hit all of them alike, and print each
// one's ns_per_call as <runner>_ns plus the targets:
//   mkdir_rmdir_ratio: strace_x = strace / supervised_fail_mkdir (the same
//     work: inject EPERM on mkdir, let rmdir through; target >= 3),
//     strace_x_continue = strace / supervised (continue both calls),
//     and the same on the overhead over native: strace_ovh_x.
//   mkdir_rmdir_root_cache_ratio: root_cache_saves_ns = supervised with
//     cache_roots off minus on, per call.
//   <call>_ratio: sup_x = supervised / native (target <= 1.10), and
//     bare_x = bare_filter / native, which shows how much of sup_x any
//     filter costs.
// Iteration time is the helper's loop time of the first runner listed
// (manual time).
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
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
#include <map>
#include <string>
#include <vector>

#include "harness/seccomp/supervisor.h"

namespace {

using faultline::seccomp::RunSupervised;
using faultline::seccomp::SupervisorOptions;
using faultline::seccomp::SyscallEvent;
using faultline::seccomp::Verdict;

constexpr const char* kHelperFlag = "--seccomp-bench-helper";

// Loads a filter that is one RET_ALLOW (what any filter costs at least).
bool LoadBareFilter() {
  sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  sock_fprog prog{1, &allow};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0;
}

// The helper: runs the loop and prints "<loop ns> <calls>".
int RunHelper(const std::string& loop, long n, const std::string& dir, bool bare_filter) {
  if (bare_filter && !LoadBareFilter()) return 3;
  std::string d = dir + "/d";
  int fd = open((dir + "/f").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 4;
  char buf[64];
  struct stat st;
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
  } else if (loop == "fstat") {
    for (long i = 0; i < n; ++i) fstat(fd, &st);
    calls = n;
  } else if (loop == "pread") {
    for (long i = 0; i < n; ++i) {
      if (pread(fd, buf, sizeof(buf), 0) != static_cast<ssize_t>(sizeof(buf))) return 5;
    }
    calls = n;
  } else {
    return 2;
  }
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::steady_clock::now() - t0).count();
  close(fd);
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
      unlink((to_remove + "/f").c_str());
      rmdir(to_remove.c_str());
    });
    // The small file the fstat and pread loops use.
    int fd = open((d + "/f").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      std::string data(64, 'x');
      if (write(fd, data.data(), data.size()) != 64) data.clear();
      close(fd);
    }
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
                              bool sync_wakeup, bool cache_roots) {
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
  opts.cache_roots = cache_roots;
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

enum class Runner {
  kNative,
  kBareFilter,
  kSupervised,
  kSupervisedFailMkdir,
  kSupervisedAsync,
  kSupervisedNoRootCache,
  kStrace,
};

// One run of loop (n rounds) under runner.
LoopTiming RunOnce(const char* loop, long n, Runner runner) {
  std::vector<std::string> helper = {SelfExe(), kHelperFlag, loop,
                                     std::to_string(n), Scratch()};
  switch (runner) {
    case Runner::kNative:
      return RunPlain(helper);
    case Runner::kBareFilter:
      helper.push_back("bare-filter");
      return RunPlain(helper);
    case Runner::kStrace: {
      std::vector<std::string> argv = {
          "strace", "-f", "--seccomp-bpf", "-o", "/dev/null",
          "-e", "trace=mkdir,rmdir", "-e", "inject=mkdir:error=EPERM"};
      argv.insert(argv.end(), helper.begin(), helper.end());
      return RunPlain(argv);
    }
    case Runner::kSupervised:
      return RunUnderSupervisor(helper, false, true, true);
    case Runner::kSupervisedFailMkdir:
      return RunUnderSupervisor(helper, true, true, true);
    case Runner::kSupervisedAsync:
      return RunUnderSupervisor(helper, false, false, true);
    case Runner::kSupervisedNoRootCache:
      return RunUnderSupervisor(helper, false, true, false);
  }
  return {};
}

const char* RunnerName(Runner r) {
  switch (r) {
    case Runner::kNative: return "native";
    case Runner::kBareFilter: return "bare";
    case Runner::kSupervised: return "sup";
    case Runner::kSupervisedFailMkdir: return "sup_fail";
    case Runner::kSupervisedAsync: return "sup_async";
    case Runner::kSupervisedNoRootCache: return "sup_nocache";
    case Runner::kStrace: return "strace";
  }
  return "?";
}

void BM_Loop(benchmark::State& state, const char* loop, Runner runner) {
  const long n = state.range(0);
  double total_s = 0;
  long total_calls = 0;
  for (auto _ : state) {
    LoopTiming t = RunOnce(loop, n, runner);
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

// Runs every runner once per iteration (interleaved) and reports each one's
// ns per call as <name>_ns, and the target ratios (see the top comment).
void BM_Ratio(benchmark::State& state, const char* loop, std::vector<Runner> runners) {
  const long n = state.range(0);
  std::vector<double> secs(runners.size(), 0.0);
  std::vector<long> calls(runners.size(), 0);
  for (auto _ : state) {
    for (size_t i = 0; i < runners.size(); ++i) {
      LoopTiming t = RunOnce(loop, n, runners[i]);
      if (!t.error.empty()) {
        state.SkipWithError((std::string(RunnerName(runners[i])) + ": " + t.error).c_str());
        return;
      }
      if (i == 0) state.SetIterationTime(t.seconds);
      secs[i] += t.seconds;
      calls[i] += t.calls;
    }
  }
  std::map<Runner, double> ns;
  for (size_t i = 0; i < runners.size(); ++i) {
    if (calls[i] == 0) return;
    ns[runners[i]] = secs[i] * 1e9 / static_cast<double>(calls[i]);
    state.counters[std::string(RunnerName(runners[i])) + "_ns"] = ns[runners[i]];
  }
  auto has = [&](Runner r) { return ns.count(r) > 0; };
  if (has(Runner::kStrace) && has(Runner::kSupervisedFailMkdir)) {
    state.counters["strace_x"] = ns[Runner::kStrace] / ns[Runner::kSupervisedFailMkdir];
  }
  if (has(Runner::kStrace) && has(Runner::kSupervised) &&
      std::string(loop) == "mkdir_rmdir") {
    state.counters["strace_x_continue"] = ns[Runner::kStrace] / ns[Runner::kSupervised];
    if (has(Runner::kNative)) {
      double base = ns[Runner::kNative];
      state.counters["strace_ovh_x_continue"] =
          (ns[Runner::kStrace] - base) / (ns[Runner::kSupervised] - base);
    }
  }
  if (has(Runner::kNative) && has(Runner::kSupervised) &&
      std::string(loop) != "mkdir_rmdir") {
    state.counters["sup_x"] = ns[Runner::kSupervised] / ns[Runner::kNative];
  }
  if (has(Runner::kSupervised) && has(Runner::kSupervisedNoRootCache)) {
    state.counters["root_cache_saves_ns"] =
        ns[Runner::kSupervisedNoRootCache] - ns[Runner::kSupervised];
  }
  if (has(Runner::kNative) && has(Runner::kBareFilter)) {
    state.counters["bare_x"] = ns[Runner::kBareFilter] / ns[Runner::kNative];
  }
}

constexpr long kMkdirPairs = 500;
constexpr long kCheapCalls = 100000;

BENCHMARK_CAPTURE(BM_Loop, mkdir_rmdir_native, "mkdir_rmdir", Runner::kNative)
    ->Arg(kMkdirPairs)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Loop, mkdir_rmdir_supervised, "mkdir_rmdir", Runner::kSupervised)
    ->Arg(kMkdirPairs)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Loop, mkdir_rmdir_supervised_no_root_cache, "mkdir_rmdir",
                  Runner::kSupervisedNoRootCache)
    ->Arg(kMkdirPairs)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Loop, mkdir_rmdir_supervised_no_sync_wakeup, "mkdir_rmdir",
                  Runner::kSupervisedAsync)
    ->Arg(kMkdirPairs)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Loop, mkdir_rmdir_supervised_fail_mkdir, "mkdir_rmdir",
                  Runner::kSupervisedFailMkdir)
    ->Arg(kMkdirPairs)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Loop, mkdir_rmdir_strace_inject, "mkdir_rmdir", Runner::kStrace)
    ->Arg(kMkdirPairs)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Ratio, mkdir_rmdir_ratio, "mkdir_rmdir",
                  std::vector<Runner>{Runner::kSupervisedFailMkdir, Runner::kNative,
                                      Runner::kSupervised, Runner::kStrace})
    ->Arg(kMkdirPairs)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Ratio, mkdir_rmdir_root_cache_ratio, "mkdir_rmdir",
                  std::vector<Runner>{Runner::kSupervised, Runner::kSupervisedNoRootCache})
    ->Arg(kMkdirPairs)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Ratio, getppid_ratio, "getppid",
                  std::vector<Runner>{Runner::kSupervised, Runner::kNative,
                                      Runner::kBareFilter, Runner::kStrace})
    ->Arg(kCheapCalls)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Ratio, fstat_ratio, "fstat",
                  std::vector<Runner>{Runner::kSupervised, Runner::kNative,
                                      Runner::kBareFilter, Runner::kStrace})
    ->Arg(kCheapCalls)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Ratio, pread_ratio, "pread",
                  std::vector<Runner>{Runner::kSupervised, Runner::kNative,
                                      Runner::kBareFilter, Runner::kStrace})
    ->Arg(kCheapCalls)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  if ((argc == 5 || argc == 6) && std::strcmp(argv[1], kHelperFlag) == 0) {
    return RunHelper(argv[2], std::atol(argv[3]), argv[4], argc == 6);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
