#include "oracle/evaluator.h"

namespace secdiff {

ChainEvaluator::ChainEvaluator(const FilterChain& chain) {
  for (const Filter& f : chain.filters()) {
    PerFilter pf;
    pf.insns = &f.insns;
    pf.table.assign(3 * kSlots, Entry{});
    filters_.push_back(std::move(pf));
  }
}

uint32_t ChainEvaluator::run_one(PerFilter& f, const SeccompData& sd) {
  int slot = -1;
  const uint32_t nr = static_cast<uint32_t>(sd.nr);
  if (sd.arch == AUDIT_ARCH_X86_64) {
    if (nr < kSlots)
      slot = static_cast<int>(nr);
    else if (nr - X32_SYSCALL_BIT < kSlots)
      slot = 2 * kSlots + static_cast<int>(nr - X32_SYSCALL_BIT);
  } else if (sd.arch == AUDIT_ARCH_I386 && nr < kSlots) {
    slot = kSlots + static_cast<int>(nr);
  }
  if (slot < 0) return bpf_run(*f.insns, sd);
  Entry& e = f.table[slot];
  if (e.kind == 1) return e.value;
  if (e.kind == 2) return bpf_run_from(*f.insns, sd, f.states[e.value]);
  BpfState st;
  const uint32_t ret = bpf_run_prefix(*f.insns, sd, &st);
  if (!st.stopped) {
    e.kind = 1;
    e.value = ret;
    return ret;
  }
  e.kind = 2;
  e.value = static_cast<uint32_t>(f.states.size());
  f.states.push_back(st);
  return bpf_run_from(*f.insns, sd, st);
}

RunResult ChainEvaluator::run(const SeccompData& sd) {
  // kernel/seccomp.c: seccomp_run_filters(), newest to oldest, strict <.
  RunResult r;
  for (size_t i = filters_.size(); i-- > 0;) {
    const uint32_t cur = run_one(filters_[i], sd);
    if (ACTION_ONLY(cur) < ACTION_ONLY(r.ret)) {
      r.ret = cur;
      r.match = static_cast<int>(i);
    }
  }
  return r;
}

}  // namespace secdiff
