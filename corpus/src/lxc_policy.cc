#include "corpus/src/lxc_policy.h"

// <seccomp.h> brings linux/seccomp.h, whose SECCOMP_RET_* macros this file
// uses (oracle/seccomp_abi.h defines the same names as constants).
#include <seccomp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>

#include "oracle/kernel_profile.h"

namespace secdiff::corpus {

namespace {

// A line of the policy: text without the '\n', 1-based number.
struct Line {
  std::string_view text;
  int number = 0;
};

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// sscanf "%d" (also "%i" with base 0) from the start of `s`: leading white
// space, optional sign, digits. Returns the value (saturated to 64 bits) and
// advances `s`; nullopt if no digit.
std::optional<int64_t> scan_int(std::string_view& s, bool base_prefix) {
  size_t i = 0;
  while (i < s.size() && is_space(s[i])) ++i;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  int base = 10;
  if (base_prefix && i < s.size() && s[i] == '0') {
    base = 8;
    if (i + 2 < s.size() && (s[i + 1] == 'x' || s[i + 1] == 'X') &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      base = 16;
      i += 2;
    }
  }
  auto digit = [&](char c) -> int {
    int d = -1;
    if (is_digit(c)) d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    return d >= 0 && d < base ? d : -1;
  };
  size_t start = i;
  uint64_t v = 0;
  bool overflow = false;
  for (; i < s.size() && digit(s[i]) >= 0; ++i) {
    uint64_t d = static_cast<uint64_t>(digit(s[i]));
    if (v > (std::numeric_limits<uint64_t>::max() - d) / static_cast<uint64_t>(base)) overflow = true;
    else v = v * static_cast<uint64_t>(base) + d;
  }
  if (i == start) return std::nullopt;
  s.remove_prefix(i);
  if (overflow || v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return neg ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
  return neg ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
}

// lxc_safe_uint64(s, &v, 0): leading white space, no '-', strtoull base 0,
// nothing after the number, no overflow.
std::optional<uint64_t> safe_uint64(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && is_space(s[i])) ++i;
  s.remove_prefix(i);
  if (s.empty() || s[0] == '-') return std::nullopt;
  std::string copy(s);
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(copy.c_str(), &end, 0);
  if (errno == ERANGE || end == copy.c_str() || *end != '\0') return std::nullopt;
  return static_cast<uint64_t>(v);
}

constexpr uint32_t scmp_errno(int64_t e) {
  return SECCOMP_RET_ERRNO | (static_cast<uint32_t>(e) & SECCOMP_RET_DATA);
}

std::string describe(uint32_t action) {
  switch (action & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_KILL_THREAD: return "kill";
    case SECCOMP_RET_ALLOW: return "allow";
    case SECCOMP_RET_TRAP: return "trap";
    case SECCOMP_RET_ERRNO: return "errno " + std::to_string(action & SECCOMP_RET_DATA);
    case SECCOMP_RET_USER_NOTIF: return "notify";
    case SECCOMP_RET_LOG: return "log";
  }
  return "?";
}

// do_resolve_add_rule() per context: a name unknown on the host is skipped
// everywhere (the rule stays, for the compiler to report); a name that is a
// pseudo syscall (< 0) natively is skipped for the native context; a name
// that does not resolve to a number >= 0 on a compat arch is skipped there.
// Returns the arches LXC adds the rule to.
std::vector<std::string> lxc_rule_arches(const std::string& name) {
  std::vector<std::string> all = {std::string(kArchX86_64), std::string(kArchX86),
                                  std::string(kArchX32)};
  int nr = seccomp_syscall_resolve_name(name.c_str());
  if (nr == __NR_SCMP_ERROR) return all;
  std::vector<std::string> out;
  if (nr >= 0) out.push_back(all[0]);
  if (seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86, name.c_str()) >= 0) out.push_back(all[1]);
  if (seccomp_syscall_resolve_name_arch(SCMP_ARCH_X32, name.c_str()) >= 0) out.push_back(all[2]);
  return out;
}

enum class Section { All, I386, X32, Amd64, Foreign };

struct SectionName {
  std::string_view name;
  Section section;
  bool alias;  // not a spelling LXC knows
};

constexpr std::array<SectionName, 36> kSections = {{
    {"[all]", Section::All, false},        {"[ALL]", Section::All, false},
    {"[x86]", Section::I386, false},       {"[X86]", Section::I386, false},
    {"[x32]", Section::X32, false},        {"[X32]", Section::X32, false},
    {"[x86_64]", Section::Amd64, false},   {"[X86_64]", Section::Amd64, false},
    {"[amd64]", Section::Amd64, true},     {"[AMD64]", Section::Amd64, true},
    {"[i386]", Section::I386, true},       {"[I386]", Section::I386, true},
    {"[arm]", Section::Foreign, false},    {"[ARM]", Section::Foreign, false},
    {"[arm64]", Section::Foreign, false},  {"[ARM64]", Section::Foreign, false},
    {"[ppc64le]", Section::Foreign, false}, {"[PPC64LE]", Section::Foreign, false},
    {"[ppc64]", Section::Foreign, false},  {"[PPC64]", Section::Foreign, false},
    {"[ppc]", Section::Foreign, false},    {"[PPC]", Section::Foreign, false},
    {"[mips64]", Section::Foreign, false}, {"[MIPS64]", Section::Foreign, false},
    {"[mips64n32]", Section::Foreign, false}, {"[MIPS64N32]", Section::Foreign, false},
    {"[mips]", Section::Foreign, false},   {"[MIPS]", Section::Foreign, false},
    {"[mipsel64]", Section::Foreign, false}, {"[MIPSEL64]", Section::Foreign, false},
    {"[mipsel64n32]", Section::Foreign, false}, {"[MIPSEL64N32]", Section::Foreign, false},
    {"[mipsel]", Section::Foreign, false}, {"[MIPSEL]", Section::Foreign, false},
    {"[s390x]", Section::Foreign, false},  {"[S390X]", Section::Foreign, false},
}};
// [s390] / [S390] are foreign too; kept out of the table to keep it readable.
std::optional<SectionName> find_section(std::string_view line) {
  for (const auto& s : kSections)
    if (s.name == line) return s;
  if (line == "[s390]" || line == "[S390]") return SectionName{line, Section::Foreign, false};
  return std::nullopt;
}

class LxcParser {
 public:
  LxcParser(std::string_view text, std::string origin, const LxcImportOptions& opts)
      : text_(text), origin_(std::move(origin)), opts_(opts) {
    rs_.origin = origin_;
  }

