// YiFei Zhu's 2020-09-21 RFC cache (see rfc_v1.h), mirrored from the posted
// patches "[RFC PATCH seccomp 1/2] seccomp/cache: Add "emulator" to check if
// filter is arg-dependent" and "[RFC PATCH seccomp 2/2] seccomp/cache: Cache
// filter results that allow syscalls".
#include "oracle/cache/rfc_v1.h"

#include <algorithm>
#include <cerrno>
#include <string>
#include <unordered_map>

namespace secdiff {

using namespace bpf;

namespace rfc_v1 {
namespace {

constexpr int kMaxPendingStates = 64;  // SECCOMP_EMU_MAX_PENDING_STATES
constexpr int kRegs = 2 + MEMWORDS;    // A, X, M[0..15]

// struct seccomp_emu_state (the linked-list pointer is the vector position).
struct EmuState {
  uint32_t pc = 0;
  bool reg_known[kRegs] = {};
  uint32_t reg_const[kRegs] = {};
};

// What seccomp_emu_step() did besides updating the state.
enum class Step {
  Continue,  // returned 0
  Halt,      // returned 1 (RET, or a load of args/ip: env->syscall_ok = false)
  Both,      // reached both_cases: a copy with pc += jt must be pushed
  Einval,    // returned -EINVAL (WARN_ON paths; not reachable after validation)
};

// seccomp_emu_step(), minus the push of both_cases (done by the callers).
// On Step::Both, state.pc already points after the jump; the pushed copy takes
// pc + jt and the current state pc + jf (both returned via *jt / *jf).
Step emu_step(const Program& filter, int nr, bool* syscall_ok, EmuState& state, uint32_t* jt,
              uint32_t* jf) {
  if (state.pc >= filter.size()) return Step::Einval;  // cannot happen after validation
  const Insn& ftest = filter[state.pc++];
  const uint16_t code = ftest.code;
  const uint32_t k = ftest.k;
  switch (class_of(code)) {
    case LD:
    case LDX: {
      const int reg_idx = class_of(code) == LDX;
      switch (mode_of(code)) {
        case IMM:
          state.reg_known[reg_idx] = true;
          state.reg_const[reg_idx] = k;
          break;
        case ABS:
          if (k == SD_OFF_NR) {
            state.reg_known[reg_idx] = true;
            state.reg_const[reg_idx] = static_cast<uint32_t>(nr);
          } else {
            state.reg_known[reg_idx] = false;  // arch is not modelled
            if (k != SD_OFF_ARCH) {
              *syscall_ok = false;  // reads args or instruction_pointer
              return Step::Halt;
            }
          }
          break;
        case MEM:
          state.reg_known[reg_idx] = state.reg_known[2 + (k & 15)];
          state.reg_const[reg_idx] = state.reg_const[2 + (k & 15)];
          break;
        default:  // LEN, ...
          state.reg_known[reg_idx] = false;
      }
      return Step::Continue;
    }
    case ST:
    case STX: {
      const int reg_idx = class_of(code) == STX;
      state.reg_known[2 + (k & 15)] = state.reg_known[reg_idx];
      state.reg_const[2 + (k & 15)] = state.reg_const[reg_idx];
      return Step::Continue;
    }
    case ALU:
      state.reg_known[0] = false;  // any ALU op: A unknown
      return Step::Continue;
    case JMP: {
      if (op_of(code) == JA) {
        state.pc += k;
        return Step::Continue;
      }
      if (ftest.jt == ftest.jf) {
        state.pc += ftest.jt;
        return Step::Continue;
      }
      *jt = ftest.jt;
      *jf = ftest.jf;
      if (!state.reg_known[0]) return Step::Both;
      uint32_t operand;
      if (src_of(code) == K) {
        operand = k;
      } else {
        if (!state.reg_known[1]) return Step::Both;
        operand = state.reg_const[1];
      }
      bool compare;
      switch (op_of(code)) {
        case JEQ: compare = state.reg_const[0] == operand; break;
        case JGT: compare = state.reg_const[0] > operand; break;
        case JGE: compare = state.reg_const[0] >= operand; break;
        case JSET: compare = (state.reg_const[0] & operand) != 0; break;
        default: return Step::Einval;
      }
      state.pc += compare ? ftest.jt : ftest.jf;
      return Step::Continue;
    }
    case RET:
      return Step::Halt;
    case MISC:
      switch (miscop_of(code)) {
        case TAX:
          state.reg_known[1] = state.reg_known[0];
          state.reg_const[1] = state.reg_const[0];
          break;
        case TXA:
          state.reg_known[0] = state.reg_known[1];
          state.reg_const[0] = state.reg_const[1];
          break;
        default:
          return Step::Einval;
      }
      return Step::Continue;
  }
  return Step::Einval;
}

// seccomp_cache_filter_trivial(): no LD ABS of anything but nr/arch.
bool filter_trivial(const Program& p) {
  for (const Insn& in : p)
    if (class_of(in.code) == LD && mode_of(in.code) == ABS && in.k != SD_OFF_NR &&
        in.k != SD_OFF_ARCH)
      return false;
  return true;
}

// The per-nr loop body of seccomp_cache_prepare(), literally: a LIFO list of
// pending states (new states go to the front), at most 64 pending.
// Returns 0 or a negative errno; -1 when max_steps is exhausted.
int emulate_literal(const Program& filter, int nr, bool* syscall_ok, uint64_t* steps) {
  std::vector<EmuState> next_state(1);  // back() = front of the kernel's list
  int next_state_len = 1;
  while (!next_state.empty()) {
    EmuState state = next_state.back();
    next_state.pop_back();
    next_state_len--;
    for (;;) {
      if ((*steps)-- == 0) return -1;
      uint32_t jt = 0, jf = 0;
      const Step s = emu_step(filter, nr, syscall_ok, state, &jt, &jf);
      if (s == Step::Continue) continue;
      if (s == Step::Halt) break;
      if (s == Step::Einval) return -EINVAL;
      // both_cases:
      if (next_state_len >= kMaxPendingStates) return -E2BIG;
      EmuState copy = state;
      copy.pc += jt;
      next_state.push_back(copy);
      next_state_len++;
      state.pc += jf;
    }
  }
  return 0;
}

// The same result without the exponential walk. In the posted depth-first
// loop, when a state reaches both_cases the pending list holds exactly the
// jt-copies pushed by its ancestors through whose jf edge it came (every copy
// pushed later is popped first). So the loop fails with -E2BIG iff some
// both_cases node has >= 64 such ancestors; otherwise every path is walked and
// syscall_ok is false iff some path reaches an args/ip load. The order of the
// walk cannot change the result, so this memoises on the emulator state:
// depth(s) = max over both_cases nodes v below s of the number of jf edges of
// both_cases nodes between s and v (-1 if none).
class Memo {
 public:
  Memo(const Program& f, int nr) : filter_(f), nr_(nr) {}

