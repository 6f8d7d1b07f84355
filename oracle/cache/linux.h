// The mainline action cache (Linux 5.11+, kernel/seccomp.c).
#pragma once

#include <memory>

#include "oracle/cache/cache_model.h"

namespace secdiff {

// seccomp_is_const_allow(): Jann Horn's emulator over the ORIGINAL program,
// with A starting at 0; true iff it reaches `ret #SECCOMP_RET_ALLOW` using only
// LD W ABS nr/arch, JA, JEQ/JGE/JGT/JSET K, AND K. Applies the kernel profile's
// uprobe/uretprobe exception first.
bool seccomp_is_const_allow(const Program& orig, const SeccompData& sd, const KernelProfile& k);

// Why seccomp_is_const_allow gave up (for reports): the first instruction it
// could not follow, or -1 if it reached a RET K.
struct ConstAllowWhy {
  bool allow = false;
  int stop_pc = -1;        // instruction where it stopped
  bool unsupported = false;  // stopped on an instruction it cannot emulate
  bool exception = false;    // uprobe/uretprobe exception
};
ConstAllowWhy seccomp_is_const_allow_why(const Program& orig, const SeccompData& sd,
                                         const KernelProfile& k);

std::unique_ptr<CacheModel> make_linux_model(const KernelProfile& k);

}  // namespace secdiff
