#include "oracle/cache/cache_model.h"

#include <algorithm>
#include <bit>

#include "oracle/cache/exact.h"
#include "oracle/cache/linux.h"
#include "oracle/cache/rfc_v1.h"

namespace secdiff {

const char* cache_arch_name(CacheArch a) {
  return a == CacheArch::Native ? "x86_64" : "ia32";  // SECCOMP_ARCH_{NATIVE,COMPAT}_NAME
}

std::vector<uint64_t> bitmap_to_words(const Bitmap& b) {
  std::vector<uint64_t> w((b.size() + 63) / 64, 0);
  for (size_t nr = 0; nr < b.size(); nr++)
    if (b[nr]) w[nr / 64] |= uint64_t{1} << (nr % 64);
  return w;
}

Bitmap words_to_bitmap(const std::vector<uint64_t>& w, int size) {
  Bitmap bm(static_cast<size_t>(std::max(size, 0)), false);
  for (size_t i = 0; i < w.size(); i++)
    for (uint64_t bits = w[i]; bits; bits &= bits - 1) {
      const size_t nr = i * 64 + static_cast<size_t>(std::countr_zero(bits));
      if (nr < bm.size()) bm[nr] = true;
    }
  return bm;
}

size_t CacheModel::bitmap_words(CacheArch arch, std::vector<uint64_t>& out) const {
  const Bitmap b = bitmap(arch);
  out = bitmap_to_words(b);
  return b.size();
}

uint32_t cache_arch_audit(CacheArch a) {
  return a == CacheArch::Native ? AUDIT_ARCH_X86_64 : AUDIT_ARCH_I386;
}

std::unique_ptr<CacheModel> make_cache_model(std::string_view name, const KernelProfile& k,
                                             const CacheModelOptions& opt) {
  if (name == "linux") return make_linux_model(k);
  if (name == "rfc-v1") return make_rfc_v1_model(k, opt.rfc_prev_null_flaw);
  if (name == "rfc-v1-fixed") return make_rfc_v1_model(k, false);
  if (name == "exact") return make_exact_model(k);
  return nullptr;
}

std::vector<std::string> cache_model_names() { return {"linux", "rfc-v1", "rfc-v1-fixed", "exact"}; }

std::optional<ReplayError> replay_attach(CacheModel& m, const FilterChain& chain) {
  FilterChain prefix;
  for (size_t i = 0; i < chain.size(); i++) {
    prefix.attach(chain.filters()[i]);
    if (int err = m.on_attach(prefix)) return ReplayError{static_cast<int>(i), err};
  }
  return std::nullopt;
}

}  // namespace secdiff
