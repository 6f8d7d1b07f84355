#include "vm/qemu.h"
#include "vm/spawn.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <boost/process.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

namespace secdiff::vm {

namespace bp = boost::process;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const char* vm_failure_name(VmFailure f) {
  switch (f) {
    case VmFailure::Boot: return "boot";
    case VmFailure::Panic: return "panic";
    case VmFailure::Exited: return "exited";
    case VmFailure::Hang: return "hang";
    case VmFailure::Protocol: return "protocol";
  }
  return "?";
}

FaultInjection parse_fault(const std::string& spec) {
  FaultInjection f;
  std::string kind = spec;
  const size_t at = spec.find('@');
  if (at != std::string::npos) {
    kind = spec.substr(0, at);
    try {
      size_t pos = 0;
      f.at_batch = std::stoi(spec.substr(at + 1), &pos);
      if (pos != spec.size() - at - 1 || f.at_batch < 1) throw std::invalid_argument("n");
    } catch (const std::exception&) {
      throw std::invalid_argument("bad fault '" + spec + "' (expected KIND[@N], N >= 1)");
    }
  }
  if (kind == "none") f.kind = FaultKind::None;
  else if (kind == "kill") f.kind = FaultKind::KillQemu;
  else if (kind == "panic") f.kind = FaultKind::Panic;
  else if (kind == "garbage") f.kind = FaultKind::Garbage;
  else if (kind == "hang") f.kind = FaultKind::Hang;
  else throw std::invalid_argument("unknown fault '" + kind + "' (kill, panic, garbage, hang)");
  return f;
}

// --- FrameChannel -------------------------------------------------------------------------------

FrameChannel::~FrameChannel() { close(); }

void FrameChannel::close() {
  if (rfd_ >= 0) ::close(rfd_);
  if (wfd_ >= 0 && wfd_ != rfd_) ::close(wfd_);
  rfd_ = wfd_ = -1;
}

void FrameChannel::reset(int rfd, int wfd) {
  close();
  rfd_ = rfd;
  wfd_ = wfd;
  dec_ = FrameDecoder();
  garbage_ = false;
}

namespace {

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
}

}  // namespace

