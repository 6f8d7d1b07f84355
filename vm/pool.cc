#include "vm/pool.h"
#include "vm/spawn.h"

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <boost/process/posix.hpp>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

namespace secdiff::vm {

namespace bp = boost::process;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// --- the host agent ------------------------------------------------------------------------------

namespace {

std::string tail_of(const std::string& path, size_t max_bytes) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return "";
  f.seekg(0, std::ios::end);
  const auto size = static_cast<size_t>(std::max<std::streamoff>(0, f.tellg()));
  const size_t start = size > max_bytes ? size - max_bytes : 0;
  f.seekg(static_cast<std::streamoff>(start));
  std::string out(size - start, '\0');
  f.read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<size_t>(f.gcount()));
  return out;
}

class HostAgent : public AgentProcess {
 public:
  HostAgent(HostAgentConfig cfg, int index, int generation)
      : cfg_(std::move(cfg)), index_(index), generation_(generation) {}
  ~HostAgent() override {
    kill();
    if (own_dir_ && !dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }

  const Hello& start() override {
    const auto t0 = Clock::now();
    if (cfg_.work_dir.empty()) {
      const char* tmp = std::getenv("TMPDIR");
      std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/secdiff-host" + std::to_string(index_) + "-XXXXXX";
      if (!::mkdtemp(templ.data())) throw VmError(VmFailure::Boot, "mkdtemp: " + std::string(std::strerror(errno)));
      dir_ = templ;
      own_dir_ = true;
    } else {
      dir_ = cfg_.work_dir + "/host" + std::to_string(index_) + "-" + std::to_string(generation_);
      std::error_code ec;
      fs::create_directories(dir_, ec);
      if (ec) throw VmError(VmFailure::Boot, "cannot create " + dir_ + ": " + ec.message());
    }
    log_ = dir_ + "/agent.log";
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
      throw VmError(VmFailure::Boot, std::string("socketpair: ") + std::strerror(errno));
    std::vector<std::string> args = {"--stdio", "--allow-any-syscall"};
    args.insert(args.end(), cfg_.extra_args.begin(), cfg_.extra_args.end());
    try {
      child_ = spawn(bp::exe = cfg_.agent, bp::args = args, bp::posix::fd.bind(0, sv[1]),
                         bp::posix::fd.bind(1, sv[1]), bp::std_err > log_);
    } catch (const std::exception& e) {
      ::close(sv[0]);
      ::close(sv[1]);
      throw VmError(VmFailure::Boot, "cannot start " + cfg_.agent + ": " + e.what());
    }
    ::close(sv[1]);
    chan_.reset(sv[0], sv[0]);
    try {
      hello_ = await_hello(chan_, t0 + cfg_.start_timeout, [this] { check_alive(); });
    } catch (const VmError& e) {
      if (e.kind() == VmFailure::Exited || e.kind() == VmFailure::Hang)
        throw VmError(VmFailure::Boot, std::string("the host agent did not start: ") + e.what() +
                                           "; its stderr: " + tail_of(log_, 2000));
      throw;
    }
    boot_seconds_ = std::chrono::duration<double>(Clock::now() - t0).count();
    return hello_;
  }
  const Hello& hello() const override { return hello_; }

  ResultBatch run(const RunBatch& batch, Millis timeout) override {
    send_batch(batch, timeout);
    return await_batch(batch, timeout);
  }
  void send_batch(const RunBatch& batch, Millis timeout) override {
    if (dead_) throw VmError(VmFailure::Exited, "the agent has failed before");
    batches_++;
    try {
      chan_.send(MsgType::Run, encode(batch), Clock::now() + timeout);
      if (fault_.kind != FaultKind::None && batches_ == fault_.at_batch) {
        const FaultKind k = fault_.kind;
        fault_.kind = FaultKind::None;
        std::this_thread::sleep_for(Millis(30));
        if (k == FaultKind::KillQemu || k == FaultKind::Panic) ::kill(child_.id(), SIGKILL);
        if (k == FaultKind::Hang) ::kill(child_.id(), SIGSTOP);
        if (k == FaultKind::Garbage) chan_.inject_garbage();
      }
    } catch (const VmError&) {
      dead_ = true;
      throw;
    }
  }
  ResultBatch await_batch(const RunBatch& batch, Millis timeout) override {
    if (dead_) throw VmError(VmFailure::Exited, "the agent has failed before");
    try {
      return await_result(chan_, batch, Clock::now() + timeout, [this] { check_alive(); });
    } catch (const VmError&) {
      dead_ = true;
      throw;
    }
  }
  bool ping(Millis timeout) override {
    if (dead_) return false;
    const bool ok = request_ping(chan_, ++nonce_, Clock::now() + timeout, [this] { check_alive(); });
    if (!ok) dead_ = true;
    return ok;
  }
  void shutdown() override {
    if (!dead_ && child_.valid()) {
      try {
        chan_.send(MsgType::Shutdown, "", Clock::now() + Millis(500));
      } catch (const VmError&) {
      }
      std::error_code ec;
      for (int i = 0; i < 40 && child_.running(ec); i++) std::this_thread::sleep_for(Millis(25));
    }
    kill();
  }
  void kill() override {
    chan_.close();
    if (child_.valid()) {
      std::error_code ec;
      if (child_.running(ec)) {
        ::kill(child_.id(), SIGCONT);
        child_.terminate(ec);
      }
      child_.wait(ec);
      child_ = bp::child();
    }
    dead_ = true;
  }
  std::string console_tail(size_t max_bytes) const override { return tail_of(log_, max_bytes); }
  std::vector<std::string> agent_logs() const override {
    return std::vector<std::string>(chan_.logs().begin(), chan_.logs().end());
  }
  std::string console_path() const override { return log_; }
  double boot_seconds() const override { return boot_seconds_; }
  void set_fault(const FaultInjection& f) override { fault_ = f; }

 private:
  void check_alive() {
    std::error_code ec;
    if (!child_.valid() || !child_.running(ec)) {
      dead_ = true;
      const int code = child_.valid() ? child_.native_exit_code() : 0;
      const std::string how = WIFSIGNALED(code) ? "killed by signal " + std::to_string(WTERMSIG(code))
                                                : "exit status " + std::to_string(WEXITSTATUS(code));
      throw VmError(VmFailure::Exited, "the host agent exited (" + how + ")");
    }
  }

  HostAgentConfig cfg_;
  int index_, generation_;
  std::string dir_, log_;
  bool own_dir_ = false;
  bp::child child_;
  FrameChannel chan_;
  Hello hello_;
  double boot_seconds_ = 0;
  int batches_ = 0;
  uint64_t nonce_ = 0;
  FaultInjection fault_;
  bool dead_ = false;
};

}  // namespace

