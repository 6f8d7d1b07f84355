#include "corpus/src/bionic_syscalls.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "oracle/seccomp_abi.h"

namespace secdiff::corpus {

namespace {

namespace fs = std::filesystem;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string base_name(std::string_view path) {
  const size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// `all`, lp32, lp64 or one arch -> bionic arch names; nullopt if unknown.
std::optional<std::vector<std::string>> expand_arch(std::string_view a) {
  if (a == "all") return std::vector<std::string>{"arm", "arm64", "riscv64", "x86", "x86_64"};
  if (a == "lp32") return std::vector<std::string>{"arm", "x86"};
  if (a == "lp64") return std::vector<std::string>{"arm64", "riscv64", "x86_64"};
  for (std::string_view k : {"arm", "arm64", "riscv64", "x86", "x86_64", "mips", "mips64"})
    if (a == k) return std::vector<std::string>{std::string(a)};
  return std::nullopt;
}

// The arch list after ')' is valid.
bool valid_arch_list(std::string_view list) {
  list = trim(list);
  if (list.empty()) return false;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    if (!expand_arch(trim(list.substr(pos, comma - pos)))) return false;
    pos = comma + 1;
  }
  return true;
}

// One SYSCALLS.TXT line (gensyscalls.py SysCallsTxtParser.parse_line).
BionicEntry parse_line(std::string_view line, const std::string& origin, int number) {
  auto fail = [&](const std::string& msg) {
    throw ProfileError(origin, number, msg + " in \"" + std::string(line) + "\"");
  };
  const size_t lparen = line.find('(');
  if (lparen == std::string_view::npos) fail("missing left parenthesis");
  const size_t rparen = line.rfind(')');
  if (rparen == std::string_view::npos || rparen <= lparen) fail("missing or misplaced right parenthesis");
  std::string_view head = trim(line.substr(0, lparen));
  // Old files put a return type first: the last word is the function.
  if (const size_t sp = head.find_last_of(" \t"); sp != std::string_view::npos) head = head.substr(sp + 1);
  if (head.empty()) fail("missing syscall name");
  std::string_view func = head, name = head;
  if (const size_t c1 = head.find(':'); c1 != std::string_view::npos) {
    if (c1 == 0 || c1 + 1 >= head.size()) fail("misplaced colon");
    func = head.substr(0, c1);
    name = head.substr(c1 + 1);
    if (const size_t c2 = name.find(':'); c2 != std::string_view::npos) {
      const std::string_view id = name.substr(c2 + 1);
      if (c2 == 0 || id.empty() || !std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; }))
        fail("misplaced colon or bad socketcall id");
      name = name.substr(0, c2);
    }
  }
  if (const size_t bar = func.find('|'); bar != std::string_view::npos) {
    if (bar == 0) fail("misplaced alias list");
    if (name == head) name = func.substr(0, bar);
  }
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) fail("bad syscall name '" + std::string(name) + "'");
  BionicEntry e;
  e.name = std::string(name);
  e.line = number;
  const std::string_view list = trim(line.substr(rparen + 1));
  if (list.empty()) fail("missing architecture list");
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    const std::string_view a = trim(list.substr(pos, comma - pos));
    const auto archs = expand_arch(a);
    if (!archs) fail("invalid syscall architecture '" + std::string(a) + "'");
    for (const auto& x : *archs)
      if (std::find(e.arches.begin(), e.arches.end(), x) == e.arches.end()) e.arches.push_back(x);
    pos = comma + 1;
  }
  return e;
}

