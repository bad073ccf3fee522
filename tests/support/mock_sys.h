// MockSys: a gMock double of every Sys call, for ordering and argument
// expectations ("umount2 of merged happens before rmdir of the workspace").
//
// Header-only on purpose: the faultline_mocks library links without gtest;
// only test binaries include this. Default actions return success with a
// value-initialized result (gMock's default for Status/Result structs), so a
// NiceMock<MockSys> behaves like a kernel that accepts everything.
#pragma once

#include <gmock/gmock.h>

#include "runtime/sys/sys.h"

namespace mydocker {

class MockSys : public Sys {
 public:
#define MYDOCKER_MOCK_OP(Method, name, Ret, Params, ...) MOCK_METHOD(Ret, Method, Params, (override));
  MYDOCKER_SYS_OPS(MYDOCKER_MOCK_OP)
#undef MYDOCKER_MOCK_OP
};

}  // namespace mydocker

namespace faultline {
using mydocker::MockSys;
}  // namespace faultline
