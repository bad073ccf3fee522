#include "faults/fault_injecting_sys.h"

#include <errno.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include <spdlog/spdlog.h>

namespace faultline {

namespace {

const ProcessIdentity* FindIdentity(mydocker::Sys* s) {
  for (int depth = 0; s && depth < 16; ++depth) {
    if (auto* id = dynamic_cast<const ProcessIdentity*>(s)) return id;
    auto* w = dynamic_cast<SysWrapper*>(s);
    s = w ? &w->target() : nullptr;
  }
  return nullptr;
}

}  // namespace

Crash::Crash(uint64_t s, int r, std::string o)
    : std::runtime_error("faultline: injected crash at call " + std::to_string(s) +
                         " (" + o + ", rule " + std::to_string(r) + ")"),
      seq(s),
      rule(r),
      op(std::move(o)) {}

FaultInjectingSys::FaultInjectingSys(mydocker::Sys& target, FaultPlan plan)
    : SysWrapper(target),
      plan_(std::move(plan)),
      identity_(FindIdentity(&target)),
      sleeper_([](int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }) {
  trace_.reserve(512);
}

void FaultInjectingSys::set_sleeper(std::function<void(int)> sleeper) {
  sleeper_ = std::move(sleeper);
}

void FaultInjectingSys::set_pauser(Pauser pauser) { pauser_ = std::move(pauser); }

void FaultInjectingSys::set_crash_hook(CrashHook hook) { crash_hook_ = std::move(hook); }

const char* PauseEndName(PauseEnd e) {
  switch (e) {
    case PauseEnd::kNone: return "";
    case PauseEnd::kReleased: return "released";
    case PauseEnd::kBoundPassed: return "bound-passed";
    case PauseEnd::kNoPauser: return "no-pauser";
  }
  return "?";
}

pid_t FaultInjectingSys::CallerPid() const {
  return identity_ ? identity_->CurrentPid() : 0;
}

void FaultInjectingSys::Intercept(SysCall& call) {
  TraceEntry e;
  e.seq = ++seq_;
  e.pid = crashed_ ? 0 : CallerPid();
  e.op = call.name();
  e.args = call.Args();
  if (crashed_) {
    e.err = EIO;
    e.after_crash = true;
    trace_.push_back(std::move(e));
    call.Fail(EIO);
    return;
  }
  const mydocker::CallDesc desc = call.desc();
  e.path = desc.path;
  e.path2 = desc.path2;
  e.fstype = desc.fstype;
  e.flags = desc.flags;
  CallInfo info{call.name(), desc.path, desc.path2, desc.fstype, desc.flags, e.pid};
  Decision d = plan_.Decide(info);
  e.rule = d.rule;
  e.action = d.action.kind;
  size_t idx = trace_.size();
  trace_.push_back(std::move(e));
  switch (d.action.kind) {
    case ActionKind::kFail:
      trace_[idx].err = d.action.err;
      call.Fail(d.action.err);
      return;
    case ActionKind::kLie:
      call.Lie();
      return;
    case ActionKind::kCrash: {
      crashed_ = true;
      spdlog::debug("faultline: crash injected at call {} ({})", trace_[idx].seq,
                    trace_[idx].op);
      if (crash_hook_) crash_hook_(CrashInfo{trace_[idx].seq, d.rule, call.name()});
      throw Crash(trace_[idx].seq, d.rule, trace_[idx].op);
    }
    case ActionKind::kShort:
      if (io_ && (call.op() == mydocker::Op::kRead || call.op() == mydocker::Op::kWrite)) {
        Io& io = *io_;
        const size_t n = io.len > 1 ? io.len / 2 : io.len;
        try {
          io.result = call.op() == mydocker::Op::kRead ? target().Read(io.fd, io.buf, n)
                                                       : target().Write(io.fd, io.cbuf, n);
        } catch (const Crash&) {
          trace_[idx].err = EIO;
          throw;
        } catch (...) {
          trace_[idx].err = 0;
          throw;
        }
        io.shortened = true;
        trace_[idx].err = io.result.err;
        call.Lie();  // decided; Read/Write return io.result
        return;
      }
      break;  // not a read or write: the call runs
    case ActionKind::kDelay:
      sleeper_(d.action.delay_ms);
      break;
    case ActionKind::kPause: {
      if (!pauser_) {
        trace_[idx].pause = PauseEnd::kNoPauser;
        spdlog::warn("faultline: pause at call {} ({}) has no pauser: the call goes on",
                     trace_[idx].seq, trace_[idx].op);
        break;
      }
      const PauseRequest req{trace_[idx].seq, trace_[idx].pid, call.name(),
                             d.action.PauseBoundMs()};
      trace_[idx].pause = pauser_(req) ? PauseEnd::kReleased : PauseEnd::kBoundPassed;
      break;
    }
    case ActionKind::kNone:
      break;
  }
  try {
    call.Proceed();
    trace_[idx].err = call.err();
  } catch (const Crash&) {  // injected inside this call (a child's call)
    trace_[idx].err = EIO;
    throw;
  } catch (...) {  // e.g. a fake execve ending the child: the call succeeded
    trace_[idx].err = 0;
    throw;
  }
}

namespace {
// Points FaultInjectingSys::io_ at a frame's Io for the duration of a call.
template <class T>
class Scoped {
 public:
  Scoped(T*& slot, T* value) : slot_(slot), old_(slot) { slot_ = value; }
  ~Scoped() { slot_ = old_; }
  Scoped(const Scoped&) = delete;
  Scoped& operator=(const Scoped&) = delete;

