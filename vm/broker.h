// The VM broker: one DiffService (the VM pool) shared by fuzz workers in other
// processes (libFuzzer -fork jobs, AFL++ instances) over a Unix socket, so the
// VMs boot once per campaign and outlive the workers. A worker sends cases and
// gets, per case, whether it ran and how many mismatches it showed; the broker
// compares and saves findings itself, so a worker that exits or crashes with
// cases in flight loses none of their results.
//
// Wire (little-endian): on connect the broker sends "SDB1" + u32 0. Then the
// worker sends frames u32 length + one case in the compact encoding
// (oracle/case_codec.h), and receives, in order, one reply per frame:
// u32 status (kRan, kUndecodable, kDown) + u32 mismatches.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "vm/diff_service.h"

namespace secdiff::vm {

enum BrokerStatus : uint32_t { kRan = 0, kUndecodable = 1, kDown = 2 };

class BrokerServer {
 public:
  BrokerServer(DiffService& service, std::string socket_path);
  ~BrokerServer();
  void start();  // binds and listens (throws std::runtime_error); serves on its own threads
  void stop();   // stops accepting, closes connections (cases already queued still run)
  const std::string& path() const { return path_; }
  size_t clients() const { return clients_.load(); }

 private:
  struct Conn;
  void accept_loop();
  void serve(std::shared_ptr<Conn> c);

  DiffService& service_;
  std::string path_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> clients_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  std::vector<std::shared_ptr<Conn>> conns_;  // served by detached threads
};

// The worker side: keeps up to `window` cases in flight.
class BrokerClient {
 public:
  explicit BrokerClient(size_t window = 16) : window_(window ? window : 1) {}
  ~BrokerClient();
  void connect(const std::string& socket_path);  // throws std::runtime_error
  // Sends a case (compact encoding); first waits for replies while `window`
  // cases are in flight. Throws std::runtime_error when the broker is gone.
  void submit(std::string_view encoded_case);
  void flush();  // waits for every reply
  uint64_t mismatches() const { return mismatches_; }
  uint64_t ran() const { return ran_; }
  uint64_t down() const { return down_; }

 private:
  void read_reply();
  int fd_ = -1;
  size_t window_;
  size_t in_flight_ = 0;
  uint64_t mismatches_ = 0, ran_ = 0, down_ = 0;
};

}  // namespace secdiff::vm
