// Parity of the oracle with the running kernel: filters are installed in
// children that make harmless syscalls only (host/host_kernel.h).
//
//   SECDIFF_PARITY_SCALE=<x>  multiplies the number of random cases (default 1)
//   SECDIFF_PARITY_SEED=<n>   seed of the random cases (default fixed)
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "common/random_program.h"
#include "host/host_kernel.h"
#include "oracle/chain.h"
#include "oracle/formats/formats.h"
#include "oracle/validator.h"

namespace secdiff {
namespace {

using testing::RandomInputOptions;
using testing::RandomProgramOptions;

constexpr Insn kAllow{bpf::RET | bpf::K, 0, 0, SECCOMP_RET_ALLOW};

// --- environment -----------------------------------------------------------

const std::string& unavailable() {
  static const std::string r = host_seccomp_unavailable_reason();
  return r;
}

#define SKIP_WITHOUT_SECCOMP()                                                  \
  do {                                                                          \
    if (!unavailable().empty()) GTEST_SKIP() << "seccomp unavailable: " << unavailable(); \
  } while (0)

// Sanitized builds fork per child and run ~10x slower: fewer cases, longer timeouts.
double scale() {
  const char* s = std::getenv("SECDIFF_PARITY_SCALE");
  const double v = s ? std::atof(s) : (kHostSanitized ? 0.3 : 1.0);
  return v > 0 ? v : 1.0;
}
constexpr int kEvalTimeoutMs = kHostSanitized ? 4000 : 1000;
uint64_t seed(uint64_t dflt) {
  const char* s = std::getenv("SECDIFF_PARITY_SEED");
  return s ? std::strtoull(s, nullptr, 0) : dflt;
}

// Effective capabilities of this process (CapEff in /proc/self/status).
uint64_t cap_eff() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("CapEff:", 0) == 0) return std::strtoull(line.c_str() + 7, nullptr, 16);
  return 0;
}
bool have_cap(int cap) { return (cap_eff() >> cap) & 1; }
constexpr int kCapSysAdmin = 21, kCapBpf = 39;

// The oracle's LoadEnv for a child of this process.
LoadEnv env_for(const HostOptions& o) {
  LoadEnv e;
  e.no_new_privs = o.no_new_privs;
  const bool admin = !o.drop_to_nobody && have_cap(kCapSysAdmin);
  const bool bpf_cap = !o.drop_to_nobody && (have_cap(kCapBpf) || admin);
  e.cap_sys_admin = admin;
  e.jit_blinding = jit_blinding_enabled(host_bpf_jit_enable() != 0, host_bpf_jit_harden(), bpf_cap);
  return e;
}

// Options for an unprivileged child (no CAP_SYS_ADMIN): uid 65534 when this
// process can drop to it, else this process's own (unprivileged) credentials.
// nullopt if neither works (privileged but unable to setuid).
std::optional<HostOptions> unprivileged(bool nnp) {
  HostOptions o;
  o.no_new_privs = nnp;
  if (geteuid() == 0) {
    o.drop_to_nobody = true;
    return o;
  }
  if (have_cap(kCapSysAdmin)) return std::nullopt;
  return o;
}

