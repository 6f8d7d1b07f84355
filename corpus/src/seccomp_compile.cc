#include "corpus/src/seccomp_compile.h"

#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include <fmt/format.h>

namespace secdiff::corpus {

namespace {

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

std::optional<uint32_t> arch_token(std::string_view name) {
  if (name == kArchX86_64) return SCMP_ARCH_X86_64;
  if (name == kArchX86) return SCMP_ARCH_X86;
  if (name == kArchX32) return SCMP_ARCH_X32;
  return std::nullopt;
}

enum scmp_compare scmp_op(ArgCmp::Op op) {
  switch (op) {
    case ArgCmp::NE: return SCMP_CMP_NE;
    case ArgCmp::LT: return SCMP_CMP_LT;
    case ArgCmp::LE: return SCMP_CMP_LE;
    case ArgCmp::EQ: return SCMP_CMP_EQ;
    case ArgCmp::GE: return SCMP_CMP_GE;
    case ArgCmp::GT: return SCMP_CMP_GT;
    case ArgCmp::MASKED_EQ: return SCMP_CMP_MASKED_EQ;
  }
  return _SCMP_CMP_MIN;  // invalid; libseccomp rejects it
}

// Why libseccomp may refuse an action: it takes ERRNO data below MAX_ERRNO only.
std::string action_hint(uint32_t action) {
  if ((action & 0xffff0000u) == SCMP_ACT_ERRNO(0) && (action & 0xffff) >= 4095)
    return fmt::format(" (ERRNO data {} >= 4095)", action & 0xffff);
  return {};
}

std::string where(const RuleSet& rs, const Rule& r) {
  return r.source_line > 0 ? fmt::format("{}:{}", rs.origin, r.source_line) : rs.origin;
}

using ArchList = std::vector<std::pair<std::string, uint32_t>>;  // (name, SCMP_ARCH_*)

// A context for `arches` (in this order) with the shared attributes.
Ctx make_context(uint32_t default_action, const ArchList& arches, int optimize,
                 std::optional<uint32_t> bad_arch) {
  Ctx ctx(seccomp_init(default_action));
  if (!ctx)
    throw CompileError(
        fmt::format("seccomp_init({:#x}) failed{}", default_action, action_hint(default_action)));
  // seccomp_init() starts with the native arch: keep it if it comes first,
  // otherwise drop it once the first arch is in and add the rest in order.
  int rc = 0;
  for (size_t i = 0; i < arches.size() && rc == 0; ++i) {
    uint32_t token = arches[i].second;
    if (i == 0 && token == seccomp_arch_native()) continue;
    rc = seccomp_arch_add(ctx.get(), token);
    if (i == 0 && rc == 0) rc = seccomp_arch_remove(ctx.get(), SCMP_ARCH_NATIVE);
  }
  if (rc != 0) throw CompileError(fmt::format("seccomp arch setup: {}", std::strerror(-rc)));
  if ((rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, optimize)) != 0)
    throw CompileError(fmt::format("SCMP_FLTATR_CTL_OPTIMIZE={}: {}", optimize, std::strerror(-rc)));
  if (bad_arch && (rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, *bad_arch)) != 0)
    throw CompileError(fmt::format("SCMP_FLTATR_ACT_BADARCH={:#x}: {}", *bad_arch, std::strerror(-rc)));
  return ctx;
}

std::string join_names(const ArchList& arches) {
  std::string out;
  for (const auto& a : arches) out += (out.empty() ? "" : "+") + a.first;
  return out;
}

Program export_program(void* ctx) {
  Fd mem{memfd_create("secdiff-bpf", MFD_CLOEXEC)};
  if (mem.fd < 0) throw CompileError(fmt::format("memfd_create: {}", std::strerror(errno)));
  if (int rc = seccomp_export_bpf(ctx, mem.fd); rc != 0)
    throw CompileError(fmt::format("seccomp_export_bpf: {}", std::strerror(-rc)));
  off_t size = lseek(mem.fd, 0, SEEK_END);
  if (size < 0 || size % 8 != 0 || lseek(mem.fd, 0, SEEK_SET) != 0)
    throw CompileError(fmt::format("exported filter has a bad size {}", static_cast<long>(size)));
  std::vector<unsigned char> bytes(static_cast<size_t>(size));
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = read(mem.fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw CompileError("short read of the exported filter");
    got += static_cast<size_t>(n);
  }
  // struct sock_filter, host (little-endian) layout: u16 code, u8 jt, u8 jf, u32 k.
  Program prog(bytes.size() / 8);
  for (size_t i = 0; i < prog.size(); ++i) {
    const unsigned char* p = bytes.data() + 8 * i;
    std::memcpy(&prog[i].code, p, 2);
    prog[i].jt = p[2];
    prog[i].jf = p[3];
    std::memcpy(&prog[i].k, p + 4, 4);
  }
  return prog;
}

}  // namespace