bool on(const BionicEntry& e, std::string_view arch) {
  return std::find(e.arches.begin(), e.arches.end(), arch) != e.arches.end();
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ProfileError(path, 0, "cannot open file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The x86 arches of bionic that are chosen, x86_64 first.
std::vector<std::string> x86_arches(const std::vector<std::string>& chosen) {
  std::vector<std::string> out;
  for (std::string_view a : {kArchX86_64, kArchX86})
    if (std::find(chosen.begin(), chosen.end(), a) != chosen.end()) out.emplace_back(a);
  return out;
}

}  // namespace

BionicListKind bionic_list_kind(std::string_view path) {
  const std::string b = lower(base_name(path));
  if (b.find("blocklist") != std::string::npos || b.find("blacklist") != std::string::npos)
    return BionicListKind::Blocklist;
  if (b.ends_with("priority.txt")) return BionicListKind::Priority;
  if (b.starts_with("seccomp_")) return BionicListKind::Allowlist;
  return BionicListKind::Syscalls;
}

bool looks_like_bionic_list(std::string_view path, std::string_view text) {
  const std::string b = base_name(path);
  if (b == "SYSCALLS.TXT" || (b.starts_with("SECCOMP_") && b.ends_with(".TXT"))) return true;
  std::istringstream ss{std::string(text.substr(0, 64 * 1024))};
  for (std::string line; std::getline(ss, line);) {
    const std::string_view l = trim(line);
    if (l.empty() || l[0] == '#') continue;
    const size_t lp = l.find('('), rp = l.rfind(')');
    if (lp == std::string_view::npos || rp == std::string_view::npos || rp < lp || lp == 0) return false;
    const std::string_view head = trim(l.substr(0, lp));
    if (head.empty() || !(std::isalpha(static_cast<unsigned char>(head[0])) || head[0] == '_')) return false;
    return valid_arch_list(l.substr(rp + 1));
  }
  return false;
}

BionicList parse_bionic_list(std::string_view text, const std::string& origin, bool priority) {
  BionicList out;
  out.origin = origin;
  int number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    const std::string_view line = trim(text.substr(pos, eol - pos));
    pos = eol + 1;
    ++number;
    if (line.empty() || line[0] == '#') continue;
    if (priority) {
      // genseccomp: ^\s*([A-Za-z_][A-Za-z0-9_]+)\s*$ (it skips other lines; they are an error here).
      const bool ok = line.size() >= 2 && (std::isalpha(static_cast<unsigned char>(line[0])) || line[0] == '_') &&
                      std::all_of(line.begin(), line.end(),
                                  [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
      if (!ok) throw ProfileError(origin, number, "expected a syscall name, not \"" + std::string(line) + "\"");
      out.entries.push_back({std::string(line), {"arm", "arm64", "riscv64", "x86", "x86_64"}, number});
      continue;
    }
    out.entries.push_back(parse_line(line, origin, number));
  }
  return out;
}

RuleSet bionic_policy(const BionicList& base, const std::vector<const BionicList*>& allowed,
                      const std::vector<const BionicList*>& blocked, const std::vector<std::string>& arches) {
  RuleSet rs;
  rs.origin = base.origin;
  rs.default_action = SECCOMP_RET_TRAP;
  rs.bad_arch_action = SECCOMP_RET_TRAP;
  rs.arches = x86_arches(arches);
  // Per arch: (base - blocked) | allowed; names in order of first appearance.
  std::vector<std::string> order;
  std::map<std::string, int> line_of;
  std::map<std::string, std::set<std::string>> allowed_on;  // name -> arches
  auto note_order = [&](const std::string& n, int line) {
    if (line_of.emplace(n, line).second) order.push_back(n);
  };
  for (const auto& arch : rs.arches) {
    const std::string_view bionic_arch = arch;  // x86 and x86_64 are spelled alike
    std::set<std::string> names;
    for (const auto& e : base.entries)
      if (on(e, bionic_arch)) names.insert(e.name);
    for (const BionicList* b : blocked)
      for (const auto& e : b->entries) {
        if (!on(e, bionic_arch)) continue;
        if (!names.contains(e.name))
          throw ProfileError(b->origin, e.line, "blocklist item " + e.name + " is not in " + base.origin + " for " +
                                                     std::string(bionic_arch) + " (genseccomp aborts)");
      }
    std::set<std::string> blocked_here;
    for (const BionicList* b : blocked)
      for (const auto& e : b->entries)
        if (on(e, bionic_arch)) blocked_here.insert(e.name);
    for (const auto& e : base.entries)
      if (on(e, bionic_arch) && !blocked_here.contains(e.name)) {
        allowed_on[e.name].insert(arch);
        note_order(e.name, e.line);
      }
    for (const BionicList* a : allowed)
      for (const auto& e : a->entries)
        if (on(e, bionic_arch)) {
          allowed_on[e.name].insert(arch);
          note_order(e.name, 0);
        }
  }
  for (const auto& n : order) {
    Rule r;
    r.syscall = n;
    r.action = SECCOMP_RET_ALLOW;
    r.source_line = line_of[n];
    const auto& on_arches = allowed_on[n];
    if (on_arches.size() != rs.arches.size()) r.only_arches.assign(on_arches.begin(), on_arches.end());
    rs.rules.push_back(std::move(r));
  }
  return rs;
}

std::vector<BionicFilter> import_bionic(std::string_view text, const std::string& path,
                                        const BionicImportOptions& opts) {
  const BionicListKind kind = bionic_list_kind(path);
  const BionicList list = parse_bionic_list(text, path, kind == BionicListKind::Priority);
  std::vector<BionicFilter> out;
  if (kind != BionicListKind::Syscalls) {
    if (kind == BionicListKind::Blocklist) {
      // The names trap, the rest is allowed.
      RuleSet rs = bionic_policy(list, {}, {}, opts.arches);
      rs.default_action = SECCOMP_RET_ALLOW;
      for (auto& r : rs.rules) r.action = SECCOMP_RET_TRAP;
      rs.notes.push_back(path + ": a blocklist alone: its names trap, everything else is allowed");
      out.push_back({"blocklist", std::move(rs)});
    } else {
      RuleSet rs = bionic_policy(list, {}, {}, opts.arches);
      rs.notes.push_back(path + ": imported alone: an allow-list of its names");
      out.push_back({kind == BionicListKind::Priority ? "priority" : "allowlist", std::move(rs)});
    }
    return out;
  }
  // SYSCALLS.TXT with its SECCOMP_*.TXT companions.
  const fs::path dir = fs::path(path).parent_path();
  std::vector<std::string> missing;
  auto companion = [&](const char* name) -> std::optional<BionicList> {
    const fs::path p = dir / name;
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) {
      missing.push_back(name);
      return std::nullopt;
    }
    return parse_bionic_list(read_text(p.string()), p.string());
  };
  const auto allow_common = companion("SECCOMP_ALLOWLIST_COMMON.TXT");
  const auto allow_app = companion("SECCOMP_ALLOWLIST_APP.TXT");
  const auto block_common = companion("SECCOMP_BLOCKLIST_COMMON.TXT");
  const auto block_app = companion("SECCOMP_BLOCKLIST_APP.TXT");
  std::vector<std::string> missing_app = missing;
  missing.clear();
  const auto allow_system = companion("SECCOMP_ALLOWLIST_SYSTEM.TXT");
  auto present = [](std::initializer_list<const std::optional<BionicList>*> ls) {
    std::vector<const BionicList*> v;
    for (const auto* l : ls)
      if (*l) v.push_back(&**l);
    return v;
  };
  RuleSet app = bionic_policy(list, present({&allow_common, &allow_app}), present({&block_common, &block_app}),
                              opts.arches);
  for (const auto& m : missing_app) app.notes.push_back(path + ": no " + m + " next to it; read as empty");
  out.push_back({"app", std::move(app)});
  if (allow_system) {
    RuleSet sys = bionic_policy(list, present({&allow_common, &allow_system}), present({&block_common}), opts.arches);
    out.push_back({"system", std::move(sys)});
  }
  return out;
}

}  // namespace secdiff::corpus