#define UNPRIVILEGED_OR_SKIP(var, nnp)                                              \
  const std::optional<HostOptions> var##_opt = unprivileged(nnp);                  \
  if (!var##_opt) GTEST_SKIP() << "CAP_SYS_ADMIN without uid 0: cannot drop it"; \
  HostOptions var = *var##_opt

// The chain limit counts (possibly blinded) eBPF lengths: the tests need
// bpf_jit_harden (/proc/sys/net/core/bpf_jit_harden is root-only).
#define SKIP_WITHOUT_JIT_SETTINGS()                                                     \
  do {                                                                                  \
    if (host_bpf_jit_harden() < 0)                                                      \
      GTEST_SKIP() << "cannot read /proc/sys/net/core/bpf_jit_harden (blinding unknown)"; \
  } while (0)

// --- formatting ------------------------------------------------------------

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

std::string dump_program(const Program& p) {
  std::ostringstream s;
  s << "  " << p.size() << " insns (code jt jf k):\n";
  const size_t show = std::min<size_t>(p.size(), 300);
  for (size_t i = 0; i < show; ++i) {
    char b[64];
    std::snprintf(b, sizeof b, "    %4zu: { 0x%04x, %3u, %3u, 0x%08x }\n", i, p[i].code, p[i].jt,
                  p[i].jf, p[i].k);
    s << b;
  }
  if (show < p.size()) s << "    ... (" << p.size() - show << " more)\n";
  if (p.size() <= 300) {
    try {
      s << "  disassembly:\n";
      std::istringstream d(disassemble(p));
      std::string line;
      while (std::getline(d, line)) s << "    " << line << "\n";
    } catch (const std::exception& e) {
      s << "    (disassembler: " << e.what() << ")\n";
    }
  }
  return s.str();
}

std::string dump_chain(const std::vector<HostFilter>& chain) {
  std::string s;
  for (size_t f = 0; f < chain.size(); ++f)
    s += "filter " + std::to_string(f) + " flags=" + hex(chain[f].flags) + "\n" +
         dump_program(chain[f].prog);
  return s;
}

std::string describe_load(const LoadResult& r) {
  if (r.ok()) return "accepted";
  return "errno " + std::to_string(r.err) + " (" + rule_name(r.rule) + " insn " +
         std::to_string(r.insn) + ": " + r.reason + ")";
}

std::string describe_install(const HostInstall& h) {
  if (h.call.returned && h.ret >= 0) return "accepted (ret " + std::to_string(h.ret) + ")";
  if (h.call.returned) return "errno " + std::to_string(h.err);
  return describe(h.call);
}

// "" if the host's install result matches the oracle's.
std::string compare_install(const HostInstall& h, const LoadResult& r) {
  if (!h.call.returned) return "host install did not return: " + describe(h.call);
  if (h.ok() != r.ok() || (!r.ok() && h.err != r.err))
    return "host " + describe_install(h) + ", oracle " + describe_load(r);
  return "";
}

struct Mismatches {
  int count = 0;
  int printed = 0;
  void add(const std::string& what) {
    ++count;
    if (printed < 25) {
      ++printed;
      ADD_FAILURE() << what;
    }
  }
};

// --- validation ------------------------------------------------------------

uint32_t random_flags(std::mt19937_64& r) {
  using testing::detail::below;
  using testing::detail::chance;
  if (chance(r, 0.8)) return 0;
  switch (below(r, 8)) {
    case 0: return SECCOMP_FILTER_FLAG_LOG;
    case 1: return SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    case 2: return SECCOMP_FILTER_FLAG_TSYNC;
    case 3: return SECCOMP_FILTER_FLAG_NEW_LISTENER | (chance(r, 0.5) ? SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV : 0);
    case 4: return SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_NEW_LISTENER |
                   (chance(r, 0.5) ? SECCOMP_FILTER_FLAG_TSYNC_ESRCH : 0);
    case 5: return SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    case 6: return 1u << below(r, 32);
    default: return static_cast<uint32_t>(r());
  }
}

TEST(HostParity, ValidationRandom) {
  SKIP_WITHOUT_SECCOMP();
  const int n = static_cast<int>(6000 * scale());
  std::mt19937_64 rng(seed(0x5ecd1ff));
  RandomProgramOptions po;
  po.valid_share = 0.35;
  HostOptions ho;  // NNP, uid unchanged
  const LoadEnv env = env_for(ho);
  Mismatches mm;
  std::map<std::string, int> by_rule;
  double host_seconds = 0;
  for (int i = 0; i < n; ++i) {
    const Program p = testing::random_program(rng, po);
    const uint32_t flags = random_flags(rng);
    const auto t0 = std::chrono::steady_clock::now();
    const HostRun run = host_run({HostFilter{p, flags}}, {}, ho);
    host_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_TRUE(run.ok()) << run.error;
    FilterChain chain;
    const LoadResult lr = chain.install(p, flags, env);
    ++by_rule[rule_name(lr.rule)];
    const std::string d = compare_install(run.installs.at(0), lr);
    if (!d.empty())
      mm.add("validation mismatch #" + std::to_string(i) + ": " + d + "\nflags " + hex(flags) + "\n" +
             dump_program(p));
  }
  std::string rules;
  for (const auto& [k, v] : by_rule) rules += " " + k + "=" + std::to_string(v);
  std::printf("[validation] programs=%d mismatches=%d host=%.0f programs/s\n[validation] oracle verdicts:%s\n",
              n, mm.count, n / host_seconds, rules.c_str());
  EXPECT_EQ(mm.count, 0);
}

// Unprivileged children: with NNP (the usual case) and without (EACCES once
// the length and flags are fine).
TEST(HostParity, ValidationRandomUnprivileged) {
  SKIP_WITHOUT_SECCOMP();
  UNPRIVILEGED_OR_SKIP(base_opts, true);
  const int n = static_cast<int>(600 * scale());
  std::mt19937_64 rng(seed(0x5ecd1ff) + 1);
  RandomProgramOptions po;
  po.valid_share = 0.35;
  po.huge_share = 0.05;
  Mismatches mm;
  for (int i = 0; i < n; ++i) {
    HostOptions ho = base_opts;
    ho.no_new_privs = (i % 2) == 0;
    const Program p = testing::random_program(rng, po);
    const uint32_t flags = random_flags(rng);
    const HostRun run = host_run({HostFilter{p, flags}}, {}, ho);
    ASSERT_TRUE(run.ok()) << run.error;
    FilterChain chain;
    const LoadResult lr = chain.install(p, flags, env_for(ho));
    const std::string d = compare_install(run.installs.at(0), lr);
    if (!d.empty())
      mm.add("unprivileged (nnp=" + std::to_string(ho.no_new_privs) + ") mismatch: " + d +
             "\nflags " + hex(flags) + "\n" + dump_program(p));
  }
  std::printf("[validation-unprivileged] programs=%d mismatches=%d\n", n, mm.count);
  EXPECT_EQ(mm.count, 0);
}

struct InstallCase {
  std::string name;
  Program prog;
  uint32_t flags;
};

void check_single_installs(const std::vector<InstallCase>& cases, const HostOptions& ho,
                           const std::vector<int>& expected_errno = {}) {
  const LoadEnv env = env_for(ho);
  for (size_t i = 0; i < cases.size(); ++i) {
    const InstallCase& c = cases[i];
    SCOPED_TRACE(c.name);
    const HostRun run = host_run({HostFilter{c.prog, c.flags}}, {}, ho);
    ASSERT_TRUE(run.ok()) << run.error;
    FilterChain chain;
    const LoadResult lr = chain.install(c.prog, c.flags, env);
    EXPECT_EQ(compare_install(run.installs.at(0), lr), "") << dump_program(c.prog);
    if (i < expected_errno.size()) {  // the kernel facts of the reference notes
      EXPECT_EQ(run.installs[0].ok() ? 0 : run.installs[0].err, expected_errno[i])
          << "host: " << describe_install(run.installs[0]);
    }
  }
}

TEST(HostParity, ValidationEaccesOrdering) {
  SKIP_WITHOUT_SECCOMP();
  UNPRIVILEGED_OR_SKIP(ho, false);
  const Program bad_opcode = {Insn{0xff, 0, 0, 0}, kAllow};
  const Program bad_offset = {Insn{bpf::LD | bpf::W | bpf::ABS, 0, 0, 2}, kAllow};
  const Program no_ret = {Insn{bpf::LD | bpf::IMM, 0, 0, 0}};
  const std::vector<InstallCase> cases = {
      {"len 0", {}, 0},
      {"len 4097", Program(4097, kAllow), 0},
      {"bad opcode", bad_opcode, 0},
      {"bad LD ABS offset", bad_offset, 0},
      {"last not RET", no_ret, 0},
      {"valid", {kAllow}, 0},
      {"unknown flag bit 6", {kAllow}, 1u << 6},
      {"unknown flag bit 31 with bad opcode", bad_opcode, 1u << 31},
      {"TSYNC|NEW_LISTENER", {kAllow}, SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_NEW_LISTENER},
      {"WAIT_KILLABLE_RECV alone", {kAllow}, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV},
      {"len 0 with NEW_LISTENER", {}, SECCOMP_FILTER_FLAG_NEW_LISTENER},
  };
  check_single_installs(cases, ho,
                        {EINVAL, EINVAL, EACCES, EACCES, EACCES, EACCES, EINVAL, EINVAL, EINVAL,
                         EINVAL, EINVAL});
  // Unprivileged with NNP: instruction checks apply.
  ho.no_new_privs = true;
  check_single_installs(cases, ho,
                        {EINVAL, EINVAL, EINVAL, EINVAL, EINVAL, 0, EINVAL, EINVAL, EINVAL, EINVAL,
                         EINVAL});
}

TEST(HostParity, ValidationFlags) {
  SKIP_WITHOUT_SECCOMP();
  std::vector<InstallCase> cases;
  std::vector<int> want;
  for (int b = 0; b < 32; ++b) {
    cases.push_back({"bit " + std::to_string(b), {kAllow}, 1u << b});
    want.push_back(b <= 4 ? 0 : EINVAL);
  }
  const uint32_t T = SECCOMP_FILTER_FLAG_TSYNC, L = SECCOMP_FILTER_FLAG_NEW_LISTENER,
                 E = SECCOMP_FILTER_FLAG_TSYNC_ESRCH, W = SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
  for (uint32_t f : {T | L, T | L | E, L | W, T | L | E | W, T | W, 0x3fu, 0x40u | L, 0x1fu}) {
    cases.push_back({"flags " + hex(f), {kAllow}, f});
  }
  check_single_installs(cases, HostOptions{}, want);
}

TEST(HostParity, DuplicateListener) {
  SKIP_WITHOUT_SECCOMP();
  const uint32_t L = SECCOMP_FILTER_FLAG_NEW_LISTENER;
  const std::vector<std::vector<HostFilter>> chains = {
      {{{kAllow}, L}, {{kAllow}, L}},
      {{{kAllow}, 0}, {{kAllow}, L}, {{kAllow}, 0}, {{kAllow}, L}},
      {{{kAllow}, L | SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_TSYNC_ESRCH}, {{kAllow}, L}},
      {{{kAllow}, L}, {{Insn{0xff, 0, 0, 0}}, L}},  // EINVAL comes first
  };
  const HostOptions ho;
  for (const auto& chain : chains) {
    const HostRun run = host_run(chain, {}, ho);
    ASSERT_TRUE(run.ok()) << run.error;
    FilterChain fc;
    for (size_t f = 0; f < chain.size(); ++f) {
      const LoadResult lr = fc.install(chain[f].prog, chain[f].flags, env_for(ho));
      EXPECT_EQ(compare_install(run.installs[f], lr), "") << "filter " << f << "\n" << dump_chain(chain);
    }
  }
  {
    const HostRun run = host_run(chains[0], {}, ho);
    ASSERT_TRUE(run.ok()) << run.error;
    EXPECT_TRUE(run.installs[0].ok());
    EXPECT_EQ(run.installs[1].err, EBUSY);  // the kernel fact of the reference notes
  }
}

// A 1-insn filter, then 4096-insn RET K filters until ENOMEM, then the largest
// filter that still fits: the chain limit counts eBPF lengths (and blinded ones
// when bpf_jit_harden applies).
void chain_limit(const HostOptions& ho, const char* label) {
  const LoadEnv env = env_for(ho);
  const Program big(4096, kAllow);
  std::vector<HostFilter> chain = {{{kAllow}, 0}};
  for (int i = 0; i < 12; ++i) chain.push_back({big, 0});
  const HostRun run = host_run(chain, {}, ho);
  ASSERT_TRUE(run.ok()) << run.error;
  FilterChain fc;
  int host_fit = 0, oracle_fit = 0;
  for (size_t f = 0; f < chain.size(); ++f) {
    const LoadResult lr = fc.install(chain[f].prog, 0, env);
    EXPECT_EQ(compare_install(run.installs[f], lr), "") << label << " filter " << f;
    if (f > 0) {
      host_fit += run.installs[f].ok();
      oracle_fit += lr.ok();
    }
  }
  const int fit = host_fit;
  // Largest next RET K filter (binary search on the host; the oracle directly).
  std::vector<HostFilter> base(chain.begin(), chain.begin() + 1 + fit);
  auto host_fits = [&](unsigned len) {
    std::vector<HostFilter> c = base;
    c.push_back({Program(len, kAllow), 0});
    const HostRun r = host_run(c, {}, ho);
    return r.ok() && r.installs.back().ok();
  };
  unsigned lo = 0, hi = 4097;  // host_fits(lo) (or lo == 0), !host_fits(hi)
  while (hi - lo > 1) {
    const unsigned mid = (lo + hi) / 2;
    (host_fits(mid) ? lo : hi) = mid;
  }
  FilterChain oc;
  oc.install({kAllow}, 0, env);
  for (int i = 0; i < fit; ++i) oc.install(big, 0, env);
  unsigned omax = 0;
  for (unsigned len = 4096; len >= 1; --len) {
    FilterChain t = oc;
    if (t.install(Program(len, kAllow), 0, env).ok()) {
      omax = len;
      break;
    }
  }
  std::printf("[chain-limit %s] bpf_jit_harden=%d blinding=%d: 4096-insn filters after a 1-insn one: "
              "host %d oracle %d; next max: host %u oracle %u\n",
              label, host_bpf_jit_harden(), env.jit_blinding, host_fit, oracle_fit, lo, omax);
  EXPECT_EQ(host_fit, oracle_fit);
  EXPECT_EQ(lo, omax);
}

TEST(HostParity, ChainLimit) {
  SKIP_WITHOUT_SECCOMP();
  SKIP_WITHOUT_JIT_SETTINGS();
  chain_limit(HostOptions{}, "privileged");
}

TEST(HostParity, ChainLimitUnprivileged) {
  SKIP_WITHOUT_SECCOMP();
  SKIP_WITHOUT_JIT_SETTINGS();
  UNPRIVILEGED_OR_SKIP(ho, true);
  chain_limit(ho, ho.drop_to_nobody ? "uid 65534 + NNP" : "unprivileged + NNP");
}

// The eBPF length of random program shapes, measured through the chain limit:
// after a 1-insn filter, three 4096-insn RET K filters and a random program R,
// the largest probe filter "(L-1) x LD W ABS 0; RET K" (eBPF length L + 4) that
// still fits tells the kernel's eBPF length of R to one instruction (a RET K
// filler keeps L inside 1..4095).
TEST(HostParity, ChainLimitRandomShapes) {
  SKIP_WITHOUT_SECCOMP();
  SKIP_WITHOUT_JIT_SETTINGS();
  const int n = static_cast<int>(30 * scale());
  std::mt19937_64 rng(seed(0x11b17));
  RandomProgramOptions po;
  const HostOptions ho;
  const LoadEnv env = env_for(ho);
  const Program big(4096, kAllow);
  auto probe = [](unsigned len) {  // len >= 1
    Program p(len, Insn{bpf::LD | bpf::W | bpf::ABS, 0, 0, 0});
    p.back() = kAllow;
    return p;
  };
  Mismatches mm;
  int exact = 0;
  for (int i = 0; i < n; ++i) {
    const size_t len = 1500 + testing::detail::below(rng, 2590);
    const Program rp = testing::allow_seccomp_prefix(testing::detail::random_valid_program_n(rng, po, len));
    // A RET K filler of m insns (eBPF 2m + 3, + 4) puts the probe near L = 2000,
    // sized with the oracle's length of R (a wrong length still shows as a
    // different L unless both clamp).
    unsigned e = 0;
    {
      FilterChain t;
      if (t.install(rp, 0, env).ok()) e = t.filters().back().ebpf_len;
    }
    std::vector<HostFilter> base = {{{kAllow}, 0}, {big, 0}, {big, 0}, {big, 0}};
    if (e + 2 < 6147) base.push_back({Program((6147 - e) / 2, kAllow), 0});
    base.push_back({rp, 0});
    const HostRun run = host_run(base, {}, ho);
    ASSERT_TRUE(run.ok()) << run.error;
    FilterChain oc;
    std::string d;
    for (size_t f = 0; f < base.size(); ++f) {
      const std::string x = compare_install(run.installs[f], oc.install(base[f].prog, 0, env));
      if (!x.empty()) d += "install " + std::to_string(f) + ": " + x + "\n";
    }
    if (!d.empty()) {
      mm.add("chain-limit shapes: " + d + dump_program(rp));
      continue;
    }
    if (!run.installs.back().ok()) continue;
    auto host_fits = [&](unsigned l) {
      std::vector<HostFilter> c = base;
      c.push_back({probe(l), 0});
      const HostRun r = host_run(c, {}, ho);
      return r.ok() && r.installs.back().ok();
    };
    auto oracle_fits = [&](unsigned l) {
      FilterChain t = oc;
      return t.install(probe(l), 0, env).ok();
    };
    auto max_fit = [](auto fits) {
      unsigned lo = 0, hi = 4097;
      while (hi - lo > 1) {
        const unsigned mid = (lo + hi) / 2;
        (fits(mid) ? lo : hi) = mid;
      }
      return lo;
    };
    const unsigned hl = max_fit(host_fits), ol = max_fit(oracle_fits);
    exact += hl > 0 && hl < 4096;
    if (hl != ol)
      mm.add("chain-limit shapes: largest probe after the random program: host " + std::to_string(hl) +
             ", oracle " + std::to_string(ol) + " (oracle eBPF length of the program " +
             std::to_string(oc.filters().back().ebpf_len) + ")\n" + dump_program(rp));
  }
  std::printf("[chain-limit-shapes] programs=%d measured-exactly=%d mismatches=%d\n", n, exact, mm.count);
  EXPECT_EQ(mm.count, 0);
}

// --- evaluation ------------------------------------------------------------

struct EvalStats {
  int programs = 0, chains = 0, inputs = 0, agree = 0;
  int install_calls_filtered = 0, ip_requested = 0, ip_honoured = 0, timeouts = 0;
  std::map<std::string, int> per_action;
};

// Replays `run` on the oracle; returns the mismatch descriptions.
std::vector<std::string> replay(const std::vector<HostFilter>& chain,
                                const std::vector<HostInput>& inputs, const HostRun& run,
                                const HostOptions& ho, EvalStats& st) {
  std::vector<std::string> out;
  const LoadEnv env = env_for(ho);
  const TaskEnv task;  // no tracer, SIGSYS handler, single thread
  FilterChain fc;
  bool dead = false;
  for (size_t f = 0; f < chain.size(); ++f) {
    const HostInstall& hi = run.installs[f];
    if (dead) {
      if (!hi.call.not_run) out.push_back("install " + std::to_string(f) + " ran after a kill");
      continue;
    }
    bool attempt = true;
    if (!fc.empty()) {
      // The seccomp() call itself goes through the filters installed so far.
      const SeccompData sd = host_install_seccomp_data(run, chain, f);
      const Observation ob = observe(fc, seccomp_run_filters(fc, sd), sd, task);
      if (!ob.dispatched) {
        ++st.install_calls_filtered;
        attempt = false;
        const std::string d = compare_with_oracle(hi.call, ob);
        if (!d.empty()) out.push_back("seccomp() call of install " + std::to_string(f) + ": " + d);
        if (ob.killed || hi.call.killed_by || hi.call.timed_out) dead = true;
      }
    }
    if (attempt) {
      const LoadResult lr = fc.install(chain[f].prog, chain[f].flags, env);
      const std::string d = compare_install(hi, lr);
      if (!d.empty()) out.push_back("install " + std::to_string(f) + ": " + d);
    }
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const HostOutcome& got = run.outcomes[i];
    if (dead) {
      if (!got.not_run) out.push_back("input " + std::to_string(i) + " ran after a kill in install");
      continue;
    }
    ++st.inputs;
    if (inputs[i].ip) {
      ++st.ip_requested;
      st.ip_honoured += got.ip_as_requested;
    }
    st.timeouts += got.timed_out;
    const SeccompData sd = host_seccomp_data(inputs[i], got.ip_used);
    const RunResult rr = seccomp_run_filters(fc, sd);
    const Observation ob = observe(fc, rr, sd, task);
    const std::string d = compare_with_oracle(got, ob);
    if (d.empty()) {
      ++st.agree;
      ++st.per_action[is_known_action(ob.ret) ? action_name(ob.action) : "UNKNOWN(kill)"];
    } else {
      char sdb[256];
      std::snprintf(sdb, sizeof sdb, "nr=0x%x arch=0x%x ip=0x%llx", static_cast<uint32_t>(sd.nr),
                    sd.arch, static_cast<unsigned long long>(sd.instruction_pointer));
      out.push_back("input " + std::to_string(i) + " " + describe(inputs[i]) + " (seccomp_data " +
                    sdb + "; oracle match=filter " + std::to_string(rr.match) + "): " + d);
    }
  }
  return out;
}

void run_and_compare(const std::vector<HostFilter>& chain, const std::vector<HostInput>& inputs,
                     const HostOptions& ho, EvalStats& st, Mismatches& mm) {
  const HostRun run = host_run(chain, inputs, ho);
  ASSERT_TRUE(run.ok()) << run.error << "\n" << dump_chain(chain);
  ++st.chains;
  st.programs += static_cast<int>(chain.size());
  const auto diffs = replay(chain, inputs, run, ho, st);
  if (diffs.empty()) return;
  std::string msg = "evaluation mismatch\n" + dump_chain(chain);
  for (const auto& d : diffs) msg += "  " + d + "\n";
  mm.add(msg);
}

std::string summary(const EvalStats& st) {
  std::string s = "programs=" + std::to_string(st.programs) + " chains=" + std::to_string(st.chains) +
                  " inputs=" + std::to_string(st.inputs) + " agree=" + std::to_string(st.agree) +
                  " install-calls-filtered=" + std::to_string(st.install_calls_filtered) +
                  " ip=" + std::to_string(st.ip_honoured) + "/" + std::to_string(st.ip_requested) +
                  " timeouts=" + std::to_string(st.timeouts) + "\n  agreements per action:";
  for (const auto& [k, v] : st.per_action) s += " " + k + "=" + std::to_string(v);
  return s;
}

TEST(HostParity, EvaluationRandom) {
  SKIP_WITHOUT_SECCOMP();
  const int n = static_cast<int>(2500 * scale());
  std::mt19937_64 rng(seed(0xe7a1));
  RandomProgramOptions po;
  RandomInputOptions io;
  if (!host_ia32_available()) io.i386_share = 0;
  HostOptions ho;
  ho.timeout_ms = kEvalTimeoutMs;
  EvalStats st;
  Mismatches mm;
  using testing::detail::below;
  using testing::detail::chance;
  const auto t0 = std::chrono::steady_clock::now();
  double host_seconds = 0;
  for (int c = 0; c < n; ++c) {
    const unsigned k = 1 + below(rng, 3);
    std::vector<HostFilter> chain;
    std::vector<uint32_t> consts;
    for (unsigned f = 0; f < k; ++f) {
      Program p = testing::random_valid_program(rng, po);
      if (p.size() > 200) p = testing::detail::random_valid_program_n(rng, po, 30);
      if (f + 1 < k && chance(rng, 0.7)) p = testing::allow_seccomp_prefix(p);
      uint32_t flags = 0;
      if (chance(rng, 0.15))
        flags = testing::detail::pick(rng, {SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW,
                                            SECCOMP_FILTER_FLAG_TSYNC,
                                            SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW});
      const auto pc = testing::program_constants(p);
      consts.insert(consts.end(), pc.begin(), pc.end());
      chain.push_back({std::move(p), flags});
    }
    std::vector<HostInput> inputs;
    const unsigned m = 3 + below(rng, 4);
    for (unsigned i = 0; i < m; ++i) inputs.push_back(testing::random_host_input(rng, consts, io));
    const auto h0 = std::chrono::steady_clock::now();
    run_and_compare(chain, inputs, ho, st, mm);
    host_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - h0).count();
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[evaluation] %s\n[evaluation] mismatches=%d, %.0f chains/s (host+oracle), %.0f inputs/s\n",
              summary(st).c_str(), mm.count, st.chains / secs, st.inputs / host_seconds);
  EXPECT_GE(st.programs, static_cast<int>(2000 * scale()));
  EXPECT_EQ(mm.count, 0);
}

