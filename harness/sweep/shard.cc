#include "harness/sweep/shard.h"

#include <stdlib.h>

#include <fstream>
#include <regex>

namespace faultline {

bool ParseShardText(const std::string& text, Shard* shard) {
  static const std::regex kShard(R"((\d{1,6})/(\d{1,6}))");
  std::smatch m;
  if (!std::regex_match(text, m, kShard)) return false;
  const int k = std::stoi(m[1]), n = std::stoi(m[2]);
  if (n < 1 || k < 0 || k >= n) return false;
  shard->index = k;
  shard->total = n;
  return true;
}

bool ShardFromEnvironment(Shard* shard, bool* found, std::string* source, std::string* error,
                          const std::function<const char*(const char*)>& getenv_fn) {
  auto get = [&](const char* name) -> const char* {
    return getenv_fn ? getenv_fn(name) : ::getenv(name);
  };
  struct Pair {
    const char* index;
    const char* total;
  };
  static const Pair kPairs[] = {{"GTEST_SHARD_INDEX", "GTEST_TOTAL_SHARDS"},
                                {"TEST_SHARD_INDEX", "TEST_TOTAL_SHARDS"},
                                {"JOB_COMPLETION_INDEX", "FAULTLINE_TOTAL_SHARDS"}};
  *found = false;
  for (const Pair& p : kPairs) {
    const char* i = get(p.index);
    const char* t = get(p.total);
    if (i == nullptr && t == nullptr) continue;
    if (i == nullptr || t == nullptr) {
      *error = std::string(i == nullptr ? p.index : p.total) + " is not set but " +
               (i == nullptr ? p.total : p.index) + " is: a shard needs both";
      return false;
    }
    if (!ParseShardText(std::string(i) + "/" + t, shard)) {
      *error = std::string(p.index) + "=" + i + " " + p.total + "=" + t +
               " is not a shard (0 <= index < total)";
      return false;
    }
    *found = true;
    *source = std::string(p.index) + "/" + p.total;
    if (std::string(p.index) == "TEST_SHARD_INDEX") {
      // Bazel: touching the status file says the binary shards.
      if (const char* status = get("TEST_SHARD_STATUS_FILE"); status != nullptr && *status) {
        std::ofstream touch(status, std::ios::app);
      }
    }
    return true;
  }
  return true;
}

size_t ShardSize(size_t count, const Shard& shard) {
  if (shard.total <= 1) return count;
  const size_t n = static_cast<size_t>(shard.total), k = static_cast<size_t>(shard.index);
  return count / n + (k < count % n ? 1 : 0);
}

}  // namespace faultline
