// Oracle speed against its anchor, the host kernel, in one run:
//  - the kernel's cost of running Docker's default filter (compiled by libseccomp
//    for x86_64) on personality(0xffffffff), a syscall the cache cannot skip:
//    per-call time with the filter minus without, measured in a forked child;
//  - the oracle evaluating the same filter on the same input and on random inputs;
//  - exact constant-ALLOW analysis of every syscall of both arches.
// Prints Google Benchmark's table and then a summary with ratios.
#include <benchmark/benchmark.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>

#include "corpus/src/docker_json.h"
#include "corpus/src/seccomp_compile.h"
#include "oracle/cache/exact.h"
#include "oracle/chain.h"
#include "oracle/evaluator.h"

// Kernel UAPI headers after ours: their macros spell the same constants.
#include <linux/filter.h>
#include <linux/seccomp.h>

using namespace secdiff;

namespace {

struct Fixture {
  FilterChain x86_64_only, multi_arch;
  Program prog;
};

const Fixture& fixture() {
  static const Fixture f = [] {
    Fixture fx;
    const auto rs = corpus::parse_docker_json_file(SECDIFF_PROFILES_DIR "/docker/default.json");
    corpus::CompileOptions o;
    o.arches = {"x86_64"};
    fx.prog = corpus::compile_ruleset(rs, o).prog;
    if (!fx.x86_64_only.install(fx.prog).ok()) std::abort();
    o.arches = {"x86_64", "x86", "x32"};
    if (!fx.multi_arch.install(corpus::compile_ruleset(rs, o).prog).ok()) std::abort();
    return fx;
  }();
  return f;
}

constexpr int kPersonality = 135;
constexpr uint64_t kQuery = 0xffffffff;  // personality(0xffffffff) only queries

SeccompData personality_query() {
  SeccompData sd;
  sd.nr = kPersonality;
  sd.arch = AUDIT_ARCH_X86_64;
  sd.args[0] = kQuery;
  return sd;
}

void BM_ModelPersonality(benchmark::State& st) {
  const FilterChain& c = fixture().x86_64_only;
  SeccompData sd = personality_query();
  for (auto _ : st) {
    benchmark::DoNotOptimize(sd);
    benchmark::DoNotOptimize(seccomp_run_filters(c, sd));
  }
}
BENCHMARK(BM_ModelPersonality);

std::vector<SeccompData> random_inputs() {
  std::mt19937_64 rng(42);
  std::vector<SeccompData> in(4096);
  for (auto& sd : in) {
    sd.nr = static_cast<int32_t>(rng() % 470);
    sd.arch = AUDIT_ARCH_X86_64;
    sd.instruction_pointer = rng();
    for (auto& a : sd.args) a = rng() % 4 ? rng() % 64 : rng();
  }
  return in;
}

void BM_ModelRandomInputs(benchmark::State& st) {
  const FilterChain& c = fixture().x86_64_only;
  const auto in = random_inputs();
  size_t i = 0;
  for (auto _ : st) benchmark::DoNotOptimize(seccomp_run_filters(c, in[i++ & 4095]));
}
BENCHMARK(BM_ModelRandomInputs);

// The memoizing evaluator (exact partial evaluation on (arch, nr)).
void BM_EvaluatorPersonality(benchmark::State& st) {
  ChainEvaluator ev(fixture().x86_64_only);
  SeccompData sd = personality_query();
  for (auto _ : st) {
    benchmark::DoNotOptimize(sd);
    benchmark::DoNotOptimize(ev.run(sd));
  }
}
BENCHMARK(BM_EvaluatorPersonality);

void BM_EvaluatorRandomInputs(benchmark::State& st) {
  ChainEvaluator ev(fixture().x86_64_only);
  const auto in = random_inputs();
  size_t i = 0;
  for (auto _ : st) benchmark::DoNotOptimize(ev.run(in[i++ & 4095]));
}
BENCHMARK(BM_EvaluatorRandomInputs);

void BM_ExactAllSyscalls(benchmark::State& st, bool multi) {
  const FilterChain& c = multi ? fixture().multi_arch : fixture().x86_64_only;
  const KernelProfile& k = default_kernel_profile();
  for (auto _ : st) {
    benchmark::DoNotOptimize(exact_bitmap(c, CacheArch::Native, k.native_nr));
    benchmark::DoNotOptimize(exact_bitmap(c, CacheArch::Compat, k.compat_nr));
  }
  st.counters["syscalls"] = k.native_nr + k.compat_nr;
}
BENCHMARK_CAPTURE(BM_ExactAllSyscalls, x86_64_only, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ExactAllSyscalls, multi_arch, true)->Unit(benchmark::kMillisecond);

// --- the kernel anchor, in a forked child (it only installs the filter and makes
// the harmless personality(0xffffffff) query and getppid) ---

double now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

double time_syscall(long nr, uint64_t arg, int n) {
  double best = 1e18;
  for (int rep = 0; rep < 7; rep++) {
    const double t0 = now_ns();
    for (int i = 0; i < n; i++) syscall(nr, arg);
    best = std::min(best, (now_ns() - t0) / n);
  }
  return best;
}

struct KernelCost {
  double personality_plain = 0, personality_filtered = 0, getppid_plain = 0, getppid_filtered = 0;
  bool ok = false;
};

KernelCost measure_kernel(const Program& prog) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    KernelCost k;
    const int n = 200000;
    k.personality_plain = time_syscall(SYS_personality, kQuery, n);
    k.getppid_plain = time_syscall(SYS_getppid, 0, n);
    std::vector<sock_filter> f(prog.size());
    for (size_t i = 0; i < prog.size(); i++) f[i] = {prog[i].code, prog[i].jt, prog[i].jf, prog[i].k};
    sock_fprog fp{static_cast<unsigned short>(f.size()), f.data()};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) != 0)
      _exit(1);
    k.personality_filtered = time_syscall(SYS_personality, kQuery, n);
    k.getppid_filtered = time_syscall(SYS_getppid, 0, n);
    k.ok = true;
    if (write(fds[1], &k, sizeof k) != sizeof k) _exit(2);
    _exit(0);
  }
  close(fds[1]);
  KernelCost k;
  if (read(fds[0], &k, sizeof k) != sizeof k) k.ok = false;
  close(fds[0]);
  int status;
  waitpid(pid, &status, 0);
  return k;
}