  // Returns 0 or a negative errno.
  int run(bool* syscall_ok) {
    const Res r = walk(EmuState{});
    if (r.einval) return -EINVAL;
    if (r.depth >= kMaxPendingStates) return -E2BIG;
    if (r.bad) *syscall_ok = false;
    return 0;
  }

 private:
  struct Res {
    int depth = -1;
    bool bad = false;
    bool einval = false;
  };

  static std::string key(const EmuState& s) {
    std::string k(reinterpret_cast<const char*>(&s.pc), sizeof s.pc);
    uint32_t known = 0;
    for (int i = 0; i < kRegs; i++)
      if (s.reg_known[i]) known |= 1u << i;
    k.append(reinterpret_cast<const char*>(&known), sizeof known);
    for (int i = 0; i < kRegs; i++)  // an unknown register's stale value is never read
      if (s.reg_known[i]) k.append(reinterpret_cast<const char*>(&s.reg_const[i]), 4);
    return k;
  }

  Res walk(EmuState s) {
    std::string k = key(s);
    if (auto it = memo_.find(k); it != memo_.end()) return it->second;
    Res r;
    for (;;) {
      bool ok = true;
      uint32_t jt = 0, jf = 0;
      const Step st = emu_step(filter_, nr_, &ok, s, &jt, &jf);
      if (!ok) r.bad = true;
      if (st == Step::Continue) continue;
      if (st == Step::Einval) r.einval = true;
      if (st == Step::Both) {
        EmuState t = s, f = s;
        t.pc += jt;
        f.pc += jf;
        const Res rf = walk(f);
        // An E2BIG below the jf side already decides the outcome.
        const Res rt = rf.depth + 1 >= kMaxPendingStates || rf.einval ? Res{} : walk(t);
        r.depth = std::min(kMaxPendingStates, std::max({0, rf.depth + 1, rt.depth}));
        r.bad = r.bad || rf.bad || rt.bad;
        r.einval = r.einval || rf.einval || rt.einval;
      }
      break;
    }
    memo_.emplace(std::move(k), r);
    return r;
  }

  const Program& filter_;
  int nr_;
  std::unordered_map<std::string, Res> memo_;
};

}  // namespace

// seccomp_cache_prepare(): trivial filters copy prev's bitmap (or fill);
// otherwise emulate every nr still allowed by prev.
PrepareResult prepare(const Program& orig, const Bitmap* prev, int nr_syscalls, bool literal,
                      uint64_t max_steps) {
  PrepareResult r;
  const size_t size = nr_syscalls > 0 ? static_cast<size_t>(nr_syscalls) : 0;
  if (filter_trivial(orig)) {
    if (prev) {
      r.syscall_ok = *prev;
      r.syscall_ok.resize(size, false);
    } else {
      r.syscall_ok.assign(size, true);
    }
    return r;
  }
  r.syscall_ok.assign(size, false);
  for (size_t nr = 0; nr < size; nr++) {
    bool syscall_ok = !prev || (nr < prev->size() && (*prev)[nr]);
    if (!syscall_ok) continue;
    const int res = literal ? emulate_literal(orig, static_cast<int>(nr), &syscall_ok, &max_steps)
                            : Memo(orig, static_cast<int>(nr)).run(&syscall_ok);
    if (res < 0) {  // the whole prepare fails: seccomp_prepare_filter returns it
      r.err = res == -1 ? -1 : -res;
      r.syscall_ok.assign(size, false);
      return r;
    }
    if (syscall_ok) r.syscall_ok[nr] = true;
  }
  return r;
}

}  // namespace rfc_v1

namespace {

class RfcV1Model final : public CacheModel {
 public:
  RfcV1Model(const KernelProfile& k, bool flaw) : CacheModel(k), flaw_(flaw) {}
  std::string name() const override { return flaw_ ? "rfc-v1" : "rfc-v1-fixed"; }

