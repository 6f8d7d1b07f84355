// Tests of the 2020-09-21 RFC cache model (oracle/cache/rfc_v1.cc).
#include "oracle/cache/rfc_v1.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <random>

#include "oracle/chain.h"

namespace secdiff {
namespace {

using namespace bpf;

Insn stmt(uint16_t code, uint32_t k = 0) { return Insn{code, 0, 0, k}; }
Insn jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) { return Insn{code, jt, jf, k}; }
Insn ld(uint32_t off) { return stmt(LD | W | ABS, off); }
Insn ret(uint32_t k) { return stmt(RET | K, k); }

constexpr uint32_t kErrno1 = SECCOMP_RET_ERRNO | 1;

const KernelProfile& kp() { return default_kernel_profile(); }

size_t count(const Bitmap& b) { return static_cast<size_t>(std::count(b.begin(), b.end(), true)); }

// `n` unknown branches on arch, each jt straight to RET: the all-jf path has n
// pending states before the last branch; then an args load, then ALLOW.
Program arch_ladder(int n) {
  Program p = {ld(SD_OFF_ARCH)};
  for (int i = 1; i <= n; i++)
    p.push_back(jump(JMP | JEQ | K, static_cast<uint32_t>(i), static_cast<uint8_t>(n + 1 - i), 0));
  p.push_back(ld(SD_OFF_ARGS));
  p.push_back(ret(SECCOMP_RET_ALLOW));
  return p;
}

// `n` diamonds on arch (2^n paths, at most n pending).
Program arch_diamonds(int n) {
  Program p = {ld(SD_OFF_ARCH)};
  for (int i = 0; i < n; i++) {
    p.push_back(jump(JMP | JEQ | K, static_cast<uint32_t>(i), 0, 1));
    p.push_back(ld(SD_OFF_ARCH));
  }
  p.push_back(ld(SD_OFF_NR));
  p.push_back(jump(JMP | JEQ | K, 7, 0, 1));
  p.push_back(ld(SD_OFF_ARGS));
  p.push_back(ret(SECCOMP_RET_ALLOW));
  return p;
}

TEST(RfcV1, PendingStateLimitIsE2big) {
  const int nr = kp().native_nr;
  for (bool literal : {false, true}) {
    rfc_v1::PrepareResult r = rfc_v1::prepare(arch_ladder(64), nullptr, nr, literal);
    EXPECT_EQ(r.err, 0) << literal;
    EXPECT_EQ(count(r.syscall_ok), 0u);  // every nr reaches the args load
    r = rfc_v1::prepare(arch_ladder(65), nullptr, nr, literal);
    EXPECT_EQ(r.err, E2BIG) << literal;
    r = rfc_v1::prepare(arch_ladder(70), nullptr, nr, literal);
    EXPECT_EQ(r.err, E2BIG) << literal;
  }
  // Diamonds: the literal walk finds the 65th pending state first.
  EXPECT_EQ(rfc_v1::prepare(arch_diamonds(70), nullptr, nr, true, 1u << 24).err, E2BIG);
  EXPECT_EQ(rfc_v1::prepare(arch_diamonds(70), nullptr, nr).err, E2BIG);
}

TEST(RfcV1, InstallFailsWithE2big) {
  FilterChain c;
  ASSERT_TRUE(c.install(arch_ladder(70), 0).ok());  // the validator itself accepts it
  for (bool flaw : {true, false}) {
    std::unique_ptr<CacheModel> m = make_rfc_v1_model(kp(), flaw);
    EXPECT_EQ(m->on_attach(c), E2BIG);
    EXPECT_TRUE(m->bitmap(CacheArch::Native).empty());  // nothing attached
  }
  std::unique_ptr<CacheModel> m = make_cache_model("rfc-v1", kp());
  ASSERT_TRUE(m);
  const auto err = replay_attach(*m, c);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->filter, 0);
  EXPECT_EQ(err->err, E2BIG);
}

