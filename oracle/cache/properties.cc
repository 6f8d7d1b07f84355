#include "oracle/cache/properties.h"

#include "oracle/chain.h"

namespace secdiff {

namespace {

// The kernel's deliberate divergence: seccomp_uprobe_exception() numbers are
// cached ALLOW whatever the filters say.
bool is_exception(const KernelProfile& k, CacheArch a, int nr) {
  if (a != CacheArch::Native) return false;
  return (k.uretprobe_exception && nr == kNrUretprobe) || (k.uprobe_exception && nr == kNrUprobe);
}

}  // namespace

SubsetReport check_bitmap_subset_of_exact(const CacheModel& model, const FilterChain& chain) {
  SubsetReport rep;
  for (CacheArch a : kCacheArches) {
    const Bitmap bm = model.bitmap(a);
    for (size_t nr = 0; nr < bm.size(); nr++) {
      if (!bm[nr]) continue;
      ExactAnswer ans = exact_const_allow(chain, cache_arch_audit(a), static_cast<int32_t>(nr));
      if (ans.const_allow) continue;
      if (is_exception(model.kernel(), a, static_cast<int>(nr))) {
        rep.excused.push_back({a, static_cast<int>(nr)});
        continue;
      }
      rep.ok = false;
      rep.unsound.push_back({a, static_cast<int>(nr)});
      rep.witnesses.push_back(std::move(ans));
    }
  }
  return rep;
}

std::vector<BitDiff> precision_loss(const CacheModel& model, const FilterChain& chain) {
  std::vector<BitDiff> out;
  for (CacheArch a : kCacheArches) {
    const Bitmap bm = model.bitmap(a);
    for (size_t nr = 0; nr < bm.size(); nr++) {
      if (bm[nr]) continue;
      if (exact_const_allow(chain, cache_arch_audit(a), static_cast<int32_t>(nr)).const_allow)
        out.push_back({a, static_cast<int>(nr)});
    }
  }
  return out;
}

std::optional<std::pair<BitDiff, uint32_t>> check_cached_allow_on(const CacheModel& model,
                                                                   const FilterChain& chain,
                                                                   const SeccompData& args_ip) {
  SeccompData sd = args_ip;
  for (CacheArch a : kCacheArches) {
    const Bitmap bm = model.bitmap(a);
    sd.arch = cache_arch_audit(a);
    for (size_t nr = 0; nr < bm.size(); nr++) {
      if (!bm[nr] || is_exception(model.kernel(), a, static_cast<int>(nr))) continue;
      sd.nr = static_cast<int32_t>(nr);
      const RunResult r = seccomp_run_filters(chain, sd);
      if (ACTION_ONLY(r.ret) != static_cast<int32_t>(SECCOMP_RET_ALLOW))
        return std::make_pair(BitDiff{a, static_cast<int>(nr)}, r.ret);
    }
  }
  return std::nullopt;
}

BitmapCompare compare_models(const CacheModel& a, const CacheModel& b) {
  BitmapCompare c;
  for (CacheArch arch : kCacheArches) {
    const Bitmap ba = a.bitmap(arch), bb = b.bitmap(arch);
    const size_t n = std::max(ba.size(), bb.size());
    for (size_t nr = 0; nr < n; nr++) {
      const bool x = nr < ba.size() && ba[nr], y = nr < bb.size() && bb[nr];
      if (x && !y) c.only_a.push_back({arch, static_cast<int>(nr)});
      if (y && !x) c.only_b.push_back({arch, static_cast<int>(nr)});
    }
  }
  return c;
}

}  // namespace secdiff
