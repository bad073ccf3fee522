#include "runtime/cli/args.h"

#include <sstream>

#include <CLI/CLI.hpp>

#include "runtime/container/validate.h"

namespace mydocker {

Command ParseArgs(int argc, const char* const* argv,
                  const std::vector<std::string>& env) {
  Command c;
  CLI::App app{"mydocker: a minimal container runtime (namespaces, overlayfs, cgroups)",
               "mydocker"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("mydocker version ") + MYDOCKER_VERSION);
  app.add_option("--root", c.root, "images; also containers unless --state is given")
      ->capture_default_str();
  app.add_option("--state", c.state,
                 "containers' state and workspaces (default: --root); a tmpfs such as "
                 "/run/mydocker keeps them off the disk. ps, rm and gc need the same --state");
  app.add_option("--log-level", c.log_level, "trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  app.add_option("--cgroup-parent", c.cgroup_parent, "parent cgroup of every container")
      ->capture_default_str();

  auto* run = app.add_subcommand("run", "run a command in a new container");
  std::string memory, cpus, cpuset;
  int64_t pids = 0;
  uint64_t shares = 0;
  std::vector<std::string> envs, vols;
  run->add_flag("-t,--tty", c.run.tty, "the caller's terminal is the container's console");
  run->add_flag("-i,--interactive", c.run.interactive, "keep stdin open");
  run->add_flag("-d,--detach", c.run.detach,
                "run in the background: print the id; output to the container's log");
  run->add_option("--name", c.run.name, "container name");
  run->add_option("--hostname", c.run.hostname, "hostname (default: the id)");
  // One value per -e / -v, repeatable; never swallow IMAGE.
  run->add_option("-e,--env", envs, "KEY=VALUE, or KEY to pass the caller's value")
      ->allow_extra_args(false);
  run->add_option("-v,--volume", vols, "HOST_DIR:CONTAINER_DIR[:ro]")->allow_extra_args(false);
  run->add_option("-m,--memory", memory, "memory limit: 32m, 1g, ...");
  run->add_option("--cpu-shares", shares, "relative cpu weight (v1 shares)");
  run->add_option("--cpus", cpus, "cpu quota in cpus, e.g. 0.5");
  run->add_option("--cpuset-cpus", cpuset, "cpus allowed, e.g. 0-1");
  run->add_option("--pids-limit", pids, "maximum number of processes");
  std::string mount_api = "auto";
  run->add_option("--mount-api", mount_api, "overlay mount API: auto, legacy, new")
      ->check(CLI::IsMember({"auto", "legacy", "new"}));
  std::vector<std::string> cap_add, cap_drop, security_opts;
  run->add_option("--cap-add", cap_add, "add a Linux capability (NAME, CAP_NAME or ALL)")
      ->allow_extra_args(false);
  run->add_option("--cap-drop", cap_drop, "drop a Linux capability (NAME, CAP_NAME or ALL)")
      ->allow_extra_args(false);
  run->add_option("--security-opt", security_opts,
                  "seccomp=unconfined, seccomp=PROFILE.json, no-new-privileges[=true|false]")
      ->allow_extra_args(false);
  run->add_option("image", c.run.image, "image name")->required();
  // Everything after IMAGE is the command, options included.
  run->prefix_command();
  run->footer("Usage: mydocker run [OPTIONS] IMAGE COMMAND [ARG...]");

  auto* ps = app.add_subcommand("ps", "list containers");
  ps->add_flag("-a,--all", c.all, "also containers whose run has ended");
  auto* rm = app.add_subcommand("rm", "remove containers and what they left");
  rm->add_flag("-f,--force", c.force, "kill a running container first");
  rm->add_option("container", c.names, "name or id")->required();
  app.add_subcommand("gc", "remove what ended or killed runs left behind");
  auto* logs = app.add_subcommand("logs", "print a detached container's output");
  logs->add_option("container", c.names, "name or id")->required()->expected(1);
  auto* stop = app.add_subcommand("stop", "stop running containers (SIGTERM, then SIGKILL)");
  stop->add_option("-t,--time", c.stop_timeout, "seconds to wait before SIGKILL")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  stop->add_option("container", c.names, "name or id")->required();
  auto* exec = app.add_subcommand("exec", "run a command in a running container");
  std::vector<std::string> exec_envs;
  exec->add_flag("-i,--interactive", c.exec.interactive, "keep stdin open");
  exec->add_option("-e,--env", exec_envs, "KEY=VALUE, or KEY to pass the caller's value")
      ->allow_extra_args(false);
  std::string exec_name;
  exec->add_option("container", exec_name, "name or id")->required();
  exec->prefix_command();
  exec->footer("Usage: mydocker exec [OPTIONS] CONTAINER COMMAND [ARG...]");

  auto* image = app.add_subcommand("image", "manage images");
  image->require_subcommand(1);
  auto* import = image->add_subcommand("import", "import a docker-export tar, an OCI image layout (directory or tar) or a docker-save tar");
  import->add_option("tar", c.tar_path, "the tar file or OCI layout directory")->required()->check(CLI::ExistingPath);
  import->add_option("name", c.image_name, "image name")->required();
  std::string max_size;
  import->add_option("--max-entries", c.import_limits.max_entries,
                     "refuse an archive with more entries")->capture_default_str();
  import->add_option("--max-size", max_size,
                     "refuse more file data than this (64g by default; 32m, 1g, ...)");
  import->add_option("--max-depth", c.import_limits.max_depth,
                     "refuse entry names with more path components")->capture_default_str();
  image->add_subcommand("ls", "list images");
  auto* image_rm = image->add_subcommand("rm", "remove images");
  image_rm->add_option("image", c.names, "image name")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::ostringstream out, err;
    c.exit_code = app.exit(e, out, err);
    // CLI11 exits 0 for --help; map real usage errors to docker's 125.
    if (c.exit_code != 0) c.exit_code = 125;
    c.output = out.str() + err.str();
    c.done = true;
    return c;
  }

  if (run->parsed()) {
    c.verb = Verb::kRun;
    // prefix_command: everything after the image is the command.
    c.run.argv = run->remaining();
    auto fail = [&](const Error& e) {
      c.done = true;
      c.exit_code = 125;
      c.output = "mydocker: " + e.Message() + "\n";
      return c;
    };
    // An unknown option lands in remaining() too: a command never starts
    // with '-', so that is a usage error, not the command.
    if (!c.run.argv.empty() && c.run.argv[0][0] == '-') {
      return fail(MakeError("parse run", c.run.argv[0], EINVAL, "unknown option"));
    }
    // No command: the image's config gives it (Entrypoint + Cmd), or run
    // fails naming the image.
    if (c.run.image.empty()) {
      return fail(MakeError("parse run", c.run.image, EINVAL,
                            "no image: mydocker run [OPTIONS] IMAGE [COMMAND [ARG...]]"));
    }
    for (const auto& e : envs) {
      auto kv = ParseEnv(e, env);
      if (!kv) return fail(kv.error());
      c.run.env.push_back(*kv);
    }
    for (const auto& v : vols) {
      auto vol = ParseVolume(v);
      if (!vol) return fail(vol.error());
      c.run.volumes.push_back(*vol);
    }
    if (!memory.empty()) {
      auto m = ParseMemorySize(memory);
      if (!m) {
        Error e = m.error();
        e.step = "parse --memory";
        e.path = EscapedForMessage(memory);
        return fail(e);
      }
      if (*m != 0) c.run.limits.memory_bytes = *m;  // docker: -m 0 is no limit
    }
    if (!cpus.empty()) {
      auto v = ParseCpus(cpus);
      if (!v) return fail(v.error());
      c.run.limits.cpus = *v;
    }
    if (!cpuset.empty()) {
      auto v = ParseCpuList(cpuset);
      if (!v) return fail(v.error());
      c.run.limits.cpuset_cpus = *v;
    }
    if (run->count("--cpu-shares") > 0) {
      if (shares < 2 || shares > 262144) {
        return fail(MakeError("parse --cpu-shares", std::to_string(shares), EINVAL,
                              "must be 2..262144"));
      }
      c.run.limits.cpu_shares = shares;
    }
    if (run->count("--pids-limit") > 0) {
      if (pids <= 0) {
        return fail(MakeError("parse --pids-limit", std::to_string(pids), EINVAL,
                              "must be positive"));
      }
      c.run.limits.pids_limit = pids;
    }
    c.run.security.cap_add = cap_add;
    c.run.security.cap_drop = cap_drop;
    if (auto caps = ResolveCaps(cap_add, cap_drop); !caps) return fail(caps.error());
    for (const auto& o : security_opts) {
      if (Outcome r = ApplySecurityOpt(&c.run.security, o); !r) return fail(r.error());
    }
    c.run.mount_api = mount_api == "legacy" ? MountApi::kLegacy
                      : mount_api == "new"  ? MountApi::kNewApi
                                            : MountApi::kAuto;
    // Every string, before anything is created (Runtime::Run checks again).
    if (Outcome o = ValidateRunSpec(c.run); !o) return fail(o.error());
  } else if (ps->parsed()) {
    c.verb = Verb::kPs;
  } else if (rm->parsed()) {
    c.verb = Verb::kRm;
    for (const auto& n : c.names) {
      if (!ValidContainerName(n)) {
        c.done = true;
        c.exit_code = 125;
        c.output = "mydocker: " + MakeError("parse rm", EscapedForMessage(n), EINVAL,
                                            "not a container name or id").Message() + "\n";
        return c;
      }
    }
  } else if (app.got_subcommand("gc")) {
    c.verb = Verb::kGc;
  } else if (logs->parsed() || stop->parsed() || exec->parsed()) {
    c.verb = logs->parsed() ? Verb::kLogs : stop->parsed() ? Verb::kStop : Verb::kExec;
    auto fail = [&](const Error& e) {
      c.done = true;
      c.exit_code = 125;
      c.output = "mydocker: " + e.Message() + "\n";
      return c;
    };
    if (exec->parsed()) {
      c.names = {exec_name};
      c.exec.argv = exec->remaining();
      if (!c.exec.argv.empty() && c.exec.argv[0][0] == '-') {
        return fail(MakeError("parse exec", c.exec.argv[0], EINVAL, "unknown option"));
      }
      if (c.exec.argv.empty()) {
        return fail(MakeError("parse exec", exec_name, EINVAL,
                              "no command: mydocker exec [OPTIONS] CONTAINER COMMAND [ARG...]"));
      }
      for (const auto& e : exec_envs) {
        auto kv = ParseEnv(e, env);
        if (!kv) return fail(kv.error());
        c.exec.env.push_back(*kv);
      }
    }
    for (const auto& n : c.names) {
      if (!ValidContainerName(n)) {
        return fail(MakeError(std::string("parse ") + (logs->parsed() ? "logs" : stop->parsed() ? "stop" : "exec"),
                              EscapedForMessage(n), EINVAL, "not a container name or id"));
      }
    }
  } else if (import->parsed()) {
    c.verb = Verb::kImageImport;
    if (!max_size.empty()) {
      auto m = ParseMemorySize(max_size);
      if (!m) {
        Error e = m.error();
        e.step = "parse --max-size";
        e.path = EscapedForMessage(max_size);
        c.done = true;
        c.exit_code = 125;
        c.output = "mydocker: " + e.Message() + "\n";
        return c;
      }
      c.import_limits.max_bytes = static_cast<uint64_t>(*m);
    }
    if (!ValidImageName(c.image_name)) {
      c.done = true;
      c.exit_code = 125;
      c.output = "mydocker: " + MakeError("parse image import", EscapedForMessage(c.image_name),
                                          EINVAL, "image names are [a-z0-9][a-z0-9._-]*, at most 128").Message() + "\n";
      return c;
    }
  } else if (image->got_subcommand("ls")) {
    c.verb = Verb::kImageLs;
  } else if (image_rm->parsed()) {
    c.verb = Verb::kImageRm;
  }
  return c;
}

}  // namespace mydocker
