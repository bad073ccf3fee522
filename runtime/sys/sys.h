// Sys: the one seam between the mydocker runtime and the kernel.
//
// Contract:
//  * Every side effect of the runtime (mounts, files, directories, processes,
//    cgroups, hostnames) goes through one of these virtuals. LinuxSys
//    (linux_sys.h) is the only code under runtime/ that makes syscalls; the
//    unit test `SysSeam.OnlyLinuxSysCallsTheKernel` enforces that.
//  * Arguments are value structs or plain values so a double can record,
//    print and match them. Results carry the errno (0 on success); callers
//    turn a failure into an Error that names the step and the path (error.h).
//  * Methods never allocate in LinuxSys on the success or failure path, so
//    they may be called in a cloned child between clone and execve (the
//    runtime prepares every argument before clone).
//  * Paths are absolute or relative to the calling process's cwd, as the
//    kernel sees them.
#pragma once

#include <errno.h>
#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/sys/sys_ops.h"

namespace mydocker {

// One entry per kernel operation the runtime performs, in the order of
// MYDOCKER_SYS_OPS (sys_ops.h), from which this enum, OpName and every Sys
// implementation's method list come.
enum class Op : uint8_t {
#define MYDOCKER_OP_ENUM(Method, name, ...) k##Method,
  MYDOCKER_SYS_OPS(MYDOCKER_OP_ENUM)
#undef MYDOCKER_OP_ENUM
  kCount,  // not an op: the number of ops
};

// "mount", "umount2", ... as in the syscall's name.
const char* OpName(Op op);
// Inverse of OpName; returns false for an unknown name.
bool OpFromName(std::string_view name, Op* op);

// The result of one call: a value and an errno (0 on success).
template <class T>
struct [[nodiscard]] Result {
  T value{};
  int err = 0;
  bool ok() const { return err == 0; }
};

struct [[nodiscard]] Status {
  int err = 0;
  bool ok() const { return err == 0; }
  static Status Ok() { return {}; }
  static Status Errno(int e) { return Status{e}; }
};

struct MountArgs {
  std::string source;
  std::string target;
  std::string fstype;
  unsigned long flags = 0;
  std::string data;
};

struct FsconfigArgs {
  int fd = -1;
  unsigned int cmd = 0;  // FSCONFIG_SET_STRING, FSCONFIG_CMD_CREATE, ...
  std::string key;       // empty for FSCONFIG_CMD_*
  std::string value;     // empty when the command takes none
  int aux = 0;
};

struct MoveMountArgs {
  int from_dirfd = -1;
  std::string from_path;  // "" with MOVE_MOUNT_F_EMPTY_PATH
  int to_dirfd = -100;    // AT_FDCWD
  std::string to_path;
  unsigned int flags = 0;
};

// openat2(2)'s struct open_how.
struct OpenHow {
  uint64_t flags = 0;    // O_* (O_CLOEXEC, O_PATH, O_DIRECTORY, ...)
  uint64_t mode = 0;     // with O_CREAT
  uint64_t resolve = 0;  // RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, ...
};

// mount_setattr(2)'s struct mount_attr.
struct MountAttr {
  uint64_t attr_set = 0;  // MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, ...
  uint64_t attr_clr = 0;
  uint64_t propagation = 0;
};

// The three 64-bit capability sets of capset(2) (version 3), bit n = cap n.
struct CapSets {
  uint64_t effective = 0;
  uint64_t permitted = 0;
  uint64_t inheritable = 0;
};

// A seccomp filter in docker's profile terms, already reduced to the rules
// that apply (runtime/rootfs/hardening.h makes it from the JSON).
enum class SeccompAction : uint8_t { kAllow, kErrno, kKillThread, kKillProcess, kTrap, kLog };
enum class SeccompCmp : uint8_t { kNe, kLt, kLe, kEq, kGe, kGt, kMaskedEq };
struct SeccompCondition {
  uint32_t index = 0;  // the argument, 0..5
  SeccompCmp op = SeccompCmp::kEq;
  uint64_t value = 0;
  uint64_t value_two = 0;  // kMaskedEq: the value compared after masking
};
struct SeccompRule {
  std::string syscall;  // by name, resolved for each architecture
  SeccompAction action = SeccompAction::kAllow;
  uint32_t errno_ret = 1;
  std::vector<SeccompCondition> conditions;  // all must hold
};
struct SeccompRules {
  SeccompAction default_action = SeccompAction::kErrno;
  uint32_t default_errno = 1;  // EPERM
  std::vector<std::string> extra_arches;  // libseccomp names: "x86", "x32"
  std::vector<SeccompRule> rules;
};
// An exported program: 8-byte instructions, as SECCOMP_SET_MODE_FILTER
// takes them.
struct SeccompBpf {
  std::vector<uint8_t> code;
  uint16_t instructions() const { return static_cast<uint16_t>(code.size() / 8); }
};

// A classic BPF seccomp program (struct sock_fprog): len instructions of 8
// bytes at filter. The memory belongs to the caller.
struct SeccompProgram {
  const void* filter = nullptr;
  uint16_t len = 0;
};

struct FileStat {
  uint32_t mode = 0;  // st_mode, type bits included
  uint64_t size = 0;
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t rdev = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t nlink = 0;
  uint64_t blocks = 0;    // st_blocks: 512-byte units allocated (sparse files)
  int64_t mtime_ns = 0;   // st_mtim, ns since the epoch (0 where not modeled)
  int64_t ctime_ns = 0;   // st_ctim
};

struct DirEntry {
  std::string name;   // never "." or ".."
  uint8_t type = 0;   // DT_REG, DT_DIR, DT_LNK, ... (DT_UNKNOWN allowed)
};

struct PipeFds {
  int read_fd = -1;
  int write_fd = -1;
};

enum class SignalDisposition : uint8_t { kDefault, kIgnore };

// A child of Clone runs this and exits with its return value. It must only
// make Sys calls and touch memory prepared before the clone.
using CloneFn = std::function<int()>;

// The calling process as a backend knows it: an optional interface of a Sys
// (FakeKernel; the kernel sweep's role mapping) that FaultInjectingSys asks
// for the pid of each traced call, looking through SysWrapper chains.
class ProcessIdentity {
 public:
  virtual ~ProcessIdentity() = default;
  // The pid of the process on whose behalf the current call runs.
  virtual pid_t CurrentPid() const = 0;
};

// One pure virtual per op of MYDOCKER_SYS_OPS (sys_ops.h says what each
// takes and returns). A test double that models only some ops derives from
// ErrnoSys (sys_wrapper.h): every other op fails with ENOSYS.
class Sys {
 public:
  virtual ~Sys() = default;

#define MYDOCKER_SYS_PURE(Method, name, Ret, Params, ...) virtual Ret Method Params = 0;
  MYDOCKER_SYS_OPS(MYDOCKER_SYS_PURE)
#undef MYDOCKER_SYS_PURE
};

}  // namespace mydocker
