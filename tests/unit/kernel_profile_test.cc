// Kernel profiles, the generated syscall tables and how seccomp_data is filled.
#include "oracle/kernel_profile.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "oracle/seccomp_abi.h"
#include "oracle/seccomp_data.h"

namespace secdiff {
namespace {

constexpr int32_t kX32 = static_cast<int32_t>(X32_SYSCALL_BIT);

// An independent reading of a vendored .tbl file (not the CMake generator).
struct TblLine {
  int nr;
  std::string abi;
  std::string name;
};

std::vector<TblLine> read_tbl(const std::string& version, const std::string& file) {
  const std::string path =
      std::string(SECDIFF_SOURCE_DIR) + "/oracle/syscalls/tbl/" + version + "/" + file;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::vector<TblLine> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] < '0' || line[0] > '9') continue;
    std::istringstream ss(line);
    TblLine e;
    ss >> e.nr >> e.abi >> e.name;
    out.push_back(e);
  }
  return out;
}

// scripts/syscallhdr.sh --emit-nr: max nr over the given ABIs, plus one.
int emit_nr(const std::vector<TblLine>& tbl, const std::set<std::string>& abis) {
  int max_nr = -1;
  for (const TblLine& e : tbl) {
    if (abis.count(e.abi)) max_nr = std::max(max_nr, e.nr);
  }
  return max_nr + 1;
}

const KernelProfile& profile(std::string_view v) {
  const KernelProfile* kp = find_kernel_profile(v);
  EXPECT_NE(kp, nullptr) << v;
  static const KernelProfile kNone;
  return kp != nullptr ? *kp : kNone;
}

TEST(KernelProfile, KnownVersionsInOrder) {
  std::vector<std::string> versions;
  for (const KernelProfile& kp : kernel_profiles()) versions.push_back(kp.version);
  EXPECT_EQ(versions, (std::vector<std::string>{"6.1", "6.12", "6.18"}));
  EXPECT_EQ(default_kernel_profile().version, "6.18");
  EXPECT_EQ(find_kernel_profile("6.18"), &default_kernel_profile());
  EXPECT_EQ(find_kernel_profile(""), &default_kernel_profile());
  EXPECT_EQ(find_kernel_profile("5.10"), nullptr);
  EXPECT_EQ(find_kernel_profile("6"), nullptr);
  EXPECT_EQ(find_kernel_profile("6.1x"), nullptr);
}

TEST(KernelProfile, FindsUnameStrings) {
  EXPECT_EQ(profile("6.18.44").version, "6.18");
  EXPECT_EQ(profile("6.1.0-31-amd64").version, "6.1");
  EXPECT_EQ(profile("6.12.117+deb12-amd64").version, "6.12");
  EXPECT_EQ(profile("6.12-rc1").version, "6.12");
}

// The values the kernel computes (arch/x86/entry/syscalls/Makefile runs
// syscallhdr.sh --emit-nr with ABIs common,64 and i386).
TEST(KernelProfile, TableSizesMatchKernel) {
  EXPECT_EQ(profile("6.1").native_nr, 451);  // last: 450 set_mempolicy_home_node
  EXPECT_EQ(profile("6.1").compat_nr, 451);
  EXPECT_EQ(profile("6.12").native_nr, 463);  // last: 462 mseal
  EXPECT_EQ(profile("6.12").compat_nr, 463);
  EXPECT_GT(profile("6.18").native_nr, profile("6.12").native_nr);
  EXPECT_GT(profile("6.18").compat_nr, profile("6.12").compat_nr);
}

TEST(KernelProfile, TableSizesMatchTheVendoredFiles) {
  for (const KernelProfile& kp : kernel_profiles()) {
    SCOPED_TRACE(kp.version);
    const auto t64 = read_tbl(kp.version, "syscall_64.tbl");
    const auto t32 = read_tbl(kp.version, "syscall_32.tbl");
    EXPECT_EQ(kp.native_nr, emit_nr(t64, {"common", "64"}));
    EXPECT_EQ(kp.compat_nr, emit_nr(t32, {"i386"}));
    // The x32-only range would give 548; it must not count.
    EXPECT_EQ(emit_nr(t64, {"common", "64", "x32"}), 548);
    EXPECT_LT(kp.native_nr, 512);
  }
}

