#include "oracle/cache/linux.h"

#include <algorithm>
#include <array>
#include <bit>
#include <vector>

// Seeded-bug benchmark (bench/seeded_bugs, docs/fuzzing.md): build-time variants
// of this model with one realistic bug each, selected by SECDIFF_LINUX_BUG=N
// (CMake option of the fuzz builds; 0 = the faithful model). Every `#if
// SECDIFF_LINUX_BUG == N` block below is one bug; besides them, only the
// faithful model (0) uses the one-pass seccomp_const_allow_bitmap.
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
  return (k.uretprobe_exception && sd.nr == kNrUretprobe) ||
         (k.uprobe_exception && sd.nr == kNrUprobe);
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

// The fast path of seccomp_const_allow_bitmap(): the emulator above run once
// on the set of all nr in [0, size) instead of once per nr. A is tracked
// symbolically, either a constant or nr & mask (the only values the emulator
// can produce), and each pc holds the sets of nr that reach it per A.
// Programs only jump forwards, so one pass in pc order visits every path.
constexpr int kSetWords = 16;  // nr < 1024
using NrSet = std::array<uint64_t, kSetWords>;

struct SymA {
  bool is_nr;  // A = nr & v, else A = v
  uint32_t v;
  bool operator==(const SymA&) const = default;
};

struct Entry {
  SymA a;
  NrSet set;
};

bool any(const NrSet& s) {
  for (uint64_t w : s)
    if (w) return true;
  return false;
}

bool jump_holds(uint16_t code, uint32_t a, uint32_t k) {
  switch (op_of(code)) {
    case JEQ: return a == k;
    case JGE: return a >= k;
    case JGT: return a > k;
    default: return (a & k) != 0;  // JSET
  }
}

// Sets the bits [lo, hi) a word at a time.
void set_range(NrSet& s, uint64_t lo, uint64_t hi) {
  while (lo < hi) {
    const uint64_t w = lo / 64, end = std::min(hi, (w + 1) * 64);
    const uint64_t width = end - lo;
    const uint64_t bits = width == 64 ? ~uint64_t{0} : ((uint64_t{1} << width) - 1);
    s[w] |= bits << (lo % 64);
    lo = end;
  }
}

// {nr in [0, size) : the jump `code` holds for A = nr & mask}.
NrSet jump_set(uint16_t code, uint32_t mask, uint32_t k, int size) {
  NrSet t{};
  const auto n = static_cast<uint64_t>(size);
  if ((mask & (kSetWords * 64 - 1)) == kSetWords * 64 - 1 && op_of(code) != JSET) {
    // nr & mask == nr: an interval.
    switch (op_of(code)) {
      case JEQ: set_range(t, std::min<uint64_t>(k, n), std::min<uint64_t>(uint64_t{k} + 1, n)); break;
      case JGE: set_range(t, std::min<uint64_t>(k, n), n); break;
      default: set_range(t, std::min<uint64_t>(uint64_t{k} + 1, n), n); break;  // JGT
    }
    return t;
  }
  for (uint32_t nr = 0; nr < n; nr++)
    if (jump_holds(code, nr & mask, k)) t[nr / 64] |= uint64_t{1} << (nr % 64);
  return t;
}

