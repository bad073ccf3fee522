// Decoding a notified call's arguments into a SyscallEvent: path strings
// read out of the caller's memory and resolved, fstype, flags. The caller is
// reached through ProcessView so the decoding is testable without a second
// process.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "harness/seccomp/root_cache.h"
#include "harness/seccomp/supervisor.h"

namespace faultline::seccomp {

// The caller as the decoder needs it.
class ProcessView {
 public:
  virtual ~ProcessView() = default;
  // As ReadRemoteString / ReadRemote: 0 or an errno.
  virtual int ReadString(uint64_t addr, size_t max, std::string* out) = 0;
  virtual int Read(uint64_t addr, void* buf, size_t len) = 0;
  // readlink of /proc/PID/<what>: "root", "cwd", "fd/3"; empty when gone.
  virtual std::string Link(const std::string& what) = 0;
};

// The live process pid (process_vm_readv and /proc). With a RootCache,
// Link("root") asks the cache (see root_cache.h for when it may answer from
// memory); every other link is read each time.
class LiveProcessView : public ProcessView {
 public:
  explicit LiveProcessView(pid_t pid, RootCache* roots = nullptr)
      : pid_(pid), roots_(roots) {}
  int ReadString(uint64_t addr, size_t max, std::string* out) override;
  int Read(uint64_t addr, void* buf, size_t len) override;
  std::string Link(const std::string& what) override;

 private:
  pid_t pid_;
  RootCache* roots_;
};

// Fills path/path2/host_path/host_path2/fstype/flags of ev from ev->name and
// ev->args (see SyscallEvent for which argument goes where). A call this
// decoder does not know keeps only its raw args. A path that cannot be read
// (a bad pointer: the kernel will say EFAULT) is left empty.
void DecodeEvent(ProcessView& proc, SyscallEvent* ev);

}  // namespace faultline::seccomp
