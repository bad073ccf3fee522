// mydocker: the CLI over Runtime, on the real kernel (LinuxSys).
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <iostream>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "runtime/cli/args.h"
#include "runtime/cli/lazy_archive.h"
#include "runtime/container/runtime.h"
#include "runtime/sys/linux_sys.h"

extern char** environ;

namespace {

using namespace mydocker;

int Fail(const Error& e) {
  std::fprintf(stderr, "mydocker: %s\n", e.Message().c_str());
  return kExitRuntimeError;
}

std::string Joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

int Ps(Runtime& rt, Sys& sys, bool all) {
  auto list = rt.List();
  if (!list) return Fail(list.error());
  std::printf("%-12s  %-16s  %-10s  %-11s  %-8s  %s\n", "ID", "NAME", "IMAGE", "STATUS",
              "PID", "COMMAND");
  for (const auto& s : *list) {
    const bool alive = s.status == "running" && ProcessAlive(sys, s.pid, s.pid_start);
    const std::string status = StatusText(sys, s);
    if (!all && !alive) continue;
    std::printf("%-12s  %-16s  %-10s  %-11s  %-8d  %s\n", s.id.c_str(), s.name.c_str(),
                s.image.c_str(), status.c_str(), alive ? s.pid : 0,
                Joined(s.command).c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);

  Command cmd = ParseArgs(argc, argv, env);
  if (cmd.done) {
    std::fputs(cmd.output.c_str(), cmd.exit_code == 0 ? stdout : stderr);
    return cmd.exit_code;
  }
  auto logger = spdlog::stderr_color_mt("mydocker");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("mydocker %^%l%$: %v");
  spdlog::set_level(spdlog::level::from_str(cmd.log_level));

  LinuxSys sys;
  RuntimeConfig config;
  config.root = cmd.root;
  config.state_root = cmd.state;
  config.cgroup_parent = cmd.cgroup_parent;
  config.inherited_env = env;
  Runtime rt(sys, config);

  switch (cmd.verb) {
    case Verb::kRun: {
      auto r = rt.Run(cmd.run);
      if (!r) return Fail(r.error());
      if (!r->message.empty()) std::fprintf(stderr, "mydocker: %s\n", r->message.c_str());
      else if (cmd.run.detach) std::printf("%s\n", r->id.c_str());
      return r->exit_code;
    }
    case Verb::kLogs: {
      auto r = rt.Logs(cmd.names[0]);
      if (!r) return Fail(r.error());
      std::fwrite(r->out.data(), 1, r->out.size(), stdout);
      std::fwrite(r->err.data(), 1, r->err.size(), stderr);
      return 0;
    }
    case Verb::kStop: {
      int rc = 0;
      for (const auto& n : cmd.names) {
        if (Outcome o = rt.Stop(n, cmd.stop_timeout); !o) rc = Fail(o.error());
        else std::printf("%s\n", n.c_str());
      }
      return rc;
    }
    case Verb::kExec: {
      std::fflush(stdout);
      auto r = rt.Exec(cmd.names[0], cmd.exec);
      if (!r) return Fail(r.error());
      if (!r->message.empty()) std::fprintf(stderr, "mydocker: %s\n", r->message.c_str());
      return r->exit_code;
    }
    case Verb::kPs:
      return Ps(rt, sys, cmd.all);
    case Verb::kRm: {
      int rc = 0;
      for (const auto& n : cmd.names) {
        if (Outcome o = rt.Remove(n, cmd.force); !o) rc = Fail(o.error());
        else std::printf("%s\n", n.c_str());
      }
      return rc;
    }
    case Verb::kGc: {
      auto r = rt.Gc();
      if (!r) return Fail(r.error());
      for (const auto& id : r->removed) std::printf("removed %s\n", id.c_str());
      for (const auto& id : r->skipped) std::printf("running %s (kept)\n", id.c_str());
      for (const auto& id : r->kept) std::printf("exited %s (kept until rm)\n", id.c_str());
      for (const auto& e : r->errors) Fail(e);
      return r->errors.empty() ? 0 : kExitRuntimeError;
    }
    case Verb::kImageImport: {
      if (Outcome o = LoadArchiveLibrary(); !o) return Fail(o.error());
      auto r = rt.images().Import(cmd.tar_path, cmd.image_name, cmd.import_limits);
      if (!r) return Fail(r.error());
      std::printf("%s: %llu entries, %llu bytes\n", r->name.c_str(),
                  static_cast<unsigned long long>(r->files),
                  static_cast<unsigned long long>(r->size));
      return 0;
    }
    case Verb::kImageLs: {
      auto r = rt.images().List();
      if (!r) return Fail(r.error());
      std::printf("%-20s  %10s  %8s  %s\n", "NAME", "SIZE", "ENTRIES", "ROOTFS");
      for (const auto& i : *r) {
        std::printf("%-20s  %10llu  %8llu  %s\n", i.name.c_str(),
                    static_cast<unsigned long long>(i.size),
                    static_cast<unsigned long long>(i.files), i.rootfs.c_str());
      }
      return 0;
    }
    case Verb::kImageRm: {
      int rc = 0;
      for (const auto& n : cmd.names) {
        if (Outcome o = rt.RemoveImage(n); !o) rc = Fail(o.error());
      }
      return rc;
    }
    case Verb::kNone:
      break;
  }
  return kExitRuntimeError;
}
