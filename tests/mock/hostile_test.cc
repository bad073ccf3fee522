// Hostile input, locks and durability on FakeKernel: what issue 12's
// "Concurrency and state" and "Hostile input" ask, unprivileged.
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakekernel/fake_kernel.h"
#include "faults/fault_injecting_sys.h"
#include "harness/probes/probes.h"
#include "harness/scenario/hostile_image.h"
#include "runtime/container/runtime.h"
#include "runtime/container/validate.h"
#include "runtime/sys/fs_util.h"

namespace faultline {
namespace {

using ::testing::HasSubstr;
using mydocker::FileLock;

constexpr const char* kRoot = "/var/lib/mydocker";

struct World {
  FakeKernel k;
  World() {
    EXPECT_TRUE(k.BuildBusyboxImage(std::string(kRoot) + "/images/busybox/rootfs").ok());
    EXPECT_TRUE(k.AddFile(std::string(kRoot) + "/images/busybox/image.json",
                          R"({"name":"busybox","source":"fake","size":0,"files":0})")
                    .ok());
  }
  mydocker::RuntimeConfig Config(const std::string& id = "0123456789ab") {
    mydocker::RuntimeConfig c;
    c.root = kRoot;
    c.new_id = [id] { return id; };
    return c;
  }
  std::vector<std::string> Containers() {
    auto r = k.ReadDir(std::string(kRoot) + "/containers");
    std::vector<std::string> out;
    if (r.ok()) {
      for (auto& e : r.value) out.push_back(e.name);
    }
    return out;
  }
  // A container state as a killed run leaves it (no process, no lock held).
  void Leftover(const std::string& id, const std::string& name, const std::string& image) {
    mydocker::StateStore st(k, kRoot);
    ASSERT_TRUE(mydocker::MkdirAll(k, st.DirOf(id), 0700, "test").ok());
    mydocker::ContainerState s;
    s.id = id;
    s.name = name;
    s.image = image;
    s.status = "running";
    ASSERT_TRUE(st.Write(s).ok());
    ASSERT_TRUE(k.AddFile(st.LockOf(id), "").ok());
  }
};

// ---- the FakeKernel model of the new ops --------------------------------

TEST(HostileFakeOps, FlockConflictsPerOpenFileAndReleasesOnClose) {
  FakeKernel k;
  ASSERT_TRUE(k.AddFile("/l", "").ok());
  int a = k.Open("/l", O_RDWR, 0).value, b = k.Open("/l", O_RDWR, 0).value;
  EXPECT_TRUE(k.Flock(a, LOCK_EX | LOCK_NB).ok());
  EXPECT_EQ(k.Flock(b, LOCK_EX | LOCK_NB).err, EWOULDBLOCK);
  EXPECT_EQ(k.Flock(b, LOCK_SH | LOCK_NB).err, EWOULDBLOCK);
  EXPECT_EQ(k.Flock(b, LOCK_EX).err, EDEADLK);  // would wait forever in one process
  EXPECT_TRUE(k.Flock(a, LOCK_EX | LOCK_NB).ok());  // again on the same open file
  ASSERT_TRUE(k.Close(a).ok());                     // closing releases it
  EXPECT_TRUE(k.Flock(b, LOCK_SH | LOCK_NB).ok());
  int c = k.Open("/l", O_RDONLY, 0).value;
  EXPECT_TRUE(k.Flock(c, LOCK_SH | LOCK_NB).ok());  // shared with shared
  EXPECT_EQ(k.Flock(c, LOCK_EX | LOCK_NB).err, EWOULDBLOCK);
  EXPECT_TRUE(k.Flock(b, LOCK_UN).ok());
  EXPECT_TRUE(k.Flock(c, LOCK_EX | LOCK_NB).ok());
  EXPECT_EQ(k.Flock(99, LOCK_EX).err, EBADF);
  EXPECT_EQ(k.Flock(c, 0).err, EINVAL);
}

TEST(HostileFakeOps, FsyncPwriteFtruncate) {
  FakeKernel k;
  int fd = k.Open("/f", O_RDWR | O_CREAT, 0644).value;
  EXPECT_TRUE(k.Fsync(fd).ok());
  EXPECT_TRUE(k.Syncfs(fd).ok());
  EXPECT_EQ(k.Pwrite(fd, "xy", 2, 4).value, 2u);
  EXPECT_TRUE(k.Ftruncate(fd, 10).ok());
  EXPECT_EQ(k.ReadWholeFile("/f").value, std::string("\0\0\0\0xy\0\0\0\0", 10));
  auto p = k.Pipe(0).value;
  EXPECT_EQ(k.Fsync(p.read_fd).err, EINVAL);
  EXPECT_EQ(k.Pwrite(p.write_fd, "x", 1, 0).err, ESPIPE);
  int ro = k.Open("/f", O_RDONLY, 0).value;
  EXPECT_EQ(k.Ftruncate(ro, 1).err, EINVAL);
  EXPECT_EQ(k.Pwrite(ro, "x", 1, 0).err, EBADF);
  EXPECT_EQ(k.Fsync(77).err, EBADF);
}

// ---- every user-given string before anything is created -----------------

TEST(HostileValidation, BadStringsFailNamingTheFlagAndCreateNothing) {
  struct Case {
    const char* flag;
    std::function<void(mydocker::RunSpec&)> set;
  };
  const std::vector<Case> cases = {
      {"--name", [](auto& s) { s.name = "-bad"; }},
      {"--name", [](auto& s) { s.name = "a/b"; }},
      {"--hostname", [](auto& s) { s.hostname = "box\n10.0.0.1 evil"; }},
      {"--hostname", [](auto& s) { s.hostname = std::string(65, 'a'); }},
      {"--hostname", [](auto& s) { s.hostname = "-box"; }},
      {"--env", [](auto& s) { s.env = {"BAD KEY=1"}; }},
      {"--env", [](auto& s) { s.env = {"=1"}; }},
      {"--volume", [](auto& s) { s.volumes = {{"/srv", "/a/../etc", false}}; }},
      {"--volume", [](auto& s) { s.volumes = {{"/srv", "/data\nx", false}}; }},
      {"--volume", [](auto& s) { s.volumes = {{"srv", "/data", false}}; }},
      {"--memory", [](auto& s) { s.limits.memory_bytes = 4096; }},
  };
  for (const auto& c : cases) {
    World w;
    FaultInjectingSys traced(w.k, FaultPlan{});
    mydocker::Runtime rt(traced, w.Config());
    mydocker::RunSpec spec;
    spec.image = "busybox";
    spec.argv = {"true"};
    c.set(spec);
    auto r = rt.Run(spec);
    ASSERT_FALSE(r.ok()) << c.flag;
    EXPECT_EQ(r.error().step, std::string("parse ") + c.flag);
    EXPECT_EQ(r.error().err, EINVAL);
    EXPECT_EQ(r.error().Message().find('\n'), std::string::npos) << r.error().Message();
    // Nothing created: not a single call that changes anything was made.
    for (const auto& t : traced.trace()) {
      EXPECT_THAT(t.op,
                  ::testing::Not(::testing::AnyOf("mkdir", "open", "mount", "clone")))
          << c.flag;
    }
    EXPECT_TRUE(w.Containers().empty());
  }
}

TEST(HostileValidation, Rules) {
  EXPECT_TRUE(mydocker::ValidContainerName("web.1_a-b"));
  EXPECT_FALSE(mydocker::ValidContainerName(".x"));
  EXPECT_FALSE(mydocker::ValidContainerName(""));
  EXPECT_TRUE(mydocker::ValidHostname("a-1.example.com"));
  EXPECT_TRUE(mydocker::ValidHostname(std::string(63, 'a')));
  EXPECT_FALSE(mydocker::ValidHostname(std::string(64, 'a')));  // label > 63
  EXPECT_TRUE(mydocker::ValidHostname(std::string(31, 'a') + "." + std::string(32, 'b')));
  EXPECT_FALSE(mydocker::ValidHostname(std::string(32, 'a') + "." + std::string(32, 'b')));
  EXPECT_FALSE(mydocker::ValidHostname("a..b"));
  EXPECT_FALSE(mydocker::ValidHostname("a_b"));
  EXPECT_FALSE(mydocker::ValidEnvKey("A\tB"));
  EXPECT_TRUE(mydocker::ValidEnvKey("a.b-c"));
  EXPECT_EQ(mydocker::EscapedForMessage("a\n\xff"), "a\\x0a\\xff");
}

// ---- locks --------------------------------------------------------------

TEST(HostileLocks, GcAndRmLeaveAContainerWhoseRunHoldsItsLock) {
  World w;
  w.Leftover("aaaaaaaaaaaa", "held", "busybox");
  mydocker::Runtime rt(w.k, w.Config());
  auto held = FileLock::Acquire(w.k, rt.states().LockOf("aaaaaaaaaaaa"),
                                FileLock::Mode::kExclusive, false, false, "test");
  ASSERT_TRUE(held.ok()) << held.error().Message();
  auto gc = rt.Gc();
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->skipped, std::vector<std::string>{"aaaaaaaaaaaa"});
  EXPECT_TRUE(gc->removed.empty());
  auto rm = rt.Remove("held", false);
  ASSERT_FALSE(rm.ok());
  EXPECT_EQ(rm.error().err, EBUSY);
  EXPECT_EQ(w.Containers(), std::vector<std::string>{"aaaaaaaaaaaa"});
  held->Release();  // the run ended (or died): now it is a leftover
  gc = rt.Gc();
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->removed, std::vector<std::string>{"aaaaaaaaaaaa"});
  EXPECT_TRUE(w.Containers().empty());
}

