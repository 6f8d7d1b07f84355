// How well the mainline action cache (oracle/cache/linux.h) does on real
// filters: per cache arch, the syscalls it caches, the truly constant-ALLOW
// ones (oracle/cache/exact.h), those it loses and why (the first instruction
// seccomp_is_const_allow could not follow), and those it caches although they
// are not constant (only the uprobe/uretprobe exceptions should be).
#pragma once

#include <string>
#include <vector>

#include "oracle/cache/cache_model.h"
#include "oracle/validator.h"

namespace secdiff::corpus {

struct LostGroup {
  int filter = 0;           // index in the chain
  int pc = -1;              // first instruction the emulator could not follow (-1: a non-ALLOW RET)
  std::string insn;         // its disassembly
  bool unsupported = false;  // an instruction the emulator cannot emulate
  std::vector<std::string> syscalls;  // names (or numbers)
};

struct ReportRow {
  std::string profile;
  std::string arch;  // "x86_64" / "ia32"
  int size = 0;      // bitmap size
  int linux_cached = 0;
  int exact_allow = 0;
  int lost = 0;
  std::vector<LostGroup> lost_groups;
  std::vector<std::string> extra;      // cached but not constant, non-exception (a bug)
  std::vector<std::string> exceptions;  // cached but not constant: uprobe/uretprobe exceptions
};

// One row per cache arch for `chain` (named `profile`).
std::vector<ReportRow> report_chain(const std::string& profile, const FilterChain& chain,
                                    const KernelProfile& kp);

// A markdown document: title, kernel, date, the table, and the lost details.
std::string format_report_markdown(const std::vector<ReportRow>& rows, const KernelProfile& kp,
                                   const std::string& date, const std::string& libseccomp);
// Only the table (also printed by the CLI).
std::string format_report_table(const std::vector<ReportRow>& rows);

}  // namespace secdiff::corpus
