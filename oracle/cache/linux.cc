#include "oracle/cache/linux.h"

// Seeded-bug benchmark (bench/seeded_bugs, docs/fuzzing.md): build-time variants
// of this model with one realistic bug each, selected by SECDIFF_LINUX_BUG=N
// (CMake option of the fuzz builds; 0 = the faithful model). Every `#if
// SECDIFF_LINUX_BUG == N` block below is one bug; nothing else changes.
//   1 JSET handled as JEQ             7 RET K judged with the legacy 0x7fff0000 mask
//   2 JGE evaluated as JGT (off by one) 8 a conditional jump's jf edge dropped
//   3 compat bitmap built with the native arch  9 AND K ignored
//   4 no AND with the previous filter's bitmap  10 JA offset off by one
//   5 an argument load taken as the syscall number  11 uprobe exception on compat too
//   6 no upper range check on nr in the lookup (reads bitmap_fill's padding bits)
#ifndef SECDIFF_LINUX_BUG
#define SECDIFF_LINUX_BUG 0
#endif

namespace secdiff {

using namespace bpf;

namespace {

// kernel/seccomp.c: seccomp_uprobe_exception() (6.12 backport: uretprobe only;
// 6.18: uretprobe and uprobe), native arch only.
bool seccomp_uprobe_exception(const SeccompData& sd, const KernelProfile& k) {
#if SECDIFF_LINUX_BUG == 11
  (void)AUDIT_ARCH_X86_64;  // bug: the arch test is missing
#else
  if (sd.arch != AUDIT_ARCH_X86_64) return false;
#endif
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
#if SECDIFF_LINUX_BUG == 5
        if (k == SD_OFF_NR || k >= SD_OFF_ARGS) {  // bug: args read as the syscall number
#else
        if (k == SD_OFF_NR) {
#endif
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
#if SECDIFF_LINUX_BUG == 7
        w.allow = (k & SECCOMP_RET_ACTION) == SECCOMP_RET_ALLOW;  // bug: legacy mask
#else
        w.allow = k == SECCOMP_RET_ALLOW;  // exact value: ALLOW with data does not count
#endif
        return w;
      case JMP | JA:
#if SECDIFF_LINUX_BUG == 10
        pc += insn.k + 1;  // bug: off by one
#else
        pc += insn.k;
#endif
        break;
      case JMP | JEQ | K:
      case JMP | JGE | K:
      case JMP | JGT | K:
      case JMP | JSET | K: {
        bool op_res = false;
        switch (op_of(insn.code)) {
          case JEQ: op_res = reg_value == k; break;
#if SECDIFF_LINUX_BUG == 2
          case JGE: op_res = reg_value > k; break;  // bug: JGE as JGT
#else
          case JGE: op_res = reg_value >= k; break;
#endif
          case JGT: op_res = reg_value > k; break;
#if SECDIFF_LINUX_BUG == 1
          case JSET: op_res = reg_value == k; break;  // bug: JSET as JEQ
#else
          case JSET: op_res = (reg_value & k) != 0; break;
#endif
        }
#if SECDIFF_LINUX_BUG == 8
        pc += op_res ? insn.jt : 0;  // bug: the jf edge is dropped (falls through)
#else
        pc += op_res ? insn.jt : insn.jf;
#endif
        break;
      }
      case ALU | AND | K:
#if SECDIFF_LINUX_BUG == 9
        (void)k;  // bug: AND K ignored
#else
        reg_value &= k;
#endif
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
#if SECDIFF_LINUX_BUG == 6
    // bug: only nr < 0 is rejected. The kernel's DECLARE_BITMAP rounds up to
    // whole longs and bitmap_fill() sets the padding bits, which
    // seccomp_cache_prepare_bitmap() never clears: nr in [size, round_up(size, 64)) hits.
    if (sd.nr < 0) return false;
    if (static_cast<size_t>(sd.nr) >= bm->size())
      return static_cast<size_t>(sd.nr) < (bm->size() + 63) / 64 * 64;
#else
    if (sd.nr < 0 || static_cast<size_t>(sd.nr) >= bm->size()) return false;
#endif
    return (*bm)[sd.nr];
  }

 private:
  // kernel/seccomp.c: seccomp_cache_prepare() -> seccomp_cache_prepare_bitmap()
  // for native and compat: copy the previous filter's bitmap (or fill), then
  // clear the bits whose syscall is not constant-ALLOW in the new filter.
  void prepare(const Filter& f) {
    native_.push_back(prepare_bitmap(f, native_.empty() ? nullptr : &native_.back(),
                                     kernel_->native_nr, AUDIT_ARCH_X86_64));
#if SECDIFF_LINUX_BUG == 3
    compat_.push_back(prepare_bitmap(f, compat_.empty() ? nullptr : &compat_.back(),
                                     kernel_->compat_nr, AUDIT_ARCH_X86_64));  // bug: native arch
#else
    compat_.push_back(prepare_bitmap(f, compat_.empty() ? nullptr : &compat_.back(),
                                     kernel_->compat_nr, AUDIT_ARCH_I386));
#endif
  }

  Bitmap prepare_bitmap(const Filter& f, const Bitmap* prev, int size, uint32_t arch) const {
#if SECDIFF_LINUX_BUG == 4
    (void)prev;
    Bitmap bm(size, true);  // bug: the previous filter's bitmap is not copied
#else
    Bitmap bm = prev ? *prev : Bitmap(size, true);
#endif
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
