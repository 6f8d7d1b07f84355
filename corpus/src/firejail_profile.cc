#include "corpus/src/firejail_profile.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "oracle/kernel_profile.h"
#include "oracle/seccomp_abi.h"

namespace secdiff::corpus {

namespace {

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

// strtok(list, ","): the non-empty entries.
std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string_view::npos) comma = s.size();
    if (comma > pos) out.emplace_back(s.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return out;
}

void expand_into(const FirejailGroups& g, std::string_view group, std::vector<std::string>& stack,
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

constexpr uint32_t kEperm = SECCOMP_RET_ERRNO | 1;

// SystemV SHM_EXEC, PROT_WRITE | PROT_EXEC, PROT_EXEC.
constexpr uint64_t kShmExec = 0x8000, kProtWX = 0x6, kProtX = 0x4;

// firejail's hard-coded i386 list (fseccomp/seccomp_secondary.c,
// seccomp_secondary_32), by name.
constexpr std::string_view kSecondary32[] = {
    "mount",         "umount2",         "ptrace",         "kexec_load",
    "name_to_handle_at", "open_by_handle_at", "create_module", "init_module",
    "finit_module",  "delete_module",   "iopl",           "ioperm",
    "ioprio_set",    "swapon",          "swapoff",        "syslog",
    "process_vm_readv", "process_vm_writev", "sysfs",      "_sysctl",
    "adjtimex",      "clock_adjtime",   "lookup_dcookie", "perf_event_open",
    "fanotify_init", "kcmp",            "add_key",        "request_key",
    "keyctl",        "uselib",          "acct",           "modify_ldt",
    "pivot_root",    "io_setup",        "io_destroy",     "io_getevents",
    "io_submit",     "io_cancel",       "remap_file_pages", "mbind",
    "set_mempolicy", "migrate_pages",   "move_pages",     "vmsplice",
    "chroot",        "reboot",          "nfsservctl",     "get_kernel_syms"};

std::string describe_action(uint32_t a) {
  switch (a & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_KILL_THREAD: return "KILL";
    case SECCOMP_RET_LOG: return "LOG";
    case SECCOMP_RET_ERRNO: return "ERRNO(" + std::to_string(a & SECCOMP_RET_DATA) + ")";
  }
  return "?";
}

class ProfileBuilder {
 public:
  ProfileBuilder(std::string origin, std::string name, const FirejailGroups& groups, bool tsv)
      : origin_(std::move(origin)), groups_(groups), tsv_(tsv) {
    profile_.name = std::move(name);
  }

  void line(std::string_view text, int number) {
    std::string_view l = trim(text);
    if (l.empty() || l[0] == '#') return;
    if (l[0] == '?') {  // ?CONDITION: command
      size_t colon = l.find(':');
      if (colon == std::string_view::npos) fail(number, "bad conditional line");
      note(number, "conditional line read as if " + std::string(l.substr(0, colon)) + " holds");
      l = trim(l.substr(colon + 1));
    }
    auto word_is = [&](std::string_view w) {
      return l.starts_with(w) && (l.size() == w.size() || is_space(l[w.size()]));
    };
    auto arg_of = [&](std::string_view w) { return trim(l.substr(w.size())); };
    if (l == "seccomp") {
      seccomp_ = true;
      seccomp_line_ = number;
    } else if (word_is("seccomp")) {
      seccomp_ = true;
      seccomp_line_ = number;
      set_list(list_, arg_of("seccomp"), number, "seccomp");
    } else if (word_is("seccomp.drop")) {
      seccomp_ = true;
      seccomp_line_ = number;
      set_list(drop_, arg_of("seccomp.drop"), number, "seccomp.drop");
    } else if (word_is("seccomp.keep")) {
      seccomp_ = true;
      seccomp_line_ = number;
      set_list(keep_, arg_of("seccomp.keep"), number, "seccomp.keep");
    } else if (word_is("seccomp.32")) {
      seccomp32_ = true;
      seccomp32_line_ = number;
      set_list(list32_, arg_of("seccomp.32"), number, "seccomp.32");
    } else if (word_is("seccomp.32.drop")) {
      seccomp32_ = true;
      seccomp32_line_ = number;
      set_list(drop32_, arg_of("seccomp.32.drop"), number, "seccomp.32.drop");
    } else if (word_is("seccomp.32.keep")) {
      seccomp32_ = true;
      seccomp32_line_ = number;
      set_list(keep32_, arg_of("seccomp.32.keep"), number, "seccomp.32.keep");
    } else if (l == "seccomp.block-secondary") {
      block_secondary_ = true;
      block_secondary_line_ = number;
    } else if (word_is("seccomp-error-action")) {
      error_action(arg_of("seccomp-error-action"), number);
    } else if (l == "allow-debuggers") {
      allow_debuggers_ = true;
    } else if (l == "memory-deny-write-execute") {
      mdwx_ = true;
      mdwx_line_ = number;
    } else if (word_is("protocol") || word_is("restrict-namespaces")) {
      note(number, "\"" + std::string(l) + "\": a separate firejail filter; not modelled");
    } else if (l.starts_with("seccomp")) {
      fail(number, "unknown seccomp directive \"" + std::string(l) + "\"");
    } else if (tsv_) {
      fail(number, "unexpected directive \"" + std::string(l) + "\"");
    }
  }

  FirejailProfile build() {
    const std::string def_group = allow_debuggers_ ? "@default" : "@default-nodebuggers";
    bool secondary_added = false;
    auto add_secondary = [&]() {
      if (secondary_added) return;
      secondary_added = true;
      if (block_secondary_) add("seccomp.block_secondary", block_secondary());
      else add("seccomp.32", secondary_32());
    };
    if (block_secondary_ && !seccomp_ && !seccomp32_)
      note(block_secondary_line_, "seccomp.block-secondary without seccomp: no filter is installed");
    if (seccomp_) {
      if (keep_.set) {
        if (block_secondary_) add("seccomp.block_secondary", block_secondary());
        secondary_added = true;
        add("seccomp", keep(keep_, true));
      } else if (drop_.set) {
        if (block_secondary_) add("seccomp.block_secondary", block_secondary());
        secondary_added = true;
        add("seccomp", drop(drop_, nullptr, true));
      } else {
        add_secondary();
        ListDir group{def_group, seccomp_line_, true};
        add("seccomp", drop(list_, &group, true));
      }
    }
    if (seccomp32_) {
      if (keep32_.set) {
        add("seccomp.32.list", keep(keep32_, false));
      } else if (drop32_.set) {
        add("seccomp.32.list", drop(drop32_, nullptr, false));
      } else {
        ListDir group{def_group, seccomp32_line_, true};
        add("seccomp.32.list", drop(list32_, &group, false));
        note(seccomp32_line_, "firejail 0.9.72 also loads its hard-coded i386 filter when a "
                              "`seccomp list` is set (seccomp_filter_drop), so exemptions in the "
                              "seccomp.32 list may not take effect there");
      }
    }
    if (mdwx_) {
      add("seccomp.mdwx", mdwx_native());
      add("seccomp.mdwx.32", mdwx_32());
    }
    for (auto& f : profile_.filters) {
      f.rules.notes.insert(f.rules.notes.begin(), origin_ + ": profile " + profile_.name +
                                                      ", filter " + f.kind);
    }
    return std::move(profile_);
  }

  void note(int line, const std::string& msg) {
    profile_.notes.push_back(origin_ + (line > 0 ? ":" + std::to_string(line) : std::string()) +
                             ": " + msg);
  }

 private:
  struct ListDir {
    std::string list;
    int line = 0;
    bool set = false;
  };
  struct Item {
    std::string name;
    std::optional<uint32_t> action;  // name:ERRNO
    int line = 0;
  };

  [[noreturn]] void fail(int line, const std::string& msg) const {
    throw ProfileError(origin_, line, msg);
  }

  void add(std::string kind, RuleSet rs) { profile_.filters.push_back({std::move(kind), std::move(rs)}); }

  // seccomp_check_list(): non-empty, only [A-Za-z0-9_,:@$!-].
  void set_list(ListDir& d, std::string_view list, int line, std::string_view what) {
    if (list.empty()) fail(line, "empty syscall lists are not allowed (" + std::string(what) + ")");
    for (char c : list)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ',' || c == ':' ||
            c == '@' || c == '-' || c == '$' || c == '!'))
        fail(line, "invalid syscall list entry \"" + std::string(list) + "\" (character '" +
                       std::string(1, c) + "')");
    if (d.set)
      note(line, std::string(what) + " given again; this list replaces the one on line " +
                     std::to_string(d.line));
    d = ListDir{std::string(list), line, true};
  }

