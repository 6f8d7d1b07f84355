// Where cases run: a Backend takes cases and gives back, for each, the kernel's
// CaseResult or the record of how it killed the machine it ran on.
//
// Pool is the one implementation, over N agent processes (workers):
//   --backend vm   (default) QEMU VMs, one single-vCPU VM per core
//   --backend host `secdiff-agent --stdio --allow-any-syscall` subprocesses on the
//                  running kernel, inside the sandbox the agent sets up. Off by
//                  default: only for a throw-away machine.
// Cases are grouped in batches (same jit setting). A worker whose agent fails
// (panic, QEMU exit, hang, protocol error) kills it and boots a fresh one; the
// batch in flight is retried once on the fresh agent, and if it fails again
// each of its cases is run alone: a case that fails alone is the culprit and is
// returned as crashed, with the kernel log. Every submitted job gets exactly one
// CaseRun; only an infrastructure failure (agents that do not boot) ends a run
// early, as a PoolError.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "oracle/case.h"
#include "vm/protocol.h"
#include "vm/qemu.h"

namespace secdiff::vm {

// The run ended early because agents could not be started (bad kernel,
// initramfs, agent binary...): not a finding, an infrastructure failure.
class PoolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Job {
  const Case* c = nullptr;
  int jit = -1;      // RunBatch::jit
  size_t id = 0;     // the caller's key, returned in CaseRun
};

struct CaseRun {
  size_t id = 0;
  int jit = -1;
  bool crashed = false;          // the case killed its agent, also when run alone
  CaseResult result;             // valid when !crashed
  VmFailure failure = VmFailure::Exited;  // when crashed
  std::string failure_message;   // when crashed
  std::string kernel_log;        // console tail of the agent that died (crashed)
  std::vector<std::string> agent_logs;
  int worker = -1;
  bool isolated = false;         // ran alone after its batch failed twice
  std::string note;              // e.g. "its batch failed twice, alone it did not"
};

struct PoolStats {
  int workers = 0;
  uint64_t batches = 0;          // Run requests answered
  uint64_t cases_run = 0;        // case executions answered (a case run twice counts twice)
  uint64_t restarts = 0;         // agents replaced after a failure
  uint64_t failures_by_kind[5] = {};  // indexed by VmFailure
  uint64_t retried_batches = 0;
  uint64_t isolated_batches = 0; // batches split into single cases
  uint64_t crashed_cases = 0;
  uint64_t flaky_batches = 0;    // failed twice as a batch, no case failed alone
  double first_boot_seconds = 0; // process start -> Hello, first agent
  double boot_seconds_total = 0;
  uint64_t boots = 0;
  double first_case_seconds = 0; // Pool::start -> first batch answered
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Boots the first agent and returns its Hello (the kernel everything runs on).
  // Throws PoolError.
  virtual const Hello& start() = 0;
  // Runs every job; `sink` is called once per job, serialized, from worker
  // threads, as soon as its result is known. Throws PoolError.
  virtual void run(const std::vector<Job>& jobs, const std::function<void(CaseRun&&)>& sink) = 0;
  virtual PoolStats stats() const = 0;
  virtual void stop() = 0;
};

// Makes agent number `worker` (its `generation`-th incarnation).
using AgentFactory = std::function<std::unique_ptr<AgentProcess>(int worker, int generation)>;

struct PoolOptions {
  int jobs = 0;                   // agents; 0 = one per core
  size_t batch_cases = 16;        // cases per Run batch
  size_t batch_inputs = 256;      // and at most this many inputs
  uint32_t syscall_timeout_ms = 2000;  // RunBatch::timeout_ms
  Millis batch_timeout_base{20000};    // answer deadline: base + per case + 2 x syscall timeout
  Millis batch_timeout_per_case{500};
  int max_boot_failures = 3;      // consecutive failed boots of one worker -> PoolError
  FaultInjection fault;           // test-only: applied to the first agent of worker 0
  std::string name = "vm";
  // Keep the next batch queued in the agent while the current one runs, so it
  // never waits for the host between batches. A batch lost with a failed agent
  // is sent again (not counted as a retry).
  bool pipeline = true;
};

class Pool : public Backend {
 public:
  Pool(AgentFactory factory, PoolOptions opt);
  ~Pool() override;
  std::string name() const override { return opt_.name; }
  const Hello& start() override;
  void run(const std::vector<Job>& jobs, const std::function<void(CaseRun&&)>& sink) override;
  PoolStats stats() const override;
  void stop() override;

 private:
  struct Worker;
  struct Batch;
  struct Failed;
  struct Flight;
  void worker_loop(Worker& w);
  Batch* take_batch();
  bool ensure_agent(Worker& w);  // false = gave up (PoolError recorded)
  RunBatch make_run(const Batch& b, size_t first, size_t n);
  Millis batch_timeout(const RunBatch& rb) const;
  ResultBatch run_on(Worker& w, const Batch& b, size_t first, size_t n);
  void answered(size_t n);
  void deliver_ok(Worker& w, const Batch& b, const ResultBatch& r, size_t first, bool isolated,
                  const std::string& note);
  Failed fail(Worker& w, const VmError& e);
  void recover(Worker& w, Batch& b, Failed first_failure);  // after a batch's first failure
  void join_boots();
  void deliver(CaseRun&& r);

  AgentFactory factory_;
  PoolOptions opt_;
  Hello hello_;
  std::atomic<bool> started_{false};
  std::vector<std::unique_ptr<Worker>> workers_;
  mutable std::mutex mu_;       // queue, stats, sink, error
  std::vector<std::unique_ptr<Batch>> queue_;
  size_t next_batch_ = 0;
  std::function<void(CaseRun&&)> sink_;
  std::string error_;
  PoolStats stats_;
  std::atomic<uint64_t> batch_ids_{1};
  std::chrono::steady_clock::time_point t_start_;
  bool first_case_seen_ = false;
};

// QEMU backend.
std::unique_ptr<Pool> make_qemu_pool(const QemuConfig& cfg, PoolOptions opt);

// Host backend: `agent --stdio --allow-any-syscall [extra args]`, stderr to a log file.
struct HostAgentConfig {
  std::string agent;                 // path of secdiff-agent
  std::vector<std::string> extra_args;
  std::string work_dir;              // log files; "" = a temp dir
  Millis start_timeout{10000};
};
std::unique_ptr<AgentProcess> make_host_agent(const HostAgentConfig& cfg, int index, int generation);
std::unique_ptr<Pool> make_host_pool(const HostAgentConfig& cfg, PoolOptions opt);

}  // namespace secdiff::vm
