#include "corpus/src/minijail_policy.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "corpus/src/located_json.h"
#include "oracle/seccomp_abi.h"

namespace secdiff::corpus {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string read_text(const std::string& path, const std::string& who, int line) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ProfileError(who, line, "cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string dir_of(const std::string& path) {
  const std::string d = fs::path(path).parent_path().string();
  return d.empty() ? "." : d;
}

// ---------------------------------------------------------------------------
// Tokens, as tools/parser.py's _TOKEN_SPECIFICATION matches them.

enum class Tok {
  Default, Include, Frequency, Denylist, Path, Number, Colon, Semicolon, Comma, Complement,
  LParen, RParen, LBrace, RBrace, LBracket, RBracket, Or, And, BitOr, Op, Equal, Argument,
  Return, Action, Identifier
};

struct Token {
  Tok type;
  std::string value;
  int line;
};

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// The statements of a file: the tokens of each logical line (joined at a
// trailing backslash), comments and blanks dropped.
std::vector<std::vector<Token>> tokenize(std::string_view text, const std::string& file) {
  std::vector<std::vector<Token>> out;
  std::vector<Token> cur;
  int number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t eol = text.find('\n', start);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(start, eol - start);
    start = eol + 1;
    ++number;
    while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto bad = [&](size_t at) {
      size_t end = at;
      while (end < line.size() && !std::isspace(static_cast<unsigned char>(line[end]))) ++end;
      throw ProfileError(file, number, "invalid token '" + std::string(line.substr(at, std::max<size_t>(end - at, 1))) +
                                           "' in \"" + std::string(line) + "\"");
    };
    auto push = [&](Tok t, size_t at, size_t len) { cur.push_back({t, std::string(line.substr(at, len)), number}); };
    size_t i = 0;
    while (i < line.size()) {
      const char c = line[i];
      const std::string_view rest = line.substr(i);
      auto bounded = [&](std::string_view kw) {
        return rest.starts_with(kw) && (kw.size() == rest.size() || !word_char(rest[kw.size()]));
      };
      if (c == '#') break;
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++i;
        continue;
      }
      if (c == '\\') {
        if (i + 1 != line.size()) bad(i);
        ++i;
        continue;
      }
      if (c == '@') {
        if (bounded("@default")) push(Tok::Default, i, 8);
        else if (bounded("@include")) push(Tok::Include, i, 8);
        else if (bounded("@frequency")) push(Tok::Frequency, i, 10);
        else if (rest == "@denylist") push(Tok::Denylist, i, 9);
        else bad(i);
        i += cur.back().value.size();
        continue;
      }
      if (c == '/' || (c == '.' && rest.size() > 1 && rest[1] == '/')) {
        size_t n = c == '.' ? 2 : 1;
        const size_t body = n;
        while (n < rest.size() && !std::isspace(static_cast<unsigned char>(rest[n]))) ++n;
        if (n == body) bad(i);
        push(Tok::Path, i, n);
        i += n;
        continue;
      }
      if (std::isdigit(static_cast<unsigned char>(c)) ||
          (c == '-' && rest.size() > 1 && std::isdigit(static_cast<unsigned char>(rest[1])))) {
        size_t n = c == '-' ? 1 : 0;
        auto run = [&](size_t from, auto ok) {
          size_t k = from;
          while (k < rest.size() && ok(rest[k])) ++k;
          return k;
        };
        auto hexd = [](char x) { return std::isxdigit(static_cast<unsigned char>(x)) != 0; };
        auto octd = [](char x) { return x >= '0' && x <= '7'; };
        auto decd = [](char x) { return std::isdigit(static_cast<unsigned char>(x)) != 0; };
        size_t end;
        const std::string_view digits = rest.substr(n);
        if ((digits.starts_with("0x") || digits.starts_with("0X")) && run(n + 2, hexd) > n + 2)
          end = run(n + 2, hexd);
        else if (digits[0] == '0' && run(n + 1, octd) > n + 1)
          end = run(n + 1, octd);
        else
          end = run(n, decd);
        push(Tok::Number, i, end);
        i += end;
        continue;
      }
      const char next = rest.size() > 1 ? rest[1] : '\0';
      Tok single;
      size_t len = 1;
      switch (c) {
        case ':': single = Tok::Colon; break;
        case ';': single = Tok::Semicolon; break;
        case ',': single = Tok::Comma; break;
        case '~': single = Tok::Complement; break;
        case '(': single = Tok::LParen; break;
        case ')': single = Tok::RParen; break;
        case '{': single = Tok::LBrace; break;
        case '}': single = Tok::RBrace; break;
        case '[': single = Tok::LBracket; break;
        case ']': single = Tok::RBracket; break;
        case '|':
          single = next == '|' ? Tok::Or : Tok::BitOr;
          len = next == '|' ? 2 : 1;
          break;
        case '&':
          single = next == '&' ? Tok::And : Tok::Op;
          len = next == '&' ? 2 : 1;
          break;
        case '=':
          single = next == '=' ? Tok::Op : Tok::Equal;
          len = next == '=' ? 2 : 1;
          break;
        case '!':
          if (next != '=') bad(i);
          single = Tok::Op;
          len = 2;
          break;
        case '<':
        case '>':
          single = Tok::Op;
          len = next == '=' ? 2 : 1;
          break;
        default: single = Tok::Identifier; len = 0;
      }
      if (len > 0) {
        push(single, i, len);
        i += len;
        continue;
      }
      if (!(std::isalpha(static_cast<unsigned char>(c)) || c == '_')) bad(i);
      // Keywords need a word boundary before them (regex \b).
      const bool boundary = i == 0 || !word_char(line[i - 1]);
      size_t w = 0;
      while (w < rest.size() && word_char(rest[w])) ++w;
      const std::string_view word = rest.substr(0, w);
      if (boundary) {
        if (word == "in") {
          push(Tok::Op, i, 2);
          i += 2;
          continue;
        }
        if (word.size() > 3 && word.starts_with("arg") &&
            std::all_of(word.begin() + 3, word.end(), [](char x) { return x >= '0' && x <= '9'; })) {
          push(Tok::Argument, i, w);
          i += w;
          continue;
        }
        if (word == "return") {
          push(Tok::Return, i, w);
          i += w;
          continue;
        }
        size_t action = 0;
        for (std::string_view kw : {"allow", "kill-process", "kill-thread", "kill", "trap", "trace", "log", "user-notify"})
          if (bounded(kw)) {
            action = kw.size();
            break;
          }
        if (action > 0) {
          push(Tok::Action, i, action);
          i += action;
          continue;
        }
      }
      size_t n = 1;
      while (n < rest.size() && (word_char(rest[n]) || rest[n] == '-' || rest[n] == '@')) ++n;
      push(Tok::Identifier, i, n);
      i += n;
    }
    if (!line.empty() && line.back() == '\\') continue;  // the statement goes on
    if (!cur.empty()) out.push_back(std::move(cur));
    cur.clear();
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

// ---------------------------------------------------------------------------
// Statements.

struct Atom {
  unsigned index;
  std::string op;
  uint64_t value;
};
using Clause = std::vector<Atom>;

struct FilterDef {
  std::optional<std::vector<Clause>> expr;  // nullopt: unconditional
  uint32_t action = 0;
  bool zero = false;      // `0`: the default action
  std::string file;       // where it is written
  int line = 0;
  int top_line = 0;       // line in the policy itself (the @include line for included files)
};

class Parser {
 public:
  Parser(const MinijailConstants& k, const MinijailImportOptions& opts, bool have_constants)
      : k_(k), opts_(opts), have_constants_(have_constants) {
    word_mask_ = k_.bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << k_.bits) - 1;
    default_action_ = opts_.kill_action;
  }

