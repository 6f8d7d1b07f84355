// Random seccomp programs and syscall inputs for differential tests (header-only).
//
// random_program() mixes
//   * valid-by-construction programs: only the 41 seccomp opcodes, forward jumps
//     in range, LD W ABS offsets 4-aligned < 64, M[] loads only where the
//     kernel's linear check_load_and_stores() analysis (including its "RET does
//     not reset" dead-code quirk) has the cell stored, no DIV K 0, shifts < 32,
//     last instruction RET;
//   * mutated/invalid programs: random 16-bit codes, codes from the classic BPF
//     table that seccomp rejects, bad LD ABS offsets (unaligned, >= 64,
//     ancillary), out-of-range jumps, a last instruction that is not RET, DIV/MOD
//     K 0, shifts >= 32, M[k >= 16], loads before stores (with the dead-code
//     quirk both ways), lengths 0 and > 4096.
// Constants come from a dictionary (harmless syscall numbers, AUDIT_ARCH_*,
// SECCOMP_RET_* with data, 0, 1, 0xffffffff, 0x40000000, masks...).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "host/host_kernel.h"
#include "oracle/bpf.h"
#include "oracle/kernel_profile.h"
#include "oracle/seccomp_abi.h"

namespace secdiff::testing {

struct RandomProgramOptions {
  unsigned min_len = 1;
  unsigned max_len = 40;           // ordinary programs: min_len..max_len instructions
  double valid_share = 0.5;        // share of valid-by-construction programs
  double huge_share = 0.01;        // of the invalid ones: length 0 or 4097..4200
  double max_len_share = 0.005;    // of the valid ones: exactly 4096 instructions
  double mid_ret_share = 0.06;     // an instruction before the last is a RET (dead code)
  double typical_share = 0.4;      // valid programs shaped like real filters (arch/nr checks)
  std::vector<uint32_t> extra_constants;
};

namespace detail {

inline uint32_t pick(std::mt19937_64& r, std::initializer_list<uint32_t> l) {
  return *(l.begin() + std::uniform_int_distribution<size_t>(0, l.size() - 1)(r));
}
template <class V>
inline const typename V::value_type& pick_in(std::mt19937_64& r, const V& v) {
  return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(r)];
}
inline bool chance(std::mt19937_64& r, double p) {
  return std::uniform_real_distribution<double>(0, 1)(r) < p;
}
inline uint32_t below(std::mt19937_64& r, uint32_t n) {  // [0, n)
  return n == 0 ? 0 : std::uniform_int_distribution<uint32_t>(0, n - 1)(r);
}
inline uint32_t u32(std::mt19937_64& r) { return static_cast<uint32_t>(r()); }

inline const std::vector<uint32_t>& harmless_x86_64() {
  static const std::vector<uint32_t> v = {39, 110, 102, 107, 104, 108, 186, 111, 24};
  return v;
}
inline const std::vector<uint32_t>& harmless_i386() {
  static const std::vector<uint32_t> v = {20, 64, 24, 47, 49, 50, 224, 158};
  return v;
}
inline const std::vector<uint32_t>& unimplemented_nrs() {
  static const std::vector<uint32_t> v = {1000, 1234, 1999, 0x3fffffff, 0xffffffff, 0x7fffffff,
                                          0x80000000};
  return v;
}

// The 41 opcodes seccomp_check_filter accepts.
inline const std::vector<uint16_t>& seccomp_opcodes() {
  static const std::vector<uint16_t> v = {
      0x06, 0x16,                                                    // RET K, A
      0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x44, 0x4c,  // ALU
      0x54, 0x5c, 0x64, 0x6c, 0x74, 0x7c, 0xa4, 0xac, 0x84,
      0x20, 0x80, 0x81, 0x00, 0x01, 0x60, 0x61, 0x02, 0x03,        // loads/stores
      0x07, 0x87,                                                    // TAX, TXA
      0x05, 0x15, 0x1d, 0x35, 0x3d, 0x25, 0x2d, 0x45, 0x4d};        // jumps
  return v;
}
// Classic BPF codes chk_code_allowed() accepts but seccomp rejects, plus a few
// near misses chk_code_allowed() rejects.
inline const std::vector<uint16_t>& other_classic_opcodes() {
  static const std::vector<uint16_t> v = {
      0x28, 0x30,              // LD H/B ABS
      0x40, 0x48, 0x50,        // LD W/H/B IND
      0xb1,                    // LDX B MSH
      0x94, 0x9c,              // MOD K/X
      0x21,                    // LDX W ABS (kernel-internal)
      0x0e, 0x8c, 0x0f, 0x88, 0x8f, 0xa7, 0x1e, 0xb4, 0xbc, 0xc4, 0x55, 0x5d, 0x65, 0x6d,
      0x26, 0x36, 0x68, 0x70, 0x41, 0x49, 0x89, 0xa1, 0xe0, 0x22, 0x33};
  return v;
}

inline uint32_t random_ret_k(std::mt19937_64& r) {
  const uint32_t data = chance(r, 0.5) ? 0 : chance(r, 0.5) ? below(r, 64) : below(r, 0x10000);
  switch (below(r, 14)) {
    case 0: case 1: case 2: return SECCOMP_RET_ALLOW | (chance(r, 0.8) ? 0 : data);
    case 3: case 4:
      return SECCOMP_RET_ERRNO | (chance(r, 0.2) ? pick(r, {0, 4095, 4096, 5000, 0xffff}) : data);
    case 5: case 6: return SECCOMP_RET_TRAP | data;
    case 7: return SECCOMP_RET_KILL_THREAD | (chance(r, 0.7) ? 0 : data);
    case 8: return SECCOMP_RET_KILL_PROCESS | (chance(r, 0.7) ? 0 : data);
    case 9: return SECCOMP_RET_LOG | data;
    case 10: return SECCOMP_RET_TRACE | data;
    case 11: return SECCOMP_RET_USER_NOTIF | data;
    case 12:  // unknown actions
      return pick(r, {0x10000000, 0x7ffe0000, 0x90000000, 0x00060000, 0x7fc10000, 0x00010000,
                      0x7ffd0000, 0xffff0000}) |
             data;
    default: return u32(r);
  }
}

// A constant for K operands: the dictionary, the extras, or random.
inline uint32_t random_const(std::mt19937_64& r, const RandomProgramOptions& o) {
  const uint32_t c = below(r, 12);
  if (c == 0 && !o.extra_constants.empty()) return pick_in(r, o.extra_constants);
  switch (c) {
    case 1: case 2: return pick_in(r, harmless_x86_64());
    case 3: return pick_in(r, harmless_i386());
    case 4: return pick_in(r, harmless_x86_64()) | X32_SYSCALL_BIT;
    case 5: return pick(r, {AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, 317});
    case 6: return random_ret_k(r);
    case 7:
      return pick(r, {0, 1, 2, 3, 31, 32, 64, 0xffffffff, 0x40000000, 0x80000000, 0x7fffffff,
                      0xffff0000, 0x0000ffff, 0x3fffffff, 0xfff, 0x1000, 0xffffff00});
    case 8: return pick_in(r, unimplemented_nrs());
    case 9: return below(r, 256);
    default: return u32(r);
  }
}

inline uint32_t random_abs_offset(std::mt19937_64& r) {
  switch (below(r, 6)) {
    case 0: case 1: return 0;   // nr
    case 2: return 4;           // arch
    case 3: return 16 + 4 * below(r, 12);  // args
    case 4: return 8 + 4 * below(r, 2);    // ip
    default: return 4 * below(r, 16);
  }
}

// Jump distance in [0, max], biased to short jumps.
inline uint32_t jump_dist(std::mt19937_64& r, uint32_t max) {
  if (max == 0) return 0;
  if (chance(r, 0.7)) return std::min<uint32_t>(max, below(r, 4));
  return below(r, max + 1);
}

// K operand for a conditional jump after loading from `last_off` (-1: unknown).
inline uint32_t jump_const(std::mt19937_64& r, int last_off, const RandomProgramOptions& o) {
  if (chance(r, 0.6)) {
    if (last_off == 0)
      return chance(r, 0.8) ? (chance(r, 0.6) ? pick_in(r, harmless_x86_64())
                                              : chance(r, 0.5) ? pick_in(r, harmless_i386())
                                                               : pick_in(r, harmless_x86_64()) | X32_SYSCALL_BIT)
                            : pick_in(r, unimplemented_nrs());
    if (last_off == 4) return pick(r, {AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64});
  }
  return random_const(r, o);
}

// The kernel's linear M[] analysis, run while generating forward-jump code.
struct MemFlow {
  std::vector<uint16_t> masks;
  uint16_t memvalid = 0;
  explicit MemFlow(size_t n) : masks(n, 0xffff) {}
  void enter(size_t pc) { memvalid &= masks[pc]; }
  void jump_to(size_t target) {
    if (target < masks.size()) masks[target] &= memvalid;
  }
};

inline Insn random_body_insn(std::mt19937_64& r, const RandomProgramOptions& o, size_t pc,
                             size_t n, MemFlow& mf, int& last_off) {
  using namespace bpf;
  const uint32_t room = static_cast<uint32_t>(n - pc - 2);  // max forward distance
  for (;;) {
    const uint32_t kind = below(r, 100);
    if (kind < 18) {  // LD W ABS
      const uint32_t off = random_abs_offset(r);
      last_off = static_cast<int>(off);
      return Insn{LD | W | ABS, static_cast<uint8_t>(chance(r, 0.05) ? below(r, 256) : 0), 0, off};
    }
    if (kind < 40) {  // conditional jump
      static const uint16_t ops[] = {JEQ, JEQ, JEQ, JGT, JGE, JSET};
      const uint16_t op = ops[below(r, 6)];
      const bool x = chance(r, 0.12);
      Insn i{static_cast<uint16_t>(JMP | op | (x ? X : K)),
             static_cast<uint8_t>(jump_dist(r, std::min<uint32_t>(room, 255))),
             static_cast<uint8_t>(jump_dist(r, std::min<uint32_t>(room, 255))),
             x && chance(r, 0.8) ? 0 : jump_const(r, last_off, o)};
      mf.jump_to(pc + 1 + i.jt);
      mf.jump_to(pc + 1 + i.jf);
      mf.memvalid = 0xffff;
      return i;
    }
    if (kind < 44) {  // JA
      Insn i{JMP | JA, 0, 0, jump_dist(r, room)};
      if (chance(r, 0.1)) i.jt = static_cast<uint8_t>(below(r, 256));  // ignored fields
      mf.jump_to(pc + 1 + i.k);
      mf.memvalid = 0xffff;
      return i;
    }
    if (kind < 60) {  // ALU
      static const uint16_t ops[] = {ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, XOR, NEG, AND, AND};
      const uint16_t op = ops[below(r, 12)];
      last_off = -1;
      if (op == NEG) return Insn{ALU | NEG, 0, 0, chance(r, 0.9) ? 0 : u32(r)};
      const bool x = chance(r, 0.3);
      uint32_t k = random_const(r, o);
      if (!x) {
        if (op == DIV && k == 0) k = 1 + below(r, 16);
        if (op == LSH || op == RSH) k = below(r, 32);
        if (op == AND && chance(r, 0.5)) k = pick(r, {0xffff0000, 0x0000ffff, 0x3fffffff, 0xffffffff, 0x40000000});
      }
      return Insn{static_cast<uint16_t>(ALU | op | (x ? X : K)), 0, 0, x && chance(r, 0.8) ? 0 : k};
    }
    if (kind < 66) {  // LD/LDX IMM
      last_off = -1;
      return Insn{static_cast<uint16_t>(chance(r, 0.5) ? LD | IMM : LDX | IMM), 0, 0, random_const(r, o)};
    }
    if (kind < 68) {  // LD/LDX W LEN
      last_off = -1;
      return Insn{static_cast<uint16_t>(chance(r, 0.5) ? LD | W | LEN : LDX | W | LEN), 0, 0,
                  chance(r, 0.8) ? 0 : u32(r)};
    }
    if (kind < 76) {  // ST/STX
      const uint32_t k = below(r, MEMWORDS);
      mf.memvalid |= static_cast<uint16_t>(1u << k);
      return Insn{static_cast<uint16_t>(chance(r, 0.5) ? ST : STX), 0, 0, k};
    }
    if (kind < 84) {  // LD/LDX MEM, only of stored cells
      if (mf.memvalid == 0) continue;
      uint32_t k;
      do k = below(r, MEMWORDS);
      while (!(mf.memvalid & (1u << k)));
      last_off = -1;
      return Insn{static_cast<uint16_t>(chance(r, 0.5) ? LD | MEM : LDX | MEM), 0, 0, k};
    }
    if (kind < 90) {  // TAX/TXA
      last_off = -1;
      return Insn{static_cast<uint16_t>(chance(r, 0.5) ? MISC | TAX : MISC | TXA), 0, 0, 0};
    }
    if (kind < 90 + static_cast<uint32_t>(o.mid_ret_share * 100) + 1) {  // RET before the end
      return chance(r, 0.85) ? Insn{RET | K, 0, 0, random_ret_k(r)} : Insn{RET | A, 0, 0, 0};
    }
  }
}

inline Insn random_last_ret(std::mt19937_64& r) {
  using namespace bpf;
  if (chance(r, 0.1)) return Insn{RET | A, 0, 0, chance(r, 0.9) ? 0 : u32(r)};
  Insn i{RET | K, 0, 0, random_ret_k(r)};
  if (chance(r, 0.05)) i.jt = static_cast<uint8_t>(below(r, 256));  // ignored
  return i;
}

// Valid by construction, of length n (>= 1).
inline Program random_valid_program_n(std::mt19937_64& r, const RandomProgramOptions& o, size_t n) {
  Program p;
  p.reserve(n);
  MemFlow mf(n);
  int last_off = -1;
  for (size_t pc = 0; pc < n; ++pc) {
    mf.enter(pc);
    if (pc == n - 1) {
      p.push_back(random_last_ret(r));
      break;
    }
    p.push_back(random_body_insn(r, o, pc, n, mf, last_off));
  }
  return p;
}

// A program shaped like a real filter: arch check, nr dispatch, arg checks.
inline Program random_typical_program(std::mt19937_64& r, const RandomProgramOptions& o) {
  using namespace bpf;
  // A list of checks, each jumping forward to one of a few RETs at the end.
  const unsigned n_checks = 1 + below(r, 6);
  const unsigned n_rets = 1 + below(r, 3);
  Program body;
  std::vector<int> ret_ref;  // for each body insn: -1 or the index of the RET it jumps to (jt)
  if (chance(r, 0.7)) {
    body.push_back(Insn{LD | W | ABS, 0, 0, 4});
    ret_ref.push_back(-1);
    body.push_back(Insn{JMP | JEQ | K, 0, 0, chance(r, 0.8) ? AUDIT_ARCH_X86_64 : AUDIT_ARCH_I386});
    ret_ref.push_back(-2);  // jf -> the last RET
  }
  body.push_back(Insn{LD | W | ABS, 0, 0, 0});
  ret_ref.push_back(-1);
  if (chance(r, 0.3)) {  // x32 check
    body.push_back(Insn{JMP | JGE | K, 0, 0, X32_SYSCALL_BIT});
    ret_ref.push_back(static_cast<int>(below(r, n_rets)));
  }
  for (unsigned c = 0; c < n_checks; ++c) {
    if (chance(r, 0.3)) {  // arg check: ld arg; jeq/jge/jset const -> ret; reload nr
      const uint32_t off = 16 + 8 * below(r, 6) + (chance(r, 0.2) ? 4 : 0);
      body.push_back(Insn{LD | W | ABS, 0, 0, off});
      ret_ref.push_back(-1);
      if (chance(r, 0.3)) {
        body.push_back(Insn{ALU | AND | K, 0, 0, random_const(r, o)});
        ret_ref.push_back(-1);
      }
      static const uint16_t ops[] = {JEQ, JGT, JGE, JSET};
      body.push_back(Insn{static_cast<uint16_t>(JMP | ops[below(r, 4)] | K), 0, 0, random_const(r, o)});
      ret_ref.push_back(static_cast<int>(below(r, n_rets)));
      body.push_back(Insn{LD | W | ABS, 0, 0, 0});
      ret_ref.push_back(-1);
    } else {
      body.push_back(Insn{JMP | JEQ | K, 0, 0, jump_const(r, 0, o)});
      ret_ref.push_back(static_cast<int>(below(r, n_rets)));
    }
  }
  // Layout: body, default RET, RETs[0..n_rets), kill RET.
  const size_t n = body.size() + 1 + n_rets + 1;
  if (n > 256) return random_valid_program_n(r, o, 8);
  Program p = body;
  p.push_back(Insn{RET | K, 0, 0, chance(r, 0.5) ? SECCOMP_RET_ALLOW : random_ret_k(r)});
  for (unsigned i = 0; i < n_rets; ++i) p.push_back(Insn{RET | K, 0, 0, random_ret_k(r)});
  p.push_back(Insn{RET | K, 0, 0, chance(r, 0.5) ? SECCOMP_RET_KILL_PROCESS : random_ret_k(r)});
  const size_t first_ret = body.size() + 1, kill_ret = n - 1;
  for (size_t pc = 0; pc < body.size(); ++pc) {
    const int ref = ret_ref[pc];
    Insn& i = p[pc];
    if (ref == -1) continue;
    if (ref == -2) {  // arch check: jf to kill
      i.jf = static_cast<uint8_t>(kill_ret - pc - 1);
      continue;
    }
    i.jt = static_cast<uint8_t>(first_ret + static_cast<size_t>(ref) - pc - 1);
  }
  return p;
}

// Mutations that usually (not always) make a program invalid.
inline void mutate(std::mt19937_64& r, Program& p, const RandomProgramOptions& o) {
  using namespace bpf;
  if (p.empty()) return;
  const size_t n = p.size();
  const size_t pc = below(r, static_cast<uint32_t>(n));
  Insn& i = p[pc];
  switch (below(r, 13)) {
    case 0: i.code = static_cast<uint16_t>(r()); break;
    case 1: i.code = static_cast<uint16_t>(below(r, 256)); break;
    case 2: i.code = pick_in(r, other_classic_opcodes()); break;
    case 3:  // bad LD ABS offset
      i.code = LD | W | ABS;
      i.k = chance(r, 0.3) ? pick(r, {1, 2, 3, 5, 62, 63, 64, 68, 0xfffff000, 0xfffff004, 0xfffff03c,
                                      0xfffff040, 0xffffffff})
                           : u32(r) % 256;
      break;
    case 4:  // conditional jump out of range
      i.code = static_cast<uint16_t>(JMP | pick(r, {JEQ, JGT, JGE, JSET}) | (chance(r, 0.5) ? X : K));
      i.jt = static_cast<uint8_t>(std::min<size_t>(255, n - pc - 1 + below(r, 3)));
      i.jf = static_cast<uint8_t>(below(r, 4));
      if (chance(r, 0.5)) std::swap(i.jt, i.jf);
      break;
    case 5:  // JA out of range
      i.code = JMP | JA;
      i.k = chance(r, 0.3) ? 0xffffffff : static_cast<uint32_t>(n - pc - 1 + below(r, 3));
      break;
    case 6:  // last instruction not RET
      p.back() = Insn{static_cast<uint16_t>(pick_in(r, seccomp_opcodes())), 0, 0, below(r, 16)};
      break;
    case 7:  // DIV/MOD K 0, shifts >= 32
      i = chance(r, 0.5) ? Insn{static_cast<uint16_t>(ALU | pick(r, {DIV, MOD}) | K), 0, 0, 0}
                         : Insn{static_cast<uint16_t>(ALU | pick(r, {LSH, RSH}) | K), 0, 0,
                                pick(r, {32, 33, 63, 0xffffffff})};
      break;
    case 8:  // M[k >= 16]
      i = Insn{static_cast<uint16_t>(pick(r, {ST, STX, LD | MEM, LDX | MEM})), 0, 0,
               16 + below(r, 32)};
      break;
    case 9:  // load of a cell (often not stored on every path)
      i = Insn{static_cast<uint16_t>(chance(r, 0.5) ? LD | MEM : LDX | MEM), 0, 0, below(r, 16)};
      break;
    case 10:  // dead-code quirk: RET; LD M[k]; ... with or without a store before the RET
      if (n >= 3 && pc + 2 < n) {
        const uint32_t k = below(r, 16);
        if (chance(r, 0.5) && pc > 0) p[pc - 1] = Insn{ST, 0, 0, k};
        p[pc] = Insn{RET | K, 0, 0, random_ret_k(r)};
        p[pc + 1] = Insn{static_cast<uint16_t>(chance(r, 0.5) ? LD | MEM : LDX | MEM), 0, 0, k};
      }
      break;
    case 11:  // garbage in fields the instruction ignores (usually still valid)
      i.jt = static_cast<uint8_t>(r());
      i.jf = static_cast<uint8_t>(r());
      break;
    default: i.k = random_const(r, o); break;
  }
}

}  // namespace detail

