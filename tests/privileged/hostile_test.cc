// Issue 12 on the real kernel: the store closed to host users (a setuid-root
// file of an image never gives one root), sparse files staying sparse, tar
// only, the outside probe seeing a planted write, and the locks between
// concurrent invocations of the mydocker binary.
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/probes/probes.h"
#include "harness/scenario/hostile_image.h"
#include "privileged_env.h"
#include "runtime/sys/fs_util.h"

namespace faultline {
namespace {

using ::testing::HasSubstr;

// Runs fn in a child as uid/gid 65534 (nobody) with no groups; returns its
// exit status (fn's return value).
int AsNobody(const std::function<int()>& fn) {
  pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(99);
    _exit(fn());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// 0: lstat worked; 1: EACCES; 2: anything else.
int LstatAs(const std::string& path) {
  return AsNobody([&] {
    struct stat st;
    if (lstat(path.c_str(), &st) == 0) return 0;
    return errno == EACCES ? 1 : 2;
  });
}

class HostilePrivileged : public PrivilegedTest {};

TEST_F(HostilePrivileged, ASetuidRootFileOfAnImageIsOutOfAHostUsersReach) {
  // A traversable parent of our own (the scratch dir is 0700): only the
  // store's own modes may keep the host user out.
  const std::string top = "/tmp/faultline-suid-" + std::to_string(getpid());
  ASSERT_EQ(mkdir(top.c_str(), 0755), 0);
  const std::string store = top + "/store";
  HostileImage img;
  img.name = "suid";
  img.base = "none";
  img.import = true;
  ImageEntry e;
  e.path = "bin/rootshell";
  e.content = "#!/bin/sh\nid -u\n";
  e.mode = 04755;
  img.entries = {e};
  auto info = InstallImage(env().sys(), store, "", top + "/suid.tar", img);
  ASSERT_TRUE(info.ok()) << info.error().Message();
  const std::string file = info->rootfs + "/bin/rootshell";
  struct stat st;
  ASSERT_EQ(lstat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04755u);  // the policy: the bits are kept...
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(lstat(store.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0710u);  // ...and the store is closed
  EXPECT_EQ(lstat((store + "/images").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(LstatAs(file), 1);  // EACCES: nobody cannot even see it
  EXPECT_EQ(AsNobody([&] { return access(file.c_str(), X_OK) == 0 ? 0 : 1; }), 1);
  // The check can fail: with the store opened up the same user reaches it.
  ASSERT_EQ(chmod(store.c_str(), 0755), 0);
  ASSERT_EQ(chmod((store + "/images").c_str(), 0755), 0);
  EXPECT_EQ(LstatAs(file), 0);
  ASSERT_TRUE(mydocker::RemoveTree(env().sys(), top, "test cleanup").ok());
}

TEST_F(HostilePrivileged, SparseFilesStaySparseAndOnlyTarIsImported) {
  Snapshot before = env().TakeSnapshot();
  HostileImage img;
  img.name = "sparse";
  img.base = "none";
  img.import = true;
  ImageEntry e;
  e.path = "holes";
  e.content = std::string(4096, 'd');
  e.size = uint64_t{1} << 30;  // 1 GiB declared, 4 KiB of data
  img.entries = {e};
  auto tar = BuildImageTar(img);
  ASSERT_TRUE(tar.ok()) << tar.error().Message();
  EXPECT_LT(tar->size(), 64u << 10);
  const std::string tar_path = env().scratch() + "/sparse.tar";
  ASSERT_TRUE(mydocker::WriteFile(env().sys(), tar_path, *tar, 0600, "test").ok());
  // Through the binary: its lazily loaded libarchive, its CLI.
  CommandResult r = env().Mydocker({"image", "import", tar_path, "sparse"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  struct stat st;
  const std::string file = env().root() + "/images/sparse/rootfs/holes";
  ASSERT_EQ(lstat(file.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), uint64_t{1} << 30);
  EXPECT_LE(static_cast<uint64_t>(st.st_blocks) * 512, 1u << 20) << "the holes were written";
  RecordProperty("sparse_disk_bytes", static_cast<int>(st.st_blocks * 512));
  // Not a tar: a text file, and a gzip'ed text file.
  const std::string text = env().scratch() + "/notes.txt";
  ASSERT_TRUE(mydocker::WriteFile(env().sys(), text, "hello, not an archive\n", 0600, "t").ok());
  r = env().Mydocker({"image", "import", text, "notes"});
  EXPECT_EQ(r.exit_code, 125) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("not a tar archive"));
  EXPECT_FALSE(mydocker::Exists(env().sys(), env().root() + "/images/notes"));
  r = RunCommand({"/bin/sh", "-c", "gzip -c " + text + " > " + text + ".gz"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  r = env().Mydocker({"image", "import", text + ".gz", "notes"});
  EXPECT_EQ(r.exit_code, 125) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("not a tar archive"));
  ASSERT_EQ(env().Mydocker({"image", "rm", "sparse"}).exit_code, 0);
  ASSERT_EQ(unlink(tar_path.c_str()), 0);
  ASSERT_EQ(unlink(text.c_str()), 0);
  ASSERT_EQ(unlink((text + ".gz").c_str()), 0);
  ExpectHostAsBefore(before, "sparse import and removal");
}

TEST_F(HostilePrivileged, OutsideProbeSeesAWritePlantedInEtc) {
  ProbeScope scope = WithOutside(env().Scope());
  const std::string planted = "/etc/faultline-planted-" + std::to_string(getpid());
  auto has = [&](const Snapshot& s) {
    for (const auto& i : s.probes.at("outside")) {
      if (i.rfind(planted + " ", 0) == 0) return true;
    }
    return false;
  };
  Snapshot before = TakeSnapshot(env().sys(), scope);
  ASSERT_TRUE(before.errors.empty()) << before.errors.front();
  ASSERT_FALSE(has(before));
  ASSERT_EQ(mkdir(planted.c_str(), 0700), 0);
  Snapshot during = TakeSnapshot(env().sys(), scope);
  ASSERT_EQ(rmdir(planted.c_str()), 0);
  Snapshot after = TakeSnapshot(env().sys(), scope);
  EXPECT_TRUE(has(during));
  EXPECT_FALSE(has(after));
  bool fired = false;
  for (const auto& d : Compare(before, during)) {
    if (d.probe != "outside") continue;
    for (const auto& a : d.appeared) fired |= a.rfind(planted, 0) == 0;
  }
  EXPECT_TRUE(fired);
  // A changed file is seen too (its mtime and ctime): one in /run.
  const std::string f = "/run/faultline-planted-" + std::to_string(getpid());
  ASSERT_TRUE(mydocker::WriteFile(env().sys(), f, "a", 0600, "t").ok());
  Snapshot one = TakeSnapshot(env().sys(), scope);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(mydocker::WriteFile(env().sys(), f, "b", 0600, "t").ok());
  Snapshot two = TakeSnapshot(env().sys(), scope);
  ASSERT_EQ(unlink(f.c_str()), 0);
  bool changed = false;
  for (const auto& d : Compare(one, two)) {
    if (d.probe != "outside") continue;
    for (const auto& a : d.appeared) changed |= a.rfind(f + " file", 0) == 0;
  }
  EXPECT_TRUE(changed);
}

// /tmp, where every program writes, is watched by fanotify (tmp_watch.h):
// writes of other processes show with their pid, the harness's own and the
// ignored globs' do not.
TEST_F(HostilePrivileged, OutsideProbeSeesWritesInTmpByAnotherProcess) {
  ProbeScope scope = WithHostOutside(env().Scope());
  const std::string tag = std::to_string(getpid());
  const std::string seen = "/tmp/faultline-tmpwatch-" + tag;
  const std::string moved = seen + ".moved";
  const std::string own = "/tmp/faultline-own-" + tag;
  const std::string ignored = "/var/tmp/faultline-ignored-" + tag;
  scope.outside_ignore.push_back("/var/tmp/faultline-ignored-*");
  Snapshot before = TakeSnapshot(env().sys(), scope);
  ASSERT_TRUE(before.errors.empty()) << before.errors.front();
  ASSERT_EQ(mkdir(own.c_str(), 0700), 0);
  ASSERT_EQ(rmdir(own.c_str()), 0);
  CommandResult r = RunCommand({"/bin/sh", "-c",
                                "echo x > " + seen + " && chmod 600 " + seen + " && mv " + seen +
                                    " " + moved + " && rm " + moved + " && mkdir " + ignored +
                                    " && rmdir " + ignored});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  Snapshot after = TakeSnapshot(env().sys(), scope);
  ASSERT_TRUE(after.errors.empty()) << after.errors.front();
  std::vector<std::string> appeared;
  for (const auto& d : Compare(before, after)) {
    ASSERT_EQ(d.probe, "outside") << Describe({d});
    EXPECT_TRUE(d.vanished.empty()) << Describe({d});
    appeared = d.appeared;
  }
  // What sh, chmod, mv and rm did, each by a pid that is not the harness's
  // (its name is "?": those processes are gone when the probe reads).
  std::vector<std::string> kinds;
  for (const std::string& a : appeared) {
    EXPECT_EQ(a.find(own), std::string::npos) << a;
    EXPECT_EQ(a.find(ignored), std::string::npos) << a;
    const size_t by = a.find(" by pid ");
    ASSERT_NE(by, std::string::npos) << a;
    const int pid = std::atoi(a.c_str() + by + 8);
    EXPECT_GT(pid, 0) << a;
    EXPECT_NE(pid, getpid()) << a;
    kinds.push_back(a.substr(0, by));
  }
  EXPECT_THAT(kinds, ::testing::UnorderedElementsAre(seen + " created", seen + " written",
                                                     seen + " changed", seen + " renamed away",
                                                     moved + " renamed here", moved + " removed"));
  // A second snapshot with nothing done in between: the same items, no diff.
  Snapshot again = TakeSnapshot(env().sys(), scope);
  EXPECT_TRUE(Compare(after, again).empty()) << Describe(Compare(after, again));
}

// A process the harness did not fork since the watch began, and that is
// not its descendant, is the host's: its writes in /tmp are not the run's.
// The test needs a watch younger than such a process, so it runs in a
// forked child that makes its own (tmp_watch.h: one per process): the
// child starts a shell that leaves a background job behind (an orphan,
// adopted away from the child), then makes its watch, and has the job
// write. A write by a process it forks afterwards is seen (the control).
TEST_F(HostilePrivileged, OutsideProbeLeavesOutTmpWritesOfTheHost) {
  const std::string tag = std::to_string(getpid());
  const std::string host = "/tmp/faultline-hostwrite-" + tag;
  const std::string run = "/tmp/faultline-runwrite-" + tag;
  const std::string go = env().scratch() + "/go";
  const ProbeScope scope = WithHostOutside(env().Scope());
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto say = [&](const std::string& what) {
      (void)!write(out[1], what.data(), what.size());
      _exit(1);
    };
    CommandResult job = RunCommand(
        {"/bin/sh", "-c",
         "(while [ ! -e " + go + " ]; do sleep 0.01; done; echo x > " + host +
             "; sleep 3) >/dev/null 2>&1 &"});
    if (job.exit_code != 0) say("the background job: " + job.Describe());
    Snapshot before = TakeSnapshot(env().sys(), scope);
    if (!before.errors.empty()) say(before.errors.front());
    if (!mydocker::WriteFile(env().sys(), go, "", 0600, "t").ok()) say("write " + go);
    for (int i = 0; i < 300 && access(host.c_str(), F_OK) != 0; ++i) usleep(10000);
    if (access(host.c_str(), F_OK) != 0) say(host + " never written");
    CommandResult mine = RunCommand({"/bin/sh", "-c", "echo x > " + run + " && rm " + run});
    if (mine.exit_code != 0) say("the run's write: " + mine.Describe());
    Snapshot after = TakeSnapshot(env().sys(), scope);
    std::string text = Describe(Compare(before, after));
    if (text.find(host) != std::string::npos) say("the host's write was listed: " + text);
    if (text.find(run + " created") == std::string::npos ||
        text.find(run + " removed") == std::string::npos)
      say("the run's write was not listed: " + text);
    _exit(0);
  }
  close(out[1]);
  std::string why;
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) why.append(buf, static_cast<size_t>(n));
  close(out[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << why;
  (void)unlink(host.c_str());
}

TEST_F(HostilePrivileged, ARunHoldsItsContainerAgainstGcRmAndImageRm) {
  Snapshot before = env().TakeSnapshot();
  Spawned run = env().SpawnMydocker({"run", "--name", "held", "busybox", "sleep", "30"});
  ASSERT_TRUE(run.started());
  // Wait until it runs.
  bool running = false;
  for (int i = 0; i < 200 && !running; ++i) {
    CommandResult ps = env().Mydocker({"ps"});
    running = ps.out.find("held") != std::string::npos;
    if (!running) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_TRUE(running);
  CommandResult gc = env().Mydocker({"gc"});
  EXPECT_EQ(gc.exit_code, 0) << gc.Describe();
  EXPECT_THAT(gc.out, HasSubstr("(kept)"));
  CommandResult rm = env().Mydocker({"rm", "held"});
  EXPECT_EQ(rm.exit_code, 125) << rm.Describe();
  EXPECT_THAT(rm.err, HasSubstr("EBUSY"));
  CommandResult irm = env().Mydocker({"image", "rm", "busybox"});
  EXPECT_EQ(irm.exit_code, 125) << irm.Describe();
  EXPECT_THAT(irm.err, HasSubstr("used by container"));
  CommandResult dup = env().Mydocker({"run", "--name", "held", "busybox", "true"});
  EXPECT_EQ(dup.exit_code, 125) << dup.Describe();
  EXPECT_THAT(dup.err, HasSubstr("EEXIST"));
  CommandResult force = env().Mydocker({"rm", "-f", "held"});
  EXPECT_EQ(force.exit_code, 0) << force.Describe();
  CommandResult ended = run.Wait(std::chrono::seconds(10));
  EXPECT_EQ(ended.exit_code, 137) << ended.Describe();
  ExpectHostAsBefore(before, "run held against gc, rm, image rm; rm -f");
}

TEST_F(HostilePrivileged, BadStringsExit125AndCreateNothing) {
  Snapshot before = env().TakeSnapshot();
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"run", "--hostname", "box\n10.0.0.1 evil", "busybox", "true"},
        std::vector<std::string>{"run", "--name", "a/b", "busybox", "true"},
        std::vector<std::string>{"run", "-e", "A\nB=1", "busybox", "true"},
        std::vector<std::string>{"run", "-m", "1k", "busybox", "true"}}) {
    CommandResult r = env().Mydocker(args);
    EXPECT_EQ(r.exit_code, 125) << r.Describe();
    EXPECT_THAT(r.err, HasSubstr("mydocker: parse --"));
  }
  ExpectHostAsBefore(before, "refused strings");
}

}  // namespace
}  // namespace faultline
