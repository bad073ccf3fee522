// faultline: a test harness and fault-injection framework for Linux container
// runtimes. Subcommands live in harness/cli/; adding one is one Add*Command
// call here.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "harness/cli/commands.h"
#include "harness/cli/sweep_command.h"

int main(int argc, char** argv) {
  auto logger = spdlog::stderr_color_mt("faultline");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("faultline %^%l%$: %v");
  spdlog::set_level(spdlog::level::warn);

  CLI::App app{"faultline: test container runtimes for isolation, leftovers and faults"};
  app.require_subcommand(1);
  faultline::AddRunCommand(app);
  faultline::AddSweepCommand(app);
  faultline::AddMergeCommand(app);
  faultline::AddRuntimesCommand(app);
  faultline::AddBuiltinWorkerCommand(app);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
