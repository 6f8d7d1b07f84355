#include "vm/broker.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "oracle/case_codec.h"

namespace secdiff::vm {

namespace {

constexpr uint32_t kMaxFrame = 16u << 20;

bool write_all(int fd, const void* p, size_t n) {
  const char* b = static_cast<const char*>(p);
  while (n) {
    const ssize_t w = ::send(fd, b, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    b += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool read_all(int fd, void* p, size_t n) {
  char* b = static_cast<char*>(p);
  while (n) {
    const ssize_t r = ::read(fd, b, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    b += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

void put32(char* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = static_cast<char>(v >> (8 * i));
}
uint32_t get32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

sockaddr_un address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) throw std::runtime_error(path + ": socket path too long");
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

}  // namespace

struct BrokerServer::Conn {
  int fd = -1;
  std::mutex write_mu;
  void reply(uint32_t status, uint32_t mismatches) {
    char b[8];
    put32(b, status);
    put32(b + 4, mismatches);
    std::lock_guard<std::mutex> g(write_mu);
    if (fd >= 0) write_all(fd, b, sizeof b);
  }
};

BrokerServer::BrokerServer(DiffService& service, std::string socket_path)
    : service_(service), path_(std::move(socket_path)) {}

BrokerServer::~BrokerServer() { stop(); }

void BrokerServer::start() {
  const sockaddr_un a = address(path_);
  ::unlink(path_.c_str());
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 64) != 0) {
    const std::string err = std::strerror(errno);
    ::close(listen_fd_);
    listen_fd_ = -1;
    throw std::runtime_error(path_ + ": " + err);
  }
  acceptor_ = std::thread([this] { accept_loop(); });
}

void BrokerServer::stop() {
  if (stopping_.exchange(true)) return;
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
  std::unique_lock<std::mutex> g(mu_);
  for (auto& c : conns_) {
    std::lock_guard<std::mutex> w(c->write_mu);
    if (c->fd >= 0) ::shutdown(c->fd, SHUT_RDWR);
  }
  done_cv_.wait(g, [&] { return conns_.empty(); });
  g.unlock();
  ::unlink(path_.c_str());
}

void BrokerServer::accept_loop() {
  while (!stopping_) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // shut down
    }
    auto c = std::make_shared<Conn>();
    c->fd = fd;
    std::lock_guard<std::mutex> g(mu_);
    conns_.push_back(c);
    std::thread([this, c] { serve(c); }).detach();
  }
}

void BrokerServer::serve(std::shared_ptr<Conn> c) {
  clients_++;
  {
    char hello[8] = {'S', 'D', 'B', '1', 0, 0, 0, 0};
    std::lock_guard<std::mutex> g(c->write_mu);
    write_all(c->fd, hello, sizeof hello);
  }
  std::string buf;
  for (;;) {
    char h[4];
    if (!read_all(c->fd, h, 4)) break;
    const uint32_t n = get32(h);
    if (n > kMaxFrame) break;
    buf.resize(n);
    if (!read_all(c->fd, buf.data(), n)) break;
    Case cs;
    try {
      cs = decode_case(buf);
    } catch (const std::exception&) {
      c->reply(kUndecodable, 0);
      continue;
    }
    service_.submit(std::move(cs), [c](size_t mismatches, bool ran) {
      c->reply(ran ? kRan : kDown, static_cast<uint32_t>(mismatches));
    });
  }
  clients_--;
  // Cases it sent still run; their replies go nowhere.
  {
    std::lock_guard<std::mutex> g(c->write_mu);
    ::close(c->fd);
    c->fd = -1;
  }
  std::lock_guard<std::mutex> g(mu_);
  std::erase(conns_, c);
  done_cv_.notify_all();
}

BrokerClient::~BrokerClient() {
  if (fd_ >= 0) ::close(fd_);
}

void BrokerClient::connect(const std::string& socket_path) {
  const sockaddr_un a = address(socket_path);
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0)
    throw std::runtime_error(socket_path + ": cannot connect to the VM broker: " + std::strerror(errno));
  char hello[8];
  if (!read_all(fd_, hello, sizeof hello) || std::memcmp(hello, "SDB1", 4) != 0)
    throw std::runtime_error(socket_path + ": not a secdiff VM broker (protocol SDB1)");
}

void BrokerClient::read_reply() {
  char b[8];
  if (!read_all(fd_, b, sizeof b)) throw std::runtime_error("the VM broker closed the connection");
  in_flight_--;
  const uint32_t st = get32(b);
  if (st == kRan) ran_++;
  if (st == kDown) down_++;
  mismatches_ += get32(b + 4);
}

void BrokerClient::submit(std::string_view encoded_case) {
  if (fd_ < 0) throw std::runtime_error("not connected to the VM broker");
  while (in_flight_ >= window_) read_reply();
  char h[4];
  put32(h, static_cast<uint32_t>(encoded_case.size()));
  if (!write_all(fd_, h, 4) || !write_all(fd_, encoded_case.data(), encoded_case.size()))
    throw std::runtime_error("the VM broker closed the connection");
  in_flight_++;
}

void BrokerClient::flush() {
  while (in_flight_ > 0) read_reply();
}

}  // namespace secdiff::vm