  void error_action(std::string_view v, int line) {
    if (v == "kill") error_action_ = SECCOMP_RET_KILL_THREAD;
    else if (v == "log") error_action_ = SECCOMP_RET_LOG;
    else if (auto e = errno_from_name(v)) error_action_ = SECCOMP_RET_ERRNO | static_cast<uint32_t>(*e);
    else fail(line, "invalid seccomp-error-action \"" + std::string(v) + "\"");
    note(line, "deny action " + describe_action(error_action_) + " instead of ERRNO(EPERM)");
  }

  // `$N` -> the arch's libseccomp name ("nr:N" when it has none).
  std::string by_number(std::string_view digits, bool native, int line) {
    std::string s(digits);
    char* end = nullptr;
    long nr = std::strtol(s.c_str(), &end, 0);
    if (s.empty() || *end != '\0' || nr < 0) fail(line, "bad syscall number $" + s);
    if (auto n = syscall_name(native ? Arch::X86_64 : Arch::I386, nr)) return std::string(*n);
    return "nr:" + std::to_string(nr);
  }

  // syscall_check_list() over a list: the items to deny/allow and the `!` exemptions.
  void expand(const ListDir& d, bool native, std::vector<Item>& items, std::set<std::string>& exempt) {
    for (const std::string& tok : split_list(d.list)) {
      if (tok[0] == '@') {
        std::vector<std::string> stack, names;
        std::set<std::string, std::less<>> seen;
        expand_into(groups_, tok, stack, names, seen, [&](const std::string& g) {
          fail(d.line, "unknown syscall group " + g + " (not in " + groups_.origin + ")");
        });
        for (auto& n : names) items.push_back(Item{n, std::nullopt, d.line});
        continue;
      }
      if (tok[0] == '!') {
        std::string_view name = std::string_view(tok).substr(1);
        name = name.substr(0, name.find(':'));
        if (name.empty()) fail(d.line, "empty exemption \"" + tok + "\"");
        if (name[0] == '@') {
          note(d.line, "\"" + tok + "\": firejail does not exempt groups; no effect");
          continue;
        }
        exempt.insert(name[0] == '$' ? by_number(name.substr(1), native, d.line) : std::string(name));
        continue;
      }
      std::string_view name = tok;
      std::optional<uint32_t> action;
      if (size_t colon = name.find(':'); colon != std::string_view::npos) {
        std::string_view e = name.substr(colon + 1);
        name = name.substr(0, colon);
        std::optional<int> n = errno_from_name(e);
        if (!n) {
          note(d.line, "\"" + tok + "\": unknown errno; firejail skips the entry");
          continue;
        }
        action = SECCOMP_RET_ERRNO | static_cast<uint32_t>(*n);
      }
      if (name.empty()) fail(d.line, "invalid syscall list entry \"" + tok + "\"");
      std::string n = name[0] == '$' ? by_number(name.substr(1), native, d.line) : std::string(name);
      items.push_back(Item{n, action, d.line});
    }
  }

