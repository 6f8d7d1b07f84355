#include "corpus/src/firecracker_json.h"

#include <algorithm>
#include <array>
#include <map>

#include <fmt/format.h>

#include "corpus/src/located_json.h"
#include "oracle/seccomp_abi.h"

namespace secdiff::corpus {

using json = nlohmann::json;

std::string firecracker_target_from_name(std::string_view path) {
  const size_t slash = path.rfind('/');
  const std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  for (std::string_view t : {"x86_64", "aarch64", "riscv64"})
    if (base.starts_with(t)) return std::string(t);
  return {};
}

namespace {

class Importer {
 public:
  Importer(const LocatedJson& lj, std::string origin, const FirecrackerImportOptions& opts)
      : lj_(lj), origin_(std::move(origin)), opts_(opts) {}

  std::vector<FirecrackerFilter> run() {
    const json& root = lj_.doc;
    if (!root.is_object()) fail("", "expected an object of thread categories (\"vmm\", \"api\", ...)");
    const std::string target = opts_.target.empty() ? firecracker_target_from_name(origin_) : opts_.target;
    std::vector<FirecrackerFilter> out;
    for (auto it = root.begin(); it != root.end(); ++it) {
      const std::string path = "/" + pointer_token(it.key());
      FirecrackerFilter f{it.key(), parse_filter(*it, path)};
      set_arches(f.rules, target, path);
      out.push_back(std::move(f));
    }
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& path, const std::string& msg) const {
    throw ProfileError(origin_, lj_.line(path), msg);
  }
  void note(RuleSet& rs, const std::string& path, const std::string& msg) const {
    const int l = lj_.line(path);
    rs.notes.push_back(origin_ + (l > 0 ? ":" + std::to_string(l) : std::string()) + ": " + msg);
  }

  // A member that serde requires.
  const json& member(const json& obj, const std::string& base, const char* key, std::string* path) const {
    auto it = obj.find(key);
    if (it == obj.end()) fail(base, std::string("missing field `") + key + "`");
    *path = base + "/" + key;
    return *it;
  }
  uint64_t get_uint(const json& v, const std::string& path, const char* what, uint64_t max) const {
    if (!v.is_number_unsigned()) fail(path, std::string(what) + " must be a non-negative integer");
    const uint64_t x = v.get<uint64_t>();
    if (x > max) fail(path, std::string(what) + " " + std::to_string(x) + " is out of range 0.." + std::to_string(max));
    return x;
  }

  // SeccompAction: a unit variant as a string, errno/trace as {"errno": N}.
  uint32_t action(const json& v, const std::string& path) const {
    if (v.is_string()) {
      const std::string s = v.get<std::string>();
      if (s == "allow") return SECCOMP_RET_ALLOW;
      if (s == "trap") return SECCOMP_RET_TRAP;
      if (s == "kill_thread") return SECCOMP_RET_KILL_THREAD;
      if (s == "kill_process") return SECCOMP_RET_KILL_PROCESS;
      if (s == "log") return SECCOMP_RET_LOG;
      if (s == "errno" || s == "trace") fail(path, "action " + s + " needs a value, e.g. {\"" + s + "\": 1}");
      fail(path, "unknown action \"" + s + "\" (allow, trap, kill_thread, kill_process, log, errno, trace)");
    }
    if (v.is_object() && v.size() == 1) {
      const std::string key = v.begin().key();
      const std::string vpath = path + "/" + pointer_token(key);
      if (key == "errno") return SECCOMP_RET_ERRNO | static_cast<uint32_t>(get_uint(*v.begin(), vpath, "errno", 0xffff));
      if (key == "trace") return SECCOMP_RET_TRACE | static_cast<uint32_t>(get_uint(*v.begin(), vpath, "trace", 0xffff));
      fail(path, "unknown action \"" + key + "\"");
    }
    fail(path, "an action must be a string or {\"errno\": N} / {\"trace\": N}");
  }

