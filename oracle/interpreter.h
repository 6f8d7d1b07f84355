// Execution of one loaded filter with the semantics of the converted eBPF
// program (bpf_convert_filter + ___bpf_prog_run / the x86 JIT): 32-bit
// unsigned A and X starting at 0, wrap-around ALU, shifts by X masked to 31,
// DIV by X == 0 returns 0 from the filter, unsigned compares, RET A.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "oracle/bpf.h"
#include "oracle/seccomp_abi.h"

namespace secdiff {


// One executed instruction, with the machine state after it.
struct TraceStep {
  unsigned pc = 0;
  Insn insn;            // as executed (rewritten form)
  uint32_t a = 0, x = 0;
  bool branch_taken = false;  // conditional jumps only
  bool div_by_zero = false;   // DIV X with X == 0 ended the filter
};

struct Trace {
  std::vector<TraceStep> steps;
  uint32_t ret = 0;
};

// Returns the filter's 32-bit return value. `insns` must have passed
// seccomp_check_filter (rewritten form).
uint32_t bpf_run(const Program& insns, const SeccompData& sd);
uint32_t bpf_run_traced(const Program& insns, const SeccompData& sd, Trace* trace);

// Coverage hook for fuzzers: one byte per instruction, bit 0 = executed,
// bit 1 = conditional jump taken, bit 2 = conditional jump not taken.
uint32_t bpf_run_cov(const Program& insns, const SeccompData& sd, uint8_t* cov);


// Machine state between instructions.
struct BpfState {
  unsigned pc = 0;
  uint32_t a = 0, x = 0;
  uint32_t mem[bpf::MEMWORDS] = {};
  bool stopped = false;
};

// Runs until the first load of a seccomp_data word other than nr/arch: returns
// the filter's result if none is reached (st->stopped == false), otherwise
// saves the state before that load in *st (st->stopped == true).
uint32_t bpf_run_prefix(const Program& insns, const SeccompData& sd, BpfState* st);
// Continues from a state saved by bpf_run_prefix.
uint32_t bpf_run_from(const Program& insns, const SeccompData& sd, const BpfState& st);
// bpf_run_prefix() started from the state *st (pc, A, X, M[]) instead of the entry.
uint32_t bpf_run_prefix_from(const Program& insns, const SeccompData& sd, BpfState* st);

}  // namespace secdiff
