#include "corpus/src/c_table_json.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <set>

#include "corpus/src/located_json.h"
#include "oracle/seccomp_abi.h"

namespace secdiff::corpus {

namespace {

using json = nlohmann::json;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// A C integer literal (0x.., 0.., decimal) making up all of `s`.
std::optional<uint64_t> c_number(std::string_view s) {
  s = trim(s);
  if (s.empty() || !std::isdigit(static_cast<unsigned char>(s[0]))) return std::nullopt;
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  } else if (s.size() > 1 && s[0] == '0') {
    base = 8;
  }
  uint64_t v = 0;
  for (char c : s) {
    int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
            : std::isxdigit(static_cast<unsigned char>(c))
                ? std::tolower(static_cast<unsigned char>(c)) - 'a' + 10
                : -1;
    if (d < 0 || d >= base || v > (UINT64_MAX - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base))
      return std::nullopt;
    v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
  }
  return v;
}

class Importer {
 public:
  Importer(const LocatedJson& lj, std::string origin, const CTableImportOptions& opts)
      : lj_(lj), origin_(std::move(origin)), opts_(opts) {}

  std::vector<CTableFilter> run() {
    const json& d = lj_.doc;
    if (!d.is_object()) fail("", "expected an object");
    kill_process_ = d.contains("action_note") && d["action_note"].is_string() &&
                    d["action_note"].get<std::string>().find("SCMP_ACT_TRAP is replaced by SCMP_ACT_KILL_PROCESS") !=
                        std::string::npos;
    if (!d.contains("defaultAction")) fail("", "missing defaultAction");
    default_action_ = action(d["defaultAction"], "/defaultAction", nullptr, "");
    if (!d.contains("rules") || !d["rules"].is_array()) fail("/rules", "rules must be an array");
    read_families(d);
    std::vector<CTableFilter> out;
    if (auto s = d.find("sets"); s != d.end()) {
      if (!s->is_object()) fail("/sets", "sets must be an object");
      std::set<std::string> on, all;
      for (auto it = s->begin(); it != s->end(); ++it) {
        all.insert(it.key());
        const std::string desc = it->is_string() ? it->get<std::string>() : std::string();
        if (desc.starts_with("always") || desc.starts_with("on unless")) on.insert(it.key());
      }
      out.push_back({"on", build(d, &on)});
      out.push_back({"all", build(d, &all)});
    } else {
      out.push_back({"default", build(d, nullptr)});
    }
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& path, const std::string& msg) const {
    throw ProfileError(origin_, lj_.line(path), msg);
  }
  void note(RuleSet& rs, const std::string& path, const std::string& msg) const {
    rs.notes.push_back(origin_ + ":" + std::to_string(lj_.line(path)) + ": " + msg);
  }

  // Integer, or a string holding one (alone or in parentheses); nullopt for prose.
  std::optional<uint64_t> number(const json& v, const std::string& path) const {
    if (v.is_number_unsigned()) return v.get<uint64_t>();
    if (!v.is_string()) fail(path, "expected a number or a string holding one");
    const std::string s = v.get<std::string>();
    if (auto n = c_number(s)) return n;
    const size_t lp = s.find('('), rp = s.find(')', lp == std::string::npos ? 0 : lp);
    if (lp != std::string::npos && rp != std::string::npos)
      if (auto n = c_number(std::string_view(s).substr(lp + 1, rp - lp - 1))) return n;
    return std::nullopt;
  }

  uint32_t errno_value(const json& v, const std::string& path) const {
    if (v.is_string()) {
      if (auto e = errno_from_name(trim(v.get<std::string>()))) return static_cast<uint32_t>(*e);
    }
    const auto n = number(v, path);
    if (!n || *n > SECCOMP_RET_DATA) fail(path, "bad errno " + v.dump());
    return static_cast<uint32_t>(*n);
  }