TEST(RfcV1, MemoisedWalkAvoidsExponentialTime) {
  const Program p = arch_diamonds(40);  // 2^40 paths, 40 pending at most
  const rfc_v1::PrepareResult lit = rfc_v1::prepare(p, nullptr, 8, true, 1000000);
  EXPECT_EQ(lit.err, -1);  // the literal walk runs out of its step budget
  const rfc_v1::PrepareResult r = rfc_v1::prepare(p, nullptr, 8);
  ASSERT_EQ(r.err, 0);
  for (int nr = 0; nr < 8; nr++) EXPECT_EQ(r.syscall_ok[nr], nr != 7) << nr;
}

TEST(RfcV1, TrivialFilters) {
  const int n = kp().native_nr;
  // Only nr/arch loads anywhere: all ones, or prev's bitmap.
  const Program triv = {ld(SD_OFF_ARCH), jump(JMP | JEQ | K, AUDIT_ARCH_X86_64, 1, 0),
                        ret(SECCOMP_RET_KILL_PROCESS), ld(SD_OFF_NR), stmt(ALU | ADD | K, 1),
                        jump(JMP | JEQ | K, 60, 0, 1), ret(kErrno1), ret(SECCOMP_RET_ALLOW)};
  rfc_v1::PrepareResult r = rfc_v1::prepare(triv, nullptr, n);
  EXPECT_EQ(r.err, 0);
  EXPECT_EQ(count(r.syscall_ok), static_cast<size_t>(n));  // not about ALLOW at all
  Bitmap prev(n, false);
  prev[3] = prev[5] = true;
  r = rfc_v1::prepare(triv, &prev, n);
  EXPECT_EQ(r.syscall_ok, prev);

  // A dead args load makes the filter non-trivial, but no path reaches it.
  const Program dead = {ret(SECCOMP_RET_ALLOW), ld(SD_OFF_ARGS), ret(SECCOMP_RET_ALLOW)};
  r = rfc_v1::prepare(dead, &prev, n);
  EXPECT_EQ(r.syscall_ok, prev);

  // Non-trivial: nr 2 and 9 read args[0].
  const Program p = {ld(SD_OFF_NR), jump(JMP | JEQ | K, 2, 1, 0), jump(JMP | JEQ | K, 9, 0, 1),
                     ld(SD_OFF_ARGS), ret(SECCOMP_RET_ALLOW)};
  r = rfc_v1::prepare(p, nullptr, n);
  EXPECT_EQ(count(r.syscall_ok), static_cast<size_t>(n - 2));
  EXPECT_FALSE(r.syscall_ok[2]);
  EXPECT_FALSE(r.syscall_ok[9]);
  r = rfc_v1::prepare(p, &prev, n);  // AND with prev
  EXPECT_EQ(count(r.syscall_ok), 2u);
}