// Hand-picked programs with known kernel semantics, through the same comparison.
TEST(HostParity, EvaluationTargeted) {
  SKIP_WITHOUT_SECCOMP();
  using namespace bpf;
  auto ld = [](uint32_t off) { return Insn{LD | W | ABS, 0, 0, off}; };
  auto ret = [](uint32_t k) { return Insn{RET | K, 0, 0, k}; };
  auto in = [](Arch a, int64_t nr, std::initializer_list<uint64_t> args = {},
               std::optional<uint64_t> ip = std::nullopt) {
    HostInput x;
    x.arch = a;
    x.nr = nr;
    int i = 0;
    for (uint64_t v : args) x.args[i++] = v;
    x.ip = ip;
    return x;
  };
  const bool ia32 = host_ia32_available();
  std::vector<HostInput> std_inputs = {
      in(Arch::X86_64, 39), in(Arch::X86_64, 110, {0x0000012300000456}, 0x10000000),
      in(Arch::X32, 39), in(Arch::X86_64, -1), in(Arch::X86_64, 1500, {1, 2, 3, 4, 5, 6}, 0x7f0000001000),
      in(Arch::X86_64, (int64_t{1} << 32) | 110)};
  if (ia32) {
    std_inputs.push_back(in(Arch::I386, 20, {0x0000012300000456, 0xffffffff00000000}));
    std_inputs.push_back(in(Arch::I386, 64, {}, 0x20000002));
    std_inputs.push_back(in(Arch::I386, -1));
    std_inputs.push_back(in(Arch::I386, 0x7fffffff));
  }
  struct Case {
    const char* name;
    Program prog;
    uint32_t flags = 0;
  };
  const std::vector<Case> cases = {
      {"ERRNO 5000 (clamped)", {ret(SECCOMP_RET_ERRNO | 5000)}},
      {"ERRNO 0 (returns 0)", {ret(SECCOMP_RET_ERRNO)}},
      {"ERRNO 0xffff", {ret(SECCOMP_RET_ERRNO | 0xffff)}},
      {"TRAP data", {ret(SECCOMP_RET_TRAP | 0xbeef)}},
      {"TRACE without tracer", {ret(SECCOMP_RET_TRACE | 7)}},
      {"USER_NOTIF without listener", {ret(SECCOMP_RET_USER_NOTIF)}},
      {"LOG", {ret(SECCOMP_RET_LOG | 3)}},
      {"ALLOW with data", {ret(SECCOMP_RET_ALLOW | 1)}},
      {"KILL_THREAD", {ret(SECCOMP_RET_KILL_THREAD | 9)}},
      {"KILL_PROCESS", {ret(SECCOMP_RET_KILL_PROCESS)}},
      {"unknown 0x10000000", {ret(0x10000000)}},
      {"unknown 0x7ffe0000", {ret(0x7ffe0000)}},
      {"RET A = nr", {ld(0), Insn{RET | A, 0, 0, 0}}},  // nr as a return value: 39 = KILL_THREAD|39
      {"RET A = arch|ERRNO", {ld(4), Insn{ALU | AND | K, 0, 0, 0xff}, Insn{ALU | OR | K, 0, 0, SECCOMP_RET_ERRNO}, Insn{RET | A, 0, 0, 0}}},
      {"DIV X by 0", {Insn{LD | IMM, 0, 0, 7}, Insn{ALU | DIV | X, 0, 0, 0}, ret(SECCOMP_RET_ALLOW)}},
      {"LSH X 33", {Insn{LDX | IMM, 0, 0, 33}, Insn{LD | IMM, 0, 0, 1}, Insn{ALU | LSH | X, 0, 0, 0},
                    Insn{ALU | OR | K, 0, 0, SECCOMP_RET_ERRNO}, Insn{RET | A, 0, 0, 0}}},
      {"LD LEN", {Insn{LD | W | LEN, 0, 0, 0}, Insn{ALU | OR | K, 0, 0, SECCOMP_RET_ERRNO}, Insn{RET | A, 0, 0, 0}}},
      {"arg0 high word as errno", {ld(20), Insn{ALU | OR | K, 0, 0, SECCOMP_RET_ERRNO}, Insn{RET | A, 0, 0, 0}}},
      {"arg0 low word as errno", {ld(16), Insn{ALU | AND | K, 0, 0, 0xfff}, Insn{ALU | OR | K, 0, 0, SECCOMP_RET_ERRNO}, Insn{RET | A, 0, 0, 0}}},
      {"ip low word as trap data", {ld(8), Insn{ALU | AND | K, 0, 0, 0xffff}, Insn{ALU | OR | K, 0, 0, SECCOMP_RET_TRAP}, Insn{RET | A, 0, 0, 0}}},
      {"ip high word as errno", {ld(12), Insn{ALU | OR | K, 0, 0, SECCOMP_RET_ERRNO}, Insn{RET | A, 0, 0, 0}}},
      {"nr high bits: trap on nr", {ld(0), Insn{ALU | AND | K, 0, 0, 0xffff}, Insn{ALU | OR | K, 0, 0, SECCOMP_RET_TRAP}, Insn{RET | A, 0, 0, 0}}},
      {"x32 bit check", {ld(0), Insn{JMP | JGE | K, 0, 1, X32_SYSCALL_BIT}, ret(SECCOMP_RET_ERRNO | 77), ret(SECCOMP_RET_ALLOW)}},
      {"arch check", {ld(4), Insn{JMP | JEQ | K, 1, 0, AUDIT_ARCH_X86_64}, ret(SECCOMP_RET_ERRNO | 3), ret(SECCOMP_RET_ERRNO | 4)}},
      {"signed compare is unsigned", {ld(0), Insn{JMP | JGT | K, 0, 1, 0x7fffffff}, ret(SECCOMP_RET_ERRNO | 1), ret(SECCOMP_RET_ERRNO | 2)}},
      {"TAX/TXA", {ld(0), Insn{MISC | TAX, 0, 0, 0}, Insn{LD | IMM, 0, 0, 0}, Insn{MISC | TXA, 0, 0, 0}, Insn{ALU | OR | K, 0, 0, SECCOMP_RET_ERRNO}, Insn{RET | A, 0, 0, 0}}},
      {"M[] store/load", {ld(0), Insn{ST, 0, 0, 3}, Insn{LD | IMM, 0, 0, 0}, Insn{LDX | MEM, 0, 0, 3}, Insn{MISC | TXA, 0, 0, 0}, Insn{ALU | OR | K, 0, 0, SECCOMP_RET_ERRNO}, Insn{RET | A, 0, 0, 0}}},
  };
  HostOptions ho;
  ho.timeout_ms = kEvalTimeoutMs;
  EvalStats st;
  Mismatches mm;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    run_and_compare({{c.prog, c.flags}}, std_inputs, ho, st, mm);
  }
  // Combination rules over chains (oldest first).
  const std::vector<std::vector<uint32_t>> combos = {
      {SECCOMP_RET_ALLOW, 0x7ffe0000}, {SECCOMP_RET_ERRNO | 5, 0x10000000},
      {SECCOMP_RET_ERRNO | 11, SECCOMP_RET_ERRNO | 13, SECCOMP_RET_ERRNO | 12},
      {SECCOMP_RET_TRAP | 1, SECCOMP_RET_ERRNO | 2}, {SECCOMP_RET_LOG, SECCOMP_RET_ALLOW | 9},
      {SECCOMP_RET_KILL_THREAD, SECCOMP_RET_KILL_PROCESS}, {SECCOMP_RET_TRACE | 1, SECCOMP_RET_USER_NOTIF},
      {0x90000000, SECCOMP_RET_KILL_THREAD | 4}};
  for (const auto& rets : combos) {
    std::vector<HostFilter> chain;
    for (uint32_t r : rets)  // every filter but the newest lets seccomp() through
      chain.push_back({chain.size() + 1 < rets.size() ? testing::allow_seccomp_prefix({ret(r)})
                                                      : Program{ret(r)},
                       0});
    run_and_compare(chain, std_inputs, ho, st, mm);
  }
  // USER_NOTIF with a listener: the child's own listener never answers, so the
  // syscall blocks (the harness times it out).
  {
    HostOptions shortt;
    shortt.timeout_ms = 150;
    run_and_compare({{{ld(0), Insn{JMP | JEQ | K, 0, 1, 110}, ret(SECCOMP_RET_USER_NOTIF), ret(SECCOMP_RET_ALLOW)},
                      SECCOMP_FILTER_FLAG_NEW_LISTENER}},
                    {in(Arch::X86_64, 39), in(Arch::X86_64, 110), in(Arch::X86_64, 102)}, shortt, st, mm);
  }
  // The second install is itself filtered: ERRNO, TRAP, KILL.
  for (uint32_t r : {SECCOMP_RET_ERRNO | 1, SECCOMP_RET_ERRNO, SECCOMP_RET_TRAP | 5,
                     SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_TRACE, SECCOMP_RET_LOG}) {
    run_and_compare({{{ret(r)}, 0}, {{ret(SECCOMP_RET_ERRNO | 9)}, 0}}, std_inputs, ho, st, mm);
  }
  std::printf("[evaluation-targeted] %s\n", summary(st).c_str());
  EXPECT_EQ(mm.count, 0);
}

