#include "oracle/interpreter.h"

#include <cstring>

namespace secdiff {

using namespace bpf;

namespace {

struct NoHook {
  static constexpr bool kActive = false;
  void step(unsigned, const Insn&, uint32_t, uint32_t, bool, bool) {}
};

struct TraceHook {
  static constexpr bool kActive = true;
  Trace* t;
  void step(unsigned pc, const Insn& in, uint32_t a, uint32_t x, bool taken, bool dbz) {
    t->steps.push_back(TraceStep{pc, in, a, x, taken, dbz});
  }
};

struct CovHook {
  static constexpr bool kActive = true;
  uint8_t* cov;
  void step(unsigned pc, const Insn& in, uint32_t, uint32_t, bool taken, bool) {
    uint8_t bits = 1;
    if (is_cond_jump(in.code)) bits |= taken ? 2 : 4;
    cov[pc] |= bits;
  }
};

// The semantics of the eBPF program bpf_convert_filter() makes from a
// seccomp-checked classic filter, as ___bpf_prog_run (kernel/bpf/core.c) and
// the x86-64 JIT execute it.
template <class Hook, bool kPrefix = false>
inline uint32_t run(const Program& p, const SeccompData& sd, Hook hook, BpfState* st = nullptr, bool resume = false) {
  uint32_t A_ = 0, X_ = 0;
  uint32_t M[MEMWORDS] = {};
  unsigned pc = 0;
  if (st && resume) {  // resume a saved state
    A_ = st->a;
    X_ = st->x;
    std::memcpy(M, st->mem, sizeof M);
    pc = st->pc;
  }
  const Insn* insns = p.data();
  const unsigned n = static_cast<unsigned>(p.size());
  while (pc < n) {
    const Insn& in = insns[pc];
    const uint32_t k = in.k;
    bool taken = false;
    unsigned next = pc + 1;
    switch (in.code) {
      case LDX_W_ABS:  // rewritten LD|W|ABS: A = *(u32 *)(ctx + k)
        if constexpr (kPrefix) {
          if (k != SD_OFF_NR && k != SD_OFF_ARCH) {  // first input word other than nr/arch
            st->pc = pc;
            st->a = A_;
            st->x = X_;
            std::memcpy(st->mem, M, sizeof M);
            st->stopped = true;
            return 0;
          }
        }
        A_ = sd.word(k);
        break;
      case LD | IMM: A_ = k; break;
      case LDX | IMM: X_ = k; break;
      case LD | MEM: A_ = M[k]; break;
      case LDX | MEM: X_ = M[k]; break;
      case ST: M[k] = A_; break;
      case STX: M[k] = X_; break;
      case ALU | ADD | K: A_ += k; break;
      case ALU | ADD | X: A_ += X_; break;
      case ALU | SUB | K: A_ -= k; break;
      case ALU | SUB | X: A_ -= X_; break;
      case ALU | MUL | K: A_ *= k; break;
      case ALU | MUL | X: A_ *= X_; break;
      case ALU | DIV | K: A_ /= k; break;  // k != 0 (bpf_check_classic)
      case ALU | DIV | X:
        if (X_ == 0) {  // converted: if (X_ != 0) goto +2; A_ ^= A_; exit
          if constexpr (Hook::kActive) hook.step(pc, in, 0, X_, false, true);
          return 0;
        }
        A_ /= X_;
        break;
      case ALU | AND | K: A_ &= k; break;
      case ALU | AND | X: A_ &= X_; break;
      case ALU | OR | K: A_ |= k; break;
      case ALU | OR | X: A_ |= X_; break;
      case ALU | XOR | K: A_ ^= k; break;
      case ALU | XOR | X: A_ ^= X_; break;
      case ALU | LSH | K: A_ <<= k; break;  // k < 32 (bpf_check_classic)
      case ALU | LSH | X: A_ <<= (X_ & 31); break;
      case ALU | RSH | K: A_ >>= k; break;
      case ALU | RSH | X: A_ >>= (X_ & 31); break;
      case ALU | NEG: A_ = 0u - A_; break;
      case MISC | TAX: X_ = A_; break;
      case MISC | TXA: A_ = X_; break;
      case JMP | JA: next = pc + 1 + k; break;
      case JMP | JEQ | K: taken = A_ == k; next = pc + 1 + (taken ? in.jt : in.jf); break;
      case JMP | JEQ | X: taken = A_ == X_; next = pc + 1 + (taken ? in.jt : in.jf); break;
      case JMP | JGT | K: taken = A_ > k; next = pc + 1 + (taken ? in.jt : in.jf); break;
      case JMP | JGT | X: taken = A_ > X_; next = pc + 1 + (taken ? in.jt : in.jf); break;
      case JMP | JGE | K: taken = A_ >= k; next = pc + 1 + (taken ? in.jt : in.jf); break;
      case JMP | JGE | X: taken = A_ >= X_; next = pc + 1 + (taken ? in.jt : in.jf); break;
      case JMP | JSET | K: taken = (A_ & k) != 0; next = pc + 1 + (taken ? in.jt : in.jf); break;
      case JMP | JSET | X: taken = (A_ & X_) != 0; next = pc + 1 + (taken ? in.jt : in.jf); break;
      case RET | K:
        if constexpr (Hook::kActive) hook.step(pc, in, A_, X_, false, false);
        return k;
      case RET | A:
        if constexpr (Hook::kActive) hook.step(pc, in, A_, X_, false, false);
        return A_;
      default:
        // Not reachable for a program that passed seccomp_check_filter.
        return 0;
    }
    if constexpr (Hook::kActive) hook.step(pc, in, A_, X_, taken, false);
    pc = next;
  }
  return 0;  // unreachable for a validated program (the last insn is a RET)
}

}  // namespace

uint32_t bpf_run(const Program& insns, const SeccompData& sd) {
  return run(insns, sd, NoHook{});
}

uint32_t bpf_run_traced(const Program& insns, const SeccompData& sd, Trace* trace) {
  trace->steps.clear();
  trace->ret = run(insns, sd, TraceHook{trace});
  return trace->ret;
}

uint32_t bpf_run_cov(const Program& insns, const SeccompData& sd, uint8_t* cov) {
  return run(insns, sd, CovHook{cov});
}

uint32_t bpf_run_prefix(const Program& insns, const SeccompData& sd, BpfState* st) {
  st->stopped = false;
  return run<NoHook, true>(insns, sd, NoHook{}, st);
}

uint32_t bpf_run_from(const Program& insns, const SeccompData& sd, const BpfState& st) {
  BpfState copy = st;
  return run(insns, sd, NoHook{}, &copy, true);
}

uint32_t bpf_run_prefix_from(const Program& insns, const SeccompData& sd, BpfState* st) {
  st->stopped = false;
  return run<NoHook, true>(insns, sd, NoHook{}, st, true);
}

}  // namespace secdiff