TEST(KernelProfile, EveryTableEntryHasItsName) {
  for (const KernelProfile& kp : kernel_profiles()) {
    SCOPED_TRACE(kp.version);
    for (const TblLine& e : read_tbl(kp.version, "syscall_64.tbl")) {
      if (e.abi == "common" || e.abi == "64") {
        EXPECT_EQ(syscall_name(Arch::X86_64, e.nr, kp.version), e.name) << e.nr;
        EXPECT_EQ(syscall_number(Arch::X86_64, e.name, kp.version), e.nr) << e.name;
      }
      if (e.abi == "common" || e.abi == "x32") {
        EXPECT_EQ(syscall_name(Arch::X32, e.nr | kX32, kp.version), e.name) << e.nr;
        EXPECT_EQ(syscall_number(Arch::X32, e.name, kp.version), e.nr | kX32) << e.name;
      }
    }
    for (const TblLine& e : read_tbl(kp.version, "syscall_32.tbl")) {
      EXPECT_EQ(syscall_name(Arch::I386, e.nr, kp.version), e.name) << e.nr;
      EXPECT_EQ(syscall_number(Arch::I386, e.name, kp.version), e.nr) << e.name;
    }
  }
}

TEST(KernelProfile, UprobeExceptions) {
  // kernel/seccomp.c seccomp_uprobe_exception(): absent in 6.1; the 6.12
  // backport of cf6cb56ef244 (uretprobe only: 6.12 has no uprobe syscall);
  // uretprobe and uprobe in 6.18.
  EXPECT_FALSE(profile("6.1").uretprobe_exception);
  EXPECT_FALSE(profile("6.1").uprobe_exception);
  EXPECT_TRUE(profile("6.12").uretprobe_exception);
  EXPECT_FALSE(profile("6.12").uprobe_exception);
  EXPECT_TRUE(profile("6.18").uretprobe_exception);
  EXPECT_TRUE(profile("6.18").uprobe_exception);

  EXPECT_EQ(syscall_number(Arch::X86_64, "uretprobe", "6.1"), std::nullopt);
  EXPECT_EQ(syscall_number(Arch::X86_64, "uretprobe", "6.12"), 335);
  EXPECT_EQ(syscall_number(Arch::X86_64, "uprobe", "6.12"), std::nullopt);
  EXPECT_EQ(syscall_number(Arch::X86_64, "uretprobe", "6.18"), 335);
  EXPECT_EQ(syscall_number(Arch::X86_64, "uprobe", "6.18"), 336);
  // i386 335/336 are other syscalls: the exception is native-only.
  EXPECT_EQ(syscall_name(Arch::I386, 335, "6.18"), "rt_tgsigqueueinfo");
  EXPECT_EQ(syscall_name(Arch::I386, 336, "6.18"), "perf_event_open");
}

