// SECCOMP_MODE_STRICT entered by an input: a case's inputs are real syscalls,
// and seccomp(SECCOMP_SET_MODE_STRICT, 0, NULL) or prctl(PR_SET_SECCOMP,
// SECCOMP_MODE_STRICT) among them changes how the kernel treats the rest.
#pragma once

#include "oracle/case.h"
#include "oracle/chain.h"

namespace secdiff {

// Whether the input, dispatched, asks for strict mode: do_seccomp() with
// SECCOMP_SET_MODE_STRICT and flags 0, uargs NULL, or prctl_set_seccomp(1).
// It succeeds when the task has no filter (seccomp_may_assign_mode()).
// `x32_abi`: the kernel dispatches x32 syscalls (CONFIG_X86_X32_ABI).
bool requests_strict_mode(const CaseInput& in, bool x32_abi);

// __secure_computing_strict(): mode1_syscalls (read, write, exit,
// rt_sigreturn) or, in a compat syscall (ia32 or x32), the ia32 numbers of
// get_compat_mode1_syscalls() - so every x32 syscall is killed.
bool strict_mode_allows(const CaseInput& in);

// What the task observes for an input once in strict mode: the syscall runs,
// or seccomp_log(KILL_THREAD) and do_exit(SIGKILL) (no SIGSYS, no siginfo).
Observation strict_mode_observe(const CaseInput& in, const TaskEnv& env);

}  // namespace secdiff
