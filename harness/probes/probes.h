// Probes: what a run may leave behind, seen from outside the runtime.
//
// Take a Snapshot before a run and one after; Compare says what appeared
// (a leak) or vanished. Everything is read through a mydocker::Sys, so the
// same code answers from the real kernel (LinuxSys) and from FakeKernel's
// model. Each probe is one named set of strings:
//   mounts     the caller's mount table (/proc/self/mountinfo), as
//              "<mount point> <fstype> <source>" (ids left out: they change)
//   holders    mounts of every other process's namespace whose mount point,
//              root or options name a scope directory, "pid=<pid> <line>"
//              (a mount kept alive by a forgotten namespace)
//   dirs       every path under the scope directories (recursive), but
//              not the exact paths of dirs_persistent
//   cgroups    every cgroup directory under <hierarchy>/<cgroup_parent>
//   processes  processes whose cgroup is under cgroup_parent, or whose
//              parent is the caller (children left running)
//   fds        the caller's open fds: "<fd> -> <target>"
//   outside    writes outside the runtime's scope, where an escape would
//              land: each place in ProbeScope::outside (/, /etc, /tmp, /var,
//              /run and the parents of the scratch directory) and every
//              entry directly in it, as "<path> <type> ino=<ino>
//              size=<size> mtime=<ns> ctime=<ns>" (directories: no size).
//              A new or removed name, a replaced inode or any change of
//              content, mode or owner shows; so does a name created one
//              level further down (its directory's mtime). Entries of
//              /tmp and /var/tmp, where every program writes, are watched
//              only with outside_shared_tmp, and by name, type and inode
//              only (a new, removed or replaced name). On the real kernel
//              (shared_tmp_events) every entry created, removed, renamed,
//              written or changed directly in them by another process
//              during the run shows too, with its pid (fanotify:
//              tmp_watch.h), as "/tmp/x created by pid 42 (sh) [#7]". The scope
//              directories and everything below them, /proc, /sys, /dev and
//              outside_ignore globs are left out. FakeKernel has no
//              timestamps: there names, inodes and sizes.
#pragma once

#include <sys/types.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "runtime/sys/sys.h"

namespace faultline {

struct ProbeScope {
  std::vector<std::string> dirs;  // runtime roots to walk (state, workspaces)
  std::string cgroup_parent;      // e.g. "faultline-1234"; "" skips cgroups
  bool holders = true;            // scan other processes' mount tables
  bool fds = true;
  // Paths below these are not listed in `dirs` (e.g. image layers, which
  // are checked byte for byte elsewhere); they must still exist.
  std::vector<std::string> dirs_prune;
  // Paths a runtime keeps in its root across containers by design (a
  // profile's persistent_paths, e.g. crun's <root>/.empty-directory): the
  // exact path is not listed in `dirs`, so its appearing (or going) is no
  // leftover; everything below it is still walked and listed (a file
  // written into it is a leftover), and so is any other name beside it.
  // "DIR/*": each name directly in DIR is such a path (a cache: crun's
  // <root>/.cache/seccomp/<digest>); what is below those names still shows.
  std::vector<std::string> dirs_persistent;
  // Host places an escape would reach (OutsidePlaces); empty: no probe.
  std::vector<std::string> outside;
  // fnmatch(3) globs of paths the outside probe leaves out (noise of other
  // programs on a shared host: FAULTLINE_OUTSIDE_IGNORE, colon-separated).
  std::vector<std::string> outside_ignore;
  // Left out of the outside probe with everything below them (the harness's
  // own scratch directory: volumes, bundles, reports).
  std::vector<std::string> outside_skip;
  // Entries of /tmp and /var/tmp, where every program on the host writes:
  // watched only where an escape is expected to land there (a scenario
  // whose image has a symlink into them); by name, type and inode then.
  bool outside_shared_tmp = false;
  // Every write directly in /tmp and /var/tmp by a process other than the
  // harness, seen by fanotify (SharedTmpWatch): the real kernel only
  // (WithHostOutside sets it), where the listing above cannot tell an
  // escape from the host's own traffic.
  bool shared_tmp_events = false;
};

// {"/", "/etc", "/tmp", "/var", "/run"} and every parent of each scope
// directory, deduplicated and sorted.
std::vector<std::string> OutsidePlaces(const std::vector<std::string>& scope_dirs);
// The globs of FAULTLINE_OUTSIDE_IGNORE (colon-separated), or none.
std::vector<std::string> OutsideIgnoreFromEnv();
// scope with .outside = OutsidePlaces(scope.dirs + skip), .outside_skip =
// skip and the env's globs.
ProbeScope WithOutside(ProbeScope scope, std::vector<std::string> skip = {});
// WithOutside on the real kernel: with shared_tmp_events.
ProbeScope WithHostOutside(ProbeScope scope, std::vector<std::string> skip = {});

struct Snapshot {
  std::map<std::string, std::set<std::string>> probes;  // probe name -> items
  std::vector<std::string> errors;  // a probe that could not read: never silent
};

struct ProbeDiff {
  std::string probe;
  std::vector<std::string> appeared;
  std::vector<std::string> vanished;
};

Snapshot TakeSnapshot(mydocker::Sys& sys, const ProbeScope& scope);

// Differences per probe; empty when after == before.
std::vector<ProbeDiff> Compare(const Snapshot& before, const Snapshot& after);

// "mounts: +/tmp/x/merged overlay overlay; dirs: +/tmp/x/containers/c1"
std::string Describe(const std::vector<ProbeDiff>& diffs);

}  // namespace faultline
