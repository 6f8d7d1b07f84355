#include "host/case_file.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>

#include "oracle/case_codec.h"
#include "oracle/formats/formats.h"
#include "oracle/seccomp_data.h"

namespace secdiff {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

int line_of_offset(std::string_view text, size_t off) {
  off = std::min(off, text.size());
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(off), '\n'));
}

// The line each value of already-validated JSON text starts on, keyed by JSON
// pointer ("/filters/0/bpf_asm"). nlohmann keeps no positions, so this walks
// the text once more.
class LineMap {
 public:
  explicit LineMap(std::string_view t) : t_(t) {
    try {
      value("");
    } catch (...) {
      // Only reached for text nlohmann accepted; a surprise just leaves lines unknown.
    }
  }
  int line(const std::string& ptr) const {
    // The value itself, else its closest ancestor.
    std::string p = ptr;
    for (;;) {
      const auto it = lines_.find(p);
      if (it != lines_.end()) return it->second;
      const size_t slash = p.rfind('/');
      if (slash == std::string::npos || p.empty()) return 0;
      p.resize(slash);
    }
  }

 private:
  void ws() {
    for (;;) {
      while (pos_ < t_.size() && std::isspace(static_cast<unsigned char>(t_[pos_]))) {
        if (t_[pos_] == '\n') line_++;
        pos_++;
      }
      if (pos_ + 1 >= t_.size() || t_[pos_] != '/') return;
      if (t_[pos_ + 1] == '/') {  // comments (parsed with ignore_comments)
        while (pos_ < t_.size() && t_[pos_] != '\n') pos_++;
      } else if (t_[pos_ + 1] == '*') {
        pos_ += 2;
        while (pos_ + 1 < t_.size() && !(t_[pos_] == '*' && t_[pos_ + 1] == '/')) {
          if (t_[pos_] == '\n') line_++;
          pos_++;
        }
        pos_ += 2;
      } else {
        return;
      }
    }
  }
  std::string str() {
    std::string out;
    pos_++;  // opening quote
    while (pos_ < t_.size() && t_[pos_] != '"') {
      if (t_[pos_] == '\\') {
        out += t_[pos_++];
      }
      if (pos_ < t_.size()) out += t_[pos_++];
    }
    pos_++;
    return out;
  }
  static std::string escape(const std::string& key) {
    std::string e;
    for (char c : key) {
      if (c == '~') e += "~0";
      else if (c == '/') e += "~1";
      else e += c;
    }
    return e;
  }
  void value(const std::string& ptr) {
    ws();
    if (pos_ >= t_.size()) throw std::runtime_error("eof");
    lines_[ptr] = line_;
    const char c = t_[pos_];
    if (c == '{') {
      pos_++;
      ws();
      if (t_[pos_] == '}') { pos_++; return; }
      for (;;) {
        ws();
        const std::string key = str();
        ws();
        pos_++;  // ':'
        value(ptr + "/" + escape(key));
        ws();
        if (t_[pos_++] == '}') return;
      }
    } else if (c == '[') {
      pos_++;
      ws();
      if (t_[pos_] == ']') { pos_++; return; }
      for (size_t i = 0;; i++) {
        value(ptr + "/" + std::to_string(i));
        ws();
        if (t_[pos_++] == ']') return;
      }
    } else if (c == '"') {
      str();
    } else {
      while (pos_ < t_.size() && !std::strchr(",]} \t\r\n", t_[pos_])) pos_++;
    }
  }

  std::string_view t_;
  size_t pos_ = 0;
  int line_ = 1;
  std::map<std::string, int> lines_;
};

struct Ctx {
  std::string path;
  std::string base_dir;
  LineMap lines;
  [[noreturn]] void fail(const std::string& ptr, const std::string& msg) const {
    const int l = lines.line(ptr);
    throw InputError(path + (l > 0 ? ":" + std::to_string(l) : "") + ": " + msg);
  }
};

