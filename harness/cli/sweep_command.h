// `faultline sweep`: the exhaustive fault sweep (harness/sweep/sweep.h) from
// the command line. See docs/sweeps.md.
//
//   faultline sweep [--backend fake|kernel|seccomp] [--runtime mydocker|runc|crun]
//                   [--runtime-binary PATH] [--syscalls LIST] [--run-timeout S]
//                   [--errno LIST] [--mode LIST] [--point N | --plan PLAN]
//                   [--report-json FILE] [--report-md FILE] [--image-tar FILE]
//                   [--keep-scratch] [--verbose] [SCENARIO]
//
// SCENARIO is a scenario file (its `sweep:` section gives the default errnos
// and modes) or a built-in workload: run-true (default), run-full.
// Exit status: 0 every run passed; 1 some run failed (each failure prints
// one command that replays it); 2 the sweep could not run.
#pragma once

#include <CLI/CLI.hpp>

namespace faultline {

void AddSweepCommand(CLI::App& app);

}  // namespace faultline
