// FakeKernel userland: the fake programs Execve runs by basename(argv[0]).
#include "fakekernel/state.h"

namespace faultline {

int FakeKernel::State::RunProgram(std::vector<std::string> argv, int depth) {
  std::string name = Basename(argv[0]);
  if (name == "busybox" && argv.size() > 1) {
    argv.erase(argv.begin());
    name = Basename(argv[0]);
  }
  if (name == "true") return 0;
  if (name == "sleep") return kParkCode;
  if (name == "false") return 1;
  if (name == "sh" || name == "ash" || name == "bash") {
    if (argv.size() < 3 || argv[1] != "-c") return 0;
    std::string_view cmd = Trim(argv[2]);
    auto words = SplitWords(cmd);
    if (words.empty()) return 0;
    if (words[0] == "exit") {
      int64_t n = 0;
      if (words.size() > 1 && !ParseI64(words[1], &n)) return 2;
      return static_cast<int>(n & 0xff);
    }
    if (depth > 4) return 0;
    std::vector<std::string> sub(words.begin(), words.end());
    return RunProgram(sub, depth + 1);
  }
  if (name == "hostname") {
    if (argv.size() > 1) return Sethostname(argv[1]).ok() ? 0 : 1;
    Out(1, uts[P().utsns] + "\n");
    return 0;
  }
  if (name == "echo") {
    bool nl = true;
    size_t k = 1;
    if (argv.size() > 1 && argv[1] == "-n") {
      nl = false;
      k = 2;
    }
    std::string s;
    for (; k < argv.size(); ++k) s += (s.empty() ? "" : " ") + argv[k];
    Out(1, nl ? s + "\n" : s);
    return 0;
  }
  if (name == "cat") {
    int rc = 0;
    for (size_t k = 1; k < argv.size(); ++k) {
      auto r = ReadWholeFile(argv[k]);
      if (!r.ok()) {
        Out(2, "cat: " + argv[k] + ": " + strerror(r.err) + "\n");
        rc = 1;
        continue;
      }
      Out(1, r.value);
    }
    return rc;
  }
  if (name == "ls") {
    std::string dir = argv.size() > 1 ? argv[1] : ".";
    auto r = ReadDir(dir);
    if (!r.ok()) {
      Out(2, "ls: " + dir + ": " + strerror(r.err) + "\n");
      return 1;
    }
    std::string s;
    for (auto& e : r.value) s += e.name + "\n";
    Out(1, s);
    return 0;
  }
  if (name == "ps") {
    std::string s = "PID   COMMAND\n";
    for (auto& [pid, q] : procs)
      if (q.state != PState::kZombie && q.pidns == P().pidns && pid != 1)
        s += std::to_string(q.nspid) + " " + q.comm + "\n";
    Out(1, s);
    return 0;
  }
  return 0;  // unknown programs succeed
}

}  // namespace faultline
