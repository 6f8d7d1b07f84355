// Tests of the exact constant-ALLOW analysis (oracle/cache/exact.cc).
#include "oracle/cache/exact.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <set>

#include "oracle/cache/linux.h"
#include "oracle/chain.h"
#include "oracle/interpreter.h"

namespace secdiff {
namespace {

using namespace bpf;

Insn stmt(uint16_t code, uint32_t k = 0) { return Insn{code, 0, 0, k}; }
Insn jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) { return Insn{code, jt, jf, k}; }
Insn ld(uint32_t off) { return stmt(LD | W | ABS, off); }
Insn ret(uint32_t k) { return stmt(RET | K, k); }

constexpr uint32_t kErrno1 = SECCOMP_RET_ERRNO | 1;
constexpr uint32_t kArg0Lo = SD_OFF_ARGS, kArg0Hi = SD_OFF_ARGS + 4;
constexpr uint32_t kArg1Lo = SD_OFF_ARGS + 8;

bool is_allow(uint32_t r) { return ACTION_ONLY(r) == ACTION_ONLY(SECCOMP_RET_ALLOW); }

FilterChain make_chain(std::initializer_list<Program> progs) {
  FilterChain c;
  for (const Program& p : progs) {
    const LoadResult r = c.install(p, 0);
    EXPECT_TRUE(r.ok()) << r.reason;
  }
  return c;
}

// The rewritten instructions of a single filter.
Program rewritten(const Program& p) {
  FilterChain c = make_chain({p});
  return c.filters().at(0).insns;
}

ExactAnswer query(const Program& p, int32_t nr = 0, uint32_t arch = AUDIT_ARCH_X86_64) {
  return exact_const_allow(rewritten(p), arch, nr);
}

// A witness must be a complete input for (arch, nr) that bpf_run rejects.
void expect_witness(const Program& p, const ExactAnswer& a, int32_t nr = 0,
                    uint32_t arch = AUDIT_ARCH_X86_64) {
  ASSERT_FALSE(a.const_allow);
  ASSERT_TRUE(a.witness.has_value());
  EXPECT_EQ(a.witness->nr, nr);
  EXPECT_EQ(a.witness->arch, arch);
  const uint32_t r = bpf_run(rewritten(p), *a.witness);
  EXPECT_FALSE(is_allow(r));
  EXPECT_EQ(r, a.witness_ret);
}

TEST(Exact, ArgEqualsFiveIsNotConstant) {
  // ALLOW only when args[0] low == 5: the all-zero input is already a witness.
  const Program p = {ld(kArg0Lo), jump(JMP | JEQ | K, 5, 0, 1), ret(SECCOMP_RET_ALLOW), ret(kErrno1)};
  const ExactAnswer a = query(p);
  expect_witness(p, a);
  EXPECT_NE(a.witness->args[0] & 0xffffffffu, 5u);
  EXPECT_EQ(a.witness_ret, kErrno1);
  EXPECT_FALSE(a.used_solver);
}

TEST(Exact, ArgNotFive) {
  // ALLOW unless args[0] low == 5: the zero input is ALLOW; 5 is found by the
  // probes (program constants), the other words stay 0.
  const Program p = {ld(kArg0Lo), jump(JMP | JEQ | K, 5, 1, 0), ret(SECCOMP_RET_ALLOW), ret(kErrno1)};
  const ExactAnswer a = query(p);
  expect_witness(p, a);
  EXPECT_EQ(a.witness->args[0], 5u);
  EXPECT_EQ(a.witness->instruction_pointer, 0u);
  for (int i = 1; i < 6; i++) EXPECT_EQ(a.witness->args[i], 0u);
}

TEST(Exact, SolverFindsHashedArgument) {
  // ERRNO iff (args[2] * 0x9e3779b1) ^ 0x5bd1e995 == 0x12345678 (one value of
  // args[2] low, which no probe guesses): Z3 must produce it.
  const Program p = {ld(SD_OFF_ARGS + 16), stmt(ALU | MUL | K, 0x9e3779b1),
                     stmt(ALU | XOR | K, 0x5bd1e995), jump(JMP | JEQ | K, 0x12345678, 0, 1),
                     ret(kErrno1), ret(SECCOMP_RET_ALLOW)};
  const ExactAnswer a = query(p);
  expect_witness(p, a);
  EXPECT_TRUE(a.used_solver);
  const uint32_t w = static_cast<uint32_t>(a.witness->args[2]);
  EXPECT_EQ((w * 0x9e3779b1u) ^ 0x5bd1e995u, 0x12345678u);
  EXPECT_EQ(a.witness->args[2] >> 32, 0u);
  // Through M[], X and a join: ERRNO iff arg0 is odd and (arg0 ^ X) * K == C,
  // X = arg1 if arg2 > 100 else 3. (arg0 ^ X) must be Y (odd), so the X = 3
  // side is infeasible (arg0 = Y ^ 3 is even) and Z3 must pick arg2 > 100.
  constexpr uint32_t Y = 0x2468ace1, Kmul = 0x9e3779b1, C = Y * Kmul;
  const Program q = {
      ld(kArg0Lo),                                // 0
      stmt(ST, 0),                                // 1
      jump(JMP | JSET | K, 1, 0, 11),             // 2 -> 3 / 14
      ld(SD_OFF_ARGS + 16),                       // 3
      jump(JMP | JGT | K, 100, 0, 2),             // 4 -> 5 / 7
      ld(kArg1Lo),                                // 5
      jump(JMP | JA, 1, 0, 0),                    // 6 -> 8
      stmt(LD | IMM, 3),                          // 7
      stmt(MISC | TAX),                           // 8
      stmt(LD | MEM, 0),                          // 9
      stmt(ALU | XOR | X),                        // 10
      stmt(ALU | MUL | K, Kmul),                  // 11
      jump(JMP | JEQ | K, C, 0, 1),               // 12 -> 13 / 14
      ret(kErrno1),                               // 13
      ret(SECCOMP_RET_ALLOW),                     // 14
  };
  const ExactAnswer b = query(q);
  expect_witness(q, b);
  EXPECT_TRUE(b.used_solver);
  const uint32_t a0 = static_cast<uint32_t>(b.witness->args[0]);
  const uint32_t a1 = static_cast<uint32_t>(b.witness->args[1]);
  const uint32_t a2 = static_cast<uint32_t>(b.witness->args[2]);
  EXPECT_EQ(a0 & 1, 1u);
  EXPECT_GT(a2, 100u);
  EXPECT_EQ((a0 ^ a1) * Kmul, C);
}

TEST(Exact, ArgLoadedButBothBranchesAllow) {
  const Program p = {ld(kArg0Lo), jump(JMP | JEQ | K, 5, 0, 1), ret(SECCOMP_RET_ALLOW),
                     ret(SECCOMP_RET_ALLOW)};
  const ExactAnswer a = query(p);
  EXPECT_TRUE(a.const_allow);
  EXPECT_FALSE(a.witness.has_value());
}

TEST(Exact, ArgLoadedAndOverwritten) {
  // The arg value never reaches a decision: constant without the solver.
  const Program p = {ld(kArg0Lo), stmt(ALU | ADD | K, 3), ld(SD_OFF_NR),
                     jump(JMP | JEQ | K, 7, 0, 1), ret(kErrno1), ret(SECCOMP_RET_ALLOW)};
  ExactAnswer a = query(p, 1);
  EXPECT_TRUE(a.const_allow);
  EXPECT_FALSE(a.used_solver);
  a = query(p, 7);
  expect_witness(p, a, 7);
}

TEST(Exact, RetAAfterArgLoad) {
  // ret A of an arg: zero input returns KILL_THREAD.
  Program p = {ld(kArg0Lo), stmt(RET | A)};
  ExactAnswer a = query(p);
  expect_witness(p, a);
  EXPECT_EQ(a.witness_ret, SECCOMP_RET_KILL_THREAD);

  // A = arg | 0x7fff0000: ALLOW unless bit 31 of the arg is set.
  p = {ld(kArg0Lo), stmt(ALU | OR | K, 0x7fff0000), stmt(RET | A)};
  a = query(p);
  expect_witness(p, a);
  EXPECT_NE(a.witness->args[0] & 0x80000000u, 0u);

  // A = (arg & 0xffff) | 0x7fff0000: always ALLOW with data.
  p = {ld(kArg0Lo), stmt(ALU | AND | K, 0xffff), stmt(ALU | OR | K, 0x7fff0000), stmt(RET | A)};
  a = query(p);
  EXPECT_TRUE(a.const_allow);
  EXPECT_TRUE(a.used_solver);
}

TEST(Exact, AllowWithDataCountsAsAllow) {
  EXPECT_TRUE(query({ret(0x7fff0001)}).const_allow);
  EXPECT_TRUE(query({ret(0x7fffffff)}).const_allow);
  EXPECT_FALSE(query({ret(SECCOMP_RET_LOG)}).const_allow);
  EXPECT_FALSE(query({ret(0x7ffe0000)}).const_allow);  // unknown action (sorts below ALLOW)
  const Program p = {ld(kArg0Lo), jump(JMP | JGT | K, 9, 0, 1), ret(0x7fff0001),
                     ret(SECCOMP_RET_ALLOW)};
  EXPECT_TRUE(query(p).const_allow);
}

TEST(Exact, DivisionByArgZero) {
  // args[0] == 0 -> ALLOW; else A = 100 / args[1] and ALLOW: fails iff args[1] == 0.
  const Program p = {
      ld(kArg1Lo),                        // 0
      stmt(MISC | TAX),                   // 1 X = args[1]
      ld(kArg0Lo),                        // 2
      jump(JMP | JEQ | K, 0, 3, 0),       // 3 -> 7
      stmt(LD | IMM, 100),                // 4
      stmt(ALU | DIV | X),                // 5
      ret(SECCOMP_RET_ALLOW),             // 6
      ret(SECCOMP_RET_ALLOW),             // 7
  };
  const ExactAnswer a = query(p);
  expect_witness(p, a);
  EXPECT_NE(a.witness->args[0] & 0xffffffffu, 0u);
  EXPECT_EQ(a.witness->args[1] & 0xffffffffu, 0u);
  EXPECT_EQ(a.witness_ret, 0u);  // KILL_THREAD from the converted division

  // Division by the arg directly: the all-zero input divides by zero.
  const Program q = {ld(kArg1Lo), stmt(MISC | TAX), stmt(LD | IMM, 100), stmt(ALU | DIV | X),
                     ret(SECCOMP_RET_ALLOW)};
  const ExactAnswer b = query(q);
  expect_witness(q, b);
  EXPECT_EQ(b.witness->args[1] & 0xffffffffu, 0u);

  // X = args[1] | 1 is never zero.
  const Program r = {ld(kArg1Lo), stmt(ALU | OR | K, 1), stmt(MISC | TAX), stmt(LD | IMM, 100),
                     stmt(ALU | DIV | X), ret(SECCOMP_RET_ALLOW)};
  const ExactAnswer c = query(r);
  EXPECT_TRUE(c.const_allow);
  EXPECT_TRUE(c.used_solver);
}

TEST(Exact, HighWordOfArgs) {
  // libseccomp style 64-bit compare: args[0] == 0x1_00000005 -> ERRNO.
  const Program p = {
      ld(kArg0Hi),                          // 0
      jump(JMP | JEQ | K, 1, 0, 3),         // 1 -> 2 / 5
      ld(kArg0Lo),                          // 2
      jump(JMP | JEQ | K, 5, 0, 1),         // 3 -> 4 / 5
      ret(kErrno1),                         // 4
      ret(SECCOMP_RET_ALLOW),               // 5
  };
  const ExactAnswer a = query(p);
  expect_witness(p, a);
  EXPECT_EQ(a.witness->args[0], 0x100000005ull);
  // Only the high word checked.
  const Program q = {ld(SD_OFF_ARGS + 8 * 5 + 4), jump(JMP | JEQ | K, 0, 0, 1),
                     ret(SECCOMP_RET_ALLOW), ret(kErrno1)};
  const ExactAnswer b = query(q);
  expect_witness(q, b);
  EXPECT_NE(b.witness->args[5] >> 32, 0u);
  EXPECT_EQ(b.witness->args[5] & 0xffffffffu, 0u);  // words Z3 does not need are 0
}

TEST(Exact, InstructionPointer) {
  const Program p = {ld(SD_OFF_IP + 4), jump(JMP | JEQ | K, 0x7fff, 0, 1), ret(kErrno1),
                     ret(SECCOMP_RET_ALLOW)};
  const ExactAnswer a = query(p);
  expect_witness(p, a);
  EXPECT_EQ(a.witness->instruction_pointer >> 32, 0x7fffu);
  const Program q = {ld(SD_OFF_IP), jump(JMP | JGE | K, 0x1000, 1, 0), ret(SECCOMP_RET_ALLOW),
                     ret(kErrno1)};
  const ExactAnswer b = query(q);
  expect_witness(q, b);
  EXPECT_GE(b.witness->instruction_pointer & 0xffffffffu, 0x1000u);
}

TEST(Exact, ArchDependent) {
  // x86_64: nr 1 -> ERRNO, else ALLOW; anything else: args[0] == 0 -> ALLOW else KILL.
  const Program p = {
      ld(SD_OFF_ARCH),                                  // 0
      jump(JMP | JEQ | K, AUDIT_ARCH_X86_64, 0, 4),     // 1 -> 2 / 6
      ld(SD_OFF_NR),                                    // 2
      jump(JMP | JEQ | K, 1, 0, 1),                     // 3 -> 4 / 5
      ret(kErrno1),                                     // 4
      ret(SECCOMP_RET_ALLOW),                           // 5
      ld(kArg0Lo),                                      // 6
      jump(JMP | JEQ | K, 0, 1, 0),                     // 7 -> 9 / 8
      ret(SECCOMP_RET_KILL_PROCESS),                    // 8
      ret(SECCOMP_RET_ALLOW),                           // 9
  };
  EXPECT_TRUE(query(p, 0).const_allow);
  EXPECT_TRUE(query(p, 2).const_allow);
  ExactAnswer a = query(p, 1);
  expect_witness(p, a, 1);
  EXPECT_FALSE(a.used_solver);
  a = query(p, 0, AUDIT_ARCH_I386);
  expect_witness(p, a, 0, AUDIT_ARCH_I386);
  EXPECT_NE(a.witness->args[0] & 0xffffffffu, 0u);
  EXPECT_EQ(a.witness_ret, SECCOMP_RET_KILL_PROCESS);
}

TEST(Exact, JoinPointsMergeValues) {
  // A takes different values on two paths that join before ret A.
  const Program p = {
      ld(kArg0Lo),                                // 0
      jump(JMP | JSET | K, 1, 0, 2),              // 1 -> 2 / 4
      stmt(LD | IMM, kErrno1),                    // 2
      jump(JMP | JA, 1, 0, 0),                    // 3 -> 5
      stmt(LD | IMM, SECCOMP_RET_ALLOW),          // 4
      stmt(ST, 3),                                // 5 M[3] = A
      stmt(LDX | MEM, 3),                         // 6
      stmt(MISC | TXA),                           // 7
      stmt(RET | A),                              // 8
  };
  const ExactAnswer a = query(p);
  expect_witness(p, a);  // the zero input takes the ALLOW side
  EXPECT_EQ(a.witness->args[0] & 1u, 1u);
  EXPECT_EQ(a.witness_ret, kErrno1);
  // Odd args[0] and the ALLOW path: constant if the check is on the merged value.
  const Program q = {
      ld(kArg0Lo), jump(JMP | JSET | K, 1, 0, 2), stmt(LD | IMM, 5), jump(JMP | JA, 1, 0, 0),
      stmt(LD | IMM, 6), jump(JMP | JGE | K, 5, 0, 1), ret(SECCOMP_RET_ALLOW), ret(kErrno1),
  };
  const ExactAnswer b = query(q);
  EXPECT_TRUE(b.const_allow);
}

TEST(Exact, ShiftByXIsMasked) {
  // 1 << (args[0] & 31) == 2 -> ERRNO.
  const Program p = {ld(kArg0Lo), stmt(MISC | TAX), stmt(LD | IMM, 1), stmt(ALU | LSH | X),
                     jump(JMP | JEQ | K, 2, 0, 1), ret(kErrno1), ret(SECCOMP_RET_ALLOW)};
  const ExactAnswer a = query(p);
  expect_witness(p, a);
  EXPECT_EQ(a.witness->args[0] & 31u, 1u);
  // x >> 32 would be 0 in Z3 but is x >> 0 here: 0x10 >> (32 & 31) == 0x10.
  const Program q = {ld(kArg0Lo), stmt(MISC | TAX), jump(JMP | JEQ | K, 32, 0, 3),
                     stmt(LD | IMM, 0x10), stmt(ALU | RSH | X), jump(JMP | JEQ | K, 0x10, 0, 1),
                     ret(SECCOMP_RET_ALLOW), ret(kErrno1)};
  EXPECT_TRUE(query(q).const_allow);
}

TEST(Exact, LenLoadIs64) {
  const Program p = {stmt(LD | W | LEN), jump(JMP | JEQ | K, 64, 0, 1), ret(SECCOMP_RET_ALLOW),
                     ret(kErrno1)};
  EXPECT_TRUE(query(p).const_allow);
}

TEST(Exact, ChainIsConjunction) {
  const Program arg = {ld(kArg0Lo), jump(JMP | JEQ | K, 0, 0, 1), ret(SECCOMP_RET_ALLOW),
                       ret(kErrno1)};
  const Program allow = {ret(SECCOMP_RET_ALLOW)};
  const Program trace = {ret(SECCOMP_RET_TRACE | 7)};
  FilterChain c = make_chain({allow, allow});
  EXPECT_TRUE(exact_const_allow(c, AUDIT_ARCH_X86_64, 3).const_allow);

  c = make_chain({arg, allow});
  ExactAnswer a = exact_const_allow(c, AUDIT_ARCH_X86_64, 3);
  ASSERT_FALSE(a.const_allow);
  EXPECT_EQ(a.witness_filter, 0);
  EXPECT_EQ(a.witness_ret, kErrno1);
  EXPECT_EQ(seccomp_run_filters(c, *a.witness).ret, a.witness_ret);

  // The first failing filter (oldest first) gives the witness; the chain's
  // combined value is reported.
  c = make_chain({allow, trace, arg});
  a = exact_const_allow(c, AUDIT_ARCH_X86_64, 3);
  ASSERT_FALSE(a.const_allow);
  EXPECT_EQ(a.witness_filter, 1);
  EXPECT_EQ(a.witness_ret, SECCOMP_RET_TRACE | 7);  // args all zero: arg allows, TRACE wins
}

TEST(Exact, BitmapAndAnswers) {
  // nr < 10 ALLOW, nr 10..19 depend on args[2], rest ERRNO.
  const Program p = {
      ld(SD_OFF_NR),                           // 0
      jump(JMP | JGE | K, 10, 1, 0),           // 1 -> 3 / 2
      ret(SECCOMP_RET_ALLOW),                  // 2
      jump(JMP | JGE | K, 20, 3, 0),           // 3 -> 7 / 4
      ld(SD_OFF_ARGS + 16),                    // 4
      jump(JMP | JEQ | K, 42, 1, 0),           // 5 -> 7 / 6
      ret(SECCOMP_RET_ALLOW),                  // 6
      ret(kErrno1),                            // 7
  };
  const FilterChain c = make_chain({p});
  std::vector<ExactAnswer> ans;
  const Bitmap bm = exact_bitmap(c, CacheArch::Compat, 30, &ans);
  ASSERT_EQ(bm.size(), 30u);
  ASSERT_EQ(ans.size(), 30u);
  for (int nr = 0; nr < 30; nr++) {
    EXPECT_EQ(bm[nr], nr < 10) << nr;
    EXPECT_EQ(ans[nr].const_allow, bm[nr]);
    if (nr >= 10 && nr < 20) {
      ASSERT_TRUE(ans[nr].witness);
      EXPECT_EQ(ans[nr].witness->args[2] & 0xffffffffu, 42u);
      EXPECT_EQ(ans[nr].witness->arch, AUDIT_ARCH_I386);
      EXPECT_EQ(ans[nr].witness->nr, nr);  // shared (cached) argument check, own nr
    }
  }
}

TEST(Exact, NegativeAndX32Numbers) {
  const Program p = {ld(SD_OFF_NR), jump(JMP | JGE | K, 0x40000000, 0, 1), ret(kErrno1),
                     ret(SECCOMP_RET_ALLOW)};
  EXPECT_TRUE(query(p, 5).const_allow);
  expect_witness(p, query(p, -1), -1);
  expect_witness(p, query(p, 0x40000001), 0x40000001);
}

TEST(Exact, ModelAnswersFromTheExactSet) {
  const KernelProfile& k = default_kernel_profile();
  const Program p = {
      ld(SD_OFF_ARCH),                                  // 0
      jump(JMP | JEQ | K, AUDIT_ARCH_X86_64, 0, 5),     // 1 -> 2 / 7
      ld(SD_OFF_NR),                                    // 2
      jump(JMP | JEQ | K, 39, 0, 1),                    // 3 -> 4 / 5
      ret(SECCOMP_RET_ALLOW),                           // 4
      jump(JMP | JEQ | K, 60, 1, 0),                    // 5 -> 7 / 6
      ret(0x7fff0002),                                  // 6
      ret(kErrno1),                                     // 7
  };
  FilterChain c;
  std::unique_ptr<CacheModel> m = make_exact_model(k);
  EXPECT_EQ(m->name(), "exact");
  ASSERT_TRUE(c.install(p, 0).ok());
  ASSERT_EQ(m->on_attach(c), 0);
  SeccompData sd;
  sd.nr = 39;
  EXPECT_TRUE(m->lookup(sd));
  sd.nr = 60;
  EXPECT_FALSE(m->lookup(sd));
  sd.nr = 61;
  EXPECT_TRUE(m->lookup(sd));  // ALLOW with data is constant ALLOW
  sd.nr = 39 | static_cast<int32_t>(X32_SYSCALL_BIT);
  EXPECT_FALSE(m->lookup(sd));
  sd.nr = -1;
  EXPECT_FALSE(m->lookup(sd));
  sd.nr = 39;
  sd.arch = 0xdeadbeef;
  EXPECT_FALSE(m->lookup(sd));
  sd.arch = AUDIT_ARCH_I386;
  EXPECT_FALSE(m->lookup(sd));

  Bitmap n = m->bitmap(CacheArch::Native), cp = m->bitmap(CacheArch::Compat);
  ASSERT_EQ(n.size(), static_cast<size_t>(k.native_nr));
  ASSERT_EQ(cp.size(), static_cast<size_t>(k.compat_nr));
  EXPECT_EQ(n, exact_bitmap(c, CacheArch::Native, k.native_nr));
  EXPECT_EQ(std::count(cp.begin(), cp.end(), true), 0);
  EXPECT_EQ(std::count(n.begin(), n.end(), true), k.native_nr - 1);

  // Stacking a filter that denies nr 39 for everyone.
  const Program q = {ld(SD_OFF_NR), jump(JMP | JEQ | K, 39, 0, 1), ret(kErrno1),
                     ret(SECCOMP_RET_ALLOW)};
  ASSERT_TRUE(c.install(q, 0).ok());
  ASSERT_EQ(m->on_attach(c), 0);
  sd.arch = AUDIT_ARCH_X86_64;
  EXPECT_FALSE(m->lookup(sd));
  sd.nr = 61;
  EXPECT_TRUE(m->lookup(sd));
  EXPECT_EQ(m->bitmap(CacheArch::Native), exact_bitmap(c, CacheArch::Native, k.native_nr));

  // Replaying into a fresh model gives the same bitmaps.
  std::unique_ptr<CacheModel> m2 = make_cache_model("exact", k);
  ASSERT_TRUE(m2);
  EXPECT_FALSE(replay_attach(*m2, c).has_value());
  EXPECT_EQ(m2->bitmap(CacheArch::Native), m->bitmap(CacheArch::Native));
}

TEST(Exact, LinuxBitmapIsSubsetOfExact) {
  // A libseccomp-like filter; the kernel's cache must never claim more than
  // exact (except its deliberate uprobe exceptions).
  const KernelProfile& k = default_kernel_profile();
  const Program p = {
      ld(SD_OFF_ARCH),                                  // 0
      jump(JMP | JEQ | K, AUDIT_ARCH_X86_64, 0, 9),     // 1 -> 2 / 11
      ld(SD_OFF_NR),                                    // 2
      jump(JMP | JGE | K, 0x40000000, 8, 0),            // 3 -> 12
      jump(JMP | JEQ | K, 41, 0, 4),                    // 4 -> 5 / 9
      ld(kArg0Hi),                                      // 5
      jump(JMP | JEQ | K, 0, 0, 5),                     // 6 -> 7 / 12
      ld(kArg0Lo),                                      // 7
      jump(JMP | JEQ | K, 40, 3, 2),                    // 8 -> 12 / 11
      jump(JMP | JGT | K, 300, 1, 0),                   // 9 -> 11 / 10
      jump(JMP | JA, 0, 0, 0),                          // 10 -> 11
      ret(SECCOMP_RET_ALLOW),                           // 11
      ret(kErrno1),                                     // 12
  };
  const FilterChain c = make_chain({p});
  std::unique_ptr<CacheModel> lin = make_linux_model(k);
  ASSERT_EQ(lin->on_attach(c), 0);
  for (CacheArch a : kCacheArches) {
    const int size = a == CacheArch::Native ? k.native_nr : k.compat_nr;
    const Bitmap e = exact_bitmap(c, a, size);
    const Bitmap l = lin->bitmap(a);
    for (int nr = 0; nr < size; nr++) {
      const bool excused = a == CacheArch::Native && ((k.uretprobe_exception && nr == 335) ||
                                                      (k.uprobe_exception && nr == 336));
      if (l[nr] && !excused) {
        EXPECT_TRUE(e[nr]) << nr;
      }
    }
    if (a == CacheArch::Native) {
      EXPECT_FALSE(e[41]);  // socket(40, ...) -> ERRNO
      EXPECT_TRUE(e[300]);
      EXPECT_TRUE(e[301]);
      EXPECT_EQ(l[41], false);
    } else {
      EXPECT_TRUE(e[5]);    // foreign arch path is ALLOW
    }
  }
}

TEST(Exact, ManySymbolicDiamondsStayLinear) {
  // 100 diamonds each adding 1 to a counter when a free-word bit is set, then
  // ERRNO iff the count is exactly 7: 2^100 paths, but a linear formula.
  Program p;
  p.push_back(stmt(LD | IMM, 0));
  p.push_back(stmt(ST, 0));
  const int kDiamonds = 100;
  for (int i = 0; i < kDiamonds; i++) {
    const uint32_t word = SD_OFF_IP + 4 * (i % 14);
    p.push_back(ld(word));
    p.push_back(jump(JMP | JSET | K, 1u << (i / 14 % 32), 0, 3));
    p.push_back(stmt(LD | MEM, 0));
    p.push_back(stmt(ALU | ADD | K, 1));
    p.push_back(stmt(ST, 0));
  }
  p.push_back(stmt(LD | MEM, 0));
  p.push_back(jump(JMP | JEQ | K, 7, 0, 1));
  p.push_back(ret(kErrno1));
  p.push_back(ret(SECCOMP_RET_ALLOW));
  const auto t0 = std::chrono::steady_clock::now();
  const ExactAnswer a = query(p);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  expect_witness(p, a);
  EXPECT_LT(secs, 30.0);
}

// ---------------------------------------------------------------------------
// Randomized cross-check against bpf_run.

struct Gen {
  std::mt19937_64 rng;
  // When set, free words are only these two offsets, each load masked to 4
  // bits right away: 256 distinct inputs, so answers can be checked exhaustively.
  bool masked = false;
  uint32_t mw[2] = {SD_OFF_ARGS, SD_OFF_IP};
  uint32_t mask = 0xf;
  uint32_t allow_pct = 0;  // extra probability of RET ALLOW
  bool load_first = false;  // start with a (masked) free-word load

