#include "vm/diff_service.h"

#include <chrono>

namespace secdiff::vm {

DiffService::DiffService(Backend& backend, RunnerOptions opt, size_t max_batch)
    : backend_(backend), runner_(backend, opt), opt_(std::move(opt)), max_batch_(max_batch ? max_batch : 1) {}

DiffService::~DiffService() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

const Hello& DiffService::start() {
  const Hello& h = runner_.start();
  std::lock_guard<std::mutex> g(mu_);
  if (!started_) {
    started_ = true;
    thread_ = std::thread([this] { loop(); });
  }
  return h;
}

void DiffService::submit(Case c, Done done) {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (!stats_.error.empty() || stopping_) {
      if (done) done(0, false);
      return;
    }
    stats_.submitted++;
    queue_.push_back(Item{std::move(c), std::move(done)});
  }
  cv_.notify_one();
}

void DiffService::drain() {
  std::unique_lock<std::mutex> g(mu_);
  idle_cv_.wait(g, [&] { return (queue_.empty() && in_flight_ == 0) || !started_; });
}

void DiffService::stop() {
  drain();
  {
    std::lock_guard<std::mutex> g(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

ServiceStats DiffService::stats() const {
  std::lock_guard<std::mutex> g(mu_);
  ServiceStats s = stats_;
  s.pool = backend_.stats();
  return s;
}

std::vector<Mismatch> DiffService::take_new_findings() {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<Mismatch> v;
  v.swap(new_findings_);
  return v;
}

void DiffService::loop() {
  for (;;) {
    std::vector<Item> batch;
    {
      std::unique_lock<std::mutex> g(mu_);
      cv_.wait(g, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and nothing left
      while (!queue_.empty() && batch.size() < max_batch_) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      in_flight_ = batch.size();
    }
    std::vector<Case> cases;
    cases.reserve(batch.size());
    for (Item& it : batch) cases.push_back(std::move(it.c));
    std::vector<size_t> per_case(cases.size(), 0);
    DiffSummary s;
    std::string error;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      s = runner_.run(cases);
    } catch (const std::exception& e) {
      error = e.what();
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (const Mismatch& m : s.list)
      if (m.case_index < per_case.size()) per_case[m.case_index]++;
    {
      std::lock_guard<std::mutex> g(mu_);
      stats_.batches++;
      stats_.run_seconds += secs;
      if (error.empty()) {
        stats_.done += cases.size();
        stats_.inputs += s.inputs;
        stats_.executions += s.executions;
        stats_.crashed += s.crashed;
        stats_.mismatches += s.mismatches;
        stats_.findings_new += s.findings_new;
        stats_.findings_duplicate += s.findings_duplicate;
        for (const auto& [p, n] : s.by_property) stats_.by_property[p] += n;
        for (const Mismatch& m : s.list) {
          stats_.by_signature[m.signature]++;
          if (!m.duplicate && !m.finding.empty()) new_findings_.push_back(m);
        }
      } else {
        stats_.error = error;
      }
    }
    for (size_t i = 0; i < batch.size(); i++)
      if (batch[i].done) batch[i].done(per_case[i], error.empty());
    {
      std::lock_guard<std::mutex> g(mu_);
      in_flight_ = 0;
      if (!error.empty()) {
        // Infrastructure failure: fail everything queued, accept nothing more.
        for (Item& it : queue_)
          if (it.done) it.done(0, false);
        queue_.clear();
        stopping_ = true;
      }
    }
    idle_cv_.notify_all();
    if (!error.empty()) return;
  }
}

}  // namespace secdiff::vm
