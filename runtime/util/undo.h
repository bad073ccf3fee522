// UndoStack: the steps that reverse what a multi-step setup has done so far.
// Run() executes them newest first; Release() forgets them once the setup has
// fully succeeded. Nothing runs from a destructor: a crash (no unwinding in a
// real process) must leave exactly what the kernel would leave, for gc.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "runtime/util/error.h"

namespace mydocker {

class UndoStack {
 public:
  void Push(std::string what, std::function<Outcome()> undo) {
    steps_.emplace_back(std::move(what), std::move(undo));
  }
  // Runs every step newest first, logging (not stopping at) failures.
  void Run() {
    while (!steps_.empty()) {
      auto [what, undo] = std::move(steps_.back());
      steps_.pop_back();
      Outcome o = undo();
      if (!o.ok()) spdlog::warn("undo {}: {}", what, o.error().Message());
    }
  }
  void Release() { steps_.clear(); }

 private:
  std::vector<std::pair<std::string, std::function<Outcome()>>> steps_;
};

}  // namespace mydocker
