// The VM broker and the differential service (vm/broker.h, vm/diff_service.h)
// over the host backend with fake_agent (which answers with the oracle's
// prediction, or a wrong ERRNO value for one case on request): cases from
// several clients all run and are compared, a mismatch is reported to its
// client and saved once, and the cases of a client that goes away still run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "oracle/case_codec.h"
#include "oracle/formats/formats.h"
#include "vm/broker.h"
#include "vm/diff_service.h"
#include "vm/pool.h"

namespace secdiff::vm {
namespace {

namespace fs = std::filesystem;

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

Case simple_case(uint32_t errno_value) {
  Case c;
  CaseFilter f;
  f.prog = assemble("ld [0]\njeq #110, deny\nret #ALLOW\ndeny: ret #ERRNO(" + std::to_string(errno_value) + ")\n");
  c.filters.push_back(f);
  CaseInput a, b;
  a.nr = 110;
  b.nr = 39;
  c.inputs = {a, b};
  return c;
}

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("secdiff-broker-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ::setenv("FAKE_AGENT_STATE", dir_.c_str(), 1);
    ::unsetenv("FAKE_AGENT_FAULTS");
  }
  // Starts the agents (they read FAKE_AGENT_FAULTS when they start).
  void boot(const std::string& faults = "") {
    if (!faults.empty()) ::setenv("FAKE_AGENT_FAULTS", faults.c_str(), 1);
    HostAgentConfig hc;
    hc.agent = SECDIFF_FAKE_AGENT;
    PoolOptions po;
    po.jobs = 2;
    po.batch_cases = 4;
    pool_ = make_host_pool(hc, po);
    RunnerOptions ro;
    ro.findings_dir = (dir_ / "findings").string();
    service_ = std::make_unique<DiffService>(*pool_, ro, 16);
    service_->start();
    broker_ = std::make_unique<BrokerServer>(*service_, (dir_ / "vm.sock").string());
    broker_->start();
  }
  void TearDown() override {
    if (broker_) broker_->stop();
    if (service_) service_->stop();
    if (pool_) pool_->stop();
    ::unsetenv("FAKE_AGENT_FAULTS");
    fs::remove_all(dir_);
  }
  fs::path dir_;
  std::unique_ptr<Pool> pool_;
  std::unique_ptr<DiffService> service_;
  std::unique_ptr<BrokerServer> broker_;
};

TEST_F(BrokerTest, CasesFromSeveralClientsAllRun) {
  boot();
  constexpr int kClients = 3, kCases = 40;
  std::vector<std::thread> ts;
  std::vector<uint64_t> ran(kClients), mism(kClients);
  for (int k = 0; k < kClients; k++)
    ts.emplace_back([&, k] {
      BrokerClient c(8);
      c.connect(broker_->path());
      for (int i = 0; i < kCases; i++) c.submit(encode_case(simple_case(static_cast<uint32_t>(k * 100 + i + 1))));
      c.flush();
      ran[k] = c.ran();
      mism[k] = c.mismatches();
    });
  for (auto& t : ts) t.join();
  for (int k = 0; k < kClients; k++) {
    EXPECT_EQ(ran[k], static_cast<uint64_t>(kCases));
    EXPECT_EQ(mism[k], 0u);
  }
  service_->drain();
  const ServiceStats s = service_->stats();
  EXPECT_EQ(s.done, static_cast<uint64_t>(kClients * kCases));
  EXPECT_EQ(s.inputs, static_cast<uint64_t>(kClients * kCases * 2));
  EXPECT_EQ(s.mismatches, 0u);
}

TEST_F(BrokerTest, MismatchIsReportedAndSavedOnce) {
  const Case bad = simple_case(4077);
  boot("wrong:" + key(bad));
  BrokerClient c(4);
  c.connect(broker_->path());
  for (int i = 0; i < 10; i++) c.submit(encode_case(simple_case(static_cast<uint32_t>(i + 1))));
  c.submit(encode_case(bad));
  c.submit(encode_case(bad));
  c.flush();
  EXPECT_EQ(c.ran(), 12u);
  EXPECT_GE(c.mismatches(), 2u);  // the same errno-data mismatch, twice
  const ServiceStats s = service_->stats();
  EXPECT_EQ(s.findings_new, 1u);
  EXPECT_GE(s.findings_duplicate, 1u);
  EXPECT_EQ(s.by_property.count("errno-data"), 1u);
  size_t json = 0;
  for (const auto& e : fs::directory_iterator(dir_ / "findings")) json += e.path().extension() == ".json";
  EXPECT_EQ(json, 1u);
  EXPECT_EQ(service_->take_new_findings().size(), 1u);
}

TEST_F(BrokerTest, CasesOfAClientThatLeftStillRun) {
  const Case bad = simple_case(4077);
  boot("wrong:" + key(bad));
  {
    BrokerClient c(64);
    c.connect(broker_->path());
    for (int i = 0; i < 30; i++) c.submit(encode_case(simple_case(static_cast<uint32_t>(i + 1))));
    c.submit(encode_case(bad));
  }  // gone without waiting for a reply
  for (int i = 0; i < 200 && service_->stats().done < 31; i++) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  service_->drain();
  const ServiceStats s = service_->stats();
  EXPECT_EQ(s.done, 31u);
  EXPECT_EQ(s.findings_new, 1u);
}

TEST_F(BrokerTest, UndecodableFrameGetsItsStatus) {
  boot();
  BrokerClient c(1);
  c.connect(broker_->path());
  c.submit("not a case");
  c.flush();
  EXPECT_EQ(c.ran(), 0u);
  EXPECT_EQ(c.down(), 0u);
  c.submit(encode_case(simple_case(1)));
  c.flush();
  EXPECT_EQ(c.ran(), 1u);
}

TEST(BrokerClientTest, NoBrokerIsAClearError) {
  BrokerClient c;
  try {
    c.connect("/nonexistent/secdiff.sock");
    FAIL() << "connected to nothing";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot connect to the VM broker"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace secdiff::vm