  RuleSet run() {
    // parse_config(): fscanf(f, "%d\n", &version) skips white space (blank
    // lines too) before and after the number; getline() then reads line 2.
    size_t pos = skip_space(0);
    int version_line = line_at(pos);
    std::string_view rest = text_.substr(pos);
    std::optional<int64_t> version = scan_int(rest, false);
    if (!version || (*version != 1 && *version != 2))
      fail(version_line, "invalid version line \"" + std::string(line_text(version_line)) +
                             "\": expected 1 or 2");
    pos = skip_space(text_.size() - rest.size());
    if (pos >= text_.size()) fail(version_line, "no policy line after the version");
    size_t eol = text_.find('\n', pos);
    if (eol == std::string_view::npos) eol = text_.size();
    Line policy{text_.substr(pos, eol - pos), line_at(pos)};
    std::vector<Line> body = split_lines(eol + 1 < text_.size() ? eol + 1 : text_.size(),
                                         policy.number + 1);

    if (policy.text.find("debug") != std::string_view::npos)
      fail(policy.number, "\"debug\" is not implemented (LXC refuses the policy)");
    if (*version == 1) {
      if (policy.text.find("allowlist") == std::string_view::npos &&
          policy.text.find("whitelist") == std::string_view::npos)
        fail(policy.number, "version 1 policies must be an allowlist, not \"" +
                                std::string(policy.text) + "\"");
      parse_v1(body);
    } else {
      parse_v2(policy, eol < text_.size(), body);
    }
    return std::move(rs_);
  }

