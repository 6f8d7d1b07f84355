// One guest agent behind the frame protocol of vm/protocol.h, and the QEMU VM
// that runs it.
//
// QemuVm starts `qemu-system-x86_64 -accel tcg -smp 1 -m 256M -display none
// -no-reboot -nic none -nodefaults` (Boost.Process) with the kernel, initramfs
// and command line, the serial console (ttyS0) written to a log file that is
// kept for reports, a virtio-serial port whose chardev is a unix socket, and
// an isa-debug-exit device (port 0xf4) through which the agent powers off.
// The host listens on the socket before QEMU starts and QEMU connects to it as
// a client, so nothing the guest writes can be lost and a QEMU that fails to
// start is seen at once. A QMP socket is opened for fault injection.
//
// Failures are VmError with a kind: the kernel panicked or oopsed (console:
// "Kernel panic", "BUG:", "general protection fault"), QEMU exited, the guest
// hung (no answer in time), a protocol error, or a failed boot. After any
// VmError the VM is unusable: kill() it and start a new one.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "vm/protocol.h"

namespace secdiff::vm {

using Millis = std::chrono::milliseconds;

enum class VmFailure {
  Boot,      // no Hello within the boot timeout, or the process could not start
  Panic,     // kernel panic / BUG / general protection fault in the console log
  Exited,    // QEMU (or the host agent) exited or closed the channel
  Hang,      // no answer within the timeout
  Protocol,  // malformed frame or unexpected message
};
const char* vm_failure_name(VmFailure f);  // "boot", "panic", "exited", "hang", "protocol"

class VmError : public std::runtime_error {
 public:
  VmError(VmFailure kind, const std::string& msg) : std::runtime_error(msg), kind_(kind) {}
  VmFailure kind() const { return kind_; }

 private:
  VmFailure kind_;
};

// Test-only faults, applied by an agent process while a given Run batch is in
// flight (the n-th batch this process is sent, 1-based).
enum class FaultKind {
  None,
  KillQemu,  // SIGKILL the QEMU (or host agent) process
  Panic,     // QMP "nmi"; the kernel is booted with unknown_nmi_panic, so it panics
  Garbage,   // the bytes read back are replaced with garbage (host side)
  Hang,      // QMP "stop": the guest freezes
};
struct FaultInjection {
  FaultKind kind = FaultKind::None;
  int at_batch = 1;
};
// "kill@2", "panic", "garbage@1", "hang@3" -> FaultInjection; throws std::invalid_argument.
FaultInjection parse_fault(const std::string& spec);

// Length-prefixed frames over a pair of file descriptors (a socket or two pipes),
// with deadlines. Log frames are collected, not returned.
class FrameChannel {
 public:
  FrameChannel() = default;
  FrameChannel(int rfd, int wfd) : rfd_(rfd), wfd_(wfd) {}
  ~FrameChannel();
  FrameChannel(const FrameChannel&) = delete;
  FrameChannel& operator=(const FrameChannel&) = delete;
  void reset(int rfd, int wfd);  // takes ownership of both (closes the old ones)
  void close();
  bool open() const { return rfd_ >= 0; }

  // Throws VmError(Exited) if the peer is gone, VmError(Hang) at the deadline.
  void send(MsgType type, std::string_view payload, std::chrono::steady_clock::time_point deadline);
  // Waits for the next non-Log frame. `poll_hook` runs about every 100 ms and
  // may throw (it checks that the process is alive). Malformed data is
  // VmError(Protocol); EOF is VmError(Exited); the deadline is VmError(Hang).
  Frame recv(std::chrono::steady_clock::time_point deadline, const std::function<void()>& poll_hook);
  void inject_garbage() { garbage_ = true; }

  // Log frames received so far (the newest 200).
  const std::deque<std::string>& logs() const { return logs_; }

