// SysWrapper: a Sys that forwards every call to another Sys (leveldb's
// EnvWrapper), with one interception point that every call passes; and
// ErrnoSys, the base of test doubles that model only some ops.
//
// A decorator overrides one method, Intercept(SysCall&), to see or decide
// every call: look at call.op(), call.desc() (what a fault plan matches on)
// and call.Args() (printable), then let it through (call.Proceed()), fail it
// (call.Fail(errno)) or lie (call.Lie(): report success, do nothing). An
// Intercept that decides nothing lets the call through. Overriding a single
// op's method (calling SysWrapper::Method to forward) still works.
//
// Contract: the target must outlive the wrapper. SysWrapper itself adds no
// state and no behaviour. Intercept may throw (an injected crash, a fake
// execve ending a child): the exception leaves the op's method as it is.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "runtime/sys/sys.h"

namespace mydocker {

// The handles a lie returns are >= kLieHandle: no real fd or pid has them, so
// later calls on them fail EBADF/ESRCH.
inline constexpr int kLieHandle = 1 << 22;

// What a fault plan matches a call on (the views live as long as the call).
struct CallDesc {
  std::string_view path;    // primary path argument ("" when none)
  std::string_view path2;   // second path (mount source, rename target, ...)
  std::string_view fstype;  // mount/fsopen fstype
  uint64_t flags = 0;       // the call's flags argument
};

// One call in flight through a SysWrapper.
class SysCall {
 public:
  Op op() const { return op_; }
  const char* name() const { return OpName(op_); }
  virtual CallDesc desc() const = 0;
  // "target=\"/x\" flags=0x2": every argument by name (sys_ops.h).
  virtual std::string Args() const = 0;

  // Forwards the call to the wrapper's target and keeps its result.
  virtual void Proceed() = 0;
  // The call fails with err; the target is not called.
  virtual void Fail(int err) = 0;
  // The call reports success and does nothing (sys_ops.h: the lie column).
  virtual void Lie() = 0;
  // Decided by one of the three above.
  bool decided() const { return decided_; }
  // The result's errno once decided (0: success).
  virtual int err() const = 0;

 protected:
  explicit SysCall(Op op) : op_(op) {}
  ~SysCall() = default;
  Op op_;
  bool decided_ = false;
};

namespace sys_internal {

// Appends "name=value" for one argument (sys_wrapper.cc: by type and name).
void AppendArg(std::string& out, std::string_view name, const std::string& v);
void AppendArg(std::string& out, std::string_view name, const char* v);
void AppendArg(std::string& out, std::string_view name, char* const* v);
void AppendArg(std::string& out, std::string_view name, const MountArgs& v);
void AppendArg(std::string& out, std::string_view name, const FsconfigArgs& v);
void AppendArg(std::string& out, std::string_view name, const MoveMountArgs& v);
void AppendArg(std::string& out, std::string_view name, SignalDisposition v);
void AppendArg(std::string& out, std::string_view name, const OpenHow& v);
void AppendArg(std::string& out, std::string_view name, const MountAttr& v);
void AppendArg(std::string& out, std::string_view name, const CapSets& v);
void AppendArg(std::string& out, std::string_view name, const SeccompProgram& v);
void AppendArg(std::string& out, std::string_view name, const SeccompRules& v);
void AppendArg(std::string& out, std::string_view name, uint64_t v, bool is_signed);
// Buffers, pollfd arrays and callbacks are not printed.
inline void AppendArg(std::string&, std::string_view, const void*) {}
inline void AppendArg(std::string&, std::string_view, const CloneFn&) {}
template <class T>
  requires std::is_integral_v<T>
void AppendArg(std::string& out, std::string_view name, T v) {
  AppendArg(out, name, static_cast<uint64_t>(static_cast<int64_t>(v)), std::is_signed_v<T>);
}

// names: the op's argument list as written in sys_ops.h, "(path, flags)".
// Returns the next name and advances.
std::string_view NextName(std::string_view& names);

template <class... A>
std::string FormatArgs([[maybe_unused]] std::string_view names, const A&... args) {
  std::string out;
  (AppendArg(out, NextName(names), args), ...);
  return out;
}

// The lie of poll: every entry ready.
Result<int> LiePoll(struct pollfd* fds, size_t n);

template <class Ret, class Fwd, class LieF, class DescF, class ArgsF>
class TypedCall final : public SysCall {
 public:
  TypedCall(Op op, Fwd& fwd, LieF& lie, DescF& desc, ArgsF& args)
      : SysCall(op), fwd_(fwd), lie_(lie), desc_(desc), args_(args) {}
  CallDesc desc() const override { return desc_(); }
  std::string Args() const override { return args_(); }
  void Proceed() override {
    decided_ = true;
    result_ = fwd_();
  }
  void Fail(int err) override {
    decided_ = true;
    result_ = Ret{};
    result_.err = err;
  }
  void Lie() override {
    decided_ = true;
    result_ = lie_();
  }
  int err() const override { return result_.err; }
  Ret Take() {
    if (!decided_) Proceed();
    return std::move(result_);
  }

 private:
  Fwd& fwd_;
  LieF& lie_;
  DescF& desc_;
  ArgsF& args_;
  Ret result_{};
};

}  // namespace sys_internal

#define MYDOCKER_CALL_DESC(...) ::mydocker::CallDesc{__VA_ARGS__}

class SysWrapper : public Sys {
 public:
  explicit SysWrapper(Sys& target) : target_(target) {}
  // A wrapper given another wrapper wraps it (this overload beats the copy
  // constructor, which would silently wrap the other's target instead).
  explicit SysWrapper(SysWrapper& target) : target_(target) {}
  SysWrapper(const SysWrapper&) = delete;
  SysWrapper& operator=(const SysWrapper&) = delete;

  Sys& target() const { return target_; }

#define MYDOCKER_WRAP_OP(Method, opname, Ret, Params, Args, Desc, LieValue)                \
  Ret Method Params override {                                                            \
    auto fwd = [&]() -> Ret { return target_.Method Args; };                              \
    auto lie = [&]() -> Ret { return LieValue; };                                         \
    auto desc = [&]() -> CallDesc { return MYDOCKER_CALL_DESC Desc; };                    \
    auto args = [&]() -> std::string {                                                    \
      auto f = [](const auto&... v) { return sys_internal::FormatArgs(#Args, v...); };    \
      return f Args;                                                                      \
    };                                                                                    \
    sys_internal::TypedCall<Ret, decltype(fwd), decltype(lie), decltype(desc),            \
                            decltype(args)>                                               \
        call(Op::k##Method, fwd, lie, desc, args);                                        \
    Intercept(call);                                                                      \
    return call.Take();                                                                   \
  }
  MYDOCKER_SYS_OPS(MYDOCKER_WRAP_OP)
#undef MYDOCKER_WRAP_OP

 protected:
  // Every call passes here; the default lets it through.
  virtual void Intercept(SysCall& call) { call.Proceed(); }

 private:
  Sys& target_;
};

// Every op fails with ENOSYS unless a test double overrides it.
class ErrnoSys : public Sys {
 public:
#define MYDOCKER_ENOSYS_OP(Method, opname, Ret, Params, ...) \
  Ret Method Params override {                               \
    Ret r{};                                                 \
    r.err = ENOSYS;                                          \
    return r;                                                \
  }
  MYDOCKER_SYS_OPS(MYDOCKER_ENOSYS_OP)
#undef MYDOCKER_ENOSYS_OP
};

}  // namespace mydocker
