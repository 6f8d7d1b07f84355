#include "oracle/kernel_profile.h"

#include <array>
#include <cctype>
#include <cstddef>
#include <iterator>
#include <unordered_map>

#include "oracle/seccomp_abi.h"

namespace secdiff {

namespace {

// Types the generated tables are written in (see cmake/gen_syscall_tables.cmake).
enum class TblAbi : uint8_t { Common, Abi64, X32, I386 };
struct TblEntry {
  int32_t nr;
  const char* name;
  TblAbi abi;
};
struct TblVersion {
  const char* version;
  const TblEntry* native;
  size_t native_len;
  const TblEntry* compat;
  size_t compat_len;
  int native_nr;  // NR_syscalls (scripts/syscallhdr.sh --emit-nr, ABIs common,64)
  int compat_nr;  // IA32_NR_syscalls (ABI i386)
};

#include "syscall_tables.inc"

// Facts about each kernel's kernel/seccomp.c that the .tbl files cannot tell.
struct SeccompSourceFacts {
  std::string_view version;
  // seccomp_uprobe_exception() (or its first form, the uretprobe check inlined
  // in seccomp_is_const_allow()) exists. It tests sd->nr against __NR_uretprobe
  // and __NR_uprobe under #ifdef, so each exception applies only when the
  // version's syscall_64.tbl defines that syscall.
  bool has_uprobe_exception_code;
};
constexpr SeccompSourceFacts kSeccompFacts[] = {
    // Debian 6.1.192: no uretprobe/uprobe syscalls, no exception.
    {"6.1", false},
    // Debian 6.12.117 carries the stable backport of cf6cb56ef244 ("seccomp:
    // passthrough uretprobe systemcall without filtering") in the later
    // seccomp_uprobe_exception() form; its syscall_64.tbl has uretprobe (335)
    // but no uprobe, so only the uretprobe exception is compiled in.
    {"6.12", true},
    // v6.18: seccomp_uprobe_exception() with uretprobe (335) and uprobe (336).
    {"6.18", true},
};

constexpr const SeccompSourceFacts* find_facts(std::string_view version) {
  for (const auto& f : kSeccompFacts) {
    if (f.version == version) return &f;
  }
  return nullptr;
}

constexpr bool every_table_has_facts() {
  for (const auto& v : kTblVersions) {
    if (find_facts(v.version) == nullptr) return false;
  }
  return true;
}
static_assert(every_table_has_facts(),
              "a version under oracle/syscalls/tbl/ has no entry in kSeccompFacts "
              "(oracle/kernel_profile.cc): check its kernel/seccomp.c");

constexpr std::string_view kDefaultVersion = "6.18";

// Lookup structures for one kernel version, built once.
struct VersionTables {
  KernelProfile profile;
  // Indexed by number; nullptr where the table has no entry.
  std::vector<const char*> native_by_nr;  // ABI common or 64
  std::vector<const char*> x32_by_nr;     // ABI common or x32, without X32_SYSCALL_BIT
  std::vector<const char*> i386_by_nr;    // ABI i386
  // Keys point into the generated string literals.
  std::unordered_map<std::string_view, int32_t> native_by_name;
  std::unordered_map<std::string_view, int32_t> x32_by_name;  // values carry X32_SYSCALL_BIT
  std::unordered_map<std::string_view, int32_t> i386_by_name;
};

int32_t with_x32_bit(int32_t nr) {
  return static_cast<int32_t>(static_cast<uint32_t>(nr) | X32_SYSCALL_BIT);
}

void put(std::vector<const char*>& by_nr, int32_t nr, const char* name) {
  if (by_nr.size() <= static_cast<size_t>(nr)) by_nr.resize(static_cast<size_t>(nr) + 1, nullptr);
  by_nr[static_cast<size_t>(nr)] = name;
}

VersionTables build(const TblVersion& v) {
  VersionTables t;
  for (size_t i = 0; i < v.native_len; i++) {
    const TblEntry& e = v.native[i];
    switch (e.abi) {
      case TblAbi::Common:
        // arch/x86/entry/syscalls/Makefile: "common" is in both the 64-bit
        // (common,64) and the x32 (common,x32) tables.
        put(t.native_by_nr, e.nr, e.name);
        put(t.x32_by_nr, e.nr, e.name);
        t.native_by_name.emplace(e.name, e.nr);
        // A name with an x32-only number (512..547) keeps it, whatever the order.
        t.x32_by_name.try_emplace(e.name, with_x32_bit(e.nr));
        break;
      case TblAbi::Abi64:
        put(t.native_by_nr, e.nr, e.name);
        t.native_by_name.emplace(e.name, e.nr);
        break;
      case TblAbi::X32:
        put(t.x32_by_nr, e.nr, e.name);
        // x32 binaries use the x32 number (e.g. ioctl: 514, not the 64-only 16).
        t.x32_by_name.insert_or_assign(e.name, with_x32_bit(e.nr));
        break;
      case TblAbi::I386:
        break;  // not in syscall_64.tbl (the generator rejects it)
    }
  }
  for (size_t i = 0; i < v.compat_len; i++) {
    const TblEntry& e = v.compat[i];
    put(t.i386_by_nr, e.nr, e.name);
    t.i386_by_name.emplace(e.name, e.nr);
  }

  const SeccompSourceFacts* facts = find_facts(v.version);
  const bool code = facts != nullptr && facts->has_uprobe_exception_code;
  t.profile.version = v.version;
  t.profile.native_nr = v.native_nr;
  t.profile.compat_nr = v.compat_nr;
  // `#ifdef __NR_uretprobe` / `#ifdef __NR_uprobe` in seccomp_uprobe_exception().
  t.profile.uretprobe_exception = code && t.native_by_name.count("uretprobe") != 0;
  t.profile.uprobe_exception = code && t.native_by_name.count("uprobe") != 0;
  return t;
}

struct Registry {
  std::vector<VersionTables> versions;
  std::vector<KernelProfile> profiles;
  size_t default_index = 0;

