// Program text and binary formats of the cBPF ecosystem:
//   raw     little-endian struct sock_filter array (firejail, bubblewrap, seccomp-tools raw)
//   bpf_asm tools/bpf/bpf_asm source: `ld [0]`, `jeq #59, kill, ok`, labels, comments
//   ops     bpf_asm's default output / tcpdump -ddd | tr '\n' ',': "N,code jt jf k,..."
//   ddd     tcpdump -ddd: a count line then one "code jt jf k" line per instruction
//   c       bpf_asm -c / tcpdump -dd C initializers: { 0x20, 0, 0, 0x00000000 },
// All parsing is pure (no I/O); errors throw FormatError with a 1-based line.
#pragma once

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

// Guesses the format of file contents. Raw is chosen for non-text data whose
// size is a multiple of 8.
std::optional<Format> detect_format(std::string_view bytes);

// Parses `bytes` in `fmt` (or the detected format when nullopt).
Program parse_program(std::string_view bytes, std::optional<Format> fmt = std::nullopt);

// Serializes in a format. For BpfAsm this is the disassembler output (with
// default options), so parse_program(write_program(p, BpfAsm)) == p.
std::string write_program(const Program& p, Format fmt);

struct DisasmOptions {
  Arch arch = Arch::X86_64;   // for syscall names in comments
  std::string kernel;         // syscall table version ("" = default)
  bool comments = true;       // field/action/syscall annotations
};

// bpf_asm-syntax disassembly that assembles back to exactly `p`, valid or not
// (encodings bpf_asm cannot spell are written as raw `.insn` lines).
std::string disassemble(const Program& p, const DisasmOptions& opt = {});

// bpf_asm assembler (labels, `#k`, `M[k]`, `[k]`, `4*([k]&0xf)`, `jeq #k, Lt[, Lf]`,
// jne/jlt/jle/jneq..., `ret #k|a|x`, comments `;`, `/* */`, `//`), plus seccomp
// sugar: symbolic constants (SECCOMP_RET_*, AUDIT_ARCH_*), `.insn code, jt, jf, k`.
Program assemble(std::string_view text);

}  // namespace secdiff
