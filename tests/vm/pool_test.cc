// The host side of the real-kernel backend against fake_agent (which answers
// with the oracle's prediction and fails on request): QemuVm's process and
// channel handling, the pool's restart / retry / culprit isolation, the host
// backend, and the differential runner's comparisons and findings.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "host/case_file.h"
#include "oracle/case_codec.h"
#include "oracle/formats/formats.h"
#include "vm/pool.h"
#include "vm/qemu.h"
#include "vm/runner.h"
#include "vm/spawn.h"

namespace secdiff::vm {
namespace {

namespace fs = std::filesystem;

// fake_agent's key for a case (FNV-1a-64 of the compact encoding).
std::string key(const Case& c) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : encode_case(c)) {
    h ^= ch;
    h *= 0x100000001b3ull;
  }
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

class FakeEnv : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("secdiff-pool-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // QemuVm checks that the kernel and initramfs exist; the fake ignores them.
    std::ofstream(dir_ / "bzImage") << "fake";
    std::ofstream(dir_ / "initrd") << "fake";
    ::setenv("FAKE_AGENT_STATE", dir_.c_str(), 1);
    ::unsetenv("FAKE_AGENT_FAULTS");
    ::unsetenv("FAKE_AGENT_NO_HELLO");
    ::unsetenv("FAKE_AGENT_FEATURES");
  }
  void TearDown() override {
    ::unsetenv("FAKE_AGENT_FAULTS");
    ::unsetenv("FAKE_AGENT_NO_HELLO");
    ::unsetenv("FAKE_AGENT_FEATURES");
    fs::remove_all(dir_);
  }
  QemuConfig qemu_cfg() const {
    QemuConfig c;
    c.qemu = SECDIFF_FAKE_AGENT;
    c.kernel = (dir_ / "bzImage").string();
    c.initrd = (dir_ / "initrd").string();
    c.boot_timeout = Millis(5000);
    return c;
  }
  HostAgentConfig host_cfg() const {
    HostAgentConfig c;
    c.agent = SECDIFF_FAKE_AGENT;
    return c;
  }
  PoolOptions pool_opt(int jobs = 2) const {
    PoolOptions o;
    o.jobs = jobs;
    o.batch_cases = 8;
    o.batch_timeout_base = Millis(3000);
    o.batch_timeout_per_case = Millis(100);
    o.syscall_timeout_ms = 200;
    return o;
  }
  fs::path dir_;
};

Case simple_case(const std::string& name, uint32_t errno_value = 5) {
  Case c;
  c.name = name;
  CaseFilter f;
  f.prog = assemble("ld [0]\njeq #110, deny\nret #ALLOW\ndeny: ret #ERRNO(" + std::to_string(errno_value) + ")\n");
  c.filters.push_back(f);
  CaseInput a, b;
  a.nr = 110;
  b.nr = 39;
  c.inputs = {a, b};
  return c;
}

// The case the fault tests target ("bad"): an errno value no other case has.
Case bad_case() { return simple_case("bad", 4077); }

// Sets FAKE_AGENT_FAULTS to KIND:<key of the bad case>.
void fault(const std::string& kind) { ::setenv("FAKE_AGENT_FAULTS", (kind + ":" + key(bad_case())).c_str(), 1); }

std::vector<Case> many(size_t n, const std::string& bad = "", size_t bad_at = 5) {
  std::vector<Case> v;
  for (size_t i = 0; i < n; i++)
    v.push_back(i == bad_at && !bad.empty() ? bad_case() : simple_case("c" + std::to_string(i), static_cast<uint32_t>(i % 4000)));
  return v;
}

std::vector<Job> jobs_of(const std::vector<Case>& cases) {
  std::vector<Job> jobs;
  for (size_t i = 0; i < cases.size(); i++) jobs.push_back(Job{&cases[i], 1, i});
  return jobs;
}

std::map<size_t, CaseRun> run_all(Backend& b, const std::vector<Case>& cases) {
  std::map<size_t, CaseRun> out;
  b.run(jobs_of(cases), [&](CaseRun&& r) {
    EXPECT_EQ(out.count(r.id), 0u) << "job " << r.id << " delivered twice";
    out[r.id] = std::move(r);
  });
  EXPECT_EQ(out.size(), cases.size()) << "a result was lost";
  return out;
}