// Sets the bits of the nr for which the emulator reaches `ret #ALLOW`
// (without the uprobe exception); false if the fast path does not apply (a
// JA that could wrap, or size > 1024): then nothing is set.
bool const_allow_set(const Program& orig, uint32_t arch, int size, NrSet* allow) {
  const size_t n = orig.size();
  if (size <= 0 || size > kSetWords * 64) return false;
  for (size_t pc = 0; pc < n; pc++)
    if (orig[pc].code == (JMP | JA) && pc + 1 + uint64_t{orig[pc].k} > n) return false;
  static thread_local std::vector<std::vector<Entry>> at;
  if (at.size() < n + 1) at.resize(n + 1);
  for (size_t pc = 0; pc <= n; pc++) at[pc].clear();
  auto add = [&](size_t pc, SymA a, const NrSet& s) {
    if (pc >= n || !any(s)) return;  // ran off the end: not ALLOW
    for (Entry& e : at[pc])
      if (e.a == a) {
        for (int w = 0; w < kSetWords; w++) e.set[w] |= s[w];
        return;
      }
    at[pc].push_back({a, s});
  };
  NrSet all{};
  set_range(all, 0, static_cast<uint64_t>(size));
  add(0, SymA{false, 0}, all);
  *allow = NrSet{};
  for (size_t pc = 0; pc < n; pc++) {
    const Insn& insn = orig[pc];
    const uint32_t k = insn.k;
    for (size_t ei = 0; ei < at[pc].size(); ei++) {
      const Entry& e = at[pc][ei];  // add() only touches later pcs
      switch (insn.code) {
        case LD | W | ABS:
          if (k == SD_OFF_NR) {
            add(pc + 1, SymA{true, ~0u}, e.set);
          } else if (k == SD_OFF_ARCH) {
            add(pc + 1, SymA{false, arch}, e.set);
          }  // else: not a constant load
          break;
        case RET | K:
          if (k == SECCOMP_RET_ALLOW)
            for (int w = 0; w < kSetWords; w++) (*allow)[w] |= e.set[w];
          break;
        case JMP | JA: add(pc + 1 + k, e.a, e.set); break;
        case JMP | JEQ | K:
        case JMP | JGE | K:
        case JMP | JGT | K:
        case JMP | JSET | K: {
          if (!e.a.is_nr) {
            add(pc + 1 + (jump_holds(insn.code, e.a.v, k) ? insn.jt : insn.jf), e.a, e.set);
            break;
          }
          NrSet t = jump_set(insn.code, e.a.v, k, size), f;
          for (int w = 0; w < kSetWords; w++) {
            f[w] = e.set[w] & ~t[w];
            t[w] &= e.set[w];
          }
          add(pc + 1 + insn.jt, e.a, t);
          add(pc + 1 + insn.jf, e.a, f);
          break;
        }
        case ALU | AND | K: add(pc + 1, SymA{e.a.is_nr, e.a.v & k}, e.set); break;
        default: break;  // not emulated
      }
    }
  }
  return true;
}

}  // namespace

std::vector<uint64_t> seccomp_const_allow_words(const Program& orig, uint32_t arch, int size,
                                                const KernelProfile& k, bool per_nr, bool* fast) {
  const size_t n = static_cast<size_t>(std::max(size, 0));
  std::vector<uint64_t> w((n + 63) / 64, 0);
  SeccompData sd;
  sd.arch = arch;
  NrSet allow;
  const bool use_fast = !per_nr && const_allow_set(orig, arch, size, &allow);
  if (fast) *fast = use_fast;
  if (!use_fast) {
    for (int nr = 0; nr < size; nr++) {
      sd.nr = nr;
      if (seccomp_is_const_allow(orig, sd, k)) w[nr / 64] |= uint64_t{1} << (nr % 64);
    }
    return w;
  }
  // The uprobe exception only ever adds its two numbers.
  for (size_t i = 0; i < w.size() && i < static_cast<size_t>(kSetWords); i++) w[i] = allow[i];
  if (n % 64) w.back() &= (uint64_t{1} << (n % 64)) - 1;  // nr < size only
  for (int nr : {kNrUretprobe, kNrUprobe}) {
    sd.nr = nr;
    if (nr < size && seccomp_uprobe_exception(sd, k)) w[nr / 64] |= uint64_t{1} << (nr % 64);
  }
  return w;
}

