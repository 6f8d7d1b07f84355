// How an x86_64 kernel fills struct seccomp_data for a syscall, per entry path
// (kernel/seccomp.c: populate_seccomp_data(); arch/x86/include/asm/syscall.h:
// syscall_get_nr(), syscall_get_arch(), syscall_get_arguments()).
#pragma once

#include <cstdint>
#include <string_view>

#include "oracle/kernel_profile.h"
#include "oracle/seccomp_abi.h"

namespace secdiff {

// The seccomp_data a syscall made through `arch`'s entry path produces.
//   nr:   the syscall-number register (rax / eax) as user space set it, all 64
//         bits; the kernel keeps the low 32 (syscall_get_nr() returns
//         (int)regs->orig_ax): 0x1_0000_006e is seen as 110, -1 as 0xffffffff.
//         X32 also sets X32_SYSCALL_BIT (0x40000000).
//   args: the six argument registers as user space set them (x86_64/x32: rdi,
//         rsi, rdx, r10, r8, r9; I386 via int $0x80: rbx, rcx, rdx, rsi, rdi,
//         rbp). All 64 bits are kept, for I386 too: a 64-bit task's int $0x80
//         passes the full registers (syscall_get_arguments() copies regs->bx...).
//   ip:   instruction_pointer (the address after the syscall instruction).
SeccompData make_seccomp_data(Arch arch, int64_t nr, const uint64_t args[6], uint64_t ip);

// The entry path a seccomp_data says it came from: I386 if arch is
// AUDIT_ARCH_I386; X32 if arch is AUDIT_ARCH_X86_64 and nr has
// X32_SYSCALL_BIT (as filters test it; note nr = -1 has it too); else X86_64.
Arch arch_of(const SeccompData& sd);

// Parses a syscall given as a number (decimal or 0x hex, optionally negative;
// any value of a 64-bit register) or as a name in `arch`'s table of `kernel`
// (empty: the default profile). X32 names give the x32 number with
// X32_SYSCALL_BIT set. The result is a register value for make_seccomp_data().
// Throws std::invalid_argument naming the syscall if it is not known.
int64_t parse_syscall(Arch arch, std::string_view text, std::string_view kernel = {});

}  // namespace secdiff
