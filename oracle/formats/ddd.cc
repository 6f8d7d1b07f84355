// tcpdump -ddd: a count line, then one "code jt jf k" decimal line per instruction.
#include <string>

#include "oracle/formats/formats.h"

namespace secdiff {
namespace {

struct Line {
  std::string_view s;
  size_t pos = 0;
  int no = 0;

  [[noreturn]] void fail(const std::string& msg) const { throw FormatError("ddd: " + msg, no); }
  void skip_blank() {
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\r')) ++pos;
  }
  bool at_end() {
    skip_blank();
    return pos >= s.size();
  }
  // A decimal (or 0x hex) number no larger than `max`.
  uint32_t number(uint32_t max, const char* what) {
    skip_blank();
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
    if (pos < s.size() && s[pos] != ' ' && s[pos] != '\t' && s[pos] != '\r')
      fail(std::string("bad character after ") + what);
    return static_cast<uint32_t>(v);
  }
};

}  // namespace

Program parse_ddd(std::string_view text) {
  Program p;
  bool have_count = false;
  uint32_t count = 0;
  int line_no = 0, last = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    Line ln{text.substr(start, nl - start), 0, ++line_no};
    start = nl + 1;
    if (ln.at_end()) continue;  // blank line
    last = line_no;
    if (!have_count) {
      count = ln.number(0xffffffffu, "instruction count");
      if (!ln.at_end()) ln.fail("the first line must hold only the instruction count");
      have_count = true;
      p.reserve(count < 4096 ? count : 4096);
      continue;
    }
    if (p.size() == count) ln.fail("more instructions than the count " + std::to_string(count));
    Insn in;
    in.code = static_cast<uint16_t>(ln.number(0xffff, "code"));
    in.jt = static_cast<uint8_t>(ln.number(0xff, "jt"));
    in.jf = static_cast<uint8_t>(ln.number(0xff, "jf"));
    in.k = ln.number(0xffffffffu, "k");
    if (!ln.at_end()) ln.fail("expected 4 numbers: code jt jf k");
    p.push_back(in);
  }
  if (!have_count) throw FormatError("ddd: empty input (expected the instruction count)", 1);
  if (p.size() != count)
    throw FormatError("ddd: count " + std::to_string(count) + " but only " +
                          std::to_string(p.size()) + " instructions",
                      last + 1);
  return p;
}

std::string write_ddd(const Program& p) {
  std::string out = std::to_string(p.size()) + '\n';
  for (const Insn& in : p) {
    out += std::to_string(in.code);
    out += ' ';
    out += std::to_string(in.jt);
    out += ' ';
    out += std::to_string(in.jf);
    out += ' ';
    out += std::to_string(in.k);
    out += '\n';
  }
  return out;
}

}  // namespace secdiff
