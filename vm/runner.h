// The differential runner: runs cases on a real kernel (a Backend) and
// compares what the kernel did with what the oracle predicts.
//
// Properties compared (Mismatch::property):
//   install-result  seccomp() return and errno of each filter install
//   action          how the syscall ended: returned / SIGSYS handler / killed
//                   (thread vs process) / USER_NOTIF notification / TRACE event
//   errno-data      the value an undispatched syscall returns (ERRNO data with
//                   the 4095 clamp, ERRNO(0) = 0, ENOSYS), the TRACE event
//                   message, rax after a SIGSYS handler
//   siginfo         SIGSYS si_signo/si_code/si_errno/si_syscall/si_arch/si_call_addr
//   dispatch        the syscall ran or not (raw_syscalls:sys_enter witness)
//   audit           AUDIT_SECCOMP record seen, and its code (action only)
//   cache-bitmap    /proc/PID/seccomp_cache after each install vs the cache model
//   vm-crash        the case kills the VM (or host agent), also when run alone
//   jit-self-diff   with --jit both: the kernel with and without the JIT differ
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "oracle/cache/cache_model.h"
#include "oracle/case.h"
#include "vm/pool.h"
#include "vm/protocol.h"

namespace secdiff::vm {

enum class JitMode { On, Off, Both, Leave };
const char* jit_mode_name(JitMode m);

struct Mismatch {
  std::string property;   // see above
  std::string kind;       // short class, e.g. "expected ERRNO, kernel dispatched"
  std::string what;       // one line: what broke
  std::string report;     // full readable report
  std::string signature;  // property + kind (+ kernel): findings collapse on it
  size_t case_index = 0;
  int filter = -1;        // install-result, cache-bitmap
  int input = -1;         // per-input properties
  int jit = -1;           // RunBatch::jit of the run that showed it
  std::string finding;    // findings file (case file; the report is next to it), "" if none
  bool duplicate = false; // a finding with the same signature existed already
};

// What a comparison needs to know about the kernel and the model.
struct CompareContext {
  Hello hello;
  const KernelProfile* profile = nullptr;  // oracle profile for the kernel (nullptr: default)
  std::string model = "linux";             // cache model for cache-bitmap
  CacheModelOptions model_options;
  bool compare_cache = true;               // when the kernel has kFeatureCacheDebug
  bool cap_sys_admin = false;              // the agent's case tasks have CAP_SYS_ADMIN
};

// Builds a context from a Hello: the oracle profile from the kernel release
// ("6.1.0-56-cloud-amd64" -> 6.1), else the default profile (noted).
CompareContext make_context(const Hello& h, const std::string& model);

// Compares one run of a case (made with RunBatch::jit = `jit`) with the oracle.
std::vector<Mismatch> compare_case(const Case& c, const CaseResult& r, const CompareContext& ctx, int jit);
// The same case run with the JIT on and off: the kernel against itself.
std::vector<Mismatch> compare_jit(const Case& c, const CaseResult& on, const CaseResult& off,
                                  const CompareContext& ctx);
// A case that killed the VM alone.
Mismatch crash_mismatch(const Case& c, const CaseRun& run, const CompareContext& ctx);

// Human-readable parts, also used by the reports.
std::string describe_case(const Case& c, const CompareContext& ctx);
std::string describe_outcome(const KernelOutcome& o);
std::string describe_install(const KernelInstall& i);

// Saves a finding: <dir>/<signature>.json (the case) and <signature>.txt (the
// report). When the signature exists already the files are left alone and
// m.duplicate is set. Sets m.finding.
void save_finding(const std::string& dir, const Case& c, Mismatch& m);

struct RunnerOptions {
  std::string model = "linux";
  JitMode jit = JitMode::On;
  std::string findings_dir;   // "" = do not save
  bool compare_cache = true;
  CacheModelOptions model_options;
  // Sees every case run (serialized), before its comparison.
  std::function<void(const Case&, const CaseRun&)> on_result;
};

struct DiffSummary {
  std::string backend, kernel_release, kernel_version, profile, model;
  uint32_t features = 0;
  bool cache_compared = false;
  JitMode jit = JitMode::On;
  size_t cases = 0, inputs = 0, executions = 0, crashed = 0;
  size_t mismatches = 0;
  std::map<std::string, size_t> by_property;
  size_t findings_new = 0, findings_duplicate = 0;
  std::vector<Mismatch> list;  // every mismatch, in case order
  std::vector<std::string> notes;  // harness remarks (skipped comparisons...)
  PoolStats pool;
  double seconds = 0;          // run() wall time, boot included
  double cases_per_second = 0; // executions / seconds
};

class DiffRunner {
 public:
  DiffRunner(Backend& backend, RunnerOptions opt) : backend_(backend), opt_(std::move(opt)) {}
  // Boots the backend; returns the kernel's Hello. Throws PoolError.
  const Hello& start();
  // Runs and compares every case. `on_mismatch` sees each mismatch as soon as
  // it is found (and saved). Throws PoolError on infrastructure failure.
  DiffSummary run(const std::vector<Case>& cases, const std::function<void(const Mismatch&)>& on_mismatch = {});
  const CompareContext& context() const { return ctx_; }

 private:
  Backend& backend_;
  RunnerOptions opt_;
  CompareContext ctx_;
  bool started_ = false;
};

}  // namespace secdiff::vm