  Registry() {
    versions.reserve(std::size(kTblVersions));
    for (const TblVersion& v : kTblVersions) versions.push_back(build(v));
    for (size_t i = 0; i < versions.size(); i++) {
      profiles.push_back(versions[i].profile);
      if (versions[i].profile.version == kDefaultVersion) default_index = i;
    }
  }
};

const Registry& registry() {
  static const Registry r;
  return r;
}

// "6.18" for "6.18", "6.18.44", "6.18.44-cloud-amd64", "6.12-rc1" (so a
// `uname -r` string finds its profile); else the input unchanged.
std::string_view major_minor(std::string_view v) {
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) i++;
    return i > start;
  };
  if (!digits() || i >= v.size() || v[i] != '.') return v;
  i++;
  if (!digits()) return v;
  if (i < v.size() && v[i] != '.' && v[i] != '-' && v[i] != '+') return v;
  return v.substr(0, i);
}

// The tables of `kernel` (empty: the default profile), or nullptr if unknown.
const VersionTables* tables_for(std::string_view kernel) {
  const Registry& r = registry();
  if (kernel.empty()) return &r.versions[r.default_index];
  for (const VersionTables& t : r.versions) {
    if (t.profile.version == kernel) return &t;
  }
  const std::string_view mm = major_minor(kernel);
  for (const VersionTables& t : r.versions) {
    if (t.profile.version == mm) return &t;
  }
  return nullptr;
}

const char* at(const std::vector<const char*>& by_nr, int64_t nr) {
  if (nr < 0 || static_cast<uint64_t>(nr) >= by_nr.size()) return nullptr;
  return by_nr[static_cast<size_t>(nr)];
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

}  // namespace

std::string_view arch_name(Arch a) {
  switch (a) {
    case Arch::X86_64: return "x86_64";
    case Arch::I386: return "i386";
    case Arch::X32: return "x32";
  }
  return "?";
}

std::optional<Arch> parse_arch(std::string_view name) {
  struct Alias {
    std::string_view name;
    Arch arch;
  };
  static constexpr Alias kAliases[] = {
      {"x86_64", Arch::X86_64}, {"amd64", Arch::X86_64}, {"i386", Arch::I386},
      {"x86", Arch::I386},      {"ia32", Arch::I386},    {"x32", Arch::X32},
  };
  for (const Alias& a : kAliases) {
    if (iequals(name, a.name)) return a.arch;
  }
  return std::nullopt;
}

uint32_t audit_arch(Arch a) {
  // arch/x86/include/asm/syscall.h: syscall_get_arch() is AUDIT_ARCH_I386 only
  // for TS_COMPAT tasks; x32 tasks are AUDIT_ARCH_X86_64.
  return a == Arch::I386 ? AUDIT_ARCH_I386 : AUDIT_ARCH_X86_64;
}

const std::vector<KernelProfile>& kernel_profiles() { return registry().profiles; }

const KernelProfile* find_kernel_profile(std::string_view version) {
  const VersionTables* t = tables_for(version);
  if (t == nullptr) return nullptr;
  const Registry& r = registry();
  return &r.profiles[static_cast<size_t>(t - r.versions.data())];
}

const KernelProfile& default_kernel_profile() {
  const Registry& r = registry();
  return r.profiles[r.default_index];
}

std::optional<std::string_view> syscall_name(Arch arch, int64_t nr, std::string_view kernel) {
  const VersionTables* t = tables_for(kernel);
  if (t == nullptr) return std::nullopt;
  const char* name = nullptr;
  switch (arch) {
    case Arch::X86_64:
      name = at(t->native_by_nr, nr);
      break;
    case Arch::I386:
      name = at(t->i386_by_nr, nr);
      break;
    case Arch::X32:
      // x32 numbers carry __X32_SYSCALL_BIT; without it the number is a native
      // x86_64 one (same AUDIT_ARCH_X86_64), so it has no x32 name.
      if (nr >= 0 && (nr & X32_SYSCALL_BIT) != 0) name = at(t->x32_by_nr, nr & ~int64_t{X32_SYSCALL_BIT});
      break;
  }
  if (name == nullptr) return std::nullopt;
  return std::string_view(name);
}

std::optional<int32_t> syscall_number(Arch arch, std::string_view name, std::string_view kernel) {
  const VersionTables* t = tables_for(kernel);
  if (t == nullptr) return std::nullopt;
  const std::unordered_map<std::string_view, int32_t>* map = nullptr;
  switch (arch) {
    case Arch::X86_64: map = &t->native_by_name; break;
    case Arch::I386: map = &t->i386_by_name; break;
    case Arch::X32: map = &t->x32_by_name; break;
  }
  const auto it = map->find(name);
  if (it == map->end()) return std::nullopt;
  return it->second;
}

}  // namespace secdiff
