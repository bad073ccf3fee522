// Child processes of the harness: spawn a program with its stdout and stderr
// in files, wait for it with a deadline, kill only what was started here.
//
// Every pid the harness starts (or adopts: an OCI container's init, which
// becomes the harness's child when the harness is a child subreaper) is
// registered, so ReapOrphans can collect zombies that were reparented to the
// harness without ever stealing a pid that another thread waits for.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace faultline {

struct SpawnOptions {
  std::vector<std::string> argv;      // argv[0] is a path (execv, no PATH search)
  std::vector<std::string> env;       // empty: the harness's environment
  std::string stdout_path;            // "" -> /dev/null
  std::string stderr_path;            // "" -> /dev/null
  bool new_process_group = true;      // so a timeout can kill its children
  // fds (>= 3) the program inherits under the same numbers (a pause
  // channel's ends); every other fd but 0-2 closes at exec.
  std::vector<int> keep_fds;
};

struct ProcessResult {
  bool started = false;
  std::string start_error;  // why it could not start (fork/exec errno)
  int status = 0;           // raw wait status
  int exit_code = -1;       // WEXITSTATUS, or 128+signal
  bool timed_out = false;
  double seconds = 0;
};

// Starts the program; returns its pid (registered) or -1 with *error set.
pid_t Spawn(const SpawnOptions& opts, std::string* error);

// Waits for a registered pid until timeout_s (<= 0: forever). On timeout it
// SIGKILLs the pid's process group (when it has its own) and the pid, then
// reaps it. Unregisters the pid.
ProcessResult WaitFor(pid_t pid, double timeout_s);

// Spawn + WaitFor.
ProcessResult RunProcess(const SpawnOptions& opts, double timeout_s);

// Registers / unregisters a pid the harness waits for but did not fork.
void AdoptPid(pid_t pid);
void ReleasePid(pid_t pid);

// Reaps zombie children of the harness that no one waits for (orphans
// reparented to it as a subreaper). Returns how many were reaped.
int ReapOrphans();

// Reads a whole file ("" when missing).
std::string ReadTextFile(const std::string& path);
bool WriteTextFile(const std::string& path, const std::string& content);

// An installed program: the first executable <dir>/name in /usr/local/sbin,
// /usr/local/bin, /usr/sbin, /usr/bin, /sbin, /bin; "" when none.
std::string FindSystemBinary(const std::string& name);

// A shell-quoted command line, for replay commands.
std::string ShellJoin(const std::vector<std::string>& argv);

}  // namespace faultline
