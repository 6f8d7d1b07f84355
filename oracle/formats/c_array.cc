// C initializers: bpf_asm -c / tcpdump -dd lines `{ 0x20, 0, 0, 0x00000004 },`,
// BPF_STMT(code, k) / BPF_JUMP(code, k, jt, jf) macros, optionally inside
// `struct sock_filter filter[] = { ... };` (text after the array is ignored).
// Expressions: C integer literals, BPF_* / SECCOMP_RET_* / AUDIT_ARCH_* / errno /
// __NR_* names, offsetof(struct seccomp_data, field), and C operators.
#include <cstdio>
#include <string>

#include "oracle/formats/formats.h"
#include "oracle/seccomp_abi.h"

namespace secdiff {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_ident_char(char c) { return is_ident_start(c) || is_digit(c); }

enum class Tok { End, Ident, Number, Punct };

struct Token {
  Tok kind = Tok::End;
  std::string_view text;  // Ident spelling; Punct: one or two characters
  uint64_t value = 0;
  int line = 1;
};

[[noreturn]] void fail(const std::string& msg, int line) { throw FormatError("c: " + msg, line); }

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  Token next() {
    for (;;) {
      if (pos_ >= s_.size()) return Token{Tok::End, {}, 0, line_};
      const char c = s_[pos_];
      if (c == '\n') {
        ++line_;
        ++pos_;
        line_start_ = true;
      } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
        ++pos_;
      } else if (c == '#' && line_start_) {  // preprocessor line, with \ continuations
        while (pos_ < s_.size() && s_[pos_] != '\n') {
          if (s_[pos_] == '\\' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '\n') {
            ++line_;
            ++pos_;
          }
          ++pos_;
        }
      } else if (c == '/' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '/') {
        while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
      } else if (c == '/' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '*') {
        const size_t end = s_.find("*/", pos_ + 2);
        if (end == std::string_view::npos) fail("unterminated /* comment", line_);
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
    const size_t start = pos_;
    if (is_ident_start(c)) {
      while (pos_ < s_.size() && is_ident_char(s_[pos_])) ++pos_;
      t.kind = Tok::Ident;
      t.text = s_.substr(start, pos_ - start);
      return t;
    }
    if (is_digit(c)) {
      unsigned base = 10;
      if (c == '0' && pos_ + 1 < s_.size() && (s_[pos_ + 1] == 'x' || s_[pos_ + 1] == 'X')) {
        base = 16;
        pos_ += 2;
      }
      else if (c == '0' && pos_ + 1 < s_.size() && (s_[pos_ + 1] == 'b' || s_[pos_ + 1] == 'B')) {
        base = 2;
        pos_ += 2;
      }
      else if (c == '0') base = 8;
      const size_t digits = pos_;
      uint64_t v = 0;
      for (; pos_ < s_.size(); ++pos_) {
        const char d = s_[pos_];
        unsigned x;
        if (is_digit(d)) x = static_cast<unsigned>(d - '0');
        else if (d >= 'a' && d <= 'f') x = static_cast<unsigned>(d - 'a' + 10);
        else if (d >= 'A' && d <= 'F') x = static_cast<unsigned>(d - 'A' + 10);
        else break;
        if (x >= base) break;
        v = v * base + x;
        if (v > 0xffffffffffffull) v = 0xffffffffffffull;  // saturate; range-checked later
      }
      while (pos_ < s_.size() && (s_[pos_] == 'u' || s_[pos_] == 'U' || s_[pos_] == 'l' || s_[pos_] == 'L')) ++pos_;
      if ((base != 8 && pos_ == digits) || (pos_ < s_.size() && is_ident_char(s_[pos_]))) {
        while (pos_ < s_.size() && is_ident_char(s_[pos_])) ++pos_;
        fail("bad number '" + std::string(s_.substr(start, pos_ - start)) + "'", line_);
      }
      t.kind = Tok::Number;
      t.value = v;
      return t;
    }
    static constexpr std::string_view kPunct = "{}()[],;=|&^+-*/%~!.";
    if ((c == '<' || c == '>') && pos_ + 1 < s_.size() && s_[pos_ + 1] == c) {
      pos_ += 2;
    } else if (kPunct.find(c) != std::string_view::npos) {
      ++pos_;
    } else {
      char buf[40];
      if (c > 0x20 && c < 0x7f) std::snprintf(buf, sizeof buf, "unexpected character '%c'", c);
      else std::snprintf(buf, sizeof buf, "unexpected byte 0x%02x", static_cast<unsigned char>(c));
      fail(buf, line_);
    }
    t.kind = Tok::Punct;
    t.text = s_.substr(start, pos_ - start);
    return t;
  }

  std::string_view s_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_start_ = true;
};

class Parser {
 public:
  explicit Parser(std::string_view text) : lex_(text) {
    tok_ = lex_.next();
    ahead_ = lex_.next();
  }