TEST(KernelProfile, Names) {
  EXPECT_EQ(syscall_number(Arch::X86_64, "read"), 0);
  EXPECT_EQ(syscall_number(Arch::X86_64, "execve"), 59);
  EXPECT_EQ(syscall_number(Arch::X86_64, "ioctl"), 16);
  EXPECT_EQ(syscall_number(Arch::I386, "execve"), 11);
  EXPECT_EQ(syscall_number(Arch::I386, "read"), 3);
  EXPECT_EQ(syscall_number(Arch::X32, "read"), kX32 | 0);
  EXPECT_EQ(syscall_number(Arch::X32, "ioctl"), kX32 | 514);  // not the 64-only 16
  EXPECT_EQ(syscall_number(Arch::X32, "execve"), kX32 | 520);
  EXPECT_EQ(syscall_number(Arch::X32, "uselib"), std::nullopt);  // 64-only, no x32 entry

  EXPECT_EQ(syscall_name(Arch::X86_64, 0), "read");
  EXPECT_EQ(syscall_name(Arch::X86_64, 59), "execve");
  EXPECT_EQ(syscall_name(Arch::I386, 11), "execve");
  EXPECT_EQ(syscall_name(Arch::X32, kX32 | 514), "ioctl");
  EXPECT_EQ(syscall_name(Arch::X32, kX32 | 0), "read");
  EXPECT_EQ(syscall_name(Arch::X32, kX32 | 16), std::nullopt);  // 64-only number
  EXPECT_EQ(syscall_name(Arch::X32, 0), std::nullopt);          // no x32 bit
  EXPECT_EQ(syscall_name(Arch::X86_64, 514), std::nullopt);     // x32-only number
  EXPECT_EQ(syscall_name(Arch::X86_64, kX32 | 0), std::nullopt);

  // 6.18 additions, absent before.
  for (const char* name : {"setxattrat", "getxattrat", "listxattrat", "removexattrat",
                           "open_tree_attr", "file_getattr", "file_setattr"}) {
    EXPECT_TRUE(syscall_number(Arch::X86_64, name, "6.18").has_value()) << name;
    EXPECT_TRUE(syscall_number(Arch::I386, name, "6.18").has_value()) << name;
    EXPECT_FALSE(syscall_number(Arch::X86_64, name, "6.12").has_value()) << name;
  }
  EXPECT_EQ(syscall_number(Arch::X86_64, "file_setattr", "6.18"), 469);
  EXPECT_EQ(syscall_number(Arch::X86_64, "mseal", "6.1"), std::nullopt);
  EXPECT_EQ(syscall_number(Arch::X86_64, "mseal", "6.12"), 462);
}

TEST(KernelProfile, UnknownNamesNumbersAndKernels) {
  EXPECT_EQ(syscall_number(Arch::X86_64, "no_such_syscall"), std::nullopt);
  EXPECT_EQ(syscall_number(Arch::X86_64, ""), std::nullopt);
  EXPECT_EQ(syscall_number(Arch::X86_64, "READ"), std::nullopt);  // names are exact
  EXPECT_EQ(syscall_number(Arch::I386, "arch_specific_nope"), std::nullopt);
  EXPECT_EQ(syscall_name(Arch::X86_64, -1), std::nullopt);
  EXPECT_EQ(syscall_name(Arch::X86_64, 400), std::nullopt);  // hole 387..423
  EXPECT_EQ(syscall_name(Arch::X86_64, profile("6.18").native_nr), std::nullopt);
  EXPECT_EQ(syscall_name(Arch::I386, 222), std::nullopt);  // "222 is unused"
  EXPECT_EQ(syscall_name(Arch::I386, int64_t{1} << 40), std::nullopt);
  EXPECT_EQ(syscall_name(Arch::X86_64, 0, "4.19"), std::nullopt);
  EXPECT_EQ(syscall_number(Arch::X86_64, "read", "4.19"), std::nullopt);
}

TEST(Arch, NamesAndAuditArch) {
  EXPECT_EQ(arch_name(Arch::X86_64), "x86_64");
  EXPECT_EQ(arch_name(Arch::I386), "i386");
  EXPECT_EQ(arch_name(Arch::X32), "x32");
  EXPECT_EQ(parse_arch("x86_64"), Arch::X86_64);
  EXPECT_EQ(parse_arch("amd64"), Arch::X86_64);
  EXPECT_EQ(parse_arch("i386"), Arch::I386);
  EXPECT_EQ(parse_arch("x86"), Arch::I386);
  EXPECT_EQ(parse_arch("ia32"), Arch::I386);
  EXPECT_EQ(parse_arch("x32"), Arch::X32);
  EXPECT_EQ(parse_arch("X86_64"), Arch::X86_64);
  EXPECT_EQ(parse_arch("arm64"), std::nullopt);
  EXPECT_EQ(parse_arch(""), std::nullopt);
  EXPECT_EQ(audit_arch(Arch::X86_64), AUDIT_ARCH_X86_64);
  EXPECT_EQ(audit_arch(Arch::X32), AUDIT_ARCH_X86_64);
  EXPECT_EQ(audit_arch(Arch::I386), AUDIT_ARCH_I386);
}

