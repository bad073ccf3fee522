// LinuxSys: Sys on the real kernel. The only code under runtime/ that makes
// syscalls. Every method is a thin call: no allocation on the way to the
// kernel, errno captured right after the call.
#pragma once

#include "runtime/sys/sys.h"

namespace mydocker {

class LinuxSys final : public Sys {
 public:
#define MYDOCKER_LINUX_OP(Method, name, Ret, Params, ...) Ret Method Params override;
  MYDOCKER_SYS_OPS(MYDOCKER_LINUX_OP)
#undef MYDOCKER_LINUX_OP
};

}  // namespace mydocker