TEST_F(FakeEnv, QemuVmHandshakeRunPing) {
  QemuVm vm(qemu_cfg(), 0, 0);
  const Hello& h = vm.start();
  EXPECT_EQ(h.kernel_release, "6.1.0-fake");
  EXPECT_TRUE(vm.ping(Millis(2000)));
  RunBatch b;
  b.batch_id = 77;
  b.cases = many(3);
  const ResultBatch r = vm.run(b, Millis(5000));
  EXPECT_EQ(r.batch_id, 77u);
  ASSERT_EQ(r.results.size(), 3u);
  EXPECT_EQ(r.results[0].outcomes[0].rax, 0);    // ERRNO(0) for case 0
  EXPECT_EQ(r.results[1].outcomes[0].rax, -1);   // ERRNO(1)
  EXPECT_FALSE(vm.agent_logs().empty());         // "running batch 77"
  EXPECT_NE(vm.console_tail().find("Linux version"), std::string::npos);
  vm.shutdown();
}

TEST_F(FakeEnv, QemuVmDetectsPanicExitHangGarbage) {
  struct K {
    const char* fault;
    VmFailure expect;
  } kinds[] = {{"panic", VmFailure::Panic},
               {"crash", VmFailure::Exited},
               {"hang", VmFailure::Hang},
               {"garbage", VmFailure::Protocol}};
  for (const K& k : kinds) {
    SCOPED_TRACE(k.fault);
    fault(k.fault);
    QemuVm vm(qemu_cfg(), 0, 0);
    vm.start();
    RunBatch b;
    b.cases = many(3, "bad", 1);
    try {
      vm.run(b, Millis(1500));
      ADD_FAILURE() << "no VmError";
    } catch (const VmError& e) {
      EXPECT_EQ(e.kind(), k.expect) << e.what();
      if (k.expect == VmFailure::Panic) { EXPECT_NE(std::string(e.what()).find("BUG: kernel NULL pointer"), std::string::npos); }
    }
    EXPECT_FALSE(vm.ping(Millis(200)));
    vm.kill();
  }
}

TEST_F(FakeEnv, QemuVmBootFailures) {
  QemuConfig c = qemu_cfg();
  c.boot_timeout = Millis(800);
  ::setenv("FAKE_AGENT_NO_HELLO", "1", 1);
  {
    QemuVm vm(c, 0, 0);
    try {
      vm.start();
      ADD_FAILURE();
    } catch (const VmError& e) {
      EXPECT_EQ(e.kind(), VmFailure::Boot);
    }
  }
  ::unsetenv("FAKE_AGENT_NO_HELLO");
  c.qemu = "/nonexistent/qemu";
  QemuVm vm(c, 0, 0);
  EXPECT_THROW(vm.start(), VmError);
  c = qemu_cfg();
  c.kernel = "/nonexistent/bzImage";
  QemuVm vm2(c, 0, 0);
  EXPECT_THROW(vm2.start(), VmError);
}

TEST_F(FakeEnv, PoolRunsEverythingOnce) {
  auto pool = make_qemu_pool(qemu_cfg(), pool_opt(2));
  const auto cases = many(40);
  const auto got = run_all(*pool, cases);
  for (const auto& [id, r] : got) {
    EXPECT_FALSE(r.crashed);
    ASSERT_EQ(r.result.outcomes.size(), 2u);
    EXPECT_EQ(r.result.outcomes[0].rax, -static_cast<int64_t>(id % 4000));
  }
  const PoolStats s = pool->stats();
  EXPECT_EQ(s.restarts, 0u);
  EXPECT_EQ(s.batches, 5u);  // 40 cases / 8
  EXPECT_EQ(s.boots, 2u);
  EXPECT_GT(s.first_boot_seconds, 0);
  // A second run reuses the VMs.
  run_all(*pool, many(3));
  EXPECT_EQ(pool->stats().boots, 2u);
}

void expect_culprit(Backend& pool, VmFailure kind, const char* log_has) {
  const auto cases = many(20, "bad", 5);
  const auto got = run_all(pool, cases);
  for (const auto& [id, r] : got) {
    if (id == 5) {
      EXPECT_TRUE(r.crashed);
      EXPECT_EQ(r.failure, kind) << r.failure_message;
      EXPECT_TRUE(r.isolated);
      if (log_has) { EXPECT_NE(r.kernel_log.find(log_has), std::string::npos) << r.kernel_log; }
    } else {
      EXPECT_FALSE(r.crashed) << id;
      EXPECT_EQ(r.result.outcomes.size(), 2u);
    }
  }
  const PoolStats s = pool.stats();
  // The batch (cases 0-7): fails, fails again on a fresh VM, then case 5 alone fails.
  EXPECT_EQ(s.restarts, 3u);
  EXPECT_EQ(s.retried_batches, 1u);
  EXPECT_EQ(s.isolated_batches, 1u);
  EXPECT_EQ(s.crashed_cases, 1u);
}