// --- struct seccomp_data as the x86_64 kernel fills it ---

struct SdCase {
  const char* what;
  Arch arch;
  int64_t reg;         // the nr register as user space set it
  uint32_t want_nr;    // the nr word a BPF_LD|W|ABS #0 reads
  uint32_t want_arch;
  Arch want_arch_of;
};

TEST(SeccompData, NrAndArch) {
  const SdCase cases[] = {
      {"read", Arch::X86_64, 0, 0, AUDIT_ARCH_X86_64, Arch::X86_64},
      {"getppid", Arch::X86_64, 110, 110, AUDIT_ARCH_X86_64, Arch::X86_64},
      {"64-bit nr truncated", Arch::X86_64, 0x1'0000'006eLL, 110, AUDIT_ARCH_X86_64, Arch::X86_64},
      {"-1", Arch::X86_64, -1, 0xffffffffu, AUDIT_ARCH_X86_64, Arch::X32},  // bit 30 is set
      {"raw x32 nr via x86_64", Arch::X86_64, 0x40000027, 0x40000027, AUDIT_ARCH_X86_64, Arch::X32},
      {"i386 getpid", Arch::I386, 20, 20, AUDIT_ARCH_I386, Arch::I386},
      {"i386 truncated", Arch::I386, 0x1'0000'0014LL, 20, AUDIT_ARCH_I386, Arch::I386},
      {"i386 -1", Arch::I386, -1, 0xffffffffu, AUDIT_ARCH_I386, Arch::I386},
      {"x32 read", Arch::X32, 0, 0x40000000u, AUDIT_ARCH_X86_64, Arch::X32},
      {"x32 ioctl", Arch::X32, 514, 0x40000000u | 514, AUDIT_ARCH_X86_64, Arch::X32},
      {"x32 bit kept", Arch::X32, 0x40000000 | 514, 0x40000000u | 514, AUDIT_ARCH_X86_64, Arch::X32},
      {"x32 truncated", Arch::X32, 0x1'4000'0027LL, 0x40000027u, AUDIT_ARCH_X86_64, Arch::X32},
  };
  const uint64_t args[6] = {1, 2, 3, 4, 5, 6};
  for (const SdCase& c : cases) {
    SCOPED_TRACE(c.what);
    const SeccompData sd = make_seccomp_data(c.arch, c.reg, args, 0x401000);
    EXPECT_EQ(sd.word(SD_OFF_NR), c.want_nr);
    EXPECT_EQ(sd.nr, static_cast<int32_t>(c.want_nr));
    EXPECT_EQ(sd.word(SD_OFF_ARCH), c.want_arch);
    EXPECT_EQ(arch_of(sd), c.want_arch_of);
  }
}

TEST(SeccompData, ArgsAndIp) {
  // int $0x80 from a 64-bit task: rbx = 0x0000012300000456 reaches the filter
  // with args[0] high word 0x123, low word 0x456.
  const uint64_t args[6] = {0x0000012300000456ull, 0xffffffffffffffffull, 0, 1, 2,
                            0x8000000000000000ull};
  for (Arch a : {Arch::X86_64, Arch::I386, Arch::X32}) {
    SCOPED_TRACE(arch_name(a));
    const SeccompData sd = make_seccomp_data(a, 1, args, 0x7fff'1234'5678ull);
    for (int i = 0; i < 6; i++) EXPECT_EQ(sd.args[i], args[i]) << i;
    EXPECT_EQ(sd.word(SD_OFF_ARGS), 0x456u);
    EXPECT_EQ(sd.word(SD_OFF_ARGS + 4), 0x123u);
    EXPECT_EQ(sd.word(SD_OFF_ARGS + 8 * 5 + 4), 0x80000000u);
    EXPECT_EQ(sd.instruction_pointer, 0x7fff'1234'5678ull);
    EXPECT_EQ(sd.word(SD_OFF_IP), 0x12345678u);
    EXPECT_EQ(sd.word(SD_OFF_IP + 4), 0x7fffu);
  }
}

