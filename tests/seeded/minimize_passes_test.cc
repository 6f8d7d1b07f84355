// The minimizer's program surgery (jump threading, dead code) and its handling
// of chains whose later installs the earlier filters deny (attach_all, "let the
// installs through"), with the unmodified models.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "common/random_program.h"
#include "oracle/chain.h"
#include "oracle/formats/formats.h"
#include "oracle/interpreter.h"
#include "vm/minimize.h"

namespace secdiff {
namespace {

using vm::drop_unreachable;
using vm::thread_jumps;

TEST(MinimizePasses, ThreadJumpsAndDropDeadCode) {
  const Program p = assemble(
      "ld [0]\n"
      "jeq #1, hop, deny\n"
      "hop: ja allow2\n"
      "deny: ret #ERRNO(1)\n"
      "allow1: ret #ALLOW\n"
      "allow2: ret #ALLOW\n");
  const Program t = thread_jumps(p);
  ASSERT_EQ(t.size(), p.size());
  EXPECT_EQ(t[1].jt, 3);  // through the ja, to the last identical ret
  EXPECT_EQ(t[1].jf, 1);
  const Program d = drop_unreachable(t);
  EXPECT_EQ(d, assemble("ld [0]\njeq #1, allow, deny\ndeny: ret #ERRNO(1)\nallow: ret #ALLOW\n"));
  // A jump onto a ret goes to the last identical one within reach.
  const Program q = assemble(
      "ld [0]\njeq #1, a1\njeq #2, a2\nret #ERRNO(1)\na1: ret #ALLOW\na2: ret #ALLOW\n");
  EXPECT_EQ(drop_unreachable(thread_jumps(q)),
            assemble("ld [0]\njeq #1, a\njeq #2, a\nret #ERRNO(1)\na: ret #ALLOW\n"));
  // Already canonical: unchanged.
  EXPECT_EQ(drop_unreachable(thread_jumps(d)), d);
}

// Random valid programs: the filter's results never change, nor does it grow.
TEST(MinimizePasses, SurgeryKeepsResults) {
  std::mt19937_64 r(5);
  testing::RandomProgramOptions o;
  o.max_len_share = 0;
  o.mid_ret_share = 0.2;
  const std::vector<uint32_t> consts = {0, 1, 2, 59, 60, 317, 0xc000003e, 0x40000003};
  size_t changed = 0;
  for (int n = 0; n < 1500; n++) {
    const Program p = testing::random_valid_program(r, o);
    const Program q = drop_unreachable(thread_jumps(p));
    ASSERT_LE(q.size(), p.size());
    changed += q != p;
    for (int k = 0; k < 16; k++) {
      const SeccompData sd = testing::random_seccomp_data(r, consts);
      ASSERT_EQ(bpf_run(p, sd), bpf_run(q, sd)) << disassemble(p) << "--->\n" << disassemble(q);
    }
  }
  EXPECT_GT(changed, 50u);
}

// rfc-v1's flaw shows only when the second filter is attached, which the first
// one's denial of seccomp() prevents on a kernel: found as the fuzzers see the
// chain, then made installable and minimized with installs filtered.
TEST(MinimizePasses, LetsTheInstallsThrough) {
  Case c;
  CaseFilter f0, f1;
  f0.prog = assemble(
      "ld [0]\n"
      "jeq #317, deny\n"
      "jeq #110, ppid\n"
      "ret #ALLOW\n"
      "ppid: ld [16]\n"
      "jeq #0, allow, deny\n"
      "allow: ret #ALLOW\n"
      "deny: ret #ERRNO(1)\n");
  f1.prog = assemble("ld [0]\njeq #59, deny\nret #ALLOW\ndeny: ret #ERRNO(13)\n");
  c.filters = {f0, f1};
  CaseInput a, b;
  a.nr = 110;
  b.nr = 110;
  b.args[0] = 7;
  c.inputs = {a, b};

  EXPECT_TRUE(vm::ModelChecker("rfc-v1").signatures(c).empty());  // installs filtered: one filter
  auto pick = vm::pick_model_signature(c, "rfc-v1", "cache-sequence");
  ASSERT_TRUE(pick);
  EXPECT_TRUE(pick->checker->attach_all());
  EXPECT_EQ(pick->sig.str(), "cache-sequence: cached ALLOW, chain ERRNO");

  vm::MinimizeOptions mo;
  mo.progress = false;
  vm::MinimizeStats st;
  const Case m = vm::minimize_case(c, pick->sig, *pick->checker, mo, &st);
  EXPECT_TRUE(st.installs_filtered);
  EXPECT_FALSE(pick->checker->attach_all());
  ASSERT_EQ(m.filters.size(), 2u);
  for (const auto& f : m.filters) EXPECT_LE(f.prog.size(), 6u) << disassemble(f.prog);
  const auto sigs = vm::ModelChecker("rfc-v1").signatures(m);  // a kernel installs both now
  EXPECT_NE(std::find(sigs.begin(), sigs.end(), pick->sig), sigs.end());
  EXPECT_TRUE(vm::ModelChecker("rfc-v1-fixed").signatures(m).empty());
}

}  // namespace
}  // namespace secdiff