  RuleSet base(bool native) const {
    RuleSet rs;
    rs.origin = origin_;
    if (native) {
      rs.arches = {std::string(kArchX86_64), std::string(kArchX86)};
      rs.bad_arch_action = error_action_;  // x32 calls; other arches never reach an x86_64 kernel
    } else {
      rs.arches = {std::string(kArchX86)};
      rs.bad_arch_action = SECCOMP_RET_ALLOW;
    }
    return rs;
  }
  Rule rule(const std::string& name, uint32_t action, int line, bool native,
            std::vector<ArgCmp> args = {}) const {
    Rule r{name, action, std::move(args), line, {}, true};
    if (native) r.only_arches = {std::string(kArchX86_64)};
    return r;
  }

  // seccomp_default_drop / seccomp_drop: exemptions first (allowed), then the
  // default group (if any), then the list; the first rule for a name wins.
  RuleSet drop(const ListDir& list, const ListDir* group, bool native) {
    std::vector<Item> items;
    std::set<std::string> exempt;
    if (list.set) expand(list, native, items, exempt);
    std::vector<Item> all;
    if (group) expand(*group, native, all, exempt);
    all.insert(all.end(), items.begin(), items.end());
    RuleSet rs = base(native);
    rs.default_action = SECCOMP_RET_ALLOW;
    std::set<std::string> done;
    std::vector<std::string> postexec;
    for (const Item& it : all) {
      if (exempt.count(it.name) || !done.insert(it.name).second) continue;
      rs.rules.push_back(rule(it.name, it.action.value_or(error_action_), it.line, native));
      if (it.name == "execve" || it.name == "execveat" || it.name == "prctl") postexec.push_back(it.name);
    }
    for (const auto& e : exempt)
      if (std::none_of(all.begin(), all.end(), [&](const Item& i) { return i.name == e; }))
        rs.notes.push_back(origin_ + ":" + std::to_string(list.line) + ": exemption !" + e +
                           " matches no denied syscall");
    if (!postexec.empty())
      rs.notes.push_back(origin_ + ": " + std::to_string(postexec.size()) +
                         " syscalls of @default-keep are denied by firejail's post-exec filter "
                         "(libpostexecseccomp); this RuleSet holds both filters");
    return rs;
  }