Bitmap seccomp_const_allow_bitmap(const Program& orig, uint32_t arch, int size,
                                  const KernelProfile& k, bool per_nr, bool* fast) {
  return words_to_bitmap(seccomp_const_allow_words(orig, arch, size, k, per_nr, fast), size);
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
    return words_to_bitmap(v.back(), size_of(a));
  }
  size_t bitmap_words(CacheArch a, std::vector<uint64_t>& out) const override {
    const auto& v = a == CacheArch::Native ? native_ : compat_;
    if (v.empty()) {
      out.clear();
      return 0;
    }
    out = v.back();
    return static_cast<size_t>(std::max(size_of(a), 0));
  }

  // kernel/seccomp.c: seccomp_cache_check_allow() on the newest filter.
  bool lookup(const SeccompData& sd) override {
    if (native_.empty()) return false;
    const Words* bm;
    size_t size;
    if (sd.arch == AUDIT_ARCH_X86_64) {
      bm = &native_.back();
      size = static_cast<size_t>(kernel_->native_nr);
    } else if (sd.arch == AUDIT_ARCH_I386) {
      bm = &compat_.back();
      size = static_cast<size_t>(kernel_->compat_nr);
    } else {
      return false;  // WARN_ON_ONCE(true)
    }
    // seccomp_cache_check_allow_bitmap(): nr < 0 || nr >= bitmap_size -> no hit.
#if SECDIFF_LINUX_BUG == 6
    // bug: only nr < 0 is rejected. The kernel's DECLARE_BITMAP rounds up to
    // whole longs and bitmap_fill() sets the padding bits, which
    // seccomp_cache_prepare_bitmap() never clears: nr in [size, round_up(size, 64)) hits.
    if (sd.nr < 0) return false;
    if (static_cast<size_t>(sd.nr) >= size)
      return static_cast<size_t>(sd.nr) < (size + 63) / 64 * 64;
#else
    if (sd.nr < 0 || static_cast<size_t>(sd.nr) >= size) return false;
#endif
    return test(*bm, static_cast<size_t>(sd.nr));
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

  // The bitmaps as words (bit nr of word nr / 64), so that a filter's bitmap
  // is the previous one AND its constant-ALLOW set, a word at a time.
  using Words = std::vector<uint64_t>;
  int size_of(CacheArch a) const { return a == CacheArch::Native ? kernel_->native_nr : kernel_->compat_nr; }
  static bool test(const Words& w, size_t nr) { return (w[nr / 64] >> (nr % 64)) & 1; }
  static Words filled(int size) {  // bitmap_fill(): bits [0, size)
    const size_t n = static_cast<size_t>(std::max(size, 0));
    Words w((n + 63) / 64, ~uint64_t{0});
    if (n % 64) w.back() = (uint64_t{1} << (n % 64)) - 1;
    return w;
  }

  Words prepare_bitmap(const Filter& f, const Words* prev, int size, uint32_t arch) const {
#if SECDIFF_LINUX_BUG == 4
    (void)prev;
    Words bm = filled(size);  // bug: the previous filter's bitmap is not copied
#else
    Words bm = prev ? *prev : filled(size);
#endif
#if SECDIFF_LINUX_BUG == 0
    // The kernel's loop (the #else branch, which the seeded bugs keep), done for
    // all nr at once: seccomp_const_allow_bitmap is tested equal to it.
    const Words allow = seccomp_const_allow_words(f.orig, arch, size, *kernel_);
    for (size_t i = 0; i < bm.size(); i++) bm[i] &= allow[i];
#else
    SeccompData sd;
    sd.arch = arch;
    for (int nr = 0; nr < size; nr++) {
      if (!test(bm, static_cast<size_t>(nr))) continue;  // no bitmap change: not a cacheable action
      sd.nr = nr;
      if (seccomp_is_const_allow(f.orig, sd, *kernel_)) continue;
      bm[nr / 64] &= ~(uint64_t{1} << (nr % 64));
    }
#endif
    return bm;
  }

  std::vector<Words> native_, compat_;  // per attached filter, oldest first
};

}  // namespace

std::unique_ptr<CacheModel> make_linux_model(const KernelProfile& k) {
  return std::make_unique<LinuxModel>(k);
}

}  // namespace secdiff
