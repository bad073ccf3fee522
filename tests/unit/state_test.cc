#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakekernel/fake_kernel.h"
#include "runtime/container/env.h"
#include "runtime/container/runtime.h"
#include "runtime/container/state.h"

namespace mydocker {
namespace {

TEST(MergeEnv, LaterKeysReplaceInPlaceAndFirstAppearancesKeepTheirOrder) {
  EXPECT_EQ(MergeEnv({"PATH=/bin", "HOME=/root", "TERM=xterm"}, {"HOME=/home/a", "NEW=1"}),
            (std::vector<std::string>{"PATH=/bin", "HOME=/home/a", "TERM=xterm", "NEW=1"}));
  // A key twice in the base, and twice in -e: the last value, at the first place.
  EXPECT_EQ(MergeEnv({"A=1", "B=2", "A=3"}, {"B=4", "B=5", "C"}),
            (std::vector<std::string>{"A=3", "B=5", "C"}));
  // "A" (no '=') and "A=" are the same key.
  EXPECT_EQ(MergeEnv({"A"}, {"A="}), (std::vector<std::string>{"A="}));
  EXPECT_EQ(MergeEnv({}, {}), std::vector<std::string>{});
}

TEST(State, JsonRoundTrip) {
  ContainerState s;
  s.id = "0123456789ab";
  s.name = "web";
  s.image = "busybox";
  s.command = {"sh", "-c", "true"};
  s.status = "running";
  s.pid = 42;
  s.pid_start = 1234;
  s.runtime_pid = 41;
  s.cgroup_parent = "mydocker";
  s.volumes = {{"/h", "/c", true}};
  auto back = StateFromJson(StateToJson(s), "x");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->id, s.id);
  EXPECT_EQ(back->command, s.command);
  EXPECT_EQ(back->pid, 42);
  EXPECT_EQ(back->pid_start, 1234u);
  ASSERT_EQ(back->volumes.size(), 1u);
  EXPECT_TRUE(back->volumes[0].read_only);
}

TEST(State, DetachedFieldsRoundTripAndDefault) {
  ContainerState s;
  s.id = "0123456789ab";
  s.status = "exited";
  s.exit_code = 137;
  s.detached = true;
  s.caps = 0xa80425fbu;
  s.no_new_privs = false;
  s.seccomp = "/etc/profile.json";
  auto back = StateFromJson(StateToJson(s), "x");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->status, "exited");
  EXPECT_EQ(back->exit_code, 137);
  EXPECT_TRUE(back->detached);
  EXPECT_EQ(back->caps, 0xa80425fbu);
  EXPECT_FALSE(back->no_new_privs);
  EXPECT_EQ(back->seccomp, "/etc/profile.json");
  // A state written before these fields: attached, docker's hardening.
  auto old = StateFromJson(R"({"id": "0123456789ab", "status": "running"})", "x");
  ASSERT_TRUE(old.ok());
  EXPECT_FALSE(old->detached);
  EXPECT_TRUE(old->no_new_privs);
  EXPECT_EQ(old->seccomp, "default");
}

TEST(State, StatusText) {
  faultline::FakeKernel k;
  ContainerState s;
  s.status = "exited";
  s.exit_code = 3;
  EXPECT_EQ(StatusText(k, s), "exited (3)");
  s.exit_code = -1;
  EXPECT_EQ(StatusText(k, s), "exited (?)");
  s.status = "running";
  s.pid = k.RuntimePid();
  s.pid_start = ProcessStartTime(k, s.pid);
  ASSERT_NE(s.pid_start, 0u) << "the fake gives no start time: every process looks dead";
  EXPECT_EQ(StatusText(k, s), "running");
  s.pid_start += 1;  // the pid was reused
  EXPECT_EQ(StatusText(k, s), "dead");
  s.status = "creating";
  EXPECT_EQ(StatusText(k, s), "creating");
}

TEST(State, BrokenJsonNamesTheFile) {
  auto bad = StateFromJson("{\"id\": ", "/r/containers/x/state.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().Message().find("/r/containers/x/state.json"), std::string::npos);
  EXPECT_FALSE(StateFromJson("{}", "f").ok());  // no id
}

// --state: the containers (state.json, workspace, overlay) live under the
// state root, the images stay under the root; ps/gc with only --root do
// not see them.
TEST(StateRoot, ContainersLiveUnderTheStateRootImagesUnderTheRoot) {
  faultline::FakeKernel k;
  const std::string root = "/var/lib/mydocker", state_root = "/run/mydocker";
  ASSERT_TRUE(k.BuildBusyboxImage(root + "/images/busybox/rootfs").ok());
  ASSERT_TRUE(k.AddFile(root + "/images/busybox/image.json",
                        R"({"name":"busybox","source":"fake","size":0,"files":0})")
                  .ok());
  RuntimeConfig config;
  config.root = root;
  config.state_root = state_root;
  config.new_id = [] { return std::string("0123456789ab"); };
  const std::string dir = state_root + "/containers/0123456789ab";
  bool saw_running = false;
  config.on_running = [&](const ContainerState& s) {
    saw_running = true;
    EXPECT_EQ(s.id, "0123456789ab");
    auto st = k.Lstat(dir + "/state.json");
    EXPECT_TRUE(st.ok()) << dir << "/state.json: " << st.err;
    EXPECT_EQ(k.Lstat(root + "/containers").err, ENOENT) << "a container dir under --root";
    EXPECT_THAT(k.Mountinfo(k.RuntimePid()), ::testing::HasSubstr(dir + "/merged"));
    // ps with the same state root lists it; with the root alone, not.
    RuntimeConfig same = config;
    same.on_running = nullptr;
    Runtime with_state(k, same);
    auto listed = with_state.List();
    ASSERT_TRUE(listed.ok());
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ((*listed)[0].status, "running");
    RuntimeConfig root_only;
    root_only.root = root;
    Runtime without(k, root_only);
    auto none = without.List();
    ASSERT_TRUE(none.ok());
    EXPECT_TRUE(none->empty());
  };
  Runtime rt(k, config);
  EXPECT_EQ(rt.StateRoot(), state_root);
  EXPECT_EQ(rt.states().DirOf("0123456789ab"), dir);
  RunSpec spec;
  spec.image = "busybox";
  spec.argv = {"true"};
  auto r = rt.Run(spec);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_TRUE(saw_running);
  auto left = k.ReadDir(state_root + "/containers");
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left.value.empty());

  // Without a state root, the root is the state root (the old layout).
  RuntimeConfig plain;
  plain.root = root;
  Runtime old(k, plain);
  EXPECT_EQ(old.StateRoot(), root);
  EXPECT_EQ(old.states().DirOf("x"), root + "/containers/x");
}

TEST(ErrorMessage, NamesStepPathAndErrno) {
  Error e = MakeError("workspace: mount overlay", "/r/merged", EBUSY, "x");
  EXPECT_EQ(e.Message(), "workspace: mount overlay /r/merged: EBUSY (Device or resource busy): x");
  EXPECT_EQ(ErrnoName(ENOENT), "ENOENT");
}

}  // namespace
}  // namespace mydocker
