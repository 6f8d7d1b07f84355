// BPF_STMT / BPF_JUMP in the style of <linux/filter.h>, for hand-written test programs.
#pragma once

#include "oracle/bpf.h"
#include "oracle/seccomp_abi.h"

namespace secdiff::testing {

inline Insn STMT(uint16_t code, uint32_t k) { return Insn{code, 0, 0, k}; }
inline Insn JUMP(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) { return Insn{code, jt, jf, k}; }

namespace op {
using namespace bpf;
inline constexpr uint16_t LD_ABS = LD | W | ABS, LD_IMM = LD | IMM, LDX_IMM = LDX | IMM,
                          LD_MEM = LD | MEM, LDX_MEM = LDX | MEM, LD_LEN = LD | W | LEN,
                          LDX_LEN = LDX | W | LEN, RET_K = RET | K, RET_A = RET | A,
                          JEQ_K = JMP | JEQ | K, JEQ_X = JMP | JEQ | X, JGT_K = JMP | JGT | K,
                          JGE_K = JMP | JGE | K, JSET_K = JMP | JSET | K, JA_ = JMP | JA;
}  // namespace op

inline SeccompData sd_of(int32_t nr, uint32_t arch = AUDIT_ARCH_X86_64,
                         std::initializer_list<uint64_t> args = {}, uint64_t ip = 0) {
  SeccompData sd;
  sd.nr = nr;
  sd.arch = arch;
  sd.instruction_pointer = ip;
  int i = 0;
  for (uint64_t a : args) sd.args[i++] = a;
  return sd;
}

}  // namespace secdiff::testing