std::string describe(const json& j) {
  std::string s = j.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

// A 64-bit value: a JSON number (negative allowed) or a string "0x..", "123", "-1".
uint64_t get_u64(const Ctx& cx, const json& j, const std::string& ptr, const char* what) {
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  if (j.is_number_integer()) return static_cast<uint64_t>(j.get<int64_t>());
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    try {
      if (s.empty()) throw std::invalid_argument("empty");
      const bool neg = s[0] == '-';
      const std::string digits = neg ? s.substr(1) : s;
      if (digits.empty() || digits[0] == '-' || digits[0] == '+') throw std::invalid_argument("sign");
      size_t pos = 0;
      const uint64_t v = std::stoull(digits, &pos, 0);
      if (pos != digits.size()) throw std::invalid_argument("trailing");
      return neg ? uint64_t{0} - v : v;
    } catch (const std::exception&) {
      cx.fail(ptr, std::string("invalid ") + what + " " + describe(j) +
                       " (expected a number, \"0x..\" hex or \"-1\")");
    }
  }
  cx.fail(ptr, std::string("invalid ") + what + " " + describe(j) + " (expected a number or a string)");
}

bool get_bool(const Ctx& cx, const json& j, const std::string& ptr) {
  if (!j.is_boolean()) cx.fail(ptr, "expected true or false, got " + describe(j));
  return j.get<bool>();
}

void check_keys(const Ctx& cx, const json& obj, const std::string& ptr,
                std::initializer_list<const char*> known) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool ok = false;
    for (const char* k : known) ok = ok || it.key() == k;
    if (!ok) {
      std::string list;
      for (const char* k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      cx.fail(ptr + "/" + it.key(), "unknown key '" + it.key() + "' (known: " + list + ")");
    }
  }
}

struct FlagName {
  const char* name;
  uint32_t bit;
};
constexpr FlagName kFlags[] = {
    {"TSYNC", SECCOMP_FILTER_FLAG_TSYNC},
    {"LOG", SECCOMP_FILTER_FLAG_LOG},
    {"SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW},
    {"NEW_LISTENER", SECCOMP_FILTER_FLAG_NEW_LISTENER},
    {"TSYNC_ESRCH", SECCOMP_FILTER_FLAG_TSYNC_ESRCH},
    {"WAIT_KILLABLE_RECV", SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV},
};

uint32_t parse_flag_name(const Ctx& cx, std::string s, const std::string& ptr) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  if (s.rfind("SECCOMP_FILTER_FLAG_", 0) == 0) s = s.substr(20);
  for (const FlagName& f : kFlags)
    if (s == f.name) return f.bit;
  if (!s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])))) {
    const uint64_t v = get_u64(cx, json(s), ptr, "flags");
    if (v > 0xffffffffu) cx.fail(ptr, "flags value " + s + " does not fit 32 bits");
    return static_cast<uint32_t>(v);
  }
  cx.fail(ptr, "unknown filter flag '" + s +
                   "' (TSYNC, LOG, SPEC_ALLOW, NEW_LISTENER, TSYNC_ESRCH, WAIT_KILLABLE_RECV or a number)");
}

uint32_t parse_flags(const Ctx& cx, const json& j, const std::string& ptr) {
  if (j.is_array()) {
    uint32_t f = 0;
    for (size_t i = 0; i < j.size(); i++) {
      const std::string p = ptr + "/" + std::to_string(i);
      if (j[i].is_string()) f |= parse_flag_name(cx, j[i].get<std::string>(), p);
      else f |= static_cast<uint32_t>(get_u64(cx, j[i], p, "flags"));
    }
    return f;
  }
  if (j.is_string()) {
    // "LOG|NEW_LISTENER" or "0x2"
    uint32_t f = 0;
    std::string s = j.get<std::string>();
    size_t start = 0;
    for (;;) {
      const size_t bar = s.find('|', start);
      std::string part = s.substr(start, bar == std::string::npos ? std::string::npos : bar - start);
      part.erase(0, part.find_first_not_of(" \t"));
      part.erase(part.find_last_not_of(" \t") + 1);
      if (!part.empty()) f |= parse_flag_name(cx, part, ptr);
      if (bar == std::string::npos) break;
      start = bar + 1;
    }
    return f;
  }
  const uint64_t v = get_u64(cx, j, ptr, "flags");
  if (v > 0xffffffffu) cx.fail(ptr, "flags value does not fit 32 bits");
  return static_cast<uint32_t>(v);
}

