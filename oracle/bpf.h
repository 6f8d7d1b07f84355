// Classic BPF instruction encoding, as in include/uapi/linux/filter.h and
// include/uapi/linux/bpf_common.h.
#pragma once

#include <cstdint>
#include <vector>

namespace secdiff {

struct Insn {
  uint16_t code = 0;
  uint8_t jt = 0;
  uint8_t jf = 0;
  uint32_t k = 0;

  friend bool operator==(const Insn&, const Insn&) = default;
};

// One filter program (struct sock_fprog's array), exactly as the user gave it.
using Program = std::vector<Insn>;

namespace bpf {

// Instruction classes.
inline constexpr uint16_t LD = 0x00, LDX = 0x01, ST = 0x02, STX = 0x03, ALU = 0x04, JMP = 0x05,
                          RET = 0x06, MISC = 0x07;
// ld/ldx fields.
inline constexpr uint16_t W = 0x00, H = 0x08, B = 0x10;
inline constexpr uint16_t IMM = 0x00, ABS = 0x20, IND = 0x40, MEM = 0x60, LEN = 0x80, MSH = 0xa0;
// alu/jmp fields.
inline constexpr uint16_t ADD = 0x00, SUB = 0x10, MUL = 0x20, DIV = 0x30, OR = 0x40, AND = 0x50,
                          LSH = 0x60, RSH = 0x70, NEG = 0x80, MOD = 0x90, XOR = 0xa0;
inline constexpr uint16_t JA = 0x00, JEQ = 0x10, JGT = 0x20, JGE = 0x30, JSET = 0x40;
inline constexpr uint16_t K = 0x00, X = 0x08;
// ret: BPF_RVAL; BPF_A = 0x10.
inline constexpr uint16_t A = 0x10;
// misc.
inline constexpr uint16_t TAX = 0x00, TXA = 0x80;

inline constexpr unsigned MEMWORDS = 16;    // BPF_MEMWORDS
inline constexpr unsigned MAXINSNS = 4096;  // BPF_MAXINSNS
inline constexpr uint32_t SKF_AD_OFF = 0xfffff000u;  // (-0x1000)
inline constexpr uint32_t SKF_AD_MAX = 64;

constexpr uint16_t class_of(uint16_t c) { return c & 0x07; }
constexpr uint16_t size_of(uint16_t c) { return c & 0x18; }
constexpr uint16_t mode_of(uint16_t c) { return c & 0xe0; }
constexpr uint16_t op_of(uint16_t c) { return c & 0xf0; }
constexpr uint16_t src_of(uint16_t c) { return c & 0x08; }
constexpr uint16_t rval_of(uint16_t c) { return c & 0x18; }
constexpr uint16_t miscop_of(uint16_t c) { return c & 0xf8; }

// Kernel-internal pseudo opcode that seccomp_check_filter rewrites LD|W|ABS into
// (BPF_LDX | BPF_W | BPF_ABS); rejected when supplied by the user.
inline constexpr uint16_t LDX_W_ABS = LDX | W | ABS;

constexpr bool is_cond_jump(uint16_t c) {
  return class_of(c) == JMP && op_of(c) != JA &&
         (op_of(c) == JEQ || op_of(c) == JGT || op_of(c) == JGE || op_of(c) == JSET);
}

}  // namespace bpf
}  // namespace secdiff
