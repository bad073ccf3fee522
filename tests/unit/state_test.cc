#include <gtest/gtest.h>

#include "runtime/container/state.h"

namespace mydocker {
namespace {

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

TEST(State, BrokenJsonNamesTheFile) {
  auto bad = StateFromJson("{\"id\": ", "/r/containers/x/state.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().Message().find("/r/containers/x/state.json"), std::string::npos);
  EXPECT_FALSE(StateFromJson("{}", "f").ok());  // no id
}

TEST(ErrorMessage, NamesStepPathAndErrno) {
  Error e = MakeError("workspace: mount overlay", "/r/merged", EBUSY, "x");
  EXPECT_EQ(e.Message(), "workspace: mount overlay /r/merged: EBUSY (Device or resource busy): x");
  EXPECT_EQ(ErrnoName(ENOENT), "ENOENT");
}

}  // namespace
}  // namespace mydocker