 private:
  int rfd_ = -1, wfd_ = -1;
  FrameDecoder dec_;
  std::deque<std::string> logs_;
  bool garbage_ = false;
};

// An agent process speaking the protocol: a QEMU VM, or `secdiff-agent --stdio`
// on the host (vm/pool.h).
class AgentProcess {
 public:
  virtual ~AgentProcess() = default;
  // Starts the process and waits for Hello. Throws VmError (Boot, Panic, Exited, Protocol).
  virtual const Hello& start() = 0;
  virtual const Hello& hello() const = 0;
  // Runs a batch; the answer must come before `timeout`. Throws VmError.
  virtual ResultBatch run(const RunBatch& batch, Millis timeout) = 0;
  // The two halves of run(), so that a caller can keep the next batch queued in
  // the agent while it waits for the current one (the agent answers in order):
  // send_batch() sends a Run and returns; await_batch() waits up to `timeout`
  // for the Result of `batch`, the oldest one not yet awaited. The defaults
  // (for agents that cannot overlap) send nothing and run the batch in await.
  virtual void send_batch(const RunBatch& batch, Millis timeout) {
    (void)batch;
    (void)timeout;
  }
  virtual ResultBatch await_batch(const RunBatch& batch, Millis timeout) { return run(batch, timeout); }
  // Ping/Pong round trip; false on any failure.
  virtual bool ping(Millis timeout) = 0;
  // Asks the agent to power off, then kills it if it has not exited.
  virtual void shutdown() = 0;
  virtual void kill() = 0;
  // The kernel console (or agent stderr) log, its last `max_bytes`.
  virtual std::string console_tail(size_t max_bytes = 16384) const = 0;
  // Agent Log messages received so far.
  virtual std::vector<std::string> agent_logs() const = 0;
  // Where the console log file is.
  virtual std::string console_path() const = 0;
  // Seconds from process start to Hello.
  virtual double boot_seconds() const = 0;
  virtual void set_fault(const FaultInjection& f) = 0;
};

struct QemuConfig {
  std::string qemu = "qemu-system-x86_64";
  std::string kernel;           // bzImage / vmlinuz
  std::string initrd;           // initramfs with the agent as /init
  std::string append;           // added to the default command line
  std::string work_dir;         // per-VM files go in <work_dir>/vm<N>-<generation>; "" = a temp dir
  int memory_mb = 256;
  std::string port_name = "org.secdiff.0";  // the virtserialport the agent opens (vm/guest/main.cc)
  Millis boot_timeout{60000};
  bool keep_files = false;      // keep the console log etc. after a clean shutdown
  std::vector<std::string> extra_args;
};

// The default kernel command line; `append` follows it.
std::string default_kernel_cmdline();

// Console text that means the kernel is broken: the first matching line, or nullopt.
std::optional<std::string> find_kernel_fault(std::string_view console);

class QemuVm : public AgentProcess {
 public:
  QemuVm(QemuConfig cfg, int index, int generation);
  ~QemuVm() override;
  const Hello& start() override;
  const Hello& hello() const override { return hello_; }
  ResultBatch run(const RunBatch& batch, Millis timeout) override;
  void send_batch(const RunBatch& batch, Millis timeout) override;
  ResultBatch await_batch(const RunBatch& batch, Millis timeout) override;
  bool ping(Millis timeout) override;
  void shutdown() override;
  void kill() override;
  std::string console_tail(size_t max_bytes = 16384) const override;
  std::vector<std::string> agent_logs() const override;
  std::string console_path() const override { return console_; }
  double boot_seconds() const override { return boot_seconds_; }
  void set_fault(const FaultInjection& f) override { fault_ = f; }

  // The QEMU command line (for reports).
  const std::vector<std::string>& argv() const { return argv_; }
  std::string dir() const { return dir_; }

 private:
  struct Proc;
  void check_alive();      // throws VmError(Exited/Panic) if QEMU has exited
  void check_console();    // throws VmError(Panic) on a kernel fault in new console text
  [[noreturn]] void fail_exited(const std::string& what);
  void qmp(const std::string& command_json);
  void apply_fault();
  template <class F>
  auto guarded(F&& f) -> decltype(f());

  QemuConfig cfg_;
  int index_, generation_;
  std::string dir_, sock_, qmp_sock_, console_, qemu_log_;
  bool own_dir_ = false;
  std::vector<std::string> argv_;
  std::unique_ptr<Proc> proc_;
  int listen_fd_ = -1;
  FrameChannel chan_;
  Hello hello_;
  double boot_seconds_ = 0;
  size_t console_scanned_ = 0;
  int batches_ = 0;
  uint64_t nonce_ = 0;
  FaultInjection fault_;
  bool dead_ = false;
};

// Shared by QemuVm and the host agent: the Hello handshake and request/response.
Hello await_hello(FrameChannel& ch, std::chrono::steady_clock::time_point deadline,
                  const std::function<void()>& poll_hook);
ResultBatch request_batch(FrameChannel& ch, const RunBatch& batch, std::chrono::steady_clock::time_point deadline,
                          const std::function<void()>& poll_hook);
ResultBatch await_result(FrameChannel& ch, const RunBatch& batch, std::chrono::steady_clock::time_point deadline,
                         const std::function<void()>& poll_hook);
bool request_ping(FrameChannel& ch, uint64_t nonce, std::chrono::steady_clock::time_point deadline,
                  const std::function<void()>& poll_hook);

}  // namespace secdiff::vm