std::string libseccomp_version() {
  const scmp_version* v = seccomp_version();
  return fmt::format("{}.{}.{}", v->major, v->minor, v->micro);
}

CompileResult compile_ruleset(const RuleSet& rs, const CompileOptions& opts) {
  CompileResult res;
  if (opts.optimize != 1 && opts.optimize != 2)
    throw CompileError(fmt::format("optimize level {} is not 1 or 2", opts.optimize));

  // Arches, in filter order.
  ArchList arches;
  for (const auto& a : opts.arches.empty() ? rs.arches : opts.arches) {
    auto token = arch_token(a);
    if (!token) {
      res.warnings.push_back(fmt::format("{}: arch {} is not supported; left out", rs.origin, a));
    } else if (std::find(rs.arches.begin(), rs.arches.end(), a) == rs.arches.end()) {
      res.warnings.push_back(fmt::format("{}: arch {} is not in the rule set; left out", rs.origin, a));
    } else if (std::none_of(arches.begin(), arches.end(), [&](auto& x) { return x.first == a; })) {
      arches.emplace_back(a, *token);
    }
  }
  if (arches.empty()) throw CompileError(rs.origin + ": no arch to compile for");
  std::optional<uint32_t> bad_arch = opts.bad_arch_action ? opts.bad_arch_action : rs.bad_arch_action;

  // Names resolve against the native arch (runc's GetSyscallFromName);
  // libseccomp translates the number for each arch it adds a rule to.
  std::vector<int> nrs(rs.rules.size());
  for (size_t i = 0; i < rs.rules.size(); ++i) {
    const std::string& name = rs.rules[i].syscall;
    nrs[i] = seccomp_syscall_resolve_name(name.c_str());
    if (nrs[i] == __NR_SCMP_ERROR &&
        std::find(res.unknown_names.begin(), res.unknown_names.end(), name) == res.unknown_names.end())
      res.unknown_names.push_back(name);
  }

  // By default one context per arch, merged at the end: in one multi-arch
  // context a rule libseccomp refuses for one arch is rolled back for all.
  std::vector<ArchList> groups;
  if (opts.single_context) groups.push_back(arches);
  else
    for (const auto& a : arches) groups.push_back({a});

  Ctx merged;
  for (const ArchList& group : groups) {
    Ctx ctx = make_context(rs.default_action, group, opts.optimize, bad_arch);
    std::string label = join_names(group);
    for (size_t i = 0; i < rs.rules.size(); ++i) {
      const Rule& r = rs.rules[i];
      if (nrs[i] == __NR_SCMP_ERROR) continue;
      // runc skips rules whose action is the default one; libseccomp refuses them.
      if (r.action == rs.default_action) continue;
      if (!r.only_arches.empty()) {
        auto in_rule = [&](const auto& a) {
          return std::find(r.only_arches.begin(), r.only_arches.end(), a.first) != r.only_arches.end();
        };
        if (std::none_of(group.begin(), group.end(), in_rule)) continue;
        if (!std::all_of(group.begin(), group.end(), in_rule)) {
          res.warnings.push_back(fmt::format("{}: syscall {}: a rule for some arches needs "
                                             "one context per arch; left out", where(rs, r), r.syscall));
          continue;
        }
      }
      std::vector<scmp_arg_cmp> cmps;
      for (const auto& a : r.args)
        cmps.push_back(scmp_arg_cmp{a.index, scmp_op(a.op), a.value, a.value_two});
      auto add = r.exact ? seccomp_rule_add_exact_array : seccomp_rule_add_array;
      int rc = add(ctx.get(), r.action, nrs[i], static_cast<unsigned>(cmps.size()), cmps.data());
      if (rc != 0)
        res.warnings.push_back(fmt::format("{}: syscall {} on {}: libseccomp refused the rule: {}{}",
                                           where(rs, r), r.syscall, label, std::strerror(-rc),
                                           action_hint(r.action)));
    }
    if (!merged) {
      merged = std::move(ctx);
    } else {
      if (int rc = seccomp_merge(merged.get(), ctx.get()); rc != 0)
        throw CompileError(fmt::format("seccomp_merge ({}): {}", label, std::strerror(-rc)));
      ctx.release();  // seccomp_merge freed it
    }
  }
  res.prog = export_program(merged.get());
  return res;
}

}  // namespace secdiff::corpus
