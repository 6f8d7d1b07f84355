// Running filter chains on the running (host) kernel, in child processes that
// make harmless syscalls only.
//
// Children are clone(CLONE_VM) processes by default (their own process, filters,
// signal handlers, fds and rlimits, but the parent's memory: ~15x cheaper than
// fork on a VM; the child calls no libc function and finds its state through its
// own stack), or forked ones (HostOptions::share_vm = false, and always with
// drop_to_nobody). The MAP_SHARED|MAP_ANONYMOUS results page is created by the
// parent before the child starts (one per thread, reused), so it is shared in
// both modes. host_run() is thread-safe.
//
// A child of host_run():
//   1. optionally drops to uid/gid 65534 and sets PR_SET_NO_NEW_PRIVS,
//   2. installs each filter with the raw seccomp(SECCOMP_SET_MODE_FILTER, flags,
//      &fprog) syscall, issued from the same stub as the inputs (so the install
//      itself is observed as a syscall under the filters installed before it),
//   3. issues each input's syscall from a 3-byte stub ("syscall; ret" or
//      "int $0x80; ret") copied to an executable page, at the requested
//      instruction pointer when possible,
//   4. calls exit_group and, if that returns, faults (writes to address 0); a
//      child that holds a listener fd of its own faults at once, since a
//      USER_NOTIF for exit_group would block it forever.
// Every result is written to a MAP_SHARED page without a syscall, so results
// survive whatever the filters deny. When a child dies during an input it is
// re-forked (the filters installed again) to continue with the next input.
//
// SAFETY: only the harmless syscalls of is_harmless_syscall() are issued as
// inputs; anything else is refused before a child is started.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "oracle/bpf.h"
#include "oracle/chain.h"
#include "oracle/kernel_profile.h"
#include "oracle/seccomp_abi.h"

namespace secdiff {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
inline constexpr bool kHostSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
inline constexpr bool kHostSanitized = true;
#else
inline constexpr bool kHostSanitized = false;
#endif
#else
inline constexpr bool kHostSanitized = false;
#endif

struct HostFilter {
  Program prog;
  uint32_t flags = 0;
};

struct HostInput {
  Arch arch = Arch::X86_64;
  // The syscall number. X86_64 and I386: the value put in rax (all 64 bits;
  // the kernel uses the low 32). X32: nr | X32_SYSCALL_BIT is put in rax.
  int64_t nr = 39;
  uint64_t args[6] = {0, 0, 0, 0, 0, 0};
  // The instruction pointer the filter should see (address after the syscall
  // instruction). Used when it is a valid, free user address; else a default
  // stub is used. HostOutcome::ip_used tells which.
  std::optional<uint64_t> ip;
};

struct HostOptions {
  bool no_new_privs = true;
  bool drop_to_nobody = false;  // setgroups({}), setresgid/setresuid(65534)
  int timeout_ms = 2000;        // per child; SIGKILL after it
  // Children share the parent's address space (clone(CLONE_VM), ~15x cheaper
  // than fork on a VM). Off, or with drop_to_nobody, children are forked.
  // Under ASan/UBSan a CLONE_VM child would run on the parent's sanitizer
  // thread state (same TLS), which corrupts it: sanitized builds fork instead.
  bool share_vm = !kHostSanitized;
};

// What one syscall issued in a child did.
struct HostOutcome {
  // Filled from the input.
  Arch arch = Arch::X86_64;
  uint64_t rax_issued = 0;  // the value the stub put in rax
  uint64_t ip_used = 0;     // address right after the syscall instruction
  bool ip_as_requested = false;

  bool not_run = false;     // never issued (the child could not get that far)
  bool returned = false;    // the syscall instruction returned normally
  uint64_t rax = 0;         // raw rax after return
  int err = 0;              // errno-like decode: -rax if rax in [-4095, -1], else 0
  bool sigsys = false;      // the SIGSYS handler ran (the stub was left via longjmp)
  int sig_signo = 0, sig_code = 0, sig_errno = 0;
  int32_t sig_syscall = 0;
  uint32_t sig_arch = 0;
  uint64_t sig_call_addr = 0;
  uint64_t uc_rax = 0;      // rax in the handler's ucontext
  int killed_by = 0;        // the child died of this signal during this syscall
  bool timed_out = false;   // the child was SIGKILLed after HostOptions::timeout_ms
};

// One seccomp(SECCOMP_SET_MODE_FILTER) call of the child.
struct HostInstall {
  int64_t ret = 0;          // return value (0, a listener fd, or -1)
  int err = 0;              // errno when ret == -1
  HostOutcome call;         // the seccomp syscall as a syscall (filtered by earlier filters)
  bool ok() const { return call.returned && ret >= 0; }
};

struct HostRun {
  std::string error;                 // non-empty: refused or could not run (nothing valid)
  std::vector<HostInstall> installs;  // one per filter (call.not_run when never reached)
  std::vector<HostOutcome> outcomes;  // one per input
  int children = 0;                  // forks used
  // Fixed pointer values of the install calls (the same in every child), so that
  // a model can evaluate the seccomp syscall itself: rdi = 1
  // (SECCOMP_SET_MODE_FILTER), rsi = flags, rdx = fprog_addr[i], r10 = r8 = r9 = 0.
  std::vector<uint64_t> fprog_addr;
  bool ok() const { return error.empty(); }
};

// Harmless syscalls, judged on the low 32 bits of rax as the kernel dispatches
// them: x86_64 getpid 39, getppid 110, getuid 102, geteuid 107, getgid 104,
// getegid 108, gettid 186, getpgrp 111, sched_yield 24; i386 getpid 20,
// getppid 64, getuid 24, getgid 47, geteuid 49, getegid 50, gettid 224,
// sched_yield 158; x32 (bit 30) of the x86_64 ones; and numbers no table has
// (>= 1000 as unsigned, negative). `nr` as in HostInput.
bool is_harmless_syscall(Arch arch, int64_t nr);
// The value the stub puts in rax for `in` (X32: nr | X32_SYSCALL_BIT).
uint64_t host_rax(const HostInput& in);
// The seccomp_data the kernel builds for `in` when issued with ip `ip_used`.
SeccompData host_seccomp_data(const HostInput& in, uint64_t ip_used);
// The seccomp_data of install call `i` of `run` (for a model of the filters
// installed before it).
SeccompData host_install_seccomp_data(const HostRun& run, const std::vector<HostFilter>& chain,
                                      size_t i);

// Empty if the host can run filters (seccomp filter mode present); else why not.
std::string host_seccomp_unavailable_reason();
// Whether `int $0x80` works in a child (IA32 emulation present).
bool host_ia32_available();
// /proc/sys/net/core/bpf_jit_harden and bpf_jit_enable (-1 if unreadable).
int host_bpf_jit_harden();
int host_bpf_jit_enable();

HostRun host_run(const std::vector<HostFilter>& chain, const std::vector<HostInput>& inputs,
                 const HostOptions& opts = {});

// "" when `host` and `oracle` agree on everything a plain single-threaded task
// without tracer and with a SIGSYS handler can observe; else a description of
// the difference. ALLOW/LOG compare only that the syscall was dispatched (the
// host's result must be a plausible real result of the harmless syscall).
std::string compare_with_oracle(const HostOutcome& host, const Observation& oracle);

// One-line descriptions.
std::string describe(const HostOutcome& o);
std::string describe(const HostInput& in);
std::string describe(const Observation& o);

}  // namespace secdiff
