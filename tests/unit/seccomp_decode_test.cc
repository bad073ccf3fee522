#include "harness/seccomp/decode.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <map>

#include <gtest/gtest.h>

namespace faultline::seccomp {
namespace {

// A process made of a few strings and structs at fake addresses.
class FakeProcess : public ProcessView {
 public:
  uint64_t Put(const std::string& s) {
    uint64_t addr = next_;
    std::string bytes = s + '\0';
    mem_[addr] = bytes;
    next_ += 0x1000;
    return addr;
  }
  uint64_t PutBytes(const void* p, size_t n) {
    uint64_t addr = next_;
    mem_[addr] = std::string(static_cast<const char*>(p), n);
    next_ += 0x1000;
    return addr;
  }
  int ReadString(uint64_t addr, size_t max, std::string* out) override {
    auto it = mem_.find(addr);
    if (it == mem_.end()) return EFAULT;
    *out = std::string(it->second.c_str()).substr(0, max);
    return 0;
  }
  int Read(uint64_t addr, void* buf, size_t len) override {
    auto it = mem_.find(addr);
    if (it == mem_.end() || it->second.size() < len) return EFAULT;
    std::memcpy(buf, it->second.data(), len);
    return 0;
  }
  std::string Link(const std::string& what) override {
    auto it = links.find(what);
    return it == links.end() ? "" : it->second;
  }
  std::map<std::string, std::string> links = {{"root", "/"}, {"cwd", "/work"}};

 private:
  std::map<uint64_t, std::string> mem_;
  uint64_t next_ = 0x10000;
};

SyscallEvent Event(const std::string& name, std::initializer_list<uint64_t> args) {
  SyscallEvent ev;
  ev.name = name;
  int i = 0;
  for (uint64_t a : args) ev.args[i++] = a;
  return ev;
}

TEST(SeccompDecode, MountTargetSourceTypeFlags) {
  FakeProcess p;
  auto ev = Event("mount", {p.Put("none"), p.Put("/mnt/x"), p.Put("tmpfs"),
                            MS_NOSUID | MS_NODEV, 0});
  DecodeEvent(p, &ev);
  EXPECT_EQ(ev.path, "/mnt/x");
  EXPECT_EQ(ev.host_path, "/mnt/x");
  EXPECT_EQ(ev.path2, "none") << "a source is kept as passed";
  EXPECT_EQ(ev.fstype, "tmpfs");
  EXPECT_EQ(ev.flags, static_cast<uint64_t>(MS_NOSUID | MS_NODEV));
}

TEST(SeccompDecode, BindMountWithoutFstype) {
  FakeProcess p;
  auto ev = Event("mount", {p.Put("src"), p.Put("dst"), 0, MS_BIND | MS_REC, 0});
  DecodeEvent(p, &ev);
  EXPECT_EQ(ev.path, "/work/dst");
  EXPECT_EQ(ev.path2, "src");
  EXPECT_EQ(ev.host_path2, "/work/src");
  EXPECT_EQ(ev.fstype, "");
}

TEST(SeccompDecode, RelativeMkdirInsideAChroot) {
  FakeProcess p;
  p.links["root"] = "/var/c1/rootfs";
  p.links["cwd"] = "/var/c1/rootfs/tmp";
  auto ev = Event("mkdir", {p.Put("X"), 0755});
  DecodeEvent(p, &ev);
  EXPECT_EQ(ev.path, "/tmp/X");
  EXPECT_EQ(ev.host_path, "/var/c1/rootfs/tmp/X");
  auto abs = Event("mkdir", {p.Put("/etc/y"), 0755});
  DecodeEvent(p, &abs);
  EXPECT_EQ(abs.path, "/etc/y");
  EXPECT_EQ(abs.host_path, "/var/c1/rootfs/etc/y");
}

TEST(SeccompDecode, AtCallsUseTheirDirfd) {
  FakeProcess p;
  p.links["fd/5"] = "/srv/base";
  auto ev = Event("unlinkat", {5, p.Put("d"), AT_REMOVEDIR});
  DecodeEvent(p, &ev);
  EXPECT_EQ(ev.path, "/srv/base/d");
  EXPECT_EQ(ev.flags, static_cast<uint64_t>(AT_REMOVEDIR));
  auto cwd = Event("mkdirat", {static_cast<uint64_t>(AT_FDCWD), p.Put("e"), 0700});
  DecodeEvent(p, &cwd);
  EXPECT_EQ(cwd.path, "/work/e");
  auto moved = Event("move_mount", {5, p.Put(""), static_cast<uint64_t>(AT_FDCWD),
                                    p.Put("/target"), 4 /*F_EMPTY_PATH*/});
  DecodeEvent(p, &moved);
  EXPECT_EQ(moved.path, "/target");
  EXPECT_EQ(moved.path2, "/srv/base") << "an empty path is the dirfd itself";
  EXPECT_EQ(moved.flags, 4u);
}

TEST(SeccompDecode, BadPointerLeavesThePathEmpty) {
  FakeProcess p;
  auto ev = Event("rmdir", {0xdead0000});
  DecodeEvent(p, &ev);
  EXPECT_EQ(ev.path, "");
  EXPECT_EQ(ev.args[0], 0xdead0000u);
}

TEST(SeccompDecode, Clone3FlagsComeFromTheStruct) {
  FakeProcess p;
  uint64_t args[2] = {CLONE_NEWNS | CLONE_NEWPID, 0};
  auto ev = Event("clone3", {p.PutBytes(args, sizeof(args)), 88});
  DecodeEvent(p, &ev);
  EXPECT_EQ(ev.flags, static_cast<uint64_t>(CLONE_NEWNS | CLONE_NEWPID));
  auto cl = Event("clone", {CLONE_NEWUTS | SIGCHLD});
  DecodeEvent(p, &cl);
  EXPECT_EQ(cl.flags, static_cast<uint64_t>(CLONE_NEWUTS | SIGCHLD));
}

TEST(SeccompDecode, SethostnameFsconfigSetnsFsopen) {
  FakeProcess p;
  auto host = Event("sethostname", {p.Put("box1"), 4});
  DecodeEvent(p, &host);
  EXPECT_EQ(host.path, "box1");

  auto cfg = Event("fsconfig", {3, 1 /*SET_STRING*/, p.Put("lowerdir+"), p.Put("/l1"), 0});
  DecodeEvent(p, &cfg);
  EXPECT_EQ(cfg.path, "lowerdir+");
  EXPECT_EQ(cfg.path2, "/l1");
  EXPECT_EQ(cfg.flags, 1u);

  p.links["fd/7"] = "mnt:[4026531841]";
  auto ns = Event("setns", {7, CLONE_NEWNS});
  DecodeEvent(p, &ns);
  EXPECT_EQ(ns.path, "mnt:[4026531841]");
  EXPECT_EQ(ns.flags, static_cast<uint64_t>(CLONE_NEWNS));

  auto fso = Event("fsopen", {p.Put("overlay"), 1});
  DecodeEvent(p, &fso);
  EXPECT_EQ(fso.fstype, "overlay");
}

TEST(SeccompDecode, UnknownSyscallKeepsRawArgs) {
  FakeProcess p;
  auto ev = Event("getppid", {1, 2, 3});
  DecodeEvent(p, &ev);
  EXPECT_EQ(ev.path, "");
  EXPECT_EQ(ev.flags, 0u);
  EXPECT_EQ(ev.args[2], 3u);
}

}  // namespace
}  // namespace faultline::seccomp