TEST_F(FakeEnv, PoolFindsCrashCulprit) {
  fault("crash");
  auto pool = make_qemu_pool(qemu_cfg(), pool_opt(2));
  expect_culprit(*pool, VmFailure::Exited, "crashing on");
}

TEST_F(FakeEnv, PoolFindsPanicCulprit) {
  fault("panic");
  auto pool = make_qemu_pool(qemu_cfg(), pool_opt(1));
  expect_culprit(*pool, VmFailure::Panic, "Kernel panic");
}

TEST_F(FakeEnv, PoolFindsHangAndGarbageCulprits) {
  fault("hang");
  PoolOptions o = pool_opt(2);
  o.batch_timeout_base = Millis(700);
  {
    auto pool = make_qemu_pool(qemu_cfg(), o);
    expect_culprit(*pool, VmFailure::Hang, nullptr);
  }
  fault("garbage");
  auto pool = make_qemu_pool(qemu_cfg(), o);
  expect_culprit(*pool, VmFailure::Protocol, nullptr);
}

TEST_F(FakeEnv, PoolRetriesAFlakyBatchOnce) {
  fault("crash-once");
  auto pool = make_qemu_pool(qemu_cfg(), pool_opt(1));
  const auto got = run_all(*pool, many(10, "bad", 3));
  for (const auto& [id, r] : got) EXPECT_FALSE(r.crashed);
  EXPECT_EQ(pool->stats().restarts, 1u);
  EXPECT_EQ(pool->stats().retried_batches, 1u);
  EXPECT_EQ(pool->stats().isolated_batches, 0u);
}

TEST_F(FakeEnv, PoolInjectedFaultsRecover) {
  for (const char* spec : {"kill@1", "garbage@2"}) {
    SCOPED_TRACE(spec);
    PoolOptions o = pool_opt(1);
    o.fault = parse_fault(spec);
    auto pool = make_qemu_pool(qemu_cfg(), o);
    const auto got = run_all(*pool, many(24));
    for (const auto& [id, r] : got) EXPECT_FALSE(r.crashed);
    EXPECT_EQ(pool->stats().restarts, 1u);
  }
  EXPECT_THROW(parse_fault("explode"), std::invalid_argument);
  EXPECT_THROW(parse_fault("kill@0"), std::invalid_argument);
}

TEST_F(FakeEnv, PoolGivesUpWhenAgentsDoNotBoot) {
  ::setenv("FAKE_AGENT_NO_HELLO", "1", 1);
  QemuConfig c = qemu_cfg();
  c.boot_timeout = Millis(300);
  auto pool = make_qemu_pool(c, pool_opt(1));
  EXPECT_THROW(pool->start(), PoolError);
}

TEST_F(FakeEnv, HostBackend) {
  auto pool = make_host_pool(host_cfg(), pool_opt(2));
  EXPECT_EQ(pool->name(), "host");
  EXPECT_EQ(pool->start().kernel_release, "6.1.0-fake");
  run_all(*pool, many(17));
  EXPECT_EQ(pool->stats().restarts, 0u);
  fault("crash");
  auto pool2 = make_host_pool(host_cfg(), pool_opt(1));
  expect_culprit(*pool2, VmFailure::Exited, nullptr);
}

// --- runner -------------------------------------------------------------------------------------

std::vector<Case> battery() {
  std::vector<Case> v;
  for (const auto& f : collect_case_files({std::string(SECDIFF_SOURCE_DIR) + "/tests/vm/cases"}))
    v.push_back(load_case_file(f));
  return v;
}

TEST_F(FakeEnv, RunnerAgreesWithAnOracleKernel) {
  auto pool = make_qemu_pool(qemu_cfg(), pool_opt(2));
  RunnerOptions ro;
  ro.jit = JitMode::Both;
  DiffRunner runner(*pool, ro);
  const auto cases = battery();
  const DiffSummary s = runner.run(cases);
  for (const Mismatch& m : s.list) ADD_FAILURE() << m.report;
  EXPECT_EQ(s.executions, 2 * cases.size());
  EXPECT_TRUE(s.cache_compared);
  EXPECT_EQ(s.profile, "6.1");
}