void FrameChannel::send(MsgType type, std::string_view payload, Clock::time_point deadline) {
  if (wfd_ < 0) throw VmError(VmFailure::Exited, "channel closed");
  const std::string frame = encode_frame(type, payload);
  size_t off = 0;
  while (off < frame.size()) {
    pollfd p{wfd_, POLLOUT, 0};
    const int pr = ::poll(&p, 1, std::min(remaining_ms(deadline), 100));
    if (pr < 0 && errno != EINTR) throw VmError(VmFailure::Exited, std::string("poll: ") + std::strerror(errno));
    if (pr <= 0) {
      if (Clock::now() >= deadline) throw VmError(VmFailure::Hang, "timed out sending a frame to the agent");
      continue;
    }
    ssize_t n = ::send(wfd_, frame.data() + off, frame.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == ENOTSOCK) n = ::write(wfd_, frame.data() + off, frame.size() - off);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw VmError(VmFailure::Exited, std::string("writing to the agent: ") + std::strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
}

Frame FrameChannel::recv(Clock::time_point deadline, const std::function<void()>& poll_hook) {
  std::array<char, 65536> buf;
  for (;;) {
    try {
      while (std::optional<Frame> f = dec_.next()) {
        if (f->type == MsgType::Log) {
          logs_.push_back(std::move(f->payload));
          if (logs_.size() > 200) logs_.pop_front();
          continue;
        }
        return std::move(*f);
      }
    } catch (const ProtocolError& e) {
      throw VmError(VmFailure::Protocol, e.what());
    }
    if (rfd_ < 0) throw VmError(VmFailure::Exited, "channel closed");
    pollfd p{rfd_, POLLIN, 0};
    const int pr = ::poll(&p, 1, std::min(remaining_ms(deadline), 100));
    if (pr < 0 && errno != EINTR) throw VmError(VmFailure::Exited, std::string("poll: ") + std::strerror(errno));
    if (pr <= 0) {
      if (poll_hook) poll_hook();
      if (Clock::now() >= deadline) throw VmError(VmFailure::Hang, "no answer from the agent in time");
      continue;
    }
    const ssize_t n = ::read(rfd_, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw VmError(VmFailure::Exited, std::string("reading from the agent: ") + std::strerror(errno));
    }
    if (n == 0) {
      if (poll_hook) poll_hook();
      throw VmError(VmFailure::Exited, "the agent closed the channel");
    }
    if (garbage_) {
      // Test fault: what arrived is replaced by bytes that are no frame.
      std::string junk(static_cast<size_t>(n) + kHeaderSize, '\0');
      for (size_t i = 0; i < junk.size(); i++) junk[i] = static_cast<char>(0xa5 ^ (i * 31));
      dec_.feed(junk.data(), junk.size());
      garbage_ = false;
    } else {
      dec_.feed(buf.data(), static_cast<size_t>(n));
    }
  }
}

// --- protocol exchanges -------------------------------------------------------------------------

Hello await_hello(FrameChannel& ch, Clock::time_point deadline, const std::function<void()>& poll_hook) {
  Frame f;
  try {
    f = ch.recv(deadline, poll_hook);
  } catch (const VmError& e) {
    if (e.kind() == VmFailure::Hang)
      throw VmError(VmFailure::Boot, "no Hello from the agent before the boot timeout");
    throw;
  }
  if (f.type != MsgType::Hello)
    throw VmError(VmFailure::Protocol, "expected Hello, got message type " +
                                           std::to_string(static_cast<int>(f.type)));
  try {
    return decode_hello(f.payload);
  } catch (const WireError& e) {
    throw VmError(VmFailure::Protocol, std::string("malformed Hello: ") + e.what());
  }
}

ResultBatch request_batch(FrameChannel& ch, const RunBatch& batch, Clock::time_point deadline,
                          const std::function<void()>& poll_hook) {
  ch.send(MsgType::Run, encode(batch), deadline);
  return await_result(ch, batch, deadline, poll_hook);
}

ResultBatch await_result(FrameChannel& ch, const RunBatch& batch, Clock::time_point deadline,
                         const std::function<void()>& poll_hook) {
  for (;;) {
    Frame f = ch.recv(deadline, poll_hook);
    if (f.type == MsgType::Pong) continue;  // a late answer to a ping
    if (f.type != MsgType::Result)
      throw VmError(VmFailure::Protocol, "expected Result, got message type " +
                                             std::to_string(static_cast<int>(f.type)));
    ResultBatch r;
    try {
      r = decode_result(f.payload);
    } catch (const WireError& e) {
      throw VmError(VmFailure::Protocol, std::string("malformed Result: ") + e.what());
    }
    if (r.batch_id != batch.batch_id)
      throw VmError(VmFailure::Protocol, "Result for batch " + std::to_string(r.batch_id) + ", expected " +
                                             std::to_string(batch.batch_id));
    if (r.results.size() != batch.cases.size())
      throw VmError(VmFailure::Protocol, "Result has " + std::to_string(r.results.size()) + " cases, expected " +
                                             std::to_string(batch.cases.size()));
    for (size_t i = 0; i < r.results.size(); i++) {
      const CaseResult& cr = r.results[i];
      if (cr.outcomes.size() != batch.cases[i].inputs.size() || cr.installs.size() != batch.cases[i].filters.size())
        throw VmError(VmFailure::Protocol,
                      "Result of case " + std::to_string(i) + " has " + std::to_string(cr.installs.size()) +
                          " installs and " + std::to_string(cr.outcomes.size()) + " outcomes, expected " +
                          std::to_string(batch.cases[i].filters.size()) + " and " +
                          std::to_string(batch.cases[i].inputs.size()));
    }
    return r;
  }
}

bool request_ping(FrameChannel& ch, uint64_t nonce, Clock::time_point deadline,
                  const std::function<void()>& poll_hook) {
  WireWriter w;
  w.u64(nonce);
  try {
    ch.send(MsgType::Ping, w.data(), deadline);
    for (;;) {
      Frame f = ch.recv(deadline, poll_hook);
      if (f.type != MsgType::Pong) return false;
      if (f.payload == w.data()) return true;
    }
  } catch (const VmError&) {
    return false;
  }
}

// --- console ------------------------------------------------------------------------------------

std::string default_kernel_cmdline() {
  // panic=-1 + QEMU's -no-reboot: a panic ends QEMU at once; oops=panic: an oops
  // too. unknown_nmi_panic: the QMP "nmi" of the panic fault test panics.
  //
  // The rest only shortens the boot under TCG (measured in docs/benchmarks.md);
  // none of it touches seccomp, audit, ptrace or the syscall paths under test:
  //   noapictimer        no 100 ms local APIC timer calibration (the HPET ticks)
  //   no_timer_check     no IO-APIC timer IRQ self-test (~40 ms)
  //   tsc=reliable       no TSC stability checks and clocksource watchdog (whose
  //                      verdict is noise under TCG)
  //   pty.legacy_count=0 no 2 x 256 legacy BSD pty devices (debug kernel, ~0.2 s)
  //   cryptomgr.notests  no crypto self-tests at boot (Debian kernel, ~0.2-0.4 s)
  // ACPI stays: without it there is no HPET or PM timer, the TSC calibration
  // against the PIT alone sometimes fails under TCG, and the clocksource falls
  // back to jiffies (4 ms clock). start() trims its AML instead.
  return "console=ttyS0 loglevel=4 panic=-1 oops=panic unknown_nmi_panic "
         "noapictimer no_timer_check tsc=reliable pty.legacy_count=0 cryptomgr.notests";
}

std::optional<std::string> find_kernel_fault(std::string_view console) {
  static const char* const kPatterns[] = {"Kernel panic", "BUG:", "general protection fault",
                                          "Oops:", "kernel BUG at"};
  size_t best = std::string_view::npos;
  for (const char* p : kPatterns) best = std::min(best, console.find(p));
  if (best == std::string_view::npos) return std::nullopt;
  const size_t bol = console.rfind('\n', best);
  const size_t start = bol == std::string_view::npos ? 0 : bol + 1;
  size_t eol = console.find('\n', best);
  if (eol == std::string_view::npos) eol = console.size();
  std::string line(console.substr(start, eol - start));
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  return line;
}

namespace {

std::string read_tail(const std::string& path, size_t max_bytes, size_t from = 0) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return "";
  f.seekg(0, std::ios::end);
  const auto size = static_cast<size_t>(std::max<std::streamoff>(0, f.tellg()));
  size_t start = size > max_bytes ? size - max_bytes : 0;
  start = std::max(start, std::min(from, size));
  f.seekg(static_cast<std::streamoff>(start));
  std::string out(size - start, '\0');
  f.read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<size_t>(f.gcount()));
  return out;
}

int unix_listen(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) throw VmError(VmFailure::Boot, "socket path too long: " + path);
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw VmError(VmFailure::Boot, std::string("socket: ") + std::strerror(errno));
  ::unlink(path.c_str());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 || ::listen(fd, 1) < 0) {
    const int e = errno;
    ::close(fd);
    throw VmError(VmFailure::Boot, "listening on " + path + ": " + std::strerror(e));
  }
  return fd;
}

