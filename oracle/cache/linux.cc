#include "oracle/cache/linux.h"

namespace secdiff {

using namespace bpf;

namespace {

// kernel/seccomp.c: seccomp_uprobe_exception() (6.12 backport: uretprobe only;
// 6.18: uretprobe and uprobe), native arch only.
bool seccomp_uprobe_exception(const SeccompData& sd, const KernelProfile& k) {
  if (sd.arch != AUDIT_ARCH_X86_64) return false;
  return (k.uretprobe_exception && sd.nr == 335) || (k.uprobe_exception && sd.nr == 336);
}

}  // namespace

ConstAllowWhy seccomp_is_const_allow_why(const Program& orig, const SeccompData& sd,
                                         const KernelProfile& kp) {
  ConstAllowWhy w;
  if (seccomp_uprobe_exception(sd, kp)) {
    w.allow = true;
    w.exception = true;
    return w;
  }
  uint32_t reg_value = 0;
  for (unsigned pc = 0; pc < orig.size(); pc++) {
    const Insn& insn = orig[pc];
    const uint32_t k = insn.k;
    switch (insn.code) {
      case LD | W | ABS:
        if (k == SD_OFF_NR) {
          reg_value = static_cast<uint32_t>(sd.nr);
        } else if (k == SD_OFF_ARCH) {
          reg_value = sd.arch;
        } else {
          w.stop_pc = static_cast<int>(pc);  // can't optimize (non-constant value load)
          w.unsupported = true;
          return w;
        }
        break;
      case RET | K:
        w.stop_pc = static_cast<int>(pc);
        w.allow = k == SECCOMP_RET_ALLOW;  // exact value: ALLOW with data does not count
        return w;
      case JMP | JA:
        pc += insn.k;
        break;
      case JMP | JEQ | K:
      case JMP | JGE | K:
      case JMP | JGT | K:
      case JMP | JSET | K: {
        bool op_res = false;
        switch (op_of(insn.code)) {
          case JEQ: op_res = reg_value == k; break;
          case JGE: op_res = reg_value >= k; break;
          case JGT: op_res = reg_value > k; break;
          case JSET: op_res = (reg_value & k) != 0; break;
        }
        pc += op_res ? insn.jt : insn.jf;
        break;
      }
      case ALU | AND | K:
        reg_value &= k;
        break;
      default:
        w.stop_pc = static_cast<int>(pc);  // can't optimize (unknown insn)
        w.unsupported = true;
        return w;
    }
  }
  return w;  // WARN_ON(1): ran off the end (impossible after validation)
}

bool seccomp_is_const_allow(const Program& orig, const SeccompData& sd, const KernelProfile& k) {
  return seccomp_is_const_allow_why(orig, sd, k).allow;
}

namespace {

class LinuxModel final : public CacheModel {
 public:
  explicit LinuxModel(const KernelProfile& k) : CacheModel(k) {}
  std::string name() const override { return "linux"; }

  int on_attach(const FilterChain& chain) override {
    const auto& fs = chain.filters();
    // Resynchronise if we were not told about every attach (or the chain changed).
    if (fs.size() != native_.size() + 1) {
      native_.clear();
      compat_.clear();
      for (size_t i = 0; i + 1 < fs.size(); i++) prepare(fs[i]);
    }
    prepare(fs.back());
    return 0;
  }

  Bitmap bitmap(CacheArch a) const override {
    const auto& v = a == CacheArch::Native ? native_ : compat_;
    if (v.empty()) return {};
    return v.back();
  }

  // kernel/seccomp.c: seccomp_cache_check_allow() on the newest filter.
  bool lookup(const SeccompData& sd) override {
    if (native_.empty()) return false;
    const Bitmap* bm;
    if (sd.arch == AUDIT_ARCH_X86_64)
      bm = &native_.back();
    else if (sd.arch == AUDIT_ARCH_I386)
      bm = &compat_.back();
    else
      return false;  // WARN_ON_ONCE(true)
    // seccomp_cache_check_allow_bitmap(): nr < 0 || nr >= bitmap_size -> no hit.
    if (sd.nr < 0 || static_cast<size_t>(sd.nr) >= bm->size()) return false;
    return (*bm)[sd.nr];
  }

 private:
  // kernel/seccomp.c: seccomp_cache_prepare() -> seccomp_cache_prepare_bitmap()
  // for native and compat: copy the previous filter's bitmap (or fill), then
  // clear the bits whose syscall is not constant-ALLOW in the new filter.
  void prepare(const Filter& f) {
    native_.push_back(prepare_bitmap(f, native_.empty() ? nullptr : &native_.back(),
                                     kernel_->native_nr, AUDIT_ARCH_X86_64));
    compat_.push_back(prepare_bitmap(f, compat_.empty() ? nullptr : &compat_.back(),
                                     kernel_->compat_nr, AUDIT_ARCH_I386));
  }

  Bitmap prepare_bitmap(const Filter& f, const Bitmap* prev, int size, uint32_t arch) const {
    Bitmap bm = prev ? *prev : Bitmap(size, true);
    SeccompData sd;
    sd.arch = arch;
    for (int nr = 0; nr < size; nr++) {
      if (!bm[nr]) continue;  // no bitmap change: not a cacheable action
      sd.nr = nr;
      if (seccomp_is_const_allow(f.orig, sd, *kernel_)) continue;
      bm[nr] = false;
    }
    return bm;
  }

  std::vector<Bitmap> native_, compat_;  // per attached filter, oldest first
};

}  // namespace

std::unique_ptr<CacheModel> make_linux_model(const KernelProfile& k) {
  return std::make_unique<LinuxModel>(k);
}

}  // namespace secdiff