  void parse_file(std::string_view text, const std::string& file, int depth, int top_line) {
    for (auto& st : tokenize(text, file)) {
      file_ = &file;
      toks_ = &st;
      pos_ = 0;
      line_ = st.front().line;
      const int top = depth == 0 ? line_ : top_line;
      switch (st.front().type) {
        case Tok::Include: include(file, depth, top); break;
        case Tok::Frequency:
          ++pos_;
          expect_path("frequency");
          break;  // ignored, as libminijail does
        case Tok::Default: {
          ++pos_;
          if (at_end()) fail("missing default action");
          const Token& t = take();
          if (t.type != Tok::Action) fail("invalid default action '" + t.value + "'");
          if (t.value == "kill-process") default_action_ = SECCOMP_RET_KILL_PROCESS;
          else if (t.value == "kill-thread") default_action_ = SECCOMP_RET_KILL_THREAD;
          else if (t.value == "kill") default_action_ = opts_.kill_action;
          else if (t.value == "trap") default_action_ = SECCOMP_RET_TRAP;
          else if (t.value == "user-notify") default_action_ = SECCOMP_RET_USER_NOTIF;
          else fail("invalid permissive default action '" + t.value + "'");
          break;
        }
        case Tok::Denylist:
          ++pos_;
          denylist_ = true;
          break;
        default: statement(file, top); break;
      }
      if (!at_end()) fail("extra tokens starting at '" + (*toks_)[pos_].value + "'");
    }
  }

