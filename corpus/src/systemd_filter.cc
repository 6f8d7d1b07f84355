#include "corpus/src/systemd_filter.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "oracle/seccomp_abi.h"

namespace secdiff::corpus {

namespace {

using json = nlohmann::json;

std::string read_file_or_throw(const std::string& path, const std::string& origin) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ProfileError(origin, 0, "cannot open file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// extract_first_word(..., EXTRACT_UNQUOTE) for the simple cases: words split
// at white space, quotes removed.
std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    if (i >= s.size()) break;
    std::string word;
    while (i < s.size() && !is_space(s[i])) {
      if (s[i] == '"' || s[i] == '\'') {
        char q = s[i++];
        while (i < s.size() && s[i] != q) word += s[i++];
        if (i < s.size()) ++i;
      } else {
        word += s[i++];
      }
    }
    out.push_back(std::move(word));
  }
  return out;
}

// 1-based line of the first occurrence of `needle` in `text` (0 if none).
int line_of(std::string_view text, std::string_view needle) {
  size_t pos = text.find(needle);
  if (pos == std::string_view::npos) return 0;
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(pos), '\n'));
}

// Appends the members of `group` to `out` (depth first), failing on cycles.
void expand_into(const SystemdGroups& g, std::string_view group, std::vector<std::string>& stack,
                 std::vector<std::string>& out, std::set<std::string, std::less<>>& seen,
                 const std::function<void(const std::string&)>& unknown) {
  auto it = g.members.find(group);
  if (it == g.members.end()) {
    unknown(std::string(group));
    return;
  }
  if (std::find(stack.begin(), stack.end(), group) != stack.end()) {
    std::string cycle;
    for (const auto& s : stack) cycle += s + " -> ";
    cycle += std::string(group);
    auto l = g.lines.find(stack.front());
    throw ProfileError(g.origin, l == g.lines.end() ? 0 : l->second, "group cycle " + cycle);
  }
  stack.emplace_back(group);
  for (const auto& m : it->second) {
    if (!m.empty() && m[0] == '@') expand_into(g, m, stack, out, seen, unknown);
    else if (seen.insert(m).second) out.push_back(m);
  }
  stack.pop_back();
}

constexpr int kErrnoNone = -1;
constexpr int kErrnoKill = -2;  // systemd's SECCOMP_ERROR_NUMBER_KILL

