// The differential runner as a service for the fuzzers: cases are queued from
// any thread (a fuzz target, or vm/broker.h's socket server for fuzz workers in
// other processes) and run in batches over one Backend (the VM pool), so the
// VMs stay busy while the fuzzers generate. Each batch goes through
// DiffRunner::run, so mismatches are compared, reported and saved exactly as
// `secdiff diff` does (findings_dir: <signature>.json + .txt).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "vm/runner.h"

namespace secdiff::vm {

struct ServiceStats {
  uint64_t submitted = 0, done = 0;    // cases
  uint64_t inputs = 0;                 // inputs of the cases done
  uint64_t executions = 0, crashed = 0;
  uint64_t mismatches = 0, findings_new = 0, findings_duplicate = 0;
  std::map<std::string, uint64_t> by_property;
  std::map<std::string, uint64_t> by_signature;  // mismatches per signature
  uint64_t batches = 0;
  double run_seconds = 0;              // time spent inside Backend runs
  PoolStats pool;
  std::string error;                   // infrastructure failure that stopped the service
};

class DiffService {
 public:
  // Cases per batch handed to the backend at most (the pool splits it further).
  DiffService(Backend& backend, RunnerOptions opt, size_t max_batch = 64);
  ~DiffService();
  DiffService(const DiffService&) = delete;
  DiffService& operator=(const DiffService&) = delete;

  // Boots the backend (throws PoolError) and starts the dispatcher.
  const Hello& start();
  const CompareContext& context() const { return runner_.context(); }

  using Done = std::function<void(size_t mismatches, bool ran)>;
  // Queues a case; `done` runs on the dispatcher thread once it has been run
  // and compared (ran = false: the service stopped on an infrastructure error).
  void submit(Case c, Done done = {});
  // Waits until every submitted case is done.
  void drain();
  // Drains, then ends the dispatcher (the backend is left to its owner).
  void stop();
  ServiceStats stats() const;
  // New findings (first of their signature) since the last call.
  std::vector<Mismatch> take_new_findings();

 private:
  struct Item {
    Case c;
    Done done;
  };
  void loop();

  Backend& backend_;
  DiffRunner runner_;
  RunnerOptions opt_;
  size_t max_batch_;
  mutable std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<Item> queue_;
  size_t in_flight_ = 0;
  bool stopping_ = false, started_ = false;
  ServiceStats stats_;
  std::vector<Mismatch> new_findings_;
  std::thread thread_;
};

}  // namespace secdiff::vm