  explicit Gen(uint64_t seed) : rng(seed) {}
  uint32_t u(uint32_t n) { return static_cast<uint32_t>(rng() % n); }
  bool coin(uint32_t pct) { return u(100) < pct; }

  uint32_t constant() {
    static const uint32_t kVals[] = {0, 1, 2, 3, 5, 7, 8, 0xff, 0x7fff0000, 0x80000000,
                                     0xffffffff, 0x10, 39, 60};
    return coin(70) ? kVals[u(std::size(kVals))] : static_cast<uint32_t>(rng());
  }
  uint32_t ret_value() {
    if (coin(allow_pct)) return SECCOMP_RET_ALLOW;
    static const uint32_t kRets[] = {SECCOMP_RET_ALLOW, SECCOMP_RET_ALLOW, SECCOMP_RET_ALLOW,
                                     0x7fff0003, SECCOMP_RET_ERRNO | 1, SECCOMP_RET_LOG,
                                     SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_TRAP};
    return kRets[u(std::size(kRets))];
  }

  // A random program that passes the validator most of the time (M[] is
  // initialised up front, jumps go forward, the last insn is a RET).
  Program program() {
    const int n = 4 + static_cast<int>(u(26));
    Program p;
    const int nmem = static_cast<int>(u(3));
    if (load_first) {
      p.push_back(ld(mw[0]));
      p.push_back(stmt(ALU | AND | K, mask));
    }
    for (int i = 0; i < nmem; i++) {
      p.push_back(stmt(LD | IMM, constant()));
      p.push_back(stmt(ST, static_cast<uint32_t>(i)));
    }
    while (static_cast<int>(p.size()) < n - 1) {
      const int pc = static_cast<int>(p.size());
      const int room = n - 1 - pc;  // instructions after this one, minus the final RET
      switch (u(12)) {
        case 0:
        case 1:
          if (masked) {
            p.push_back(ld(mw[u(2)]));
            p.push_back(stmt(ALU | AND | K, mask));
          } else {
            p.push_back(ld(4 * u(16)));
          }
          break;
        case 2:
          p.push_back(ld(coin(50) ? SD_OFF_NR : SD_OFF_ARCH));
          break;
        case 3: {
          static const uint16_t kOps[] = {ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, XOR};
          const uint16_t op = kOps[u(std::size(kOps))];
          const bool x = coin(40);
          uint32_t k = constant();
          if (op == DIV && k == 0) k = 3;
          if (op == LSH || op == RSH) k &= 31;
          p.push_back(stmt(ALU | op | (x ? X : K), x ? 0 : k));
          break;
        }
        case 4:
          p.push_back(coin(50) ? stmt(MISC | TAX) : stmt(MISC | TXA));
          break;
        case 5:
          if (nmem > 0) p.push_back(stmt(coin(50) ? LD | MEM : LDX | MEM, u(nmem)));
          else p.push_back(stmt(LDX | IMM, constant()));
          break;
        case 6:
          if (nmem > 0) p.push_back(stmt(coin(50) ? ST : STX, u(nmem)));
          else p.push_back(stmt(ALU | NEG));
          break;
        case 7:
          p.push_back(ret(ret_value()));
          break;
        case 8:
          p.push_back(stmt(LDX | IMM, constant()));
          break;
        default: {
          static const uint16_t kJ[] = {JEQ, JGT, JGE, JSET};
          const uint16_t op = kJ[u(4)];
          const bool x = coin(25);
          const uint8_t jt = static_cast<uint8_t>(u(room));  // target <= the final RET
          const uint8_t jf = static_cast<uint8_t>(u(room));
          p.push_back(jump(JMP | op | (x ? X : K), x ? 0 : constant(), jt, jf));
          break;
        }
      }
    }
    p.push_back(coin(80) ? ret(ret_value()) : stmt(RET | A));
    return p;
  }
};

TEST(Exact, RandomizedCrossCheckWithInterpreter) {
  Gen g(20240917);
  int checked = 0, constant = 0, solver = 0;
  for (int iter = 0; iter < 1500; iter++) {
    const Program p = g.program();
    FilterChain c;
    if (!c.install(p, 0).ok()) continue;
    const Program& insns = c.filters()[0].insns;
    // Constants of the program, +-1, as interesting input words.
    std::vector<uint32_t> consts = {0, 1, 0xffffffff, 0x80000000};
    for (const Insn& in : insns)
      for (int d = -1; d <= 1; d++) consts.push_back(in.k + static_cast<uint32_t>(d));
    for (int q = 0; q < 3; q++) {
      const int32_t nr = q == 0 ? 0 : static_cast<int32_t>(consts[g.u(consts.size())]);
      const uint32_t arch = g.coin(70) ? AUDIT_ARCH_X86_64 : AUDIT_ARCH_I386;
      const ExactAnswer a = exact_const_allow(insns, arch, nr);
      checked++;
      solver += a.used_solver;
      if (!a.const_allow) {
        ASSERT_TRUE(a.witness);
        EXPECT_EQ(a.witness->nr, nr);
        EXPECT_FALSE(is_allow(bpf_run(insns, *a.witness)));
        continue;
      }
      constant++;
      SeccompData sd;
      sd.nr = nr;
      sd.arch = arch;
      for (int t = 0; t < 10000; t++) {
        for (uint32_t off = SD_OFF_IP; off < SECCOMP_DATA_SIZE; off += 4) {
          const uint32_t w = g.coin(50) ? static_cast<uint32_t>(g.rng())
                                        : consts[g.u(static_cast<uint32_t>(consts.size()))];
          sd.set_word(off, w);
        }
        const uint32_t r = bpf_run(insns, sd);
        ASSERT_TRUE(is_allow(r)) << "iter " << iter << " nr " << nr << " ret " << std::hex << r;
      }
    }
  }
  // The generator must exercise both answers and the solver.
  EXPECT_GT(checked, 1000);
  EXPECT_GT(constant, 100);
  EXPECT_GT(solver, 5);
  EXPECT_GT(checked - constant, 100);
}

// Both directions checked against the complete truth table: two words of 4
// bits, or one word of 8 bits (allow-heavy, and in the last variant always
// loaded first, so that Z3 has more to prove).
class ExactMasked : public ::testing::TestWithParam<int> {};

TEST_P(ExactMasked, RandomizedInputsExhaustive) {
  const int variant = GetParam();
  const bool one_word = variant > 0;
  Gen g(77 + static_cast<uint64_t>(variant));
  g.masked = true;
  if (one_word) {
    g.mask = 0xff;
    g.allow_pct = variant == 1 ? 60 : 85;
    g.load_first = variant == 2;
  }
  int checked = 0, constant = 0, solver = 0;
  for (int iter = 0; iter < 2000; iter++) {
    g.mw[0] = SD_OFF_IP + 4 * g.u(14);
    g.mw[1] = one_word ? g.mw[0] : SD_OFF_IP + 4 * g.u(14);
    const Program p = g.program();
    FilterChain c;
    if (!c.install(p, 0).ok()) continue;
    const Program& insns = c.filters()[0].insns;
    for (int q = 0; q < 2; q++) {
      const int32_t nr = q == 0 ? 0 : static_cast<int32_t>(g.u(70));
      const uint32_t arch = g.coin(70) ? AUDIT_ARCH_X86_64 : AUDIT_ARCH_I386;
      const ExactAnswer a = exact_const_allow(insns, arch, nr);
      SeccompData sd;
      sd.nr = nr;
      sd.arch = arch;
      bool all_allow = true;
      for (uint32_t v = 0; v < 256 && all_allow; v++) {
        for (uint32_t off = SD_OFF_IP; off < SECCOMP_DATA_SIZE; off += 4)
          sd.set_word(off, static_cast<uint32_t>(g.rng()));  // unmasked bits: noise
        const uint32_t noise = static_cast<uint32_t>(g.rng()) & ~g.mask;
        if (one_word) {
          sd.set_word(g.mw[0], v | noise);
        } else {
          sd.set_word(g.mw[0], (v & 0xf) | noise);
          if (g.mw[1] != g.mw[0]) sd.set_word(g.mw[1], (v >> 4) | noise);
        }
        all_allow = is_allow(bpf_run(insns, sd));
      }
      ASSERT_EQ(a.const_allow, all_allow) << "iter " << iter << " nr " << nr;
      if (!a.const_allow) {
        EXPECT_FALSE(is_allow(bpf_run(insns, *a.witness)));
      }
      checked++;
      constant += a.const_allow;
      solver += a.used_solver;
    }
  }
  EXPECT_GT(checked, 2000);
  EXPECT_GT(constant, 200);
  EXPECT_GT(checked - constant, 200);
  EXPECT_GT(solver, 5);
}

std::string masked_name(const ::testing::TestParamInfo<int>& info) {
  static const char* const kNames[] = {"TwoWords4Bits", "OneWord8Bits", "OneWord8BitsLoadFirst"};
  return kNames[info.param];
}
INSTANTIATE_TEST_SUITE_P(Exact, ExactMasked, ::testing::Values(0, 1, 2), masked_name);

}  // namespace
}  // namespace secdiff