TEST(RfcV1, EmulatorTracksConstants) {
  const int n = 16;
  // ALU makes A unknown: both sides are followed; one reads args.
  Program p = {ld(SD_OFF_NR), stmt(ALU | AND | K, 0xff), jump(JMP | JEQ | K, 1, 0, 1),
               ld(SD_OFF_ARGS), ret(SECCOMP_RET_ALLOW)};
  EXPECT_EQ(count(rfc_v1::prepare(p, nullptr, n).syscall_ok), 0u);
  // Through M[] and X the nr stays known: only nr 1 reads args.
  p = {ld(SD_OFF_NR), stmt(ST, 4), stmt(LD | IMM, 0), stmt(LDX | MEM, 4), stmt(MISC | TXA),
       jump(JMP | JEQ | K, 1, 0, 1), ld(SD_OFF_ARGS), ret(SECCOMP_RET_ALLOW)};
  Bitmap b = rfc_v1::prepare(p, nullptr, n).syscall_ok;
  EXPECT_EQ(count(b), static_cast<size_t>(n - 1));
  EXPECT_FALSE(b[1]);
  // JEQ X with X known.
  p = {stmt(LDX | IMM, 3), ld(SD_OFF_NR), jump(JMP | JEQ | X, 0, 0, 1), ld(SD_OFF_ARGS + 8),
       ret(SECCOMP_RET_ALLOW)};
  b = rfc_v1::prepare(p, nullptr, n).syscall_ok;
  EXPECT_FALSE(b[3]);
  EXPECT_EQ(count(b), static_cast<size_t>(n - 1));
  // LD LEN is unknown (the emulator does not know it is 64).
  p = {stmt(LD | W | LEN), jump(JMP | JEQ | K, 64, 1, 0), ld(SD_OFF_ARGS), ret(SECCOMP_RET_ALLOW)};
  EXPECT_EQ(count(rfc_v1::prepare(p, nullptr, n).syscall_ok), 0u);
  // jt == jf is not a branch; JSET on a known nr.
  p = {ld(SD_OFF_ARCH), jump(JMP | JEQ | K, 0, 1, 1), ld(SD_OFF_ARGS), ld(SD_OFF_NR),
       jump(JMP | JSET | K, 4, 0, 1), ld(SD_OFF_ARGS), ret(SECCOMP_RET_ALLOW)};
  b = rfc_v1::prepare(p, nullptr, n).syscall_ok;
  for (int nr = 0; nr < n; nr++) EXPECT_EQ(b[nr], (nr & 4) == 0) << nr;
}

// The posted code's flaw: an arg-independent newer filter over an
// arg-dependent older one caches ALLOW for all args.
TEST(RfcV1, PrevNullFlawCachesArgDependentAllow) {
  const Program older = {ld(SD_OFF_ARGS), jump(JMP | JEQ | K, 0, 0, 1), ret(SECCOMP_RET_ALLOW),
                         ret(kErrno1)};
  const Program newer = {ret(SECCOMP_RET_ALLOW)};
  for (bool flaw : {true, false}) {
    SCOPED_TRACE(flaw ? "flaw" : "fixed");
    FilterChain chain;
    std::unique_ptr<CacheModel> m = make_rfc_v1_model(kp(), flaw);
    EXPECT_EQ(m->name(), flaw ? "rfc-v1" : "rfc-v1-fixed");
    ASSERT_TRUE(chain.install(older, 0).ok());
    ASSERT_EQ(m->on_attach(chain), 0);
    EXPECT_EQ(count(m->bitmap(CacheArch::Native)), 0u);
    ASSERT_TRUE(chain.install(newer, 0).ok());
    ASSERT_EQ(m->on_attach(chain), 0);
    EXPECT_EQ(count(m->bitmap(CacheArch::Native)), flaw ? static_cast<size_t>(kp().native_nr) : 0u);

    SeccompData sd;
    sd.nr = 39;  // getpid
    sd.args[0] = 0;
    RunResult r = seccomp_run_filters(chain, sd, *m);  // first call: flush, full run
    EXPECT_FALSE(r.cache_hit);
    EXPECT_EQ(r.ret, SECCOMP_RET_ALLOW);
    r = seccomp_run_filters(chain, sd, *m);
    EXPECT_EQ(r.cache_hit, flaw);
    sd.args[0] = 1;
    r = seccomp_run_filters(chain, sd, *m);
    const RunResult real = seccomp_run_filters(chain, sd);
    EXPECT_EQ(real.ret, kErrno1);
    if (flaw) {
      EXPECT_TRUE(r.cache_hit);
      EXPECT_EQ(r.ret, SECCOMP_RET_ALLOW);  // the RFC's wrong answer
    } else {
      EXPECT_FALSE(r.cache_hit);
      EXPECT_EQ(r.ret, kErrno1);
    }
  }
}