// compare_with_oracle() notices a wrong oracle (a test of the comparison itself).
TEST(HostParity, CompareDetectsDifferences) {
  SKIP_WITHOUT_SECCOMP();
  const Program trap = {Insn{bpf::RET | bpf::K, 0, 0, SECCOMP_RET_TRAP | 0x1234}};
  const Program errno5 = {Insn{bpf::RET | bpf::K, 0, 0, SECCOMP_RET_ERRNO | 5}};
  HostInput in;
  in.nr = 110;
  in.ip = 0x30000000;
  for (const Program& p : {trap, errno5}) {
    const HostRun run = host_run({{p, 0}}, {in}, {});
    ASSERT_TRUE(run.ok()) << run.error;
    FilterChain fc;
    ASSERT_TRUE(fc.install(p, 0, {}).ok());
    const SeccompData sd = host_seccomp_data(in, run.outcomes[0].ip_used);
    const Observation good = observe(fc, seccomp_run_filters(fc, sd), sd);
    EXPECT_EQ(compare_with_oracle(run.outcomes[0], good), "");
    std::vector<Observation> wrong(6, good);
    wrong[0].sig_errno ^= 1;
    wrong[1].sig_call_addr += 1;
    wrong[2].retval -= 1;
    wrong[3].sig_arch = AUDIT_ARCH_I386;
    wrong[4].killed = true;
    wrong[5].dispatched = true;
    for (size_t i = 0; i < wrong.size(); ++i) {
      if (p == errno5 && (i == 0 || i == 1 || i == 3)) continue;  // no siginfo for ERRNO
      EXPECT_NE(compare_with_oracle(run.outcomes[0], wrong[i]), "") << "perturbation " << i;
    }
  }
}

