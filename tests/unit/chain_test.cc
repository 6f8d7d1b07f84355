// seccomp_run_filters precedence and __seccomp_filter actions (kernel-seccomp.md §4.4-4.5).
#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>

#include "common/bpf_build.h"
#include "oracle/case.h"
#include "oracle/chain.h"

namespace secdiff {
namespace {

using namespace testing;
using namespace op;

Program ret_prog(uint32_t v) { return {STMT(RET_K, v)}; }

// Installs filters returning the given values, oldest first, and runs them.
RunResult run_chain(std::initializer_list<uint32_t> rets, FilterChain* out = nullptr) {
  FilterChain c;
  for (uint32_t r : rets) EXPECT_TRUE(c.install(ret_prog(r)).ok());
  RunResult rr = seccomp_run_filters(c, sd_of(110));
  if (out) *out = c;
  return rr;
}

TEST(SeccompRunFilters, SignedActionOnlyPrecedence) {
  struct Case {
    std::initializer_list<uint32_t> rets;
    uint32_t want;
    int match;
  };
  // Measured on 6.18 (older filter first).
  const Case cases[] = {
      {{SECCOMP_RET_ALLOW, 0x7ffe0000}, 0x7ffe0000, 1},                        // beats ALLOW, kills
      {{SECCOMP_RET_ERRNO | 5, 0x10000000}, SECCOMP_RET_ERRNO | 5, 0},
      {{SECCOMP_RET_USER_NOTIF, 0x10000000}, 0x10000000, 1},
      {{SECCOMP_RET_ERRNO | 5, SECCOMP_RET_ERRNO | 6}, SECCOMP_RET_ERRNO | 6, 1},  // newest wins ties
      {{SECCOMP_RET_TRAP, SECCOMP_RET_ERRNO}, SECCOMP_RET_TRAP, 0},
      {{SECCOMP_RET_LOG, SECCOMP_RET_ALLOW | 9}, SECCOMP_RET_LOG, 0},
      {{SECCOMP_RET_KILL_THREAD, SECCOMP_RET_KILL_PROCESS}, SECCOMP_RET_KILL_PROCESS, 1},
      {{SECCOMP_RET_KILL_PROCESS, 0x90000000}, SECCOMP_RET_KILL_PROCESS, 0},  // 0x8000 < 0x9000
      {{0x90000000, SECCOMP_RET_KILL_THREAD}, 0x90000000, 0},
      // ERRNO_order selftest: 11, 13, 12 installed in order -> errno 12.
      {{SECCOMP_RET_ERRNO | 11, SECCOMP_RET_ERRNO | 13, SECCOMP_RET_ERRNO | 12},
       SECCOMP_RET_ERRNO | 12, 2},
      // ALLOW with data never replaces the initial ALLOW (strict <): match stays NULL.
      {{SECCOMP_RET_ALLOW | 9}, SECCOMP_RET_ALLOW, -1},
  };
  for (const Case& c : cases) {
    const RunResult r = run_chain(c.rets);
    EXPECT_EQ(r.ret, c.want) << std::hex << c.want;
    EXPECT_EQ(r.match, c.match);
  }
}

TEST(ActionOf, UnknownActionsKillTheProcess) {
  EXPECT_EQ(action_of(0x10000000), Action::KillProcess);
  EXPECT_EQ(action_of(0x7ffe0000), Action::KillProcess);
  EXPECT_EQ(action_of(0x00060000), Action::KillProcess);
  EXPECT_EQ(action_of(SECCOMP_RET_ALLOW | 0xffff), Action::Allow);
  EXPECT_EQ(action_of(SECCOMP_RET_KILL_THREAD | 7), Action::KillThread);
  EXPECT_FALSE(is_known_action(0x10000000));
  EXPECT_EQ(format_ret(SECCOMP_RET_ERRNO | 1), "ERRNO(1)");
  EXPECT_EQ(format_ret(SECCOMP_RET_ALLOW), "ALLOW");
  EXPECT_EQ(format_ret(SECCOMP_RET_TRAP | 0x12), "TRAP(0x12)");
  EXPECT_EQ(parse_action("SECCOMP_RET_KILL_PROCESS"), Action::KillProcess);
}

Observation obs_of(uint32_t r, uint32_t flags = 0, TaskEnv env = {}) {
  FilterChain c;
  EXPECT_TRUE(c.install(ret_prog(r), flags).ok());
  const SeccompData sd = sd_of(110, AUDIT_ARCH_X86_64, {}, 0x401000);
  return observe(c, seccomp_run_filters(c, sd), sd, env);
}

TEST(Observe, Errno) {
  Observation o = obs_of(SECCOMP_RET_ERRNO | 42);
  EXPECT_EQ(o.action, Action::Errno);
  EXPECT_TRUE(o.returns);
  EXPECT_FALSE(o.dispatched);
  EXPECT_EQ(o.retval, -42);
  EXPECT_EQ(obs_of(SECCOMP_RET_ERRNO | 5000).retval, -4095);  // clamped to MAX_ERRNO
  EXPECT_EQ(obs_of(SECCOMP_RET_ERRNO | 0).retval, 0);         // "succeeds" with 0
  EXPECT_FALSE(o.audit_logged);
  EXPECT_TRUE(obs_of(SECCOMP_RET_ERRNO | 1, SECCOMP_FILTER_FLAG_LOG).audit_logged);
}

TEST(Observe, Trap) {
  Observation o = obs_of(SECCOMP_RET_TRAP | 0xbeef);
  EXPECT_TRUE(o.signal);
  EXPECT_EQ(o.signo, SIGSYS);
  EXPECT_EQ(o.sig_code, 1);
  EXPECT_EQ(o.sig_errno, 0xbeef);  // data, not clamped
  EXPECT_EQ(o.sig_syscall, 110);
  EXPECT_EQ(o.sig_arch, AUDIT_ARCH_X86_64);
  EXPECT_EQ(o.sig_call_addr, 0x401000u);
  EXPECT_EQ(o.retval, 110);  // syscall_rollback: rax = nr
  TaskEnv blocked;
  blocked.sigsys_handler = false;
  EXPECT_TRUE(obs_of(SECCOMP_RET_TRAP, 0, blocked).killed);
}

// syscall_rollback() restores orig_ax in full: the register the task used, of
// which seccomp_data.nr holds only the low 32 bits (measured on 6.1 in QEMU).
TEST(Observe, TrapRaxIsTheRegisterUsed) {
  struct Row {
    Arch arch;
    int64_t nr;
    int64_t rax;
  } rows[] = {
      {Arch::X86_64, 110, 110},
      {Arch::X86_64, 0xffffffff, 0xffffffff},             // syscall: all 64 bits, not -1
      {Arch::X86_64, -1, -1},
      {Arch::X86_64, 0x100000027, 0x100000027},           // high bits the filter never sees
      {Arch::I386, 0xffffffff, 0xffffffff},               // int $0x80: zero-extended eax
      {Arch::I386, -1, 0xffffffff},
      {Arch::X32, 39, 0x40000027},                        // nr | X32_SYSCALL_BIT
  };
  FilterChain c;
  ASSERT_TRUE(c.install(ret_prog(SECCOMP_RET_TRAP)).ok());
  for (const Row& r : rows) {
    CaseInput in;
    in.arch = r.arch;
    in.nr = r.nr;
    const SeccompData sd = case_seccomp_data(in);
    const Observation o = observe_input(c, seccomp_run_filters(c, sd), in, sd, TaskEnv{});
    EXPECT_EQ(o.retval, r.rax) << arch_name(r.arch) << " nr " << r.nr;
    EXPECT_EQ(case_register_nr(in), static_cast<uint64_t>(r.arch == Arch::I386 ? r.nr : r.rax));
  }
}

TEST(Observe, TraceAndNotifWithoutPeer) {
  EXPECT_EQ(obs_of(SECCOMP_RET_TRACE | 7).retval, -ENOSYS);
  EXPECT_EQ(obs_of(SECCOMP_RET_USER_NOTIF).retval, -ENOSYS);
  EXPECT_FALSE(obs_of(SECCOMP_RET_TRACE | 7).dispatched);
  TaskEnv traced;
  traced.tracer = true;
  Observation t = obs_of(SECCOMP_RET_TRACE | 0x4321, 0, traced);
  EXPECT_TRUE(t.ptrace_event);
  EXPECT_EQ(t.ptrace_msg, 0x4321u);
  EXPECT_TRUE(obs_of(SECCOMP_RET_USER_NOTIF, SECCOMP_FILTER_FLAG_NEW_LISTENER).notify);
}

TEST(Observe, KillsLogAllow) {
  Observation kp = obs_of(SECCOMP_RET_KILL_PROCESS);
  EXPECT_TRUE(kp.killed);
  EXPECT_TRUE(kp.whole_process);
  Observation kt = obs_of(SECCOMP_RET_KILL_THREAD);
  EXPECT_TRUE(kt.killed);
  EXPECT_TRUE(kt.whole_process);  // last live thread
  TaskEnv mt;
  mt.other_threads = true;
  EXPECT_FALSE(obs_of(SECCOMP_RET_KILL_THREAD, 0, mt).whole_process);
  EXPECT_TRUE(obs_of(0x10000000).whole_process);
  Observation log = obs_of(SECCOMP_RET_LOG);
  EXPECT_TRUE(log.dispatched);
  EXPECT_TRUE(log.audit_logged);
  Observation allow = obs_of(SECCOMP_RET_ALLOW);
  EXPECT_TRUE(allow.dispatched);
  EXPECT_FALSE(allow.audit_logged);
}

}  // namespace
}  // namespace secdiff
