// FakeKernel userland: the fake programs Execve runs by basename(argv[0]).
#include <regex>

#include "fakekernel/state.h"

namespace faultline {

namespace {

// sh's words: whitespace-separated, '...' and "..." quoted (no expansion).
std::vector<std::string> ShellWords(std::string_view s) {
  std::vector<std::string> out;
  std::string w;
  bool in_word = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\'' || c == '"') {
      const size_t end = s.find(c, i + 1);
      const size_t stop = end == std::string_view::npos ? s.size() : end;
      w.append(s.substr(i + 1, stop - i - 1));
      in_word = true;
      i = stop;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) out.push_back(std::move(w));
      w.clear();
      in_word = false;
    } else {
      w.push_back(c);
      in_word = true;
    }
  }
  if (in_word) out.push_back(std::move(w));
  return out;
}

// The top-level pieces of a script between `;`, newlines, `&&` and `||`
// (outside quotes): each with the operator before it ("" for the first).
struct ScriptPiece {
  std::string op;
  std::string_view text;
  size_t end = 0;  // where the piece ends in the script
};

std::vector<ScriptPiece> SplitScript(std::string_view s) {
  std::vector<ScriptPiece> out;
  std::string op;
  size_t start = 0;
  char quote = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    const char c = i < s.size() ? s[i] : '\0';
    if (quote) {
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      continue;
    }
    std::string next;
    size_t len = 0;
    if (i == s.size()) {
      len = 0;
    } else if (c == ';' || c == '\n') {
      next = ";";
      len = 1;
    } else if ((c == '&' || c == '|') && i + 1 < s.size() && s[i + 1] == c &&
               !(c == '&' && i > 0 && s[i - 1] == '>')) {
      next = std::string(2, c);
      len = 2;
    } else {
      continue;
    }
    out.push_back({op, s.substr(start, i - start), i});
    op = next;
    start = i + len;
    i += len ? len - 1 : 0;
  }
  return out;
}

// The stages of a pipeline (`|`, outside quotes; `||` is split before).
std::vector<std::string_view> SplitPipeline(std::string_view s) {
  std::vector<std::string_view> out;
  char quote = 0;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (quote) {
      if (s[i] == quote) quote = 0;
    } else if (s[i] == '\'' || s[i] == '"') {
      quote = s[i];
    } else if (s[i] == '|') {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  out.push_back(s.substr(start));
  return out;
}

}  // namespace

void FakeKernel::State::Out(int fd, const std::string& s) {
  if (fd == 1) fd = out_fd1;
  else if (fd == 2) fd = out_fd2;
  if (fd == 1 && capture) {
    capture->append(s);
    return;
  }
  (void)Write(fd, s.data(), s.size());
}

int FakeKernel::State::RunScript(std::string_view script, int depth, int last) {
  for (const ScriptPiece& piece : SplitScript(script)) {
    if (piece.op == "&&" && last != 0) continue;
    if (piece.op == "||" && last == 0) continue;
    const std::vector<std::string_view> stages = SplitPipeline(piece.text);
    std::string input;
    bool have_input = false;
    for (size_t k = 0; k < stages.size(); ++k) {
      std::vector<std::string> words = ShellWords(stages[k]);
      const int saved1 = out_fd1, saved2 = out_fd2;
      std::vector<std::string> args;
      for (auto& w : words) {
        if (w == ">&2" || w == "1>&2") out_fd1 = out_fd2;
        else if (w == "2>&1") out_fd2 = out_fd1;
        else args.push_back(std::move(w));
      }
      std::string output;
      std::string* saved_capture = capture;
      const std::string* saved_in = stdin_text;
      const bool piped_out = k + 1 < stages.size();
      if (piped_out && out_fd1 == 1) capture = &output;
      if (have_input) stdin_text = &input;
      if (args.empty()) {
        last = 0;
      } else if (args[0] == "exit") {
        int64_t n = 0;
        if (args.size() > 1 && !ParseI64(args[1], &n)) n = 2;
        out_fd1 = saved1;
        out_fd2 = saved2;
        capture = saved_capture;
        stdin_text = saved_in;
        return static_cast<int>(n & 0xff);
      } else if (args[0] == "sleep" && !time_passes && stages.size() == 1) {
        out_fd1 = saved1;
        out_fd2 = saved2;
        P().script_rest = std::string(script.substr(piece.end));
        return kParkCode;
      } else if (args[0] == "sleep") {
        last = 0;  // time passes
      } else {
        last = RunProgram(args, depth + 1);
        if (last == kParkCode && stages.size() == 1 && !time_passes) {
          // A nested sh parked: the rest of this script follows its rest.
          out_fd1 = saved1;
          out_fd2 = saved2;
          P().script_rest += std::string(script.substr(piece.end));
          return kParkCode;
        }
        if (last == kParkCode) last = 0;
      }
      out_fd1 = saved1;
      out_fd2 = saved2;
      capture = saved_capture;
      stdin_text = saved_in;
      input = std::move(output);
      have_input = piped_out;
    }
  }
  return last;
}

