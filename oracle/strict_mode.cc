#include "oracle/strict_mode.h"

#include "oracle/seccomp_abi.h"

namespace secdiff {
namespace {

constexpr uint32_t kX32Bit = 0x40000000u;  // __X32_SYSCALL_BIT

uint32_t low32(uint64_t v) { return static_cast<uint32_t>(v); }

// The register the kernel takes the number from: orig_ax as an int.
uint32_t reg_nr(const CaseInput& in) { return low32(case_register_nr(in)); }

}  // namespace

bool requests_strict_mode(const CaseInput& in, bool x32_abi) {
  const uint32_t r = reg_nr(in);
  if (in.arch == Arch::I386) {
    // __ia32_sys_*: each argument is the zero-extended 32-bit register.
    const uint32_t a0 = low32(in.args[0]), a1 = low32(in.args[1]), a2 = low32(in.args[2]);
    if (r == 354) return a0 == 0 && a1 == 0 && a2 == 0;  // seccomp(op, flags, uargs)
    if (r == 172) return a0 == 22 && a1 == 1;            // prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT)
    return false;
  }
  uint32_t nr = r;
  if (r & kX32Bit) {  // do_syscall_x32(): x32 numbers of the common entries
    if (!x32_abi) return false;
    nr = r - kX32Bit;
  }
  // SYSCALL_DEFINE3(seccomp, unsigned int op, unsigned int flags, void __user *uargs)
  if (nr == 317) return low32(in.args[0]) == 0 && low32(in.args[1]) == 0 && in.args[2] == 0;
  // SYSCALL_DEFINE5(prctl, int option, unsigned long arg2, ...)
  if (nr == 157) return low32(in.args[0]) == 22 && in.args[1] == 1;
  return false;
}

bool strict_mode_allows(const CaseInput& in) {
  static constexpr int32_t kNative[] = {0, 1, 60, 15};  // read write exit rt_sigreturn
  static constexpr int32_t kCompat[] = {3, 4, 1, 119};  // __NR_ia32_{read,write,exit,sigreturn}
  // this_syscall = syscall_get_nr() = (int)orig_ax, X32 bit included.
  const int32_t nr = static_cast<int32_t>(reg_nr(in));
  const bool compat = in.arch == Arch::I386 || (reg_nr(in) & kX32Bit);  // in_compat_syscall()
  for (int32_t a : compat ? kCompat : kNative)
    if (a == nr) return true;
  return false;
}

Observation strict_mode_observe(const CaseInput& in, const TaskEnv& env) {
  Observation o;
  if (strict_mode_allows(in)) {
    o.dispatched = true;
    o.returns = true;
    return o;
  }
  o.action = Action::KillThread;
  o.ret = SECCOMP_RET_KILL_THREAD;
  o.killed = true;
  o.strict_kill = true;
  o.whole_process = !env.other_threads;  // do_exit(): this thread only
  o.audit_logged = true;  // seccomp_log(..., SECCOMP_RET_KILL_THREAD, true), default actions_logged
  return o;
}

}  // namespace secdiff