// parse_errno(): an errno name or a number 0..4095.
std::optional<int> parse_errno_value(std::string_view s) {
  if (auto e = errno_from_name(s)) return *e;
  if (s.empty() || s.size() > 4 ||
      !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  int v = std::stoi(std::string(s));
  if (v > 4095) return std::nullopt;
  return v;
}

// systemd arch names (seccomp_arch_from_string) -> libseccomp names; "" for
// arches that are not local to an x86_64 host.
std::optional<std::string> systemd_arch(std::string_view a) {
  if (a == "native" || a == "x86-64") return std::string(kArchX86_64);
  if (a == "x86") return std::string(kArchX86);
  if (a == "x32") return std::string(kArchX32);
  static const std::set<std::string_view> kForeign = {
      "arm",       "arm64",     "loongarch64", "mips",      "mips64",      "mips64-n32",
      "mips-le",   "mips64-le", "mips64-le-n32", "parisc",  "parisc64",    "ppc",
      "ppc64",     "ppc64-le",  "riscv64",     "s390",      "s390x"};
  if (kForeign.count(a)) return std::string();
  return std::nullopt;
}

// Sandboxing directives that systemd compiles into seccomp filters of their
// own, with argument tests this importer does not model.
const std::set<std::string_view>& unmodelled_directives() {
  static const std::set<std::string_view> d = {
      "RestrictAddressFamilies", "RestrictNamespaces", "MemoryDenyWriteExecute",
      "LockPersonality",         "RestrictRealtime",   "RestrictSUIDSGID",
      "SystemCallLog",           "ProtectKernelTunables"};
  return d;
}

// Boolean directives whose filter denies a fixed list with ERRNO(EPERM), in
// exec_child() order.
struct ProtectDirective {
  std::string_view name;
  std::vector<std::string_view> deny;  // names and @groups
};
const std::vector<ProtectDirective>& protect_directives() {
  static const std::vector<ProtectDirective> d = {
      {"ProtectKernelModules", {"@module"}},
      {"ProtectKernelLogs", {"syslog"}},
      {"ProtectClock", {"@clock"}},
      {"PrivateDevices", {"@raw-io"}},
      {"ProtectHostname", {"sethostname", "setdomainname"}}};
  return d;
}

// parse_boolean().
std::optional<bool> parse_bool(std::string_view v) {
  for (auto t : {"1", "yes", "y", "true", "t", "on"})
    if (v == t) return true;
  for (auto f : {"0", "no", "n", "false", "f", "off"})
    if (v == f) return false;
  return std::nullopt;
}

// The SystemCall*= state of one unit (ExecContext), then its filter.
class UnitFilterBuilder {
 public:
  UnitFilterBuilder(std::string origin, const SystemdGroups& groups, const SystemdImportOptions& opts)
      : origin_(std::move(origin)), groups_(groups), opts_(opts) {}

  void note(int line, const std::string& msg) {
    notes_.push_back(origin_ + (line > 0 ? ":" + std::to_string(line) : std::string()) + ": " + msg);
  }

  void directive(std::string_view key, std::string_view value, int line) {
    value = trim(value);
    if (key == "SystemCallFilter") filter(value, line);
    else if (key == "SystemCallErrorNumber") error_number(value, line);
    else if (key == "SystemCallArchitectures") architectures(value, line);
    else if (is_protect(key) && opts_.protect_filters) protect(key, value, line);
    else if (unmodelled_directives().count(key) || is_protect(key)) {
      if (unmodelled_seen_.insert(std::string(key)).second)
        note(line, std::string(key) + "=" + std::string(value) +
                       ": systemd compiles this into a separate seccomp filter; not modelled");
    }
  }

  // The filters of the protect directives that are on, in exec_child() order.
  std::vector<std::pair<std::string, RuleSet>> build_protect() const {
    std::vector<std::pair<std::string, RuleSet>> out;
    for (const auto& d : protect_directives()) {
      auto it = protect_.find(std::string(d.name));
      if (it == protect_.end() || !it->second.first) continue;
      int line = it->second.second;
      RuleSet rs;
      rs.origin = origin_;
      rs.arches = opts_.arches;
      rs.bad_arch_action = SECCOMP_RET_ALLOW;
      rs.default_action = SECCOMP_RET_ALLOW;
      rs.notes = {origin_ + ":" + std::to_string(line) + ": " + std::string(d.name) +
                  "=yes: a filter of its own (seccomp_load_syscall_filter_set / seccomp_protect_*)"};
      std::vector<std::string> names;
      for (std::string_view w : d.deny) {
        if (w[0] == '@') {
          std::vector<std::string> stack;
          std::set<std::string, std::less<>> seen(names.begin(), names.end());
          expand_into(groups_, w, stack, names, seen, [&](const std::string& g) {
            throw ProfileError(origin_, line, std::string(d.name) + " needs group " + g +
                                                  ", which " + groups_.origin + " lacks");
          });
        } else {
          names.emplace_back(w);
        }
      }
      for (const auto& n : names)
        rs.rules.push_back(Rule{n, SECCOMP_RET_ERRNO | 1u, {}, line, {}, true});
      out.emplace_back(std::string(d.name), std::move(rs));
    }
    return out;
  }

  bool has_syscall_filter() const { return initialized_ && (allow_list_ || !entries_.empty()); }

  std::optional<RuleSet> build() const {
    bool has_filter = initialized_ && (allow_list_ || !entries_.empty());
    std::vector<std::string> blocked;
    if (archs_set_)
      for (std::string_view a : {kArchX86, kArchX32})
        if (!allowed_archs_.count(std::string(a))) blocked.emplace_back(a);
    if (!has_filter && blocked.empty()) return std::nullopt;

    RuleSet rs;
    rs.origin = origin_;
    for (const auto& a : opts_.arches)
      if (std::find(blocked.begin(), blocked.end(), a) == blocked.end()) rs.arches.push_back(a);
    if (rs.arches.empty()) rs.arches = {std::string(kArchX86_64)};
    rs.bad_arch_action = blocked.empty() ? SECCOMP_RET_ALLOW : SECCOMP_RET_KILL_THREAD;
    rs.notes = notes_;
    if (!blocked.empty()) {
      std::string list;
      for (const auto& b : blocked) list += (list.empty() ? "" : ", ") + b;
      rs.notes.push_back(origin_ + ": SystemCallArchitectures= blocks " + list +
                         " (seccomp_restrict_archs: bad arch -> KILL_THREAD)");
    }
    if (!has_filter) {
      rs.default_action = SECCOMP_RET_ALLOW;
      rs.notes.push_back(origin_ + ": no SystemCallFilter=; the arch restriction is the only filter");
      return rs;
    }
    uint32_t negative = errno_ == kErrnoKill
                            ? SECCOMP_RET_KILL_PROCESS
                            : SECCOMP_RET_ERRNO | (static_cast<uint32_t>(errno_) & SECCOMP_RET_DATA);
    uint32_t action = allow_list_ ? SECCOMP_RET_ALLOW : negative;
    rs.default_action = allow_list_ ? negative : SECCOMP_RET_ALLOW;
    for (const auto& e : entries_) {
      uint32_t a = action;
      if (e.err == kErrnoKill) a = SECCOMP_RET_KILL_PROCESS;
      else if (e.err >= 0) a = SECCOMP_RET_ERRNO | static_cast<uint32_t>(e.err);
      rs.rules.push_back(Rule{e.name, a, {}, e.line, {}, true});
    }
    return rs;
  }

 private:
  struct Entry {
    std::string name;
    int err = kErrnoNone;
    int line = 0;
  };

  static bool is_protect(std::string_view key) {
    const auto& d = protect_directives();
    return std::any_of(d.begin(), d.end(), [&](const ProtectDirective& p) { return p.name == key; });
  }

  void protect(std::string_view key, std::string_view value, int line) {
    std::optional<bool> b = value.empty() ? std::optional<bool>(false) : parse_bool(value);
    if (!b) {
      bad(line, "bad boolean \"" + std::string(value) + "\" for " + std::string(key) + "=");
      return;
    }
    protect_[std::string(key)] = {*b, line};
  }

  void bad(int line, const std::string& msg) {
    if (opts_.strict) throw ProfileError(origin_, line, msg);
    note(line, msg + "; ignored, as systemd does");
  }

  void put(const std::string& name, int err, int line) {
    for (auto& e : entries_)
      if (e.name == name) {
        e.err = err;
        e.line = line;
        return;
      }
    entries_.push_back(Entry{name, err, line});
  }
  void remove(const std::string& name) {
    entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                  [&](const Entry& e) { return e.name == name; }),
                   entries_.end());
  }

  // seccomp_parse_syscall_filter() for one word (name or @group).
  void apply(const std::string& word, int err, bool invert, int line) {
    std::vector<std::string> names;
    if (!word.empty() && word[0] == '@') {
      std::vector<std::string> stack;
      std::set<std::string, std::less<>> seen;
      bool known = true;
      expand_into(groups_, word, stack, names, seen, [&](const std::string& g) {
        known = false;
        bad(line, "unknown system call group " + g + " (not in " + groups_.origin + ")");
      });
      if (!known) return;
    } else {
      names.push_back(word);
    }
    for (const auto& n : names) {
      bool add = (!invert == allow_list_) || (invert && allow_list_ && err >= 0);
      if (add) put(n, err, line);
      else remove(n);
    }
  }

  void filter(std::string_view value, int line) {
    if (value.empty()) {  // reset
      initialized_ = false;
      allow_list_ = false;
      entries_.clear();
      return;
    }
    bool invert = value[0] == '~';
    if (invert) value.remove_prefix(1);
    if (!initialized_) {
      initialized_ = true;
      allow_list_ = !invert;
      if (allow_list_) apply("@default", kErrnoNone, false, line);
    }
    for (const std::string& word : split_words(value)) {
      std::string name = word;
      int err = kErrnoNone;
      if (size_t colon = word.find(':'); colon != std::string::npos) {
        name = word.substr(0, colon);
        std::string_view e = std::string_view(word).substr(colon + 1);
        std::optional<int> v = e == "kill" ? std::optional<int>(kErrnoKill) : parse_errno_value(e);
        if (!v) {
          bad(line, "bad error number in \"" + word + "\"");
          continue;
        }
        err = *v;
        if (!invert) {
          note(line, "allow-listed system calls cannot take an error number; \"" + word +
                         "\" ignored, as systemd does");
          continue;
        }
      }
      apply(name, err, invert, line);
    }
  }

  void error_number(std::string_view value, int line) {
    if (value.empty() || value == "kill") {
      errno_ = kErrnoKill;
      return;
    }
    std::optional<int> e = parse_errno_value(value);
    if (!e || *e == 0) {
      bad(line, "bad SystemCallErrorNumber= \"" + std::string(value) + "\"");
      return;
    }
    errno_ = *e;
  }

  void architectures(std::string_view value, int line) {
    if (value.empty()) {
      archs_set_ = false;
      allowed_archs_.clear();
      return;
    }
    archs_set_ = true;
    for (const std::string& w : split_words(value)) {
      std::optional<std::string> a = systemd_arch(w);
      if (!a) bad(line, "unknown architecture \"" + w + "\" in SystemCallArchitectures=");
      else if (a->empty()) note(line, "architecture " + w + " is not local to an x86_64 host");
      else allowed_archs_.insert(*a);
    }
  }

  std::string origin_;
  const SystemdGroups& groups_;
  const SystemdImportOptions& opts_;
  bool initialized_ = false;
  bool allow_list_ = false;
  std::vector<Entry> entries_;
  int errno_ = kErrnoKill;
  bool archs_set_ = false;
  std::set<std::string> allowed_archs_;
  std::set<std::string> unmodelled_seen_;
  std::map<std::string, std::pair<bool, int>> protect_;  // directive -> (on, line)
  std::vector<std::string> notes_;
};