  // "SCMP_ACT_ERRNO", "SCMP_ACT_ERRNO(ENOSYS)", "SCMP_ACT_KILL (0)".
  uint32_t action(const json& v, const std::string& path, const json* rule, const std::string& rpath) const {
    if (!v.is_string()) fail(path, "an action must be a string");
    const std::string text = v.get<std::string>();
    std::string_view s = trim(text);
    std::string_view arg;
    if (const size_t sp = s.find(' '); sp != std::string_view::npos) s = s.substr(0, sp);  // a remark
    if (const size_t lp = s.find('('); lp != std::string_view::npos) {
      if (!s.ends_with(")")) fail(path, "bad action " + v.dump());
      arg = s.substr(lp + 1, s.size() - lp - 2);
      s = s.substr(0, lp);
    }
    auto data = [&]() -> uint32_t {
      if (!arg.empty()) return errno_value(json(std::string(arg)), path);
      if (rule && rule->contains("errno")) return errno_value((*rule)["errno"], rpath + "/errno");
      return 1;  // EPERM
    };
    if (s == "SCMP_ACT_ALLOW") return SECCOMP_RET_ALLOW;
    if (s == "SCMP_ACT_ERRNO") return SECCOMP_RET_ERRNO | data();
    if (s == "SCMP_ACT_TRACE") return SECCOMP_RET_TRACE | data();
    if (s == "SCMP_ACT_TRAP") return kill_process_ ? SECCOMP_RET_KILL_PROCESS : SECCOMP_RET_TRAP;
    if (s == "SCMP_ACT_KILL" || s == "SCMP_ACT_KILL_THREAD") return SECCOMP_RET_KILL_THREAD;
    if (s == "SCMP_ACT_KILL_PROCESS") return SECCOMP_RET_KILL_PROCESS;
    if (s == "SCMP_ACT_LOG") return SECCOMP_RET_LOG;
    fail(path, "unknown action " + v.dump());
  }

  void read_families(const json& d) {
    auto f = d.find("socket_family_allowlist");
    if (f == d.end()) return;
    if (!f->is_array()) fail("/socket_family_allowlist", "socket_family_allowlist must be an array");
    for (size_t i = 0; i < f->size(); ++i) {
      const std::string p = "/socket_family_allowlist/" + std::to_string(i);
      const json& e = (*f)[i];
      if (!e.is_object() || !e.contains("value")) fail(p, "expected {family, value}");
      if (e.contains("when")) continue;  // an optional permission
      const auto v = number(e["value"], p + "/value");
      if (!v) fail(p + "/value", "family value must be a number");
      families_.insert(*v);
    }
  }

  bool applies(const json& when) const {
    const std::string w = when.is_string() ? when.get<std::string>() : std::string();
    return w == "not multiarch" || w == "not --devel";
  }

  RuleSet build(const json& d, const std::set<std::string>* sets) const {
    RuleSet rs;
    rs.origin = origin_;
    rs.default_action = default_action_;
    if (std::find(opts_.arches.begin(), opts_.arches.end(), kArchX86_64) != opts_.arches.end())
      rs.arches = {std::string(kArchX86_64)};
    else
      rs.notes.push_back(origin_ + ": the program filters its native arch, x86_64, which the options leave out");
    if (kill_process_) rs.notes.push_back(origin_ + ": TRAP is replaced by KILL_PROCESS (kernel >= 4.14)");
    const json& rules = d["rules"];
    for (size_t i = 0; i < rules.size(); ++i) {
      const std::string rp = "/rules/" + std::to_string(i);
      const json& r = rules[i];
      if (!r.is_object()) fail(rp, "a rule must be an object");
      if (!r.contains("names") || !r["names"].is_array() || r["names"].empty()) fail(rp, "a rule needs names");
      for (size_t j = 0; j < r["names"].size(); ++j)
        if (!r["names"][j].is_string()) fail(rp + "/names/" + std::to_string(j), "a name must be a string");
      if (!r.contains("action")) fail(rp, "a rule needs an action");
      const uint32_t act = action(r["action"], rp + "/action", &r, rp);
      if (sets) {
        const std::string set = r.contains("set") && r["set"].is_string() ? r["set"].get<std::string>() : "";
        if (!d["sets"].contains(set)) fail(rp, "unknown set \"" + set + "\"");
        if (!sets->contains(set)) continue;
      }
      if (r.contains("when") && !applies(r["when"])) {
        note(rs, rp, r["names"][0].get<std::string>() + ": left out (" + r["when"].dump() + " does not hold by default)");
        continue;
      }
      std::vector<std::vector<ArgCmp>> alts(1);  // alternatives (one rule each)
      if (r.contains("args")) {
        if (!r["args"].is_array()) fail(rp + "/args", "args must be an array");
        for (size_t j = 0; j < r["args"].size(); ++j) alts = with_arg(alts, r["args"][j], rp + "/args/" + std::to_string(j));
      }
      for (const auto& name : r["names"])
        for (const auto& args : alts) rs.rules.push_back(Rule{name.get<std::string>(), act, args, lj_.line(rp), {}, false});
    }
    return rs;
  }

