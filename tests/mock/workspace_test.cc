// Workspace::Create and Destroy on FakeKernel: the init layer's content, the
// teardown by name (no directory walk when the layout is what Create made),
// the walk when it is not (a crash left a half-made workspace, the container
// wrote files, someone mounted below), and a sweep of every call of
// Create + Destroy with every errno of a set, transient and persistent:
// errors name the step and the errno, a failed Create undoes itself, a
// Destroy that reports success left nothing, and gc (Workspace::At(dir)
// .Destroy()) always leaves the container dir empty with no mount and no fd
// left.
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>

#include <algorithm>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "fakekernel/fake_kernel.h"
#include "faults/fault_injecting_sys.h"
#include "runtime/sys/sys_wrapper.h"
#include "runtime/sys/fs_util.h"
#include "runtime/workspace/workspace.h"
#include "tests/support/matchers.h"

namespace mydocker {
namespace {

using faultline::FakeKernel;
using faultline::FaultInjectingSys;
using faultline::FaultPlan;
using ::testing::_;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Ne;
using ::testing::Not;
using faultline::testing_matchers::FailsWith;

constexpr char kDir[] = "/var/lib/mydocker/containers/c1";
constexpr char kLayer[] = "/var/lib/mydocker/images/img/rootfs";

FaultPlan Plan(const std::string& text) {
  auto p = FaultPlan::Parse(text);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().Message());
  return p.ok() ? p.value() : FaultPlan{};
}

// A kernel with the container dir and a one-file image layer.
FakeKernel Prepared() {
  FakeKernel k;
  EXPECT_TRUE(k.AddDir(kDir).ok());
  EXPECT_TRUE(k.AddFile(std::string(kLayer) + "/bin/sh", "#!sh\n", 0755).ok());
  return k;
}

WorkspaceSpec Spec(MountApi api) {
  WorkspaceSpec s;
  s.dir = kDir;
  s.layers = {kLayer};
  s.hostname = "box";
  s.resolv_conf = "nameserver 10.0.0.1\n";
  s.api = api;
  return s;
}

// What is left of the workspace: names in the container dir, mounts and
// fds beyond those of the prepared kernel. Empty when clean.
struct World {
  size_t mounts = 0, fds = 0;
};
World Snapshot(FakeKernel& k) {
  return {k.MountCount(k.RuntimePid()), k.OpenFdCount(k.RuntimePid())};
}
std::string Leftovers(FakeKernel& k, const World& before) {
  std::string out;
  auto entries = k.ReadDir(kDir);
  if (!entries.ok()) return "cannot read " + std::string(kDir) + ": " + ErrnoName(entries.err);
  for (const auto& e : entries.value) out += " entry " + e.name;
  if (k.MountCount(k.RuntimePid()) != before.mounts) {
    out += " mounts " + std::to_string(k.MountCount(k.RuntimePid())) + " (was " +
           std::to_string(before.mounts) + ")";
  }
  if (k.OpenFdCount(k.RuntimePid()) != before.fds) out += " fds";
  if (!k.Lstat(std::string(kLayer) + "/bin/sh").ok()) out += " image layer damaged";
  return out;
}

// On Linux close(2) releases the fd even when it reports an error; a close
// the plan failed is therefore done on the kernel below it.
class CloseAlwaysCloses : public mydocker::SysWrapper {
 public:
  CloseAlwaysCloses(FaultInjectingSys& fis, FakeKernel& k)
      : SysWrapper(fis), fis_(fis), k_(k) {}
  Status Close(int fd) override {
    Status s = fis_.Close(fd);
    if (!s.ok() && !fis_.trace().empty() && fis_.trace().back().rule >= 0) {
      (void)k_.Close(fd);
    }
    return s;
  }