 private:
  [[noreturn]] void fail(int line, const std::string& msg) const {
    throw ProfileError(origin_, line, msg);
  }
  void note(int line, const std::string& msg) {
    rs_.notes.push_back(origin_ + ":" + std::to_string(line) + ": " + msg);
  }

  size_t skip_space(size_t pos) const {
    while (pos < text_.size() && is_space(text_[pos])) ++pos;
    return pos;
  }
  int line_at(size_t pos) const {
    pos = std::min(pos, text_.size());
    return 1 + static_cast<int>(std::count(text_.begin(), text_.begin() + static_cast<long>(pos), '\n'));
  }
  std::string_view line_text(int number) const {
    size_t pos = 0;
    for (int i = 1; i < number && pos < text_.size(); ++i) {
      size_t nl = text_.find('\n', pos);
      if (nl == std::string_view::npos) return {};
      pos = nl + 1;
    }
    size_t eol = text_.find('\n', pos);
    return text_.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
  }
  std::vector<Line> split_lines(size_t pos, int first_number) const {
    std::vector<Line> out;
    int n = first_number;
    while (pos < text_.size()) {
      size_t eol = text_.find('\n', pos);
      if (eol == std::string_view::npos) eol = text_.size();
      out.push_back(Line{text_.substr(pos, eol - pos), n++});
      pos = eol + 1;
    }
    return out;
  }

  // ---- version 1 ------------------------------------------------------------
  void parse_v1(const std::vector<Line>& body) {
    rs_.default_action = SECCOMP_RET_KILL_THREAD;  // seccomp_init(SCMP_ACT_KILL)
    rs_.arches = {std::string(kArchX86_64)};       // one context, native arch only
    std::vector<int64_t> unnamed;
    for (const Line& l : body) {
      std::string_view s = l.text;
      std::optional<int64_t> nr = scan_int(s, false);
      if (!nr) fail(l.number, "expected a syscall number, not \"" + std::string(l.text) + "\"");
      if (*nr < 0 || *nr > std::numeric_limits<int32_t>::max())
        fail(l.number, "syscall number " + std::to_string(*nr) + " out of range");
      std::string name;
      if (auto n = syscall_name(Arch::X86_64, *nr)) {
        name = std::string(*n);
      } else {
        name = "nr:" + std::to_string(*nr);
        unnamed.push_back(*nr);
      }
      rs_.rules.push_back(Rule{name, SECCOMP_RET_ALLOW, {}, l.number, {}, false});
    }
    if (!unnamed.empty()) {
      std::string list;
      for (size_t i = 0; i < unnamed.size() && i < 8; ++i)
        list += (i ? ", " : "") + std::to_string(unnamed[i]);
      if (unnamed.size() > 8) list += ", ...";
      rs_.notes.push_back(origin_ + ": " + std::to_string(unnamed.size()) +
                          " syscall numbers have no x86_64 name in the kernel's syscall table " +
                          "(" + list + "); kept as \"nr:<N>\" names, which the compiler skips "
                          "while LXC adds them by number");
    }
  }

  // ---- version 2 ------------------------------------------------------------