TEST(HostileLocks, ADirectoryWithoutStateOrLockIsALeftoverOnlyUnderTheStoreLock) {
  World w;
  ASSERT_TRUE(w.k.AddDir(std::string(kRoot) + "/containers/bbbbbbbbbbbb", 0700).ok());
  mydocker::Runtime rt(w.k, w.Config());
  // While another invocation holds the store lock (a run between mkdir and
  // its own lock), gc waits for it: here, in one process, that is EDEADLK.
  auto store = FileLock::Acquire(w.k, rt.states().StoreLockPath(), FileLock::Mode::kExclusive,
                                 false, true, "test");
  ASSERT_TRUE(store.ok());
  auto gc = rt.Gc();
  ASSERT_FALSE(gc.ok());
  EXPECT_THAT(gc.error().Message(), HasSubstr("containers.lock"));
  EXPECT_EQ(w.Containers(), std::vector<std::string>{"bbbbbbbbbbbb"});
  store->Release();
  gc = rt.Gc();
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->removed, std::vector<std::string>{"bbbbbbbbbbbb"});
}

TEST(HostileLocks, RunWaitsForTheStoreLockAndCreatesNothingMeanwhile) {
  World w;
  mydocker::Runtime rt(w.k, w.Config());
  ASSERT_TRUE(mydocker::MkdirAll(w.k, rt.states().ContainersDir(), 0700, "t").ok());
  auto store = FileLock::Acquire(w.k, rt.states().StoreLockPath(), FileLock::Mode::kExclusive,
                                 false, true, "test");
  ASSERT_TRUE(store.ok());
  mydocker::RunSpec spec;
  spec.image = "busybox";
  spec.argv = {"true"};
  auto r = rt.Run(spec);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().step, "container: lock store: lock");
  EXPECT_TRUE(w.Containers().empty());
  store->Release();
  r = rt.Run(spec);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_TRUE(w.Containers().empty());
}

