// The bpf_asm assembler (tools/bpf/bpf_exp.l, bpf_exp.y), free-form like the
// original: newlines are plain whitespace, keywords are case-insensitive, labels
// resolve to the instruction they precede, jt/jf are forward offsets
// (target - pc - 1) that must fit in a u8.
// Differences from bpf_asm: `//` comments and `#` comments after leading blanks;
// `[x+4]` lexes (bpf_asm reads "+4" as a number); one-letter labels and several
// labels on one instruction are allowed; duplicate labels, backward `ja`,
// numbers wider than 32 bits are errors (bpf_asm takes the first label, wraps,
// truncates); no BPF_MAXINSNS limit. Additions: named constants and ACTION(data)
// wherever a number goes, joined by `|`; signs on any base; and
// `.insn code, jt, jf, k` for encodings no mnemonic spells.
#include <cstdio>
#include <iterator>
#include <string>
#include <unordered_map>
#include <vector>

#include "oracle/formats/formats.h"

namespace secdiff {
namespace {

using namespace bpf;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_ident_char(char c) { return is_ident_start(c) || is_digit(c); }

enum class Tok { End, Ident, Number, Punct, Directive };

struct Token {
  Tok kind = Tok::End;
  std::string_view text;  // Ident and Directive (without the '.') spelling
  uint64_t value = 0;     // Number; kTooBig when it does not fit in 32 bits
  char punct = 0;
  int line = 1;
};

constexpr uint64_t kTooBig = uint64_t{1} << 32;

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  Token next() {
    for (;;) {
      if (pos_ >= s_.size()) return Token{Tok::End, {}, 0, 0, line_};
      const char c = s_[pos_];
      if (c == '\n') {
        ++line_;
        ++pos_;
        line_start_ = true;
      } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
        ++pos_;
      } else if (c == ';' || (c == '#' && line_start_) ||
                 (c == '/' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '/')) {
        while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
      } else if (c == '/' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '*') {
        const size_t end = s_.find("*/", pos_ + 2);
        if (end == std::string_view::npos) throw FormatError("unterminated /* comment", line_);
        for (size_t i = pos_; i < end; ++i) line_ += s_[i] == '\n';
        pos_ = end + 2;
      } else {
        line_start_ = false;
        return token(c);
      }
    }
  }

 private:
  Token token(char c) {
    Token t;
    t.line = line_;
    if (is_digit(c)) return number();
    if (is_ident_start(c) || (c == '.' && pos_ + 1 < s_.size() && is_ident_start(s_[pos_ + 1]))) {
      const size_t start = c == '.' ? pos_ + 1 : pos_;
      size_t end = start + 1;
      while (end < s_.size() && is_ident_char(s_[end])) ++end;
      t.kind = c == '.' ? Tok::Directive : Tok::Ident;
      t.text = s_.substr(start, end - start);
      pos_ = end;
      return t;
    }
    static constexpr std::string_view kPunct = ":,#%[]()+-*&|";
    if (kPunct.find(c) != std::string_view::npos) {
      ++pos_;
      t.kind = Tok::Punct;
      t.punct = c;
      return t;
    }
    char buf[32];
    if (c > 0x20 && c < 0x7f)
      std::snprintf(buf, sizeof buf, "unexpected character '%c'", c);
    else
      std::snprintf(buf, sizeof buf, "unexpected byte 0x%02x", static_cast<unsigned char>(c));
    throw FormatError(buf, line_);
  }

  // 0x hex, 0b binary, 0 octal, decimal (bpf_exp.l); values saturate at kTooBig.
  Token number() {
    Token t;
    t.kind = Tok::Number;
    t.line = line_;
    const size_t start = pos_;
    unsigned base = 10;
    if (s_[pos_] == '0' && pos_ + 1 < s_.size()) {
      const char n = s_[pos_ + 1];
      if (n == 'x' || n == 'X' || n == 'b' || n == 'B') {
        base = (n == 'x' || n == 'X') ? 16 : 2;
        pos_ += 2;
      } else if (is_digit(n)) {
        base = 8;
        pos_ += 1;
      }
    }
    const size_t digits = pos_;
    uint64_t v = 0;
    for (; pos_ < s_.size(); ++pos_) {
      const char c = s_[pos_];
      unsigned d;
      if (is_digit(c)) d = static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
      else break;
      if (d >= base) break;
      v = v * base + d;
      if (v >= kTooBig) v = kTooBig;
    }
    if (pos_ == digits || (pos_ < s_.size() && is_ident_char(s_[pos_]))) {
      size_t end = pos_;
      while (end < s_.size() && is_ident_char(s_[end])) ++end;
      throw FormatError("bad number " + quoted(s_.substr(start, end - start)), line_);
    }
    t.value = v;
    return t;
  }