 private:
  T*& slot_;
  T* old_;
};
}  // namespace

mydocker::Result<size_t> FaultInjectingSys::Read(int fd, void* buf, size_t len) {
  Io io;
  io.fd = fd;
  io.buf = buf;
  io.len = len;
  mydocker::Result<size_t> r;
  {
    Scoped<Io> scope(io_, &io);
    r = SysWrapper::Read(fd, buf, len);
  }
  return io.shortened ? io.result : r;
}

mydocker::Result<size_t> FaultInjectingSys::Write(int fd, const void* buf, size_t len) {
  Io io;
  io.fd = fd;
  io.cbuf = buf;
  io.len = len;
  mydocker::Result<size_t> r;
  {
    Scoped<Io> scope(io_, &io);
    r = SysWrapper::Write(fd, buf, len);
  }
  return io.shortened ? io.result : r;
}

// ---- the trace ----

std::string FaultInjectingSys::FormatEntry(const TraceEntry& e) {
  std::string out = std::to_string(e.seq) + " pid=" + std::to_string(e.pid) + " " + e.op +
                    " " + e.args + " -> " + (e.err ? ErrnoToName(e.err) : "0");
  if (e.rule >= 0)
    out += std::string(" [rule ") + std::to_string(e.rule) + " " + ActionName(e.action) + "]";
  if (e.pause != PauseEnd::kNone) out += std::string(" [pause ") + PauseEndName(e.pause) + "]";
  if (e.after_crash) out += " [after crash]";
  return out;
}

std::string FaultInjectingSys::TraceText() const {
  std::string out;
  for (const TraceEntry& e : trace_) out += FormatEntry(e) + "\n";
  return out;
}

nlohmann::json FaultInjectingSys::TraceJson() const {
  nlohmann::json arr = nlohmann::json::array();
  for (const TraceEntry& e : trace_) {
    nlohmann::json j = {{"seq", e.seq},       {"pid", e.pid},
                        {"op", e.op},         {"args", e.args},
                        {"err", e.err},       {"errno", e.err ? ErrnoToName(e.err) : ""},
                        {"rule", e.rule},     {"action", ActionName(e.action)},
                        {"after_crash", e.after_crash}};
    if (e.pause != PauseEnd::kNone) j["pause"] = PauseEndName(e.pause);
    arr.push_back(std::move(j));
  }
  return arr;
}

}  // namespace faultline