  // seccomp_prepare_filter() -> seccomp_cache_prepare() for the newest filter.
  int on_attach(const FilterChain& chain) override {
    const auto& fs = chain.filters();
    if (fs.empty()) return 0;
    // Resynchronise the older filters if the chain is not what we were told.
    size_t keep = 0;
    while (keep < filters_.size() && keep + 1 < fs.size() && filters_[keep].orig == fs[keep].orig)
      keep++;
    filters_.resize(keep);
    for (size_t i = keep; i + 1 < fs.size(); i++) {
      rfc_v1::PrepareResult r = compute(fs[i].orig);
      if (r.err) r.syscall_ok.assign(nr_syscalls(), false);  // was accepted elsewhere
      filters_.push_back({fs[i].orig, std::move(r.syscall_ok), next_id_++});
    }
    rfc_v1::PrepareResult r = compute(fs.back().orig);
    if (r.err) return r.err;  // the install fails (-E2BIG / -EINVAL)
    filters_.push_back({fs.back().orig, std::move(r.syscall_ok), next_id_++});
    return 0;
  }

  // One bitmap per filter in the RFC (NR_syscalls bits, any arch). For Compat
  // the same bits are shown over [0, compat_nr): cut, or extended with zeros,
  // since seccomp_cache_check() never hits for nr >= NR_syscalls.
  Bitmap bitmap(CacheArch a) const override {
    if (filters_.empty()) return {};
    Bitmap bm = filters_.back().syscall_ok;
    if (a == CacheArch::Compat) bm.resize(kernel_->compat_nr > 0 ? kernel_->compat_nr : 0, false);
    return bm;
  }

  // seccomp_cache_check(): per-task bitmap keyed by (newest filter, arch);
  // a change of either flushes it.
  bool lookup(const SeccompData& sd) override {
    if (filters_.empty()) return false;
    if (sd.nr < 0 || sd.nr >= nr_syscalls()) return false;
    const Rec& f = filters_.back();
    if (task_.last_filter != f.id || task_.last_arch != sd.arch) {
      task_.last_filter = f.id;
      task_.last_arch = sd.arch;
      task_.syscall_ok.assign(nr_syscalls(), false);  // bitmap_zero
      return false;
    }
    return task_.syscall_ok[sd.nr];
  }

  // seccomp_cache_insert(), called by seccomp_run_filters() on an exact ALLOW.
  void after_run(const SeccompData& sd, uint32_t ret) override {
    if (ret != SECCOMP_RET_ALLOW || filters_.empty()) return;
    if (sd.nr < 0 || sd.nr >= nr_syscalls()) return;
    if (!filters_.back().syscall_ok[sd.nr]) return;
    if (task_.syscall_ok.size() != static_cast<size_t>(nr_syscalls()))
      task_.syscall_ok.assign(nr_syscalls(), false);
    task_.syscall_ok[sd.nr] = true;
  }

  void reset_task() override { task_ = Task{}; }

 private:
  struct Rec {
    Program orig;
    Bitmap syscall_ok;
    uint64_t id;  // stands for the struct seccomp_filter pointer
  };
  struct Task {  // struct seccomp_cache_task_data
    Bitmap syscall_ok;
    uint64_t last_filter = 0;  // no filter has id 0
    uint32_t last_arch = 0;
  };

  int nr_syscalls() const { return kernel_->native_nr; }

  rfc_v1::PrepareResult compute(const Program& orig) const {
    // The posted code ran in seccomp_prepare_filter(), where sfilter->prev is
    // always NULL; the fix uses the previous filter's bitmap.
    const Bitmap* prev = flaw_ || filters_.empty() ? nullptr : &filters_.back().syscall_ok;
    return rfc_v1::prepare(orig, prev, nr_syscalls());
  }

  bool flaw_;
  std::vector<Rec> filters_;  // oldest first
  uint64_t next_id_ = 1;
  Task task_;
};

}  // namespace

std::unique_ptr<CacheModel> make_rfc_v1_model(const KernelProfile& k, bool prev_null_flaw) {
  return std::make_unique<RfcV1Model>(k, prev_null_flaw);
}

}  // namespace secdiff
