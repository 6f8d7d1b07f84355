#include "corpus/src/docker_json.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "corpus/src/located_json.h"
#include "oracle/seccomp_abi.h"

namespace secdiff::corpus {

using json = nlohmann::json;

const std::vector<std::string>& docker_default_caps() {
  static const std::vector<std::string> caps = {
      "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
      "CAP_MKNOD",  "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
      "CAP_SETFCAP", "CAP_SETPCAP",     "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
      "CAP_KILL",   "CAP_AUDIT_WRITE"};
  return caps;
}

namespace {

// ---------------------------------------------------------------------------
// Profile semantics.

struct KernelVersion {
  unsigned kernel = 0, major = 0;
  bool operator>=(const KernelVersion& o) const {
    return kernel > o.kernel || (kernel == o.kernel && major >= o.major);
  }
};

// moby's parseRelease: "%d.%d" and anything after it ("6.1.0-13-amd64").
KernelVersion parse_host_kernel(const std::string& release) {
  KernelVersion v;
  if (std::sscanf(release.c_str(), "%u.%u", &v.kernel, &v.major) != 2)
    throw std::invalid_argument("invalid kernel version \"" + release + "\"");
  return v;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// libseccomp-style names for the x86 family; other valid runtime-spec arches
// map to "" (kept out of the RuleSet with a note).
std::optional<std::string> scmp_arch_to_ir(std::string_view a) {
  if (a == "SCMP_ARCH_X86_64") return std::string(kArchX86_64);
  if (a == "SCMP_ARCH_X86") return std::string(kArchX86);
  if (a == "SCMP_ARCH_X32") return std::string(kArchX32);
  static constexpr std::array<std::string_view, 17> kForeign = {
      "SCMP_ARCH_ARM",     "SCMP_ARCH_AARCH64",     "SCMP_ARCH_MIPS",
      "SCMP_ARCH_MIPS64",  "SCMP_ARCH_MIPS64N32",   "SCMP_ARCH_MIPSEL",
      "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
      "SCMP_ARCH_PPC64",   "SCMP_ARCH_PPC64LE",     "SCMP_ARCH_S390",
      "SCMP_ARCH_S390X",   "SCMP_ARCH_PARISC",      "SCMP_ARCH_PARISC64",
      "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64"};
  if (std::find(kForeign.begin(), kForeign.end(), a) != kForeign.end()) return std::string();
  return std::nullopt;
}

class Importer {
 public:
  Importer(const LocatedJson& lj, std::string origin, const DockerImportOptions& opts)
      : lj_(lj), origin_(std::move(origin)), opts_(opts), kernel_(parse_host_kernel(opts.kernel)) {
    if (opts_.host_arch == "amd64") {
      native_scmp_ = "SCMP_ARCH_X86_64";
      native_ = kArchX86_64;
    } else if (opts_.host_arch == "x86") {
      native_scmp_ = "SCMP_ARCH_X86";
      native_ = kArchX86;
    } else {
      throw std::invalid_argument("host_arch must be \"amd64\" or \"x86\", not \"" +
                                  opts_.host_arch + "\"");
    }
  }

  RuleSet run() {
    rs_.origin = origin_;
    const json* root = &lj_.doc;
    std::string rpath;
    if (!root->is_object()) fail(rpath, "expected a JSON object");
    // A whole OCI config.json: use its linux.seccomp.
    if (const json* linux = field(*root, "", "linux", &rpath)) {
      if (!field(*root, "", "syscalls")) {
        std::string spath;
        const json* sec = linux->is_object() ? field(*linux, rpath, "seccomp", &spath) : nullptr;
        if (!sec || !sec->is_object()) fail(rpath, "OCI config without a linux.seccomp object");
        root = sec;
        rpath = spath;
      }
    }
    parse_profile(*root, rpath);
    return std::move(rs_);
  }

 private:
  [[noreturn]] void fail(const std::string& path, const std::string& msg) const {
    throw ProfileError(origin_, line(path), msg);
  }
  // Line of the value at `path`, or of its nearest located ancestor.
  int line(const std::string& path) const { return lj_.line(path); }

  // Member `key` of `obj` as Go's encoding/json finds it: exact match first,
  // then case-insensitive. null counts as absent (Go leaves the field alone).
  const json* field(const json& obj, const std::string& base, std::string_view key,
                    std::string* path = nullptr) const {
    auto hit = obj.end();
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      if (it.key() == key) {
        hit = it;
        break;
      }
      if (hit == obj.end() && iequals(it.key(), key)) hit = it;
    }
    if (hit == obj.end() || hit->is_null()) return nullptr;
    if (path) *path = base + "/" + pointer_token(hit.key());
    return &*hit;
  }

  std::string get_string(const json& v, const std::string& path, std::string_view what) const {
    if (!v.is_string()) fail(path, std::string(what) + " must be a string");
    return v.get<std::string>();
  }
  uint64_t get_uint(const json& v, const std::string& path, std::string_view what) const {
    if (!v.is_number_unsigned())
      fail(path, std::string(what) + " must be a non-negative integer");
    return v.get<uint64_t>();
  }
  std::vector<std::string> get_strings(const json& v, const std::string& path,
                                       std::string_view what) const {
    if (!v.is_array()) fail(path, std::string(what) + " must be an array of strings");
    std::vector<std::string> out;
    for (size_t i = 0; i < v.size(); ++i)
      out.push_back(get_string(v[i], path + "/" + std::to_string(i), what));
    return out;
  }
  const json& get_object(const json& v, const std::string& path, std::string_view what) const {
    if (!v.is_object()) fail(path, std::string(what) + " must be an object");
    return v;
  }

  // errnoRet (number) or errno (name); runc's default is EPERM.
  uint32_t errno_data(const json& obj, const std::string& base, std::string_view ret_key,
                      std::string_view name_key) {
    std::string rpath, npath;
    const json* ret = field(obj, base, ret_key, &rpath);
    const json* name = field(obj, base, name_key, &npath);
    std::optional<uint64_t> by_number, by_name;
    if (ret) by_number = get_uint(*ret, rpath, ret_key);
    if (name) {
      std::string n = get_string(*name, npath, name_key);
      if (!n.empty()) {
        auto e = errno_from_name(n);
        if (!e) fail(npath, "unknown errno name " + n);
        by_name = static_cast<uint64_t>(*e);
      }
    }
    if (by_number && by_name && *by_number != *by_name)
      note(rpath, std::string(ret_key) + " " + std::to_string(*by_number) + " wins over " +
                      std::string(name_key) + " " + std::to_string(*by_name));
    uint64_t e = by_number ? *by_number : by_name ? *by_name : 1;  // EPERM
    if (e > SECCOMP_RET_DATA)
      note(rpath, "errno " + std::to_string(e) + " truncated to 16 bits, as runc does");
    return static_cast<uint32_t>(e & SECCOMP_RET_DATA);
  }

  // SCMP_ACT_* -> SECCOMP_RET_* with data (runc's getAction).
  uint32_t action(const json& obj, const std::string& base, std::string_view key,
                  std::string_view ret_key, std::string_view name_key) {
    std::string apath;
    const json* a = field(obj, base, key, &apath);
    if (!a) fail(base, "missing " + std::string(key));
    std::string s = get_string(*a, apath, key);
    if (s == "SCMP_ACT_ALLOW") return SECCOMP_RET_ALLOW;
    if (s == "SCMP_ACT_ERRNO") return SECCOMP_RET_ERRNO | errno_data(obj, base, ret_key, name_key);
    if (s == "SCMP_ACT_TRACE") return SECCOMP_RET_TRACE | errno_data(obj, base, ret_key, name_key);
    if (s == "SCMP_ACT_KILL" || s == "SCMP_ACT_KILL_THREAD") return SECCOMP_RET_KILL_THREAD;
    if (s == "SCMP_ACT_KILL_PROCESS") return SECCOMP_RET_KILL_PROCESS;
    if (s == "SCMP_ACT_TRAP") return SECCOMP_RET_TRAP;
    if (s == "SCMP_ACT_LOG") return SECCOMP_RET_LOG;
    if (s == "SCMP_ACT_NOTIFY") return SECCOMP_RET_USER_NOTIF;
    fail(apath, "unknown action " + s);
  }

  void note(const std::string& path, const std::string& msg) {
    int l = line(path);
    rs_.notes.push_back(origin_ + (l > 0 ? ":" + std::to_string(l) : std::string()) + ": " + msg);
  }

  void parse_arches(const json& root, const std::string& base) {
    std::string lpath, mpath;
    const json* list = field(root, base, "architectures", &lpath);
    const json* map = field(root, base, "archMap", &mpath);
    std::vector<std::pair<std::string, std::string>> named;  // (SCMP name, path)
    if (list) {
      auto names = get_strings(*list, lpath, "architectures");
      for (size_t i = 0; i < names.size(); ++i)
        named.emplace_back(names[i], lpath + "/" + std::to_string(i));
    }
    if (map) {
      if (!map->is_array()) fail(mpath, "archMap must be an array");
      if (list && !list->empty() && !map->empty())
        fail(mpath, "both 'architectures' and 'archMap' are specified");
      for (size_t i = 0; i < map->size(); ++i) {
        std::string epath = mpath + "/" + std::to_string(i), apath, spath;
        const json& e = get_object((*map)[i], epath, "archMap entry");
        const json* arch = field(e, epath, "architecture", &apath);
        std::string a = arch ? get_string(*arch, apath, "architecture") : std::string();
        const json* subs = field(e, epath, "subArchitectures", &spath);
        std::vector<std::string> sub =
            subs ? get_strings(*subs, spath, "subArchitectures") : std::vector<std::string>();
        if (a != native_scmp_) continue;
        // moby takes the first entry for the host arch and stops.
        named.emplace_back(a, apath);
        for (size_t j = 0; j < sub.size(); ++j)
          named.emplace_back(sub[j], spath + "/" + std::to_string(j));
        break;
      }
    }
    // runc: libseccomp's filter starts with the native arch; the others follow
    // in profile order (adding the native one again is a no-op).
    std::vector<std::string> arches = {native_};
    if (named.empty())
      note(base, "no architectures for " + opts_.host_arch + ": libseccomp uses the native arch");
    for (const auto& [scmp, path] : named) {
      auto ir = scmp_arch_to_ir(scmp);
      if (!ir) fail(path, "unknown architecture " + scmp);
      if (ir->empty()) {
        note(path, scmp + " is not an x86 arch; left out");
        continue;
      }
      if (!contains(arches, *ir)) arches.push_back(*ir);
    }
    for (const auto& a : arches) {
      if (contains(opts_.arches, a)) rs_.arches.push_back(a);
      else note(base, "arch " + a + " left out by the options");
    }
  }

  // includes/excludes: returns true if the entry applies (moby's setupSeccomp).
  bool applies(const json& entry, const std::string& base) {
    std::string ipath, epath;
    const json* inc = field(entry, base, "includes", &ipath);
    const json* exc = field(entry, base, "excludes", &epath);
    Filter in = inc ? filter(*inc, ipath) : Filter{};
    Filter ex = exc ? filter(*exc, epath) : Filter{};
    if (contains(ex.arches, opts_.host_arch)) return false;
    for (const auto& c : ex.caps)
      if (contains(opts_.caps, c)) return false;
    if (ex.min_kernel && kernel_ >= *ex.min_kernel) return false;
    if (!in.arches.empty() && !contains(in.arches, opts_.host_arch)) return false;
    for (const auto& c : in.caps)
      if (!contains(opts_.caps, c)) return false;
    if (in.min_kernel && !(kernel_ >= *in.min_kernel)) return false;
    return true;
  }

  struct Filter {
    std::vector<std::string> caps, arches;
    std::optional<KernelVersion> min_kernel;
  };
  Filter filter(const json& f, const std::string& base) {
    get_object(f, base, "includes/excludes");
    Filter out;
    std::string p;
    if (const json* v = field(f, base, "caps", &p)) out.caps = get_strings(*v, p, "caps");
    if (const json* v = field(f, base, "arches", &p)) out.arches = get_strings(*v, p, "arches");
    if (const json* v = field(f, base, "minKernel", &p)) {
      std::string s = get_string(*v, p, "minKernel");
      if (!s.empty()) out.min_kernel = parse_min_kernel(s, p);
    }
    return out;
  }
  // moby's KernelVersion.UnmarshalJSON: exactly "<kernel>.<major>", each < 256, not 0.0.
  KernelVersion parse_min_kernel(const std::string& s, const std::string& path) const {
    auto bad = [&]() { fail(path, "invalid minKernel \"" + s + "\", expected \"<kernel>.<major>\""); };
    size_t dot = s.find('.');
    if (dot == std::string::npos || s.find('.', dot + 1) != std::string::npos) bad();
    auto num = [&](std::string_view t) {
      if (t.empty() || t.size() > 3 ||
          !std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; }))
        bad();
      unsigned n = static_cast<unsigned>(std::stoul(std::string(t)));
      if (n > 255) bad();
      return n;
    };
    KernelVersion v{num(std::string_view(s).substr(0, dot)), num(std::string_view(s).substr(dot + 1))};
    if (v.kernel == 0 && v.major == 0) bad();
    return v;
  }

