// A test case: a filter chain (each filter with its install flags), the task
// it runs in, and a list of syscalls to issue. Shared by the VM runner, the
// fuzzers and the minimizer. Pure data; JSON case files live in host/case_file.h
// and the compact fuzzer encoding in oracle/case_codec.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "oracle/bpf.h"
#include "oracle/chain.h"
#include "oracle/kernel_profile.h"
#include "oracle/seccomp_abi.h"

namespace secdiff {

struct CaseFilter {
  Program prog;
  uint32_t flags = 0;  // SECCOMP_FILTER_FLAG_*
  friend bool operator==(const CaseFilter&, const CaseFilter&) = default;
};

struct CaseInput {
  Arch arch = Arch::X86_64;  // syscall, int $0x80, or x32 (nr | X32_SYSCALL_BIT)
  int64_t nr = 0;            // the register value (the kernel truncates it)
  uint64_t args[6] = {};
  std::optional<uint64_t> ip;  // requested instruction_pointer (address after the insn)
  friend bool operator==(const CaseInput&, const CaseInput&) = default;
};

// The task the filters are installed in.
struct CaseTask {
  bool no_new_privs = true;
  bool tracer = false;        // a ptrace tracer with PTRACE_O_TRACESECCOMP (TRACE events)
  bool other_threads = false; // run the syscalls in a second thread (KILL_THREAD vs PROCESS)
  bool sigsys_handler = true; // TRAP delivers to a handler rather than killing
  friend bool operator==(const CaseTask&, const CaseTask&) = default;
};

struct Case {
  std::string name;
  CaseTask task;
  std::vector<CaseFilter> filters;  // first installed first
  std::vector<CaseInput> inputs;
  friend bool operator==(const Case&, const Case&) = default;
};

// The seccomp_data the kernel builds for an input (ip defaults to `default_ip`).
SeccompData case_seccomp_data(const CaseInput& in, uint64_t default_ip = 0);
// The value the task puts in rax for this input: nr as given (x32: | X32_SYSCALL_BIT).
uint64_t case_register_nr(const CaseInput& in);
// observe() for one input of a case: as observe(), but after a SIGSYS handler
// rax is the register the task used (syscall_rollback() restores orig_ax in
// full; seccomp_data.nr only holds its low 32 bits).
Observation observe_input(const FilterChain& chain, const RunResult& r, const CaseInput& in, const SeccompData& sd,
                          const TaskEnv& env);

// What the oracle predicts for a case.
struct CasePrediction {
  std::vector<LoadResult> installs;   // per filter
  FilterChain chain;                  // the filters that loaded
  std::vector<RunResult> runs;        // per input
  std::vector<Observation> observations;
};
CasePrediction predict_case(const Case& c, const LoadEnv& env = {}, uint64_t default_ip = 0);

}  // namespace secdiff