  ArgCmp condition(const json& a, const std::string& base, RuleSet& rs, bool& noted_dword) const {
    if (!a.is_object()) fail(base, "a condition must be an object {index, type, op, val}");
    std::string p;
    ArgCmp c;
    c.index = static_cast<unsigned>(get_uint(member(a, base, "index", &p), p, "index", 255));
    if (c.index > 5) fail(p, "argument index " + std::to_string(c.index) + " out of range 0..5");
    const json& type = member(a, base, "type", &p);
    if (!type.is_string() || (type != "dword" && type != "qword"))
      fail(p, "type must be \"dword\" or \"qword\"");
    const bool dword = type == "dword";
    const uint64_t val = get_uint(member(a, base, "val", &p), p, "val", UINT64_MAX);
    const json& op = member(a, base, "op", &p);
    static const std::map<std::string, ArgCmp::Op, std::less<>> kOps = {
        {"eq", ArgCmp::EQ}, {"ne", ArgCmp::NE}, {"lt", ArgCmp::LT},
        {"le", ArgCmp::LE}, {"gt", ArgCmp::GT}, {"ge", ArgCmp::GE}};
    if (op.is_object() && op.size() == 1 && op.begin().key() == "masked_eq") {
      c.op = ArgCmp::MASKED_EQ;
      c.value = get_uint(*op.begin(), p + "/masked_eq", "mask", UINT64_MAX);
      c.value_two = val;
      if ((val & ~c.value) != 0)
        note(rs, p, "masked_eq value " + hex(val) + " has bits outside the mask " + hex(c.value) +
                        ": the comparison never holds");
      return c;
    }
    if (!op.is_string() || !kOps.contains(op.get<std::string>()))
      fail(p, "unknown operator (eq, ne, lt, le, gt, ge or {\"masked_eq\": mask})");
    c.op = kOps.find(op.get<std::string>())->second;
    c.value = val;
    if (dword && c.op == ArgCmp::EQ) {
      // seccompiler: the low 32 bits only, as (arg & 0xffffffff) == val.
      c.op = ArgCmp::MASKED_EQ;
      c.value = 0xffffffffu;
      c.value_two = val;
      if (val > 0xffffffffu)
        note(rs, p, "dword value " + hex(val) + " does not fit in 32 bits: the comparison never holds");
    } else if (dword && !noted_dword) {
      noted_dword = true;
      note(rs, p, "dword " + op.get<std::string>() + " compares all 64 bits, as seccompiler does "
                  "(only dword eq is limited to the low 32 bits)");
    }
    return c;
  }

  RuleSet parse_filter(const json& f, const std::string& base) const {
    if (!f.is_object()) fail(base, "a thread category must be an object {default_action, filter_action, filter}");
    RuleSet rs;
    rs.origin = origin_;
    std::string p;
    rs.default_action = action(member(f, base, "default_action", &p), p);
    const uint32_t filter_action = action(member(f, base, "filter_action", &p), p);
    const json& entries = member(f, base, "filter", &p);
    if (!entries.is_array()) fail(p, "filter must be an array");
    const std::string fpath = p;
    bool noted_dword = false;
    for (size_t i = 0; i < entries.size(); ++i) {
      const std::string epath = fpath + "/" + std::to_string(i);
      const json& e = entries[i];
      if (!e.is_object()) fail(epath, "a filter entry must be an object {syscall, args}");
      std::string spath;
      const json& name = member(e, epath, "syscall", &spath);
      if (!name.is_string() || name.get<std::string>().empty()) fail(spath, "syscall must be a non-empty string");
      Rule r;
      r.syscall = name.get<std::string>();
      r.action = filter_action;
      r.source_line = lj_.line(spath);
      if (auto a = e.find("args"); a != e.end() && !a->is_null()) {
        const std::string apath = epath + "/args";
        if (!a->is_array()) fail(apath, "args must be an array");
        std::array<int, 6> per_index{};
        for (size_t j = 0; j < a->size(); ++j) {
          r.args.push_back(condition((*a)[j], apath + "/" + std::to_string(j), rs, noted_dword));
          if (++per_index[r.args.back().index] == 2)
            note(rs, apath, r.syscall + ": argument " + std::to_string(r.args.back().index) +
                                " is compared twice in one entry: libseccomp 2.5 refuses the rule");
        }
      }
      rs.rules.push_back(std::move(r));
    }
    if (filter_action == rs.default_action && !rs.rules.empty())
      note(rs, base, "filter_action equals default_action: the rules change nothing");
    return rs;
  }

  void set_arches(RuleSet& rs, const std::string& target, const std::string& path) const {
    if (target == kArchX86_64) {
      // seccomp_init() has the native arch and seccompiler adds the target: {x86_64}.
      if (std::find(opts_.arches.begin(), opts_.arches.end(), kArchX86_64) != opts_.arches.end())
        rs.arches = {std::string(kArchX86_64)};
      else
        note(rs, path, "the file targets x86_64, which the options leave out");
      return;
    }
    rs.arches = opts_.arches;
    std::string list;
    for (const auto& a : rs.arches) list += (list.empty() ? "" : ", ") + a;
    note(rs, path, (target.empty() ? std::string("the file names no target arch")
                                   : "the file targets " + target) +
                       "; compiled for " + list + " instead, names without a syscall number there are skipped");
  }

  static std::string hex(uint64_t v) { return fmt::format("{:#x}", v); }

  const LocatedJson& lj_;
  std::string origin_;
  const FirecrackerImportOptions& opts_;
};

}  // namespace

std::vector<FirecrackerFilter> parse_firecracker_json(std::string_view text, const std::string& origin,
                                                      const FirecrackerImportOptions& opts) {
  const LocatedJson lj = parse_located_json(text, origin);
  return Importer(lj, origin, opts).run();
}

}  // namespace secdiff::corpus
