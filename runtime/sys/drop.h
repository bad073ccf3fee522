// Calls whose result a caller drops on purpose, each with the reason it may.
// (Status and Result are [[nodiscard]]; anything else is handled or cast to
// void with a comment at the call.)
#pragma once

#include "runtime/sys/sys.h"

namespace mydocker {

// Closes fd and drops the result: close(2) releases the descriptor even when
// it reports an error (EINTR, EIO), so there is nothing to retry or undo.
// Async-signal-safe (for the child between clone and exec).
inline void CloseFd(Sys& sys, int fd) { (void)sys.Close(fd); }

// Sets a signal's disposition; it fails only for a bad signal number.
inline void SetSignal(Sys& sys, int sig, SignalDisposition d) { (void)sys.Signal(sig, d); }

}  // namespace mydocker