  uint32_t default_action() const {
    if (opts_.default_action) return *opts_.default_action;
    return denylist_ ? SECCOMP_RET_ALLOW : default_action_;
  }
  bool denylist() const { return denylist_; }
  const std::vector<std::pair<std::string, std::vector<FilterDef>>>& syscalls() const { return syscalls_; }

 private:
  [[noreturn]] void fail(const std::string& msg) const { throw ProfileError(*file_, line_, msg); }
  bool at_end() const { return pos_ >= toks_->size(); }
  const Token& peek() const { return (*toks_)[pos_]; }
  const Token& take() {
    const Token& t = (*toks_)[pos_++];
    line_ = t.line;
    return t;
  }
  bool next_is(Tok t) const { return !at_end() && peek().type == t; }

  std::string expect_path(const char* what) {
    if (at_end()) fail(std::string("empty ") + what + " path");
    const Token& t = take();
    if (t.type != Tok::Path) fail(std::string("invalid ") + what + " path '" + t.value + "'");
    return t.value;
  }

  void include(const std::string& file, int depth, int top) {
    ++pos_;
    const std::string p = expect_path("include");
    if (depth + 1 >= 10) fail("@include statement nested too deep");
    const fs::path base = dir_of(file);
    const fs::path target = p[0] == '/' ? base / fs::path(p).filename() : (base / p).lexically_normal();
    std::error_code ec;
    if (!fs::is_regular_file(target, ec)) fail("could not @include " + p + " (looked for " + target.string() + ")");
    const std::string text = read_text(target.string(), file, line_);
    const std::string name = target.string();
    // The included file's statements; restore this statement's state after.
    const std::string* saved_file = file_;
    const std::vector<Token>* saved_toks = toks_;
    const size_t saved_pos = pos_;
    const int saved_line = line_;
    included_.push_back(name);
    parse_file(text, included_.back(), depth + 1, top);
    file_ = saved_file;
    toks_ = saved_toks;
    pos_ = saved_pos;
    line_ = saved_line;
  }