void append_filters(const UnitFilterBuilder& b, const std::string& package, const std::string& version,
                    const std::string& unit, std::vector<SystemdUnitFilter>& out) {
  auto push = [&](std::string filter, RuleSet rs) {
    rs.notes.insert(rs.notes.begin(), rs.origin + ": unit " + unit +
                                          (package.empty() ? std::string()
                                                           : " (" + package + " " + version + ")") +
                                          ", filter " + filter);
    out.push_back(SystemdUnitFilter{package, version, unit, std::move(filter), std::move(rs)});
  };
  if (std::optional<RuleSet> rs = b.build())
    push(b.has_syscall_filter() ? "SystemCallFilter" : "SystemCallArchitectures", std::move(*rs));
  for (auto& [name, rs] : b.build_protect()) push(name, std::move(rs));
}

void check_options(const SystemdImportOptions& opts) {
  for (const auto& a : opts.arches)
    if (a != kArchX86_64 && a != kArchX86 && a != kArchX32)
      throw std::invalid_argument("systemd import: arch \"" + a + "\" is not x86_64, x86 or x32");
}

}  // namespace

SystemdGroups parse_systemd_groups(std::string_view json_text, const std::string& origin) {
  SystemdGroups g;
  g.origin = origin;
  json doc;
  try {
    doc = json::parse(json_text.begin(), json_text.end());
  } catch (const json::parse_error& e) {
    throw ProfileError(origin, 0, std::string("invalid JSON: ") + e.what());
  }
  if (!doc.is_object()) throw ProfileError(origin, 1, "expected a JSON object of groups");
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string& name = it.key();
    if (name.empty() || name[0] != '@') continue;
    int line = line_of(json_text, "\"" + name + "\"");
    const json& v = it.value();
    const json* members = v.is_object() && v.contains("members") ? &v["members"] : nullptr;
    if (!members || !members->is_array())
      throw ProfileError(origin, line, "group " + name + " has no \"members\" array");
    std::vector<std::string> list;
    for (const auto& m : *members) {
      if (!m.is_string() || m.get<std::string>().empty())
        throw ProfileError(origin, line, "group " + name + ": members must be non-empty strings");
      list.push_back(m.get<std::string>());
    }
    g.members[name] = std::move(list);
    g.lines[name] = line;
  }
  // Every nested group must exist and no group may contain itself.
  for (auto it = g.members.begin(); it != g.members.end(); ++it) {
    const std::string& name = it->first;
    std::vector<std::string> stack, out;
    std::set<std::string, std::less<>> seen;
    expand_into(g, name, stack, out, seen, [&](const std::string& missing) {
      throw ProfileError(origin, g.lines[name], "group " + name + " names unknown group " + missing);
    });
  }
  return g;
}

