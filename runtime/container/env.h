// The container's environment, from the caller's and the -e values.
#pragma once

#include <string>
#include <vector>

namespace mydocker {

// base (the caller's) then extra (-e), each KEY=VAL or KEY; a later KEY
// replaces the earlier one in its place, first appearances keep their
// order. Linear in the entries (a run passes the caller's whole
// environment).
std::vector<std::string> MergeEnv(const std::vector<std::string>& base,
                                  const std::vector<std::string>& extra);

}  // namespace mydocker
