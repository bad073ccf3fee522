// Shards of a sweep or of a scenario run: which share of the work one
// process of a fleet does (issue 17; docs/sweeps.md "Sharding").
//
// A shard is "K/N": index K (0-based, 0 <= K < N) of N. The i-th item of the
// canonical order (sweep: the runs in the order the unsharded sweep makes
// them; `faultline run`: the sorted scenario files) belongs to shard
// i mod N, so every item is in exactly one shard and shard sizes differ by
// at most one.
//
// Where no --shard flag is given, the index and total come from the
// environment of the fleet engine, first match wins:
//   GTEST_SHARD_INDEX + GTEST_TOTAL_SHARDS   (GoogleTest, ctest)
//   TEST_SHARD_INDEX + TEST_TOTAL_SHARDS     (Bazel; TEST_SHARD_STATUS_FILE
//                                             is touched to say "sharding
//                                             is supported")
//   JOB_COMPLETION_INDEX + FAULTLINE_TOTAL_SHARDS
//                                            (a Kubernetes Indexed Job: the
//                                             Job's completions go into
//                                             FAULTLINE_TOTAL_SHARDS)
// A variable that is set but not a valid shard is an error, never "no
// shard" (a fleet whose jobs all ran everything would look fine).
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace faultline {

struct Shard {
  int index = 0;
  int total = 1;
  bool sharded() const { return total > 1; }
  bool Has(size_t i) const {
    return total <= 1 || static_cast<int>(i % static_cast<size_t>(total)) == index;
  }
  std::string ToString() const { return std::to_string(index) + "/" + std::to_string(total); }
  bool operator==(const Shard&) const = default;
};

// Parses "K/N" (0 <= K < N, N >= 1); false on anything else.
bool ParseShardText(const std::string& text, Shard* shard);

// From the environment (see above). Returns false and sets *error when a
// variable is set but invalid; returns true with *found = false when none
// is set. getenv is injectable for tests.
bool ShardFromEnvironment(Shard* shard, bool* found, std::string* source, std::string* error,
                          const std::function<const char*(const char*)>& getenv_fn = {});

// How many items of `count` belong to shard (for progress and checks).
size_t ShardSize(size_t count, const Shard& shard);

}  // namespace faultline
