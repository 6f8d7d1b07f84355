// Exact constant-ALLOW analysis: for a fixed (arch, nr), does the chain's
// combined action equal ALLOW for every instruction pointer and every argument
// value? Complete (no sampling): concrete execution where only nr/arch matter,
// otherwise a bit-vector query to Z3 over the 14 free 32-bit words of
// seccomp_data. When the answer is no, a witness input is returned (verified
// with bpf_run; words the failure does not need are zeroed, greedily).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "oracle/cache/cache_model.h"
#include "oracle/seccomp_abi.h"
#include "oracle/validator.h"

namespace secdiff {

struct ExactAnswer {
  bool const_allow = false;
  std::optional<SeccompData> witness;  // set when !const_allow: an input whose action != ALLOW
  uint32_t witness_ret = 0;            // the chain's return value on the witness
  int witness_filter = -1;             // the filter that does not return ALLOW on it
  bool used_solver = false;            // needed Z3: args/ip reached a decision that neither
                                       // the all-zero input nor the concrete probes settled
};

// seccomp_is_const_allow's question answered exactly, for one filter or a chain
// (action ALLOW means every filter's ACTION_ONLY is ALLOW).
ExactAnswer exact_const_allow(const Program& rewritten_insns, uint32_t arch, int32_t nr);
ExactAnswer exact_const_allow(const FilterChain& chain, uint32_t arch, int32_t nr);

// The exact set for an arch over [0, size).
Bitmap exact_bitmap(const FilterChain& chain, CacheArch arch, int size,
                    std::vector<ExactAnswer>* answers = nullptr);

// The "exact" cache model: bitmap(a) is exact_bitmap over the kernel profile's
// native_nr / compat_nr (computed lazily, per filter, remembered across
// attaches); lookup(sd) hits iff (arch, nr) is in that set (x32 numbers and
// foreign arches never hit). Not thread-safe.
std::unique_ptr<CacheModel> make_exact_model(const KernelProfile& k);

}  // namespace secdiff
