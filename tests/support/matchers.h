// gmock matchers for mydocker results (Expected<T>, Outcome: anything with
// ok() and error() -> mydocker::Error).
//
//   EXPECT_THAT(ws.Destroy(), FailsWith("workspace: remove init layer", etc, EBUSY));
//   EXPECT_THAT(r, FailsWith("cgroup: parse cpus", _, EINVAL));  // any path
//   EXPECT_THAT(r, FailsWith(HasSubstr("workspace: "), Not(IsEmpty()), Ne(0)));
//   EXPECT_THAT(rt.Run(spec), Succeeds());
//
// Each of step, path and errno is a value (compared with ==) or a matcher.
// A mismatch prints the whole error (Error::Message()).
#pragma once

#include <string>

#include <gmock/gmock.h>

#include "runtime/util/error.h"

namespace faultline::testing_matchers {

MATCHER_P3(FailsWith, step, path, err,
           std::string(negation ? "is not" : "is") + " a failure with step " +
               ::testing::PrintToString(step) + ", path " +
               ::testing::PrintToString(path) + ", errno " +
               ::testing::PrintToString(err)) {
  if (arg.ok()) {
    *result_listener << "which succeeded";
    return false;
  }
  const mydocker::Error& e = arg.error();
  *result_listener << "which failed with \"" << e.Message() << "\"";
  bool ok = true;
  if (!::testing::SafeMatcherCast<const std::string&>(step).Matches(e.step)) {
    *result_listener << ", step " << ::testing::PrintToString(e.step);
    ok = false;
  }
  if (!::testing::SafeMatcherCast<const std::string&>(path).Matches(e.path)) {
    *result_listener << ", path " << ::testing::PrintToString(e.path);
    ok = false;
  }
  if (!::testing::SafeMatcherCast<const int&>(err).Matches(e.err)) {
    *result_listener << ", errno " << mydocker::ErrnoName(e.err);
    ok = false;
  }
  return ok;
}

MATCHER(Succeeds, negation ? "failed" : "succeeded") {
  if (arg.ok()) return true;
  *result_listener << "which failed with \"" << arg.error().Message() << "\"";
  return false;
}

}  // namespace faultline::testing_matchers

namespace faultline {
using testing_matchers::FailsWith;
using testing_matchers::Succeeds;
}  // namespace faultline
