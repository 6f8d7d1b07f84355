// The properties the fuzz targets check, as plain functions (the targets in
// fuzzers/targets/, the unit tests and the campaign's reproducer all call
// these). Each returns the findings of one case; empty = nothing broke. They
// also feed BPF-level coverage (fuzzers/coverage.h) when asked to.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "fuzzers/findings.h"
#include "oracle/case.h"

namespace secdiff::fuzz {

struct CheckOptions {
  // Cache models under test (make_cache_model names). The linux model gets the
  // static property (bitmap subset of the exact set) and the lookup property;
  // rfc-v1 / rfc-v1-fixed the per-task sequence property.
  std::vector<std::string> models = {"linux", "rfc-v1", "rfc-v1-fixed"};
  std::string kernel;   // kernel profile ("" = default)
  bool coverage = true;
  unsigned max_exact_calls = 4;  // exact_const_allow() calls per new chain
  // Which set bits of the linux bitmap are classified per chain: those of the
  // numbers the programs compare with (+-1), the boundaries, the uprobe
  // numbers, the inputs' numbers and `sampled_bits` more per arch; or all of
  // them (full_bitmap, about 940 prefix runs per filter; SECDIFF_FUZZ_FULL_BITMAP=1).
  bool full_bitmap = false;
  unsigned sampled_bits = 16;
};
// models from SECDIFF_FUZZ_MODELS (comma separated), kernel from SECDIFF_FUZZ_KERNEL.
CheckOptions check_options_from_env();

// cache_soundness: for the linux model, set bits of the bitmap are in the
// exact set (a cheap per-syscall classification by prefix runs of the bits
// the case touches, see CheckOptions; exact_const_allow() only for bits whose
// filters read args/ip), every
// lookup hit of an input evaluates to ALLOW, and args-dependent cached bits
// evaluate to ALLOW on the inputs' args/ip; for rfc-v1 models, the inputs run
// in order through the per-task cache give the plain chain's actions. Chains
// are memoised (models, bitmaps and the static verdict), so a mutation of
// the inputs only costs the per-input checks.
std::vector<Finding> check_cache_soundness(const Case& c, const CheckOptions& opt);

// oracle_consistency: valid programs never fault in the interpreter (every
// run ends on a RET or DIV by X == 0), the traced / coverage / memoised
// evaluations agree, every format round-trips (parse(write(p)) == p,
// assemble(disassemble(p)) == p), and every parser survives `bytes` with at
// most a FormatError. `c` is null when `bytes` does not decode as a case.
std::vector<Finding> check_oracle_consistency(const Case* c, std::string_view bytes,
                                              bool coverage = true);

// kernel_load: the validator's accept/reject and errno vs the host kernel's
// seccomp() in a child (installs only, no syscalls besides them; see
// host/host_kernel.h). Returns nothing when the host cannot run filters.
std::vector<Finding> check_kernel_load(const Case& c, bool coverage = true);

// Clears the chain memo of check_cache_soundness (tests; a changed model set).
void reset_check_caches();

}  // namespace secdiff::fuzz
