#include "oracle/case.h"

#include "oracle/seccomp_data.h"

namespace secdiff {

SeccompData case_seccomp_data(const CaseInput& in, uint64_t default_ip) {
  return make_seccomp_data(in.arch, in.nr, in.args, in.ip.value_or(default_ip));
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
  for (const CaseInput& in : c.inputs) {
    const SeccompData sd = case_seccomp_data(in, default_ip);
    RunResult r = p.chain.empty() ? RunResult{} : seccomp_run_filters(p.chain, sd);
    p.observations.push_back(p.chain.empty() ? Observation{} : observe(p.chain, r, sd, te));
    if (p.chain.empty()) {
      p.observations.back().dispatched = true;
      p.observations.back().returns = true;
    }
    p.runs.push_back(r);
  }
  return p;
}

}  // namespace secdiff