TEST(SeccompData, ArchOfForeignArch) {
  SeccompData sd;
  sd.arch = 0xc00000b7;  // AUDIT_ARCH_AARCH64: not an x86_64 entry path
  sd.nr = 0x40000000;
  EXPECT_EQ(arch_of(sd), Arch::X86_64);
}

TEST(ParseSyscall, NumbersAndNames) {
  EXPECT_EQ(parse_syscall(Arch::X86_64, "0"), 0);
  EXPECT_EQ(parse_syscall(Arch::X86_64, "59"), 59);
  EXPECT_EQ(parse_syscall(Arch::X86_64, "0x6e"), 110);
  EXPECT_EQ(parse_syscall(Arch::X86_64, "0X6E"), 110);
  EXPECT_EQ(parse_syscall(Arch::X86_64, "0x10000006e"), 0x1'0000'006eLL);
  EXPECT_EQ(parse_syscall(Arch::X86_64, "-1"), -1);
  EXPECT_EQ(parse_syscall(Arch::X86_64, "+5"), 5);
  EXPECT_EQ(parse_syscall(Arch::X86_64, "-0x10"), -16);
  EXPECT_EQ(parse_syscall(Arch::X86_64, "0xffffffffffffffff"), -1);
  EXPECT_EQ(parse_syscall(Arch::X86_64, "-9223372036854775808"), INT64_MIN);
  EXPECT_EQ(parse_syscall(Arch::X86_64, "execve"), 59);
  EXPECT_EQ(parse_syscall(Arch::I386, "execve"), 11);
  EXPECT_EQ(parse_syscall(Arch::X32, "ioctl"), kX32 | 514);
  EXPECT_EQ(parse_syscall(Arch::X86_64, "uprobe", "6.18"), 336);

  const uint64_t args[6] = {};
  EXPECT_EQ(make_seccomp_data(Arch::X32, parse_syscall(Arch::X32, "ioctl"), args, 0).nr,
            kX32 | 514);
}

std::string error_of(Arch a, std::string_view text, std::string_view kernel = {}) {
  try {
    parse_syscall(a, text, kernel);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no exception)";
}

TEST(ParseSyscall, Errors) {
  EXPECT_EQ(error_of(Arch::X86_64, "no_such_call"),
            "unknown syscall 'no_such_call' for x86_64 (kernel 6.18)");
  EXPECT_EQ(error_of(Arch::X86_64, "uprobe", "6.12"),
            "unknown syscall 'uprobe' for x86_64 (kernel 6.12)");
  EXPECT_EQ(error_of(Arch::X32, "uselib"), "unknown syscall 'uselib' for x32 (kernel 6.18)");
  EXPECT_EQ(error_of(Arch::I386, "read", "4.19"),
            "unknown syscall 'read' for i386 (unknown kernel '4.19')");
  EXPECT_EQ(error_of(Arch::X86_64, ""), "empty syscall");
  EXPECT_EQ(error_of(Arch::X86_64, "12ab"), "bad syscall number '12ab'");
  EXPECT_EQ(error_of(Arch::X86_64, "0x"), "bad syscall number '0x'");
  EXPECT_EQ(error_of(Arch::X86_64, "-"), "bad syscall number '-'");
  EXPECT_EQ(error_of(Arch::X86_64, "0x10000000000000000"),
            "bad syscall number '0x10000000000000000'");
  EXPECT_EQ(error_of(Arch::X86_64, "-9223372036854775809"),
            "syscall number '-9223372036854775809' out of range");
}

}  // namespace
}  // namespace secdiff