Program parse_hex(const Ctx& cx, const json& j, const std::string& ptr) {
  std::string text;
  if (j.is_string()) {
    text = j.get<std::string>();
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); i++) {
      if (!j[i].is_string()) cx.fail(ptr + "/" + std::to_string(i), "hex lines must be strings");
      text += j[i].get<std::string>() + " ";
    }
  } else {
    cx.fail(ptr, "\"hex\" must be a string (or a list of strings) of hex digits");
  }
  std::string bytes;
  int nibble = -1;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == ',') continue;
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else cx.fail(ptr, std::string("\"hex\": invalid character '") + c + "'");
    if (nibble < 0) {
      nibble = v;
    } else {
      bytes.push_back(static_cast<char>(nibble << 4 | v));
      nibble = -1;
    }
  }
  if (nibble >= 0) cx.fail(ptr, "\"hex\": odd number of hex digits");
  if (bytes.size() % 8 != 0)
    cx.fail(ptr, "\"hex\": " + std::to_string(bytes.size()) +
                     " bytes is not a whole number of 8-byte struct sock_filter");
  try {
    return parse_raw(bytes);
  } catch (const FormatError& e) {
    cx.fail(ptr, std::string("\"hex\": ") + e.what());
  }
}

Program parse_asm(const Ctx& cx, const json& j, const std::string& ptr) {
  std::string text;
  std::vector<std::string> line_ptrs;  // per asm line, the pointer whose line it is on
  if (j.is_string()) {
    text = j.get<std::string>();
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); i++) {
      const std::string p = ptr + "/" + std::to_string(i);
      if (!j[i].is_string()) cx.fail(p, "bpf_asm lines must be strings");
      const std::string l = j[i].get<std::string>();
      text += l + "\n";
      const size_t n = 1 + static_cast<size_t>(std::count(l.begin(), l.end(), '\n'));
      for (size_t k = 0; k < n; k++) line_ptrs.push_back(p);
    }
  } else {
    cx.fail(ptr, "\"bpf_asm\" must be a string or a list of lines");
  }
  try {
    return assemble(text);
  } catch (const FormatError& e) {
    const int l = e.line();
    if (l >= 1 && static_cast<size_t>(l) <= line_ptrs.size())
      cx.fail(line_ptrs[static_cast<size_t>(l) - 1], std::string("bpf_asm: ") + e.what());
    if (l >= 1 && j.is_string()) {
      // A multi-line string can only span lines when written with raw newlines,
      // which JSON forbids; so the asm line is within the string on one file line.
      cx.fail(ptr, "bpf_asm line " + std::to_string(l) + ": " + e.what());
    }
    cx.fail(ptr, std::string("bpf_asm: ") + e.what());
  }
}