  std::string_view s_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_start_ = true;  // only blanks since the last newline
};

// bpf_exp.l extensions: ld/ldh/ldb of SKF_AD_OFF + offset.
struct Extension {
  const char* name;
  uint32_t off;
};
constexpr Extension kExtensions[] = {
    {"proto", 0},     {"type", 4},    {"ifidx", 8},       {"nla", 12},       {"nlan", 16},
    {"mark", 20},     {"queue", 24},  {"hatype", 28},     {"rxhash", 32},    {"cpu", 36},
    {"vlan_tci", 44}, {"vlan_pr", 48}, {"vlan_avail", 48}, {"poff", 52},     {"rand", 56},
    {"vlan_tpid", 60},
};

enum class Op {
  Ld, Ldi, Ldh, Ldb, Ldx, Ldxi, Ldxb, St, Stx, Ja, Jeq, Jne, Jlt, Jle, Jgt, Jge, Jset,
  Add, Sub, Mul, Div, Mod, Neg, And, Or, Xor, Lsh, Rsh, Ret, Tax, Txa,
};
struct Mnemonic {
  const char* name;
  Op op;
};
constexpr Mnemonic kMnemonics[] = {
    {"ld", Op::Ld},     {"ldi", Op::Ldi},   {"ldh", Op::Ldh},   {"ldb", Op::Ldb},
    {"ldx", Op::Ldx},   {"ldxi", Op::Ldxi}, {"ldxb", Op::Ldxb}, {"st", Op::St},
    {"stx", Op::Stx},   {"jmp", Op::Ja},    {"ja", Op::Ja},     {"jeq", Op::Jeq},
    {"jneq", Op::Jne},  {"jne", Op::Jne},   {"jlt", Op::Jlt},   {"jle", Op::Jle},
    {"jgt", Op::Jgt},   {"jge", Op::Jge},   {"jset", Op::Jset}, {"add", Op::Add},
    {"sub", Op::Sub},   {"mul", Op::Mul},   {"div", Op::Div},   {"mod", Op::Mod},
    {"neg", Op::Neg},   {"and", Op::And},   {"or", Op::Or},     {"xor", Op::Xor},
    {"lsh", Op::Lsh},   {"rsh", Op::Rsh},   {"ret", Op::Ret},   {"tax", Op::Tax},
    {"txa", Op::Txa},
};

// Actions that take data as NAME(n).
bool is_action_name(std::string_view s) {
  if (s.size() > 12 && iequals(s.substr(0, 12), "SECCOMP_RET_")) s.remove_prefix(12);
  for (const char* a : {"KILL_PROCESS", "KILL_THREAD", "KILL", "TRAP", "ERRNO", "USER_NOTIF",
                        "TRACE", "LOG", "ALLOW"})
    if (iequals(s, a)) return true;
  return false;
}

enum class Field { Jt, Jf, K };

class Assembler {
 public:
  explicit Assembler(std::string_view text) : lex_(text) { advance(); }

  Program run() {
    while (tok_.kind != Tok::End) statement();
    if (!pending_.empty())
      throw FormatError("label " + quoted(pending_.front().first) +
                            " is not followed by an instruction",
                        pending_.front().second);
    resolve();
    return std::move(out_);
  }