int unix_connect(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) return -1;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string make_temp_dir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + prefix + "XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) throw VmError(VmFailure::Boot, "mkdtemp " + templ + ": " + std::strerror(errno));
  return buf.data();
}

}  // namespace

// --- QemuVm -------------------------------------------------------------------------------------

struct QemuVm::Proc {
  bp::child child;
};

QemuVm::QemuVm(QemuConfig cfg, int index, int generation)
    : cfg_(std::move(cfg)), index_(index), generation_(generation) {}

QemuVm::~QemuVm() {
  kill();
  if (own_dir_ && !cfg_.keep_files && !dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

void QemuVm::fail_exited(const std::string& what) {
  dead_ = true;
  const std::string tail = read_tail(console_, 1 << 20, console_scanned_ > (1 << 16) ? console_scanned_ - (1 << 16) : 0);
  if (auto fault = find_kernel_fault(tail)) throw VmError(VmFailure::Panic, "kernel fault: " + *fault);
  std::string msg = what;
  const std::string qlog = read_tail(qemu_log_, 2000);
  if (!qlog.empty()) msg += "; qemu said: " + qlog;
  throw VmError(VmFailure::Exited, msg);
}

void QemuVm::check_alive() {
  if (!proc_) throw VmError(VmFailure::Exited, "QEMU is not running");
  std::error_code ec;
  if (!proc_->child.running(ec)) {
    const int code = proc_->child.native_exit_code();
    std::string how = WIFSIGNALED(code) ? "killed by signal " + std::to_string(WTERMSIG(code))
                                        : "exit status " + std::to_string(WEXITSTATUS(code));
    fail_exited("QEMU exited (" + how + ")");
  }
}

void QemuVm::check_console() {
  const std::string fresh = read_tail(console_, 1 << 22, console_scanned_);
  // Rescan a little overlap so a pattern split across two reads is found.
  if (auto fault = find_kernel_fault(fresh)) {
    dead_ = true;
    throw VmError(VmFailure::Panic, "kernel fault: " + *fault);
  }
  const size_t total = console_scanned_ + fresh.size();
  console_scanned_ = total > 64 ? total - 64 : 0;
}

const Hello& QemuVm::start() {
  const auto t0 = Clock::now();
  if (cfg_.kernel.empty() || !fs::exists(cfg_.kernel)) throw VmError(VmFailure::Boot, "kernel not found: " + cfg_.kernel);
  if (cfg_.initrd.empty() || !fs::exists(cfg_.initrd)) throw VmError(VmFailure::Boot, "initramfs not found: " + cfg_.initrd);
  if (cfg_.work_dir.empty()) {
    dir_ = make_temp_dir("secdiff-vm" + std::to_string(index_) + "-");
    own_dir_ = true;
  } else {
    dir_ = cfg_.work_dir + "/vm" + std::to_string(index_) + "-" + std::to_string(generation_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
    fs::create_directories(dir_, ec);
    if (ec) throw VmError(VmFailure::Boot, "cannot create " + dir_ + ": " + ec.message());
  }
  sock_ = dir_ + "/chan.sock";
  qmp_sock_ = dir_ + "/qmp.sock";
  console_ = dir_ + "/console.log";
  qemu_log_ = dir_ + "/qemu.log";
  listen_fd_ = unix_listen(sock_);

  std::string exe = cfg_.qemu;
  if (exe.find('/') == std::string::npos) {
    const auto found = bp::search_path(exe);
    if (found.empty()) throw VmError(VmFailure::Boot, exe + " not found in PATH (apt-get install qemu-system-x86)");
    exe = found.string();
  }
  std::string append = default_kernel_cmdline();
  if (!cfg_.append.empty()) append += " " + cfg_.append;
  argv_ = {"-accel", "tcg", "-smp", "1", "-m", std::to_string(cfg_.memory_mb) + "M",
           "-display", "none", "-no-reboot", "-nic", "none", "-nodefaults",
           "-kernel", cfg_.kernel, "-initrd", cfg_.initrd, "-append", append,
           "-serial", "file:" + console_,
           "-device", "virtio-serial-pci,id=vs0",
           "-chardev", "socket,id=ch0,path=" + sock_,
           "-device", "virtserialport,bus=vs0.0,chardev=ch0,name=" + cfg_.port_name,
           // The agent powers off through this port (vm/guest/main.cc): immediate.
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
           // No PCI/memory hotplug methods in the DSDT: less AML for the kernel's
           // ACPI interpreter to run at boot.
           "-global", "PIIX4_PM.acpi-root-pci-hotplug=off",
           "-global", "PIIX4_PM.acpi-pci-hotplug-with-bridge-support=off",
           "-global", "PIIX4_PM.memory-hotplug-support=off",
           "-qmp", "unix:" + qmp_sock_ + ",server=on,wait=off"};
  argv_.insert(argv_.end(), cfg_.extra_args.begin(), cfg_.extra_args.end());
  try {
    proc_ = std::make_unique<Proc>(Proc{spawn(bp::exe = exe, bp::args = argv_,
                                                  bp::std_in < bp::null, (bp::std_out & bp::std_err) > qemu_log_)});
  } catch (const std::exception& e) {
    throw VmError(VmFailure::Boot, "cannot start " + exe + ": " + e.what());
  }
  argv_.insert(argv_.begin(), exe);

  // QEMU connects to our socket while it sets up its devices.
  const auto deadline = t0 + cfg_.boot_timeout;
  int fd = -1;
  while (fd < 0) {
    pollfd p{listen_fd_, POLLIN, 0};
    const int pr = ::poll(&p, 1, 100);
    if (pr > 0) {
      fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0 && errno != EINTR && errno != EAGAIN)
        throw VmError(VmFailure::Boot, std::string("accept: ") + std::strerror(errno));
      continue;
    }
    try {
      check_alive();
    } catch (const VmError& e) {
      throw VmError(VmFailure::Boot, std::string("QEMU did not start: ") + e.what());
    }
    if (Clock::now() >= deadline) throw VmError(VmFailure::Boot, "QEMU did not connect to " + sock_);
  }
  ::close(listen_fd_);
  listen_fd_ = -1;
  chan_.reset(fd, fd);
  try {
    hello_ = await_hello(chan_, deadline, [this] {
      check_alive();
      check_console();
    });
  } catch (const VmError& e) {
    if (e.kind() == VmFailure::Exited || e.kind() == VmFailure::Hang)
      throw VmError(VmFailure::Boot, std::string("boot failed: ") + e.what());
    throw;
  }
  boot_seconds_ = std::chrono::duration<double>(Clock::now() - t0).count();
  return hello_;
}

void QemuVm::qmp(const std::string& command_json) {
  const int fd = unix_connect(qmp_sock_);
  if (fd < 0) return;
  auto read_line = [fd] {
    std::string line;
    char c;
    for (int i = 0; i < 20000; i++) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 2000) <= 0) break;
      if (::read(fd, &c, 1) != 1) break;
      if (c == '\n') break;
      line += c;
    }
    return line;
  };
  auto write_all = [fd](const std::string& s) {
    return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  };
  read_line();  // greeting
  if (write_all("{\"execute\":\"qmp_capabilities\"}\n")) {
    read_line();
    if (write_all(command_json + "\n")) read_line();
  }
  ::close(fd);
}

