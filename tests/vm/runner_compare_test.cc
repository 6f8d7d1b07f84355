// compare_case (vm/runner.h) on hand-made kernel results: the rules that
// depend on what the kernel reported in Hello, table by table.
#include <gtest/gtest.h>
#include <signal.h>

#include <tuple>
#include <vector>

#include "oracle/bpf.h"
#include "oracle/seccomp_abi.h"
#include "vm/runner.h"

namespace secdiff::vm {
namespace {

// ERRNO(7) for every syscall: no input may be dispatched.
Case errno_case(Arch arch) {
  Case c;
  c.name = "errno7";
  c.filters.push_back(CaseFilter{{Insn{bpf::RET | bpf::K, 0, 0, SECCOMP_RET_ERRNO | 7}}, 0});
  CaseInput in;
  in.arch = arch;
  in.nr = 20;  // i386 getpid, x86_64 writev
  c.inputs.push_back(in);
  return c;
}

CaseResult result(const KernelOutcome& o) {
  CaseResult r;
  r.installs.push_back(KernelInstall{0, 0, false, {}, {}});
  r.outcomes.push_back(o);
  return r;
}

KernelOutcome returned(int64_t rax) {
  KernelOutcome o;
  o.kind = OutcomeKind::Returned;
  o.rax = rax;
  return o;
}

KernelOutcome killed(int sig) {
  KernelOutcome o;
  o.kind = OutcomeKind::Killed;
  o.term_signal = sig;
  o.whole_process = true;
  return o;
}

std::string properties(const std::vector<Mismatch>& ms) {
  std::string s;
  for (const Mismatch& m : ms) s += m.property + ":" + m.kind + ";";
  return s;
}

struct Row {
  const char* what;
  bool ia32;                 // Hello has kFeatureIa32
  Arch arch;
  KernelOutcome outcome;
  const char* want;          // "" = no mismatch
};

TEST(RunnerCompare, Int80WithAndWithoutIa32Emulation) {
  const Row rows[] = {
      {"ia32: ERRNO(7) returned", true, Arch::I386, returned(-7), ""},
      {"ia32: a SIGSEGV is wrong", true, Arch::I386, killed(SIGSEGV), "action:expected returned-undispatched, kernel killed-process;"},
      {"no ia32: SIGSEGV before seccomp", false, Arch::I386, killed(SIGSEGV), ""},
      {"no ia32: ERRNO(7) means a filter ran", false, Arch::I386, returned(-7), "action:int $0x80 without IA32 emulation;"},
      {"no ia32: SIGSYS is not the #GP", false, Arch::I386, killed(SIGSYS), "action:int $0x80 without IA32 emulation;"},
      {"no ia32: x86_64 unaffected", false, Arch::X86_64, returned(-7), ""},
  };
  for (const Row& r : rows) {
    Hello h;
    h.kernel_release = "6.1.0-test";
    h.features = r.ia32 ? uint32_t{kFeatureIa32} : 0u;
    const CompareContext ctx = make_context(h, "linux");
    const Case c = errno_case(r.arch);
    EXPECT_EQ(properties(compare_case(c, result(r.outcome), ctx, 1)), r.want) << r.what;
  }
}


// Strict mode lasts only as long as the task: after a kill or a blocked
// syscall the agent runs the remaining inputs in a new task.
TEST(RunnerCompare, StrictModeEndsWithTheTask) {
  KernelOutcome blocked;
  blocked.kind = OutcomeKind::Blocked;
  struct StrictRow {
    const char* what;
    std::vector<KernelOutcome> outcomes;  // for prctl(strict), getppid, pause
    const char* want;
  };
  const StrictRow rows[] = {
      {"kill, then a new task", {returned(0), killed(SIGKILL), returned(1)}, ""},
      {"kill, then a new task that blocks", {returned(0), killed(SIGKILL), blocked}, ""},
      {"strict mode not entered", {returned(0), returned(1), returned(1)},
       "action:expected killed-process, kernel returned;action:expected killed-process, kernel returned;"},
      {"a strict kill is SIGKILL, not SIGSYS", {returned(0), killed(SIGSYS), returned(1)},
       "action:expected killed-process, kernel killed-process;"},
  };
  Hello h;
  h.kernel_release = "6.1.0-test";
  h.features = kFeatureIa32;
  const CompareContext ctx = make_context(h, "linux");
  Case c;
  c.name = "strict";
  for (const auto& [nr, a0, a1] : {std::tuple{157u, 22u, 1u}, {110u, 0u, 0u}, {34u, 0u, 0u}}) {
    CaseInput in;
    in.arch = Arch::X86_64;
    in.nr = nr;
    in.args[0] = a0;
    in.args[1] = a1;
    c.inputs.push_back(in);
  }
  for (const StrictRow& r : rows) {
    CaseResult res;
    res.outcomes = r.outcomes;
    EXPECT_EQ(properties(compare_case(c, res, ctx, 1)), r.want) << r.what;
  }
}

}  // namespace
}  // namespace secdiff::vm