TEST(RfcV1, TaskCacheKeyedByFilterAndArch) {
  const Program p = {ld(SD_OFF_NR), jump(JMP | JEQ | K, 5, 0, 1), ret(0x7fff0001),
                     ret(SECCOMP_RET_ALLOW)};
  FilterChain c;
  ASSERT_TRUE(c.install(p, 0).ok());
  std::unique_ptr<CacheModel> m = make_rfc_v1_model(kp(), true);
  ASSERT_EQ(m->on_attach(c), 0);
  SeccompData sd;
  sd.nr = 1;
  EXPECT_FALSE(m->lookup(sd));  // first lookup flushes
  m->after_run(sd, SECCOMP_RET_ALLOW);
  EXPECT_TRUE(m->lookup(sd));
  // ALLOW with data is not inserted (exact compare in seccomp_run_filters).
  sd.nr = 5;
  m->after_run(sd, 0x7fff0001);
  EXPECT_FALSE(m->lookup(sd));
  // Another arch flushes the task bitmap.
  sd.nr = 1;
  sd.arch = AUDIT_ARCH_I386;
  EXPECT_FALSE(m->lookup(sd));
  m->after_run(sd, SECCOMP_RET_ALLOW);
  EXPECT_TRUE(m->lookup(sd));
  sd.arch = AUDIT_ARCH_X86_64;
  EXPECT_FALSE(m->lookup(sd));
  EXPECT_FALSE(m->lookup(sd));  // flushed: the x86_64 bit is gone
  // Out of range: never.
  sd.nr = kp().native_nr;
  m->after_run(sd, SECCOMP_RET_ALLOW);
  EXPECT_FALSE(m->lookup(sd));
  sd.nr = -1;
  EXPECT_FALSE(m->lookup(sd));
  sd.nr = 1 | static_cast<int32_t>(X32_SYSCALL_BIT);
  EXPECT_FALSE(m->lookup(sd));
  // A new filter flushes too.
  sd.nr = 1;
  m->after_run(sd, SECCOMP_RET_ALLOW);
  EXPECT_TRUE(m->lookup(sd));
  ASSERT_TRUE(c.install({ret(SECCOMP_RET_ALLOW)}, 0).ok());
  ASSERT_EQ(m->on_attach(c), 0);
  EXPECT_FALSE(m->lookup(sd));
  m->after_run(sd, SECCOMP_RET_ALLOW);
  EXPECT_TRUE(m->lookup(sd));
  m->reset_task();
  EXPECT_FALSE(m->lookup(sd));
}

TEST(RfcV1, CompatBitmapIsTheSameBits) {
  const Program p = {ld(SD_OFF_NR), jump(JMP | JEQ | K, 3, 0, 1), ld(SD_OFF_ARGS),
                     ret(SECCOMP_RET_ALLOW)};
  FilterChain c;
  ASSERT_TRUE(c.install(p, 0).ok());
  std::unique_ptr<CacheModel> m = make_rfc_v1_model(kp(), true);
  ASSERT_EQ(m->on_attach(c), 0);
  const Bitmap n = m->bitmap(CacheArch::Native), cp = m->bitmap(CacheArch::Compat);
  ASSERT_EQ(n.size(), static_cast<size_t>(kp().native_nr));
  ASSERT_EQ(cp.size(), static_cast<size_t>(kp().compat_nr));
  for (size_t i = 0; i < cp.size(); i++) EXPECT_EQ(cp[i], i < n.size() && n[i]) << i;
  EXPECT_FALSE(n[3]);
}