std::unique_ptr<AgentProcess> make_host_agent(const HostAgentConfig& cfg, int index, int generation) {
  return std::make_unique<HostAgent>(cfg, index, generation);
}

std::unique_ptr<Pool> make_host_pool(const HostAgentConfig& cfg, PoolOptions opt) {
  if (opt.name.empty() || opt.name == "vm") opt.name = "host";
  // One kernel has one audit receiver (AUDIT_SET pid): a second agent would
  // take the AUDIT_SECCOMP records of the first one's tasks. One agent.
  opt.jobs = 1;
  return std::make_unique<Pool>([cfg](int w, int g) { return make_host_agent(cfg, w, g); }, std::move(opt));
}

std::unique_ptr<Pool> make_qemu_pool(const QemuConfig& cfg, PoolOptions opt) {
  return std::make_unique<Pool>([cfg](int w, int g) { return std::make_unique<QemuVm>(cfg, w, g); },
                                std::move(opt));
}

// --- Pool ---------------------------------------------------------------------------------------

struct Pool::Worker {
  int index = 0;
  std::unique_ptr<AgentProcess> agent;
  int generation = 0;
  int boot_failures = 0;
  bool healthy = false;
  std::thread booting;  // start() boots every agent at once; run() joins
};

struct Pool::Batch {
  std::vector<Job> jobs;
  int jit = -1;
};

struct Pool::Failed {
  VmError err;
  std::string log;
  std::vector<std::string> agent_logs;
};

