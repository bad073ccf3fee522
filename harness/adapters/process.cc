#include "harness/adapters/process.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

extern char** environ;

namespace faultline {
namespace {

std::mutex g_mu;
std::set<pid_t> g_tracked;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

pid_t Spawn(const SpawnOptions& opts, std::string* error) {
  if (opts.argv.empty()) {
    *error = "spawn: empty argv";
    return -1;
  }
  // Everything the child needs is prepared before fork.
  std::vector<char*> argv;
  for (const auto& a : opts.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : opts.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  char* const* env = opts.env.empty() ? environ : envp.data();
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) != 0) {
    *error = std::string("spawn: pipe: ") + strerror(errno);
    return -1;
  }
  const char* out = opts.stdout_path.empty() ? "/dev/null" : opts.stdout_path.c_str();
  const char* err = opts.stderr_path.empty() ? "/dev/null" : opts.stderr_path.c_str();

  std::lock_guard<std::mutex> lock(g_mu);  // register before any reaper looks
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(errpipe[0]);
    close(errpipe[1]);
    *error = std::string("spawn: fork: ") + strerror(e);
    return -1;
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    if (opts.new_process_group) setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    int in = open("/dev/null", O_RDONLY);
    int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    int e = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (in < 0 || o < 0 || e < 0 || dup2(in, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0) {
      int code = errno;
      (void)!write(errpipe[1], &code, sizeof code);
      _exit(127);
    }
    // Nothing of the harness's reaches the command but fds 0-2: every other
    // fd (the ones just opened, any another thread made without
    // O_CLOEXEC) is closed at exec; errpipe[1] is close-on-exec already.
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
      for (int fd = 3; fd < 65536; ++fd) {
        bool keep = fd == errpipe[1];
        for (int k : opts.keep_fds) keep = keep || fd == k;
        if (!keep) close(fd);
      }
    }
    for (int fd : opts.keep_fds) {
      if (fd >= 3 && fcntl(fd, F_SETFD, 0) != 0) {
        int code = errno;
        (void)!write(errpipe[1], &code, sizeof code);
        _exit(127);
      }
    }
    execve(argv[0], argv.data(), env);
    int code = errno;
    (void)!write(errpipe[1], &code, sizeof code);
    _exit(127);
  }
  close(errpipe[1]);
  g_tracked.insert(pid);
  int code = 0;
  ssize_t n;
  do {
    n = read(errpipe[0], &code, sizeof code);
  } while (n < 0 && errno == EINTR);
  close(errpipe[0]);
  if (n == sizeof code) {
    waitpid(pid, nullptr, 0);
    g_tracked.erase(pid);
    *error = "spawn: exec " + opts.argv[0] + ": " + strerror(code);
    return -1;
  }
  return pid;
}

ProcessResult WaitFor(pid_t pid, double timeout_s) {
  ProcessResult r;
  r.started = true;
  double start = Now();
  int status = 0;
  bool killed = false;
  for (;;) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) {
      r.start_error = std::string("waitpid: ") + strerror(errno);
      break;
    }
    if (!killed && timeout_s > 0 && Now() - start > timeout_s) {
      spdlog::warn("pid {} ran past {}s: killing it and its process group", pid, timeout_s);
      if (getpgid(pid) == pid) kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      killed = true;
      r.timed_out = true;
    }
    double waited = Now() - start;
    std::this_thread::sleep_for(std::chrono::milliseconds(waited < 0.1 ? 1 : 10));
  }
  r.status = status;
  r.exit_code = ExitCodeOf(status);
  r.seconds = Now() - start;
  ReleasePid(pid);
  return r;
}

ProcessResult RunProcess(const SpawnOptions& opts, double timeout_s) {
  std::string error;
  pid_t pid = Spawn(opts, &error);
  if (pid < 0) {
    ProcessResult r;
    r.start_error = error;
    return r;
  }
  return WaitFor(pid, timeout_s);
}

void AdoptPid(pid_t pid) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_tracked.insert(pid);
}

void ReleasePid(pid_t pid) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_tracked.erase(pid);
}

int ReapOrphans() {
  const pid_t self = getpid();
  std::vector<pid_t> zombies;
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
      if (pid <= 0) continue;
      std::string stat = ReadTextFile("/proc/" + std::string(e->d_name) + "/stat");
      size_t rp = stat.rfind(')');
      if (rp == std::string::npos) continue;
      std::istringstream in(stat.substr(rp + 2));
      char state = 0;
      pid_t ppid = 0;
      in >> state >> ppid;
      if (ppid == self && state == 'Z') zombies.push_back(pid);
    }
    closedir(d);
  }
  int reaped = 0;
  std::lock_guard<std::mutex> lock(g_mu);
  for (pid_t z : zombies) {
    if (g_tracked.count(z)) continue;
    if (waitpid(z, nullptr, WNOHANG) == z) ++reaped;
  }
  return reaped;
}

std::string ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WriteTextFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return false;
  out << content;
  return static_cast<bool>(out.flush());
}

std::string ShellJoin(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    bool plain = !a.empty();
    for (char c : a) {
      if (!(isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '.' || c == '-' ||
            c == '_' || c == '=' || c == ':' || c == ',' || c == '+')) {
        plain = false;
      }
    }
    if (!out.empty()) out += ' ';
    if (plain) {
      out += a;
    } else {
      out += '\'';
      for (char c : a) {
        if (c == '\'') out += "'\\''";
        else out += c;
      }
      out += '\'';
    }
  }
  return out;
}

std::string FindSystemBinary(const std::string& name) {
  for (const char* dir : {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin",
                          "/bin"}) {
    std::string p = std::string(dir) + "/" + name;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

}  // namespace faultline
