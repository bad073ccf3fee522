// The op table (runtime/sys/sys_ops.h) and what is generated from it: every
// op has one name, passes SysWrapper's one interception point, can be failed
// and lied about there, and reaches ErrnoSys as ENOSYS.
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/sys/sys_wrapper.h"

namespace mydocker {
namespace {

using ::testing::ElementsAreArray;

// Calls m on sys with value-initialized arguments (empty strings, 0 flags,
// null buffers: nothing reaches a kernel in these tests).
template <class R, class... A>
int CallWithDefaults(Sys& sys, R (Sys::*m)(A...)) {
  return (sys.*m)(std::decay_t<A>{}...).err;
}

// Every op through sys, in table order; returns each call's errno.
std::vector<int> CallEveryOp(Sys& sys) {
  std::vector<int> errs;
#define CALL_OP(Method, ...) errs.push_back(CallWithDefaults(sys, &Sys::Method));
  MYDOCKER_SYS_OPS(CALL_OP)
#undef CALL_OP
  return errs;
}

std::vector<Op> AllOps() {
  std::vector<Op> ops;
  for (size_t i = 0; i < static_cast<size_t>(Op::kCount); ++i) ops.push_back(static_cast<Op>(i));
  return ops;
}

class Recorder : public SysWrapper {
 public:
  enum class Decide { kProceed, kFail, kLie, kNothing };
  using SysWrapper::SysWrapper;
  Decide decide = Decide::kProceed;
  std::vector<Op> ops;
  std::vector<std::string> args;

 protected:
  void Intercept(SysCall& call) override {
    ops.push_back(call.op());
    args.push_back(call.Args());
    (void)call.desc();
    switch (decide) {
      case Decide::kProceed: call.Proceed(); break;
      case Decide::kFail: call.Fail(EXDEV); break;
      case Decide::kLie: call.Lie(); break;
      case Decide::kNothing: break;
    }
    if (decide != Decide::kNothing) EXPECT_TRUE(call.decided()) << call.name();
  }
};

TEST(SysOps, NamesAreUniqueAndRoundTrip) {
  std::set<std::string> names;
  for (Op op : AllOps()) {
    const std::string name = OpName(op);
    EXPECT_TRUE(names.insert(name).second) << "duplicate op name " << name;
    Op back = Op::kCount;
    ASSERT_TRUE(OpFromName(name, &back)) << name;
    EXPECT_EQ(back, op) << name;
  }
  Op unused;
  EXPECT_FALSE(OpFromName("no_such_op", &unused));
  EXPECT_STREQ(OpName(Op::kCount), "?");
}

TEST(SysOps, ErrnoSysFailsEveryOpWithEnosys) {
  ErrnoSys base;
  std::vector<int> errs = CallEveryOp(base);
  EXPECT_EQ(errs.size(), static_cast<size_t>(Op::kCount));
  EXPECT_THAT(errs, ::testing::Each(ENOSYS));
}

TEST(SysOps, EveryOpPassesTheInterceptionPointOnceInTableOrder) {
  ErrnoSys base;
  Recorder rec(base);
  std::vector<int> errs = CallEveryOp(rec);
  EXPECT_THAT(rec.ops, ElementsAreArray(AllOps()));
  EXPECT_THAT(errs, ::testing::Each(ENOSYS)) << "proceeding reaches the target";

  rec.ops.clear();
  rec.decide = Recorder::Decide::kNothing;
  EXPECT_THAT(CallEveryOp(rec), ::testing::Each(ENOSYS)) << "undecided calls go through";
  EXPECT_EQ(rec.ops.size(), static_cast<size_t>(Op::kCount));
}

TEST(SysOps, FailAndLieDecideWithoutTheTarget) {
  ErrnoSys base;
  Recorder rec(base);
  rec.decide = Recorder::Decide::kFail;
  EXPECT_THAT(CallEveryOp(rec), ::testing::Each(EXDEV));
  rec.decide = Recorder::Decide::kLie;
  EXPECT_THAT(CallEveryOp(rec), ::testing::Each(0)) << "a lie reports success";
}

TEST(SysOps, LiedHandlesDoNotExist) {
  ErrnoSys base;
  Recorder rec(base);
  rec.decide = Recorder::Decide::kLie;
  EXPECT_GE(rec.Open("/x", 0, 0).value, kLieHandle);
  EXPECT_GE(rec.Fsopen("overlay", 0).value, kLieHandle);
  EXPECT_GE(rec.Clone(CloneFn{}, 0).value, kLieHandle);
  auto p = rec.Pipe(0);
  EXPECT_GE(p.value.read_fd, kLieHandle);
  EXPECT_GE(p.value.write_fd, kLieHandle);
  char buf[4];
  EXPECT_EQ(rec.Write(1, buf, sizeof buf).value, sizeof buf) << "a lied write wrote it all";
  EXPECT_EQ(rec.Read(0, buf, sizeof buf).value, 0u) << "a lied read is at EOF";
}

TEST(SysOps, ArgsArePrintedByTypeAndName) {
  ErrnoSys base;
  Recorder rec(base);
  (void)rec.Umount2("/proc", 2);
  (void)rec.Mkdir("/d", 0755);
  (void)rec.Mount({"overlay", "/m", "overlay", 0x1000, "lowerdir=/a"});
  char a0[] = "sh", a1[] = "-c";
  char* argv[] = {a0, a1, nullptr};
  char e0[] = "SECRET=1";
  char* envp[] = {e0, nullptr};
  (void)rec.Execve("/bin/sh", argv, envp);
  (void)rec.Signal(13, SignalDisposition::kIgnore);
  EXPECT_THAT(rec.args,
              ElementsAreArray({
                  "target=\"/proc\" flags=0x2",
                  "path=\"/d\" mode=0755",
                  "source=\"overlay\" target=\"/m\" fstype=\"overlay\" flags=0x1000 "
                  "data=\"lowerdir=/a\"",
                  "path=\"/bin/sh\" argv=[\"sh\" \"-c\"] envp=[1 entries]",
                  "sig=13 disposition=ignore",
              }));
}

}  // namespace
}  // namespace mydocker
