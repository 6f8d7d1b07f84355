// The converted-program semantics (kernel-seccomp.md §4.3), one rule per test.
#include <gtest/gtest.h>

#include "common/bpf_build.h"
#include "oracle/interpreter.h"
#include "oracle/validator.h"

namespace secdiff {
namespace {

using namespace testing;
using namespace bpf;
using namespace op;

uint32_t run(Program p, const SeccompData& sd = {}) {
  Filter f;
  const LoadResult r = seccomp_prepare_filter(p, 0, {}, &f);
  EXPECT_TRUE(r.ok()) << r.reason;
  return bpf_run(f.insns, sd);
}

TEST(BpfRun, InitialRegistersAreZero) {
  EXPECT_EQ(run({STMT(RET_A, 0)}), 0u);
  EXPECT_EQ(run({STMT(MISC | TXA, 0), STMT(RET_A, 0)}), 0u);
}

TEST(BpfRun, LoadsReadLittleEndianWords) {
  const SeccompData sd = sd_of(110, AUDIT_ARCH_X86_64, {0x0000012300000456ull}, 0xdeadbeef12345678ull);
  EXPECT_EQ(run({STMT(LD_ABS, 0), STMT(RET_A, 0)}, sd), 110u);
  EXPECT_EQ(run({STMT(LD_ABS, 4), STMT(RET_A, 0)}, sd), AUDIT_ARCH_X86_64);
  EXPECT_EQ(run({STMT(LD_ABS, 8), STMT(RET_A, 0)}, sd), 0x12345678u);
  EXPECT_EQ(run({STMT(LD_ABS, 12), STMT(RET_A, 0)}, sd), 0xdeadbeefu);
  EXPECT_EQ(run({STMT(LD_ABS, 16), STMT(RET_A, 0)}, sd), 0x456u);
  EXPECT_EQ(run({STMT(LD_ABS, 20), STMT(RET_A, 0)}, sd), 0x123u);
  EXPECT_EQ(run({STMT(LD_ABS, 0), STMT(RET_A, 0)}, sd_of(-1)), 0xffffffffu);
}

TEST(BpfRun, LenIs64) {
  EXPECT_EQ(run({STMT(LD_LEN, 0), STMT(RET_A, 0)}), 64u);
  EXPECT_EQ(run({STMT(LDX_LEN, 0), STMT(MISC | TXA, 0), STMT(RET_A, 0)}), 64u);
}

TEST(BpfRun, AluWrapsAt32Bits) {
  EXPECT_EQ(run({STMT(LD_IMM, 0x80000001), STMT(ALU | MUL | K, 2), STMT(RET_A, 0)}), 2u);
  EXPECT_EQ(run({STMT(LD_IMM, 0xffffffff), STMT(ALU | ADD | K, 2), STMT(RET_A, 0)}), 1u);
  EXPECT_EQ(run({STMT(LD_IMM, 0), STMT(ALU | SUB | K, 1), STMT(RET_A, 0)}), 0xffffffffu);
  EXPECT_EQ(run({STMT(LD_IMM, 1), STMT(ALU | NEG, 0), STMT(ALU | AND | K, 0xfff), STMT(RET_A, 0)}),
            4095u);
  EXPECT_EQ(run({STMT(LD_IMM, 0xf0), STMT(ALU | XOR | K, 0xff), STMT(ALU | OR | K, 0x100),
                 STMT(RET_A, 0)}),
            0x10fu);
  EXPECT_EQ(run({STMT(LD_IMM, 7), STMT(ALU | DIV | K, 2), STMT(RET_A, 0)}), 3u);
  EXPECT_EQ(run({STMT(LD_IMM, 0xfffffffe), STMT(ALU | DIV | K, 0xffffffff), STMT(RET_A, 0)}), 0u);
}

TEST(BpfRun, ShiftsByXAreMaskedTo31) {
  // Measured on 6.18: 1<<33 -> 2, 5<<32 -> 5, 4>>33 -> 2.
  EXPECT_EQ(run({STMT(LD_IMM, 1), STMT(LDX_IMM, 33), STMT(ALU | LSH | X, 0), STMT(RET_A, 0)}), 2u);
  EXPECT_EQ(run({STMT(LD_IMM, 5), STMT(LDX_IMM, 32), STMT(ALU | LSH | X, 0), STMT(RET_A, 0)}), 5u);
  EXPECT_EQ(run({STMT(LD_IMM, 4), STMT(LDX_IMM, 33), STMT(ALU | RSH | X, 0), STMT(RET_A, 0)}), 2u);
  EXPECT_EQ(run({STMT(LD_IMM, 1), STMT(ALU | LSH | K, 31), STMT(RET_A, 0)}), 0x80000000u);
}

TEST(BpfRun, DivisionByXZeroReturnsZero) {
  EXPECT_EQ(run({STMT(LD_IMM, 5), STMT(ALU | DIV | X, 0), STMT(RET_K, SECCOMP_RET_ALLOW)}), 0u);
  EXPECT_EQ(run({STMT(LD_IMM, 9), STMT(LDX_IMM, 2), STMT(ALU | DIV | X, 0), STMT(RET_A, 0)}), 4u);
}

TEST(BpfRun, ComparesAreUnsigned) {
  // 5 >= 0xfffffff0 is false (measured).
  const Program p = {STMT(LD_IMM, 5), JUMP(JGE_K, 0xfffffff0, 0, 1), STMT(RET_K, 1),
                     STMT(RET_K, 2)};
  EXPECT_EQ(run(p), 2u);
  const Program q = {STMT(LD_IMM, 0xffffffff), JUMP(JGT_K, 1, 0, 1), STMT(RET_K, 1),
                     STMT(RET_K, 2)};
  EXPECT_EQ(run(q), 1u);
  const Program x = {STMT(LD_IMM, 3), STMT(LDX_IMM, 0x80000000), JUMP(JMP | JGT | X, 0, 0, 1),
                     STMT(RET_K, 1), STMT(RET_K, 2)};
  EXPECT_EQ(run(x), 2u);
}

TEST(BpfRun, JsetTestsAnyCommonBit) {
  const Program p = {STMT(LD_ABS, 16), JUMP(JSET_K, 0x6, 0, 1), STMT(RET_K, 1), STMT(RET_K, 2)};
  EXPECT_EQ(run(p, sd_of(0, AUDIT_ARCH_X86_64, {4})), 1u);
  EXPECT_EQ(run(p, sd_of(0, AUDIT_ARCH_X86_64, {9})), 2u);
}

TEST(BpfRun, TaxTxaDirection) {
  // TAX: X = A; TXA: A = X (gVisor has them reversed).
  EXPECT_EQ(run({STMT(LD_IMM, 7), STMT(MISC | TAX, 0), STMT(LD_IMM, 0), STMT(MISC | TXA, 0),
                 STMT(RET_A, 0)}),
            7u);
}

TEST(BpfRun, ScratchMemory) {
  EXPECT_EQ(run({STMT(LD_IMM, 11), STMT(ST, 15), STMT(LD_IMM, 0), STMT(LDX_MEM, 15),
                 STMT(MISC | TXA, 0), STMT(RET_A, 0)}),
            11u);
}

TEST(BpfRun, JumpsAreRelative) {
  const Program p = {STMT(JA_, 2), STMT(RET_K, 1), STMT(RET_K, 2), STMT(RET_K, 3)};
  EXPECT_EQ(run(p), 3u);
}

TEST(BpfRun, TraceAndCoverage) {
  Filter f;
  ASSERT_TRUE(seccomp_prepare_filter({STMT(LD_ABS, 0), JUMP(JEQ_K, 39, 0, 1),
                                      STMT(RET_K, SECCOMP_RET_ALLOW), STMT(RET_K, 0)},
                                     0, {}, &f)
                  .ok());
  Trace t;
  EXPECT_EQ(bpf_run_traced(f.insns, sd_of(39), &t), SECCOMP_RET_ALLOW);
  ASSERT_EQ(t.steps.size(), 3u);
  EXPECT_EQ(t.steps[0].a, 39u);
  EXPECT_TRUE(t.steps[1].branch_taken);
  EXPECT_EQ(t.steps[2].pc, 2u);
  uint8_t cov[4] = {};
  bpf_run_cov(f.insns, sd_of(1), cov);
  EXPECT_EQ(cov[0], 1);
  EXPECT_EQ(cov[1], 1 | 4);
  EXPECT_EQ(cov[2], 0);
  EXPECT_EQ(cov[3], 1);
}

}  // namespace
}  // namespace secdiff