CaseFilter parse_filter(const Ctx& cx, const json& j, const std::string& ptr) {
  if (!j.is_object()) cx.fail(ptr, "a filter must be an object with \"bpf_asm\", \"hex\" or \"file\"");
  check_keys(cx, j, ptr, {"flags", "bpf_asm", "hex", "file", "format", "comment"});
  CaseFilter f;
  if (j.contains("flags")) f.flags = parse_flags(cx, j["flags"], ptr + "/flags");
  const int n = static_cast<int>(j.contains("bpf_asm")) + static_cast<int>(j.contains("hex")) +
                static_cast<int>(j.contains("file"));
  if (n != 1) cx.fail(ptr, "a filter needs exactly one of \"bpf_asm\", \"hex\" or \"file\"");
  if (j.contains("format") && !j.contains("file")) cx.fail(ptr + "/format", "\"format\" goes with \"file\"");
  if (j.contains("bpf_asm")) {
    f.prog = parse_asm(cx, j["bpf_asm"], ptr + "/bpf_asm");
  } else if (j.contains("hex")) {
    f.prog = parse_hex(cx, j["hex"], ptr + "/hex");
  } else {
    const json& fj = j["file"];
    if (!fj.is_string()) cx.fail(ptr + "/file", "\"file\" must be a path string");
    fs::path p = fj.get<std::string>();
    if (p.is_relative()) p = fs::path(cx.base_dir) / p;
    std::optional<Format> fmt;
    if (j.contains("format")) {
      if (!j["format"].is_string() || !(fmt = parse_format_name(j["format"].get<std::string>())))
        cx.fail(ptr + "/format", "unknown format " + describe(j["format"]) + " (raw, bpf_asm, ops, ddd, c)");
    }
    try {
      f.prog = load_program(p.string(), fmt).prog;
    } catch (const InputError& e) {
      cx.fail(ptr + "/file", e.what());
    }
  }
  return f;
}

CaseInput parse_input(const Ctx& cx, const json& j, const std::string& ptr) {
  if (!j.is_object()) cx.fail(ptr, "an input must be an object {\"arch\", \"nr\", \"args\", \"ip\"}");
  check_keys(cx, j, ptr, {"arch", "nr", "args", "ip", "comment"});
  CaseInput in;
  if (j.contains("arch")) {
    const json& a = j["arch"];
    std::optional<Arch> arch;
    if (a.is_string()) arch = parse_arch(a.get<std::string>());
    if (!arch) cx.fail(ptr + "/arch", "unknown arch " + describe(a) + " (x86_64, i386, x32)");
    in.arch = *arch;
  }
  if (!j.contains("nr")) cx.fail(ptr, "an input needs \"nr\" (a syscall name or number)");
  const json& nr = j["nr"];
  if (nr.is_string()) {
    try {
      in.nr = parse_syscall(in.arch, nr.get<std::string>());
    } catch (const std::invalid_argument& e) {
      cx.fail(ptr + "/nr", e.what());
    }
  } else {
    in.nr = static_cast<int64_t>(get_u64(cx, nr, ptr + "/nr", "nr"));
  }
  if (j.contains("args")) {
    const json& args = j["args"];
    if (!args.is_array() || args.size() > 6) cx.fail(ptr + "/args", "\"args\" must be a list of at most 6 values");
    for (size_t i = 0; i < args.size(); i++)
      in.args[i] = get_u64(cx, args[i], ptr + "/args/" + std::to_string(i), "argument");
  }
  if (j.contains("ip") && !j["ip"].is_null()) in.ip = get_u64(cx, j["ip"], ptr + "/ip", "ip");
  return in;
}