TEST(HostileLocks, NamesAreUniqueAndImageRmRefusesAnImageInUse) {
  World w;
  w.Leftover("cccccccccccc", "web", "busybox");
  mydocker::Runtime rt(w.k, w.Config("dddddddddddd"));
  mydocker::RunSpec spec;
  spec.image = "busybox";
  spec.name = "web";
  spec.argv = {"true"};
  auto r = rt.Run(spec);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().err, EEXIST);
  auto rm = rt.RemoveImage("busybox");
  ASSERT_FALSE(rm.ok());
  EXPECT_EQ(rm.error().err, EBUSY);
  EXPECT_THAT(rm.error().Message(), HasSubstr("cccccccccccc"));
  EXPECT_TRUE(mydocker::Exists(w.k, std::string(kRoot) + "/images/busybox/rootfs"));
  ASSERT_TRUE(rt.Remove("web", false).ok());
  EXPECT_TRUE(rt.RemoveImage("busybox").ok());
}

// ---- teardown runs every step -------------------------------------------

TEST(HostileTeardown, EveryStepRunsAndEveryFailureIsReported) {
  World w;
  w.Leftover("eeeeeeeeeeee", "e", "busybox");
  mydocker::StateStore st(w.k, kRoot);
  const std::string upper = st.DirOf("eeeeeeeeeeee") + "/upper";
  ASSERT_TRUE(w.k.AddDir(upper, 0755).ok());  // a write layer
  // The cgroup exists and cannot be removed (rmdir fails persistently).
  ASSERT_TRUE(w.k.Mkdir("/sys/fs/cgroup/memory/mydocker", 0755).ok());
  ASSERT_TRUE(w.k.Mkdir("/sys/fs/cgroup/memory/mydocker/eeeeeeeeeeee", 0755).ok());
  auto plan = FaultPlan::FromCompact("op=rmdir,path=/sys/fs/cgroup/*,errno=EIO,mode=persistent");
  ASSERT_TRUE(plan.ok()) << plan.error().Message();
  FaultInjectingSys faulty(w.k, *plan);
  mydocker::Runtime rt(faulty, w.Config());
  auto rm = rt.Remove("e", false);
  ASSERT_FALSE(rm.ok());
  EXPECT_EQ(rm.error().step, "cgroup: destroy");
  EXPECT_EQ(rm.error().err, EIO);
  // The workspace went all the same; the container's directory (its state)
  // stays while its cgroup does: it is what gc finds the cgroup by.
  EXPECT_FALSE(mydocker::Exists(w.k, upper));
  EXPECT_EQ(w.Containers(), std::vector<std::string>{"eeeeeeeeeeee"});
  // Once the cgroup can go, gc removes the cgroup and the directory.
  mydocker::Runtime fixed(w.k, w.Config());
  auto gc = fixed.Gc();
  ASSERT_TRUE(gc.ok()) << gc.error().Message();
  EXPECT_TRUE(gc->errors.empty());
  EXPECT_EQ(gc->removed, std::vector<std::string>{"eeeeeeeeeeee"});
  EXPECT_TRUE(w.Containers().empty());
  EXPECT_FALSE(mydocker::Exists(w.k, "/sys/fs/cgroup/memory/mydocker/eeeeeeeeeeee"));
}

