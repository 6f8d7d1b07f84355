// The seccomp action cache models, behind one interface so that fuzzers and the
// VM runner can pick any of them:
//   linux   mainline since 5.11 (seccomp_cache_prepare / seccomp_is_const_allow)
//   rfc-v1  YiFei Zhu's 2020-09-21 RFC (per-filter arg analysis + per-task lazy cache)
//   exact   the true set of (arch, nr) for which the chain returns ALLOW for all args/ip
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "oracle/kernel_profile.h"
#include "oracle/seccomp_abi.h"
#include "oracle/validator.h"

namespace secdiff {

// One bit per syscall number [0, size).
using Bitmap = std::vector<bool>;

// A bitmap as 64-bit words (bit nr is bit nr % 64 of word nr / 64) and back;
// bits at or above `size` are dropped.
std::vector<uint64_t> bitmap_to_words(const Bitmap& b);
Bitmap words_to_bitmap(const std::vector<uint64_t>& words, int size);

// The arches that have a cache bitmap on x86_64: native and compat.
enum class CacheArch { Native, Compat };
inline constexpr CacheArch kCacheArches[] = {CacheArch::Native, CacheArch::Compat};
const char* cache_arch_name(CacheArch a);  // "x86_64", "ia32" (as /proc/PID/seccomp_cache)
uint32_t cache_arch_audit(CacheArch a);

class CacheModel {
 public:
  virtual ~CacheModel() = default;
  virtual std::string name() const = 0;
  const KernelProfile& kernel() const { return *kernel_; }

  // Called when a filter is attached to the chain (the chain already holds it as
  // newest). Returns 0, or a positive errno if this design fails the install
  // (rfc-v1 can return E2BIG/ENOMEM); then the caller detaches it.
  virtual int on_attach(const FilterChain& chain) = 0;

  // The bitmap of the newest filter for `arch` (what /proc/PID/seccomp_cache
  // shows for `linux`; rfc-v1 shows its per-filter "does not read args" bits;
  // exact shows the true constant-ALLOW set).
  virtual Bitmap bitmap(CacheArch arch) const = 0;
  // The same bitmap as words (bit nr is bit nr % 64 of word nr / 64); returns
  // its size in bits.
  virtual size_t bitmap_words(CacheArch arch, std::vector<uint64_t>& out) const;

  // The lookup at syscall entry: true = return ALLOW without running filters.
  // May change per-task state (rfc-v1).
  virtual bool lookup(const SeccompData& sd) = 0;
  // Told the combined result after a full run (rfc-v1 inserts on ALLOW).
  virtual void after_run(const SeccompData& sd, uint32_t ret) { (void)sd; (void)ret; }

  // Per-task state reset (a fresh task sharing the same filters).
  virtual void reset_task() {}

 protected:
  explicit CacheModel(const KernelProfile& k) : kernel_(&k) {}
  const KernelProfile* kernel_;
};

struct CacheModelOptions {
  // rfc-v1: reproduce the posted code's flaw (prev is always NULL at prepare
  // time, so older filters are ignored). false = the fix from RFC v1's changelog.
  bool rfc_prev_null_flaw = true;
  // Planted-bug variants of the linux model for the fuzzer benchmark (0 = none).
  int linux_bug = 0;
};

// Names: "linux", "rfc-v1", "rfc-v1-fixed", "exact".
std::unique_ptr<CacheModel> make_cache_model(std::string_view name, const KernelProfile& k,
                                             const CacheModelOptions& opt = {});
std::vector<std::string> cache_model_names();

// Builds a chain's models by replaying attach for every filter of `chain`.
// Returns the first attach error (filter index, errno) if any.
struct ReplayError { int filter; int err; };
std::optional<ReplayError> replay_attach(CacheModel& m, const FilterChain& chain);

}  // namespace secdiff