// The memoised prepare equals the literal walk of the posted loop.
TEST(RfcV1, MemoisedEqualsLiteralOnRandomPrograms) {
  std::mt19937_64 rng(7);
  auto u = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
  int compared = 0, errors = 0, partial = 0;
  for (int iter = 0; iter < 3000; iter++) {
    // Long programs made mostly of branches on the (unknown) arch reach the
    // 64-pending limit.
    const bool longp = iter % 4 == 0;
    const int n = longp ? 150 + static_cast<int>(u(100)) : 3 + static_cast<int>(u(40));
    Program p;
    p.push_back(stmt(LD | IMM, u(4)));
    p.push_back(stmt(ST, 0));
    if (longp) p.push_back(ld(SD_OFF_ARCH));
    while (static_cast<int>(p.size()) < n - 1) {
      const uint32_t room = static_cast<uint32_t>(n - 1 - static_cast<int>(p.size()));
      switch (longp ? (u(8) != 0 ? 8 : u(2) ? 1 : 3) : u(9)) {
        case 0: p.push_back(ld(SD_OFF_NR)); break;
        case 1: p.push_back(ld(SD_OFF_ARCH)); break;
        case 2: p.push_back(ld(SD_OFF_ARGS + 4 * u(12))); break;
        case 3: p.push_back(stmt(ALU | AND | K, u(8))); break;
        case 4: p.push_back(u(2) ? stmt(MISC | TAX) : stmt(MISC | TXA)); break;
        case 5: p.push_back(u(2) ? stmt(LD | MEM, 0) : stmt(ST, 0)); break;
        case 6: p.push_back(ret(SECCOMP_RET_ALLOW)); break;
        default: {
          static const uint16_t kJ[] = {JEQ, JGT, JGE, JSET};
          const uint32_t span = longp ? std::min(room, 3u) : room;
          p.push_back(jump(JMP | kJ[u(4)] | (u(4) == 0 ? X : K), u(8),
                           static_cast<uint8_t>(u(span)), static_cast<uint8_t>(u(span))));
        }
      }
    }
    if (longp) p.back() = ld(SD_OFF_ARGS);  // not trivial, so the emulator runs
    p.push_back(ret(SECCOMP_RET_ALLOW));
    FilterChain c;
    if (!c.install(p, 0).ok()) continue;
    Bitmap prev(8, true);
    prev[u(8)] = false;
    const Bitmap* pv = u(2) ? &prev : nullptr;
    const rfc_v1::PrepareResult lit = rfc_v1::prepare(p, pv, 8, true, 200000);
    if (lit.err == -1) {
      partial++;
      continue;
    }
    const rfc_v1::PrepareResult memo = rfc_v1::prepare(p, pv, 8);
    ASSERT_EQ(memo.err, lit.err) << iter;
    ASSERT_EQ(memo.syscall_ok, lit.syscall_ok) << iter;
    compared++;
    errors += lit.err != 0;
  }
  EXPECT_GT(compared, 1500);
  EXPECT_GT(errors, 50);  // E2BIG cases compared too
  EXPECT_LT(partial, 650);  // literal walks over budget are skipped
}

TEST(RfcV1, E2bigBoundaryMatchesLiteralOnLongChains) {
  // Mixed ladders: k arch branches, then diamonds; literal and memo agree.
  for (int k = 60; k <= 68; k++) {
    Program p = {ld(SD_OFF_ARCH)};
    for (int i = 0; i < k; i++) {
      p.push_back(jump(JMP | JGT | K, static_cast<uint32_t>(i), 0, 1));
      p.push_back(ret(SECCOMP_RET_ALLOW));  // jt side halts
    }
    p.push_back(ld(SD_OFF_ARCH));
    p.push_back(jump(JMP | JEQ | K, 1, 0, 1));
    p.push_back(ld(SD_OFF_ARGS));
    p.push_back(ret(SECCOMP_RET_ALLOW));
    const rfc_v1::PrepareResult lit = rfc_v1::prepare(p, nullptr, 4, true);
    const rfc_v1::PrepareResult memo = rfc_v1::prepare(p, nullptr, 4);
    EXPECT_EQ(lit.err, memo.err) << k;
    EXPECT_EQ(lit.syscall_ok, memo.syscall_ok) << k;
    // The ladder's jf sides pass on k pending states, plus the last branch.
    EXPECT_EQ(memo.err, k + 1 > 64 ? E2BIG : 0) << k;
  }
}

}  // namespace
}  // namespace secdiff