  // get_v2_default_action(): a prefix match after leading blanks. nullopt for
  // an empty string; throws for an unknown action.
  std::optional<uint32_t> action_word(std::string_view s, int line) const {
    while (!s.empty() && s[0] == ' ') s.remove_prefix(1);
    if (s.empty()) return std::nullopt;
    if (s.starts_with("kill")) return SECCOMP_RET_KILL_THREAD;
    if (s.starts_with("errno")) {
      std::string_view num = s.substr(5);
      std::optional<int64_t> e = scan_int(num, false);
      if (!e) fail(line, "bad errno value in \"" + std::string(s) + "\"");
      return scmp_errno(*e);
    }
    if (s.starts_with("allow")) return SECCOMP_RET_ALLOW;
    if (s.starts_with("trap")) return SECCOMP_RET_TRAP;
    if (s.starts_with("notify")) return SECCOMP_RET_USER_NOTIF;
    if (s.starts_with("log")) return SECCOMP_RET_LOG;
    fail(line, "unrecognized seccomp action \"" + std::string(s) + "\"");
  }

  // get_v2_action(): the word after the first space, if any.
  uint32_t rule_action(std::string_view line, int number) const {
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return default_rule_action_;
    std::string_view p = line.substr(sp + 1);
    while (!p.empty() && p[0] == ' ') p.remove_prefix(1);
    if (p.empty() || p[0] == '#') return default_rule_action_;
    return action_word(p, number).value_or(default_rule_action_);
  }

  // get_seccomp_arg_value() on one ']'-delimited token.
  ArgCmp arg_cmp(std::string_view token, int line) const {
    auto bad = [&](const std::string& why) {
      fail(line, "bad argument comparison \"" + std::string(token) + "]\": " + why +
                     " (expected [index,value,op] or [index,value,SCMP_CMP_MASKED_EQ,mask])");
    };
    size_t lb = token.find('[');
    if (lb == std::string_view::npos) bad("no '['");
    std::string_view s = token.substr(lb + 1);
    // %i
    std::optional<int64_t> index = scan_int(s, true);
    if (!index) bad("no argument index");
    // %23[^,] after ','
    auto field = [&](size_t max, auto stop) -> std::optional<std::string_view> {
      if (s.empty() || s[0] != ',') return std::nullopt;
      s.remove_prefix(1);
      size_t n = 0;
      while (n < s.size() && n < max && !stop(s[n])) ++n;
      if (n == 0) return std::nullopt;
      std::string_view f = s.substr(0, n);
      s.remove_prefix(n);
      return f;
    };
    auto comma = [](char c) { return c == ','; };
    auto op_stop = [](char c) { return c == ',' || c == '^' || is_digit(c); };
    std::optional<std::string_view> value = field(23, comma);
    if (!value) bad("no value");
    std::optional<std::string_view> op = field(30, op_stop);
    if (!op) bad("no operator");
    std::optional<std::string_view> mask = field(23, comma);
    if (static_cast<uint64_t>(*index) >= 6 || *index < 0)  // LXC stores it as uint32_t
      bad("argument index " + std::to_string(*index) + " out of range 0..5");
    std::optional<uint64_t> v = safe_uint64(*value);
    if (!v) bad("invalid value \"" + std::string(*value) + "\"");
    std::optional<uint64_t> m = mask ? safe_uint64(*mask) : std::optional<uint64_t>(0);
    if (!m) bad("invalid mask \"" + std::string(*mask) + "\"");
    static const std::map<std::string_view, ArgCmp::Op> kOps = {
        {"SCMP_CMP_NE", ArgCmp::NE}, {"!=", ArgCmp::NE},
        {"SCMP_CMP_LT", ArgCmp::LT}, {"<", ArgCmp::LT},
        {"SCMP_CMP_LE", ArgCmp::LE}, {"<=", ArgCmp::LE},
        {"SCMP_CMP_EQ", ArgCmp::EQ}, {"==", ArgCmp::EQ},
        {"SCMP_CMP_GE", ArgCmp::GE}, {">=", ArgCmp::GE},
        {"SCMP_CMP_GT", ArgCmp::GT}, {">", ArgCmp::GT},
        {"SCMP_CMP_MASKED_EQ", ArgCmp::MASKED_EQ}, {"&=", ArgCmp::MASKED_EQ}};
    auto it = kOps.find(*op);
    if (it == kOps.end()) bad("unknown operator \"" + std::string(*op) + "\"");
    ArgCmp out;
    out.index = static_cast<unsigned>(*index);
    out.op = it->second;
    if (out.op == ArgCmp::MASKED_EQ) {
      // SCMP_CMP(index, op, mask, value): datum_a (the mask) is field 4.
      out.value = *m;
      out.value_two = *v;
    } else {
      out.value = *v;
    }
    return out;
  }

