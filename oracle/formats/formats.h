// Program text and binary formats of the cBPF ecosystem:
//   raw     little-endian struct sock_filter array (firejail, bubblewrap, seccomp-tools raw)
//   bpf_asm tools/bpf/bpf_asm source: `ld [0]`, `jeq #59, kill, ok`, labels, comments
//   ops     bpf_asm's default output / tcpdump -ddd | tr '\n' ',': "N,code jt jf k,..."
//   ddd     tcpdump -ddd: a count line then one "code jt jf k" line per instruction
//   c       bpf_asm -c / tcpdump -dd C initializers: { 0x20, 0, 0, 0x00000000 },
// All parsing is pure (no I/O); errors throw FormatError with a 1-based line.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "oracle/bpf.h"
#include "oracle/kernel_profile.h"

namespace secdiff {

enum class Format { Raw, BpfAsm, Ops, Ddd, C };

const char* format_name(Format f);                   // "raw", "bpf_asm", "ops", "ddd", "c"
std::optional<Format> parse_format_name(std::string_view s);

class FormatError : public std::runtime_error {
 public:
  FormatError(std::string msg, int line = 0) : std::runtime_error(std::move(msg)), line_(line) {}
  int line() const { return line_; }  // 1-based; 0 = not about a line
 private:
  int line_;
};

// Guesses the format of file contents. Raw is chosen for non-text data (whose
// size should be a multiple of 8; parsing says so otherwise); nullopt for
// empty or blank input.
std::optional<Format> detect_format(std::string_view bytes);

// Parses `bytes` in `fmt` (or the detected format when nullopt).
Program parse_program(std::string_view bytes, std::optional<Format> fmt = std::nullopt);

// Serializes in a format. For BpfAsm this is the disassembler output (with
// default options), so parse_program(write_program(p, BpfAsm)) == p.
std::string write_program(const Program& p, Format fmt);

struct DisasmOptions {
  Arch arch = Arch::X86_64;   // syscall names in comments, unless an arch check says otherwise
  std::string kernel;         // syscall table version ("" = default)
  bool comments = true;       // field/action/syscall annotations
};

// bpf_asm-syntax disassembly that assembles back to exactly `p`, valid or not
// (encodings bpf_asm cannot spell are written as raw `.insn` lines). One
// instruction a line, `L<index>:` lines before jump targets; with comments,
// each line starts with `/* <index> */` and ends with `; <annotation>`.
std::string disassemble(const Program& p, const DisasmOptions& opt = {});

// bpf_asm assembler (labels, `#k`, `M[k]`, `[k]`, `4*([k]&0xf)`, `jeq #k, Lt[, Lf]`,
// jne/jlt/jle/jneq..., `ret #k|a|x`, comments `;`, `/* */`, `//`, `#` first on a
// line), plus seccomp sugar: named constants (see lookup_constant) joined by `|`,
// actions with data as `ERRNO(1)`, and `.insn code, jt, jf, k`.
Program assemble(std::string_view text);

// One format each; parse_program/write_program dispatch to these.
Program parse_raw(std::string_view bytes);  // size % 8 != 0 is an error
std::string write_raw(const Program& p);
Program parse_ops(std::string_view text);   // "N,code jt jf k,..." (decimal)
std::string write_ops(const Program& p);    // as bpf_asm prints it, with a '\n'
Program parse_ddd(std::string_view text);   // "N\ncode jt jf k\n..."
std::string write_ddd(const Program& p);
Program parse_c_array(std::string_view text);  // { 0x20, 0, 0, 0x4 }, BPF_STMT, BPF_JUMP
std::string write_c_array(const Program& p);   // bpf_asm -c lines

// Named constants usable where bpf_asm or C input expects a number, matched
// case-insensitively: SECCOMP_RET_* (also without the prefix, and KILL for
// KILL_THREAD), SECCOMP_RET_ACTION/_ACTION_FULL/_DATA, AUDIT_ARCH_*, BPF_*
// opcode fields, SKF_AD_OFF, errno names (EPERM..., oracle/errno_names.h),
// __NR_<x86_64 name>, __X32_SYSCALL_BIT.
std::optional<uint32_t> lookup_constant(std::string_view name);
// "AUDIT_ARCH_X86_64" for 0xc000003e, nullopt when unknown.
std::optional<std::string_view> audit_arch_name(uint32_t arch);
// A seccomp return value as the assembler's sugar spells it: "ALLOW",
// "ERRNO(1)", "TRAP(0x12)", "KILL_PROCESS"; unknown actions are described.
std::string describe_action(uint32_t ret);
// The struct seccomp_data word at byte offset `off`: "nr", "arch",
// "instruction_pointer low", "args[2] high"; nullopt if none.
std::optional<std::string> seccomp_data_field(uint32_t off);

}  // namespace secdiff