// ---- the pid-reuse guard ------------------------------------------------

TEST(HostileLiveness, UnknownIsNeverAlive) {
  FakeKernel k;
  const pid_t self = k.RuntimePid();
  EXPECT_EQ(mydocker::ProcessLiveness(k, self, 0), mydocker::Liveness::kUnknown);
  EXPECT_FALSE(mydocker::ProcessAlive(k, self, 0));
  const uint64_t start = mydocker::ProcessStartTime(k, self);
  if (start != 0) {
    EXPECT_EQ(mydocker::ProcessLiveness(k, self, start), mydocker::Liveness::kAlive);
    EXPECT_EQ(mydocker::ProcessLiveness(k, self, start + 1), mydocker::Liveness::kDead);
  }
  EXPECT_EQ(mydocker::ProcessLiveness(k, 4000000, 5), mydocker::Liveness::kDead);
}

// ---- durability ---------------------------------------------------------

TEST(HostileDurability, StateIsFsyncedBeforeTheRenameAndItsDirectoryAfter) {
  World w;
  FaultInjectingSys traced(w.k, FaultPlan{});
  mydocker::StateStore st(traced, kRoot);
  ASSERT_TRUE(mydocker::MkdirAll(w.k, st.DirOf("ffffffffffff"), 0700, "t").ok());
  mydocker::ContainerState s;
  s.id = "ffffffffffff";
  ASSERT_TRUE(st.Write(s).ok());
  std::vector<std::string> ops;
  for (const auto& t : traced.trace()) ops.push_back(t.op);
  EXPECT_EQ(ops, (std::vector<std::string>{"open", "write", "fsync", "close", "rename", "open",
                                           "fsync", "close"}));
  // A failed fsync is the write's failure, with step, path and errno.
  auto plan = FaultPlan::FromCompact("op=fsync,nth=1,errno=EIO");
  ASSERT_TRUE(plan.ok());
  FaultInjectingSys faulty(w.k, *plan);
  mydocker::StateStore st2(faulty, kRoot);
  auto o = st2.Write(s);
  ASSERT_FALSE(o.ok());
  EXPECT_THAT(o.error().Message(), HasSubstr("fsync"));
  EXPECT_EQ(o.error().err, EIO);
  EXPECT_FALSE(mydocker::Exists(w.k, st.FileOf(s.id) + ".tmp"));
}

