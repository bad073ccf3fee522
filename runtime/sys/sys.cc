#include "runtime/sys/sys.h"

namespace mydocker {
namespace {
constexpr const char* kOpNames[] = {
    "mount",  "umount2", "pivot_root", "fsopen",      "fsconfig", "fsmount",
    "move_mount", "mkdir", "rmdir",    "unlink",      "rename",   "symlink",
    "link",   "mknod",   "chmod",      "lchown",      "lstat",    "statfs",
    "readdir", "readlink", "open",     "close",       "read",     "write",
    "pipe",   "dup2",    "chdir",      "sethostname", "clone",    "execve",
    "waitpid", "kill",   "signal",     "prctl",       "ioctl",    "setsid",
    "poll",
};
static_assert(sizeof(kOpNames) / sizeof(kOpNames[0]) ==
              static_cast<size_t>(Op::kCount));
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
