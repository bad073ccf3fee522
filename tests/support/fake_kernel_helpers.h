// Test helpers for the FakeKernel layer tests (tests/mock/fakekernel_*_test.cc).
#pragma once

#include <fcntl.h>
#include <string.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fakekernel/fake_kernel.h"

namespace faultline::fktest {

inline constexpr int64_t kOverlayMagic = 0x794c7630;
inline constexpr int64_t kTmpfsMagic = 0x01021994;
inline constexpr int64_t kCgroupMagic = 0x27e0eb;
inline constexpr int64_t kCgroup2Magic = 0x63677270;
inline constexpr int64_t kProcMagic = 0x9fa0;
inline constexpr int64_t kExt4Magic = 0xEF53;
inline constexpr int64_t kDevptsMagic = 0x1cd1;

// The whole file as the current process reads it ("" and a failure if not).
inline std::string Read(FakeKernel& k, const std::string& path) {
  auto r = k.ReadWholeFile(path);
  EXPECT_TRUE(r.ok()) << path << ": " << strerror(r.err);
  return r.value;
}

// Writes text to an existing file in one write; the errno of the open or the
// write (0: written). The close is checked too.
inline int Write(FakeKernel& k, const std::string& path, const std::string& text) {
  auto fd = k.Open(path, O_WRONLY | O_CLOEXEC, 0);
  if (!fd.ok()) return fd.err;
  auto w = k.Write(fd.value, text.data(), text.size());
  EXPECT_EQ(k.Close(fd.value).err, 0) << path;
  return w.err;
}

// Entry names of a directory, sorted as ReadDir returns them.
inline std::vector<std::string> Names(FakeKernel& k, const std::string& path) {
  std::vector<std::string> out;
  auto r = k.ReadDir(path);
  EXPECT_TRUE(r.ok()) << path << ": " << strerror(r.err);
  for (auto& e : r.value) out.push_back(e.name);
  return out;
}

inline mydocker::MountArgs Overlay(const std::string& target,
                                   const std::string& data) {
  return mydocker::MountArgs{"overlay", target, "overlay", 0, data};
}

// A workspace like mydocker's: image layer, upper, work, merged.
struct Workspace {
  FakeKernel k;
  Workspace() {
    EXPECT_TRUE(k.BuildBusyboxImage("/var/lib/mydocker/images/busybox/rootfs").ok());
    for (const char* d : {"/var/lib/mydocker/c1/upper", "/var/lib/mydocker/c1/work",
                          "/var/lib/mydocker/c1/merged"})
      EXPECT_TRUE(k.AddDir(d).ok());
  }
  static constexpr const char* kData =
      "lowerdir=/var/lib/mydocker/images/busybox/rootfs,"
      "upperdir=/var/lib/mydocker/c1/upper,workdir=/var/lib/mydocker/c1/work";
  static constexpr const char* kMerged = "/var/lib/mydocker/c1/merged";
  static constexpr const char* kUpper = "/var/lib/mydocker/c1/upper";
  static constexpr const char* kLower = "/var/lib/mydocker/images/busybox/rootfs";
};

// Runs fn as a cloned child (flags | SIGCHLD) to its end; returns the raw
// wait status (-1 and a failure when the clone or the wait fails).
template <typename Fn>
int RunChild(FakeKernel& k, Fn fn, int flags = 0) {
  auto c = k.Clone(fn, flags | SIGCHLD);
  EXPECT_TRUE(c.ok()) << strerror(c.err);
  if (!c.ok()) return -1;
  auto st = k.Waitpid(c.value, 0);
  EXPECT_TRUE(st.ok()) << strerror(st.err);
  return st.ok() ? st.value : -1;
}

}  // namespace faultline::fktest
