// Disassembler to bpf_asm syntax. Every program round-trips through assemble()
// bit for bit: an instruction is printed as a mnemonic only when bpf_asm would
// encode that mnemonic back to the same code/jt/jf/k, and as `.insn` otherwise.
#include <string>
#include <vector>

#include "oracle/formats/formats.h"
#include "oracle/seccomp_abi.h"

namespace secdiff {
namespace {

using namespace bpf;

void append_dec(std::string& out, uint64_t v) {
  char buf[24];
  char* e = buf + sizeof buf;
  char* p = e;
  do *--p = static_cast<char>('0' + v % 10);
  while (v /= 10);
  out.append(p, e);
}

void append_hex(std::string& out, uint32_t v) {
  char buf[8];
  char* e = buf + sizeof buf;
  char* p = e;
  do *--p = "0123456789abcdef"[v & 0xf];
  while (v >>= 4);
  out += "0x";
  out.append(p, e);
}

// Small values in decimal, others in hex.
void append_num(std::string& out, uint32_t k) {
  if (k < 1024) append_dec(out, k);
  else append_hex(out, k);
}

void append_label(std::string& out, uint64_t target) {
  out += 'L';
  append_dec(out, target);
}

enum class Kind : uint8_t { Unknown, Plain, CondJump, Ja };
// How the operand is spelled; k is printed where the form has one.
enum class Form : uint8_t { None, Imm, Abs, Ind, Mem, Len, Msh, X, A };

struct Decoded {
  Kind kind = Kind::Unknown;
  const char* mnemonic = "";
  Form form = Form::None;
  bool seccomp_ok = true;  // in seccomp_check_filter's allow-list