// Valid by construction (the kernel accepts it with NNP or CAP_SYS_ADMIN).
inline Program random_valid_program(std::mt19937_64& r, const RandomProgramOptions& o) {
  if (detail::chance(r, o.max_len_share)) return detail::random_valid_program_n(r, o, bpf::MAXINSNS);
  if (detail::chance(r, o.typical_share)) return detail::random_typical_program(r, o);
  const unsigned lo = std::max(1u, o.min_len), hi = std::max(lo, o.max_len);
  return detail::random_valid_program_n(r, o, lo + detail::below(r, hi - lo + 1));
}

// Usually invalid: a valid program with 1-3 mutations, a classic-BPF soup, or
// a bad length.
inline Program random_invalid_program(std::mt19937_64& r, const RandomProgramOptions& o) {
  using namespace detail;
  if (chance(r, o.huge_share)) {
    if (chance(r, 0.3)) return {};
    Program p = random_valid_program_n(r, o, 4097 + below(r, 100));
    return p;
  }
  if (chance(r, 0.1)) {  // soup of codes from both tables
    const size_t n = 1 + below(r, std::max(1u, o.max_len));
    Program p(n);
    for (auto& i : p) {
      i.code = chance(r, 0.7) ? pick_in(r, seccomp_opcodes()) : pick_in(r, other_classic_opcodes());
      i.jt = static_cast<uint8_t>(below(r, 4));
      i.jf = static_cast<uint8_t>(below(r, 4));
      i.k = random_const(r, o);
    }
    if (chance(r, 0.8)) p.back() = Insn{bpf::RET | bpf::K, 0, 0, random_ret_k(r)};
    return p;
  }
  if (chance(r, 0.05)) {  // the documented check_load_and_stores quirk
    const uint32_t k = below(r, 16);
    if (chance(r, 0.5))
      return {Insn{bpf::RET | bpf::K, 0, 0, SECCOMP_RET_ALLOW}, Insn{bpf::LD | bpf::MEM, 0, 0, k},
              Insn{bpf::RET | bpf::K, 0, 0, SECCOMP_RET_ALLOW}};  // EINVAL
    return {Insn{bpf::ST, 0, 0, k}, Insn{bpf::RET | bpf::K, 0, 0, SECCOMP_RET_ALLOW},
            Insn{bpf::LD | bpf::MEM, 0, 0, k}, Insn{bpf::RET | bpf::A, 0, 0, 0}};  // accepted
  }
  Program p = random_valid_program(r, o);
  if (p.size() > 512) p.resize(1 + below(r, 64));
  const unsigned m = 1 + below(r, 3);
  for (unsigned j = 0; j < m; ++j) mutate(r, p, o);
  return p;
}