// The run's "running" record replaces the "creating" one (whose file and
// directory were fsynced): its file is fsynced before the rename, its
// directory is not (a crash that loses the rename leaves "creating", which
// gc undoes as it undoes "running"). The first record keeps both.
TEST(HostileDurability, TheRunningRecordSyncsItsFileNotItsDirectory) {
  World w;
  FaultInjectingSys traced(w.k, FaultPlan{});
  mydocker::Runtime rt(traced, w.Config());
  mydocker::RunSpec spec;
  spec.image = "busybox";
  spec.argv = {"true"};
  auto r = rt.Run(spec);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  const std::string dir = std::string(kRoot) + "/containers/0123456789ab";
  const auto& t = traced.trace();
  std::vector<size_t> renames;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i].op == "rename" && t[i].path2 == dir + "/state.json") renames.push_back(i);
  }
  ASSERT_EQ(renames.size(), 2u);  // "creating", then "running"
  for (size_t n = 0; n < 2; ++n) {
    const size_t i = renames[n];
    ASSERT_GE(i, 2u);
    EXPECT_EQ(t[i - 2].op, "fsync") << n;  // the file, before the rename
    EXPECT_EQ(t[i - 1].op, "close") << n;
    ASSERT_LT(i + 2, t.size());
    const bool dir_synced = t[i + 1].op == "open" && t[i + 1].path == dir && t[i + 2].op == "fsync";
    EXPECT_EQ(dir_synced, n == 0) << n << ": after the rename " << t[i + 1].op << " "
                                  << t[i + 1].path << ", " << t[i + 2].op;
  }
  // kReplace alone: no directory fsync after the rename.
  FaultInjectingSys again(w.k, FaultPlan{});
  mydocker::StateStore st(again, kRoot);
  ASSERT_TRUE(mydocker::MkdirAll(w.k, st.DirOf("eeeeeeeeeeee"), 0700, "t").ok());
  mydocker::ContainerState s;
  s.id = "eeeeeeeeeeee";
  ASSERT_TRUE(st.Write(s, mydocker::StateStore::Durability::kReplace).ok());
  std::vector<std::string> ops;
  for (const auto& e : again.trace()) ops.push_back(e.op);
  EXPECT_EQ(ops, (std::vector<std::string>{"open", "write", "fsync", "close", "rename"}));
}

