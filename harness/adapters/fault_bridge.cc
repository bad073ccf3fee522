#include "harness/adapters/fault_bridge.h"

#include "faults/plan.h"
#include "faults/fault_injecting_sys.h"

namespace faultline {

std::unique_ptr<mydocker::Sys> MakeFaultySys(mydocker::Sys& target, const YAML::Node& faults,
                                             std::string* error) {
  auto plan = FaultPlan::FromYamlNode(faults);
  if (!plan) {
    *error = plan.error().Message();
    return nullptr;
  }
  return std::make_unique<FaultInjectingSys>(target, std::move(*plan));
}

}  // namespace faultline