// A batch sent (or to be sent) to a worker's agent as a whole.
struct Pool::Flight {
  Batch* b = nullptr;
  RunBatch rb;
  int generation = -1;  // the agent it was sent to; -1 = not sent
};

Pool::Pool(AgentFactory factory, PoolOptions opt) : factory_(std::move(factory)), opt_(std::move(opt)) {
  // Writes to a dead agent must fail with EPIPE, not kill us.
  std::signal(SIGPIPE, SIG_IGN);
  int n = opt_.jobs;
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 0; i < n; i++) {
    auto w = std::make_unique<Worker>();
    w->index = i;
    workers_.push_back(std::move(w));
  }
  stats_.workers = n;
}

Pool::~Pool() { stop(); }

void Pool::join_boots() {
  for (auto& w : workers_)
    if (w->booting.joinable()) w->booting.join();
}

void Pool::stop() {
  join_boots();  // an agent still booting is used or shut down like the others
  for (auto& w : workers_) {
    if (w->agent) {
      w->agent->shutdown();
      w->agent.reset();
    }
    w->healthy = false;
  }
}

PoolStats Pool::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return stats_;
}

// Boots the worker's agent if it has none (or a failed one). Returns false and
// records the error once the worker failed to boot max_boot_failures times.
bool Pool::ensure_agent(Worker& w) {
  if (w.agent && w.healthy) return true;
  for (;;) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!error_.empty()) return false;
    }
    if (w.agent) {
      w.agent->kill();
      w.agent.reset();
    }
    w.agent = factory_(w.index, w.generation);
    if (w.index == 0 && w.generation == 0 && opt_.fault.kind != FaultKind::None) w.agent->set_fault(opt_.fault);
    w.generation++;
    try {
      const Hello& h = w.agent->start();
      std::lock_guard<std::mutex> l(mu_);
      stats_.boots++;
      stats_.boot_seconds_total += w.agent->boot_seconds();
      if (!started_) {
        hello_ = h;
        started_ = true;
        stats_.first_boot_seconds = w.agent->boot_seconds();
      } else if (h.kernel_release != hello_.kernel_release) {
        error_ = "agent " + std::to_string(w.index) + " runs kernel " + h.kernel_release + ", expected " +
                 hello_.kernel_release;
        return false;
      }
      w.boot_failures = 0;
      w.healthy = true;
      return true;
    } catch (const VmError& e) {
      const std::string log = w.agent->console_tail(3000);
      w.agent->kill();
      std::lock_guard<std::mutex> l(mu_);
      stats_.failures_by_kind[static_cast<int>(VmFailure::Boot)]++;
      if (++w.boot_failures >= opt_.max_boot_failures) {
        if (error_.empty())
          error_ = "agent " + std::to_string(w.index) + " failed to boot " + std::to_string(w.boot_failures) +
                   " times; last error: " + e.what() + (log.empty() ? "" : "\n--- console (tail) ---\n" + log);
        return false;
      }
    }
  }
}

const Hello& Pool::start() {
  if (started_ && workers_[0]->healthy) return hello_;
  t_start_ = Clock::now();
  // One VM per core boots at once: start() waits for worker 0 only, the
  // others finish in the background (run() waits for each before using it).
  for (size_t i = 1; i < workers_.size(); i++) {
    Worker& w = *workers_[i];
    if (!w.healthy && !w.booting.joinable()) w.booting = std::thread([this, &w] { ensure_agent(w); });
  }
  if (workers_[0]->booting.joinable()) workers_[0]->booting.join();
  if (!ensure_agent(*workers_[0])) {
    std::string err;
    {
      std::lock_guard<std::mutex> l(mu_);
      err = error_;
    }
    join_boots();
    throw PoolError(err);
  }
  std::lock_guard<std::mutex> l(mu_);
  return hello_;
}

RunBatch Pool::make_run(const Batch& b, size_t first, size_t n) {
  RunBatch rb;
  rb.batch_id = batch_ids_++;
  rb.jit = b.jit;
  rb.timeout_ms = opt_.syscall_timeout_ms;
  for (size_t i = first; i < first + n; i++) rb.cases.push_back(*b.jobs[i].c);
  return rb;
}