 private:
  void advance() { tok_ = lex_.next(); }
  [[noreturn]] void fail(const std::string& msg) const { throw FormatError(msg, tok_.line); }
  bool is_punct(char c) const { return tok_.kind == Tok::Punct && tok_.punct == c; }
  bool is_word(std::string_view w) const { return tok_.kind == Tok::Ident && iequals(tok_.text, w); }
  std::string describe() const {
    switch (tok_.kind) {
      case Tok::End: return "end of input";
      case Tok::Ident: return quoted(tok_.text);
      case Tok::Directive: return "'." + std::string(tok_.text) + "'";
      case Tok::Number: return "a number";
      case Tok::Punct: return std::string("'") + tok_.punct + "'";
    }
    return "?";
  }
  void expect(char c, const char* context) {
    if (!is_punct(c)) fail(std::string("expected '") + c + "' " + context + ", got " + describe());
    advance();
  }
  void expect_word(std::string_view w, const char* context) {
    if (!is_word(w)) fail("expected '" + std::string(w) + "' " + context + ", got " + describe());
    advance();
  }

  // A number, a named constant, NAME(n) for actions, '(' value ')', joined by '|'.
  uint32_t value() {
    uint32_t v = term();
    while (is_punct('|')) {
      advance();
      v |= term();
    }
    return v;
  }
  uint32_t term() {
    if (is_punct('-') || is_punct('+')) {
      const bool neg = tok_.punct == '-';
      advance();
      if (tok_.kind != Tok::Number) fail("expected a number after '" + std::string(neg ? "-" : "+") + "'");
      const uint64_t v = tok_.value;
      if (v > (neg ? 0x80000000u : 0xffffffffu)) fail("number out of range");
      advance();
      return neg ? static_cast<uint32_t>(0u - static_cast<uint32_t>(v)) : static_cast<uint32_t>(v);
    }
    if (is_punct('(')) {
      advance();
      const uint32_t v = value();
      expect(')', "to close '('");
      return v;
    }
    if (tok_.kind == Tok::Number) {
      if (tok_.value > 0xffffffffu) fail("number out of range (more than 32 bits)");
      const auto v = static_cast<uint32_t>(tok_.value);
      advance();
      return v;
    }
    if (tok_.kind == Tok::Ident) {
      const std::string_view name = tok_.text;
      const auto c = lookup_constant(name);
      if (!c) fail("unknown constant " + quoted(name));
      advance();
      if (!is_punct('(')) return *c;
      if (!is_action_name(name)) fail(quoted(name) + " does not take an argument");
      advance();
      const uint32_t data = value();
      expect(')', "after the action data");
      if (data > 0xffff) fail("action data " + std::to_string(data) + " does not fit in 16 bits");
      return *c | data;
    }
    fail("expected a number, got " + describe());
  }

  // `x` or `%x` (true), or `#k` (false, k set).
  bool source(uint32_t& k, const char* mnemonic) {
    if (is_punct('%')) {
      advance();
      expect_word("x", "after '%'");
      return true;
    }
    if (is_word("x")) {
      advance();
      return true;
    }
    if (!is_punct('#')) fail(std::string("expected '#k' or 'x' after '") + mnemonic + "', got " + describe());
    advance();
    k = value();
    return false;
  }

  void label_ref(Field f) {
    if (tok_.kind != Tok::Ident) fail("expected a label, got " + describe());
    fixups_.push_back({out_.size(), f, tok_.text, tok_.line});
    advance();
  }

  void emit(uint16_t code, uint32_t k = 0, uint8_t jt = 0, uint8_t jf = 0) {
    for (const auto& [name, line] : pending_) labels_.emplace(name, out_.size());
    pending_.clear();
    out_.push_back(Insn{code, jt, jf, k});
  }

  // [k], [x + k], [%x + k]: emits LD|size|ABS or LD|size|IND.
  void packet_load(uint16_t size) {
    expect('[', "");
    uint16_t mode = ABS;
    if (is_word("x") || is_punct('%')) {
      if (is_punct('%')) advance();
      expect_word("x", "in '[x + k]'");
      expect('+', "in '[x + k]'");
      mode = IND;
    }
    const uint32_t k = value();
    expect(']', "after the offset");
    emit(LD | size | mode, k);
  }

  bool extension(uint32_t& k) {
    if (tok_.kind != Tok::Ident) return false;
    for (const Extension& e : kExtensions)
      if (iequals(tok_.text, e.name)) {
        k = SKF_AD_OFF + e.off;
        advance();
        return true;
      }
    return false;
  }

