// Conformance scripts: /proc views, fds, pipes and close-on-exec.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <signal.h>
#include <sys/wait.h>

#include "tests/conformance/conformance.h"
#include "tests/conformance/scripts_util.h"

namespace faultline::conformance {
namespace {

void Fds(Ctx& c) {
  (void)c.ReadDir("the fds at the start", "/proc/self/fd");
  auto f = c.Open("create f", c.P("f"), O_RDWR | O_CREAT, 0644);
  (void)c.Readlink("/proc/self/fd names f", "/proc/self/fd/" + std::to_string(f.value));
  (void)c.Write("write to f", f.value, "hello");
  (void)c.Read("read at the end of f", f.value);
  (void)c.ReadFile("f has the bytes", c.P("f"));
  auto ro = c.Open("open f read-only", c.P("f"), O_RDONLY);
  (void)c.Write("write to a read-only fd", ro.value, "x");
  (void)c.Read("read f", ro.value, 3);
  (void)c.Read("read the rest of f", ro.value);
  (void)c.Read("read at EOF", ro.value);
  (void)c.Dup2("dup2 f to 10", ro.value, 10);
  (void)c.Readlink("fd 10 names f", "/proc/self/fd/10");
  (void)c.Dup2("dup2 onto itself", 10, 10);
  (void)c.Dup2("dup2 of a bad fd", 99, 11);
  (void)c.Close("close 10", 10);
  (void)c.Close("close 10 again", 10);
  (void)c.Read("read a closed fd", 10);
  (void)c.Close("close a never-opened fd", 77);
  auto p = c.Pipe("pipe", 0);
  (void)c.Readlink("/proc/self/fd of a pipe", "/proc/self/fd/" + std::to_string(p.value.read_fd));
  (void)c.Write("write to the pipe", p.value.write_fd, "abc");
  (void)c.Read("read from the pipe", p.value.read_fd);
  (void)c.Read("read the write end", p.value.write_fd);
  (void)c.Write("write the read end", p.value.read_fd, "x");
  (void)c.Write("write more", p.value.write_fd, "de");
  (void)c.Close("close the write end", p.value.write_fd);
  (void)c.Read("read what was left", p.value.read_fd);
  (void)c.Read("read EOF", p.value.read_fd);
  (void)c.Close("close the read end", p.value.read_fd);
  (void)c.IgnoreSignal("ignore SIGPIPE", SIGPIPE);
  auto q = c.Pipe("pipe with O_CLOEXEC", O_CLOEXEC);
  (void)c.Close("close its read end", q.value.read_fd);
  (void)c.Write("write without a reader", q.value.write_fd, "x");
  (void)c.Close("close its write end", q.value.write_fd);
  (void)c.Pipe("pipe with bad flags", 0x1);
  (void)c.ReadDir("the fds now", "/proc/self/fd");
  (void)c.Close("close ro", ro.value);
  (void)c.Close("close f", f.value);
  (void)c.Chdir("chdir base", c.P(""));
  (void)c.ReadFile("open relative to cwd", "f");
  (void)c.Readlink("/proc/self/cwd", "/proc/self/cwd");
  (void)c.Chdir("chdir to a missing dir", c.P("nosuch"));
  (void)c.Chdir("chdir to a file", c.P("f"));
}

// Close-on-exec, seen through /proc/<pid>/fd of an exec'd sleep.
void Cloexec(Ctx& c) {
  (void)c.WriteFile("create keep", c.P("keep"), "k", true);
  (void)c.WriteFile("create drop", c.P("drop"), "d", true);
  auto keep = c.Open("open keep without O_CLOEXEC", c.P("keep"), O_RDONLY);
  auto drop = c.Open("open drop with O_CLOEXEC", c.P("drop"), O_RDONLY | O_CLOEXEC);
  auto sync = c.Pipe("sync pipe with O_CLOEXEC", O_CLOEXEC);
  auto pid = c.Clone("clone a sleep", "sleeper", SleeperFn(c.sys()), 0);
  (void)c.Close("close the sync write end", sync.value.write_fd);
  (void)c.Read("EOF once the sleep has exec'd", sync.value.read_fd);
  const std::string proc = "/proc/" + std::to_string(pid.value);
  (void)c.ReadDir("the sleep's fds", proc + "/fd");
  (void)c.Readlink("the sleep kept keep", proc + "/fd/" + std::to_string(keep.value));
  (void)c.Readlink("the sleep dropped drop", proc + "/fd/" + std::to_string(drop.value));
  (void)c.ReadFile("the sleep's comm", proc + "/comm");
  (void)c.ReadFile("the sleep's cmdline", proc + "/cmdline");
  (void)c.SameLink("the sleep shares our mount namespace", proc + "/ns/mnt", "/proc/self/ns/mnt");
  (void)c.Readlink("the sleep's root", proc + "/root");
  (void)c.Kill("kill with signal 0", pid.value, 0);
  (void)c.Kill("SIGKILL the sleep", pid.value, SIGKILL);
  (void)c.Waitpid("reap the sleep", pid.value);
  (void)c.Waitpid("reap it again", pid.value);
  (void)c.Kill("kill the reaped pid", pid.value, 0);
  (void)c.ReadFile("/proc of the reaped pid", proc + "/comm");
  (void)c.Close("close the sync read end", sync.value.read_fd);
  (void)c.Close("close keep", keep.value);
  (void)c.Close("close drop", drop.value);
  // A child in a new mount namespace: its own mnt ns link; its mount is not ours.
  (void)c.Mkdir("mkdir m", c.P("m"));
  auto sync2 = c.Pipe("second sync pipe", O_CLOEXEC);
  mydocker::Sys& sys = c.sys();
  const std::string m = c.P("m");
  const int rd = sync2.value.read_fd;
  auto ns_child = c.Clone("clone into a new mount namespace", "nschild",
                          [&sys, m, rd]() {
                            (void)sys.Prctl(PR_SET_PDEATHSIG, SIGKILL);
                            (void)sys.Close(rd);
                            if (!sys.Mount({"tmpfs-child", m, "tmpfs", 0, ""}).ok()) return 3;
                            static char arg0[] = "sleep", arg1[] = "60";
                            static char* const argv[] = {arg0, arg1, nullptr};
                            static char* const envp[] = {nullptr};
                            (void)sys.Execve("/bin/sleep", argv, envp);
                            return 127;
                          },
                          CLONE_NEWNS);
  (void)c.Close("close the second sync write end", sync2.value.write_fd);
  (void)c.Read("EOF once the namespaced sleep has exec'd", sync2.value.read_fd);
  const std::string nsproc = "/proc/" + std::to_string(ns_child.value);
  (void)c.SameLink("the child has its own mount namespace", nsproc + "/ns/mnt", "/proc/self/ns/mnt");
  (void)c.Mountinfo("the child's mountinfo has its tmpfs", nsproc + "/mountinfo");
  (void)c.Mountinfo("ours does not", "/proc/self/mountinfo");
  (void)c.Rmdir("rmdir m, a mount point only in the child's namespace", c.P("m"));
  (void)c.Kill("SIGKILL the namespaced sleep", ns_child.value, SIGKILL);
  (void)c.Waitpid("reap the namespaced sleep", ns_child.value);
  (void)c.Close("close the second sync read end", sync2.value.read_fd);
  // Exit statuses.
  auto t = c.Clone("clone a child that returns 7", "seven", []() { return 7; }, 0);
  (void)c.Waitpid("its status is exit 7", t.value);
  (void)c.Waitpid("waitpid of a stranger", 999999);
}

void ProcViews(Ctx& c) {
  (void)c.ReadDir("readdir /proc/self has the views", "/proc/self/ns");
  (void)c.SameLink("/proc/self/ns/mnt is /proc/$self/ns/mnt", "/proc/self/ns/mnt",
                   "/proc/" + std::to_string(c.Pid("self")) + "/ns/mnt");
  (void)c.ReadFile("/proc/self/stat of a missing pid", "/proc/999999/stat");
  (void)c.Lstat("lstat /proc/self", "/proc/self");
  (void)c.Lstat("lstat /proc/self/fd", "/proc/self/fd");
  (void)c.Lstat("lstat /proc/self/ns/mnt", "/proc/self/ns/mnt");
  (void)c.Statfs("statfs /proc", "/proc");
  (void)c.Mkdir("mkdir in /proc", "/proc/nosuch");
  (void)c.WriteFile("create a file in /proc", "/proc/nosuch", "x", true);
  (void)c.Mkdir("mkdir p", c.P("p"));
  (void)c.Mount("tmpfs on p", "tmpfs-p", c.P("p"), "tmpfs", MS_RDONLY);
  (void)c.Mountinfo("/proc/self/mountinfo", "/proc/self/mountinfo");
  (void)c.Mountinfo("/proc/$self/mountinfo is the same", "/proc/" + std::to_string(c.Pid("self")) + "/mountinfo");
  (void)c.Umount("umount p", c.P("p"));
  (void)c.Mountinfo("mountinfo after umount", "/proc/self/mountinfo");
  (void)c.ProcCgroup("/proc/self/cgroup names no $CG", "/proc/self/cgroup");
}

Register r1("fds.files_and_pipes", "fds and pipes", Fds);
Register r2("fds.cloexec_and_children", "CLOEXEC, children, /proc of others", Cloexec);
Register r3("proc.views", "/proc views", ProcViews);

}  // namespace
}  // namespace faultline::conformance
