#include <errno.h>

#include <gtest/gtest.h>

#include "runtime/rootfs/hardening.h"
#include "runtime/sys/confined.h"

namespace mydocker {
namespace {

TEST(Hardening, DockerDefaultCapsAreDockersMask) {
  // docker's CapBnd inside a default container.
  EXPECT_EQ(DockerDefaultCaps(), 0x00000000a80425fbull);
  EXPECT_EQ(CapabilityNumber("CAP_SYS_ADMIN"), 21);
  EXPECT_EQ(CapabilityNumber("sys_admin"), 21);
  EXPECT_EQ(CapabilityNumber("NOPE"), -1);
  EXPECT_EQ(CapabilityName(12), "CAP_NET_ADMIN");
}

TEST(Hardening, CapAddAndDropFollowDockersOrder) {
  auto a = ResolveCaps({"NET_ADMIN"}, {"chown"});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, (DockerDefaultCaps() | (1ull << 12)) & ~1ull);
  auto none = ResolveCaps({"KILL"}, {"ALL"});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 1ull << 5);
  auto all = ResolveCaps({"ALL"}, {"SYS_ADMIN"});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all & (1ull << 21), 0u);
  EXPECT_NE(*all & (1ull << 40), 0u);
  auto bad = ResolveCaps({}, {"CAP_FLY"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().step, "parse --cap-drop");
  EXPECT_EQ(bad.error().path, "CAP_FLY");
}

TEST(Hardening, CapAddAllMeansWhatTheRuntimeCanGrant) {
  // A runtime whose bounding set lacks CAP_SYS_RESOURCE (24), as a root in a
  // container often does.
  const uint64_t grantable = ((1ull << 41) - 1) & ~(1ull << 24);
  auto all = ResolveCaps({"ALL"}, {}, grantable);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, grantable);
  auto named = ResolveCaps({"NET_ADMIN", "sys_resource"}, {}, grantable);
  ASSERT_FALSE(named.ok());
  EXPECT_EQ(named.error().step, "parse --cap-add");
  EXPECT_EQ(named.error().path, "CAP_SYS_RESOURCE");
  EXPECT_EQ(named.error().err, EPERM);
  auto dropped = ResolveCaps({"NET_ADMIN"}, {"ALL"}, grantable);
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(*dropped, 1ull << 12);
}

TEST(Hardening, SecurityOptsKeepDockersMeaning) {
  SecuritySpec s;
  EXPECT_TRUE(ApplySecurityOpt(&s, "seccomp=unconfined").ok());
  EXPECT_EQ(s.seccomp, SeccompMode::kUnconfined);
  EXPECT_TRUE(ApplySecurityOpt(&s, "seccomp=/p.json").ok());
  EXPECT_EQ(s.seccomp, SeccompMode::kFile);
  EXPECT_EQ(s.seccomp_file, "/p.json");
  EXPECT_TRUE(ApplySecurityOpt(&s, "no-new-privileges=false").ok());
  EXPECT_FALSE(s.no_new_privs);
  EXPECT_TRUE(ApplySecurityOpt(&s, "no-new-privileges").ok());
  EXPECT_TRUE(s.no_new_privs);
  EXPECT_FALSE(ApplySecurityOpt(&s, "apparmor=unconfined").ok());
  EXPECT_FALSE(ApplySecurityOpt(&s, "no-new-privileges=maybe").ok());
}

