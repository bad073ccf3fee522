#include "harness/adapters/step_support.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "harness/adapters/process.h"
#include "runtime/container/runtime.h"
#include "runtime/sys/fs_util.h"

namespace faultline {
namespace {
double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

int SignalNumber(const std::string& name) {
  static const std::map<std::string, int> k = {
      {"TERM", SIGTERM}, {"KILL", SIGKILL}, {"INT", SIGINT},   {"HUP", SIGHUP},  {"QUIT", SIGQUIT},
      {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"STOP", SIGSTOP}, {"CONT", SIGCONT}};
  auto it = k.find(name.rfind("SIG", 0) == 0 ? name.substr(3) : name);
  return it == k.end() ? 0 : it->second;
}

ContainerView ViewFromStore(mydocker::Sys& sys, const std::string& state_root,
                            const std::string& id_or_name) {
  ContainerView v;
  mydocker::StateStore store(sys, state_root);
  auto ids = store.Ids();
  if (!ids) {
    v.status = "unreadable store: " + ids.error().Message();
    return v;
  }
  for (const auto& id : *ids) {
    auto s = store.Read(id);
    if (id != id_or_name && !(s && s->name == id_or_name)) continue;
    v.known = true;
    if (!s) {
      v.status = "no state (" + s.error().Message() + ")";
      return v;
    }
    v.status = s->status;
    v.pid = s->pid;
    v.running = s->status == "running" && mydocker::ProcessAlive(sys, s->pid, s->pid_start);
    return v;
  }
  return v;
}

std::string PsText(const std::vector<mydocker::ContainerState>& list) {
  std::vector<mydocker::ContainerState> l = list;
  std::sort(l.begin(), l.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  std::string out = "ID NAME STATUS PID\n";
  for (const auto& s : l) {
    out += s.id + " " + s.name + " " + s.status + " " + std::to_string(s.pid) + "\n";
  }
  return out;
}

bool WaitUntilRunning(mydocker::Sys& sys, const std::string& state_root, BackgroundRun& run,
                      double timeout_s, std::string* why) {
  const double until = Now() + timeout_s;
  while (Now() < until) {
    ContainerView v = ViewFromStore(sys, state_root, run.id);
    if (v.running) return true;
    int status = 0;
    if (run.pid > 0 && waitpid(run.pid, &status, WNOHANG) == run.pid) {
      ReleasePid(run.pid);
      run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      run.pid = -1;
      run.waited = true;
      *why = "the run ended (exit " + std::to_string(run.exit_code) + ") before " + run.id +
             " was seen running: " + ReadTextFile(run.err);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  *why = run.id + " was not seen running within " + std::to_string(timeout_s) + " s";
  return false;
}

StepOutcome StartInBackground(mydocker::Sys& sys, const std::string& state_root,
                              BackgroundRun& run, SpawnOptions opts, double timeout_s) {
  StepOutcome o;
  opts.stdout_path = run.out;
  opts.stderr_path = run.err;
  o.replay = ShellJoin(opts.argv) + " &";
  std::string error;
  run.pid = Spawn(opts, &error);
  if (run.pid < 0) {
    o.exit_code = mydocker::kExitRuntimeError;
    o.err = error;
    return o;
  }
  std::string why;
  if (!WaitUntilRunning(sys, state_root, run, timeout_s, &why)) {
    o.exit_code = run.waited ? run.exit_code : mydocker::kExitRuntimeError;
    o.err = why;
  }
  return o;
}

StepOutcome KillRuntimeProcess(BackgroundRun& run) {
  StepOutcome o;
  if (run.pid <= 0) {
    o.exit_code = 1;
    o.err = "kill_runtime: the run of " + run.id + " has no runtime process left (exit " +
            std::to_string(run.exit_code) + ")";
    return o;
  }
  ::kill(run.pid, SIGKILL);
  ProcessResult p = WaitFor(run.pid, 30);
  run.exit_code = p.exit_code;
  run.pid = -1;
  run.waited = true;
  o.notes.push_back("SIGKILLed the runtime process of " + run.id + " (exit " +
                    std::to_string(p.exit_code) + ")");
  return o;
}

void ReapBackgroundRun(BackgroundRun& run, const std::string& label, StepOutcome* o) {
  if (run.pid <= 0) return;
  ProcessResult p = WaitFor(run.pid, 10);
  run.exit_code = p.exit_code;
  run.pid = -1;
  run.waited = true;
  o->notes.push_back(label + " ended: exit " + std::to_string(p.exit_code) +
                     (p.timed_out ? " (killed by the harness after 10 s)" : ""));
}

void AddExecResult(mydocker::Expected<mydocker::ExecResult>& e, StepOutcome* o) {
  if (!e) {
    o->exit_code = mydocker::kExitRuntimeError;
    o->err += "mydocker: " + e.error().Message() + "\n";
  } else {
    o->exit_code = e->exit_code;
    if (!e->message.empty()) o->err += "mydocker: " + e->message + "\n";
  }
}

}  // namespace faultline