SystemdGroups parse_systemd_groups_file(const std::string& path, std::string origin) {
  if (origin.empty()) origin = path;
  return parse_systemd_groups(read_file_or_throw(path, origin), origin);
}

std::vector<std::string> expand_systemd_group(const SystemdGroups& groups, std::string_view group) {
  std::vector<std::string> stack, out;
  std::set<std::string, std::less<>> seen;
  expand_into(groups, group, stack, out, seen, [&](const std::string& g) {
    throw ProfileError(groups.origin, 0, "unknown group " + g);
  });
  return out;
}

std::vector<SystemdUnitFilter> parse_systemd_directives_tsv(std::string_view text,
                                                            const std::string& origin,
                                                            const SystemdGroups& groups,
                                                            const SystemdImportOptions& opts) {
  check_options(opts);
  struct Unit {
    std::string package, version, unit;
    UnitFilterBuilder builder;
  };
  std::vector<std::unique_ptr<Unit>> units;
  std::map<std::string, size_t> index;
  int number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (trim(line).empty() || line[0] == '#') continue;
    std::vector<std::string_view> cols;
    size_t start = 0;
    for (;;) {
      size_t tab = line.find('\t', start);
      cols.push_back(line.substr(start, tab == std::string_view::npos ? std::string_view::npos
                                                                     : tab - start));
      if (tab == std::string_view::npos) break;
      start = tab + 1;
    }
    if (cols.size() != 5)
      throw ProfileError(origin, number, "expected 5 tab-separated columns (package, version, "
                                         "unit, directive, value), found " +
                                             std::to_string(cols.size()));
    if (trim(cols[2]).empty() || trim(cols[3]).empty())
      throw ProfileError(origin, number, "empty unit or directive column");
    std::string unit(trim(cols[2]));
    auto it = index.find(unit);
    if (it == index.end()) {
      units.push_back(std::make_unique<Unit>(
          Unit{std::string(trim(cols[0])), std::string(trim(cols[1])), unit,
               UnitFilterBuilder(origin, groups, opts)}));
      it = index.emplace(unit, units.size() - 1).first;
    }
    Unit& u = *units[it->second];
    if (u.package != trim(cols[0]) || u.version != trim(cols[1]))
      u.builder.note(number, "package/version differ from the unit's first row");
    u.builder.directive(trim(cols[3]), cols[4], number);
  }
  std::vector<SystemdUnitFilter> out;
  for (const auto& u : units) append_filters(u->builder, u->package, u->version, u->unit, out);
  return out;
}