inline Program random_program(std::mt19937_64& r, const RandomProgramOptions& o) {
  return detail::chance(r, o.valid_share) ? random_valid_program(r, o) : random_invalid_program(r, o);
}

// Prepends "ld nr; jeq 317 (seccomp) ? RET ALLOW : continue" so that a filter
// lets the next filters of a chain be installed (jumps are relative and the
// prefix leaves check_load_and_stores' state as at pc 0).
inline Program allow_seccomp_prefix(const Program& p) {
  using namespace bpf;
  Program q = {Insn{LD | W | ABS, 0, 0, 0}, Insn{JMP | JEQ | K, 0, 1, 317},
               Insn{RET | K, 0, 0, SECCOMP_RET_ALLOW}};
  q.insert(q.end(), p.begin(), p.end());
  return q;
}

// Constants a program compares with or computes with (K of jumps, ALU, LD IMM, RET).
inline std::vector<uint32_t> program_constants(const Program& p) {
  using namespace bpf;
  std::vector<uint32_t> c;
  for (const Insn& i : p) {
    const uint16_t cls = class_of(i.code);
    if ((cls == JMP && op_of(i.code) != JA && src_of(i.code) == K) ||
        (cls == ALU && src_of(i.code) == K) || i.code == (LD | IMM) || i.code == (LDX | IMM))
      c.push_back(i.k);
  }
  std::sort(c.begin(), c.end());
  c.erase(std::unique(c.begin(), c.end()), c.end());
  return c;
}

