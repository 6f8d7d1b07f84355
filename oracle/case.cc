#include "oracle/case.h"

#include "oracle/seccomp_data.h"
#include "oracle/strict_mode.h"

namespace secdiff {

SeccompData case_seccomp_data(const CaseInput& in, uint64_t default_ip) {
  return make_seccomp_data(in.arch, in.nr, in.args, in.ip.value_or(default_ip));
}

uint64_t case_register_nr(const CaseInput& in) {
  uint64_t rax = static_cast<uint64_t>(in.nr);
  if (in.arch == Arch::X32) rax |= X32_SYSCALL_BIT;
  return rax;
}

Observation observe_input(const FilterChain& chain, const RunResult& r, const CaseInput& in, const SeccompData& sd,
                          const TaskEnv& env) {
  Observation o = observe(chain, r, sd, env);
  // syscall_rollback(): regs->ax = regs->orig_ax. int $0x80 entry zero-extends
  // eax into orig_ax; the syscall instruction keeps all 64 bits.
  if (o.action == Action::Trap && o.returns)
    o.retval = in.arch == Arch::I386 ? static_cast<int64_t>(static_cast<uint32_t>(case_register_nr(in)))
                                     : static_cast<int64_t>(case_register_nr(in));
  return o;
}

CasePrediction predict_case(const Case& c, const LoadEnv& env, uint64_t default_ip) {
  CasePrediction p;
  LoadEnv e = env;
  e.no_new_privs = c.task.no_new_privs;
  for (const CaseFilter& f : c.filters) p.installs.push_back(p.chain.install(f.prog, f.flags, e));
  TaskEnv te;
  te.tracer = c.task.tracer;
  te.other_threads = c.task.other_threads;
  te.sigsys_handler = c.task.sigsys_handler;
  bool strict = false;  // an earlier input entered SECCOMP_MODE_STRICT
  for (const CaseInput& in : c.inputs) {
    const SeccompData sd = case_seccomp_data(in, default_ip);
    RunResult r = p.chain.empty() ? RunResult{} : seccomp_run_filters(p.chain, sd);
    if (strict) {
      p.observations.push_back(strict_mode_observe(in, te));
    } else {
      p.observations.push_back(p.chain.empty() ? Observation{} : observe_input(p.chain, r, in, sd, te));
      if (p.chain.empty()) {
        p.observations.back().dispatched = true;
        p.observations.back().returns = true;
        strict = requests_strict_mode(in, true);
      }
    }
    p.runs.push_back(r);
    if (p.observations.back().killed) strict = false;  // the task is gone
  }
  return p;
}

}  // namespace secdiff
