// bpf_asm's default output, also `tcpdump -ddd | tr '\n' ','`:
//   "4,40 0 0 12,21 0 1 2054,6 0 0 4294967295,6 0 0 0,"
#include <string>

#include "oracle/formats/formats.h"

namespace secdiff {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

struct Scanner {
  std::string_view s;
  size_t pos = 0;

  int line() const {
    int n = 1;
    for (size_t i = 0; i < pos && i < s.size(); ++i) n += s[i] == '\n';
    return n;
  }
  [[noreturn]] void fail(const std::string& msg) const { throw FormatError("ops: " + msg, line()); }
  void skip_space() {
    while (pos < s.size() && is_space(s[pos])) ++pos;
  }
  void skip_blank() {  // within one instruction: spaces and tabs only
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t')) ++pos;
  }
  // A decimal (or 0x hex) number no larger than `max`.
  uint32_t number(uint32_t max, const char* what) {
    uint64_t v = 0;
    size_t start = pos;
    if (pos + 1 < s.size() && s[pos] == '0' && (s[pos + 1] == 'x' || s[pos + 1] == 'X')) {
      pos += 2;
      start = pos;
      for (; pos < s.size(); ++pos) {
        char c = s[pos];
        int d = c >= '0' && c <= '9' ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) break;
        v = v * 16 + static_cast<unsigned>(d);
        if (v > max) fail(std::string(what) + " out of range");
      }
    } else {
      for (; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos) {
        v = v * 10 + static_cast<unsigned>(s[pos] - '0');
        if (v > max) fail(std::string(what) + " out of range");
      }
    }
    if (pos == start) fail(std::string("expected ") + what);
    return static_cast<uint32_t>(v);
  }
};

}  // namespace

Program parse_ops(std::string_view text) {
  Scanner sc{text};
  sc.skip_space();
  const uint32_t count = sc.number(0xffffffffu, "instruction count");
  sc.skip_blank();
  if (sc.pos >= text.size() || text[sc.pos] != ',') sc.fail("expected ',' after the count");
  ++sc.pos;
  Program p;
  p.reserve(count < 4096 ? count : 4096);
  for (;;) {
    sc.skip_space();
    if (sc.pos >= text.size()) break;
    Insn in;
    in.code = static_cast<uint16_t>(sc.number(0xffff, "code"));
    sc.skip_blank();
    in.jt = static_cast<uint8_t>(sc.number(0xff, "jt"));
    sc.skip_blank();
    in.jf = static_cast<uint8_t>(sc.number(0xff, "jf"));
    sc.skip_blank();
    in.k = sc.number(0xffffffffu, "k");
    p.push_back(in);
    if (p.size() > count)
      sc.fail("more instructions than the count " + std::to_string(count));
    sc.skip_blank();
    if (sc.pos < text.size() && text[sc.pos] == ',') {
      ++sc.pos;
    } else {
      sc.skip_space();
      if (sc.pos < text.size()) sc.fail("expected ',' after instruction " + std::to_string(p.size() - 1));
    }
  }
  if (p.size() != count)
    sc.fail("count " + std::to_string(count) + " does not match the " + std::to_string(p.size()) +
            " instructions");
  return p;
}

std::string write_ops(const Program& p) {
  std::string out = std::to_string(p.size()) + ',';
  for (const Insn& in : p) {
    out += std::to_string(in.code);
    out += ' ';
    out += std::to_string(in.jt);
    out += ' ';
    out += std::to_string(in.jf);
    out += ' ';
    out += std::to_string(in.k);
    out += ',';
  }
  out += '\n';
  return out;
}

}  // namespace secdiff
