// One defect per root cause (GroupDefects, harness/sweep/sweep.cc): what
// must fall into one defect and what must stay apart. The shapes are the
// runc 1.1.5 seccomp sweep's (docs/sweeps.md "Defects per runtime").
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/sweep/sweep.h"

namespace faultline {
namespace {

using ::testing::HasSubstr;

PointResult Failed(size_t point, const std::string& op, SweepMode mode, int err = 0) {
  PointResult r;
  r.point = point;
  r.op = op;
  r.mode = mode;
  r.err = err;
  r.call_class = "cgroup-file";
  r.replay = "replay " + std::to_string(point);
  return r;
}

PointResult Hang(size_t point, pid_t pid, const std::string& wchan) {
  PointResult r = Failed(point, "openat", SweepMode::kTransient, 12);
  r.failures = {"the runtime hung (every thread asleep, no CPU time used and no supervised call "
                "for 2 s; killed)"};
  r.left_probes = {"cgroups", "dirs"};
  r.trace_tail = {
      std::to_string(point) + " runtime openat runc 9937: openat /x -> ENOMEM [fault]",
      "hang: pid " + std::to_string(pid) + " (runc:[2:INIT]) tid " + std::to_string(pid + 6) +
          " S wchan " + wchan + " syscall futex",
      "hang:     [<0>] " + wchan + "+0x46/0x90",
  };
  return r;
}

PointResult Crash(size_t point, const std::string& op, const std::vector<std::string>& left) {
  PointResult r = Failed(point, op, SweepMode::kCrash);
  r.failures = {"left after gc: cgroups: +/sys/fs/cgroup/cpuset/faultline-sweep-" +
                std::to_string(8000 + point) + "/faultline-sweep"};
  r.left_probes = left;
  r.left_after_gc_probes = {"cgroups"};
  return r;
}

TEST(DefectGrouping, HangsWithOtherPidsAreOneDefectAndAnotherWaitIsAnother) {
  SweepReport report;
  report.results = {Hang(163, 1096, "futex_do_wait"), Hang(165, 1123, "futex_do_wait"),
                    Hang(166, 1240, "futex_do_wait"), Hang(137, 1500, "fifo_open")};
  GroupDefects(report);
  ASSERT_EQ(report.defects.size(), 2u);
  EXPECT_EQ(report.defects[0].runs, 3u);
  EXPECT_EQ(report.defects[0].points, (std::vector<size_t>{163, 165, 166}));
  EXPECT_THAT(report.defects[0].key, HasSubstr("asleep=wchan futex_do_wait syscall futex"));
  EXPECT_THAT(report.defects[1].key, HasSubstr("asleep=wchan fifo_open"));
}

TEST(DefectGrouping, ACgroupRmdirFailureAtEachHierarchyIsOneDefect) {
  SweepReport report;
  for (const char* c : {"cpuset", "cpuacct", "name=systemd", ""}) {
    PointResult r = Failed(169, "unlinkat", SweepMode::kPersistentPath, 16);
    r.call_class = "cgroup-dir";
    r.failures = {std::string("left after gc: cgroups: +/sys/fs/cgroup/") + c + "/x"};
    r.left_probes = {"cgroups"};
    r.left_after_gc_probes = {"cgroups"};
    r.error = std::string("time=\"2026-12-02T17:22:0") + (c[0] ? "7" : "9") +
              "Z\" level=error msg=\"Failed to remove paths: map[" + c + ":/sys/fs/cgroup/" + c +
              "/faultline-sweep-8098/faultline-sweep]\"";
    report.results.push_back(r);
  }
  GroupDefects(report);
  std::string keys;
  for (const auto& d : report.defects) keys += d.key + "\n";
  ASSERT_EQ(report.defects.size(), 1u) << keys;
  EXPECT_EQ(report.defects[0].runs, 4u);
}

TEST(DefectGrouping, ACrashWindowIsOneDefectWhateverCallItDiedAt) {
  SweepReport report;
  report.results = {Crash(15, "openat2", {"cgroups", "dirs"}), Crash(20, "write", {"cgroups", "dirs"}),
                    Crash(25, "mkdirat", {"cgroups", "dirs"}),
                    // Died where it had also mounted: another leftover set.
                    Crash(31, "mount", {"cgroups", "dirs", "mounts"})};
  GroupDefects(report);
  ASSERT_EQ(report.defects.size(), 2u);
  EXPECT_EQ(report.defects[0].runs, 3u);
  EXPECT_EQ(report.defects[0].summary,
            "crash at any of 3 points from 15 to 25 (mkdirat,openat2,write): left after gc");
  EXPECT_EQ(report.defects[1].points, (std::vector<size_t>{31}));
  for (const auto& r : report.results) EXPECT_NE(r.defect, 0u);
}

TEST(DefectGrouping, TheCallsAfterTheFaultDoNotSplitADefect) {
  // runc's delete stops at whichever hierarchy's rmdir failed: the calls
  // after the fault differ, the defect is one.
  SweepReport report;
  for (const char* next : {"openat unlinkat unlinkat", "openat openat"}) {
    PointResult r = Failed(169, "unlinkat", SweepMode::kPersistentPath, 16);
    r.failures = {"left after gc: cgroups: +/sys/fs/cgroup/pids/x"};
    r.trace_tail = {"169 runtime unlinkat runc 2057: unlinkat /x -> EBUSY [fault]",
                    std::string("170 runtime ") + next + " runc 2057: ..."};
    report.results.push_back(r);
  }
  GroupDefects(report);
  EXPECT_EQ(report.defects.size(), 1u);
}

TEST(DefectGrouping, LeftoversAfterAnyCallOfAClassAreOneDefectWhateverTheErrorSays) {
  // crun: a failed write of cgroup.procs, devices.allow or cpuset.cpus is
  // worded three ways; it leaves the same cgroups after each. (An open of
  // them, openat or openat2, would be one more: another family.)
  SweepReport report;
  const char* errors[] = {"writing file `/sys/fs/cgroup/pids/x/cgroup.procs`: EIO",
                          "writing file `devices.allow`: EIO", "write `cpuset.cpus`: EIO"};
  const char* ops[] = {"write", "write", "write"};
  for (size_t i = 0; i < 3; ++i) {
    PointResult r = Failed(20 + i, ops[i], SweepMode::kTransient, 5);
    r.failures = {"left after gc: cgroups: +/sys/fs/cgroup/pids/x"};
    r.left_probes = {"cgroups"};
    r.left_after_gc_probes = {"cgroups"};
    r.error = errors[i];
    report.results.push_back(r);
  }
  // The same leftovers after a cgroup mkdir's failure: another class; and
  // after a cgroup rmdir's: the same class, another family.
  PointResult mkdir = report.results.front();
  mkdir.op = "mkdirat";
  mkdir.call_class = "cgroup-dir";
  report.results.push_back(mkdir);
  PointResult rmdir = mkdir;
  rmdir.op = "rmdir";
  report.results.push_back(rmdir);
  // The same leftovers, and an error without the errno: its words count.
  PointResult words = report.results.front();
  words.failures.push_back("the error carries no errno");
  report.results.push_back(words);
  GroupDefects(report);
  ASSERT_EQ(report.defects.size(), 4u);
  EXPECT_EQ(report.defects[0].runs, 3u);
  EXPECT_EQ(report.defects[0].points, (std::vector<size_t>{20, 21, 22}));
  EXPECT_EQ(report.defects[0].summary, "write (cgroup-file), transient: left after gc");
}

TEST(DefectGrouping, FaultsAtDifferentCallsStayApart) {
  // Not a crash: the faulted call is part of the root cause.
  SweepReport report;
  for (const char* op : {"mkdirat", "openat2"}) {
    PointResult r = Failed(op[0] == 'm' ? 14 : 15, op, SweepMode::kTransient, 5);
    r.failures = {"the error carries no errno"};
    r.error = "runc: failed";
    report.results.push_back(r);
  }
  GroupDefects(report);
  EXPECT_EQ(report.defects.size(), 2u);
}

TEST(DefectGrouping, MaskMessageMasksTimesNumbersMapsAndQuotedControllers) {
  EXPECT_EQ(MaskMessage("time=\"2026-12-02T17:22:07Z\" pid 1096"), "time=\"<time>\" pid <n>");
  EXPECT_EQ(MaskMessage("Failed to remove paths: map[cpuset:/sys/fs/cgroup/cpuset/a]"),
            "Failed to remove paths: map[<...>]");
  // crun's words: the controller in backticks, alone or as a file's prefix.
  EXPECT_EQ(MaskMessage("cannot destroy subsystem `memory` at path `/sys/fs/cgroup/memory/x`"),
            MaskMessage("cannot destroy subsystem `pids` at path `/sys/fs/cgroup/pids/y`"));
  EXPECT_EQ(MaskMessage("write `cpuset.cpus`: EBUSY"), "write `<controller>.cpus`: EBUSY");
  // Words stay, and so do numbers inside them and a controller's name as a
  // word: a cgroup v1 failure is not a cgroup2 one.
  EXPECT_EQ(MaskMessage("unable to store init state"), "unable to store init state");
  EXPECT_NE(MaskMessage("mount cgroup2 failed"), MaskMessage("mount cgroup1 failed"));
  EXPECT_EQ(MaskMessage("the memory limit"), "the memory limit");
}

}  // namespace
}  // namespace faultline