void QemuVm::apply_fault() {
  if (fault_.kind == FaultKind::None || batches_ != fault_.at_batch) return;
  const FaultKind k = fault_.kind;
  fault_.kind = FaultKind::None;  // once
  // Let the batch get going first, so the fault lands mid-batch.
  std::this_thread::sleep_for(Millis(30));
  switch (k) {
    case FaultKind::KillQemu:
      if (proc_) ::kill(proc_->child.id(), SIGKILL);
      break;
    case FaultKind::Panic:
      qmp(R"({"execute":"human-monitor-command","arguments":{"command-line":"nmi"}})");
      break;
    case FaultKind::Hang:
      qmp(R"({"execute":"stop"})");
      break;
    case FaultKind::Garbage:
      chan_.inject_garbage();
      break;
    case FaultKind::None:
      break;
  }
}

ResultBatch QemuVm::run(const RunBatch& batch, Millis timeout) {
  send_batch(batch, timeout);
  return await_batch(batch, timeout);
}

// Runs f on a live VM; any failure marks the VM dead and is a VmError.
template <class F>
auto QemuVm::guarded(F&& f) -> decltype(f()) {
  if (dead_) throw VmError(VmFailure::Exited, "the VM has failed before");
  try {
    return f();
  } catch (const VmError&) {
    dead_ = true;
    throw;
  } catch (const WireError& e) {
    dead_ = true;
    throw VmError(VmFailure::Protocol, e.what());
  }
}