std::vector<SystemdUnitFilter> parse_systemd_directives_tsv_file(const std::string& path,
                                                                 const SystemdGroups& groups,
                                                                 const SystemdImportOptions& opts,
                                                                 std::string origin) {
  if (origin.empty()) origin = path;
  return parse_systemd_directives_tsv(read_file_or_throw(path, origin), origin, groups, opts);
}

std::vector<SystemdUnitFilter> parse_systemd_unit(std::string_view text, const std::string& origin,
                                                  const SystemdGroups& groups,
                                                  const SystemdImportOptions& opts) {
  check_options(opts);
  UnitFilterBuilder b(origin, groups, opts);
  static const std::set<std::string_view> kExecSections = {"Service", "Socket", "Mount", "Swap"};
  std::string section;
  int number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    // One logical line: a trailing backslash continues it (replaced by a space).
    std::string logical;
    int first = number + 1;
    for (;;) {
      size_t eol = text.find('\n', pos);
      if (eol == std::string_view::npos) eol = text.size();
      std::string_view l = text.substr(pos, eol - pos);
      pos = eol + 1;
      ++number;
      if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
      std::string_view t = trim(l);
      bool comment = !t.empty() && (t[0] == '#' || t[0] == ';');
      if (comment && !logical.empty()) continue;  // comments inside continuations are skipped
      if (!t.empty() && t.back() == '\\' && !comment && pos < text.size()) {
        logical += std::string(t.substr(0, t.size() - 1)) + " ";
        continue;
      }
      logical += std::string(t);
      break;
    }
    std::string_view line = trim(logical);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      if (line.back() != ']') throw ProfileError(origin, first, "bad section header " + std::string(line));
      section = std::string(line.substr(1, line.size() - 2));
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      if (opts.strict) throw ProfileError(origin, first, "missing '=' in \"" + std::string(line) + "\"");
      b.note(first, "missing '='; line ignored, as systemd does");
      continue;
    }
    if (!kExecSections.count(section)) continue;
    b.directive(trim(line.substr(0, eq)), line.substr(eq + 1), first);
  }
  std::vector<SystemdUnitFilter> out;
  append_filters(b, "", "", origin, out);
  return out;
}

}  // namespace secdiff::corpus
