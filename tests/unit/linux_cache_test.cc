// The mainline cache: seccomp_is_const_allow and the bitmaps (kernel-seccomp.md §1.4-1.8).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "common/bpf_build.h"
#include "oracle/cache/linux.h"
#include "oracle/case_codec.h"
#include "oracle/chain.h"

namespace secdiff {
namespace {

using namespace testing;
using namespace bpf;
using namespace op;

const KernelProfile& k612() { return *find_kernel_profile("6.12"); }
const KernelProfile& k61() { return *find_kernel_profile("6.1"); }
const KernelProfile& k618() { return *find_kernel_profile("6.18"); }

bool const_allow(const Program& p, int nr, uint32_t arch = AUDIT_ARCH_X86_64,
                 const KernelProfile& k = *find_kernel_profile("6.1")) {
  return seccomp_is_const_allow(p, sd_of(nr, arch), k);
}

const Insn kAllow = STMT(RET_K, SECCOMP_RET_ALLOW);

TEST(SeccompIsConstAllow, SupportedInstructions) {
  // ld [nr]; jeq #39 -> allow else errno
  const Program p = {STMT(LD_ABS, 0), JUMP(JEQ_K, 39, 0, 1), kAllow, STMT(RET_K, SECCOMP_RET_ERRNO)};
  EXPECT_TRUE(const_allow(p, 39));
  EXPECT_FALSE(const_allow(p, 40));
  // jge/jgt/jset/and/ja.
  const Program q = {STMT(LD_ABS, 0), STMT(ALU | AND | K, 0xff), JUMP(JGT_K, 10, 0, 3),
                     JUMP(JSET_K, 1, 1, 0), STMT(JA_, 1), kAllow, STMT(RET_K, 0)};
  EXPECT_TRUE(const_allow(q, 0x10b));  // 0x0b > 10, bit 0 set
  EXPECT_FALSE(const_allow(q, 12));
  EXPECT_FALSE(const_allow(q, 5));
  // arch check uses the emulated arch.
  const Program a = {STMT(LD_ABS, 4), JUMP(JEQ_K, AUDIT_ARCH_I386, 0, 1), kAllow, STMT(RET_K, 0)};
  EXPECT_TRUE(const_allow(a, 1, AUDIT_ARCH_I386));
  EXPECT_FALSE(const_allow(a, 1, AUDIT_ARCH_X86_64));
}

TEST(SeccompIsConstAllow, UnsupportedInstructionsGiveUp) {
  // Semantically constant ALLOW, but not emulated.
  EXPECT_FALSE(const_allow({STMT(LD_IMM, SECCOMP_RET_ALLOW), STMT(RET_A, 0)}, 0));
  EXPECT_FALSE(const_allow({STMT(LD_LEN, 0), kAllow}, 0));
  EXPECT_FALSE(const_allow({STMT(LD_ABS, 0), STMT(MISC | TAX, 0), kAllow}, 0));
  EXPECT_FALSE(const_allow({STMT(LD_ABS, 0), STMT(ALU | OR | K, 0), kAllow}, 0));
  EXPECT_FALSE(const_allow({STMT(LD_ABS, 0), JUMP(JEQ_X, 0, 0, 0), kAllow}, 0));
  EXPECT_FALSE(const_allow({STMT(LD_ABS, 16), kAllow}, 0));  // args[0] load
  EXPECT_FALSE(const_allow({STMT(LD_ABS, 8), kAllow}, 0));   // ip load
  EXPECT_FALSE(const_allow({STMT(RET_K, SECCOMP_RET_ALLOW | 1)}, 0));  // ALLOW with data
  EXPECT_FALSE(const_allow({STMT(RET_K, SECCOMP_RET_LOG)}, 0));
  // Dead code does not matter: only the executed path is emulated.
  EXPECT_TRUE(const_allow({STMT(JA_, 1), STMT(LD_ABS, 16), kAllow}, 0));
  EXPECT_TRUE(const_allow({kAllow, STMT(LD_LEN, 0), STMT(RET_A, 0)}, 0));
  // Arch check through X is not followed.
  EXPECT_FALSE(const_allow({STMT(LD_ABS, 4), STMT(MISC | TAX, 0), JUMP(JEQ_X, 0, 0, 0), kAllow},
                           0));
}

TEST(SeccompIsConstAllow, RunsOnTheOriginalProgram) {
  // LD W LEN is "unknown insn" in orig_prog although it runs as LD IMM 64.
  Filter f;
  ASSERT_TRUE(seccomp_prepare_filter({STMT(LD_LEN, 0), kAllow}, 0, {}, &f).ok());
  EXPECT_FALSE(seccomp_is_const_allow(f.orig, sd_of(0), k61()));
  // LD W ABS is emulated in orig_prog; its rewritten form (LDX W ABS) would not be.
  ASSERT_TRUE(seccomp_prepare_filter({STMT(LD_ABS, 0), kAllow}, 0, {}, &f).ok());
  EXPECT_TRUE(seccomp_is_const_allow(f.orig, sd_of(0), k61()));
  EXPECT_FALSE(seccomp_is_const_allow(f.insns, sd_of(0), k61()));
}

TEST(SeccompIsConstAllow, UprobeExceptions) {
  const Program deny = {STMT(RET_K, SECCOMP_RET_ERRNO | 1)};
  EXPECT_FALSE(const_allow(deny, 335, AUDIT_ARCH_X86_64, k61()));
  EXPECT_TRUE(const_allow(deny, 335, AUDIT_ARCH_X86_64, k612()));
  EXPECT_FALSE(const_allow(deny, 336, AUDIT_ARCH_X86_64, k612()));
  EXPECT_TRUE(const_allow(deny, 335, AUDIT_ARCH_X86_64, k618()));
  EXPECT_TRUE(const_allow(deny, 336, AUDIT_ARCH_X86_64, k618()));
  EXPECT_FALSE(const_allow(deny, 335, AUDIT_ARCH_I386, k618()));  // native arch only
}

TEST(LinuxModel, BitmapsAndInheritance) {
  const KernelProfile& k = k61();
  FilterChain c;
  auto m = make_linux_model(k);
  // Filter 1: allow everything except getppid (110) on x86_64; ia32 all allowed.
  ASSERT_TRUE(c.install({STMT(LD_ABS, 4), JUMP(JEQ_K, AUDIT_ARCH_X86_64, 0, 2), STMT(LD_ABS, 0),
                         JUMP(JEQ_K, 110, 1, 0), kAllow, STMT(RET_K, SECCOMP_RET_ERRNO | 1)})
                  .ok());
  ASSERT_EQ(m->on_attach(c), 0);
  Bitmap n = m->bitmap(CacheArch::Native), i = m->bitmap(CacheArch::Compat);
  ASSERT_EQ(n.size(), static_cast<size_t>(k.native_nr));
  ASSERT_EQ(i.size(), static_cast<size_t>(k.compat_nr));
  EXPECT_FALSE(n[110]);
  EXPECT_TRUE(n[39]);
  EXPECT_TRUE(i[110]);
  // Filter 2 reads args for write (1): the AND keeps 110 cleared and clears 1.
  ASSERT_TRUE(c.install({STMT(LD_ABS, 0), JUMP(JEQ_K, 1, 0, 2), STMT(LD_ABS, 16), kAllow, kAllow})
                  .ok());
  ASSERT_EQ(m->on_attach(c), 0);
  n = m->bitmap(CacheArch::Native);
  i = m->bitmap(CacheArch::Compat);
  EXPECT_FALSE(n[110]);
  EXPECT_FALSE(n[1]);
  EXPECT_FALSE(i[1]);
  EXPECT_TRUE(n[39]);
  // Lookup uses the newest filter's bitmap; x32, negative and out-of-range never hit.
  EXPECT_TRUE(m->lookup(sd_of(39)));
  EXPECT_FALSE(m->lookup(sd_of(110)));
  EXPECT_FALSE(m->lookup(sd_of(39 | 0x40000000)));
  EXPECT_FALSE(m->lookup(sd_of(-1)));
  EXPECT_FALSE(m->lookup(sd_of(k.native_nr)));
  EXPECT_TRUE(m->lookup(sd_of(k.compat_nr - 1, AUDIT_ARCH_I386)));
  EXPECT_FALSE(m->lookup(sd_of(1, 0xc00000b7)));  // foreign arch (aarch64)
}

TEST(LinuxModel, SelftestBenchmarkSequence) {
  // seccomp_benchmark: bitmap filter, bitmap filter, then a filter reading
  // args[0] clears everything, and later filters cannot set bits again.
  auto m = make_linux_model(k612());
  FilterChain c;
  const Program bitmap_filter = {STMT(LD_ABS, 0), kAllow};
  const Program full = {STMT(LD_ABS, 16), kAllow};
  auto count = [&] {
    size_t n = 0;
    for (bool b : m->bitmap(CacheArch::Native)) n += b;
    return n;
  };
  ASSERT_TRUE(c.install(bitmap_filter).ok());
  m->on_attach(c);
  EXPECT_EQ(count(), static_cast<size_t>(k612().native_nr));
  ASSERT_TRUE(c.install(full).ok());
  m->on_attach(c);
  EXPECT_EQ(count(), 1u);  // only the uretprobe exception (6.12)
  ASSERT_TRUE(c.install(bitmap_filter).ok());
  m->on_attach(c);
  EXPECT_EQ(count(), 1u);
}

TEST(LinuxModel, CacheHitReturnsAllowWithoutMatch) {
  auto m = make_linux_model(k61());
  FilterChain c;
  ASSERT_TRUE(c.install({kAllow}).ok());
  m->on_attach(c);
  const RunResult r = seccomp_run_filters(c, sd_of(39), *m);
  EXPECT_TRUE(r.cache_hit);
  EXPECT_EQ(r.ret, SECCOMP_RET_ALLOW);
  EXPECT_EQ(r.match, -1);
}

// seccomp_const_allow_bitmap's one-pass path against seccomp_is_const_allow per nr.
void expect_bitmap_equal(const Program& p, unsigned* fast_runs, unsigned* runs) {
  for (const KernelProfile* k : {&k61(), &k612(), &k618()})
    for (uint32_t arch : {AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, 0xc00000b7u}) {
      const int size = arch == AUDIT_ARCH_I386 ? k->compat_nr : k->native_nr;
      bool fast = false;
      const Bitmap got = seccomp_const_allow_bitmap(p, arch, size, *k, false, &fast);
      const Bitmap want = seccomp_const_allow_bitmap(p, arch, size, *k, true);
      ASSERT_EQ(got, want) << "arch " << arch << " profile " << k->version << " program of "
                           << p.size() << " insns";
      *fast_runs += fast;
      ++*runs;
    }
}

// Programs made of what the emulator follows (and a little it does not),
// with constants around the bitmap sizes and bit masks.
Program random_emu_program(std::mt19937_64& r) {
  auto below = [&](uint32_t n) { return static_cast<uint32_t>(r() % n); };
  auto konst = [&]() -> uint32_t {
    switch (below(6)) {
      case 0: return below(1100);
      case 1: return 1u << below(12);
      case 2: return (1u << below(12)) - 1;
      case 3: return static_cast<uint32_t>(r());
      case 4: return below(2) ? AUDIT_ARCH_X86_64 : AUDIT_ARCH_I386;
      default: return 0x40000000u | below(600);
    }
  };
  const size_t n = 1 + below(below(4) ? 24 : 120);
  Program p;
  for (size_t pc = 0; pc + 1 < n; pc++) {
    const uint32_t room = static_cast<uint32_t>(n - pc - 1);  // insns after this one
    const uint32_t jt = below(std::min(room, 16u) + (below(20) ? 0 : 3));  // rarely off the end
    const uint32_t jf = below(std::min(room, 16u) + (below(20) ? 0 : 3));
    switch (below(12)) {
      case 0: case 1: p.push_back(STMT(LD_ABS, SD_OFF_NR)); break;
      case 2: p.push_back(STMT(LD_ABS, below(8) ? SD_OFF_ARCH : SD_OFF_ARGS)); break;
      case 3: p.push_back(JUMP(JEQ_K, konst(), jt, jf)); break;
      case 4: p.push_back(JUMP(JGE_K, konst(), jt, jf)); break;
      case 5: p.push_back(JUMP(JGT_K, konst(), jt, jf)); break;
      case 6: p.push_back(JUMP(JSET_K, konst(), jt, jf)); break;
      case 7: p.push_back(STMT(ALU | AND | K, konst())); break;
      case 8: p.push_back(STMT(JA_, below(room + 1))); break;
      case 9:
        p.push_back(STMT(RET_K, below(3) ? SECCOMP_RET_ALLOW
                                         : below(2) ? SECCOMP_RET_ERRNO : SECCOMP_RET_ALLOW | 1));
        break;
      case 10: p.push_back(below(2) ? STMT(ALU | OR | K, 1) : JUMP(JEQ_X, 0, jt, jf)); break;
      default: p.push_back(JUMP(JEQ_K, below(1100), jt, jf)); break;
    }
  }
  p.push_back(STMT(RET_K, below(2) ? SECCOMP_RET_ALLOW : SECCOMP_RET_KILL_PROCESS));
  return p;
}

TEST(ConstAllowBitmap, OnePassEqualsPerNrOnRandomPrograms) {
  std::mt19937_64 r(20261206);
  unsigned fast = 0, runs = 0;
  for (int i = 0; i < 3000; i++) {
    expect_bitmap_equal(random_emu_program(r), &fast, &runs);
    if (HasFatalFailure()) return;
  }
  EXPECT_EQ(fast, runs);  // no JA runs off the end in these programs
}

TEST(ConstAllowBitmap, OnePassEqualsPerNrOnTheSeedCorpus) {
  unsigned fast = 0, runs = 0, files = 0;
  for (const auto& e : std::filesystem::directory_iterator(SECDIFF_SOURCE_DIR "/fuzzers/seeds")) {
    std::ifstream f(e.path(), std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    const Case c = decode_case(s.str());
    files++;
    for (const CaseFilter& cf : c.filters) expect_bitmap_equal(cf.prog, &fast, &runs);
  }
  EXPECT_GT(files, 10u);
  EXPECT_EQ(fast, runs);
}

// The model's word-level bitmaps: each filter's bitmap is the AND of the
// per-nr emulator over the chain so far, and bitmap_words() is bitmap().
TEST(LinuxModel, StackedBitmapsEqualThePerNrAndOfTheChain) {
  std::mt19937_64 r(20261207);
  const KernelProfile& k = k61();
  unsigned chains = 0;
  for (int i = 0; i < 400; i++) {
    FilterChain c;
    auto m = make_linux_model(k);
    Bitmap want[2] = {Bitmap(k.native_nr, true), Bitmap(k.compat_nr, true)};
    const int nf = 1 + static_cast<int>(r() % 3);
    for (int f = 0; f < nf; f++) {
      const Program p = random_emu_program(r);
      if (!c.install(p).ok()) continue;
      ASSERT_EQ(m->on_attach(c), 0);
      for (CacheArch a : kCacheArches) {
        const unsigned ai = a == CacheArch::Native ? 0 : 1;
        const Bitmap one = seccomp_const_allow_bitmap(p, cache_arch_audit(a), static_cast<int>(want[ai].size()), k, true);
        for (size_t nr = 0; nr < want[ai].size(); nr++) want[ai][nr] = want[ai][nr] && one[nr];
        ASSERT_EQ(m->bitmap(a), want[ai]) << "chain " << i << " filter " << f << " " << cache_arch_name(a);
        std::vector<uint64_t> w;
        ASSERT_EQ(m->bitmap_words(a, w), want[ai].size());
        ASSERT_EQ(w.size(), (want[ai].size() + 63) / 64);
        for (size_t nr = 0; nr < w.size() * 64; nr++)
          ASSERT_EQ((w[nr / 64] >> (nr % 64)) & 1, nr < want[ai].size() && want[ai][nr]) << "bit " << nr;
        SeccompData sd;
        sd.arch = cache_arch_audit(a);
        for (int nr : {0, 1, 39, 110, 335, 336, static_cast<int>(want[ai].size()) - 1}) {
          sd.nr = nr;
          ASSERT_EQ(m->lookup(sd), static_cast<bool>(want[ai][static_cast<size_t>(nr)])) << "lookup " << nr;
        }
      }
    }
    chains += !c.filters().empty();
  }
  EXPECT_GT(chains, 300u);
}

TEST(ConstAllowBitmap, FallsBackToPerNr) {
  bool fast = true;
  // A JA past the end (only possible in a program the checker rejects): per
  // nr. (k = 0xffffffff would make the kernel's emulator spin, as it would.)
  const Program wrap = {STMT(JA_, 0x10u), kAllow};
  EXPECT_EQ(seccomp_const_allow_bitmap(wrap, AUDIT_ARCH_X86_64, 8, k61(), false, &fast),
            Bitmap(8, false));
  EXPECT_FALSE(fast);
  // More than 1024 syscall numbers: per nr.
  const Program p = {STMT(LD_ABS, SD_OFF_NR), JUMP(JGE_K, 1024, 0, 1), kAllow, STMT(RET_K, 0)};
  const Bitmap b = seccomp_const_allow_bitmap(p, AUDIT_ARCH_X86_64, 1030, k61(), false, &fast);
  EXPECT_FALSE(fast);
  EXPECT_FALSE(b[1023]);
  EXPECT_TRUE(b[1024]);
  // The uprobe exception applies on the fast path too.
  const Bitmap u = seccomp_const_allow_bitmap({STMT(RET_K, 0)}, AUDIT_ARCH_X86_64, 400, k618(), false, &fast);
  EXPECT_TRUE(fast);
  EXPECT_TRUE(u[335] && u[336]);
  EXPECT_FALSE(u[334]);
}

}  // namespace
}  // namespace secdiff