  ArgCmp arg(const json& a, const std::string& base) {
    get_object(a, base, "argument");
    ArgCmp out;
    std::string p;
    if (const json* v = field(a, base, "index", &p)) {
      uint64_t i = get_uint(*v, p, "index");
      if (i > 5) fail(p, "argument index " + std::to_string(i) + " out of range 0..5");
      out.index = static_cast<unsigned>(i);
    }
    if (const json* v = field(a, base, "value", &p)) out.value = get_uint(*v, p, "value");
    if (const json* v = field(a, base, "valueTwo", &p)) out.value_two = get_uint(*v, p, "valueTwo");
    const json* op = field(a, base, "op", &p);
    if (!op) fail(base, "argument without op");
    std::string s = get_string(*op, p, "op");
    static const std::map<std::string, ArgCmp::Op, std::less<>> kOps = {
        {"SCMP_CMP_NE", ArgCmp::NE}, {"SCMP_CMP_LT", ArgCmp::LT},
        {"SCMP_CMP_LE", ArgCmp::LE}, {"SCMP_CMP_EQ", ArgCmp::EQ},
        {"SCMP_CMP_GE", ArgCmp::GE}, {"SCMP_CMP_GT", ArgCmp::GT},
        {"SCMP_CMP_MASKED_EQ", ArgCmp::MASKED_EQ}};
    auto it = kOps.find(s);
    if (it == kOps.end()) fail(p, "unknown operator " + s);
    out.op = it->second;
    return out;
  }

