#include "runtime/sys/sys.h"

namespace mydocker {
namespace {
constexpr const char* kOpNames[] = {
#define MYDOCKER_OP_NAME(Method, name, ...) name,
    MYDOCKER_SYS_OPS(MYDOCKER_OP_NAME)
#undef MYDOCKER_OP_NAME
};
static_assert(sizeof(kOpNames) / sizeof(kOpNames[0]) == static_cast<size_t>(Op::kCount));
}  // namespace

const char* OpName(Op op) {
  auto i = static_cast<size_t>(op);
  return i < static_cast<size_t>(Op::kCount) ? kOpNames[i] : "?";
}

bool OpFromName(std::string_view name, Op* op) {
  for (size_t i = 0; i < static_cast<size_t>(Op::kCount); ++i) {
    if (name == kOpNames[i]) {
      *op = static_cast<Op>(i);
      return true;
    }
  }
  return false;
}

}  // namespace mydocker
