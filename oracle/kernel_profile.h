// Per-kernel-version facts the oracle needs: syscall table sizes (the cache
// bitmap sizes), which uprobe exceptions seccomp_is_const_allow has, and the
// syscall name tables generated from arch/x86/entry/syscalls/syscall_{64,32}.tbl.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace secdiff {

// The three ways a syscall reaches seccomp on an x86_64 kernel.
enum class Arch { X86_64, I386, X32 };

std::string_view arch_name(Arch a);                       // "x86_64", "i386", "x32"
std::optional<Arch> parse_arch(std::string_view name);    // also accepts "x86", "ia32", "amd64"
uint32_t audit_arch(Arch a);                              // AUDIT_ARCH_X86_64 for X86_64 and X32

struct KernelProfile {
  std::string version;        // "6.1", "6.12", "6.18"
  int native_nr = 0;          // NR_syscalls (SECCOMP_ARCH_NATIVE_NR)
  int compat_nr = 0;          // IA32_NR_syscalls (SECCOMP_ARCH_COMPAT_NR)
  bool uretprobe_exception = false;  // native nr kNrUretprobe passes the cache (cf6cb56ef244)
  bool uprobe_exception = false;     // native nr kNrUprobe passes the cache
};

// x86_64 __NR_uretprobe and __NR_uprobe: seccomp_uprobe_exception()'s numbers.
inline constexpr int kNrUretprobe = 335;
inline constexpr int kNrUprobe = 336;

// Known profiles; the default is the newest.
const std::vector<KernelProfile>& kernel_profiles();
const KernelProfile* find_kernel_profile(std::string_view version);
const KernelProfile& default_kernel_profile();

// Syscall names. The table used for X32 is the x86_64 one (names map to
// nr | X32_SYSCALL_BIT; the x32-only 512..547 entries are included).
std::optional<std::string_view> syscall_name(Arch arch, int64_t nr,
                                             std::string_view kernel = {});
std::optional<int32_t> syscall_number(Arch arch, std::string_view name,
                                      std::string_view kernel = {});

}  // namespace secdiff
