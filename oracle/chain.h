// Evaluation of a filter chain: seccomp_run_filters (newest to oldest, lowest
// signed ACTION_ONLY wins, ties keep the newer filter) and the action the task
// then takes (__seccomp_filter).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "oracle/interpreter.h"
#include "oracle/seccomp_abi.h"
#include "oracle/validator.h"

namespace secdiff {

class CacheModel;

struct RunResult {
  uint32_t ret = SECCOMP_RET_ALLOW;  // the combined filter return value
  int match = -1;                    // index (oldest = 0) of the filter that produced it; -1 = none
  bool cache_hit = false;            // the cache model answered ALLOW without running filters
};

// seccomp_run_filters(): runs every filter (no short-circuit). With an empty
// chain returns ALLOW (the kernel would not call it).
RunResult seccomp_run_filters(const FilterChain& chain, const SeccompData& sd);
// Same, with the cache lookup first (seccomp_cache_check_allow) through `cache`.
RunResult seccomp_run_filters(const FilterChain& chain, const SeccompData& sd, CacheModel& cache);
// With a trace per filter (index = filter index).
RunResult seccomp_run_filters_traced(const FilterChain& chain, const SeccompData& sd,
                                     std::vector<Trace>* traces);

// Actions, by the value of ret & SECCOMP_RET_ACTION_FULL.
enum class Action { KillProcess, KillThread, Trap, Errno, UserNotif, Trace, Log, Allow };
// Kernel names without the SECCOMP_RET_ prefix ("KILL_PROCESS", "ERRNO", ...).
const char* action_name(Action a);
std::optional<Action> parse_action(std::string_view name);
// The action __seccomp_filter takes for `ret` (unknown actions -> KillProcess).
Action action_of(uint32_t ret);
// True if ret's action field is one of the eight known values.
bool is_known_action(uint32_t ret);
// Formats a return value like "ERRNO(1)", "ALLOW", "TRACE(0x10)", "0x10000000 (unknown: KILL_PROCESS)".
std::string format_ret(uint32_t ret);

// What the task around the filter has, which changes what an action does.
struct TaskEnv {
  bool tracer = false;          // a ptrace tracer with PTRACE_O_TRACESECCOMP
  bool sigsys_handler = true;   // SIGSYS caught and not blocked
  bool other_threads = false;   // KILL_THREAD kills only the thread if true
};

// What the task observes after one syscall that reached seccomp.
struct Observation {
  Action action = Action::Allow;  // the action taken (unknown -> KILL_PROCESS)
  uint32_t ret = SECCOMP_RET_ALLOW;
  uint16_t data = 0;
  bool dispatched = false;        // the syscall itself ran (ALLOW, LOG)
  bool returns = false;           // the syscall instruction returns to the task
  int64_t retval = 0;             // register value it returns when returns && !dispatched
  bool signal = false;            // a signal is delivered
  int signo = 0;                  // SIGSYS (31)
  // siginfo for TRAP (and for the SIGSYS of a kill, as force_sig_seccomp fills it)
  int sig_code = 0;                // SYS_SECCOMP (1)
  int sig_errno = 0;               // data, not clamped
  int32_t sig_syscall = 0;
  uint32_t sig_arch = 0;
  uint64_t sig_call_addr = 0;      // instruction pointer (address after the syscall insn)
  bool killed = false;            // the task (thread or process) dies of SIGSYS
  bool whole_process = false;     // KILL_PROCESS (or last thread)
  bool strict_kill = false;       // killed in strict mode: SIGKILL, not SIGSYS
  bool ptrace_event = false;      // PTRACE_EVENT_SECCOMP stop; msg = data
  uint32_t ptrace_msg = 0;
  bool notify = false;            // USER_NOTIF sent to the listener of filter `match`
  bool audit_logged = false;      // seccomp_log with default actions_logged
};

// __seccomp_filter's action for `r` given the chain (for listener/log flags).
Observation observe(const FilterChain& chain, const RunResult& r, const SeccompData& sd,
                    const TaskEnv& env = {});

}  // namespace secdiff
