#include "harness/seccomp/inflight.h"

#include <gtest/gtest.h>

namespace faultline::seccomp {
namespace {

InflightCall Call(uint64_t id, int nr, uint64_t a0, uint64_t seq) {
  InflightCall c;
  c.id = id;
  c.nr = nr;
  c.args[0] = a0;
  c.seq = seq;
  c.verdict = Verdict::Fail(13);
  return c;
}

TEST(SeccompInflight, SameThreadSameCallIsARestart) {
  InflightCalls t;
  t.Track(100, Call(1, 83, 0x1000, 7));
  t.MarkGone(100);
  uint64_t args[6] = {0x1000, 0, 0, 0, 0, 0};
  InflightCall* c = t.OnNotification(100, 83, args, 2);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->seq, 7u) << "a restart keeps its seq";
  EXPECT_EQ(c->id, 2u) << "and answers under the new id";
  EXPECT_EQ(c->verdict.kind, Verdict::kFail);
  EXPECT_FALSE(c->gone);
}

TEST(SeccompInflight, DifferentArgsOrThreadIsANewCall) {
  InflightCalls t;
  t.Track(100, Call(1, 83, 0x1000, 7));
  t.MarkGone(100);
  uint64_t other_args[6] = {0x2000, 0, 0, 0, 0, 0};
  uint64_t same_args[6] = {0x1000, 0, 0, 0, 0, 0};
  EXPECT_EQ(t.OnNotification(101, 83, same_args, 2), nullptr) << "other thread";
  EXPECT_EQ(t.size(), 1u) << "the other thread's call is untouched";
  EXPECT_EQ(t.OnNotification(100, 84, same_args, 3), nullptr) << "other syscall";
  EXPECT_EQ(t.size(), 0u) << "a new call from the thread ends the old one";
  t.Track(100, Call(4, 83, 0x1000, 8));
  EXPECT_EQ(t.OnNotification(100, 83, other_args, 5), nullptr);
}

TEST(SeccompInflight, FinishedCallIsForgotten) {
  InflightCalls t;
  t.Track(100, Call(1, 83, 0x1000, 7));
  t.Finish(100);
  uint64_t args[6] = {0x1000, 0, 0, 0, 0, 0};
  EXPECT_EQ(t.OnNotification(100, 83, args, 2), nullptr)
      << "the same call again after an answer is a new call";
}

TEST(SeccompInflight, DelaysComeDueInOrder) {
  InflightCalls t;
  auto now = Clock::now();
  InflightCall a = Call(1, 83, 1, 1);
  a.deadline = now + std::chrono::milliseconds(50);
  InflightCall b = Call(2, 83, 2, 2);
  b.deadline = now + std::chrono::milliseconds(10);
  t.Track(1, a);
  t.Track(2, b);
  ASSERT_TRUE(t.NextDeadline().has_value());
  EXPECT_EQ(*t.NextDeadline(), *b.deadline);
  EXPECT_TRUE(t.Due(now).empty());
  EXPECT_EQ(t.Due(now + std::chrono::milliseconds(20)), std::vector<pid_t>{2});
  EXPECT_EQ(t.Due(now + std::chrono::milliseconds(60)).size(), 2u);
  t.MarkGone(2);
  EXPECT_EQ(*t.NextDeadline(), *a.deadline) << "a gone call waits for no timer";
  EXPECT_EQ(t.Delayed(), std::vector<pid_t>{1});
}

TEST(SeccompInflight, RestartDuringADelayKeepsTheDeadline) {
  InflightCalls t;
  InflightCall a = Call(1, 83, 1, 1);
  a.deadline = Clock::now() + std::chrono::seconds(1);
  t.Track(9, a);
  uint64_t args[6] = {1, 0, 0, 0, 0, 0};
  InflightCall* c = t.OnNotification(9, 83, args, 42);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->deadline, a.deadline);
  EXPECT_EQ(c->id, 42u);
}

}  // namespace
}  // namespace faultline::seccomp