  std::vector<std::vector<ArgCmp>> with_arg(const std::vector<std::vector<ArgCmp>>& alts, const json& a,
                                            const std::string& p) const {
    if (!a.is_object()) fail(p, "an argument must be an object");
    if (!a.contains("index") || !a["index"].is_number_unsigned() || a["index"].get<uint64_t>() > 5)
      fail(p, "argument index must be 0..5");
    if (!a.contains("op") || !a["op"].is_string()) fail(p, "argument without op");
    static const std::map<std::string, ArgCmp::Op, std::less<>> kOps = {
        {"SCMP_CMP_NE", ArgCmp::NE}, {"SCMP_CMP_LT", ArgCmp::LT}, {"SCMP_CMP_LE", ArgCmp::LE},
        {"SCMP_CMP_EQ", ArgCmp::EQ}, {"SCMP_CMP_GE", ArgCmp::GE}, {"SCMP_CMP_GT", ArgCmp::GT},
        {"SCMP_CMP_MASKED_EQ", ArgCmp::MASKED_EQ}};
    const auto op = kOps.find(a["op"].get<std::string>());
    if (op == kOps.end()) fail(p + "/op", "unknown operator " + a["op"].dump());
    ArgCmp c;
    c.index = a["index"].get<unsigned>();
    c.op = op->second;
    if (!a.contains("value")) fail(p, "argument without value");
    const auto value = number(a["value"], p + "/value");
    std::vector<ArgCmp> options;
    if (c.op == ArgCmp::MASKED_EQ) {
      const auto mask = a.contains("mask") ? number(a["mask"], p + "/mask") : std::nullopt;
      if (!mask || !value) fail(p, "SCMP_CMP_MASKED_EQ needs a numeric mask and value");
      c.value = *mask;
      c.value_two = *value;
      options.push_back(c);
    } else if (value) {
      c.value = *value;
      options.push_back(c);
    } else if (!families_.empty() && (c.op == ArgCmp::EQ || c.op == ArgCmp::GE)) {
      // flatpak's socket family filter.
      const uint64_t last = *families_.rbegin();
      if (c.op == ArgCmp::GE) {
        c.value = last + 1;
        options.push_back(c);
      } else {
        for (uint64_t f = 0; f < last; ++f)
          if (!families_.contains(f)) {
            c.value = f;
            options.push_back(c);
          }
      }
    } else {
      fail(p + "/value", "no number in " + a["value"].dump());
    }
    std::vector<std::vector<ArgCmp>> out;
    for (const auto& base : alts)
      for (const auto& o : options) {
        out.push_back(base);
        out.back().push_back(o);
      }
    return out;
  }

  const LocatedJson& lj_;
  std::string origin_;
  const CTableImportOptions& opts_;
  bool kill_process_ = false;
  uint32_t default_action_ = SECCOMP_RET_ALLOW;
  std::set<uint64_t> families_;
};

}  // namespace

bool looks_like_c_table_json(std::string_view text) {
  const json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded())
    return text.find("\"rules\"") != std::string_view::npos && text.find("\"syscalls\"") == std::string_view::npos;
  return doc.is_object() && doc.contains("defaultAction") && doc.contains("rules") && !doc.contains("syscalls");
}

std::vector<CTableFilter> parse_c_table_json(std::string_view text, const std::string& origin,
                                             const CTableImportOptions& opts) {
  const LocatedJson lj = parse_located_json(text, origin);
  return Importer(lj, origin, opts).run();
}

}  // namespace secdiff::corpus