void FakeKernel::State::FinishParked(pid_t pid) {
  Process& p = procs.at(pid);
  if (p.script_rest.empty()) {
    ExitProcess(pid, 0);
    return;
  }
  const std::string rest = std::move(p.script_rest);
  p.script_rest.clear();
  const pid_t saved = cur;
  cur = pid;
  time_passes = true;
  const int code = RunScript(rest, 1, 0);
  time_passes = false;
  cur = saved;
  ExitProcess(pid, (code & 0xff) << 8);
}

// grep [-c] [-v] [-q] PATTERN [FILE...] (std::regex basic syntax; the
// input of a pipeline when no file is given): 0 when a line matched.
int FakeKernel::State::Grep(const std::vector<std::string>& argv) {
  bool count = false, invert = false, quiet = false;
  size_t k = 1;
  for (; k < argv.size() && argv[k].size() > 1 && argv[k][0] == '-'; ++k) {
    for (char c : argv[k].substr(1)) {
      if (c == 'c') count = true;
      else if (c == 'v') invert = true;
      else if (c == 'q') quiet = true;
    }
  }
  if (k >= argv.size()) {
    Out(2, "grep: no pattern\n");
    return 2;
  }
  std::regex re;
  try {
    re = std::regex(argv[k], std::regex::basic);
  } catch (const std::regex_error&) {
    Out(2, "grep: bad pattern " + argv[k] + "\n");
    return 2;
  }
  std::string text;
  if (k + 1 >= argv.size()) {
    if (stdin_text) text = *stdin_text;
  }
  for (size_t f = k + 1; f < argv.size(); ++f) {
    auto r = ReadWholeFile(argv[f]);
    if (!r.ok()) {
      Out(2, "grep: " + argv[f] + ": " + strerror(r.err) + "\n");
      return 2;
    }
    text += r.value;
  }
  size_t n = 0;
  std::string lines;
  size_t at = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(at, nl - at);
    if (std::regex_search(line, re) != invert) {
      ++n;
      lines += line + "\n";
    }
    at = nl + 1;
  }
  if (count) Out(1, std::to_string(n) + "\n");
  else if (!quiet) Out(1, lines);
  return n > 0 ? 0 : 1;
}

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
    if (depth > 4) return 0;
    return RunScript(argv[2], depth + 1, 0);
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
    if (argv.size() == 1 && stdin_text) Out(1, *stdin_text);
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
  if (name == "grep") return Grep(argv);
  if (name == "[" || name == "test") {
    // Not modeled: a test that "succeeds" unread would pass any check.
    Out(2, "sh: " + name + ": not modeled by the fake kernel\n");
    return 2;
  }
  return 0;  // unknown programs succeed
}

}  // namespace faultline
