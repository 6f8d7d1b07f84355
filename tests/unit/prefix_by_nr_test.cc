// bpf_prefix_by_nr() against bpf_run_prefix() number by number: random
// validated programs (typical filter shapes, ALU and scratch memory that take
// the per-number path, TAX/TXA, RET A), the seed corpus's real filters, and
// set sizes around the 64-bit word boundaries.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/random_program.h"
#include "oracle/case_codec.h"
#include "oracle/formats/formats.h"
#include "oracle/interpreter.h"
#include "oracle/prefix_by_nr.h"
#include "oracle/validator.h"

namespace secdiff {
namespace {

using namespace testing;
using namespace bpf;

// Returns the number of numbers compared; fails the test on the first difference.
unsigned expect_same(const Program& checked, uint32_t arch, uint32_t count) {
  const std::vector<PrefixOutcome> got = bpf_prefix_by_nr(checked, arch, count);
  EXPECT_EQ(got.size(), count);
  for (uint32_t nr = 0; nr < count; nr++) {
    SeccompData sd;
    sd.arch = arch;
    sd.nr = static_cast<int32_t>(nr);
    BpfState st;
    const uint32_t want = bpf_run_prefix(checked, sd, &st);
    if (got[nr].stopped != st.stopped || (!st.stopped && got[nr].ret != want)) {
      ADD_FAILURE() << "nr " << nr << ": stopped " << got[nr].stopped << " ret " << got[nr].ret
                    << ", bpf_run_prefix: stopped " << st.stopped << " ret " << want << "\n"
                    << disassemble(checked);
      return nr;
    }
  }
  return count;
}

Program checked(const Program& p) {
  Filter f;
  EXPECT_TRUE(seccomp_prepare_filter(p, 0, LoadEnv{}, &f).ok());
  return f.insns;
}

TEST(PrefixByNr, RandomValidPrograms) {
  std::mt19937_64 rng(20261207);
  RandomProgramOptions opt;
  opt.valid_share = 1.0;
  opt.typical_share = 0.6;
  for (uint32_t v = 0; v < 70; v++) opt.extra_constants.push_back(v);
  opt.extra_constants.insert(opt.extra_constants.end(), {127, 128, 255, 256, 449, 450, 451, 0x40000000});
  const uint32_t counts[] = {0, 1, 63, 64, 65, 128, 451, 1030};
  uint64_t compared = 0;
  for (int i = 0; i < 3000; i++) {
    const Program p = checked(random_valid_program(rng, opt));
    const uint32_t arch = i % 2 ? AUDIT_ARCH_I386 : AUDIT_ARCH_X86_64;
    compared += expect_same(p, arch, counts[i % 8]);
    if (HasFailure()) return;
  }
  EXPECT_GT(compared, 500000u);
}

TEST(PrefixByNr, HandWrittenShapes) {
  const Insn ld_nr = {LD | W | ABS, 0, 0, SD_OFF_NR};
  const Insn ld_arch = {LD | W | ABS, 0, 0, SD_OFF_ARCH};
  const Insn ld_arg = {LD | W | ABS, 0, 0, SD_OFF_ARGS};
  const Insn allow = {RET | K, 0, 0, SECCOMP_RET_ALLOW};
  const Insn kill = {RET | K, 0, 0, SECCOMP_RET_KILL_THREAD};
  const std::vector<Program> progs = {
      {allow},
      {ld_nr, {RET | A, 0, 0, 0}},                                          // RET A = nr
      {ld_nr, {JMP | JGE | K, 1, 0, 100}, allow, kill},
      {ld_nr, {JMP | JGT | K, 0, 1, 0xffffffff}, kill, allow},              // never taken
      {ld_nr, {JMP | JSET | K, 0, 1, 0x41}, ld_arg, allow},                 // JSET: per number
      {ld_nr, {MISC | TAX, 0, 0, 0}, {LD | IMM, 0, 0, 50}, {JMP | JGT | X, 0, 1, 0}, allow, kill},
      {ld_nr, {ALU | AND | K, 0, 0, 0xf}, {JMP | JEQ | K, 0, 1, 3}, kill, allow},  // ALU: per number
      {ld_nr, {ST, 0, 0, 2}, {LD | MEM, 0, 0, 2}, {JMP | JEQ | K, 0, 1, 7}, ld_arg, allow},
      {ld_arch, {JMP | JEQ | K, 1, 0, AUDIT_ARCH_X86_64}, kill, ld_nr, {JMP | JEQ | K, 0, 1, 39}, allow, ld_arg,
       allow},
      {ld_nr, {JMP | JA, 0, 0, 1}, kill, {JMP | JEQ | K, 0, 1, 64}, kill, allow},
  };
  for (const Program& p : progs)
    for (uint32_t arch : {AUDIT_ARCH_X86_64, AUDIT_ARCH_I386}) {
      expect_same(checked(p), arch, 200);
      if (HasFailure()) return;
    }
}

TEST(PrefixByNr, SeedCorpusFilters) {
  unsigned filters = 0;
  for (const auto& e : std::filesystem::directory_iterator(SECDIFF_SOURCE_DIR "/fuzzers/seeds")) {
    std::ifstream f(e.path(), std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    const Case c = decode_case(s.str());
    for (const CaseFilter& cf : c.filters) {
      Filter flt;
      if (!seccomp_prepare_filter(cf.prog, 0, LoadEnv{}, &flt).ok()) continue;
      filters++;
      for (uint32_t arch : {AUDIT_ARCH_X86_64, AUDIT_ARCH_I386}) expect_same(flt.insns, arch, 470);
      if (HasFailure()) return;
    }
  }
  EXPECT_GT(filters, 10u);
}

}  // namespace
}  // namespace secdiff