struct RandomInputOptions {
  double i386_share = 0.3;
  double x32_share = 0.2;
  double unimplemented_share = 0.15;  // nr no table implements (ENOSYS when dispatched)
  double nr_high_garbage_share = 0.05;  // upper 32 bits of rax set (the kernel ignores them)
  double ip_share = 0.6;              // request an instruction pointer
};

namespace detail {

inline uint64_t random_arg(std::mt19937_64& r, const std::vector<uint32_t>& consts) {
  const auto c = [&]() -> uint64_t {
    if (!consts.empty() && chance(r, 0.8)) return pick_in(r, consts);
    return pick(r, {0, 1, 0xffffffff, 0x40000000, 0x80000000});
  };
  switch (below(r, 10)) {
    case 0: case 1: case 2: return c();
    case 3: return (c() << 32) | c();
    case 4: return c() + (chance(r, 0.5) ? 1 : -1);
    case 5: return 0;
    case 6: return static_cast<uint64_t>(-static_cast<int64_t>(c()));
    case 7: return (static_cast<uint64_t>(below(r, 4)) << 32) | c();
    default: return r();
  }
}

inline std::optional<uint64_t> random_ip(std::mt19937_64& r, const std::vector<uint32_t>& consts,
                                         double share) {
  if (!chance(r, share)) return std::nullopt;
  const auto c = [&]() -> uint64_t {
    if (!consts.empty() && chance(r, 0.8)) return pick_in(r, consts);
    return u32(r);
  };
  switch (below(r, 7)) {
    case 0: return c();
    case 1: return c() + 1;
    case 2: return (c() << 32) | c();
    case 3: return (uint64_t{1 + below(r, 3)} << 32) | c();
    case 4: return 0x10000 + (r() % (uint64_t{1} << 46));
    case 5: return 0x40000000 + below(r, 0x10000);
    default: return r();
  }
}

}  // namespace detail