  // single-constant = identifier | numeric-constant
  uint64_t single_constant(const Token& t) {
    if (t.type == Tok::Identifier) {
      if (auto it = k_.constants.find(t.value); it != k_.constants.end()) return it->second & word_mask_;
      if (auto e = errno_from_name(t.value)) return static_cast<uint64_t>(*e);
      fail("invalid constant '" + t.value + "'" +
           (have_constants_ ? std::string() : std::string(" (no constants.json next to the policy)")));
    }
    if (t.type != Tok::Number) fail("invalid constant '" + t.value + "'");
    std::string_view s = t.value;
    const bool neg = s.starts_with('-');
    if (neg) s.remove_prefix(1);
    int base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
      base = 16;
      s.remove_prefix(2);
    } else if (s.size() > 1 && s[0] == '0') {
      base = 8;
    }
    uint64_t u = 0;
    bool over = false;
    for (char c : s) {
      const uint64_t d = std::isdigit(static_cast<unsigned char>(c))
                             ? uint64_t(c - '0')
                             : uint64_t(std::tolower(static_cast<unsigned char>(c)) - 'a' + 10);
      if (u > (UINT64_MAX - d) / static_cast<uint64_t>(base)) over = true;
      else u = u * static_cast<uint64_t>(base) + d;
    }
    if (!neg && (over || u > word_mask_)) fail("unsigned overflow in '" + t.value + "'");
    if (neg && (over || u > uint64_t{1} << (k_.bits - 1))) fail("signed underflow in '" + t.value + "'");
    return (neg ? uint64_t{0} - u : u) & word_mask_;
  }

  // constant = [ '~' ] , '(' , value , ')' | [ '~' ] , single-constant
  uint64_t constant() {
    bool negate = false;
    if (next_is(Tok::Complement)) {
      take();
      if (at_end()) fail("empty complement");
      if (next_is(Tok::Complement)) fail("invalid double complement");
      negate = true;
    }
    if (at_end()) fail("empty constant");
    uint64_t v;
    if (next_is(Tok::LParen)) {
      take();
      v = value();
      if (!next_is(Tok::RParen)) fail("unclosed parenthesis");
      take();
    } else {
      v = single_constant(take());
    }
    return negate ? ~v & word_mask_ : v;
  }

  // value = constant , [ { '|' , constant } ]
  uint64_t value() {
    if (at_end()) fail("empty constant");
    uint64_t v = constant();
    while (next_is(Tok::BitOr)) {
      take();
      v |= constant();
    }
    return v;
  }

  Atom atom() {
    if (at_end()) fail("missing argument");
    const Token& arg = take();
    if (arg.type != Tok::Argument) fail("invalid argument '" + arg.value + "'");
    if (at_end()) fail("missing operator");
    const Token& op = take();
    if (op.type != Tok::Op) fail("invalid operator '" + op.value + "'");
    const unsigned long index = std::stoul(arg.value.substr(3));
    if (index >= 6) fail("invalid argument '" + arg.value + "'");
    return Atom{static_cast<unsigned>(index), op.value, value()};
  }

  std::vector<Clause> expression() {
    std::vector<Clause> clauses;
    for (;;) {
      Clause c;
      for (;;) {
        c.push_back(atom());
        if (!next_is(Tok::And)) break;
        take();
      }
      clauses.push_back(std::move(c));
      if (!next_is(Tok::Or)) break;
      take();
    }
    return clauses;
  }

  // action = 'allow' | '1' | 'kill' | ... | 'return' , single-constant
  FilterDef action() {
    if (at_end()) fail("missing action");
    const Token& t = take();
    FilterDef f;
    if (t.type == Tok::Action) {
      if (t.value == "allow") f.action = SECCOMP_RET_ALLOW;
      else if (t.value == "kill") f.action = opts_.kill_action;
      else if (t.value == "kill-process") f.action = SECCOMP_RET_KILL_PROCESS;
      else if (t.value == "kill-thread") f.action = SECCOMP_RET_KILL_THREAD;
      else if (t.value == "trap") f.action = SECCOMP_RET_TRAP;
      else if (t.value == "trace") f.action = SECCOMP_RET_TRACE;
      else if (t.value == "user-notify") f.action = SECCOMP_RET_USER_NOTIF;
      else f.action = SECCOMP_RET_LOG;
      return f;
    }
    if (t.type == Tok::Number) {
      const uint64_t v = single_constant(t);
      if (v == 1) {
        f.action = SECCOMP_RET_ALLOW;
        return f;
      }
      if (v == 0) {
        f.zero = true;
        return f;
      }
    } else if (t.type == Tok::Return) {
      if (at_end()) fail("missing return value");
      f.action = SECCOMP_RET_ERRNO | static_cast<uint32_t>(single_constant(take()) & SECCOMP_RET_DATA);
      return f;
    }
    fail("invalid action '" + t.value + "'");
  }

  FilterDef single_filter() {
    if (at_end()) fail("missing filter");
    if (next_is(Tok::Argument)) {
      std::vector<Clause> e = expression();
      FilterDef f;
      f.action = SECCOMP_RET_ALLOW;
      if (next_is(Tok::Semicolon)) {
        take();
        f = action();
        if (f.zero) fail("invalid action '0' after an expression");
      }
      f.expr = std::move(e);
      return f;
    }
    return action();
  }

  std::vector<FilterDef> filters() {
    std::vector<FilterDef> out;
    if (!next_is(Tok::LBrace)) {
      out.push_back(single_filter());
      return out;
    }
    take();
    for (;;) {
      out.push_back(single_filter());
      if (!next_is(Tok::Comma)) break;
      take();
    }
    if (!next_is(Tok::RBrace)) fail("unclosed brace");
    take();
    return out;
  }

  // syscall-descriptor = name [ '[' key '=' value {',' value} {';' ...} ']' ];
  // returns nullopt when the metadata excludes this arch.
  std::optional<std::string> descriptor() {
    if (at_end()) fail("missing syscall descriptor");
    const Token& t = take();
    if (t.type != Tok::Identifier && !(t.type == Tok::Action && t.value == "kill"))
      fail("invalid syscall descriptor '" + t.value + "'");
    std::string name = t.value;
    bool excluded = false;
    if (next_is(Tok::LBracket)) {
      take();
      std::set<std::string> keys;
      for (;;) {
        if (at_end() || peek().type != Tok::Identifier) fail("invalid key in metadata");
        const std::string key = take().value;
        if (!keys.insert(key).second) fail("duplicate metadata key: \"" + key + "\"");
        if (!next_is(Tok::Equal)) fail("missing '=' in metadata");
        take();
        std::vector<std::string> values;
        for (;;) {
          if (at_end() || peek().type != Tok::Identifier) fail("invalid value in metadata");
          values.push_back(take().value);
          if (!next_is(Tok::Comma)) break;
          take();
        }
        if (key == "arch" && std::find(values.begin(), values.end(), k_.arch_name) == values.end()) excluded = true;
        if (!next_is(Tok::Semicolon)) break;
        take();
      }
      if (!next_is(Tok::RBracket)) fail("unclosed bracket");
      take();
    }
    if (excluded) return std::nullopt;
    if (name.find('@') != std::string::npos)
      fail("nonexistent syscall group namespace in '" + name + "' (constants.json has no syscall groups)");
    return name;
  }

  void statement(const std::string& file, int top) {
    std::vector<std::string> names;
    auto add = [&] {
      if (auto n = descriptor()) names.push_back(*n);
    };
    if (next_is(Tok::LBrace)) {
      take();
      for (;;) {
        add();
        if (!next_is(Tok::Comma)) break;
        take();
      }
      if (!next_is(Tok::RBrace)) fail("unclosed brace");
      take();
    } else {
      add();
    }
    if (at_end()) fail("missing colon");
    if (peek().type != Tok::Colon) fail("invalid colon: expected ':' before '" + peek().value + "'");
    const int line = take().line;
    std::vector<FilterDef> defs = filters();
    for (auto& f : defs) {
      f.file = file;
      f.line = line;
      f.top_line = top;
    }
    for (const auto& n : names) {
      auto it = std::find_if(syscalls_.begin(), syscalls_.end(), [&](auto& s) { return s.first == n; });
      if (it == syscalls_.end()) {
        syscalls_.push_back({n, {}});
        it = std::prev(syscalls_.end());
      }
      it->second.insert(it->second.end(), defs.begin(), defs.end());
    }
  }

  const MinijailConstants& k_;
  const MinijailImportOptions& opts_;
  bool have_constants_;
  uint64_t word_mask_;
  uint32_t default_action_;
  bool denylist_ = false;
  std::vector<std::pair<std::string, std::vector<FilterDef>>> syscalls_;
  std::deque<std::string> included_;  // stable names for FilterDef::file pointers
  const std::string* file_ = nullptr;
  const std::vector<Token>* toks_ = nullptr;
  size_t pos_ = 0;
  int line_ = 0;
};

