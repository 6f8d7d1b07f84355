// The mainline action cache (Linux 5.11+, kernel/seccomp.c).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

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

// The bitmap of seccomp_is_const_allow() over nr in [0, size) for one arch.
// By default computed for all nr in one pass (the same emulator on sets of
// nr, tests/unit/linux_cache_test.cc checks it against per_nr); per_nr runs
// seccomp_is_const_allow() for every nr. *fast says which path ran.
Bitmap seccomp_const_allow_bitmap(const Program& orig, uint32_t arch, int size,
                                  const KernelProfile& k, bool per_nr = false,
                                  bool* fast = nullptr);

// The same as words: bit nr of word nr / 64, (size + 63) / 64 words.
std::vector<uint64_t> seccomp_const_allow_words(const Program& orig, uint32_t arch, int size,
                                                const KernelProfile& k, bool per_nr = false,
                                                bool* fast = nullptr);

std::unique_ptr<CacheModel> make_linux_model(const KernelProfile& k);

}  // namespace secdiff
