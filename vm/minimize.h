// Delta debugging (ddmin) of a Case that keeps its mismatch signature (same
// property, same kind of divergence). Reduces, until nothing changes:
//   - the chain (drop filters),
//   - each filter's instructions (delete them, repairing jump offsets so every
//     jump keeps its target or goes to the next surviving instruction; turn
//     conditional jumps into `ja` to one branch; replace an instruction by a
//     `ret` of a value reachable from it; thread jumps through `ja`s and onto
//     the last identical `ret`, drop unreachable code),
//   - constants (k toward 0, 1, a power of two, k with low bits cleared, a
//     smaller value),
//   - the inputs (drop them; zero args, drop ip, shrink values).
// Candidates whose filters change load status (a filter that loaded no longer
// loads, or the reverse, or its own seccomp() call is no longer let through by
// the filters before it) are never kept. A chain as the fuzzers see it (every
// filter that loads attached, ModelChecker::set_attach_all) is made
// installable when the signature allows it.
//
// Checkers decide which signatures a case shows:
//   ModelChecker  oracle-only properties of a cache model (fast, no kernel):
//     cache-soundness  a bitmap model (linux) caches an (arch, nr) that the
//                      exact model says is not constant-ALLOW (after any install),
//                      or its lookup answers an input the chain does not ALLOW
//     cache-sequence   the inputs run in order through the model's per-task cache
//                      (rfc-v1) get another action than the plain chain
//     model-vs-exact   the model's bitmap differs from the exact one (only when
//                      asked for: precision loss is normal for linux)
//   VmChecker     the differential runner (vm/runner.h) on a Backend; the
//                 signatures are its Mismatch property + kind. Candidates are
//                 run in batches.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "oracle/cache/cache_model.h"
#include "oracle/case.h"
#include "vm/pool.h"
#include "vm/runner.h"

namespace secdiff::vm {

struct Signature {
  std::string property;
  std::string kind;
  std::string str() const { return property + ": " + kind; }
  friend bool operator==(const Signature&, const Signature&) = default;
};

class Checker {
 public:
  virtual ~Checker() = default;
  virtual std::string name() const = 0;
  // The signatures of each case (in the order first seen).
  virtual std::vector<std::vector<Signature>> check(const std::vector<Case>& cases) = 0;
  // Index of the first candidate that shows `sig`, -1 if none.
  virtual int first_keeping(const std::vector<Case>& cands, const Signature& sig);
  // Whether a filter counts as installed only when its own seccomp() call gets
  // through the filters installed before it (as on a kernel). The minimizer
  // keeps each filter's status in that sense.
  virtual bool installs_filtered() const { return true; }
  // For a checker that does not filter installs: switch to filtering them if
  // `c` shows `sig` that way too (true = switched). The minimizer asks after
  // every reduction, so that its result reproduces on a kernel when it can.
  virtual bool prefer_filtered_installs(const Case& c, const Signature& sig) {
    (void)c;
    (void)sig;
    return false;
  }
};

// Model-only properties (see above). `property` "" = cache-soundness and
// cache-sequence; else only that property.
class ModelChecker : public Checker {
 public:
  ModelChecker(std::string model, std::string property = "", const KernelProfile* profile = nullptr,
               CacheModelOptions opt = {});
  std::string name() const override { return "model " + model_; }
  std::vector<std::vector<Signature>> check(const std::vector<Case>& cases) override;
  int first_keeping(const std::vector<Case>& cands, const Signature& sig) override;
  std::vector<Signature> signatures(const Case& c, const std::string& only_property = "") const;
  // The model names ModelChecker understands, and the properties.
  static std::vector<std::string> properties();

  // attach_all: every filter that loads is attached, even when the filters
  // before it deny its own seccomp() call: the chain as the fuzzers' checks see
  // it (fuzzers/checks.h), for findings whose chain a kernel would not install
  // whole. Off by default.
  void set_attach_all(bool on) { attach_all_ = on; }
  bool attach_all() const { return attach_all_; }
  bool installs_filtered() const override { return !attach_all_; }
  bool prefer_filtered_installs(const Case& c, const Signature& sig) override;

 private:
  std::vector<Signature> signatures_as(const Case& c, const std::string& only_property, bool attach_all) const;

  std::string model_, property_;
  const KernelProfile* profile_;
  CacheModelOptions opt_;
  bool attach_all_ = false;
};

// A ModelChecker for `c` under `model` (and `property`, "" = the default
// ones): the first signature (of `kind`, if given) with installs filtered; if
// there is none, as the fuzzers see the chain (attach_all). nullopt if neither
// shows one.
struct ModelPick {
  std::unique_ptr<ModelChecker> checker;
  Signature sig;
};
std::optional<ModelPick> pick_model_signature(const Case& c, const std::string& model,
                                              const std::string& property = "", const std::string& kind = "");

// The differential runner on a backend (already started or not).
class VmChecker : public Checker {
 public:
  explicit VmChecker(DiffRunner& runner) : runner_(runner) {}
  std::string name() const override { return "runner"; }
  std::vector<std::vector<Signature>> check(const std::vector<Case>& cases) override;
  size_t runs() const { return runs_; }

 private:
  DiffRunner& runner_;
  size_t runs_ = 0;
};

struct CaseSize {
  size_t filters = 0, insns = 0, inputs = 0;
  std::string str() const;
};
CaseSize case_size(const Case& c);

struct MinimizeOptions {
  bool progress = true;          // progress lines on stderr
  double time_limit_seconds = 0; // 0 = none: stop reducing after that, keep the best so far
  size_t max_batch = 64;         // candidates per check() call
};

struct MinimizeStats {
  CaseSize before, after;
  size_t tests = 0;    // candidates checked
  size_t steps = 0;    // accepted reductions
  bool installs_filtered = true;  // the result keeps the signature with installs filtered
  double seconds = 0;
  bool timed_out = false;
};

// Minimizes `c`, which must show `sig` under `checker` (throws
// std::invalid_argument otherwise).
Case minimize_case(const Case& c, const Signature& sig, Checker& checker, const MinimizeOptions& opt = {},
                   MinimizeStats* stats = nullptr);

// Program surgery (exposed for tests): deletes the instructions with del[i]
// set, retargeting jumps; nullopt if a surviving jump has no surviving target.
std::optional<Program> delete_insns(const Program& p, const std::vector<bool>& del);

// Jump threading and dead code (exposed for tests): every jump edge that lands
// on a `ja` goes to the ja's target, every conditional edge that lands on a
// `ret` goes to the last identical `ret` within reach, then the instructions
// that no path from pc 0 reaches are deleted. The filter's results do not
// change.
Program thread_jumps(const Program& p);
Program drop_unreachable(const Program& p);

// --- Backends for the CLI (minimize / repro) ---------------------------------

struct BackendSpec {
  std::string backend = "vm";  // vm | host
  std::string kernel = "debug";  // debian | debug | PATH
  std::string modules, agent, initrd, qemu = "qemu-system-x86_64", work_dir;
  int jobs = 0;
  int boot_timeout_ms = 60000;
  uint32_t syscall_timeout_ms = 2000;  // a syscall still running then counts as blocked
  size_t batch_cases = 16;             // cases per batch sent to one agent
};
// A started-on-demand backend with its temp files. Throws InputError when the
// kernel, agent or scripts cannot be found.
struct BackendHandle {
  std::unique_ptr<Pool> pool;
  std::string kernel_name, tmp_dir;
  ~BackendHandle();
};
std::unique_ptr<BackendHandle> make_backend(const BackendSpec& spec);

}  // namespace secdiff::vm