// ---------------------------------------------------------------------------
// Filters -> rules.

std::string describe(uint32_t a) {
  switch (a & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_ALLOW: return "allow";
    case SECCOMP_RET_KILL_THREAD: return "kill-thread";
    case SECCOMP_RET_KILL_PROCESS: return "kill-process";
    case SECCOMP_RET_TRAP: return "trap";
    case SECCOMP_RET_ERRNO: return "return " + std::to_string(a & SECCOMP_RET_DATA);
    case SECCOMP_RET_TRACE: return "trace";
    case SECCOMP_RET_LOG: return "log";
    case SECCOMP_RET_USER_NOTIF: return "user-notify";
  }
  return fmt::format("{:#x}", a);
}

// The libseccomp comparisons one atom allows, as alternatives (OR). nullopt:
// the atom always holds; empty: it never does.
std::optional<std::vector<ArgCmp>> alternatives(const Atom& a, uint64_t word_mask) {
  std::vector<ArgCmp> out;
  if (a.op == "&") {
    for (unsigned b = 0; b < 64; ++b)
      if (a.value >> b & 1) out.push_back(ArgCmp{a.index, ArgCmp::MASKED_EQ, uint64_t{1} << b, uint64_t{1} << b});
    return out;
  }
  if (a.op == "in") {
    const uint64_t outside = ~a.value & word_mask;
    if (outside == 0) return std::nullopt;
    out.push_back(ArgCmp{a.index, ArgCmp::MASKED_EQ, outside, 0});
    return out;
  }
  ArgCmp::Op op = ArgCmp::EQ;
  if (a.op == "!=") op = ArgCmp::NE;
  else if (a.op == "<") op = ArgCmp::LT;
  else if (a.op == "<=") op = ArgCmp::LE;
  else if (a.op == ">") op = ArgCmp::GT;
  else if (a.op == ">=") op = ArgCmp::GE;
  out.push_back(ArgCmp{a.index, op, a.value, 0});
  return out;
}

