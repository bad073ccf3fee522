// faultline's subcommands. Each is registered on the top-level CLI11 app by
// one call; its callback does the work and reports a non-zero exit status by
// throwing CLI::RuntimeError(code), which main's CLI11_PARSE turns into the
// process's exit status.
#pragma once

#include <CLI/CLI.hpp>

namespace faultline {

// `faultline run [options] PATH...`: scenarios on runtimes, with reports.
void AddRunCommand(CLI::App& app);

// `faultline merge REPORT...`: one report from the shards' JSON reports.
void AddMergeCommand(CLI::App& app);

// `faultline __run-builtin REQUEST RESULT` (hidden): the builtin adapter's
// worker process (harness/adapters/builtin_worker.h).
void AddBuiltinWorkerCommand(CLI::App& app);

// `faultline runtimes`: the runtime profiles found and whether each runs here.
void AddRuntimesCommand(CLI::App& app);

}  // namespace faultline
