// Parallel runs on the kernel and seccomp backends: one worker process per
// job, each with its own backend (see MakeParallelSweepBackend in
// backend.h).
//
// Wire: per worker a command pipe (parent -> worker) and a result pipe
// (worker -> parent); every message is an 8-byte length and a JSON text.
//   parent: {"op": "run", "plan": "<compact plan>", "always_gc": bool}
//   worker: SweepRunJson of the run
//   parent: {"op": "finish"} (or EOF: the parent died) -> the worker calls
//           Finish (scratch and cgroup parent removed) and exits 0
// Right after the fork the worker builds its backend, Prepares it and
// answers {"ok": true} or {"error": {...}}.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "harness/sweep/backend.h"

namespace faultline {

using mydocker::MakeError;
using mydocker::Outcome;

nlohmann::json SweepRunJson(const SweepRun& run) {
  auto diffs = [](const std::vector<ProbeDiff>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (const ProbeDiff& d : v) {
      a.push_back({{"probe", d.probe}, {"appeared", d.appeared}, {"vanished", d.vanished}});
    }
    return a;
  };
  nlohmann::json calls = nlohmann::json::array();
  for (const SweepCall& c : run.calls) {
    // Everything the reachable-fault model's classifier reads too.
    calls.push_back({c.pid, c.op, c.args, c.err, c.fired, c.after_crash, c.seq, c.path, c.path2,
                     c.fstype, c.flags, c.handle, c.real_pid, c.host_paths});
  }
  return {{"calls", calls},
          {"fired", run.fired},
          {"crashed", run.crashed},
          {"returned_error", run.returned_error},
          {"error",
           {{"step", run.error.step},
            {"path", run.error.path},
            {"err", run.error.err},
            {"detail", run.error.detail}}},
          {"exit_code", run.exit_code},
          {"message", run.message},
          {"id", run.id},
          {"left", diffs(run.left)},
          {"gc_ran", run.gc_ran},
          {"gc_errors", run.gc_errors},
          {"left_after_gc", diffs(run.left_after_gc)},
          {"harness_error", run.harness_error},
          {"external", run.external},
          {"cleanup_hint", run.cleanup_hint},
          {"strict_errno", run.strict_errno},
          {"hung", run.hung},
          {"hang_state", run.hang_state},
          {"seconds", run.seconds}};
}

SweepRun SweepRunFromJson(const nlohmann::json& j) {
  auto diffs = [](const nlohmann::json& a) {
    std::vector<ProbeDiff> v;
    for (const auto& d : a) {
      v.push_back(ProbeDiff{d.at("probe").get<std::string>(),
                            d.at("appeared").get<std::vector<std::string>>(),
                            d.at("vanished").get<std::vector<std::string>>()});
    }
    return v;
  };
  SweepRun run;
  for (const auto& c : j.at("calls")) {
    SweepCall call;
    call.pid = c.at(0).get<pid_t>();
    call.op = c.at(1).get<std::string>();
    call.args = c.at(2).get<std::string>();
    call.err = c.at(3).get<int>();
    call.fired = c.at(4).get<bool>();
    call.after_crash = c.at(5).get<bool>();
    call.seq = c.at(6).get<uint64_t>();
    call.path = c.at(7).get<std::string>();
    call.path2 = c.at(8).get<std::string>();
    call.fstype = c.at(9).get<std::string>();
    call.flags = c.at(10).get<uint64_t>();
    call.handle = c.at(11).get<int64_t>();
    call.real_pid = c.at(12).get<pid_t>();
    call.host_paths = c.at(13).get<bool>();
    run.calls.push_back(std::move(call));
  }
  run.fired = j.at("fired").get<bool>();
  run.crashed = j.at("crashed").get<bool>();
  run.returned_error = j.at("returned_error").get<bool>();
  const auto& e = j.at("error");
  run.error.step = e.at("step").get<std::string>();
  run.error.path = e.at("path").get<std::string>();
  run.error.err = e.at("err").get<int>();
  run.error.detail = e.at("detail").get<std::string>();
  run.exit_code = j.at("exit_code").get<int>();
  run.message = j.at("message").get<std::string>();
  run.id = j.at("id").get<std::string>();
  run.left = diffs(j.at("left"));
  run.gc_ran = j.at("gc_ran").get<bool>();
  run.gc_errors = j.at("gc_errors").get<std::vector<std::string>>();
  run.left_after_gc = diffs(j.at("left_after_gc"));
  run.harness_error = j.at("harness_error").get<std::string>();
  run.external = j.at("external").get<bool>();
  run.cleanup_hint = j.at("cleanup_hint").get<std::string>();
  run.strict_errno = j.at("strict_errno").get<bool>();
  run.hung = j.at("hung").get<bool>();
  run.hang_state = j.at("hang_state").get<std::string>();
  run.seconds = j.at("seconds").get<double>();
  return run;
}

namespace {

bool WriteFull(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool ReadFull(int fd, void* data, size_t size) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    ssize_t n = ::read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool SendMsg(int fd, const nlohmann::json& j) {
  const std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const uint64_t n = text.size();
  return WriteFull(fd, &n, sizeof n) && WriteFull(fd, text.data(), text.size());
}

bool RecvMsg(int fd, nlohmann::json* j) {
  uint64_t n = 0;
  if (!ReadFull(fd, &n, sizeof n) || n > (1ull << 30)) return false;
  std::string text(n, '\0');
  if (!ReadFull(fd, text.data(), n)) return false;
  try {
    *j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}

nlohmann::json ErrorJson(const mydocker::Error& e) {
  return {{"step", e.step}, {"path", e.path}, {"err", e.err}, {"detail", e.detail}};
}

// The worker process: Prepare, then runs until told to finish.
[[noreturn]] void WorkerMain(const std::function<std::unique_ptr<SweepBackend>()>& make,
                             const SweepWorkload& workload, int cmd_fd, int res_fd) {
  ::signal(SIGPIPE, SIG_IGN);
  int code = 0;
  {
    std::unique_ptr<SweepBackend> backend = make();
    Outcome p = backend->Prepare(workload);
    if (!p) {
      SendMsg(res_fd, {{"error", ErrorJson(p.error())}});
      backend->Finish();
      ::_exit(1);
    }
    SendMsg(res_fd, {{"ok", true}});
    for (;;) {
      nlohmann::json cmd;
      if (!RecvMsg(cmd_fd, &cmd)) break;  // the parent is gone
      if (cmd.value("op", "") != "run") break;
      SweepRun run;
      auto plan = FaultPlan::Parse(cmd.value("plan", ""));
      if (!plan) {
        run.harness_error = "worker: plan: " + plan.error().Message();
      } else {
        // A backend that throws: that run is a harness error, and the worker
        // goes on (its Finish still removes its scratch and cgroup parent).
        try {
          run = backend->Run(*plan, cmd.value("always_gc", false));
        } catch (const std::exception& e) {
          run = SweepRun{};
          run.harness_error = "worker: the " + backend->name() + " backend threw: " + e.what();
        } catch (...) {
          run = SweepRun{};
          run.harness_error = "worker: the " + backend->name() + " backend threw";
        }
      }
      if (!SendMsg(res_fd, SweepRunJson(run))) {
        code = 1;
        break;
      }
    }
    backend->Finish();
  }
  std::fflush(nullptr);
  ::_exit(code);
}

class ParallelSweepBackend : public SweepBackend {
 public:
  ParallelSweepBackend(std::function<std::unique_ptr<SweepBackend>()> make, size_t jobs)
      : make_(std::move(make)), jobs_(jobs), name_(make_()->name()) {}
  ~ParallelSweepBackend() override { Finish(); }

  std::string name() const override { return name_; }
  size_t MaxParallelRuns() const override { return workers_.size(); }

  Outcome Prepare(const SweepWorkload& workload) override {
    for (size_t i = 0; i < jobs_; ++i) {
      int cmd[2], res[2];
      if (::pipe2(cmd, O_CLOEXEC) != 0) return MakeError("sweep: worker pipe", "", errno);
      if (::pipe2(res, O_CLOEXEC) != 0) {
        const int e = errno;
        ::close(cmd[0]);
        ::close(cmd[1]);
        return MakeError("sweep: worker pipe", "", e);
      }
      // Whatever the worker's backend throws, the worker _exits: the parent
      // sees it die (a harness error for that run), never a second sweep.
      auto forked = ForkSweepChild("worker " + std::to_string(i), [&]() -> int {
        ::close(cmd[1]);
        ::close(res[0]);
        // The other workers' pipe ends are close-on-exec but not closed in
        // a fork: close them, so that a worker sees EOF when the parent
        // (not a sibling) goes away.
        for (const Worker& w : workers_) {
          ::close(w.cmd_fd);
          ::close(w.res_fd);
        }
        WorkerMain(make_, workload, cmd[0], res[1]);
      });
      if (!forked) {
        for (int fd : {cmd[0], cmd[1], res[0], res[1]}) ::close(fd);
        Finish();
        return forked.error();
      }
      const pid_t pid = *forked;
      ::close(cmd[0]);
      ::close(res[1]);
      workers_.push_back(Worker{pid, cmd[1], res[0]});
    }
    // Every worker reports its Prepare (they prepare at the same time).
    mydocker::Error first;
    bool failed = false;
    for (size_t i = 0; i < workers_.size(); ++i) {
      nlohmann::json m;
      if (!RecvMsg(workers_[i].res_fd, &m)) {
        if (!failed) first = MakeError("sweep: worker " + std::to_string(i), "", 0,
                                       "died while preparing");
        failed = true;
      } else if (m.contains("error")) {
        if (!failed) {
          const auto& e = m["error"];
          first = MakeError(e.value("step", ""), e.value("path", ""), e.value("err", 0),
                            e.value("detail", ""));
        }
        failed = true;
      }
    }
    if (failed) {
      Finish();
      return first;
    }
    for (size_t i = 0; i < workers_.size(); ++i) idle_.push_back(i);
    return Outcome::Ok();
  }

  SweepRun Run(const FaultPlan& plan, bool always_gc) override {
    size_t w;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !idle_.empty(); });
      w = idle_.back();
      idle_.pop_back();
    }
    SweepRun run;
    nlohmann::json reply;
    Worker& worker = workers_[w];
    if (!worker.alive) {
      run.harness_error = "worker " + std::to_string(w) + " died in an earlier run";
    } else if (!SendMsg(worker.cmd_fd,
                        {{"op", "run"}, {"plan", plan.ToString()}, {"always_gc", always_gc}}) ||
               !RecvMsg(worker.res_fd, &reply)) {
      worker.alive = false;
      run.harness_error = "worker " + std::to_string(w) + " (pid " + std::to_string(worker.pid) +
                          ") died during the run";
    } else {
      try {
        run = SweepRunFromJson(reply);
      } catch (const nlohmann::json::exception& e) {
        run.harness_error = "worker " + std::to_string(w) + ": bad reply: " + e.what();
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      idle_.push_back(w);
    }
    cv_.notify_one();
    return run;
  }

  void Finish() override {
    for (Worker& w : workers_) {
      if (w.alive) SendMsg(w.cmd_fd, {{"op", "finish"}});
      ::close(w.cmd_fd);
    }
    for (Worker& w : workers_) {
      int status = 0;
      while (::waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
      }
      ::close(w.res_fd);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        spdlog::warn("sweep: worker pid {} ended with status {:#x}", w.pid, status);
      }
    }
    workers_.clear();
    idle_.clear();
  }

 private:
  struct Worker {
    pid_t pid;
    int cmd_fd;
    int res_fd;
    bool alive = true;
  };

  std::function<std::unique_ptr<SweepBackend>()> make_;
  size_t jobs_;
  std::string name_;
  std::vector<Worker> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<size_t> idle_;
};

}  // namespace

std::unique_ptr<SweepBackend> MakeParallelSweepBackend(
    std::function<std::unique_ptr<SweepBackend>()> make, size_t jobs) {
  if (jobs <= 1) return make();
  return std::make_unique<ParallelSweepBackend>(std::move(make), jobs);
}

}  // namespace faultline
