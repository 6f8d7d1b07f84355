// The seccomp user ABI: include/uapi/linux/seccomp.h, include/uapi/linux/audit.h,
// and struct seccomp_data as x86_64 (little-endian) lays it out.
#pragma once

#include <cstdint>
#include <cstring>

namespace secdiff {

// Return values (include/uapi/linux/seccomp.h).
inline constexpr uint32_t SECCOMP_RET_KILL_PROCESS = 0x80000000u;
inline constexpr uint32_t SECCOMP_RET_KILL_THREAD = 0x00000000u;
inline constexpr uint32_t SECCOMP_RET_TRAP = 0x00030000u;
inline constexpr uint32_t SECCOMP_RET_ERRNO = 0x00050000u;
inline constexpr uint32_t SECCOMP_RET_USER_NOTIF = 0x7fc00000u;
inline constexpr uint32_t SECCOMP_RET_TRACE = 0x7ff00000u;
inline constexpr uint32_t SECCOMP_RET_LOG = 0x7ffc0000u;
inline constexpr uint32_t SECCOMP_RET_ALLOW = 0x7fff0000u;
inline constexpr uint32_t SECCOMP_RET_ACTION_FULL = 0xffff0000u;
inline constexpr uint32_t SECCOMP_RET_ACTION = 0x7fff0000u;
inline constexpr uint32_t SECCOMP_RET_DATA = 0x0000ffffu;

// kernel/seccomp.c: #define ACTION_ONLY(ret) ((s32)((ret) & (SECCOMP_RET_ACTION_FULL)))
constexpr int32_t ACTION_ONLY(uint32_t ret) {
  return static_cast<int32_t>(ret & SECCOMP_RET_ACTION_FULL);
}

// Filter flags (SECCOMP_FILTER_FLAG_*).
inline constexpr uint32_t SECCOMP_FILTER_FLAG_TSYNC = 1u << 0;
inline constexpr uint32_t SECCOMP_FILTER_FLAG_LOG = 1u << 1;
inline constexpr uint32_t SECCOMP_FILTER_FLAG_SPEC_ALLOW = 1u << 2;
inline constexpr uint32_t SECCOMP_FILTER_FLAG_NEW_LISTENER = 1u << 3;
inline constexpr uint32_t SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 1u << 4;
inline constexpr uint32_t SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1u << 5;
inline constexpr uint32_t SECCOMP_FILTER_FLAG_MASK = 0x3f;

// Audit arch values.
inline constexpr uint32_t AUDIT_ARCH_X86_64 = 0xc000003eu;
inline constexpr uint32_t AUDIT_ARCH_I386 = 0x40000003u;
inline constexpr uint32_t X32_SYSCALL_BIT = 0x40000000u;  // __X32_SYSCALL_BIT

inline constexpr unsigned MAX_ERRNO = 4095;
inline constexpr unsigned MAX_INSNS_PER_PATH = (1u << 18) / 8;  // 32768

// struct seccomp_data offsets.
inline constexpr uint32_t SD_OFF_NR = 0;
inline constexpr uint32_t SD_OFF_ARCH = 4;
inline constexpr uint32_t SD_OFF_IP = 8;
inline constexpr uint32_t SD_OFF_ARGS = 16;
inline constexpr uint32_t SECCOMP_DATA_SIZE = 64;

struct SeccompData {
  int32_t nr = 0;
  uint32_t arch = AUDIT_ARCH_X86_64;
  uint64_t instruction_pointer = 0;
  uint64_t args[6] = {0, 0, 0, 0, 0, 0};

  // The 32-bit word a BPF_LD|BPF_W|BPF_ABS at offset `off` reads (native
  // little-endian; off must be < 64 and 4-aligned).
  uint32_t word(uint32_t off) const {
    uint32_t w;
    std::memcpy(&w, reinterpret_cast<const unsigned char*>(this) + off, 4);
    return w;
  }
  void set_word(uint32_t off, uint32_t w) {
    std::memcpy(reinterpret_cast<unsigned char*>(this) + off, &w, 4);
  }
  friend bool operator==(const SeccompData&, const SeccompData&) = default;
};
static_assert(sizeof(SeccompData) == SECCOMP_DATA_SIZE);

}  // namespace secdiff