constexpr size_t kMaxExpansion = 4096;

class Emitter {
 public:
  Emitter(RuleSet& rs, uint64_t word_mask) : rs_(rs), word_mask_(word_mask) {}

  void syscall(const std::string& name, const std::vector<FilterDef>& defs) {
    // tools/parser.py: at most one unconditional filter, and it comes last.
    const auto first_uncond = std::find_if(defs.begin(), defs.end(), [](auto& f) { return !f.expr; });
    if (first_uncond != defs.end() && first_uncond + 1 != defs.end()) {
      const FilterDef& again = *(first_uncond + 1);
      throw ProfileError(again.file, again.line,
                         "syscall " + name + " already had an unconditional action applied (" + first_uncond->file +
                             ":" + std::to_string(first_uncond->line) + ")");
    }
    const bool has_uncond = first_uncond != defs.end();
    const uint32_t def = rs_.default_action;
    const uint32_t uncond = has_uncond && !first_uncond->zero ? first_uncond->action : def;
    const int uncond_line = has_uncond ? first_uncond->top_line : defs.front().top_line;
    std::vector<const FilterDef*> conds;
    for (const auto& f : defs)
      if (f.expr) conds.push_back(&f);
    if (has_uncond && first_uncond->zero)
      note(*first_uncond, name + ": `0` (which minijail rejects) is read as no rule: the default action");
    if (conds.empty() || uncond != def) {
      const bool lost = std::any_of(conds.begin(), conds.end(), [&](auto* f) { return f->action != uncond; });
      if (lost)
        note(*conds.front(), name + ": conditional filters before the unconditional `" + describe(uncond) +
                                 "` cannot be expressed with libseccomp (a rule without arguments overrides "
                                 "the others); only the unconditional action is kept");
      add(name, uncond, {}, uncond_line);
      return;
    }
    const uint32_t first_action = conds.front()->action;
    if (std::any_of(conds.begin(), conds.end(), [&](auto* f) { return f->action != first_action; }))
      note(*conds.front(), name + ": filters with different actions: minijail takes the first that holds, "
                               "libseccomp has no order between them");
    for (const FilterDef* f : conds) {
      size_t made = 0;
      for (const Clause& c : *f->expr) {
        std::vector<std::vector<ArgCmp>> alts(1);
        for (const Atom& a : c) {
          const auto opts = alternatives(a, word_mask_);
          if (!opts) continue;
          std::vector<std::vector<ArgCmp>> next;
          for (const auto& base : alts)
            for (const ArgCmp& o : *opts) {
              next.push_back(base);
              next.back().push_back(o);
            }
          if (next.size() > kMaxExpansion)
            throw ProfileError(f->file, f->line, name + ": the expression expands to more than " +
                                                     std::to_string(kMaxExpansion) + " libseccomp rules");
          alts = std::move(next);
        }
        for (auto& args : alts) {
          std::array<int, 6> per_index{};
          for (const auto& a : args)
            if (++per_index[a.index] == 2)
              note(*f, name + ": argument " + std::to_string(a.index) +
                           " is compared twice in one clause: libseccomp 2.5 refuses the rule");
          add(name, f->action, std::move(args), f->top_line);
          ++made;
        }
      }
      if (made == 0) note(*f, name + ": the expression never holds (`& 0`); no rule");
    }
  }

 private:
  void note(const FilterDef& f, const std::string& msg) {
    rs_.notes.push_back(f.file + ":" + std::to_string(f.line) + ": " + msg);
  }
  void add(const std::string& name, uint32_t action, std::vector<ArgCmp> args, int line) {
    Rule r;
    r.syscall = name;
    r.action = action;
    r.args = std::move(args);
    r.source_line = line;
    rs_.rules.push_back(std::move(r));
  }

  RuleSet& rs_;
  uint64_t word_mask_;
};

}  // namespace

