// The structure-aware mutator (fuzzers/mutator.h) and the cache properties of
// the fuzz targets (fuzzers/checks.h): determinism, validity share, jump
// repair, the round trip through the case encoding, and the RFC flaw being
// found (and its fix not).
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "fuzzers/checks.h"
#include "fuzzers/coverage.h"
#include "fuzzers/findings.h"
#include "fuzzers/mutator.h"
#include "oracle/case_codec.h"
#include "oracle/formats/formats.h"
#include "oracle/validator.h"

namespace secdiff::fuzz {
namespace {

using namespace bpf;

TEST(FuzzMutator, GenerateIsDeterministic) {
  const CaseMutator m;
  for (uint64_t s = 0; s < 200; s++) {
    EXPECT_EQ(m.generate(s), m.generate(s));
  }
  EXPECT_NE(m.generate(1), m.generate(2));
}

TEST(FuzzMutator, MutateAndCrossOverAreDeterministic) {
  const CaseMutator m;
  for (uint64_t s = 0; s < 300; s++) {
    Case a = m.generate(s), b = m.generate(s);
    m.mutate(a, s * 7 + 1);
    m.mutate(b, s * 7 + 1);
    EXPECT_EQ(a, b);
    const Case p = m.generate(s + 1000), q = m.generate(s + 2000);
    EXPECT_EQ(m.crossover(p, q, s), m.crossover(p, q, s));
    // The byte-level hooks too.
    std::string e = encode_case(m.generate(s));
    std::vector<uint8_t> x(e.begin(), e.end()), y(e.begin(), e.end());
    x.resize(1 << 14);
    y.resize(1 << 14);
    const size_t nx = m.mutate_bytes(x.data(), e.size(), x.size(), s);
    const size_t ny = m.mutate_bytes(y.data(), e.size(), y.size(), s);
    ASSERT_EQ(nx, ny);
    EXPECT_EQ(0, std::memcmp(x.data(), y.data(), nx));
  }
}

TEST(FuzzMutator, ValidityShare) {
  const CaseMutator m;  // invalid_share 0.05
  size_t valid = 0, total = 0;
  Rng r(42);
  for (int i = 0; i < 3000; i++, total++) valid += program_is_valid(m.generate_program(r, {}));
  const double share = static_cast<double>(valid) / static_cast<double>(total);
  EXPECT_GT(share, 0.90) << valid << "/" << total;
  EXPECT_LT(share, 0.995) << "the invalid share should leave some invalid programs";

  MutatorOptions o;
  o.invalid_share = 0;
  const CaseMutator strict(o);
  Rng r2(43);
  for (int i = 0; i < 3000; i++) {
    const Program p = strict.generate_program(r2, {});
    ASSERT_TRUE(program_is_valid(p)) << disassemble(p);
  }
}

TEST(FuzzMutator, MutationKeepsProgramsValid) {
  MutatorOptions o;
  o.invalid_share = 0;
  const CaseMutator m(o);
  Rng r(7);
  for (int i = 0; i < 400; i++) {
    Program p = m.generate_program(r, {});
    for (int j = 0; j < 25; j++) {
      const Program before = p;
      m.mutate_program(r, p, {1, 2, 39, AUDIT_ARCH_X86_64});
      ASSERT_TRUE(program_is_valid(p)) << "before:\n" << disassemble(before) << "after:\n" << disassemble(p);
    }
  }
}

// insert_insn / delete_insn move jumps so they reach the same instruction.
TEST(FuzzMutator, JumpRepairKeepsTargets) {
  MutatorOptions o;
  o.invalid_share = 0;
  const CaseMutator m(o);
  Rng r(9);
  int checked = 0;
  for (int i = 0; i < 500; i++) {
    Program p = m.generate_program(r, {});
    if (p.size() < 3 || p.size() > 200) continue;
    // Tag every instruction through a parallel id list.
    std::vector<int> id(p.size());
    for (size_t k = 0; k < id.size(); k++) id[k] = static_cast<int>(k);
    const Program orig = p;
    const size_t at = r.below(static_cast<uint32_t>(p.size()));  // before the last RET
    insert_insn(p, at, Insn{MISC | TAX, 0, 0, 0});
    id.insert(id.begin() + static_cast<std::ptrdiff_t>(at), -1);
    ASSERT_TRUE(program_is_valid(p)) << disassemble(p);
    for (size_t pc = 0; pc < p.size(); pc++) {
      if (id[pc] < 0) continue;
      const Insn& a = orig[static_cast<size_t>(id[pc])];
      const Insn& b = p[pc];
      auto land = [&](size_t from, size_t off, const std::vector<int>& ids) { return ids[from + 1 + off]; };
      std::vector<int> oid(orig.size());
      for (size_t k = 0; k < oid.size(); k++) oid[k] = static_cast<int>(k);
      if (is_cond_jump(a.code)) {
        const int t_old = land(static_cast<size_t>(id[pc]), a.jt, oid);
        const int t_new = land(pc, b.jt, id);
        // A jump to `at` itself now lands on the new instruction.
        if (static_cast<size_t>(t_old) != at || t_new != -1) {
          EXPECT_EQ(t_old, t_new);
        }
        const int f_old = land(static_cast<size_t>(id[pc]), a.jf, oid);
        const int f_new = land(pc, b.jf, id);
        if (static_cast<size_t>(f_old) != at || f_new != -1) {
          EXPECT_EQ(f_old, f_new);
        }
        checked++;
      }
    }
    // Deleting the inserted instruction gives the original back.
    delete_insn(p, at);
    EXPECT_EQ(p, orig);
  }
  EXPECT_GT(checked, 100);
}

TEST(FuzzMutator, RepairMakesAnythingValid) {
  Rng r(11);
  for (int i = 0; i < 2000; i++) {
    Program p(r.below(40));
    for (Insn& in : p) in = Insn{static_cast<uint16_t>(r.u32()), static_cast<uint8_t>(r.u32()),
                                 static_cast<uint8_t>(r.u32()), r.u32()};
    repair_program(p, 255);
    ASSERT_TRUE(program_is_valid(p)) << disassemble(p);
    // A valid program is left unchanged.
    const Program q = p;
    repair_program(p, 255);
    EXPECT_EQ(p, q);
  }
}

TEST(FuzzMutator, EncodingRoundTripAndFit) {
  const CaseMutator m;
  for (uint64_t s = 0; s < 300; s++) {
    Case c = m.generate(s);
    m.mutate(c, s);
    EXPECT_EQ(decode_case(encode_case(c)), c);
    for (size_t max : {size_t{80}, size_t{300}, size_t{2000}}) {
      Case d = c;
      const std::string e = CaseMutator::fit(d, max);
      EXPECT_LE(e.size(), max);
      if (!e.empty()) {
        EXPECT_EQ(decode_case(e), d);
      }
    }
    std::vector<uint8_t> buf(512);
    const size_t n = m.mutate_bytes(buf.data(), 0, buf.size(), s);  // empty input: a generated case
    ASSERT_GT(n, 0u);
    EXPECT_NO_THROW(decode_case(std::string_view(reinterpret_cast<char*>(buf.data()), n)));
  }
}

TEST(FuzzMutator, ConstantsComeFromTheCase) {
  Case c;
  c.filters.push_back({Program{{LD | W | ABS, 0, 0, 0}, {JMP | JEQ | K, 0, 1, 12345}, {RET | K, 0, 0, SECCOMP_RET_ALLOW}, {RET | K, 0, 0, 0}}, 0});
  const auto k = case_constants(c);
  EXPECT_TRUE(std::find(k.begin(), k.end(), 12345u) != k.end());
  const CaseMutator m;
  Rng r(3);
  int hits = 0;
  for (int i = 0; i < 500; i++) hits += m.generate_input(r, k).nr == 12345;
  EXPECT_GT(hits, 20);
}

TEST(FuzzMutator, ConstantsAreDistinctAndTheSmallest256) {
  Case c;
  Program p;
  for (uint32_t i = 0; i < 600; i++) p.push_back({JMP | JEQ | K, 0, 0, (i * 7919u) % 400u + 1000u});  // 400 distinct, repeated
  p.push_back({RET | K, 0, 0, 5});
  p.push_back({RET | K, 0, 0, 5});
  c.filters.push_back({p, 0});
  for (int round = 0; round < 3; round++) {  // the set is reused across calls
    std::vector<uint32_t> k = case_constants(c);
    ASSERT_EQ(k.size(), 256u);
    std::sort(k.begin(), k.end());
    EXPECT_EQ(std::adjacent_find(k.begin(), k.end()), k.end()) << "duplicates";
    EXPECT_EQ(k.front(), 5u);
    EXPECT_EQ(k.back(), 1254u);  // 5 and 1000..1254
  }
  c.filters[0].prog.resize(10);
  c.filters[0].prog.push_back({RET | K, 0, 0, 5});
  std::vector<uint32_t> k = case_constants(c);
  std::sort(k.begin(), k.end());
  EXPECT_EQ(k.size(), std::set<uint32_t>(k.begin(), k.end()).size());
  EXPECT_EQ(k.size(), 11u);  // 10 distinct jump constants and 5
}

// The RFC's prev == NULL flaw: an older filter that allows getpid only with
// args[0] == 0, a newer filter that allows everything; getpid(0) fills the
// per-task cache and getpid(1) is then wrongly allowed.
Case rfc_flaw_case() {
  Case c;
  c.filters.push_back({Program{{LD | W | ABS, 0, 0, 0},
                               {JMP | JEQ | K, 0, 2, 39},
                               {LD | W | ABS, 0, 0, 16},
                               {JMP | JEQ | K, 0, 1, 0},
                               {RET | K, 0, 0, SECCOMP_RET_ALLOW},
                               {RET | K, 0, 0, SECCOMP_RET_ERRNO | 1}},
                       0});
  c.filters.push_back({Program{{RET | K, 0, 0, SECCOMP_RET_ALLOW}}, 0});
  CaseInput a;
  a.nr = 39;
  CaseInput b = a;
  b.args[0] = 1;
  c.inputs = {a, b};
  return c;
}

TEST(FuzzChecks, RfcFlawIsFoundAndTheFixIsNot) {
  CheckOptions o;
  o.coverage = false;
  o.models = {"rfc-v1"};
  const auto f = check_cache_soundness(rfc_flaw_case(), o);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(finding_signature(f[0]), "cache-sequence.rfc-v1.cached-action-differs");
  o.models = {"rfc-v1-fixed", "linux"};
  EXPECT_TRUE(check_cache_soundness(rfc_flaw_case(), o).empty());
}

TEST(FuzzChecks, UnmodifiedModelsGiveNoFindings) {
  CheckOptions o;
  o.models = {"linux", "rfc-v1-fixed"};
  o.full_bitmap = true;
  const CaseMutator m;
  for (uint64_t s = 0; s < 400; s++) {
    Case c = m.generate(s);
    m.mutate(c, s + 99);
    const auto f = check_cache_soundness(c, o);
    ASSERT_TRUE(f.empty()) << finding_signature(f[0]) << "\n" << f[0].details << "\n" << describe_case(c);
  }
}

TEST(FuzzChecks, CoverageReachesTheMap) {
  CheckOptions o;
  o.models = {"linux"};
  uint8_t* map = cov_default_map();
  std::memset(map, 0, kCovSize);
  check_cache_soundness(rfc_flaw_case(), o);
  size_t bpf = 0, emu = 0, misc = 0;
  for (size_t i = 0; i < kCovSize; i++) {
    if (!map[i]) continue;
    if (i < kCovEmuBase) bpf++;
    else if (i < kCovMiscBase) emu++;
    else misc++;
  }
  EXPECT_GE(bpf, 6u);   // filter 0: pcs 0-5 with both directions of jeq 39
  EXPECT_GE(emu, 2u);
  EXPECT_GE(misc, 2u);
}

TEST(FuzzChecks, OracleConsistencyOnGeneratedCases) {
  const CaseMutator m;
  for (uint64_t s = 0; s < 150; s++) {
    const Case c = m.generate(s);
    const std::string e = encode_case(c);
    const auto f = check_oracle_consistency(&c, e, false);
    ASSERT_TRUE(f.empty()) << finding_signature(f[0]) << "\n" << f[0].details << "\n" << describe_case(c);
  }
}

}  // namespace
}  // namespace secdiff::fuzz