  // seccomp_keep: exemptions are denied first; @default-keep and the list allowed.
  RuleSet keep(const ListDir& list, bool native) {
    std::vector<Item> items;
    std::set<std::string> exempt;
    ListDir keep_group{"@default-keep", list.line, true};
    expand(keep_group, native, items, exempt);
    expand(list, native, items, exempt);
    RuleSet rs = base(native);
    rs.default_action = error_action_;
    if (native) {
      rs.arches = {std::string(kArchX86_64)};
      rs.bad_arch_action = SECCOMP_RET_ALLOW;
      rs.notes.push_back(origin_ + ":" + std::to_string(list.line) +
                         ": seccomp.keep: firejail denies x32 syscalls with the error action; "
                         "this RuleSet (bad arch ALLOW, to keep i386 unfiltered) allows them");
    }
    std::set<std::string> done;
    for (const Item& it : items) {
      if (exempt.count(it.name) || !done.insert(it.name).second) continue;
      Rule r = rule(it.name, SECCOMP_RET_ALLOW, it.line, false);
      rs.rules.push_back(std::move(r));
    }
    return rs;
  }

  RuleSet secondary_32() const {
    RuleSet rs = base(false);
    rs.default_action = SECCOMP_RET_ALLOW;
    for (std::string_view n : kSecondary32)
      rs.rules.push_back(rule(std::string(n), error_action_, seccomp_line_, false));
    rs.notes.push_back(origin_ + ": firejail's hard-coded i386 deny-list (seccomp_secondary_32)");
    return rs;
  }

  RuleSet block_secondary() const {
    RuleSet rs;
    rs.origin = origin_;
    rs.arches = {std::string(kArchX86_64)};
    rs.bad_arch_action = error_action_;  // every other arch and x32
    rs.default_action = SECCOMP_RET_ALLOW;
    // personality(arg0) is allowed only for arg0 == 0 (PER_LINUX) or
    // 0xffffffff (query). Deny arg0 > 0xffffffff, and low words that are
    // neither all zeros nor all ones: such a word has a bit i set and bit
    // (i+1) % 32 clear, one MASKED_EQ rule per i (libseccomp allows one
    // comparison per argument and rule).
    int l = block_secondary_line_;
    rs.rules.push_back(rule("personality", error_action_, l, false, {{0, ArgCmp::GT, 0xffffffffu, 0}}));
    for (unsigned i = 0; i < 32; ++i) {
      uint64_t set = uint64_t{1} << i, clear = uint64_t{1} << ((i + 1) % 32);
      rs.rules.push_back(rule("personality", error_action_, l, false,
                              {{0, ArgCmp::MASKED_EQ, 0xffffffff00000000u | set | clear, set}}));
    }
    rs.notes.push_back(origin_ + ": seccomp.block-secondary: personality(2) test written as 33 "
                       "rules (firejail: two 32-bit compares)");
    return rs;
  }

  RuleSet mdwx_native() const {
    RuleSet rs = base(true);
    rs.default_action = SECCOMP_RET_ALLOW;
    int l = mdwx_line_;
    uint32_t a = error_action_;
    rs.rules.push_back(rule("mmap", a, l, true, {{2, ArgCmp::MASKED_EQ, kProtWX, kProtWX}}));
    rs.rules.push_back(rule("mprotect", a, l, true, {{2, ArgCmp::MASKED_EQ, kProtX, kProtX}}));
    rs.rules.push_back(rule("pkey_mprotect", a, l, true, {{2, ArgCmp::MASKED_EQ, kProtX, kProtX}}));
    rs.rules.push_back(rule("shmat", a, l, true, {{2, ArgCmp::MASKED_EQ, kShmExec, kShmExec}}));
    rs.rules.push_back(rule("memfd_create", a, l, true));
    return rs;
  }

