// The scenario's `faults:` section -> a Sys that injects them.
//
// The section is a YAML list of fault plan rules; it is handed unchanged to
// the plan parser (faults/plan.h) and the plan drives a
// FaultInjectingSys (faults/fault_injecting_sys.h) over the given target.
#pragma once

#include <memory>
#include <string>

#include <yaml-cpp/yaml.h>

#include "runtime/sys/sys.h"

namespace faultline {

// A FaultInjectingSys applying `faults` over target (which must outlive
// it), or nullptr with *error holding the plan parser's message (step
// "fault plan", the field, what is wrong). A crash action throws
// faultline::Crash (faults/fault_injecting_sys.h) out of the call.
std::unique_ptr<mydocker::Sys> MakeFaultySys(mydocker::Sys& target, const YAML::Node& faults,
                                             std::string* error);

}  // namespace faultline
