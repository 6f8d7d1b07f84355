// YiFei Zhu's seccomp cache RFC as posted on 2020-09-21 ("[RFC PATCH seccomp
// 1/2] seccomp/cache: Add "emulator" to check if filter is arg-dependent" and
// "2/2 Cache filter results that allow syscalls"): a per-filter bitmap of the
// syscall numbers whose filter path never reads args/ip (seccomp_cache_prepare),
// and a per-task lazy cache of ALLOW results keyed by (newest filter, arch)
// (seccomp_cache_check / seccomp_cache_insert).
#pragma once

#include <cstdint>
#include <memory>

#include "oracle/cache/cache_model.h"

namespace secdiff {

// prev_null_flaw = true reproduces the posted code, where seccomp_cache_prepare()
// ran in seccomp_prepare_filter() with sfilter->prev always NULL (older filters
// ignored); false = the fix of RFC->v1 (AND with the previous filter's bitmap).
std::unique_ptr<CacheModel> make_rfc_v1_model(const KernelProfile& k, bool prev_null_flaw);

namespace rfc_v1 {

// Result of seccomp_cache_prepare() for one filter.
struct PrepareResult {
  int err = 0;        // 0, or a positive errno (E2BIG: more than 64 pending states)
  Bitmap syscall_ok;  // [0, nr_syscalls): "the filter does not read args/ip for nr"
};

// seccomp_cache_prepare() over the ORIGINAL (un-rewritten) instructions of a
// validated filter. `prev` is the previous filter's syscall_ok (nullptr = none).
// The default evaluation is an exact, memoised equivalent of the posted
// depth-first emulation (see rfc_v1.cc); literal = true runs the posted loop
// step by step (exponential on some programs; `max_steps` bounds it, and
// err = -1 is returned when the bound is hit).
PrepareResult prepare(const Program& orig, const Bitmap* prev, int nr_syscalls,
                      bool literal = false, uint64_t max_steps = UINT64_MAX);

}  // namespace rfc_v1
}  // namespace secdiff