Millis Pool::batch_timeout(const RunBatch& rb) const {
  const size_t n = rb.cases.size();
  size_t inputs = 0;
  for (const Case& c : rb.cases) inputs += c.inputs.size();
  Millis timeout = opt_.batch_timeout_base + opt_.batch_timeout_per_case * static_cast<int>(n) +
                   Millis(2 * static_cast<int64_t>(opt_.syscall_timeout_ms));
  if (n == 1)  // alone, a case may block in every input
    timeout = std::max(timeout, opt_.batch_timeout_base +
                                    Millis(static_cast<int64_t>(inputs) * (opt_.syscall_timeout_ms + 250)));
  return timeout;
}

void Pool::answered(size_t n) {
  std::lock_guard<std::mutex> l(mu_);
  stats_.batches++;
  stats_.cases_run += n;
  if (!first_case_seen_) {
    first_case_seen_ = true;
    stats_.first_case_seconds = std::chrono::duration<double>(Clock::now() - t_start_).count();
  }
}

ResultBatch Pool::run_on(Worker& w, const Batch& b, size_t first, size_t n) {
  const RunBatch rb = make_run(b, first, n);
  ResultBatch r = w.agent->run(rb, batch_timeout(rb));
  answered(n);
  return r;
}

void Pool::deliver(CaseRun&& r) {
  std::lock_guard<std::mutex> l(mu_);
  if (r.crashed) stats_.crashed_cases++;
  if (sink_) sink_(std::move(r));
}

void Pool::deliver_ok(Worker& w, const Batch& b, const ResultBatch& r, size_t first, bool isolated,
                      const std::string& note) {
  for (size_t i = 0; i < r.results.size(); i++) {
    CaseRun cr;
    cr.id = b.jobs[first + i].id;
    cr.jit = b.jit;
    cr.result = r.results[i];
    cr.worker = w.index;
    cr.isolated = isolated;
    cr.note = note;
    deliver(std::move(cr));
  }
}

// Records a failure and retires the agent (the next ensure_agent boots a fresh one).
Pool::Failed Pool::fail(Worker& w, const VmError& e) {
  Failed f{e, w.agent->console_tail(16384), w.agent->agent_logs()};
  w.agent->kill();
  w.healthy = false;
  std::lock_guard<std::mutex> l(mu_);
  stats_.restarts++;
  stats_.failures_by_kind[static_cast<int>(e.kind())]++;
  return f;
}

// A batch failed once: it is retried once on a fresh agent, and if it fails
// again each of its cases runs alone; a case that fails alone is the culprit.
void Pool::recover(Worker& w, Batch& b, Failed first_failure) {
  const size_t n = b.jobs.size();
  auto crashed = [&](size_t i, const Failed& f) {
    CaseRun cr;
    cr.id = b.jobs[i].id;
    cr.jit = b.jit;
    cr.crashed = true;
    cr.failure = f.err.kind();
    cr.failure_message = f.err.what();
    cr.kernel_log = f.log;
    cr.agent_logs = f.agent_logs;
    cr.worker = w.index;
    cr.isolated = n > 1;
    deliver(std::move(cr));
  };
  Failed last = std::move(first_failure);
  {
    std::lock_guard<std::mutex> l(mu_);
    stats_.retried_batches++;
  }
  if (!ensure_agent(w)) return;
  try {
    ResultBatch r = run_on(w, b, 0, n);
    deliver_ok(w, b, r, 0, false, "retried after the agent failed (" + std::string(last.err.what()) + ")");
    return;
  } catch (const VmError& e) {
    last = fail(w, e);
  }
  if (n == 1) {
    crashed(0, last);
    return;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    stats_.isolated_batches++;
  }
  bool any = false;
  for (size_t i = 0; i < n; i++) {
    if (!ensure_agent(w)) return;
    try {
      ResultBatch r = run_on(w, b, i, 1);
      deliver_ok(w, b, r, i, true, "its batch failed twice (" + std::string(last.err.what()) + "); alone it ran");
    } catch (const VmError& e) {
      crashed(i, fail(w, e));
      any = true;
    }
  }
  if (!any) {
    std::lock_guard<std::mutex> l(mu_);
    stats_.flaky_batches++;
  }
}