void QemuVm::send_batch(const RunBatch& batch, Millis timeout) {
  guarded([&] {
    batches_++;
    chan_.send(MsgType::Run, encode(batch), Clock::now() + timeout);
    apply_fault();
  });
}

ResultBatch QemuVm::await_batch(const RunBatch& batch, Millis timeout) {
  return guarded([&] {
    const auto deadline = Clock::now() + timeout;
    ResultBatch r = await_result(chan_, batch, deadline, [this] {
      check_alive();
      check_console();
    });
    // A kernel that oopsed while the batch ran is not trusted, even if it answered.
    check_console();
    return r;
  });
}

bool QemuVm::ping(Millis timeout) {
  if (dead_ || !proc_) return false;
  const bool ok = request_ping(chan_, ++nonce_, Clock::now() + timeout, [this] { check_alive(); });
  if (!ok) dead_ = true;
  return ok;
}

void QemuVm::shutdown() {
  if (!proc_) return;
  if (!dead_) {
    try {
      chan_.send(MsgType::Shutdown, "", Clock::now() + Millis(500));
    } catch (const VmError&) {
    }
    std::error_code ec;
    for (int i = 0; i < 40 && proc_->child.running(ec); i++) std::this_thread::sleep_for(Millis(50));
  }
  kill();
}

void QemuVm::kill() {
  chan_.close();
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
  if (proc_) {
    std::error_code ec;
    if (proc_->child.running(ec)) proc_->child.terminate(ec);
    if (proc_->child.valid()) proc_->child.wait(ec);
    proc_.reset();
  }
  dead_ = true;
}

std::string QemuVm::console_tail(size_t max_bytes) const { return read_tail(console_, max_bytes); }

std::vector<std::string> QemuVm::agent_logs() const {
  return std::vector<std::string>(chan_.logs().begin(), chan_.logs().end());
}

}  // namespace secdiff::vm