class CaptureReporter : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, double> ns;  // real time per iteration, ns
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      double t = r.GetAdjustedRealTime();
      if (r.time_unit == benchmark::kMillisecond) t *= 1e6;
      if (r.time_unit == benchmark::kMicrosecond) t *= 1e3;
      ns[r.benchmark_name()] = t;
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

std::string read_sysctl(const char* path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s.empty() ? "?" : s;
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const Fixture& fx = fixture();
  CaptureReporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  const KernelCost k = measure_kernel(fx.prog);

  std::printf("\nDocker default profile (libseccomp %s, x86_64 only: %zu insns; multi-arch: %zu insns)\n",
              corpus::libseccomp_version().c_str(), fx.prog.size(),
              fx.multi_arch.filters()[0].orig.size());
  std::printf("host kernel: bpf_jit_enable=%s bpf_jit_harden=%s\n",
              read_sysctl("/proc/sys/net/core/bpf_jit_enable").c_str(),
              read_sysctl("/proc/sys/net/core/bpf_jit_harden").c_str());
  if (!k.ok) {
    std::printf("kernel measurement failed (seccomp unavailable?)\n");
    return 1;
  }
  const double kernel_filter = k.personality_filtered - k.personality_plain;
  const double model_same = rep.ns["BM_ModelPersonality"];
  const double model_rand = rep.ns["BM_ModelRandomInputs"];
  std::printf("| measure | ns per call | vs kernel filter cost |\n|---|---:|---:|\n");
  std::printf("| kernel: personality(0xffffffff) without filter | %.1f | |\n", k.personality_plain);
  std::printf("| kernel: same with the filter | %.1f | |\n", k.personality_filtered);
  std::printf("| **kernel: filter cost (difference)** | **%.1f** | 1.00x |\n", kernel_filter);
  std::printf("| kernel: getppid filter cost (cached ALLOW) | %.1f | |\n",
              k.getppid_filtered - k.getppid_plain);
  std::printf("| oracle: seccomp_run_filters (interpreter), same input | %.1f | %.2fx |\n",
              model_same, model_same / kernel_filter);
  std::printf("| oracle: seccomp_run_filters (interpreter), random inputs | %.1f | %.2fx |\n",
              model_rand, model_rand / kernel_filter);
  const double ev_same = rep.ns["BM_EvaluatorPersonality"], ev_rand = rep.ns["BM_EvaluatorRandomInputs"];
  std::printf("| **oracle: ChainEvaluator, same input** | **%.1f** | **%.2fx** |\n", ev_same,
              ev_same / kernel_filter);
  std::printf("| oracle: ChainEvaluator, random inputs | %.1f | %.2fx |\n", ev_rand,
              ev_rand / kernel_filter);
  std::printf("| exact analysis, all %d+%d syscalls, x86_64-only filter | %.1f ms | |\n",
              default_kernel_profile().native_nr, default_kernel_profile().compat_nr,
              rep.ns["BM_ExactAllSyscalls/x86_64_only"] / 1e6);
  std::printf("| exact analysis, all syscalls, multi-arch filter | %.1f ms | |\n",
              rep.ns["BM_ExactAllSyscalls/multi_arch"] / 1e6);
  return 0;
}
