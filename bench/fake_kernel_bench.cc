// FakeKernel cost: what a fake sweep pays per point. Moved here from the mock
// tests (tests/mock/fakekernel_kernel_test.cc keeps the functional checks);
// the 500 us and 1000 us thresholds those tests had are the targets below.
//
// Benchmarks (counters in microseconds per iteration):
//   CopyPreparedKernel     copying a kernel with a busybox image and a
//                          workspace (a sweep copies one per point);
//                          target: under 500 us
//   Lifecycle              `mydocker run busybox sh -c "exit 3"` with a
//                          64 MiB memory limit on a fresh copy; counters:
//                          copy_us (the copy, thread CPU time), kernel_us
//                          (time inside the FakeKernel's calls only: a
//                          cloned child runs inside its parent's call and
//                          its runtime code is excluded), calls (Sys calls
//                          of one lifecycle); target: copy_us + kernel_us
//                          under 1000 us
#include <time.h>

#include <chrono>
#include <string>

#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include "fakekernel/fake_kernel.h"
#include "runtime/container/runtime.h"
#include "runtime/sys/sys_wrapper.h"

namespace faultline {
namespace {

const char* const kRoot = "/var/lib/mydocker";

double ThreadCpuUs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

double MonoUs() {
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Time spent inside the wrapped kernel's calls only (see the header); also
// counts the calls.
class KernelTimeSys : public mydocker::SysWrapper {
 public:
  using SysWrapper::SysWrapper;
  double kernel_us = 0;
  size_t calls = 0;

 protected:
  void Intercept(mydocker::SysCall& call) override {
    ++calls;
    double now = MonoUs();
    if (depth_ > 0) kernel_us += now - mark_;
    ++depth_;
    mark_ = now;
    call.Proceed();
    now = MonoUs();
    kernel_us += now - mark_;
    --depth_;
    mark_ = now;
  }

 private:
  int depth_ = 0;
  double mark_ = 0;
};

FakeKernel PreparedKernel() {
  FakeKernel k;
  const std::string root = kRoot;
  if (!k.BuildBusyboxImage(root + "/images/busybox/rootfs").ok() ||
      !k.AddFile(root + "/images/busybox/image.json",
                 R"({"name":"busybox","source":"fake","size":0,"files":0})")
           .ok())
    spdlog::error("fake_kernel_bench: could not seed the image");
  return k;
}

void BM_CopyPreparedKernel(benchmark::State& state) {
  FakeKernel base = PreparedKernel();
  for (auto _ : state) {
    FakeKernel copy = base;
    benchmark::DoNotOptimize(copy);
  }
}
BENCHMARK(BM_CopyPreparedKernel)->Unit(benchmark::kMicrosecond);

void BM_Lifecycle(benchmark::State& state) {
  FakeKernel base = PreparedKernel();
  auto level = spdlog::get_level();
  spdlog::set_level(spdlog::level::warn);  // measure the kernel, not the log
  double copy_us = 0, kernel_us = 0, calls = 0;
  for (auto _ : state) {
    double t0 = ThreadCpuUs();
    FakeKernel k = base;
    copy_us += ThreadCpuUs() - t0;
    KernelTimeSys timed(k);
    mydocker::RuntimeConfig config;
    config.root = kRoot;
    config.new_id = [] { return std::string("0123456789ab"); };
    mydocker::Runtime rt(timed, config);
    mydocker::RunSpec spec;
    spec.image = "busybox";
    spec.argv = {"sh", "-c", "exit 3"};
    spec.limits.memory_bytes = 64 << 20;
    auto r = rt.Run(spec);
    if (!r || r->exit_code != 3) {
      state.SkipWithError("the lifecycle failed");
      break;
    }
    kernel_us += timed.kernel_us;
    calls += static_cast<double>(timed.calls);
  }
  spdlog::set_level(level);
  state.counters["copy_us"] = benchmark::Counter(copy_us, benchmark::Counter::kAvgIterations);
  state.counters["kernel_us"] =
      benchmark::Counter(kernel_us, benchmark::Counter::kAvgIterations);
  state.counters["calls"] = benchmark::Counter(calls, benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_Lifecycle)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace faultline

BENCHMARK_MAIN();
