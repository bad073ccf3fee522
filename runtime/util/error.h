// Error: what failed, where, and why. Every runtime failure that reaches a
// user is one of these: the step ("workspace: mount overlay"), the path the
// step worked on, and the errno (0 when the failure is not a syscall's).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace mydocker {

// "EBUSY", "ENOENT", ... ("E123" for an unknown number).
std::string ErrnoName(int err);

struct Error {
  std::string step;    // e.g. "workspace: mount overlay"
  std::string path;    // the path the step acted on; may be empty
  int err = 0;         // errno; 0 when not a syscall failure
  std::string detail;  // extra words, e.g. the entry of a refused tar

  // "workspace: mount overlay /var/lib/mydocker/c1/merged: EBUSY (Device or
  // resource busy): detail"
  std::string Message() const;
};

Error MakeError(std::string step, std::string path, int err,
                std::string detail = {});

// Either a value or an Error.
template <class T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}          // NOLINT
  Expected(Error error) : v_(std::move(error)) {}      // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Success, or an Error.
class [[nodiscard]] Outcome {
 public:
  Outcome() = default;
  Outcome(Error error) : failed_(true), error_(std::move(error)) {}  // NOLINT
  static Outcome Ok() { return {}; }
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_; }

 private:
  bool failed_ = false;
  Error error_;
};

}  // namespace mydocker

// Returns the error of an Outcome/Expected expression from the enclosing
// function.
#define MYDOCKER_TRY(expr)                         \
  do {                                             \
    auto mydocker_try_r_ = (expr);                 \
    if (!mydocker_try_r_.ok()) return mydocker_try_r_.error(); \
  } while (0)
