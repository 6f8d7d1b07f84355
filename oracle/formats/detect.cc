// Format names, detection, and the parse/write dispatch.
#include <string>

#include "oracle/formats/formats.h"

namespace secdiff {
namespace {

bool is_text(std::string_view b) {
  for (unsigned char c : b)
    if (c == 0x7f || (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v'))
      return false;
  return true;
}

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Number of blank-separated decimal numbers on a line, or -1 if it holds anything else.
int count_numbers(std::string_view line) {
  int n = 0;
  size_t i = 0;
  for (;;) {
    while (i < line.size() && is_blank(line[i])) ++i;
    if (i == line.size()) return n;
    if (!is_digit(line[i])) return -1;
    while (i < line.size() && is_digit(line[i])) ++i;
    if (i < line.size() && !is_blank(line[i])) return -1;
    ++n;
  }
}

// A count line, then (unless the count is 0) a 4-number line.
bool looks_like_ddd(std::string_view s) {
  int seen = 0;
  bool zero = false;
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    if (nl == std::string_view::npos) nl = s.size();
    const std::string_view line = s.substr(start, nl - start);
    start = nl + 1;
    const int n = count_numbers(line);
    if (n == 0) continue;
    if (seen == 0) {
      if (n != 1) return false;
      size_t i = 0;
      while (is_blank(line[i])) ++i;
      zero = line[i] == '0' && count_numbers(line.substr(i + 1)) == 0;
      seen = 1;
      continue;
    }
    return n == 4;
  }
  return seen == 1 && zero;
}

}  // namespace

const char* format_name(Format f) {
  switch (f) {
    case Format::Raw: return "raw";
    case Format::BpfAsm: return "bpf_asm";
    case Format::Ops: return "ops";
    case Format::Ddd: return "ddd";
    case Format::C: return "c";
  }
  return "?";
}

std::optional<Format> parse_format_name(std::string_view s) {
  if (s == "raw" || s == "bin") return Format::Raw;
  if (s == "bpf_asm" || s == "bpf-asm" || s == "asm") return Format::BpfAsm;
  if (s == "ops") return Format::Ops;
  if (s == "ddd") return Format::Ddd;
  if (s == "c" || s == "c_array" || s == "c-array") return Format::C;
  return std::nullopt;
}

std::optional<Format> detect_format(std::string_view bytes) {
  if (bytes.empty()) return std::nullopt;
  if (!is_text(bytes)) return Format::Raw;
  size_t i = 0;
  while (i < bytes.size() && (is_blank(bytes[i]) || bytes[i] == '\n')) ++i;
  if (i == bytes.size()) return std::nullopt;
  // ops: ^\d+,
  size_t j = i;
  while (j < bytes.size() && is_digit(bytes[j])) ++j;
  if (j > i && j < bytes.size() && bytes[j] == ',') return Format::Ops;
  if (j > i && looks_like_ddd(bytes)) return Format::Ddd;
  if (bytes[i] == '{' || bytes.find("{ 0x") != std::string_view::npos ||
      bytes.find("{0x") != std::string_view::npos || bytes.find("BPF_STMT") != std::string_view::npos ||
      bytes.find("BPF_JUMP") != std::string_view::npos ||
      bytes.find("sock_filter") != std::string_view::npos)
    return Format::C;
  return Format::BpfAsm;
}

Program parse_program(std::string_view bytes, std::optional<Format> fmt) {
  if (!fmt) fmt = detect_format(bytes);
  if (!fmt) throw FormatError("empty input: cannot detect the filter format");
  switch (*fmt) {
    case Format::Raw: return parse_raw(bytes);
    case Format::BpfAsm: return assemble(bytes);
    case Format::Ops: return parse_ops(bytes);
    case Format::Ddd: return parse_ddd(bytes);
    case Format::C: return parse_c_array(bytes);
  }
  throw FormatError("unknown format");
}

std::string write_program(const Program& p, Format fmt) {
  switch (fmt) {
    case Format::Raw: return write_raw(p);
    case Format::BpfAsm: return disassemble(p);
    case Format::Ops: return write_ops(p);
    case Format::Ddd: return write_ddd(p);
    case Format::C: return write_c_array(p);
  }
  return {};
}

}  // namespace secdiff
