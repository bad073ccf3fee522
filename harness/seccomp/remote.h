// Reading another process's memory and its /proc links, for the supervisor's
// view of a notified call. Everything here is plain syscalls on fixed
// buffers: no allocation except in the std::string-returning helpers.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace faultline::seccomp {

// Copies len bytes at addr in pid into buf with process_vm_readv. Returns 0
// or the errno (EFAULT for an unmapped range, ESRCH for a gone process).
int ReadRemote(pid_t pid, uint64_t addr, void* buf, size_t len);

// Reads a NUL-terminated string at addr in pid, at most max bytes before the
// NUL, one page at a time, so a string that ends just before an unmapped page
// is read in full. Returns 0 and sets *out, ENAMETOOLONG when no NUL came
// within max bytes (*out holds the first max), or the read's errno.
int ReadRemoteString(pid_t pid, uint64_t addr, size_t max, std::string* out);

// readlink of /proc/PID/<what> ("cwd", "root", "fd/3"); empty on failure.
std::string ReadProcLink(pid_t pid, const std::string& what);

// Parent pid from /proc/PID/stat, or -1 when the process is gone.
// Async-signal-safe (open/read/close on a stack buffer).
pid_t ParentOf(pid_t pid);

// SIGKILLs every live descendant of root (not root itself), found by walking
// /proc parent links, children before their parents, and repeats until a pass
// finds none. A process forked after a scan by a parent killed in the same
// pass is reparented: when root is a child subreaper (the supervisor's reaper)
// it lands under root and the next pass gets it; otherwise it escapes. Each
// kill goes through a pidfd opened before re-checking the ancestry, so a
// recycled pid is never signalled. Stores up to max_pids of the pids it
// killed in pids (may be null) and returns how many it killed.
// Async-signal-safe: the reaper process calls it after fork.
int KillDescendants(pid_t root, pid_t* pids, int max_pids);

}  // namespace faultline::seccomp