  // parse_v2_rules(): the action and up to six arg-cmps.
  std::vector<ArgCmp> rule_args(std::string_view line, int number) {
    std::vector<ArgCmp> args;
    if (line.find('[') == std::string_view::npos) return args;
    // strtok_r(line, "]"): non-empty tokens between ']' characters.
    size_t pos = 0;
    int tokens = 0;
    while (pos < line.size()) {
      size_t start = line.find_first_not_of(']', pos);
      if (start == std::string_view::npos) break;
      size_t end = line.find(']', start);
      if (end == std::string_view::npos) end = line.size();
      if (tokens == 6) {
        note(number, "more than six argument comparisons; LXC ignores the rest");
        break;
      }
      args.push_back(arg_cmp(line.substr(start, end - start), number));
      ++tokens;
      pos = end;
    }
    return args;
  }

  // `newline`: the policy line ends with '\n', which LXC keeps in it.
  void parse_v2(const Line& policy, bool newline, const std::vector<Line>& body) {
    std::string_view p = policy.text;
    bool denylist = p.starts_with("denylist") || p.starts_with("blacklist");
    if (!denylist && !p.starts_with("allowlist") && !p.starts_with("whitelist"))
      fail(policy.number, "bad seccomp policy style \"" + std::string(p) +
                              "\": expected allowlist or denylist");
    std::optional<uint32_t> def;
    if (size_t sp = p.find(' '); sp != std::string_view::npos) {
      def = action_word(p.substr(sp + 1), policy.number);
      // Only blanks after the space: LXC then parses the "\n" as an action.
      if (!def && newline)
        fail(policy.number, "unrecognized seccomp action \"\\n\" (LXC refuses trailing blanks "
                            "after " + std::string(p.substr(0, sp)) + ")");
    }
    if (denylist) {
      rs_.default_action = def.value_or(SECCOMP_RET_ALLOW);
      default_rule_action_ = SECCOMP_RET_KILL_THREAD;
    } else {
      rs_.default_action = def.value_or(SECCOMP_RET_KILL_THREAD);
      default_rule_action_ = SECCOMP_RET_ALLOW;
    }
    // Native context first, then the merged compat contexts (x86, x32).
    rs_.arches = {std::string(kArchX86_64), std::string(kArchX86), std::string(kArchX32)};

    Section cur = Section::All;
    bool notify = false;
    for (const Line& l : body) {
      std::string_view line = l.text;
      if (!line.empty() && line[0] == '#') continue;
      if (!line.empty() && line.back() == '\r')
        note(l.number, "line ends with a carriage return, which LXC keeps in the syscall name");
      if (!line.empty() && line[0] == '[') {
        std::optional<SectionName> s = find_section(line);
        if (!s) fail(l.number, "unsupported architecture section " + std::string(line));
        cur = s->section;
        if (s->alias)
          note(l.number, std::string(line) + " is not a section name LXC knows (it rejects the "
                         "policy); read as " + (cur == Section::Amd64 ? "[x86_64]" : "[x86]"));
        if (cur == Section::Foreign)
          note(l.number, "section " + std::string(line) + " is for another arch; its rules are skipped");
        else if (cur != Section::All && !opts_.honor_arch_sections)
          note(l.number, "section " + std::string(line) + ": as in LXC 3.0 and later, its rules "
                         "are added to every context (x86_64, x86, x32)");
        continue;
      }
      if (cur == Section::Foreign) continue;

      uint32_t action = rule_action(line, l.number);
      std::vector<ArgCmp> args = rule_args(line, l.number);
      std::string_view name = line.substr(0, line.find(' '));
      if (name.empty()) {
        if (!line.empty()) note(l.number, "no syscall name before the first space; LXC skips the line");
        continue;
      }
      Rule r;
      r.source_line = l.number;
      r.exact = true;
      if (opts_.honor_arch_sections) {
        if (cur == Section::Amd64) r.only_arches = {std::string(kArchX86_64)};
        else if (cur == Section::I386) r.only_arches = {std::string(kArchX86)};
        else if (cur == Section::X32) r.only_arches = {std::string(kArchX32)};
      }
      if (name.starts_with("reject_force_umount")) {
        // seccomp_rule_add_exact(ERRNO(EACCES), umount2, SCMP_A1(MASKED_EQ, MNT_FORCE, MNT_FORCE))
        r.syscall = "umount2";
        r.action = scmp_errno(13);  // EACCES
        r.args = {ArgCmp{1, ArgCmp::MASKED_EQ, 1, 1}};
      } else {
        r.syscall = std::string(name);
        r.action = action;
        r.args = std::move(args);
        std::array<int, 6> per_index{};
        for (const auto& a : r.args)
          if (++per_index[a.index] == 2)
            note(l.number, "argument " + std::to_string(a.index) + " is compared twice in one rule: "
                           "libseccomp refuses the rule (EINVAL) and LXC the whole policy");
      }
      // The contexts LXC adds the rule to.
      std::vector<std::string> arches = r.only_arches.empty() ? rs_.arches : r.only_arches;
      std::vector<std::string> resolvable = lxc_rule_arches(r.syscall);
      std::vector<std::string> used;
      for (const auto& a : arches)
        if (std::find(resolvable.begin(), resolvable.end(), a) != resolvable.end()) used.push_back(a);
      if (used.empty()) {
        note(l.number, r.syscall + ": no context LXC would add the rule to (not a syscall number "
                       ">= 0 on any arch); left out");
        continue;
      }
      if (used.size() != arches.size()) {
        std::string skipped;
        for (const auto& a : arches)
          if (std::find(used.begin(), used.end(), a) == used.end()) skipped += (skipped.empty() ? "" : ", ") + a;
        note(l.number, r.syscall + ": not added for " + skipped + ", where libseccomp has no "
                       "syscall number >= 0 for it (LXC skips such contexts)");
      }
      r.only_arches = used.size() == rs_.arches.size() ? std::vector<std::string>{} : used;
      if (r.action == rs_.default_action)
        note(l.number, "rule action " + describe(r.action) + " is the default action: libseccomp "
                       "refuses such a rule and LXC the whole policy");
      if ((r.action & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_USER_NOTIF) notify = true;
      rs_.rules.push_back(std::move(r));
    }
    if (notify || (rs_.default_action & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_USER_NOTIF)
      rs_.notes.push_back(origin_ + ": notify rules: LXC loads the filter with "
                          "SECCOMP_FILTER_FLAG_NEW_LISTENER and answers on the listener");
  }

  std::string_view text_;
  std::string origin_;
  const LxcImportOptions& opts_;
  uint32_t default_rule_action_ = SECCOMP_RET_ALLOW;
  RuleSet rs_;
};

}  // namespace

RuleSet parse_lxc_policy(std::string_view text, const std::string& origin,
                         const LxcImportOptions& opts) {
  return LxcParser(text, origin, opts).run();
}

RuleSet parse_lxc_policy_file(const std::string& path, const LxcImportOptions& opts,
                              std::string origin) {
  if (origin.empty()) origin = path;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ProfileError(origin, 0, "cannot open file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_lxc_policy(ss.str(), origin, opts);
}

}  // namespace secdiff::corpus