Pool::Batch* Pool::take_batch() {
  std::lock_guard<std::mutex> l(mu_);
  if (!error_.empty() || next_batch_ >= queue_.size()) return nullptr;
  return queue_[next_batch_++].get();
}

namespace {
// Roughly what a batch takes on the wire. Only small batches are sent ahead:
// they fit in the channel's buffers, so sending never waits for the agent.
size_t wire_estimate(const RunBatch& rb) {
  size_t bytes = 64;
  for (const Case& c : rb.cases) {
    bytes += 128 + c.inputs.size() * 96;
    for (const CaseFilter& f : c.filters) bytes += 16 + f.prog.size() * sizeof(Insn);
  }
  return bytes;
}
constexpr size_t kSendAheadBytes = 48 * 1024;
}  // namespace

void Pool::worker_loop(Worker& w) {
  if (w.booting.joinable()) w.booting.join();
  // `cur` is awaited next; `ahead` is already queued in the agent behind it.
  Flight cur, ahead;
  std::optional<VmError> cur_error;
  cur.b = take_batch();
  // Sends f to the current agent unless it is there already. A send error
  // means the agent is gone; it is returned, not thrown.
  auto send = [&](Flight& f) -> std::optional<VmError> {
    if (f.generation == w.generation) return std::nullopt;
    f.rb = make_run(*f.b, 0, f.b->jobs.size());
    try {
      w.agent->send_batch(f.rb, batch_timeout(f.rb));
      f.generation = w.generation;
      return std::nullopt;
    } catch (const VmError& e) {
      f.generation = -1;
      return e;
    }
  };
  while (cur.b != nullptr) {
    if (!ensure_agent(w)) return;
    cur_error = send(cur);
    if (opt_.pipeline && !cur_error && ahead.b == nullptr && wire_estimate(cur.rb) <= kSendAheadBytes) {
      ahead.b = take_batch();
      if (ahead.b != nullptr) {
        ahead.rb = make_run(*ahead.b, 0, ahead.b->jobs.size());
        if (wire_estimate(ahead.rb) <= kSendAheadBytes) send(ahead);  // a failure shows in the await
      }
    }
    try {
      if (cur_error) throw *cur_error;
      ResultBatch r = w.agent->await_batch(cur.rb, batch_timeout(cur.rb));
      answered(cur.b->jobs.size());
      deliver_ok(w, *cur.b, r, 0, false, "");
    } catch (const VmError& e) {
      Failed f = fail(w, e);
      // `ahead` went down with the agent without having failed itself: it is
      // sent again as it comes, not retried.
      ahead.generation = -1;
      recover(w, *cur.b, std::move(f));
    }
    cur = std::move(ahead);
    ahead = Flight{};
    if (cur.b == nullptr) cur.b = take_batch();
  }
}

void Pool::run(const std::vector<Job>& jobs, const std::function<void(CaseRun&&)>& sink) {
  if (!started_) start();
  {
    std::lock_guard<std::mutex> l(mu_);
    queue_.clear();
    next_batch_ = 0;
    sink_ = sink;
    size_t inputs = 0;
    for (const Job& j : jobs) {
      if (queue_.empty() || queue_.back()->jit != j.jit || queue_.back()->jobs.size() >= opt_.batch_cases ||
          inputs + j.c->inputs.size() > opt_.batch_inputs) {
        queue_.push_back(std::make_unique<Batch>());
        queue_.back()->jit = j.jit;
        inputs = 0;
      }
      queue_.back()->jobs.push_back(j);
      inputs += j.c->inputs.size();
    }
  }
  const size_t nthreads = std::min(workers_.size(), queue_.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < nthreads; i++) threads.emplace_back([this, i] { worker_loop(*workers_[i]); });
  for (auto& t : threads) t.join();
  std::lock_guard<std::mutex> l(mu_);
  sink_ = nullptr;
  if (!error_.empty()) throw PoolError(error_);
}

}  // namespace secdiff::vm