// A harmless syscall with args/ip drawn from `consts` (usually program_constants()).
inline HostInput random_host_input(std::mt19937_64& r, const std::vector<uint32_t>& consts,
                                   const RandomInputOptions& o = {}) {
  using namespace detail;
  HostInput in;
  const double a = std::uniform_real_distribution<double>(0, 1)(r);
  in.arch = a < o.i386_share ? Arch::I386 : a < o.i386_share + o.x32_share ? Arch::X32 : Arch::X86_64;
  uint32_t nr;
  if (chance(r, o.unimplemented_share)) {
    nr = chance(r, 0.5) ? pick_in(r, unimplemented_nrs()) : 1000 + below(r, 1000);
  } else {
    nr = pick_in(r, in.arch == Arch::I386 ? harmless_i386() : harmless_x86_64());
  }
  // A program constant that is itself harmless now and then.
  if (!consts.empty() && chance(r, 0.2)) {
    const uint32_t c = pick_in(r, consts);
    if (is_harmless_syscall(in.arch, static_cast<int32_t>(c))) nr = c;
  }
  in.nr = static_cast<int32_t>(nr);
  if (in.arch == Arch::X32) in.nr = static_cast<int64_t>(nr & ~X32_SYSCALL_BIT);
  if (in.arch != Arch::X32 && chance(r, o.nr_high_garbage_share))
    in.nr = static_cast<int64_t>((uint64_t{u32(r) | 1} << 32) | nr);
  for (auto& arg : in.args) arg = random_arg(r, consts);
  in.ip = random_ip(r, consts, o.ip_share);
  return in;
}