  Program run() {
    if (tok_.kind == Tok::Ident && !is_macro(tok_)) {  // struct sock_filter name[] = { ... };
      while (!is_punct("=")) {
        if (tok_.kind == Tok::End || is_punct("{") || is_punct(";"))
          fail("expected '= {' in the array declaration", tok_.line);
        advance();
      }
      advance();
      braced_list();
      return std::move(out_);
    }
    if (is_punct("{") && (ahead_.kind == Tok::End || (ahead_.kind == Tok::Punct && (ahead_.text == "{" || ahead_.text == "}")) ||
                          is_macro(ahead_))) {
      braced_list();
      return std::move(out_);
    }
    while (tok_.kind != Tok::End) {  // bare list, as bpf_asm -c prints it
      item();
      if (is_punct(",")) advance();
      else if (tok_.kind != Tok::End) fail("expected ',' between instructions", tok_.line);
    }
    return std::move(out_);
  }

 private:
  static bool is_macro(const Token& t) {
    return t.kind == Tok::Ident && (t.text == "BPF_STMT" || t.text == "BPF_JUMP");
  }
  void advance() {
    tok_ = ahead_;
    ahead_ = lex_.next();
  }
  bool is_punct(std::string_view p) const { return tok_.kind == Tok::Punct && tok_.text == p; }
  std::string describe() const {
    if (tok_.kind == Tok::End) return "end of input";
    if (tok_.kind == Tok::Number) return "a number";
    return "'" + std::string(tok_.text) + "'";
  }
  void expect(std::string_view p, const char* context) {
    if (!is_punct(p)) fail("expected '" + std::string(p) + "' " + context + ", got " + describe(), tok_.line);
    advance();
  }

  // '{' items '}' [';'], ignoring whatever follows.
  void braced_list() {
    expect("{", "to open the array");
    while (!is_punct("}")) {
      item();
      if (is_punct(",")) advance();
      else if (!is_punct("}")) fail("expected ',' or '}' after an instruction, got " + describe(), tok_.line);
    }
    advance();
  }

  void item() {
    const int line = tok_.line;
    uint64_t v[4] = {0, 0, 0, 0};  // code, jt, jf, k
    if (is_macro(tok_)) {
      const bool jump = tok_.text == "BPF_JUMP";
      advance();
      expect("(", "after the macro name");
      v[0] = expr();
      expect(",", "after the code");
      v[3] = expr();
      if (jump) {
        expect(",", "after k");
        v[1] = expr();
        expect(",", "after jt");
        v[2] = expr();
      }
      expect(")", "to close the macro");
    } else if (is_punct("{")) {
      advance();
      for (int i = 0; i < 4; ++i) {
        if (i) expect(",", "between the fields of { code, jt, jf, k }");
        v[i] = expr();
      }
      if (is_punct(",")) advance();
      expect("}", "after { code, jt, jf, k");
    } else {
      fail("expected '{ code, jt, jf, k }', BPF_STMT or BPF_JUMP, got " + describe(), line);
    }
    check(v[0], 0xffff, "code", line);
    check(v[1], 0xff, "jt", line);
    check(v[2], 0xff, "jf", line);
    if (v[3] > 0xffffffffu && v[3] < 0xffffffff80000000ull) fail("k does not fit in 32 bits", line);
    out_.push_back(Insn{static_cast<uint16_t>(v[0]), static_cast<uint8_t>(v[1]),
                        static_cast<uint8_t>(v[2]), static_cast<uint32_t>(v[3])});
  }

  static void check(uint64_t v, uint64_t max, const char* what, int line) {
    if (v > max) fail(std::string(what) + " " + std::to_string(v) + " out of range", line);
  }