TEST(Hardening, DefaultProfileFollowsCapsAndArch) {
  auto rules = ParseSeccompProfile(DefaultSeccompProfile(), "default", DockerDefaultCaps(),
                                   "6.1.0");
  ASSERT_TRUE(rules.ok()) << rules.error().Message();
  EXPECT_EQ(rules->default_action, SeccompAction::kErrno);
  EXPECT_EQ(rules->default_errno, 1u);
  auto has = [&](const std::string& name, SeccompAction action) {
    for (const auto& r : rules->rules)
      if (r.syscall == name && r.action == action) return true;
    return false;
  };
  EXPECT_TRUE(has("read", SeccompAction::kAllow));
  EXPECT_TRUE(has("chroot", SeccompAction::kAllow));        // CAP_SYS_CHROOT is default
  EXPECT_FALSE(has("mount", SeccompAction::kAllow));        // needs CAP_SYS_ADMIN
  EXPECT_FALSE(has("unshare", SeccompAction::kAllow));
  EXPECT_TRUE(has("clone3", SeccompAction::kErrno));        // ENOSYS without SYS_ADMIN
  EXPECT_FALSE(has("keyctl", SeccompAction::kAllow));       // docker refuses it; podman's base allows it
  EXPECT_FALSE(has("setns", SeccompAction::kAllow));
  // clone without SYS_ADMIN: only without namespace flags (one masked rule).
  int clones = 0;
  for (const auto& r : rules->rules) {
    if (r.syscall != "clone") continue;
    ++clones;
    ASSERT_EQ(r.conditions.size(), 1u);
    EXPECT_EQ(r.conditions[0].op, SeccompCmp::kMaskedEq);
    EXPECT_EQ(r.conditions[0].value, 0x7E020000u);
    EXPECT_EQ(r.conditions[0].value_two, 0u);
  }
  EXPECT_EQ(clones, 1);
  auto admin = ParseSeccompProfile(DefaultSeccompProfile(), "default",
                                   DockerDefaultCaps() | (1ull << 21), "6.1.0");
  ASSERT_TRUE(admin.ok());
  bool mount = false;
  for (const auto& r : admin->rules) mount |= r.syscall == "mount";
  EXPECT_TRUE(mount);
#if defined(__x86_64__)
  EXPECT_EQ(rules->extra_arches, (std::vector<std::string>{"x86", "x32"}));
  EXPECT_TRUE(has("arch_prctl", SeccompAction::kAllow));
#endif
  // personality: one value per rule (conditions on one argument are ORed).
  int personality = 0;
  for (const auto& r : rules->rules) personality += r.syscall == "personality";
  EXPECT_EQ(personality, 5);
}

TEST(Hardening, ComposeTakesOverlayNamesOutOfTheBase) {
  const std::string base = R"({"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[
      {"names":["read","keyctl","mount"],"action":"SCMP_ACT_ALLOW"},
      {"names":["keyctl"],"action":"SCMP_ACT_LOG"}]})";
  const std::string overlay = R"({"defaultErrnoRet":1,"remove":["keyctl"],"syscalls":[
      {"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}]})";
  auto p = ComposeSeccompProfile(base, overlay);
  ASSERT_TRUE(p.ok()) << p.error().Message();
  auto none = ParseSeccompProfile(*p, "composed", 0, "6.1");
  ASSERT_TRUE(none.ok()) << none.error().Message();
  EXPECT_EQ(none->default_errno, 1u);
  ASSERT_EQ(none->rules.size(), 1u);  // read; the keyctl-only rule is gone
  EXPECT_EQ(none->rules[0].syscall, "read");
  auto admin = ParseSeccompProfile(*p, "composed", 1ull << 21, "6.1");
  ASSERT_TRUE(admin.ok());
  ASSERT_EQ(admin->rules.size(), 2u);
  EXPECT_EQ(admin->rules[1].syscall, "mount");
  auto bad = ComposeSeccompProfile("{}", overlay);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().path, "base");
  bad = ComposeSeccompProfile(base, "[");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().path, "overlay");
  // The built-in halves compose.
  EXPECT_TRUE(ComposeSeccompProfile(SeccompBaseProfile(), SeccompDockerOverlay()).ok());
  EXPECT_FALSE(DefaultSeccompProfile().empty());
}

TEST(Hardening, BadProfilesNameTheField) {
  auto e = ParseSeccompProfile("[1]", "/p.json", 0, "6.1");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().path, "/p.json");
  e = ParseSeccompProfile(R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_NOPE"}]})",
                          "/p.json", 0, "6.1");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().path.find("syscalls[0]"), std::string::npos);
}

TEST(ConfinedPath, SplitsAndRefusesDotDot) {
  auto p = MakeConfinedPath("/a//b/./c/");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->rel, "a/b/c");
  EXPECT_EQ(p->components, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(p->prefixes, (std::vector<std::string>{"a", "a/b", "a/b/c"}));
  auto root = MakeConfinedPath("/");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->rel, ".");
  EXPECT_FALSE(MakeConfinedPath("/a/../b").ok());
}

}  // namespace
}  // namespace mydocker