  RuleSet mdwx_32() const {
    RuleSet rs = base(false);
    rs.default_action = SECCOMP_RET_ALLOW;
    int l = mdwx_line_;
    uint32_t a = error_action_;
    rs.rules.push_back(rule("mmap", a, l, false));  // i386 old_mmap (90): blocked outright
    rs.rules.push_back(rule("mmap2", a, l, false, {{2, ArgCmp::MASKED_EQ, kProtWX, kProtWX}}));
    rs.rules.push_back(rule("mprotect", a, l, false, {{2, ArgCmp::MASKED_EQ, kProtX, kProtX}}));
    rs.rules.push_back(rule("pkey_mprotect", a, l, false, {{2, ArgCmp::MASKED_EQ, kProtX, kProtX}}));
    rs.rules.push_back(rule("shmat", a, l, false, {{2, ArgCmp::MASKED_EQ, kShmExec, kShmExec}}));
    rs.rules.push_back(rule("memfd_create", a, l, false));
    return rs;
  }

  std::string origin_;
  const FirejailGroups& groups_;
  bool tsv_;
  FirejailProfile profile_;
  bool seccomp_ = false, seccomp32_ = false, block_secondary_ = false;
  bool allow_debuggers_ = false, mdwx_ = false;
  int seccomp_line_ = 0, seccomp32_line_ = 0, block_secondary_line_ = 0, mdwx_line_ = 0;
  ListDir list_, drop_, keep_, list32_, drop32_, keep32_;
  uint32_t error_action_ = kEperm;
};

}  // namespace

FirejailGroups parse_firejail_groups(std::string_view text, const std::string& origin) {
  FirejailGroups g;
  g.origin = origin;
  int number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = trim(text.substr(pos, eol - pos));
    pos = eol + 1;
    ++number;
    if (line.empty() || line[0] != '@') continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;  // prose mentioning a group
    std::string name(trim(line.substr(0, eq)));
    if (name.size() < 2 || !std::all_of(name.begin() + 1, name.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
        }))
      throw ProfileError(origin, number, "bad group name \"" + name + "\"");
    if (g.members.count(name))
      throw ProfileError(origin, number, "group " + name + " defined again (first on line " +
                                             std::to_string(g.lines[name]) + ")");
    std::vector<std::string> list = split_list(trim(line.substr(eq + 1)));
    if (list.empty()) throw ProfileError(origin, number, "group " + name + " is empty");
    g.members[name] = std::move(list);
    g.lines[name] = number;
  }
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

FirejailGroups parse_firejail_groups_file(const std::string& path, std::string origin) {
  if (origin.empty()) origin = path;
  return parse_firejail_groups(read_file_or_throw(path, origin), origin);
}

std::vector<std::string> expand_firejail_group(const FirejailGroups& groups, std::string_view group) {
  std::vector<std::string> stack, out;
  std::set<std::string, std::less<>> seen;
  expand_into(groups, group, stack, out, seen, [&](const std::string& g) {
    throw ProfileError(groups.origin, 0, "unknown group " + g);
  });
  return out;
}

std::vector<FirejailProfile> parse_firejail_profile_lines_tsv(std::string_view text,
                                                              const std::string& origin,
                                                              const FirejailGroups& groups) {
  std::vector<std::unique_ptr<ProfileBuilder>> builders;
  std::map<std::string, size_t, std::less<>> index;
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
    size_t tab = line.find('\t');
    if (tab == std::string_view::npos || line.find('\t', tab + 1) != std::string_view::npos)
      throw ProfileError(origin, number, "expected 2 tab-separated columns (profile, line)");
    std::string profile(trim(line.substr(0, tab)));
    if (profile.empty()) throw ProfileError(origin, number, "empty profile column");
    auto it = index.find(profile);
    if (it == index.end()) {
      builders.push_back(std::make_unique<ProfileBuilder>(origin, profile, groups, true));
      it = index.emplace(profile, builders.size() - 1).first;
    }
    builders[it->second]->line(line.substr(tab + 1), number);
  }
  std::vector<FirejailProfile> out;
  for (auto& b : builders) out.push_back(b->build());
  return out;
}

std::vector<FirejailProfile> parse_firejail_profile_lines_tsv_file(const std::string& path,
                                                                   const FirejailGroups& groups,
                                                                   std::string origin) {
  if (origin.empty()) origin = path;
  return parse_firejail_profile_lines_tsv(read_file_or_throw(path, origin), origin, groups);
}

FirejailProfile parse_firejail_profile(std::string_view text, const std::string& origin,
                                       const FirejailGroups& groups) {
  ProfileBuilder b(origin, origin, groups, false);
  int number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++number;
    if (trim(line).starts_with("include ")) {
      b.note(number, "\"" + std::string(trim(line)) + "\": includes are not followed");
      continue;
    }
    b.line(line, number);
  }
  return b.build();
}

}  // namespace secdiff::corpus
