#include "oracle/chain.h"

#include <cerrno>
#include <csignal>
#include <cstdio>

#include "oracle/cache/cache_model.h"

namespace secdiff {

namespace {

// kernel/seccomp.c: seccomp_run_filters() after the cache lookup.
inline RunResult run_all(const std::vector<Filter>& fs, const SeccompData& sd) {
  RunResult r;
  for (size_t i = fs.size(); i-- > 0;) {  // newest to oldest
    const uint32_t cur = bpf_run(fs[i].insns, sd);
    if (ACTION_ONLY(cur) < ACTION_ONLY(r.ret)) {
      r.ret = cur;
      r.match = static_cast<int>(i);
    }
  }
  return r;
}

}  // namespace

RunResult seccomp_run_filters(const FilterChain& chain, const SeccompData& sd) {
  return run_all(chain.filters(), sd);
}

RunResult seccomp_run_filters(const FilterChain& chain, const SeccompData& sd, CacheModel& cache) {
  if (chain.empty()) return {};
  // seccomp_cache_check_allow(): a hit returns ALLOW with match == NULL.
  if (cache.lookup(sd)) {
    RunResult r;
    r.cache_hit = true;
    return r;
  }
  RunResult r = run_all(chain.filters(), sd);
  cache.after_run(sd, r.ret);
  return r;
}

RunResult seccomp_run_filters_traced(const FilterChain& chain, const SeccompData& sd,
                                     std::vector<Trace>* traces) {
  const auto& fs = chain.filters();
  traces->assign(fs.size(), Trace{});
  RunResult r;
  for (size_t i = fs.size(); i-- > 0;) {
    const uint32_t cur = bpf_run_traced(fs[i].insns, sd, &(*traces)[i]);
    if (ACTION_ONLY(cur) < ACTION_ONLY(r.ret)) {
      r.ret = cur;
      r.match = static_cast<int>(i);
    }
  }
  return r;
}

const char* action_name(Action a) {
  switch (a) {
    case Action::KillProcess: return "KILL_PROCESS";
    case Action::KillThread: return "KILL_THREAD";
    case Action::Trap: return "TRAP";
    case Action::Errno: return "ERRNO";
    case Action::UserNotif: return "USER_NOTIF";
    case Action::Trace: return "TRACE";
    case Action::Log: return "LOG";
    case Action::Allow: return "ALLOW";
  }
  return "?";
}

std::optional<Action> parse_action(std::string_view s) {
  if (s.substr(0, 12) == "SECCOMP_RET_") s.remove_prefix(12);
  for (Action a : {Action::KillProcess, Action::KillThread, Action::Trap, Action::Errno,
                   Action::UserNotif, Action::Trace, Action::Log, Action::Allow})
    if (s == action_name(a)) return a;
  if (s == "KILL") return Action::KillThread;  // SECCOMP_RET_KILL
  return std::nullopt;
}

bool is_known_action(uint32_t ret) {
  switch (ret & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_KILL_PROCESS: case SECCOMP_RET_KILL_THREAD: case SECCOMP_RET_TRAP:
    case SECCOMP_RET_ERRNO: case SECCOMP_RET_USER_NOTIF: case SECCOMP_RET_TRACE:
    case SECCOMP_RET_LOG: case SECCOMP_RET_ALLOW:
      return true;
    default:
      return false;
  }
}

// kernel/seccomp.c: __seccomp_filter()'s switch on action (unknown -> default: kill process).
Action action_of(uint32_t ret) {
  switch (ret & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_KILL_THREAD: return Action::KillThread;
    case SECCOMP_RET_TRAP: return Action::Trap;
    case SECCOMP_RET_ERRNO: return Action::Errno;
    case SECCOMP_RET_USER_NOTIF: return Action::UserNotif;
    case SECCOMP_RET_TRACE: return Action::Trace;
    case SECCOMP_RET_LOG: return Action::Log;
    case SECCOMP_RET_ALLOW: return Action::Allow;
    default: return Action::KillProcess;
  }
}

std::string format_ret(uint32_t ret) {
  char buf[64];
  const uint32_t data = ret & SECCOMP_RET_DATA;
  if (!is_known_action(ret)) {
    std::snprintf(buf, sizeof buf, "0x%08x (unknown action: KILL_PROCESS)", ret);
    return buf;
  }
  const Action a = action_of(ret);
  if (a == Action::Errno)
    std::snprintf(buf, sizeof buf, "ERRNO(%u)", data);
  else if (data == 0)
    std::snprintf(buf, sizeof buf, "%s", action_name(a));
  else
    std::snprintf(buf, sizeof buf, "%s(0x%x)", action_name(a), data);
  return buf;
}

Observation observe(const FilterChain& chain, const RunResult& r, const SeccompData& sd,
                    const TaskEnv& env) {
  Observation o;
  o.ret = r.ret;
  o.action = action_of(r.ret);
  o.data = static_cast<uint16_t>(r.ret & SECCOMP_RET_DATA);
  const Filter* match = r.match >= 0 ? &chain.filters()[r.match] : nullptr;
  const bool requested = match && match->log();  // filter->log (SECCOMP_FILTER_FLAG_LOG)
  auto sigsys_info = [&] {
    // force_sig_seccomp(): si_code SYS_SECCOMP, sig_errno = data (not clamped).
    o.signo = SIGSYS;
    o.sig_code = 1;
    o.sig_errno = o.data;
    o.sig_syscall = sd.nr;
    o.sig_arch = sd.arch;
    o.sig_call_addr = sd.instruction_pointer;
  };
  switch (o.action) {
    case Action::Errno: {
      unsigned data = o.data;
      if (data > MAX_ERRNO) data = MAX_ERRNO;
      o.returns = true;
      o.retval = -static_cast<int64_t>(data);  // 0 when data == 0: the call "succeeds"
      o.audit_logged = requested;
      break;
    }
    case Action::Trap:
      sigsys_info();
      o.signal = true;
      o.audit_logged = requested;
      if (env.sigsys_handler) {
        // syscall_rollback(): rax = orig_ax after the handler returns. For int $0x80
        // that is the zero-extended 32-bit eax; for `syscall` the full rax, whose
        // high half the filter never sees: sign-extended here, observe_input()
        // (oracle/case.h) puts in the register the task really used.
        o.returns = true;
        o.retval = sd.arch == AUDIT_ARCH_I386 ? static_cast<int64_t>(static_cast<uint32_t>(sd.nr))
                                              : static_cast<int64_t>(sd.nr);
      } else {
        o.killed = true;  // blocked/ignored SIGSYS is reset to SIG_DFL: core dump
        o.whole_process = true;
      }
      break;
    case Action::Trace:
      if (!env.tracer) {
        o.returns = true;
        o.retval = -ENOSYS;
        o.audit_logged = requested;
      } else {
        // ptrace_event(PTRACE_EVENT_SECCOMP, data); a passive tracer resumes and the
        // re-check (recheck_after_trace) lets the unchanged syscall run.
        o.ptrace_event = true;
        o.ptrace_msg = o.data;
        o.dispatched = true;
        o.returns = true;
      }
      break;
    case Action::UserNotif:
      if (match && match->has_listener()) {
        o.notify = true;  // the task waits for the supervisor's reply
      } else {
        o.returns = true;
        o.retval = -ENOSYS;
        o.audit_logged = requested;
      }
      break;
    case Action::Log:
      o.dispatched = true;
      o.returns = true;
      o.audit_logged = true;
      break;
    case Action::Allow:
      o.dispatched = true;
      o.returns = true;
      break;
    case Action::KillThread:
    case Action::KillProcess:
      // The coredump siginfo is the same force_sig_seccomp() one; KILL_THREAD of
      // the last live thread kills the process too.
      sigsys_info();
      o.signal = true;
      o.killed = true;
      o.whole_process = o.action == Action::KillProcess || !env.other_threads;
      o.audit_logged = true;
      break;
  }
  return o;
}

}  // namespace secdiff
