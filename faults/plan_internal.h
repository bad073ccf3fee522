// Helpers the plan core (plan.cc) and its YAML/JSON front end
// (plan_yaml.cc) share. Internal to faults/.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/util/error.h"

namespace faultline::plan_internal {

// A parse error: step "fault plan", path = the field.
mydocker::Error PlanError(const std::string& field, const std::string& detail);
// Decimal or 0x hex; the whole string.
bool ParseU64(std::string_view s, uint64_t* out);
bool ParseDouble(std::string_view s, double* out);

}  // namespace faultline::plan_internal