  uint32_t mem_index() {  // M[k]
    expect_word("M", "(M[k])");
    expect('[', "after 'M'");
    const uint32_t k = value();
    expect(']', "after M[k");
    return k;
  }

  void msh() {  // 4*([k]&0xf)
    const uint32_t four = value();
    expect('*', "in '4*([k]&0xf)'");
    expect('(', "in '4*([k]&0xf)'");
    expect('[', "in '4*([k]&0xf)'");
    const uint32_t k = value();
    expect(']', "in '4*([k]&0xf)'");
    expect('&', "in '4*([k]&0xf)'");
    const uint32_t mask = value();
    expect(')', "in '4*([k]&0xf)'");
    if (four != 4 || mask != 0xf) fail("ldxb supports only 4*([k]&0xf)");
    emit(LDX | MSH | B, k);
  }

  void statement() {
    if (tok_.kind == Tok::Directive) {
      if (!iequals(tok_.text, "insn")) fail("unknown directive " + describe());
      advance();
      directive_insn();
      return;
    }
    if (tok_.kind != Tok::Ident) fail("expected an instruction or a label, got " + describe());
    const Token head = tok_;
    advance();
    if (is_punct(':')) {  // label definition
      advance();
      if (labels_.count(head.text)) throw FormatError("duplicate label " + quoted(head.text), head.line);
      for (const auto& [name, line] : pending_)
        if (name == head.text) throw FormatError("duplicate label " + quoted(head.text), head.line);
      pending_.emplace_back(head.text, head.line);
      return;
    }
    for (const Mnemonic& m : kMnemonics)
      if (iequals(head.text, m.name)) return instruction(m.op, m.name);
    throw FormatError("unknown mnemonic " + quoted(head.text), head.line);
  }

  void directive_insn() {  // .insn code, jt, jf, k
    const uint32_t code = value();
    if (code > 0xffff) fail(".insn code " + std::to_string(code) + " does not fit in 16 bits");
    expect(',', "after the .insn code");
    const uint32_t jt = value();
    if (jt > 0xff) fail(".insn jt " + std::to_string(jt) + " does not fit in 8 bits");
    expect(',', "after the .insn jt");
    const uint32_t jf = value();
    if (jf > 0xff) fail(".insn jf " + std::to_string(jf) + " does not fit in 8 bits");
    expect(',', "after the .insn jf");
    const uint32_t k = value();
    emit(static_cast<uint16_t>(code), k, static_cast<uint8_t>(jt), static_cast<uint8_t>(jf));
  }