  // The mnemonic has no k, so bpf_asm writes k = 0.
  bool k_ignored() const { return form == Form::None || form == Form::Len || form == Form::X || form == Form::A; }
};

// The mnemonic bpf_asm would use for `code`, ignoring jt/jf.
Decoded decode(uint16_t code) {
  auto d = [](Kind kind, const char* m, Form f, bool ok = true) { return Decoded{kind, m, f, ok}; };
  constexpr Kind P = Kind::Plain;
  switch (code) {
    case LD | IMM: return d(P, "ld", Form::Imm);
    case LD | W | ABS: return d(P, "ld", Form::Abs);
    case LD | H | ABS: return d(P, "ldh", Form::Abs, false);
    case LD | B | ABS: return d(P, "ldb", Form::Abs, false);
    case LD | W | IND: return d(P, "ld", Form::Ind, false);
    case LD | H | IND: return d(P, "ldh", Form::Ind, false);
    case LD | B | IND: return d(P, "ldb", Form::Ind, false);
    case LD | MEM: return d(P, "ld", Form::Mem);
    case LD | W | LEN: return d(P, "ld", Form::Len);
    case LDX | IMM: return d(P, "ldx", Form::Imm);
    case LDX | MEM: return d(P, "ldx", Form::Mem);
    case LDX | W | LEN: return d(P, "ldx", Form::Len);
    case LDX | MSH | B: return d(P, "ldxb", Form::Msh, false);
    case ST: return d(P, "st", Form::Mem);
    case STX: return d(P, "stx", Form::Mem);
    case ALU | NEG: return d(P, "neg", Form::None);
    case RET | K: return d(P, "ret", Form::Imm);
    case RET | A: return d(P, "ret", Form::A);
    case RET | X: return d(P, "ret", Form::X, false);
    case MISC | TAX: return d(P, "tax", Form::None);
    case MISC | TXA: return d(P, "txa", Form::None);
    case JMP | JA: return d(Kind::Ja, "ja", Form::None);
    default: break;
  }
  if (code > 0xff) return Decoded{};
  const uint16_t op = op_of(code);
  const Form src = src_of(code) == X ? Form::X : Form::Imm;
  if (class_of(code) == ALU) {
    static constexpr const char* kAlu[16] = {"add", "sub", "mul", "div", "or",  "and", "lsh", "rsh",
                                             nullptr, "mod", "xor", nullptr, nullptr, nullptr, nullptr, nullptr};
    const char* name = kAlu[op >> 4];
    if (!name) return Decoded{};
    return d(P, name, src, op != MOD);
  }
  if (class_of(code) == JMP && (op == JEQ || op == JGT || op == JGE || op == JSET)) {
    static constexpr const char* kJmp[5] = {nullptr, "jeq", "jgt", "jge", "jset"};
    return d(Kind::CondJump, kJmp[op >> 4], src);
  }
  return Decoded{};
}

// `mnemonic operand` without jump labels.
void append_insn(std::string& out, const Decoded& d, uint32_t k, const char* mnemonic = nullptr) {
  out += mnemonic ? mnemonic : d.mnemonic;
  switch (d.form) {
    case Form::None: return;
    case Form::Imm: out += " #"; append_num(out, k); return;
    case Form::Abs: out += " ["; append_num(out, k); out += ']'; return;
    case Form::Ind: out += " [x + "; append_num(out, k); out += ']'; return;
    case Form::Mem: out += " M["; append_num(out, k); out += ']'; return;
    case Form::Len: out += " #len"; return;
    case Form::Msh: out += " 4*(["; append_num(out, k); out += "]&0xf)"; return;
    case Form::X: out += " x"; return;
    case Form::A: out += " a"; return;
  }
}

// What is known on entry to an instruction, over all paths that reach it:
// where A's value came from, and which arch an earlier `jeq #AUDIT_ARCH_*`
// on the arch word established.
struct Facts {
  bool reached = false;
  bool a_is_field = false;  // A holds seccomp_data word a_off (LD|W|ABS)
  bool arch_known = false;  // seccomp_data.arch == arch
  uint32_t a_off = 0;
  uint32_t arch = 0;
};

void merge(Facts& into, const Facts& from) {
  if (!into.reached) {
    into = from;
    return;
  }
  if (!(from.a_is_field && into.a_is_field && from.a_off == into.a_off)) into.a_is_field = false;
  if (!(from.arch_known && into.arch_known && from.arch == into.arch)) into.arch_known = false;
}

std::vector<Facts> track(const Program& p) {
  const size_t n = p.size();
  std::vector<Facts> in(n);
  if (n) in[0].reached = true;
  for (size_t i = 0; i < n; ++i) {
    const Insn& x = p[i];
    Facts out = in[i];
    out.reached = true;  // unreachable code: start from nothing known
    const uint16_t cls = class_of(x.code);
    if (x.code == (LD | W | ABS)) {
      out.a_is_field = true;
      out.a_off = x.k;
    } else if (cls == LD || cls == ALU || (cls == MISC && x.code != (MISC | TAX))) {
      out.a_is_field = false;
    }
    auto flow = [&](uint64_t target, const Facts& f) {
      if (target < n) merge(in[target], f);
    };
    if (cls == RET) continue;
    if (cls == JMP && op_of(x.code) == JA) {
      flow(i + 1 + uint64_t{x.k}, out);
    } else if (cls == JMP) {
      Facts taken = out;
      if (x.code == (JMP | JEQ | K) && out.a_is_field && out.a_off == SD_OFF_ARCH) {
        taken.arch_known = true;
        taken.arch = x.k;
      }
      flow(i + 1 + x.jt, taken);
      flow(i + 1 + x.jf, out);
    } else {
      flow(i + 1, out);
    }
  }
  return in;
}

// The syscall `k` names for a filter that checked `facts.arch` (else opt.arch).
std::string syscall_note(uint32_t k, const Facts& facts, const DisasmOptions& opt) {
  Arch arch = opt.arch;
  if (facts.arch_known) {
    if (facts.arch == AUDIT_ARCH_I386) arch = Arch::I386;
    else if (facts.arch == AUDIT_ARCH_X86_64) arch = opt.arch == Arch::I386 ? Arch::X86_64 : opt.arch;
    else return {};  // an arch without tables here
  }
  if (arch != Arch::I386 && k == X32_SYSCALL_BIT) return "X32_SYSCALL_BIT";
  if (arch != Arch::I386 && (k & X32_SYSCALL_BIT)) {
    if (auto name = syscall_name(Arch::X32, k, opt.kernel)) return "x32 " + std::string(*name);
    return {};
  }
  if (auto name = syscall_name(arch, k, opt.kernel)) return std::string(*name);
  return {};
}

void append_note(std::string& notes, std::string_view note) {
  if (note.empty()) return;
  if (!notes.empty()) notes += "; ";
  notes += note;
}

// Canonical spelling of instruction i, or why there is none.
enum class Spell : uint8_t { Canonical, Unknown, JumpBits, KSet, PastEnd };

Spell spell(const Insn& in, const Decoded& d, size_t i, size_t n) {
  const uint64_t t = i + 1 + uint64_t{in.jt}, f = i + 1 + uint64_t{in.jf};
  switch (d.kind) {
    case Kind::Unknown: return Spell::Unknown;
    case Kind::Plain:
      if (in.jt || in.jf) return Spell::JumpBits;
      return d.k_ignored() && in.k ? Spell::KSet : Spell::Canonical;
    case Kind::Ja:
      if (in.jt || in.jf) return Spell::JumpBits;
      return i + 1 + uint64_t{in.k} >= n ? Spell::PastEnd : Spell::Canonical;
    case Kind::CondJump:
      if (d.k_ignored() && in.k) return Spell::KSet;
      return t >= n || f >= n ? Spell::PastEnd : Spell::Canonical;
  }
  return Spell::Unknown;
}

const char* negated(uint16_t code) {  // bpf_asm's one-label inverse tests
  switch (op_of(code)) {
    case JEQ: return "jne";
    case JGT: return "jle";
    case JGE: return "jlt";
    default: return nullptr;
  }
}

}  // namespace

std::string disassemble(const Program& p, const DisasmOptions& opt) {
  const size_t n = p.size();
  std::vector<Decoded> dec(n);
  std::vector<Spell> sp(n);
  std::vector<bool> target(n, false);
  for (size_t i = 0; i < n; ++i) {
    const Insn& in = p[i];
    dec[i] = decode(in.code);
    sp[i] = spell(in, dec[i], i, n);
    if (sp[i] != Spell::Canonical) continue;
    if (dec[i].kind == Kind::Ja) target[i + 1 + in.k] = true;
    if (dec[i].kind != Kind::CondJump) continue;
    if (in.jf == 0) target[i + 1 + in.jt] = true;
    else if (in.jt == 0 && negated(in.code)) target[i + 1 + in.jf] = true;
    else target[i + 1 + in.jt] = target[i + 1 + in.jf] = true;
  }
  const std::vector<Facts> facts = opt.comments ? track(p) : std::vector<Facts>();

  const int width = n > 10000 ? static_cast<int>(std::to_string(n - 1).size()) : 4;
  std::string out, note;
  out.reserve(n * (opt.comments ? 56 : 20));
  for (size_t i = 0; i < n; ++i) {
    const Insn& in = p[i];
    const Decoded& d = dec[i];
    if (target[i]) {
      append_label(out, i);
      out += ":\n";
    }
    const size_t line_start = out.size();
    if (opt.comments) {
      out += "/* ";
      const size_t digits = std::to_string(i).size();
      if (digits < static_cast<size_t>(width)) out.append(width - digits, '0');
      append_dec(out, i);
      out += " */ ";
    } else {
      out += "  ";
    }
    if (sp[i] == Spell::Canonical) {
      const uint64_t t = i + 1 + uint64_t{in.jt}, f = i + 1 + uint64_t{in.jf};
      if (d.kind == Kind::Plain) {
        append_insn(out, d, in.k);
      } else if (d.kind == Kind::Ja) {
        out += "ja ";
        append_label(out, i + 1 + uint64_t{in.k});
      } else if (in.jf == 0) {
        append_insn(out, d, in.k);
        out += ", ";
        append_label(out, t);
      } else if (in.jt == 0 && negated(in.code)) {
        append_insn(out, d, in.k, negated(in.code));
        out += ", ";
        append_label(out, f);
      } else {
        append_insn(out, d, in.k);
        out += ", ";
        append_label(out, t);
        out += ", ";
        append_label(out, f);
      }
    } else {
      out += ".insn ";
      append_hex(out, in.code);
      out += ", ";
      append_dec(out, in.jt);
      out += ", ";
      append_dec(out, in.jf);
      out += ", ";
      append_hex(out, in.k);
    }
    if (!opt.comments) {
      out += '\n';
      continue;
    }
    note.clear();
    switch (sp[i]) {
      case Spell::Canonical: break;
      case Spell::Unknown: note = "unknown opcode"; break;
      case Spell::JumpBits:
        append_insn(note, d, in.k);
        note += " with jt/jf set";
        break;
      case Spell::KSet:
        append_insn(note, d, in.k);
        note += " with k set";
        break;
      case Spell::PastEnd:
        note = d.kind == Kind::Ja ? "ja past the end" : "jump past the end";
        break;
    }
    if (in.code == (LD | W | ABS)) {
      const auto field = seccomp_data_field(in.k);
      append_note(note, field ? *field : "not a seccomp_data word (seccomp rejects it)");
    } else if (in.code == (LD | W | LEN) || in.code == (LDX | W | LEN)) {
      append_note(note, "sizeof(struct seccomp_data) = 64");
    } else if (in.code == (RET | K)) {
      append_note(note, describe_action(in.k));
    } else if (d.kind == Kind::CondJump && src_of(in.code) == K && facts[i].a_is_field) {
      if (facts[i].a_off == SD_OFF_NR) append_note(note, syscall_note(in.k, facts[i], opt));
      else if (facts[i].a_off == SD_OFF_ARCH) append_note(note, audit_arch_name(in.k).value_or(""));
    }
    if (d.kind != Kind::Unknown && !d.seccomp_ok) append_note(note, "not allowed in seccomp filters");
    if (!note.empty()) {
      const size_t len = out.size() - line_start;
      out.append(len < 40 ? 40 - len : 1, ' ');
      out += "; ";
      out += note;
    }
    out += '\n';
  }
  return out;
}

}  // namespace secdiff
