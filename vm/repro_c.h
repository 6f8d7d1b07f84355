// A standalone C reproducer for a Case: installs the filters (prctl
// PR_SET_NO_NEW_PRIVS + seccomp(SECCOMP_SET_MODE_FILTER, flags), printing each
// install's result) and makes each input's syscall (syscall() for x86_64,
// `int $0x80` for i386, nr | 0x40000000 for x32) in a fork of its own, printing
// the return value / errno, the SIGSYS siginfo (SA_SIGINFO handler) and the
// signal the child died of. Builds with `cc -static repro.c`. Each filter's
// bpf_asm text is in a comment above its array.
#pragma once

#include <string>

#include "oracle/case.h"

namespace secdiff::vm {

struct ReproOptions {
  std::string title;           // first comment line (e.g. the mismatch signature)
  std::string notes;           // more comment text (the oracle's expectations...)
  unsigned timeout_ms = 2000;  // a child still running then is killed (blocked syscall)
};

std::string repro_c_source(const Case& c, const ReproOptions& opt = {});

}  // namespace secdiff::vm