TEST_F(FakeEnv, RunnerReportsMismatchesAndSavesFindings) {
  auto cases = battery();
  const Case boom = simple_case("boom", 4078);
  cases.push_back(boom);
  std::string faults = "crash:" + key(boom);
  for (const Case& c : cases) {
    if (c.name == "errno-values") faults += ",wrong:" + key(c);
    if (c.name == "allow-all") faults += ",bitmap:" + key(c);
  }
  ::setenv("FAKE_AGENT_FAULTS", faults.c_str(), 1);
  auto pool = make_qemu_pool(qemu_cfg(), pool_opt(1));
  RunnerOptions ro;
  ro.findings_dir = (dir_ / "findings").string();
  DiffRunner runner(*pool, ro);
  std::vector<std::string> seen;
  const DiffSummary s = runner.run(cases, [&](const Mismatch& m) { seen.push_back(m.property); });
  EXPECT_GT(s.by_property.count("errno-data") ? s.by_property.at("errno-data") : 0u, 0u);
  EXPECT_EQ(s.by_property.count("vm-crash") ? s.by_property.at("vm-crash") : 0u, 1u);
  EXPECT_GT(s.by_property.count("cache-bitmap") ? s.by_property.at("cache-bitmap") : 0u, 0u);
  EXPECT_EQ(seen.size(), s.mismatches);
  std::set<std::string> props;
  for (const Mismatch& m : s.list) {
    props.insert(m.property);
    EXPECT_FALSE(m.finding.empty());
    EXPECT_TRUE(fs::exists(m.finding)) << m.finding;
    const std::string txt = m.finding.substr(0, m.finding.size() - 5) + ".txt";
    EXPECT_TRUE(fs::exists(txt)) << txt;
    // The saved case loads and is the case that showed the mismatch.
    EXPECT_EQ(load_case_file(m.finding).filters, cases[m.case_index].filters);
    EXPECT_NE(m.report.find("MISMATCH " + m.property), std::string::npos);
    if (m.property == "errno-data") {
      EXPECT_NE(m.report.find("oracle trace:"), std::string::npos) << m.report;
      EXPECT_NE(m.report.find("kernel: returned"), std::string::npos) << m.report;
    }
    if (m.property == "vm-crash") { EXPECT_NE(m.report.find("crashing on " + key(boom)), std::string::npos) << m.report; }
  }
  EXPECT_EQ(props, (std::set<std::string>{"errno-data", "vm-crash", "cache-bitmap"}));
  // Same mismatches again: all duplicates.
  auto pool2 = make_qemu_pool(qemu_cfg(), pool_opt(1));
  DiffRunner runner2(*pool2, ro);
  const DiffSummary s2 = runner2.run(cases);
  EXPECT_EQ(s2.findings_new, 0u);
  EXPECT_EQ(s2.findings_duplicate, s2.mismatches);
}

TEST_F(FakeEnv, RunnerWrongModelGivesBitmapMismatches) {
  auto pool = make_qemu_pool(qemu_cfg(), pool_opt(2));
  RunnerOptions ro;
  ro.model = "rfc-v1";
  DiffRunner runner(*pool, ro);
  const DiffSummary s = runner.run(battery());
  ASSERT_TRUE(s.by_property.count("cache-bitmap")) << "rfc-v1 should differ from the linux cache";
  for (const Mismatch& m : s.list) EXPECT_EQ(m.property, "cache-bitmap") << m.report;
}

TEST_F(FakeEnv, RunnerWithoutCacheDebugComparesNoBitmaps) {
  ::setenv("FAKE_AGENT_FEATURES", "0x14", 1);  // ia32 + audit
  auto pool = make_qemu_pool(qemu_cfg(), pool_opt(1));
  RunnerOptions ro;
  ro.model = "rfc-v1";
  DiffRunner runner(*pool, ro);
  const DiffSummary s = runner.run(battery());
  EXPECT_FALSE(s.cache_compared);
  EXPECT_EQ(s.mismatches, 0u);
}

// Parallel launches (the pool boots one VM per core at once) must not wait for
// each other's children: without spawn()'s lock a launch sometimes inherits
// another's exec-error pipe and waits until that long-lived child exits.
TEST(Spawn, ParallelLaunchesDoNotWaitForOtherChildren) {
  namespace bp = boost::process;
  std::mutex mu;
  std::vector<bp::child> kids;
  double worst = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; t++)
    threads.emplace_back([&] {
      for (int i = 0; i < 25; i++) {
        const auto t0 = std::chrono::steady_clock::now();
        bp::child c = spawn(bp::exe = "/bin/sleep", bp::args = {"30"});
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::lock_guard<std::mutex> l(mu);
        worst = std::max(worst, s);
        kids.push_back(std::move(c));
      }
    });
  for (auto& t : threads) t.join();
  for (bp::child& k : kids) {
    std::error_code ec;
    k.terminate(ec);
  }
  // A launch that waited for another child waited for its 30 s sleep.
  EXPECT_LT(worst, 15.0) << "a launch waited for another thread's child";
  EXPECT_EQ(kids.size(), 200u);
}

}  // namespace
}  // namespace secdiff::vm