  void instruction(Op op, const char* name) {
    uint32_t k = 0;
    switch (op) {
      case Op::Ld:
        if (is_punct('[')) return packet_load(W);
        if (is_word("M")) return emit(LD | MEM, mem_index());
        if (is_punct('#')) {
          advance();
          if (is_word("len")) { advance(); return emit(LD | W | LEN); }
          if (extension(k)) return emit(LD | W | ABS, k);
          return emit(LD | IMM, value());
        }
        if (is_word("len")) { advance(); return emit(LD | W | LEN); }
        if (extension(k)) return emit(LD | W | ABS, k);
        fail("expected '#k', '[k]', '[x + k]', 'M[k]' or an extension after 'ld', got " + describe());
      case Op::Ldh:
      case Op::Ldb: {
        const uint16_t size = op == Op::Ldh ? H : B;
        if (is_punct('[')) return packet_load(size);
        if (is_punct('#')) advance();
        if (extension(k)) return emit(LD | size | ABS, k);
        fail(std::string("expected '[k]', '[x + k]' or an extension after '") + name + "', got " + describe());
      }
      case Op::Ldi:
      case Op::Ldxi:
        if (is_punct('#')) advance();
        return emit(op == Op::Ldi ? LD | IMM : LDX | IMM, value());
      case Op::Ldx:
        if (is_word("M")) return emit(LDX | MEM, mem_index());
        if (is_word("len")) { advance(); return emit(LDX | W | LEN); }
        if (is_punct('#')) {
          advance();
          if (is_word("len")) { advance(); return emit(LDX | W | LEN); }
          return emit(LDX | IMM, value());
        }
        return msh();
      case Op::Ldxb:
        return msh();
      case Op::St:
      case Op::Stx:
        return emit(op == Op::St ? ST : STX, mem_index());
      case Op::Ja:
        label_ref(Field::K);
        return emit(JMP | JA);
      case Op::Jeq:
      case Op::Jgt:
      case Op::Jge:
      case Op::Jset: {
        const uint16_t jop = op == Op::Jeq ? JEQ : op == Op::Jgt ? JGT : op == Op::Jge ? JGE : JSET;
        const uint16_t src = source(k, name) ? X : K;
        expect(',', "before the jump label");
        label_ref(Field::Jt);
        if (is_punct(',')) {
          advance();
          label_ref(Field::Jf);
        }
        return emit(JMP | jop | src, k);
      }
      case Op::Jne:
      case Op::Jlt:
      case Op::Jle: {  // bpf_asm: the inverse test with only jf set
        const uint16_t jop = op == Op::Jne ? JEQ : op == Op::Jlt ? JGE : JGT;
        const uint16_t src = source(k, name) ? X : K;
        expect(',', "before the jump label");
        label_ref(Field::Jf);
        if (is_punct(',')) fail(std::string("'") + name + "' takes one label");
        return emit(JMP | jop | src, k);
      }
      case Op::Add: case Op::Sub: case Op::Mul: case Op::Div: case Op::Mod:
      case Op::And: case Op::Or: case Op::Xor: case Op::Lsh: case Op::Rsh: {
        static constexpr uint16_t kAlu[] = {ADD, SUB, MUL, DIV, MOD, AND, OR, XOR, LSH, RSH};
        static constexpr Op kOps[] = {Op::Add, Op::Sub, Op::Mul, Op::Div, Op::Mod,
                                      Op::And, Op::Or,  Op::Xor, Op::Lsh, Op::Rsh};
        uint16_t aop = 0;
        for (size_t i = 0; i < std::size(kOps); ++i)
          if (kOps[i] == op) aop = kAlu[i];
        const uint16_t src = source(k, name) ? X : K;
        return emit(ALU | aop | src, k);
      }
      case Op::Neg:
        return emit(ALU | NEG);
      case Op::Ret:
        if (is_punct('%')) {
          advance();
          if (is_word("a")) { advance(); return emit(RET | A); }
          expect_word("x", "or 'a' after 'ret %'");
          return emit(RET | X);
        }
        if (is_word("a")) { advance(); return emit(RET | A); }
        if (is_word("x")) { advance(); return emit(RET | X); }
        expect('#', "(ret #k, a or x)");
        return emit(RET | K, value());
      case Op::Tax:
        return emit(MISC | TAX);
      case Op::Txa:
        return emit(MISC | TXA);
    }
  }

  void resolve() {
    for (const Fixup& f : fixups_) {
      const auto it = labels_.find(f.label);
      if (it == labels_.end()) throw FormatError("unknown label " + quoted(f.label), f.line);
      const int64_t off = static_cast<int64_t>(it->second) - static_cast<int64_t>(f.insn) - 1;
      if (off < 0)
        throw FormatError("backward jump to " + quoted(f.label) + " (offset " + std::to_string(off) +
                              "); jumps go forward only",
                          f.line);
      Insn& in = out_[f.insn];
      if (f.field == Field::K) {
        in.k = static_cast<uint32_t>(off);
        continue;
      }
      if (off > 255)
        throw FormatError("jump target out of range (offset " + std::to_string(off) +
                              " > 255) to " + quoted(f.label),
                          f.line);
      (f.field == Field::Jt ? in.jt : in.jf) = static_cast<uint8_t>(off);
    }
  }

  struct Fixup {
    size_t insn;
    Field field;
    std::string_view label;
    int line;
  };

  Lexer lex_;
  Token tok_;
  Program out_;
  std::vector<std::pair<std::string_view, int>> pending_;  // labels awaiting their instruction
  std::unordered_map<std::string_view, size_t> labels_;
  std::vector<Fixup> fixups_;
};

}  // namespace

Program assemble(std::string_view text) { return Assembler(text).run(); }

}  // namespace secdiff
