#include "harness/adapters/fault_bridge.h"

// The fault plan parser and FaultInjectingSys are another module; until they
// are in the tree a scenario with `faults:` fails with a clear message.
#if __has_include("harness/faults/plan.h") && __has_include("mocks/fault_injecting_sys.h")
#define FAULTLINE_HAVE_FAULTS 1
#include "harness/faults/plan.h"
#include "mocks/fault_injecting_sys.h"
#endif

namespace faultline {

bool FaultInjectionAvailable() {
#ifdef FAULTLINE_HAVE_FAULTS
  return true;
#else
  return false;
#endif
}

std::unique_ptr<mydocker::Sys> MakeFaultySys(mydocker::Sys& target, const YAML::Node& faults,
                                             std::string* error) {
#ifdef FAULTLINE_HAVE_FAULTS
  (void)target;
  (void)faults;
  *error = "fault plan bridge: not wired yet";
  return nullptr;
#else
  (void)target;
  (void)faults;
  *error = "fault injection not available: harness/faults/plan.h and "
           "mocks/fault_injecting_sys.h are not built into this faultline";
  return nullptr;
#endif
}

}  // namespace faultline
