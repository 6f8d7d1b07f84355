// Load-time validation of seccomp filters, in kernel order:
//   seccomp_set_mode_filter -> seccomp_prepare_filter -> bpf_prog_create_from_user
//   -> bpf_prepare_filter -> bpf_check_classic (+ check_load_and_stores)
//   -> seccomp_check_filter -> bpf_convert_filter (eBPF length)
//   -> seccomp_attach_filter (MAX_INSNS_PER_PATH).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "oracle/bpf.h"

namespace secdiff {

// Which kernel rule rejected a filter.
enum class Rule {
  None,
  FlagsUnknown,        // seccomp_set_mode_filter: flags & ~SECCOMP_FILTER_FLAG_MASK
  FlagsTsyncListener,  // seccomp_set_mode_filter: TSYNC|NEW_LISTENER without TSYNC_ESRCH
  FlagsKillableRecv,   // seccomp_set_mode_filter: WAIT_KILLABLE_RECV without NEW_LISTENER
  Length,              // seccomp_prepare_filter: len == 0 || len > BPF_MAXINSNS
  Privilege,           // seccomp_prepare_filter: no NNP and no CAP_SYS_ADMIN
  OpcodeUnknown,       // bpf_check_classic: chk_code_allowed
  DivByZero,           // bpf_check_classic: DIV/MOD K with k == 0
  ShiftTooLarge,       // bpf_check_classic: LSH/RSH K with k >= 32
  MemIndex,            // bpf_check_classic: M[k] with k >= BPF_MEMWORDS
  JaOutOfRange,        // bpf_check_classic: JA k >= flen - pc - 1
  JumpOutOfRange,      // bpf_check_classic: pc + jt/jf + 1 >= flen
  AncillaryUnknown,    // bpf_check_classic: LD ABS k >= SKF_AD_OFF, not an ancillary load
  LastNotRet,          // bpf_check_classic: last instruction is not RET
  LoadBeforeStore,     // check_load_and_stores: M[k] read before written
  SeccompOpcode,       // seccomp_check_filter: opcode not in the seccomp allow-list
  AbsOffset,           // seccomp_check_filter: LD W ABS k >= 64 or k & 3
  ChainTooLong,        // seccomp_attach_filter: total insns > MAX_INSNS_PER_PATH
  DuplicateListener,   // seccomp_set_mode_filter: has_duplicate_listener
};

const char* rule_name(Rule r);             // short stable id, e.g. "abs-offset"
const char* rule_kernel_function(Rule r);  // e.g. "seccomp_check_filter"

// Conditions of the installing task.
struct LoadEnv {
  bool no_new_privs = true;
  bool cap_sys_admin = false;
  // JIT constant blinding (bpf_jit_harden = 2, or = 1 for a task without
  // CAP_BPF/CAP_SYS_ADMIN, with the JIT enabled) changes eBPF lengths.
  bool jit_blinding = false;
};

// jit_blinding as bpf_jit_blinding_enabled() decides it.
bool jit_blinding_enabled(bool jit_enabled, int bpf_jit_harden, bool cap_bpf);

struct LoadResult {
  int err = 0;          // 0 or a positive errno value (EINVAL, EACCES, ENOMEM, EBUSY)
  Rule rule = Rule::None;
  int insn = -1;        // offending instruction index, -1 if not about one
  std::string reason;   // one line, human readable
  bool ok() const { return err == 0; }
};

// A filter as the kernel holds it after a successful load.
struct Filter {
  Program orig;         // prog->orig_prog: the user's instructions (cache emulator input)
  Program insns;        // after seccomp_check_filter's rewrites (what runs)
  uint32_t flags = 0;   // SECCOMP_FILTER_FLAG_*
  unsigned ebpf_len = 0;  // prog->len after bpf_convert_filter (and blinding)
  bool has_listener() const;
  bool log() const;
};

// bpf_check_classic(), including check_load_and_stores(). Returns 0 or EINVAL.
LoadResult bpf_check_classic(const Program& p);
// check_load_and_stores() alone (linear data flow over M[], with its quirks).
LoadResult check_load_and_stores(const Program& p);
// seccomp_check_filter(): validates and rewrites `p` in place
// (LD|W|ABS -> LDX|W|ABS, LD/LDX|W|LEN -> IMM 64).
LoadResult seccomp_check_filter(Program& p);
// Length of the eBPF program bpf_convert_filter() produces for a filter that
// passed seccomp_check_filter (already rewritten), with optional blinding.
unsigned bpf_convert_filter_len(const Program& rewritten, bool blinding);

// Everything from seccomp_set_mode_filter's flag checks to seccomp_check_filter
// and conversion, for one filter on its own (no chain checks).
LoadResult seccomp_prepare_filter(const Program& p, uint32_t flags, const LoadEnv& env,
                                  Filter* out);

// A task's filter chain, oldest first, and the install of a new filter on it.
class FilterChain {
 public:
  // Installs like seccomp(SECCOMP_SET_MODE_FILTER, flags, prog): on success the
  // filter is attached (newest); on failure the chain is unchanged.
  LoadResult install(const Program& p, uint32_t flags = 0, const LoadEnv& env = {});
  // Attaches an already prepared filter (runs only the attach-time checks).
  LoadResult attach(Filter f);

  const std::vector<Filter>& filters() const { return filters_; }  // oldest first
  size_t size() const { return filters_.size(); }
  bool empty() const { return filters_.empty(); }
  // Sum that seccomp_attach_filter compares with MAX_INSNS_PER_PATH for a new filter of len n.
  unsigned path_insns_with(unsigned new_ebpf_len) const;

 private:
  std::vector<Filter> filters_;
};

}  // namespace secdiff
