// Named constants shared by the text formats (assembler sugar, C initializers)
// and the names the disassembler annotates with.
#include <cstdio>
#include <string>
#include <unordered_map>

#include "oracle/bpf.h"
#include "oracle/errno_names.h"
#include "oracle/formats/formats.h"
#include "oracle/seccomp_abi.h"

namespace secdiff {
namespace {

struct Named {
  const char* name;
  uint32_t value;
};

// include/uapi/linux/audit.h: EM_* | __AUDIT_ARCH_64BIT (0x80000000) | __AUDIT_ARCH_LE (0x40000000).
constexpr Named kAuditArches[] = {
    {"AUDIT_ARCH_X86_64", 0xc000003eu},  {"AUDIT_ARCH_I386", 0x40000003u},
    {"AUDIT_ARCH_AARCH64", 0xc00000b7u}, {"AUDIT_ARCH_ARM", 0x40000028u},
    {"AUDIT_ARCH_ARMEB", 0x00000028u},   {"AUDIT_ARCH_RISCV64", 0xc00000f3u},
    {"AUDIT_ARCH_RISCV32", 0x400000f3u}, {"AUDIT_ARCH_S390X", 0x80000016u},
    {"AUDIT_ARCH_S390", 0x00000016u},    {"AUDIT_ARCH_PPC64LE", 0xc0000015u},
    {"AUDIT_ARCH_PPC64", 0x80000015u},   {"AUDIT_ARCH_PPC", 0x00000014u},
    {"AUDIT_ARCH_MIPS", 0x00000008u},    {"AUDIT_ARCH_MIPSEL", 0x40000008u},
    {"AUDIT_ARCH_MIPS64", 0x80000008u},  {"AUDIT_ARCH_MIPSEL64", 0xc0000008u},
    {"AUDIT_ARCH_MIPS64N32", 0xa0000008u}, {"AUDIT_ARCH_MIPSEL64N32", 0xe0000008u},
    {"AUDIT_ARCH_LOONGARCH64", 0xc0000102u},
};

constexpr Named kActions[] = {
    {"KILL_PROCESS", SECCOMP_RET_KILL_PROCESS}, {"KILL_THREAD", SECCOMP_RET_KILL_THREAD},
    {"TRAP", SECCOMP_RET_TRAP},                 {"ERRNO", SECCOMP_RET_ERRNO},
    {"USER_NOTIF", SECCOMP_RET_USER_NOTIF},     {"TRACE", SECCOMP_RET_TRACE},
    {"LOG", SECCOMP_RET_LOG},                   {"ALLOW", SECCOMP_RET_ALLOW},
};

constexpr Named kOther[] = {
    {"SECCOMP_RET_KILL", SECCOMP_RET_KILL_THREAD},
    {"KILL", SECCOMP_RET_KILL_THREAD},
    {"SECCOMP_RET_ACTION_FULL", SECCOMP_RET_ACTION_FULL},
    {"SECCOMP_RET_ACTION", SECCOMP_RET_ACTION},
    {"SECCOMP_RET_DATA", SECCOMP_RET_DATA},
    {"__X32_SYSCALL_BIT", X32_SYSCALL_BIT},
    {"X32_SYSCALL_BIT", X32_SYSCALL_BIT},
    {"SKF_AD_OFF", bpf::SKF_AD_OFF},
    {"BPF_MAXINSNS", bpf::MAXINSNS},
    {"BPF_MEMWORDS", bpf::MEMWORDS},
    // include/uapi/linux/bpf_common.h and filter.h.
    {"BPF_LD", bpf::LD},   {"BPF_LDX", bpf::LDX}, {"BPF_ST", bpf::ST},     {"BPF_STX", bpf::STX},
    {"BPF_ALU", bpf::ALU}, {"BPF_JMP", bpf::JMP}, {"BPF_RET", bpf::RET},   {"BPF_MISC", bpf::MISC},
    {"BPF_W", bpf::W},     {"BPF_H", bpf::H},     {"BPF_B", bpf::B},       {"BPF_IMM", bpf::IMM},
    {"BPF_ABS", bpf::ABS}, {"BPF_IND", bpf::IND}, {"BPF_MEM", bpf::MEM},   {"BPF_LEN", bpf::LEN},
    {"BPF_MSH", bpf::MSH}, {"BPF_ADD", bpf::ADD}, {"BPF_SUB", bpf::SUB},   {"BPF_MUL", bpf::MUL},
    {"BPF_DIV", bpf::DIV}, {"BPF_OR", bpf::OR},   {"BPF_AND", bpf::AND},   {"BPF_LSH", bpf::LSH},
    {"BPF_RSH", bpf::RSH}, {"BPF_NEG", bpf::NEG}, {"BPF_MOD", bpf::MOD},   {"BPF_XOR", bpf::XOR},
    {"BPF_JA", bpf::JA},   {"BPF_JEQ", bpf::JEQ}, {"BPF_JGT", bpf::JGT},   {"BPF_JGE", bpf::JGE},
    {"BPF_JSET", bpf::JSET}, {"BPF_K", bpf::K},   {"BPF_X", bpf::X},       {"BPF_A", bpf::A},
    {"BPF_TAX", bpf::TAX}, {"BPF_TXA", bpf::TXA},
};

char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

const std::unordered_map<std::string, uint32_t>& constant_table() {
  static const auto* table = [] {
    auto* t = new std::unordered_map<std::string, uint32_t>;
    for (const Named& a : kActions) {
      t->emplace(a.name, a.value);
      t->emplace(std::string("SECCOMP_RET_") + a.name, a.value);
    }
    for (const Named& a : kAuditArches) t->emplace(a.name, a.value);
    for (const Named& a : kOther) t->emplace(a.name, a.value);
    return t;
  }();
  return *table;
}

void append_hex(std::string& out, uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%x", v);
  out += buf;
}

}  // namespace

std::optional<uint32_t> lookup_constant(std::string_view name) {
  if (name.size() > 5 && (name.substr(0, 5) == "__NR_" || name.substr(0, 5) == "__nr_")) {
    std::string lower(name.substr(5));
    for (char& c : lower)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (auto nr = syscall_number(Arch::X86_64, lower)) return static_cast<uint32_t>(*nr);
    return std::nullopt;
  }
  if (name.size() > 64) return std::nullopt;
  std::string key(name);
  for (char& c : key) c = upper(c);
  const auto& t = constant_table();
  if (auto it = t.find(key); it != t.end()) return it->second;
  if (auto e = errno_number(key)) return static_cast<uint32_t>(*e);
  return std::nullopt;
}

std::optional<std::string_view> audit_arch_name(uint32_t arch) {
  for (const Named& a : kAuditArches)
    if (a.value == arch) return a.name;
  return std::nullopt;
}

std::string describe_action(uint32_t ret) {
  const uint32_t action = ret & SECCOMP_RET_ACTION_FULL, data = ret & SECCOMP_RET_DATA;
  for (const Named& a : kActions) {
    if (a.value != action) continue;
    std::string s = a.name;
    if (action == SECCOMP_RET_ERRNO) {
      s += '(' + std::to_string(data) + ')';
      if (data > MAX_ERRNO) s += " (capped at 4095)";  // __seccomp_filter
    } else if (data != 0) {  // data the kernel passes on (TRAP, TRACE) or ignores
      s += '(';
      append_hex(s, data);
      s += ')';
    }
    return s;
  }
  // __seccomp_filter's switch sends unknown actions to the KILL_PROCESS case.
  std::string s = "unknown action ";
  append_hex(s, ret);
  s += " (acts as KILL_PROCESS)";
  return s;
}

std::optional<std::string> seccomp_data_field(uint32_t off) {
  if (off >= SECCOMP_DATA_SIZE || off % 4 != 0) return std::nullopt;
  if (off == SD_OFF_NR) return "nr";
  if (off == SD_OFF_ARCH) return "arch";
  if (off < SD_OFF_ARGS) return off == SD_OFF_IP ? "instruction_pointer low" : "instruction_pointer high";
  const uint32_t i = (off - SD_OFF_ARGS) / 8;
  return "args[" + std::to_string(i) + ((off % 8) ? "] high" : "] low");
}

}  // namespace secdiff