// Programs in the cache emulator's own language (seccomp_is_const_allow): a
// run of blocks `[ld nr|arch] [and #m] j{eq,ge,gt,set} #k` whose one edge goes
// straight to an ALLOW or a deny return and whose other edge falls through,
// some `ja`, rarely an instruction the emulator gives up on; then a default
// return. Every compare decides an outcome, so each emulator branch matters.
// Valid by construction.
inline Program random_emulator_program(std::mt19937_64& r, unsigned max_blocks = 10) {
  using namespace bpf;
  using namespace detail;
  auto konst = [&]() -> uint32_t {
    switch (below(r, 6)) {
      case 0: return below(r, 480);
      case 1: return 1u << below(r, 10);
      case 2: return below(r, 0x200) | X32_SYSCALL_BIT;
      case 3: return pick(r, {AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, 0u, 0xffffffffu, 0x40000000u});
      case 4: return (1u << below(r, 10)) - 1;
      default: return u32(r);
    }
  };
  static const uint32_t denies[] = {SECCOMP_RET_ERRNO | 1, SECCOMP_RET_KILL_PROCESS,
                                    SECCOMP_RET_ALLOW | 1, SECCOMP_RET_LOG, SECCOMP_RET_TRAP};
  Program body;
  std::vector<int> target;  // per body insn: -1 none, 0 -> ALLOW return, 1 -> deny return
  std::vector<bool> on_true;
  const unsigned blocks = 1 + below(r, max_blocks);
  for (unsigned b = 0; b < blocks; ++b) {
    if (chance(r, 0.4)) { body.push_back(Insn{LD | W | ABS, 0, 0, chance(r, 0.85) ? 0u : 4u}); target.push_back(-1); on_true.push_back(false); }
    if (chance(r, 0.2)) { body.push_back(Insn{ALU | AND | K, 0, 0, konst()}); target.push_back(-1); on_true.push_back(false); }
    if (chance(r, 0.05)) {  // something the emulator cannot follow
      body.push_back(pick_in(r, std::vector<Insn>{Insn{LD | IMM, 0, 0, konst()}, Insn{ALU | OR | K, 0, 0, 0},
                                                   Insn{MISC | TAX, 0, 0, 0}, Insn{LD | W | ABS, 0, 0, 16}}));
      target.push_back(-1); on_true.push_back(false);
    }
    if (chance(r, 0.1)) { body.push_back(Insn{JMP | JA, 0, 0, 0}); target.push_back(-1); on_true.push_back(false); }
    static const uint16_t ops[] = {JEQ, JGE, JGT, JSET};
    body.push_back(Insn{static_cast<uint16_t>(JMP | ops[below(r, 4)] | K), 0, 0, konst()});
    target.push_back(static_cast<int>(below(r, 2)));
    on_true.push_back(chance(r, 0.5));
  }
  if (body.size() > 200) body.resize(200), target.resize(200), on_true.resize(200);
  // Layout: body, default return, ALLOW return, deny return.
  Program p = body;
  p.push_back(Insn{RET | K, 0, 0, chance(r, 0.5) ? SECCOMP_RET_ALLOW : pick_in(r, std::vector<uint32_t>(std::begin(denies), std::end(denies)))});
  p.push_back(Insn{RET | K, 0, 0, SECCOMP_RET_ALLOW});
  p.push_back(Insn{RET | K, 0, 0, pick_in(r, std::vector<uint32_t>(std::begin(denies), std::end(denies)))});
  const size_t allow_pc = body.size() + 1, deny_pc = body.size() + 2;
  for (size_t pc = 0; pc < body.size(); ++pc) {
    if (target[pc] < 0) continue;
    const auto off = static_cast<uint8_t>((target[pc] == 0 ? allow_pc : deny_pc) - pc - 1);
    if (on_true[pc]) p[pc].jt = off; else p[pc].jf = off;
  }
  return p;
}

// A seccomp_data for pure-model tests: any arch value, nr, ip and args.
inline SeccompData random_seccomp_data(std::mt19937_64& r, const std::vector<uint32_t>& consts,
                                       const RandomInputOptions& o = {}) {
  using namespace detail;
  const HostInput in = random_host_input(r, consts, o);
  SeccompData sd = host_seccomp_data(in, in.ip.value_or(r()));
  if (chance(r, 0.05)) sd.arch = chance(r, 0.5) ? u32(r) : pick(r, {0, 0xc00000b7, 0x40000028});
  if (chance(r, 0.05)) sd.nr = static_cast<int32_t>(consts.empty() ? u32(r) : pick_in(r, consts));
  return sd;
}

}  // namespace secdiff::testing
