// Shards (harness/sweep/shard.h): K/N parsing, the fleet engines' index
// variables, balanced shares; and the environment fingerprint's cgroup
// layout (harness/report/environment.h).
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "harness/report/environment.h"
#include "harness/sweep/shard.h"

namespace faultline {
namespace {

TEST(Shard, ParsesKOfN) {
  Shard s;
  ASSERT_TRUE(ParseShardText("2/7", &s));
  EXPECT_EQ(s, (Shard{2, 7}));
  for (const char* bad : {"7/7", "-1/3", "1/0", "1", "a/3", "1/3/4", ""}) {
    EXPECT_FALSE(ParseShardText(bad, &s)) << bad;
  }
}

TEST(Shard, EveryItemInExactlyOneBalancedShare) {
  for (size_t count : {0u, 1u, 13u, 2685u}) {
    for (int n : {1, 2, 3, 7, 16}) {
      std::vector<int> owners(count, 0);
      size_t lo = SIZE_MAX, hi = 0;
      for (int k = 0; k < n; ++k) {
        size_t mine = 0;
        for (size_t i = 0; i < count; ++i) {
          if (Shard{k, n}.Has(i)) {
            ++owners[i];
            ++mine;
          }
        }
        EXPECT_EQ(mine, ShardSize(count, Shard{k, n}));
        lo = std::min(lo, mine);
        hi = std::max(hi, mine);
      }
      for (size_t i = 0; i < count; ++i) EXPECT_EQ(owners[i], 1) << i;
      EXPECT_LE(hi - lo, 1u);
    }
  }
}

Shard FromEnv(const std::map<std::string, std::string>& env, bool* found, std::string* error) {
  Shard s;
  std::string source;
  const bool ok = ShardFromEnvironment(&s, found, &source, error, [&](const char* name) {
    auto it = env.find(name);
    return it == env.end() ? static_cast<const char*>(nullptr) : it->second.c_str();
  });
  if (!ok) *found = false;
  return s;
}

TEST(Shard, FromTheFleetEnginesVariables) {
  bool found = false;
  std::string error;
  EXPECT_EQ(FromEnv({{"GTEST_SHARD_INDEX", "1"}, {"GTEST_TOTAL_SHARDS", "4"}}, &found, &error),
            (Shard{1, 4}));
  EXPECT_TRUE(found);
  EXPECT_EQ(FromEnv({{"TEST_SHARD_INDEX", "0"}, {"TEST_TOTAL_SHARDS", "2"}}, &found, &error),
            (Shard{0, 2}));
  EXPECT_TRUE(found);
  EXPECT_EQ(FromEnv({{"JOB_COMPLETION_INDEX", "6"}, {"FAULTLINE_TOTAL_SHARDS", "7"}}, &found,
                    &error),
            (Shard{6, 7}));
  EXPECT_TRUE(found);
  FromEnv({}, &found, &error);
  EXPECT_FALSE(found);
  // Set but broken: an error, never "run everything".
  error.clear();
  FromEnv({{"JOB_COMPLETION_INDEX", "3"}}, &found, &error);
  EXPECT_FALSE(found);
  EXPECT_NE(error.find("FAULTLINE_TOTAL_SHARDS"), std::string::npos) << error;
  error.clear();
  FromEnv({{"GTEST_SHARD_INDEX", "4"}, {"GTEST_TOTAL_SHARDS", "4"}}, &found, &error);
  EXPECT_FALSE(found);
  EXPECT_FALSE(error.empty());
}

TEST(Environment, CgroupLayoutFromMountinfo) {
  const std::string v2 =
      "30 24 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
  const std::string v1 =
      "30 24 0:26 / /sys/fs/cgroup rw shared:4 - tmpfs tmpfs rw,mode=755\n"
      "31 30 0:27 / /sys/fs/cgroup/memory rw shared:5 - cgroup cgroup rw,memory\n";
  const std::string hybrid =
      v1 + "32 30 0:28 / /sys/fs/cgroup/unified rw shared:6 - cgroup2 cgroup2 rw\n";
  EXPECT_EQ(CgroupLayoutFromMountinfo(v2), "v2");
  EXPECT_EQ(CgroupLayoutFromMountinfo(v1), "v1");
  EXPECT_EQ(CgroupLayoutFromMountinfo(hybrid), "hybrid");
  EXPECT_EQ(CgroupLayoutFromMountinfo(""), "none");
}

TEST(Environment, RoundTripsAndNamesTheBuild) {
  Environment e = CollectEnvironment();
  EXPECT_FALSE(e.kernel_release.empty());
  EXPECT_FALSE(e.machine.empty());
  EXPECT_FALSE(std::string(FaultlineVersion()).empty());
  EXPECT_FALSE(std::string(FaultlineCommit()).empty());
  e.options = {{"backend", "fake"}};
  EXPECT_EQ(Environment::FromJson(e.ToJson()), e);
}

}  // namespace
}  // namespace faultline
