// Table tests for load-time validation, one group per kernel function.
#include <gtest/gtest.h>

#include <cerrno>

#include "common/bpf_build.h"
#include "oracle/validator.h"

namespace secdiff {
namespace {

using namespace testing;
using namespace bpf;
using namespace op;

const Insn kAllow = STMT(RET_K, SECCOMP_RET_ALLOW);

struct Case {
  const char* name;
  Program prog;
  uint32_t flags;
  int err;
  Rule rule;
  int insn;
};

LoadResult load(const Program& p, uint32_t flags = 0, LoadEnv env = {}) {
  FilterChain c;
  return c.install(p, flags, env);
}

void run_table(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const LoadResult r = load(c.prog, c.flags);
    EXPECT_EQ(r.err, c.err) << r.reason;
    EXPECT_EQ(r.rule, c.rule) << rule_name(r.rule) << ": " << r.reason;
    EXPECT_EQ(r.insn, c.insn);
  }
}

// seccomp_set_mode_filter(): flag checks come first.
TEST(SeccompSetModeFilter, Flags) {
  const Program ok = {kAllow};
  run_table({
      {"no flags", ok, 0, 0, Rule::None, -1},
      {"tsync", ok, SECCOMP_FILTER_FLAG_TSYNC, 0, Rule::None, -1},
      {"log", ok, SECCOMP_FILTER_FLAG_LOG, 0, Rule::None, -1},
      {"spec_allow", ok, SECCOMP_FILTER_FLAG_SPEC_ALLOW, 0, Rule::None, -1},
      {"new_listener", ok, SECCOMP_FILTER_FLAG_NEW_LISTENER, 0, Rule::None, -1},
      {"tsync_esrch", ok, SECCOMP_FILTER_FLAG_TSYNC_ESRCH, 0, Rule::None, -1},
      {"killable alone", ok, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, EINVAL,
       Rule::FlagsKillableRecv, -1},
      {"killable+listener", ok,
       SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV | SECCOMP_FILTER_FLAG_NEW_LISTENER, 0, Rule::None, -1},
      {"bit 6", ok, 1u << 6, EINVAL, Rule::FlagsUnknown, -1},
      {"bit 31", ok, 1u << 31, EINVAL, Rule::FlagsUnknown, -1},
      {"tsync+listener", ok, SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_NEW_LISTENER, EINVAL,
       Rule::FlagsTsyncListener, -1},
      {"tsync+listener+esrch", ok,
       SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_NEW_LISTENER |
           SECCOMP_FILTER_FLAG_TSYNC_ESRCH,
       0, Rule::None, -1},
      // Flags are checked before the program: a bad program with a bad flag is a flag error.
      {"flag before length", {}, 1u << 7, EINVAL, Rule::FlagsUnknown, -1},
  });
}

// seccomp_prepare_filter(): length, then the privilege check, then the program.
TEST(SeccompPrepareFilter, LengthAndPrivilegeOrder) {
  EXPECT_EQ(load({}).rule, Rule::Length);
  EXPECT_EQ(load(Program(4097, kAllow)).rule, Rule::Length);
  EXPECT_TRUE(load(Program(4096, kAllow)).ok());
  LoadEnv unpriv;
  unpriv.no_new_privs = false;
  unpriv.cap_sys_admin = false;
  // Measured on 6.18: len 0 -> EINVAL, bad opcode -> EACCES, valid -> EACCES.
  EXPECT_EQ(load({}, 0, unpriv).err, EINVAL);
  EXPECT_EQ(load({STMT(0xffff, 0)}, 0, unpriv).err, EACCES);
  EXPECT_EQ(load({kAllow}, 0, unpriv).err, EACCES);
  EXPECT_EQ(load({kAllow}, 0, unpriv).rule, Rule::Privilege);
  LoadEnv admin = unpriv;
  admin.cap_sys_admin = true;
  EXPECT_TRUE(load({kAllow}, 0, admin).ok());
}

// bpf_check_classic(): per-instruction checks in order, then the last-insn rule.
TEST(BpfCheckClassic, InstructionRules) {
  run_table({
      {"unknown opcode", {STMT(0x0f, 0), kAllow}, 0, EINVAL, Rule::OpcodeUnknown, 0},
      {"high code bits", {STMT(0x106, 0)}, 0, EINVAL, Rule::OpcodeUnknown, 0},
      {"internal LDX W ABS", {STMT(LDX_W_ABS, 0), kAllow}, 0, EINVAL, Rule::OpcodeUnknown, 0},
      {"ret x", {STMT(RET | 0x08, 0)}, 0, EINVAL, Rule::OpcodeUnknown, 0},
      {"neg|x", {STMT(ALU | NEG | X, 0), kAllow}, 0, EINVAL, Rule::OpcodeUnknown, 0},
      {"div k 0", {STMT(ALU | DIV | K, 0), kAllow}, 0, EINVAL, Rule::DivByZero, 0},
      {"mod k 0 (classic check first)", {STMT(ALU | MOD | K, 0), kAllow}, 0, EINVAL,
       Rule::DivByZero, 0},
      {"lsh 31 ok", {STMT(ALU | LSH | K, 31), kAllow}, 0, 0, Rule::None, -1},
      {"lsh 32", {STMT(ALU | LSH | K, 32), kAllow}, 0, EINVAL, Rule::ShiftTooLarge, 0},
      {"rsh 33", {STMT(ALU | RSH | K, 33), kAllow}, 0, EINVAL, Rule::ShiftTooLarge, 0},
      {"st M[16]", {STMT(ST, 16), kAllow}, 0, EINVAL, Rule::MemIndex, 0},
      {"ldx M[99]", {STMT(LDX_MEM, 99), kAllow}, 0, EINVAL, Rule::MemIndex, 0},
      {"ja to last ok", {STMT(JA_, 1), STMT(LD_IMM, 0), kAllow}, 0, 0, Rule::None, -1},
      {"ja past end", {STMT(JA_, 2), STMT(LD_IMM, 0), kAllow}, 0, EINVAL, Rule::JaOutOfRange, 0},
      {"ja 0xffffffff", {STMT(JA_, 0xffffffff), kAllow}, 0, EINVAL, Rule::JaOutOfRange, 0},
      {"ja 0 ok", {STMT(JA_, 0), kAllow}, 0, 0, Rule::None, -1},
      {"jeq jt past end", {JUMP(JEQ_K, 0, 1, 0), kAllow}, 0, EINVAL, Rule::JumpOutOfRange, 0},
      {"jeq jf past end", {JUMP(JEQ_K, 0, 0, 1), kAllow}, 0, EINVAL, Rule::JumpOutOfRange, 0},
      {"jset x past end", {JUMP(JMP | JSET | X, 0, 3, 0), kAllow}, 0, EINVAL,
       Rule::JumpOutOfRange, 0},
      {"ancillary known -> seccomp rejects", {STMT(LD_ABS, SKF_AD_OFF + 4), kAllow}, 0, EINVAL,
       Rule::AbsOffset, 0},
      {"ancillary unknown", {STMT(LD_ABS, SKF_AD_OFF + 64), kAllow}, 0, EINVAL,
       Rule::AncillaryUnknown, 0},
      {"ld h ancillary unknown", {STMT(LD | H | ABS, 0xfffffffe), kAllow}, 0, EINVAL,
       Rule::AncillaryUnknown, 0},
      {"last not ret", {STMT(LD_IMM, 0)}, 0, EINVAL, Rule::LastNotRet, 0},
      {"last is ret a", {STMT(LD_IMM, 0), STMT(RET_A, 0)}, 0, 0, Rule::None, -1},
      // Order: an earlier instruction's failure wins over a later one's.
      {"first failure wins", {STMT(ALU | DIV | K, 0), STMT(0xffff, 0), kAllow}, 0, EINVAL,
       Rule::DivByZero, 0},
      // jt/jf/k of instructions that do not use them are ignored (measured).
      {"ret with jt/jf", {Insn{RET_K, 5, 5, SECCOMP_RET_ALLOW}}, 0, 0, Rule::None, -1},
      {"ld imm jt 200", {Insn{LD_IMM, 200, 0, 1}, kAllow}, 0, 0, Rule::None, -1},
  });
}

// check_load_and_stores(): the linear algorithm and its RET quirk.
TEST(CheckLoadAndStores, LinearDataFlow) {
  run_table({
      {"load before store", {STMT(LD_MEM, 0), kAllow}, 0, EINVAL, Rule::LoadBeforeStore, 0},
      {"store then load", {STMT(ST, 3), STMT(LDX_MEM, 3), kAllow}, 0, 0, Rule::None, -1},
      {"stx then load", {STMT(STX, 15), STMT(LD_MEM, 15), kAllow}, 0, 0, Rule::None, -1},
      // Measured on 6.18: RET does not reset memvalid.
      {"dead load after ret", {kAllow, STMT(LD_MEM, 0), STMT(RET_A, 0)}, 0, EINVAL,
       Rule::LoadBeforeStore, 1},
      {"dead load after store+ret", {STMT(ST, 0), kAllow, STMT(LD_MEM, 0), STMT(RET_A, 0)}, 0, 0,
       Rule::None, -1},
      // A branch that skips the store makes the join invalid, even if infeasible.
      {"infeasible path", {STMT(LD_IMM, 1), JUMP(JEQ_K, 1, 0, 1), STMT(ST, 2), STMT(LD_MEM, 2),
                           STMT(RET_A, 0)},
       0, EINVAL, Rule::LoadBeforeStore, 3},
      {"both branches store",
       {JUMP(JEQ_K, 1, 0, 2), STMT(ST, 2), STMT(JA_, 1), STMT(ST, 2), STMT(LD_MEM, 2),
        STMT(RET_A, 0)},
       0, 0, Rule::None, -1},
      // After a jump the state is "all valid" until the next target's mask applies.
      {"after ja all valid",
       {STMT(JA_, 1), STMT(LD_MEM, 5), STMT(ST, 1), STMT(LD_MEM, 1), STMT(RET_A, 0)}, 0, 0,
       Rule::None, -1},
  });
}

// seccomp_check_filter(): the allow-list, LD W ABS offsets, LEN rewrites.
TEST(SeccompCheckFilter, AllowListAndOffsets) {
  run_table({
      {"ld w abs nr", {STMT(LD_ABS, 0), kAllow}, 0, 0, Rule::None, -1},
      {"ld w abs args[5] hi", {STMT(LD_ABS, 60), kAllow}, 0, 0, Rule::None, -1},
      {"ld w abs 64", {STMT(LD_ABS, 64), kAllow}, 0, EINVAL, Rule::AbsOffset, 0},
      {"ld w abs 2", {STMT(LD_ABS, 2), kAllow}, 0, EINVAL, Rule::AbsOffset, 0},
      {"ld h abs", {STMT(LD | H | ABS, 0), kAllow}, 0, EINVAL, Rule::SeccompOpcode, 0},
      {"ld b abs", {STMT(LD | B | ABS, 0), kAllow}, 0, EINVAL, Rule::SeccompOpcode, 0},
      {"ld ind", {STMT(LD | W | IND, 0), kAllow}, 0, EINVAL, Rule::SeccompOpcode, 0},
      {"ldx msh", {STMT(LDX | B | MSH, 0), kAllow}, 0, EINVAL, Rule::SeccompOpcode, 0},
      {"mod k", {STMT(ALU | MOD | K, 3), kAllow}, 0, EINVAL, Rule::SeccompOpcode, 0},
      {"mod x", {STMT(ALU | MOD | X, 0), kAllow}, 0, EINVAL, Rule::SeccompOpcode, 0},
      {"ld len", {STMT(LD_LEN, 0), STMT(RET_A, 0)}, 0, 0, Rule::None, -1},
      {"ldx len", {STMT(LDX_LEN, 0), kAllow}, 0, 0, Rule::None, -1},
  });
  // The 41 accepted opcodes, and nothing else among the 16-bit codes.
  int accepted = 0;
  for (uint32_t code = 0; code < 0x10000; code++) {
    Program p = {STMT(ST, 4), STMT(static_cast<uint16_t>(code), 4), kAllow};
    if (class_of(static_cast<uint16_t>(code)) == JMP) p[1].k = 0;
    if (load(p).ok()) accepted++;
  }
  EXPECT_EQ(accepted, 41);
}

TEST(SeccompCheckFilter, Rewrites) {
  Program p = {STMT(LD_ABS, 4), STMT(LD_LEN, 0), STMT(LDX_LEN, 7), kAllow};
  Program orig = p;
  ASSERT_TRUE(seccomp_check_filter(p).ok());
  EXPECT_EQ(p[0].code, LDX_W_ABS);
  EXPECT_EQ(p[0].k, 4u);
  EXPECT_EQ(p[1], STMT(LD_IMM, 64));
  EXPECT_EQ(p[2], STMT(LDX_IMM, 64));
  Filter f;
  ASSERT_TRUE(seccomp_prepare_filter(orig, 0, {}, &f).ok());
  EXPECT_EQ(f.orig, orig);  // orig_prog keeps the user's instructions
  EXPECT_EQ(f.insns, p);
}

// bpf_convert_filter() lengths: the shapes measured on 6.18 (kernel-seccomp.md §3.6).
TEST(BpfConvertFilter, EbpfLengths) {
  auto len = [](Program p, bool blind = false) {
    EXPECT_TRUE(seccomp_check_filter(p).ok());
    return bpf_convert_filter_len(p, blind);
  };
  EXPECT_EQ(len({kAllow}), 3u + 2);
  EXPECT_EQ(len({STMT(LD_IMM, 0), STMT(RET_A, 0)}), 3u + 1 + 1);
  EXPECT_EQ(len({STMT(ALU | DIV | X, 0), STMT(RET_A, 0)}), 3u + 5 + 1);
  EXPECT_EQ(len({JUMP(JEQ_K, 1, 0, 0), kAllow}), 3u + 1 + 2);             // jf == 0
  EXPECT_EQ(len({JUMP(JEQ_K, 1, 0, 1), kAllow, kAllow}), 3u + 1 + 4);     // jt == 0 -> JNE
  EXPECT_EQ(len({JUMP(JSET_K, 1, 0, 1), kAllow, kAllow}), 3u + 2 + 4);    // JSET can't invert
  EXPECT_EQ(len({JUMP(JEQ_K, 1, 1, 1), kAllow, kAllow}), 3u + 2 + 4);     // Jxx + JA
  EXPECT_EQ(len({JUMP(JEQ_K, 0x80000000, 0, 0), kAllow}), 3u + 2 + 2);    // MOV32 TMP, k
  EXPECT_EQ(len({JUMP(JGE_K, 0xffffffff, 1, 1), kAllow, kAllow}), 3u + 3 + 4);
  // Blinding: RET K 0x7fff0000 -> 4 (measured), RET K 0 -> 2, ALU K -> 3, LSH K -> 1.
  EXPECT_EQ(len({kAllow}, true), 3u + 4);
  EXPECT_EQ(len({STMT(RET_K, 0)}, true), 3u + 2);
  EXPECT_EQ(len({STMT(ALU | ADD | K, 0), STMT(RET_A, 0)}, true), 3u + 3 + 1);
  EXPECT_EQ(len({STMT(ALU | LSH | K, 3), STMT(RET_A, 0)}, true), 3u + 1 + 1);
}

// seccomp_attach_filter(): MAX_INSNS_PER_PATH on eBPF lengths (measured on 6.18:
// after a 1-insn filter, three 4096-insn RET K filters fit, then at most 4079).
TEST(SeccompAttachFilter, ChainLimitOnEbpfLengths) {
  FilterChain c;
  ASSERT_TRUE(c.install({kAllow}).ok());
  const Program big(4096, STMT(RET_K, SECCOMP_RET_ALLOW));
  for (int i = 0; i < 3; i++) ASSERT_TRUE(c.install(big).ok()) << i;
  const LoadResult r = c.install(big);
  EXPECT_EQ(r.err, ENOMEM);
  EXPECT_EQ(r.rule, Rule::ChainTooLong);
  EXPECT_EQ(c.install(Program(4080, STMT(RET_K, SECCOMP_RET_ALLOW))).err, ENOMEM);
  EXPECT_TRUE(c.install(Program(4079, STMT(RET_K, SECCOMP_RET_ALLOW))).ok());
  EXPECT_EQ(c.size(), 5u);
}

TEST(SeccompAttachFilter, ChainLimitWithBlinding) {
  // Measured on 6.18 with bpf_jit_harden=2: after a 1-insn filter only one
  // 4096-insn RET K filter fits, and the next may have at most 4090 insns.
  LoadEnv env;
  env.jit_blinding = true;
  FilterChain c;
  ASSERT_TRUE(c.install({kAllow}, 0, env).ok());
  const Program big(4096, STMT(RET_K, SECCOMP_RET_ALLOW));
  ASSERT_TRUE(c.install(big, 0, env).ok());
  EXPECT_EQ(c.install(big, 0, env).err, ENOMEM);
  EXPECT_EQ(c.install(Program(4091, STMT(RET_K, SECCOMP_RET_ALLOW)), 0, env).err, ENOMEM);
  EXPECT_TRUE(c.install(Program(4090, STMT(RET_K, SECCOMP_RET_ALLOW)), 0, env).ok());
}

TEST(SeccompSetModeFilter, DuplicateListener) {
  FilterChain c;
  ASSERT_TRUE(c.install({kAllow}, SECCOMP_FILTER_FLAG_NEW_LISTENER).ok());
  ASSERT_TRUE(c.install({kAllow}).ok());
  const LoadResult r = c.install({kAllow}, SECCOMP_FILTER_FLAG_NEW_LISTENER);
  EXPECT_EQ(r.err, EBUSY);
  EXPECT_EQ(r.rule, Rule::DuplicateListener);
  EXPECT_EQ(c.size(), 2u);  // a failed install leaves the chain unchanged
}

TEST(Rules, NamesAndFunctions) {
  EXPECT_STREQ(rule_kernel_function(Rule::LoadBeforeStore), "check_load_and_stores");
  EXPECT_STREQ(rule_kernel_function(Rule::AbsOffset), "seccomp_check_filter");
  EXPECT_STREQ(rule_kernel_function(Rule::JumpOutOfRange), "bpf_check_classic");
  EXPECT_STREQ(rule_name(Rule::ChainTooLong), "chain-too-long");
}

}  // namespace
}  // namespace secdiff