Case parse_json(const Ctx& cx, const json& root) {
  if (!root.is_object()) cx.fail("", "a case file must be a JSON object");
  check_keys(cx, root, "", {"secdiff_case", "name", "comment", "task", "filters", "inputs"});
  if (!root.contains("secdiff_case")) cx.fail("", "missing \"secdiff_case\": 1 (the format version)");
  const json& v = root["secdiff_case"];
  if (!v.is_number_integer() || v.get<int64_t>() != kCaseFileVersion)
    cx.fail("/secdiff_case", "unsupported case file version " + describe(v) + " (this secdiff reads " +
                                 std::to_string(kCaseFileVersion) + ")");
  Case c;
  if (root.contains("name")) {
    if (!root["name"].is_string()) cx.fail("/name", "\"name\" must be a string");
    c.name = root["name"].get<std::string>();
  }
  if (root.contains("task")) {
    const json& t = root["task"];
    if (!t.is_object()) cx.fail("/task", "\"task\" must be an object");
    check_keys(cx, t, "/task", {"no_new_privs", "tracer", "other_threads", "sigsys_handler"});
    if (t.contains("no_new_privs")) c.task.no_new_privs = get_bool(cx, t["no_new_privs"], "/task/no_new_privs");
    if (t.contains("tracer")) c.task.tracer = get_bool(cx, t["tracer"], "/task/tracer");
    if (t.contains("other_threads")) c.task.other_threads = get_bool(cx, t["other_threads"], "/task/other_threads");
    if (t.contains("sigsys_handler")) c.task.sigsys_handler = get_bool(cx, t["sigsys_handler"], "/task/sigsys_handler");
  }
  if (root.contains("filters")) {
    const json& fl = root["filters"];
    if (!fl.is_array()) cx.fail("/filters", "\"filters\" must be a list");
    if (fl.size() > kMaxCaseFilters)
      cx.fail("/filters", "at most " + std::to_string(kMaxCaseFilters) + " filters per case");
    for (size_t i = 0; i < fl.size(); i++) c.filters.push_back(parse_filter(cx, fl[i], "/filters/" + std::to_string(i)));
  }
  if (root.contains("inputs")) {
    const json& il = root["inputs"];
    if (!il.is_array()) cx.fail("/inputs", "\"inputs\" must be a list");
    if (il.size() > kMaxCaseInputs)
      cx.fail("/inputs", "at most " + std::to_string(kMaxCaseInputs) + " inputs per case");
    for (size_t i = 0; i < il.size(); i++) c.inputs.push_back(parse_input(cx, il[i], "/inputs/" + std::to_string(i)));
  }
  for (const CaseFilter& f : c.filters)
    if (f.prog.size() > 4096)
      cx.fail("/filters", "a filter has more than 4096 instructions (the compact encoding's limit)");
  return c;
}

std::string hex64(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

nlohmann::ordered_json value_json(uint64_t v) {
  if (v < 4096) return v;
  if (v >= 0xfffffffffffff000ull) return "-" + std::to_string(uint64_t{0} - v);
  return hex64(v);
}

}  // namespace

Case parse_case_file(std::string_view text, const std::string& path, const std::string& base_dir) {
  json root;
  try {
    root = json::parse(text.begin(), text.end(), nullptr, true, /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    std::string msg = e.what();
    // "[json.exception.parse_error.101] parse error at line 3, column 5: syntax error ..."
    const size_t p = msg.find("parse error");
    if (p != std::string::npos) msg = msg.substr(p);
    throw InputError(path + ":" + std::to_string(line_of_offset(text, e.byte > 0 ? e.byte - 1 : 0)) +
                     ": invalid JSON: " + msg);
  }
  const Ctx cx{path, base_dir, LineMap(text)};
  return parse_json(cx, root);
}

Case load_case_file(const std::string& path) {
  const std::string text = read_file(path);
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) throw InputError(path + ": empty case file");
  Case c;
  if (text[first] != '{' && text[first] != '/') {
    c = case_from_compact(text, path);
  } else {
    fs::path dir = fs::path(path).parent_path();
    c = parse_case_file(text, path, dir.empty() ? "." : dir.string());
  }
  if (c.name.empty()) c.name = fs::path(path).stem().string();
  return c;
}

std::vector<std::string> filter_flag_names(uint32_t flags) {
  std::vector<std::string> out;
  for (const FlagName& f : kFlags)
    if (flags & f.bit) {
      out.push_back(f.name);
      flags &= ~f.bit;
    }
  if (flags) out.push_back(hex64(flags));
  return out;
}