 private:
  FaultInjectingSys& fis_;
  FakeKernel& k_;
};

size_t CountOp(const FaultInjectingSys& sys, const std::string& op, size_t from = 0) {
  size_t n = 0;
  for (size_t i = from; i < sys.trace().size(); ++i) n += sys.trace()[i].op == op;
  return n;
}

class WorkspaceApi : public ::testing::TestWithParam<MountApi> {};

TEST_P(WorkspaceApi, InitLayerIsSeenThroughMergedAndDestroyRemovesByName) {
  FakeKernel k = Prepared();
  const World before = Snapshot(k);
  FaultInjectingSys sys(k, FaultPlan{});
  auto ws = Workspace::Create(sys, Spec(GetParam()));
  ASSERT_TRUE(ws.ok()) << ws.error().Message();
  EXPECT_EQ(ws->api_used(), GetParam());
  const std::string merged = ws->paths().merged;
  EXPECT_EQ(k.ReadWholeFile(merged + "/etc/hostname").value, "box\n");
  EXPECT_EQ(k.ReadWholeFile(merged + "/etc/hosts").value, HostsFile("box"));
  EXPECT_EQ(k.ReadWholeFile(merged + "/etc/resolv.conf").value, "nameserver 10.0.0.1\n");
  EXPECT_TRUE(k.Lstat(merged + "/bin/sh").ok());
  EXPECT_EQ(k.MountCount(k.RuntimePid()), before.mounts + 1);

  const size_t start = sys.trace().size();
  ASSERT_TRUE(ws->Destroy().ok());
  EXPECT_EQ(Leftovers(k, before), "");
  // The layout was what Create made: no walk (no readdir, no lstat), one
  // unmount, unlink of the 3 init files, rmdir of merged, upper, work/work,
  // work, init/etc, init.
  EXPECT_EQ(CountOp(sys, "readdir", start), 0u) << sys.TraceText();
  EXPECT_EQ(CountOp(sys, "lstat", start), 0u) << sys.TraceText();
  EXPECT_EQ(CountOp(sys, "umount2", start), 1u);
  EXPECT_EQ(CountOp(sys, "unlink", start), 3u);
  EXPECT_EQ(CountOp(sys, "rmdir", start), 6u);
  EXPECT_EQ(sys.trace().size() - start, 10u) << sys.TraceText();

  // Idempotent: a second Destroy (gc after rm) finds nothing and succeeds.
  ASSERT_TRUE(Workspace::At(sys, kDir).Destroy().ok());
  EXPECT_EQ(Leftovers(k, before), "");
}

TEST_P(WorkspaceApi, WhatTheContainerWroteIsWalkedAway) {
  FakeKernel k = Prepared();
  const World before = Snapshot(k);
  auto ws = Workspace::Create(k, Spec(GetParam()));
  ASSERT_TRUE(ws.ok()) << ws.error().Message();
  const std::string merged = ws->paths().merged;
  ASSERT_TRUE(k.AddFile(merged + "/data/a/b/file", "x").ok());
  ASSERT_TRUE(k.Unlink(merged + "/bin/sh").ok());  // a whiteout in upper
  ASSERT_TRUE(k.AddFile(merged + "/etc/hostname", "changed\n").ok());  // copy-up
  ASSERT_TRUE(ws->Destroy().ok());
  EXPECT_EQ(Leftovers(k, before), "");
}

INSTANTIATE_TEST_SUITE_P(Apis, WorkspaceApi,
                         ::testing::Values(MountApi::kLegacy, MountApi::kNewApi),
                         [](const auto& info) {
                           return info.param == MountApi::kLegacy ? "Legacy" : "Fsopen";
                         });

// fsconfig takes strings of at most 255 bytes (FakeKernel models it): a
// longer layer, init, upper or work path goes by a directory fd.
// A path of exactly len bytes: prefix, then "/" components of 50 bytes.
std::string PathOfLength(const std::string& prefix, size_t len) {
  std::string p = prefix;
  while (p.size() < len) {
    size_t part = std::min<size_t>(len - p.size(), 51);
    p += "/" + std::string(part - 1, 'p');
  }
  return p;
}

struct LongCase {
  FakeKernel k;
  std::string dir, layer255, layer256, layer300;
};
LongCase LongPaths(faultline::FakeKernelOptions o = {}) {
  LongCase c{FakeKernel(o), PathOfLength("/var/lib/mydocker/containers/long", 280) + "/c1",
             PathOfLength("/img/a", 255), PathOfLength("/img/b", 256),
             PathOfLength("/img/c", 300)};
  EXPECT_EQ(c.layer255.size(), 255u);
  EXPECT_EQ(c.layer256.size(), 256u);
  EXPECT_TRUE(c.k.AddDir(c.dir).ok());
  EXPECT_TRUE(c.k.AddFile(c.layer255 + "/a", "a").ok());
  EXPECT_TRUE(c.k.AddFile(c.layer256 + "/b", "b").ok());
  EXPECT_TRUE(c.k.AddFile(c.layer300 + "/c", "c").ok());
  return c;
}

TEST(Workspace, LayerPathsOver255BytesGoToFsconfigByFd) {
  LongCase c = LongPaths();
  const size_t mounts = c.k.MountCount(c.k.RuntimePid());
  const size_t fds = c.k.OpenFdCount(c.k.RuntimePid());
  FaultInjectingSys sys(c.k, FaultPlan{});
  WorkspaceSpec spec;
  spec.dir = c.dir;
  spec.layers = {c.layer255, c.layer256, c.layer300};
  spec.hostname = "box";
  spec.api = MountApi::kNewApi;
  auto ws = Workspace::Create(sys, spec);
  ASSERT_TRUE(ws.ok()) << ws.error().Message();
  EXPECT_EQ(c.k.ReadWholeFile(ws->paths().merged + "/a").value, "a");
  EXPECT_EQ(c.k.ReadWholeFile(ws->paths().merged + "/b").value, "b");
  EXPECT_EQ(c.k.ReadWholeFile(ws->paths().merged + "/c").value, "c");
  EXPECT_EQ(c.k.ReadWholeFile(ws->paths().merged + "/etc/hostname").value, "box\n");
  // By name: the 255-byte layer. By fd: init, the 256- and 300-byte layers,
  // upper, work (the container dir is over 255 bytes too).
  std::vector<std::string> by_string, by_fd;
  for (const auto& t : sys.trace()) {
    if (t.op != "fsconfig") continue;
    if (t.flags == FSCONFIG_SET_STRING) by_string.push_back(t.path2 + "=" + t.path);
    if (t.flags == FSCONFIG_SET_FD) by_fd.push_back(t.path2);
  }
  EXPECT_EQ(by_string, std::vector<std::string>{"lowerdir+=" + c.layer255});
  EXPECT_EQ(by_fd, (std::vector<std::string>{"lowerdir+", "lowerdir+", "lowerdir+",
                                             "upperdir", "workdir"}));
  EXPECT_EQ(CountOp(sys, "openat"), 5u) << sys.TraceText();
  // Every directory fd is closed once fsconfig holds the path.
  EXPECT_EQ(c.k.OpenFdCount(c.k.RuntimePid()), fds);
  // The mount table names every layer by its path, in order.
  const std::string mi = c.k.Mountinfo(c.k.RuntimePid());
  EXPECT_THAT(mi, HasSubstr("lowerdir=" + ws->paths().init + ":" + c.layer255 + ":" +
                            c.layer256 + ":" + c.layer300 + ",upperdir=" +
                            ws->paths().upper));
  ASSERT_TRUE(ws->Destroy().ok());
  EXPECT_EQ(c.k.MountCount(c.k.RuntimePid()), mounts);
  EXPECT_THAT(c.k.ReadDir(c.dir).value, IsEmpty());
}

TEST(Workspace, AKernelWithoutLayersByFdGetsAnErrorNamingTheStringLimit) {
  faultline::FakeKernelOptions o;
  o.overlay_layer_fds = false;  // Linux 6.8-6.12
  LongCase c = LongPaths(o);
  const size_t mounts = c.k.MountCount(c.k.RuntimePid());
  const size_t fds = c.k.OpenFdCount(c.k.RuntimePid());
  WorkspaceSpec spec;
  spec.dir = "/var/lib/mydocker/containers/short";
  ASSERT_TRUE(c.k.AddDir(spec.dir).ok());
  spec.layers = {c.layer255, c.layer300};
  spec.api = MountApi::kNewApi;
  auto ws = Workspace::Create(c.k, spec);
  ASSERT_FALSE(ws.ok());
  EXPECT_EQ(ws.error().err, EINVAL);
  const std::string m = ws.error().Message();
  EXPECT_THAT(m, HasSubstr("workspace: mount overlay (fsopen)"));
  EXPECT_THAT(m, HasSubstr(spec.dir + "/merged"));
  EXPECT_THAT(m, HasSubstr("fsconfig lowerdir+ by fd " + c.layer300));
  EXPECT_THAT(m, HasSubstr("the path is 300 bytes, over fsconfig's 255-byte string limit"));
  EXPECT_THAT(m, HasSubstr("needs Linux 6.13"));
  EXPECT_THAT(m, Not(HasSubstr("lacks lowerdir+")));
  // Undone: nothing mounted, nothing made, no fd left.
  EXPECT_EQ(c.k.MountCount(c.k.RuntimePid()), mounts);
  EXPECT_EQ(c.k.OpenFdCount(c.k.RuntimePid()), fds);
  EXPECT_THAT(c.k.ReadDir(spec.dir).value, IsEmpty());
}

TEST(Workspace, LongLayerPathsThatFitOnePageStillUseMount2) {
  LongCase c = LongPaths();
  FaultInjectingSys sys(c.k, FaultPlan{});
  WorkspaceSpec spec;
  spec.dir = c.dir;
  spec.layers = {c.layer300};
  auto ws = Workspace::Create(sys, spec);
  ASSERT_TRUE(ws.ok()) << ws.error().Message();
  EXPECT_EQ(ws->api_used(), MountApi::kLegacy);
  EXPECT_EQ(CountOp(sys, "fsconfig"), 0u);
  EXPECT_EQ(c.k.ReadWholeFile(ws->paths().merged + "/c").value, "c");
  ASSERT_TRUE(ws->Destroy().ok());
}

TEST(Workspace, UnexpectedEntriesInInitAndWorkFallBackToTheWalk) {
  // What a crash or another tool may leave: extra files next to the init
  // files, a directory where a file should be, more below work.
  FakeKernel k = Prepared();
  const World before = Snapshot(k);
  Workspace ws = Workspace::At(k, kDir);
  const WorkspacePaths& p = ws.paths();
  ASSERT_TRUE(k.AddFile(p.init + "/etc/extra", "e").ok());
  ASSERT_TRUE(k.AddDir(p.init + "/etc/hosts/d").ok());
  ASSERT_TRUE(k.AddFile(p.init + "/stray", "s").ok());
  ASSERT_TRUE(k.AddFile(p.work + "/index/x", "i").ok());
  ASSERT_TRUE(k.AddDir(p.work + "/work/incompat").ok());
  ASSERT_TRUE(k.AddDir(p.upper).ok());
  ASSERT_TRUE(k.AddDir(p.merged).ok());
  ASSERT_TRUE(ws.Destroy().ok());
  EXPECT_EQ(Leftovers(k, before), "");
}

TEST(Workspace, AMountBelowTheInitLayerIsNotCrossed) {
  FakeKernel k = Prepared();
  Workspace ws = Workspace::At(k, kDir);
  const std::string etc = ws.paths().init + "/etc";
  ASSERT_TRUE(k.AddFile(etc + "/hostname", "box\n").ok());
  ASSERT_TRUE(k.Mount(MountArgs{"tmpfs", etc, "tmpfs", 0, ""}).ok());
  ASSERT_TRUE(k.AddFile(etc + "/precious", "p").ok());
  Outcome o = ws.Destroy();
  ASSERT_THAT(o, FailsWith("workspace: remove init layer", etc, EBUSY));
  EXPECT_TRUE(k.Lstat(etc + "/precious").ok());  // nothing below it removed
  ASSERT_TRUE(k.Umount2(etc, 0).ok());
}

TEST(Workspace, ARemovalThatKeepsFailingIsReportedWithStepPathAndErrno) {
  FakeKernel k = Prepared();
  auto ws = Workspace::Create(k, Spec(MountApi::kLegacy));
  ASSERT_TRUE(ws.ok()) << ws.error().Message();
  const std::string hosts = ws->paths().init + "/etc/hosts";
  // Both ways of removing it fail: the unlink by path of the known entry
  // and, in the walk by fd that follows, the unlinkat of the same name.
  FaultInjectingSys sys(k, Plan("op=unlink,path=*/etc/hosts,errno=EIO,mode=persistent,nth=1;"
                                "op=unlinkat,path=hosts,errno=EIO,mode=persistent,nth=1"));
  Outcome o = Workspace::At(sys, kDir).Destroy();
  EXPECT_THAT(o, FailsWith("workspace: remove init layer", hosts, EIO));
}

// Every call of Create + Destroy, every errno of the set, transient and
// persistent.
struct SweepCase {
  MountApi api;
  const char* name;
  // A second image layer whose path is over fsconfig's 255-byte limit: it
  // goes by a directory fd (openat, fsconfig SET_FD, close: 2 calls more).
  bool long_layer = false;
};

class WorkspaceSweep : public ::testing::TestWithParam<SweepCase> {};

TEST_P(WorkspaceSweep, EveryCallEveryErrnoLeavesNothingAfterGc) {
  FakeKernel prepared = Prepared();
  WorkspaceSpec spec = Spec(GetParam().api);
  if (GetParam().long_layer) {
    const std::string long_layer = PathOfLength("/var/lib/mydocker/images/long", 300);
    ASSERT_TRUE(prepared.AddFile(long_layer + "/only-long", "l").ok());
    spec.layers.push_back(long_layer);
  }
  size_t calls = 0;
  {
    FakeKernel k = prepared;
    FaultInjectingSys sys(k, FaultPlan{});
    auto ws = Workspace::Create(sys, spec);
    ASSERT_TRUE(ws.ok()) << ws.error().Message();
    ASSERT_TRUE(ws->Destroy().ok());
    calls = sys.trace().size();
  }
  // Exact: Create + Destroy's calls per mount API; a change to the
  // workspace's call sequence moves them (update on purpose).
  ASSERT_EQ(calls, GetParam().api == MountApi::kLegacy ? 25u
                   : GetParam().long_layer                 ? 37u
                                                           : 34u);
  // The undo's warnings for hundreds of runs are noise here.
  struct QuietLog {
    spdlog::level::level_enum was = spdlog::get_level();
    QuietLog() { spdlog::set_level(spdlog::level::err); }
    ~QuietLog() { spdlog::set_level(was); }
  } quiet;
  const char* errnos[] = {"EIO", "ENOENT", "EEXIST", "ENOTEMPTY", "EBUSY", "ENOSPC",
                          "EPERM", "EINVAL", "EINTR"};
  size_t runs = 0, failed_creates = 0, failed_destroys = 0;
  for (size_t n = 1; n <= calls; ++n) {
    for (const char* e : errnos) {
      for (const char* mode : {"transient", "persistent"}) {
        const std::string plan =
            "nth=" + std::to_string(n) + ",errno=" + e + ",mode=" + mode;
        SCOPED_TRACE(plan);
        FakeKernel k = prepared;
        const World before = Snapshot(k);
        FaultInjectingSys fis(k, Plan(plan));
        CloseAlwaysCloses sys(fis, k);
        ++runs;
        auto ws = Workspace::Create(sys, spec);
        if (!ws.ok()) {
          ++failed_creates;
          EXPECT_THAT(ws, FailsWith(HasSubstr("workspace: "), _, Ne(0)));
          if (std::string(mode) == "transient") {
            // The undo ran after the one failed call: nothing is left.
            EXPECT_EQ(Leftovers(k, before), "") << fis.TraceText();
          }
        } else {
          Outcome d = ws->Destroy();
          if (d.ok() && std::string(e) != "ENOENT") {
            // A Destroy that reports success removed everything (ENOENT
            // excepted: a lying "already gone" is taken at its word).
            EXPECT_EQ(Leftovers(k, before), "") << fis.TraceText();
          }
          if (!d.ok()) {
            ++failed_destroys;
            EXPECT_THAT(d, FailsWith(HasSubstr("workspace: "), Not(IsEmpty()), Ne(0)));
          }
        }
        // gc without faults always finishes the job.
        Outcome gc = Workspace::At(k, kDir).Destroy();
        EXPECT_TRUE(gc.ok()) << gc.error().Message() << "\n" << fis.TraceText();
        EXPECT_EQ(Leftovers(k, before), "") << fis.TraceText();
        if (::testing::Test::HasFailure()) return;
      }
    }
  }
  std::cout << GetParam().name << ": " << calls << " calls, " << runs << " runs, "
            << failed_creates << " failed creates, " << failed_destroys
            << " failed destroys\n";
  EXPECT_GT(failed_creates, 0u);
  EXPECT_GT(failed_destroys, 0u);
}

INSTANTIATE_TEST_SUITE_P(Apis, WorkspaceSweep,
                         ::testing::Values(SweepCase{MountApi::kLegacy, "Legacy"},
                                           SweepCase{MountApi::kNewApi, "Fsopen"},
                                           SweepCase{MountApi::kNewApi, "FsopenLongLayer", true}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace mydocker