// What a machine crash can leave of that run: the "creating" record, the
// "running" one in state.json.tmp (its rename lost). gc removes both.
TEST(HostileDurability, GcRemovesACreatingRecordWithAStrayTemporary) {
  World w;
  mydocker::StateStore st(w.k, kRoot);
  const std::string id = "cccccccccccc";
  ASSERT_TRUE(mydocker::MkdirAll(w.k, st.DirOf(id), 0700, "t").ok());
  mydocker::ContainerState s;
  s.id = id;
  s.name = id;
  s.image = "busybox";
  s.status = "creating";
  ASSERT_TRUE(st.Write(s).ok());
  s.status = "running";
  s.pid = 4000000;
  ASSERT_TRUE(w.k.AddFile(st.FileOf(id) + ".tmp", mydocker::StateToJson(s)).ok());
  ASSERT_TRUE(w.k.AddFile(st.LockOf(id), "").ok());
  mydocker::Runtime rt(w.k, w.Config());
  auto gc = rt.Gc();
  ASSERT_TRUE(gc.ok()) << gc.error().Message();
  EXPECT_EQ(gc->removed, std::vector<std::string>{id});
  EXPECT_TRUE(gc->errors.empty());
  EXPECT_TRUE(w.Containers().empty());
}

// ---- hostile images through the real import, on the fake --------------

mydocker::Expected<mydocker::ImageInfo> ImportOnFake(FakeKernel& k, const HostileImage& img) {
  return InstallImage(k, kRoot, "", "/in.tar", img);
}

HostileImage Imported(std::vector<ImageEntry> entries) {
  HostileImage img;
  img.name = "evil";
  img.base = "none";
  img.import = true;
  img.entries = std::move(entries);
  return img;
}

TEST(HostileImport, NotATarIsRefusedAsSuch) {
  FakeKernel k;
  ASSERT_TRUE(k.AddFile("/notes.txt", "just some text, not an archive\n").ok());
  mydocker::ImageStore store(k, kRoot);
  auto r = store.Import("/notes.txt", "text");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().Message(), HasSubstr("not a tar archive"));
  EXPECT_FALSE(mydocker::Exists(k, std::string(kRoot) + "/images/text"));
}

TEST(HostileImport, LimitsNameTheLimitAndTheEntryAndLeaveNothing) {
  {
    FakeKernel k;
    ImageEntry e;
    e.path = "many/f{i}";
    e.content = "x";
    e.count = 11;
    HostileImage img = Imported({e});
    img.limits.max_entries = 10;
    auto r = ImportOnFake(k, img);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().step, "image import: limit");
    EXPECT_EQ(r.error().err, E2BIG);
    EXPECT_THAT(r.error().Message(), HasSubstr("many/f10"));
    EXPECT_THAT(r.error().Message(), HasSubstr("more than 10 entries (limit --max-entries)"));
    EXPECT_FALSE(mydocker::Exists(k, std::string(kRoot) + "/images/evil"));
  }
  {
    FakeKernel k;
    ImageEntry e;
    e.path = "big";
    e.content = std::string(5000, 'z');
    HostileImage img = Imported({e});
    img.limits.max_bytes = 4096;
    auto r = ImportOnFake(k, img);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().err, EFBIG);
    EXPECT_THAT(r.error().Message(), HasSubstr(":big"));
    EXPECT_THAT(r.error().Message(), HasSubstr("limit --max-size"));
  }
  {
    FakeKernel k;
    ImageEntry e;
    e.path = "a/b/c/d";
    e.content = "x";
    HostileImage img = Imported({e});
    img.limits.max_depth = 3;
    auto r = ImportOnFake(k, img);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().err, ENAMETOOLONG);
    EXPECT_THAT(r.error().Message(), HasSubstr("path depth 4 is more than 3 components"));
  }
  {
    FakeKernel k;
    ImageEntry e;
    e.path = "dev/null2";
    e.type = ImageEntry::Type::kCharDevice;
    auto r = ImportOnFake(k, Imported({e}));
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.error().Message(), HasSubstr("character device"));
  }
}

