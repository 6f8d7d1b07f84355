#include "oracle/seccomp_data.h"

#include <cctype>
#include <limits>
#include <stdexcept>
#include <string>

namespace secdiff {

SeccompData make_seccomp_data(Arch arch, int64_t nr, const uint64_t args[6], uint64_t ip) {
  SeccompData sd;
  // syscall_get_nr(): (int)regs->orig_ax, i.e. the low 32 bits of the register.
  uint32_t nr32 = static_cast<uint32_t>(static_cast<uint64_t>(nr));
  // x32 numbers reach the kernel with __X32_SYSCALL_BIT set and keep it.
  if (arch == Arch::X32) nr32 |= X32_SYSCALL_BIT;
  sd.nr = static_cast<int32_t>(nr32);
  // syscall_get_arch(): AUDIT_ARCH_I386 only for TS_COMPAT (ia32) syscalls.
  sd.arch = audit_arch(arch);
  // KSTK_EIP(current) = regs->ip.
  sd.instruction_pointer = ip;
  // syscall_get_arguments(): the six registers as unsigned long (64-bit).
  for (int i = 0; i < 6; i++) sd.args[i] = args[i];
  return sd;
}

Arch arch_of(const SeccompData& sd) {
  if (sd.arch == AUDIT_ARCH_I386) return Arch::I386;
  if (sd.arch == AUDIT_ARCH_X86_64 && (static_cast<uint32_t>(sd.nr) & X32_SYSCALL_BIT) != 0)
    return Arch::X32;
  return Arch::X86_64;
}

namespace {

// Decimal or 0x/0X hex digits into a magnitude; false on bad digits or overflow.
bool parse_magnitude(std::string_view s, uint64_t& out) {
  unsigned base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  }
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    unsigned d;
    if (c >= '0' && c <= '9') {
      d = static_cast<unsigned>(c - '0');
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      d = static_cast<unsigned>(c - 'a' + 10);
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      d = static_cast<unsigned>(c - 'A' + 10);
    } else {
      return false;
    }
    if (v > (std::numeric_limits<uint64_t>::max() - d) / base) return false;
    v = v * base + d;
  }
  out = v;
  return true;
}

}  // namespace

int64_t parse_syscall(Arch arch, std::string_view text, std::string_view kernel) {
  if (text.empty()) throw std::invalid_argument("empty syscall");
  const char first = text[0];
  if (first == '-' || first == '+' || std::isdigit(static_cast<unsigned char>(first))) {
    const bool negative = first == '-';
    std::string_view digits = text;
    if (first == '-' || first == '+') digits.remove_prefix(1);
    uint64_t mag = 0;
    if (!parse_magnitude(digits, mag))
      throw std::invalid_argument("bad syscall number '" + std::string(text) + "'");
    if (negative) {
      // Down to INT64_MIN, whose magnitude is 2^63.
      if (mag > uint64_t{1} << 63)
        throw std::invalid_argument("syscall number '" + std::string(text) + "' out of range");
      return static_cast<int64_t>(uint64_t{0} - mag);
    }
    // Up to 0xffff_ffff_ffff_ffff: any register value (two's complement).
    return static_cast<int64_t>(mag);
  }
  const std::optional<int32_t> nr = syscall_number(arch, text, kernel);
  if (!nr) {
    const KernelProfile* kp = find_kernel_profile(kernel);
    std::string msg = "unknown syscall '" + std::string(text) + "' for " +
                      std::string(arch_name(arch));
    if (kp != nullptr) {
      msg += " (kernel " + kp->version + ")";
    } else {
      msg += " (unknown kernel '" + std::string(kernel) + "')";
    }
    throw std::invalid_argument(msg);
  }
  return *nr;
}

}  // namespace secdiff
