// The structure-aware generator and mutator for seccomp cases, shared by the
// libFuzzer hooks (LLVMFuzzerCustomMutator / LLVMFuzzerCustomCrossOver,
// fuzzers/engine_libfuzzer_mutator.cc) and the AFL++ custom mutator
// (fuzzers/afl_mutator.cc). It works on Cases (oracle/case.h) and on their
// compact encoding (oracle/case_codec.h), the input format of every target.
//
// * Programs are seccomp-valid by construction (only the 41 seccomp opcodes,
//   forward jumps in range, LD W ABS 4-aligned below 64, M[k] loads only where
//   the kernel's check_load_and_stores() sees a store, no DIV K 0, shifts < 32,
//   last instruction RET), except for a tunable share of invalid ones.
// * Instruction insertion/deletion/replacement repair the jumps around them.
// * Constants come from dictionaries: syscall numbers of the kernel profile's
//   tables and their boundaries, AUDIT_ARCH_*, SECCOMP_RET_* with data, masks,
//   0, 1, 0xffffffff, 0x40000000, and the constants already in the case.
// * Chain edits: add/remove/swap/duplicate filters, flags, task flags.
// * Inputs from the dictionaries and the constants the program compares
//   against, as 32-bit halves of the 64-bit registers.
// Everything is a pure function of (input, seed): no global state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "oracle/bpf.h"
#include "oracle/case.h"
#include "oracle/kernel_profile.h"

namespace secdiff::fuzz {

// splitmix64-seeded xoshiro256**: small, fast, and the same on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next();
  uint32_t u32() { return static_cast<uint32_t>(next() >> 32); }
  uint32_t below(uint32_t n);  // [0, n); 0 when n == 0
  bool chance(double p);
  template <class V>
  const typename V::value_type& pick(const V& v) {
    return v[below(static_cast<uint32_t>(v.size()))];
  }
  template <class V>
  typename V::value_type& pick(V& v) {
    return v[below(static_cast<uint32_t>(v.size()))];
  }

 private:
  uint64_t s_[4];
};

struct MutatorOptions {
  double invalid_share = 0.05;  // programs deliberately left invalid (generation and mutation)
  unsigned max_filters = 4;     // chain length the mutator grows to
  unsigned max_insns = 48;      // generated program length (mutation may grow to 255)
  unsigned max_inputs = 12;
  double typical_share = 0.3;   // generated programs shaped like real filters
  double emulator_share = 0.45; // generated programs in the cache emulator's language
  std::string kernel;           // kernel profile for the syscall dictionaries ("" = default)
};

class CaseMutator {
 public:
  explicit CaseMutator(MutatorOptions o = {});
  const MutatorOptions& options() const { return opt_; }

  // A fresh case (1..max_filters filters, 1..max_inputs inputs).
  Case generate(uint64_t seed) const;
  // 1..4 stacked mutations of `c`.
  void mutate(Case& c, uint64_t seed) const;
  // A child of two cases: filters and inputs from both, or a program spliced
  // from both parents' programs.
  Case crossover(const Case& a, const Case& b, uint64_t seed) const;

  // The byte-level hooks: decode `data` (a case that does not decode is
  // replaced by a generated one), mutate, and encode into at most max_size
  // bytes. Returns the new size (0 only if max_size cannot hold any case).
  size_t mutate_bytes(uint8_t* data, size_t size, size_t max_size, uint64_t seed) const;
  size_t crossover_bytes(const uint8_t* d1, size_t s1, const uint8_t* d2, size_t s2,
                         uint8_t* out, size_t max_out, uint64_t seed) const;
  // Shrinks `c` (inputs, then filters, then program tails) until its encoding
  // fits in max_size; returns the encoding ("" if even an empty case does not fit).
  static std::string fit(Case& c, size_t max_size);

  // Program-level pieces (public for the tests).
  Program generate_program(Rng& r, const std::vector<uint32_t>& consts) const;
  void mutate_program(Rng& r, Program& p, const std::vector<uint32_t>& consts) const;
  CaseInput generate_input(Rng& r, const std::vector<uint32_t>& consts) const;

 private:
  MutatorOptions opt_;
  const KernelProfile* kernel_;
  std::vector<uint32_t> native_nrs_, compat_nrs_;  // every number the tables name
};

// Inserts `in` at index `at` (0..size) and moves every jump that crossed it so
// that it still reaches the same instruction (a jump to `at` itself now lands
// on the new instruction). Offsets that no longer fit in 8 bits are clamped.
void insert_insn(Program& p, size_t at, const Insn& in);
// Removes instruction `at`; jumps to it now land on its successor.
void delete_insn(Program& p, size_t at);
// Makes `p` acceptable to seccomp_check_filter()/check_load_and_stores():
// unknown opcodes replaced, jumps clamped into range, offsets fixed, M[] loads
// that may precede a store turned into immediate loads, RET appended or set
// last, length within 1..max_len. Leaves a valid program unchanged.
void repair_program(Program& p, size_t max_len = 4096);
// True if the kernel would accept `p` as a filter (flags 0, no_new_privs).
bool program_is_valid(const Program& p);

// Constants the case compares or computes with (K of jumps, ALU, LD IMM, RET)
// plus the 32-bit halves of its inputs' registers.
std::vector<uint32_t> case_constants(const Case& c);

// The 41 opcodes seccomp_check_filter() accepts.
const std::vector<uint16_t>& seccomp_opcodes();

}  // namespace secdiff::fuzz