TEST(HostileImport, SparseEntryIsWrittenByBlocksAndTheStoreIsClosed) {
  FakeKernel k;
  ImageEntry e;
  e.path = "sparse";
  e.content = "head";
  e.size = 1 << 20;
  FaultInjectingSys traced(k, FaultPlan{});
  auto r = InstallImage(traced, kRoot, "", "/in.tar", Imported({e}));
  ASSERT_TRUE(r.ok()) << r.error().Message();
  auto data = k.ReadWholeFile(r->rootfs + "/sparse");
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(data.value.size(), 1u << 20);
  EXPECT_EQ(data.value.substr(0, 4), "head");
  // The hole was not written: one pwrite of the data, one ftruncate.
  size_t pwrites = 0, truncates = 0;
  for (const auto& t : traced.trace()) {
    pwrites += t.op == "pwrite64";
    truncates += t.op == "ftruncate";
  }
  EXPECT_EQ(pwrites, 1u);
  EXPECT_EQ(truncates, 1u);
  EXPECT_EQ(r->size, 4u);  // data bytes, not the declared size
  EXPECT_EQ(k.Lstat(std::string(kRoot) + "/images").value.mode & 07777, 0700u);
  EXPECT_EQ(k.Lstat(kRoot).value.mode & 07777, 0710u);
}

// ---- the outside probe --------------------------------------------------

TEST(HostileProbe, OutsideSeesAPlantedWriteAndNothingElse) {
  World w;
  ProbeScope scope;
  scope.dirs = {kRoot};
  scope.holders = false;
  scope.fds = false;
  scope = WithOutside(scope);
  EXPECT_THAT(scope.outside, ::testing::IsSupersetOf({"/", "/etc", "/tmp", "/var", "/run",
                                                      "/var/lib"}));
  ASSERT_TRUE(w.k.AddFile("/tmp/busy", "a").ok());  // another program's file
  Snapshot before = TakeSnapshot(w.k, scope);
  ASSERT_TRUE(before.errors.empty());
  scope.outside_shared_tmp = true;  // as for an image with a link into /tmp
  Snapshot before_tmp = TakeSnapshot(w.k, scope);
  scope.outside_shared_tmp = false;
  // Inside the scope: not the outside probe's business.
  ASSERT_TRUE(w.k.AddDir(std::string(kRoot) + "/containers/x").ok());
  Snapshot same = TakeSnapshot(w.k, scope);
  EXPECT_EQ(same.probes["outside"], before.probes["outside"]);
  // Planted where an escape lands: a new directory in /etc, a file in /tmp;
  // and another program's file in /tmp grows.
  ASSERT_TRUE(w.k.AddDir("/etc/faultline-escape").ok());
  ASSERT_TRUE(w.k.AddFile("/tmp/planted", "x").ok());
  ASSERT_TRUE(w.k.AddFile("/tmp/busy", "abc").ok());
  auto seen_in = [&](const Snapshot& b, const Snapshot& a) {
    std::string seen;
    for (const auto& d : Compare(b, a)) {
      if (d.probe != "outside") continue;
      for (const auto& x : d.appeared) seen += x + "\n";
    }
    return seen;
  };
  // /tmp is not watched by default: only /etc's new directory shows.
  const std::string seen = seen_in(before, TakeSnapshot(w.k, scope));
  EXPECT_THAT(seen, HasSubstr("/etc/faultline-escape dir"));
  EXPECT_THAT(seen, ::testing::Not(HasSubstr("/tmp/")));
  // Watched: the new name in /tmp shows, the other program's write does not.
  scope.outside_shared_tmp = true;
  const std::string tmp = seen_in(before_tmp, TakeSnapshot(w.k, scope));
  EXPECT_THAT(tmp, HasSubstr("/tmp/planted file"));
  EXPECT_THAT(tmp, ::testing::Not(HasSubstr("/tmp/busy")));
  // An ignore glob takes a path out.
  scope.outside_ignore = {"/tmp/plant*"};
  Snapshot ignored = TakeSnapshot(w.k, scope);
  std::string all;
  for (const auto& a : ignored.probes["outside"]) all += a + "\n";
  EXPECT_THAT(all, ::testing::Not(HasSubstr("/tmp/planted")));
}

}  // namespace
}  // namespace faultline
