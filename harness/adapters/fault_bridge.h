// The scenario's `faults:` section -> a Sys that injects them.
//
// The section is a YAML list of fault plan rules; it is handed unchanged to
// the plan parser (harness/faults/plan.h) and the plan drives a
// FaultInjectingSys (mocks/fault_injecting_sys.h) over the given target.
#pragma once

#include <memory>
#include <string>

#include <yaml-cpp/yaml.h>

#include "runtime/sys/sys.h"

namespace faultline {

// A Sys applying `faults` over target (which must outlive it), or nullptr
// with *error saying why: the plan's own parse error (with its line), or
// that fault injection is not built into this binary.
std::unique_ptr<mydocker::Sys> MakeFaultySys(mydocker::Sys& target, const YAML::Node& faults,
                                             std::string* error);

// A crash action ended the run: set by the FaultInjectingSys's crash action
// in-process (the fake runtime); the builtin worker dies by SIGKILL instead.
bool FaultInjectionAvailable();

}  // namespace faultline