// The harness refuses anything but harmless syscalls.
TEST(HostParity, HarnessRefusesHarmfulSyscalls) {
  for (auto [arch, nr] : std::vector<std::pair<Arch, int64_t>>{
           {Arch::X86_64, 59}, {Arch::X86_64, 62}, {Arch::X86_64, 0}, {Arch::X86_64, 231},
           {Arch::X86_64, (int64_t{7} << 32) | 62}, {Arch::X32, 59}, {Arch::X86_64, 0x40000000 | 62},
           {Arch::I386, 39}, {Arch::I386, 1}, {Arch::I386, 37}, {Arch::X86_64, 335}, {Arch::X86_64, 500}}) {
    HostInput x;
    x.arch = arch;
    x.nr = nr;
    EXPECT_FALSE(is_harmless_syscall(arch, nr)) << describe(x);
    const HostRun run = host_run({}, {x}, {});
    EXPECT_FALSE(run.ok()) << describe(x);
    EXPECT_EQ(run.children, 0);
  }
  for (auto [arch, nr] : std::vector<std::pair<Arch, int64_t>>{
           {Arch::X86_64, 39}, {Arch::X86_64, -1}, {Arch::X86_64, 0x3fffffff}, {Arch::X86_64, 1000},
           {Arch::X32, 39}, {Arch::I386, 20}, {Arch::I386, -1}, {Arch::I386, 1999}}) {
    EXPECT_TRUE(is_harmless_syscall(arch, nr)) << static_cast<int>(arch) << " " << nr;
  }
}

}  // namespace
}  // namespace secdiff