  // C expressions in 64-bit unsigned arithmetic.
  uint64_t expr() { return binary(0); }
  static int precedence(std::string_view op) {
    if (op == "|") return 1;
    if (op == "^") return 2;
    if (op == "&") return 3;
    if (op == "<<" || op == ">>") return 4;
    if (op == "+" || op == "-") return 5;
    if (op == "*" || op == "/" || op == "%") return 6;
    return 0;
  }
  uint64_t binary(int min_prec) {
    uint64_t lhs = unary();
    for (;;) {
      if (tok_.kind != Tok::Punct) return lhs;
      const std::string_view op = tok_.text;
      const int prec = precedence(op);
      if (prec == 0 || prec <= min_prec) return lhs;
      const int line = tok_.line;
      advance();
      const uint64_t rhs = binary(prec);
      if (op == "|") lhs |= rhs;
      else if (op == "^") lhs ^= rhs;
      else if (op == "&") lhs &= rhs;
      else if (op == "<<") lhs = rhs >= 64 ? 0 : lhs << rhs;
      else if (op == ">>") lhs = rhs >= 64 ? 0 : lhs >> rhs;
      else if (op == "+") lhs += rhs;
      else if (op == "-") lhs -= rhs;
      else if (op == "*") lhs *= rhs;
      else {
        if (rhs == 0) fail("division by zero", line);
        lhs = op == "/" ? lhs / rhs : lhs % rhs;
      }
    }
  }
  uint64_t unary() {
    if (tok_.kind == Tok::Punct && tok_.text.size() == 1 && std::string_view("-+~!").find(tok_.text[0]) != std::string_view::npos) {
      const char op = tok_.text[0];
      advance();
      const uint64_t v = unary();
      return op == '-' ? 0 - v : op == '+' ? v : op == '~' ? ~v & 0xffffffffu : uint64_t{v == 0};
    }
    if (is_punct("(")) {
      advance();
      const uint64_t v = expr();
      expect(")", "to close '('");
      return v;
    }
    if (tok_.kind == Tok::Number) {
      const uint64_t v = tok_.value;
      advance();
      return v;
    }
    if (tok_.kind == Tok::Ident) {
      const Token name = tok_;
      advance();
      if (name.text == "offsetof") return offset_of();
      if (auto c = lookup_constant(name.text)) return *c;
      fail("unknown name '" + std::string(name.text) + "'", name.line);
    }
    fail("expected a number, got " + describe(), tok_.line);
  }
  // offsetof(struct seccomp_data, nr | arch | instruction_pointer | args[i])
  uint64_t offset_of() {
    expect("(", "after offsetof");
    if (!(tok_.kind == Tok::Ident && tok_.text == "struct")) fail("expected 'struct seccomp_data' in offsetof", tok_.line);
    advance();
    if (!(tok_.kind == Tok::Ident && tok_.text == "seccomp_data")) fail("offsetof supports only struct seccomp_data", tok_.line);
    advance();
    expect(",", "in offsetof");
    if (tok_.kind != Tok::Ident) fail("expected a seccomp_data field", tok_.line);
    const Token field = tok_;
    advance();
    uint64_t off;
    if (field.text == "nr") off = SD_OFF_NR;
    else if (field.text == "arch") off = SD_OFF_ARCH;
    else if (field.text == "instruction_pointer") off = SD_OFF_IP;
    else if (field.text == "args") {
      expect("[", "after args");
      const uint64_t i = expr();
      expect("]", "after args[i");
      if (i >= 6) fail("args index " + std::to_string(i) + " out of range", field.line);
      off = SD_OFF_ARGS + 8 * i;
    } else {
      fail("no field '" + std::string(field.text) + "' in struct seccomp_data", field.line);
    }
    expect(")", "to close offsetof");
    return off;
  }

  Lexer lex_;
  Token tok_, ahead_;
  Program out_;
};

}  // namespace

Program parse_c_array(std::string_view text) { return Parser(text).run(); }

std::string write_c_array(const Program& p) {
  // printf("{ 0x%02x, %2u, %2u, 0x%08x },\n"), without printf.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(p.size() * 30);
  auto hex = [&](uint32_t v, int min_digits) {
    int digits = 1;
    while (digits < 8 && (v >> (4 * digits))) ++digits;
    if (digits < min_digits) digits = min_digits;
    out += "0x";
    for (int i = digits - 1; i >= 0; --i) out += kHex[(v >> (4 * i)) & 0xf];
  };
  auto dec2 = [&](unsigned v) {
    if (v < 10) out += ' ';
    if (v >= 100) out += static_cast<char>('0' + v / 100);
    if (v >= 10) out += static_cast<char>('0' + v / 10 % 10);
    out += static_cast<char>('0' + v % 10);
  };
  for (const Insn& in : p) {
    out += "{ ";
    hex(in.code, 2);
    out += ", ";
    dec2(in.jt);
    out += ", ";
    dec2(in.jf);
    out += ", ";
    hex(in.k, 8);
    out += " },\n";
  }
  return out;
}

}  // namespace secdiff
