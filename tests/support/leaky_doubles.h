// Test doubles that make the runtime leak on purpose, so that a test can
// prove the probes see the leak.
#pragma once

#include <string>

#include "runtime/sys/sys_wrapper.h"

namespace faultline {

// Every cgroup rmdir before the clone is skipped (Cgroup::Create's undo and
// the cleanup after an early failure do that): the runtime believes the
// cgroup is gone. The clean run passes; the points that fail a cgroup step
// leak.
class SkipCgroupUndo : public mydocker::SysWrapper {
 public:
  using mydocker::SysWrapper::SysWrapper;
  mydocker::Result<pid_t> Clone(const mydocker::CloneFn& fn, int flags) override {
    cloned_ = true;
    return mydocker::SysWrapper::Clone(fn, flags);
  }
  mydocker::Status Rmdir(const std::string& path) override {
    if (!cloned_ && path.rfind("/sys/fs/cgroup/", 0) == 0) return mydocker::Status::Ok();
    return mydocker::SysWrapper::Rmdir(path);
  }

 private:
  bool cloned_ = false;
};

}  // namespace faultline