nlohmann::ordered_json case_to_json(const Case& c, const CaseFileOptions& opt) {
  nlohmann::ordered_json j;
  j["secdiff_case"] = kCaseFileVersion;
  j["name"] = c.name;
  j["task"] = {{"no_new_privs", c.task.no_new_privs},
               {"tracer", c.task.tracer},
               {"other_threads", c.task.other_threads}};
  if (!c.task.sigsys_handler) j["task"]["sigsys_handler"] = false;
  nlohmann::ordered_json filters = nlohmann::ordered_json::array();
  for (const CaseFilter& f : c.filters) {
    nlohmann::ordered_json fj;
    const auto names = filter_flag_names(f.flags);
    fj["flags"] = names;
    if (opt.style == FilterStyle::Hex) {
      std::string hex;
      const std::string raw = write_raw(f.prog);
      for (size_t i = 0; i < raw.size(); i++) {
        char b[3];
        std::snprintf(b, sizeof b, "%02x", static_cast<unsigned char>(raw[i]));
        if (i && i % 8 == 0) hex += ' ';
        hex += b;
      }
      fj["hex"] = hex;
    } else {
      DisasmOptions d;
      d.comments = opt.comments;
      // Annotate syscall numbers with the arch of the first input, if any.
      if (!c.inputs.empty()) d.arch = c.inputs[0].arch == Arch::I386 ? Arch::I386 : Arch::X86_64;
      const std::string text = disassemble(f.prog, d);
      nlohmann::ordered_json lines = nlohmann::ordered_json::array();
      size_t start = 0;
      while (start < text.size()) {
        size_t nl = text.find('\n', start);
        if (nl == std::string::npos) nl = text.size();
        lines.push_back(text.substr(start, nl - start));
        start = nl + 1;
      }
      fj["bpf_asm"] = lines;
    }
    filters.push_back(fj);
  }
  j["filters"] = filters;
  nlohmann::ordered_json inputs = nlohmann::ordered_json::array();
  for (const CaseInput& in : c.inputs) {
    nlohmann::ordered_json ij;
    ij["arch"] = std::string(arch_name(in.arch));
    // A name when it parses back to exactly this register value.
    std::optional<std::string_view> name;
    if (in.nr >= 0 && in.nr <= 0xffffffffll) name = syscall_name(in.arch, in.nr);
    bool named = false;
    if (name) {
      try {
        named = parse_syscall(in.arch, *name) == in.nr;
      } catch (const std::invalid_argument&) {
      }
    }
    if (named) ij["nr"] = std::string(*name);
    else ij["nr"] = value_json(static_cast<uint64_t>(in.nr));
    size_t nargs = 6;
    while (nargs > 0 && in.args[nargs - 1] == 0) nargs--;
    nlohmann::ordered_json args = nlohmann::ordered_json::array();
    for (size_t i = 0; i < nargs; i++) args.push_back(value_json(in.args[i]));
    ij["args"] = args;
    if (in.ip) ij["ip"] = hex64(*in.ip);
    inputs.push_back(ij);
  }
  j["inputs"] = inputs;
  return j;
}

std::string format_case_file(const Case& c, const CaseFileOptions& opt) {
  return case_to_json(c, opt).dump(2) + "\n";
}

void save_case_file(const std::string& path, const Case& c, const CaseFileOptions& opt) {
  write_file(path, format_case_file(c, opt));
}

std::string case_to_compact(const Case& c) {
  return encode_case(c);
}

Case case_from_compact(std::string_view bytes, const std::string& path_for_errors) {
  try {
    return decode_case(bytes);
  } catch (const WireError& e) {
    throw InputError(path_for_errors + ": not a JSON case file and not a valid compact case encoding: " +
                     e.what());
  }
}

std::vector<std::string> collect_case_files(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        if (!it->is_regular_file()) continue;
        const std::string ext = it->path().extension().string();
        if (ext == ".json" || ext == ".case") found.push_back(it->path().string());
      }
      if (ec) throw InputError(p + ": " + ec.message());
      if (found.empty()) throw InputError(p + ": no case files (*.json, *.case) in this directory");
      std::sort(found.begin(), found.end());
      out.insert(out.end(), found.begin(), found.end());
    } else if (fs::exists(p, ec)) {
      out.push_back(p);
    } else {
      throw InputError(p + ": no such file or directory");
    }
  }
  return out;
}

}  // namespace secdiff