  void parse_syscall(const json& entry, const std::string& base) {
    get_object(entry, base, "syscalls entry");
    // Everything is checked even for entries the host leaves out: a bad
    // action or operator is a broken profile on some host.
    std::string npath, nspath, apath;
    const json* name = field(entry, base, "name", &npath);
    const json* names = field(entry, base, "names", &nspath);
    std::vector<std::pair<std::string, std::string>> calls;  // (name, path)
    if (name) {
      std::string n = get_string(*name, npath, "name");
      if (!n.empty()) calls.emplace_back(n, npath);
    }
    if (names) {
      auto ns = get_strings(*names, nspath, "names");
      if (!ns.empty() && !calls.empty()) fail(base, "both 'name' and 'names' are specified");
      for (size_t i = 0; i < ns.size(); ++i)
        calls.emplace_back(ns[i], nspath + "/" + std::to_string(i));
    }
    for (const auto& [n, p] : calls)
      if (n.empty()) fail(p, "empty syscall name");
    uint32_t act = action(entry, base, "action", "errnoRet", "errno");
    std::vector<ArgCmp> args;
    if (const json* as = field(entry, base, "args", &apath)) {
      if (!as->is_array()) fail(apath, "args must be an array");
      for (size_t i = 0; i < as->size(); ++i)
        args.push_back(arg((*as)[i], apath + "/" + std::to_string(i)));
    }
    if (!applies(entry, base)) return;

    // runc's matchCall: if any argument index repeats, every comparison
    // becomes its own rule (OR); otherwise all of them form one rule (AND).
    std::array<unsigned, 6> per_index{};
    bool repeated = false;
    for (const auto& a : args) repeated |= ++per_index[a.index] > 1;
    for (const auto& [n, p] : calls) {
      int l = line(p);
      if (repeated) {
        for (const auto& a : args) rs_.rules.push_back(Rule{n, act, {a}, l, {}, false});
      } else {
        rs_.rules.push_back(Rule{n, act, args, l, {}, false});
      }
    }
  }

  void parse_profile(const json& root, const std::string& base) {
    get_object(root, base, "seccomp profile");
    rs_.default_action = action(root, base, "defaultAction", "defaultErrnoRet", "defaultErrno");
    parse_arches(root, base);
    std::string spath;
    if (const json* calls = field(root, base, "syscalls", &spath)) {
      if (!calls->is_array()) fail(spath, "syscalls must be an array");
      for (size_t i = 0; i < calls->size(); ++i)
        parse_syscall((*calls)[i], spath + "/" + std::to_string(i));
    }
  }

  const LocatedJson& lj_;
  std::string origin_;
  const DockerImportOptions& opts_;
  KernelVersion kernel_;
  std::string native_scmp_;
  std::string native_;
  RuleSet rs_;
};

}  // namespace

RuleSet parse_docker_json(std::string_view text, const std::string& origin,
                          const DockerImportOptions& opts) {
  return Importer(parse_located_json(text, origin), origin, opts).run();
}

RuleSet parse_docker_json_file(const std::string& path, const DockerImportOptions& opts,
                               std::string origin) {
  if (origin.empty()) origin = path;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ProfileError(origin, 0, "cannot open file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_docker_json(ss.str(), origin, opts);
}

}  // namespace secdiff::corpus