MinijailConstants parse_minijail_constants(std::string_view text, const std::string& origin) {
  const LocatedJson lj = parse_located_json(text, origin);
  const json& d = lj.doc;
  auto fail = [&](const std::string& ptr, const std::string& msg) { throw ProfileError(origin, lj.line(ptr), msg); };
  if (!d.is_object()) fail("", "constants.json must be an object");
  MinijailConstants k;
  if (auto it = d.find("arch_name"); it != d.end()) {
    if (!it->is_string()) fail("/arch_name", "arch_name must be a string");
    k.arch_name = it->get<std::string>();
  }
  if (auto it = d.find("bits"); it != d.end()) {
    if (!it->is_number_unsigned() || (it->get<uint64_t>() != 32 && it->get<uint64_t>() != 64))
      fail("/bits", "bits must be 32 or 64");
    k.bits = it->get<unsigned>();
  }
  for (const char* table : {"constants", "syscalls"}) {
    auto it = d.find(table);
    if (it == d.end()) continue;
    if (!it->is_object()) fail(std::string("/") + table, std::string(table) + " must be an object");
    for (auto e = it->begin(); e != it->end(); ++e) {
      const std::string ptr = std::string("/") + table + "/" + pointer_token(e.key());
      if (!e->is_number_integer()) fail(ptr, e.key() + " must be an integer");
      const uint64_t v = e->is_number_unsigned() ? e->get<uint64_t>() : static_cast<uint64_t>(e->get<int64_t>());
      if (table[0] == 'c') k.constants[e.key()] = v;
      else k.syscalls[e.key()] = static_cast<int>(v);
    }
  }
  return k;
}

bool looks_like_minijail_policy(std::string_view path, std::string_view text) {
  if (path.ends_with(".policy")) return true;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
    if (line.empty() || line[0] == '#') continue;
    for (std::string_view kw : {"@include ", "@frequency ", "@default ", "@denylist"})
      if (line.starts_with(kw)) return true;
    // name[metadata]: ...
    size_t i = 0;
    while (i < line.size() && (word_char(line[i]) || line[i] == '-' || line[i] == '@')) ++i;
    if (i == 0 || std::isdigit(static_cast<unsigned char>(line[0]))) return false;
    if (i < line.size() && line[i] == '[') {
      const size_t close = line.find(']', i);
      if (close == std::string_view::npos) return false;
      i = close + 1;
    }
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    return i < line.size() && line[i] == ':';
  }
  return false;
}

RuleSet parse_minijail_policy(std::string_view text, const std::string& path, const MinijailImportOptions& opts) {
  std::string kpath = opts.constants_path;
  if (kpath.empty()) {
    const fs::path next = fs::path(dir_of(path)) / "constants.json";
    std::error_code ec;
    if (fs::is_regular_file(next, ec)) kpath = next.string();
  }
  MinijailConstants k;
  if (!kpath.empty()) k = parse_minijail_constants(read_text(kpath, path, 0), kpath);

  Parser p(k, opts, !kpath.empty());
  p.parse_file(text, path, 0, 0);

  RuleSet rs;
  rs.origin = path;
  rs.default_action = p.default_action();
  rs.bad_arch_action = opts.kill_action;
  auto chosen = [&](std::string_view a) { return std::find(opts.arches.begin(), opts.arches.end(), a) != opts.arches.end(); };
  if (kpath.empty()) rs.notes.push_back(path + ": no constants.json: x86_64 with 64-bit words assumed");
  if (k.arch_name == "x86_64" || k.arch_name == "x86" || k.arch_name == "i386") {
    const std::string a(k.arch_name == "x86_64" ? kArchX86_64 : kArchX86);
    if (chosen(a)) rs.arches = {a};
    else rs.notes.push_back(path + ": the policy is for " + a + ", which the options leave out");
  } else {
    rs.arches = opts.arches;
    rs.notes.push_back(path + ": constants.json is for " + k.arch_name +
                       "; compiled for the chosen x86 arches instead, names without a syscall number there are skipped");
  }
  if (p.denylist()) rs.notes.push_back(path + ": @denylist: the default action is allow");
  const uint64_t word_mask = k.bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << k.bits) - 1;
  Emitter e(rs, word_mask);
  for (const auto& [name, defs] : p.syscalls()) e.syscall(name, defs);
  return rs;
}

RuleSet parse_minijail_policy_file(const std::string& path, const MinijailImportOptions& opts) {
  return parse_minijail_policy(read_text(path, path, 0), path, opts);
}

}  // namespace secdiff::corpus
