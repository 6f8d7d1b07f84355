// secdiff-agent: runs seccomp test cases on the kernel it runs on and reports
// exactly what the kernel did (vm/protocol.h). It is PID 1 of the QEMU guest's
// initramfs, or a plain process with --stdio / --fd N (the host backend, and the
// tests).
//
// Design (one case at a time; the agent is single-threaded):
//
//   agent ──fork──> zygote ──clone(CLONE_VM|CLONE_PARENT)──> task (fresh per run)
//                     └─fork─> pid-namespace holder
//
// * The zygote is forked once (again only if it dies, or after a task died of
//   a signal that suggests it damaged the memory it shares with the zygote). As
//   root it creates the pid, net, ipc, uts and mount namespaces, closes every
//   fd, sets RLIMIT_CORE 0 / RLIMIT_AS / RLIMIT_NOFILE 64, installs the SIGSYS
//   handler, then drops to uid/gid 65534 with no groups (which clears every
//   capability; the agent emptied the bounding set at startup) and makes its
//   mm non-dumpable. Its memory is separate from the agent's, so an allowed
//   munmap/brk/read in a task can damage only the zygote, never the agent.
//   The namespaces are reused by every task: a task cannot change them in a way
//   a later case could see (no capabilities, no fds it did not open itself, no
//   new processes), and a fresh netns per case would cost milliseconds.
// * A task is a fresh clone(CLONE_VM|CLONE_PARENT) of the zygote per case (and
//   per re-run after a kill or a blocked syscall): its own process with its own
//   filters, signal handlers, fds and rlimits, sharing the zygote's address
//   space (no mm copy: about as cheap as a thread, which matters under TCG), and
//   the agent's child. Per case it only resets SIGSYS to SIG_DFL if the case has
//   no handler, sets no_new_privs (unless the case says not), and RLIMIT_NPROC 0
//   once its threads exist (an allowed fork/clone input fails with EAGAIN).
// * The agent PTRACE_SEIZEs a task (PTRACE_O_EXITKILL, TRACECLONE,
//   TRACESECCOMP when the case has a tracer) unless nothing needs ptrace (then,
//   as PID 1 only, it runs untraced). Every handshake after the setup is an
//   int3 trap: a ptrace stop, no syscall, so it works whatever the filters
//   deny. The task stops after an install when the agent reads
//   /proc/PID/seccomp_cache or takes a listener fd (pidfd_getfd), and
//   before/after each input in a witness re-run. After its inputs a task ends
//   with exit_group; if that is denied, an untraced one dies of an int3 and a
//   traced one stops for the agent's SIGKILL.
// * Chunks: the untraced first tasks of consecutive cases of a batch go to the
//   zygote in one request (kReqChunk). It clones them one after the other and
//   waits for each on a pidfd, so under TCG no address-space switch to the
//   agent and back happens per case (each costs tens of microseconds of TLB
//   refill); the agent sleeps on a futex, reaps all the tasks afterwards and
//   completes each case as if it had driven the task (re-created tasks after a
//   kill, a blocked input... run as before). A case with a ptrace input is
//   never in a chunk (PTRACE_TRACEME would make the sleeping agent its tracer).
// * Results go to a MAP_SHARED region (no syscalls); SIGSYS is caught by a
//   handler that records the siginfo and longjmps out of the stub.
// * Observation: return value / siginfo / death status from the task; TRACE
//   events from ptrace; USER_NOTIF via the listener the agent holds (answered
//   with -ENOSYS); AUDIT_SECCOMP records on the agent's audit socket, attributed
//   after one marker round trip per batch (per input in re-runs); the
//   raw_syscalls:sys_enter counter (anchor events opened at the first use and
//   then held open) only for inputs whose result is ambiguous, in a re-run of
//   the case with per-input stops.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "oracle/case.h"
#include "vm/protocol.h"

namespace secdiff::agent {

enum class CacheRead { Each, Last, New, Off };

struct Options {
  bool pid1 = false;
  int fd_in = 0, fd_out = 1;
  bool allow_any_syscall = false;  // else only harmless inputs (always allowed as PID 1)
  bool no_notif_reply = false;     // test only: never answer USER_NOTIF (the task blocks)
  bool allow_sysctl = false;       // may write net.core.bpf_jit_enable (always as PID 1)
  int witness = 0;                 // -1 never, 0 re-run ambiguous cases, 1 always
  bool namespaces = true;
  bool audit = true;
  bool verbose = false;
  bool always_trace = false;       // ptrace every task, even when nothing needs it
  bool untraced = false;           // run tasks that need no ptrace untraced also when not PID 1
  bool stats = false;               // a Log line per batch: where the time went
  // When the kernel has /proc/PID/seccomp_cache: read it after each install
  // (Each), after the last one only (Last), after installs whose chain prefix
  // this agent has not read before (New), or never (Off). Each read costs
  // ~1-5 ms under TCG (900 seq_printf lines).
  CacheRead cache_read = CacheRead::Each;
};

// --- observe.cc ------------------------------------------------------------

// The audit daemon connection (NETLINK_AUDIT).
class AuditLog {
 public:
  struct Record {
    int32_t pid = 0;
    uint32_t arch = 0;
    int32_t syscall = 0;
    uint64_t ip = 0;
    uint32_t code = 0;
    int32_t sig = 0;
    uint32_t epoch = 0;  // value of epoch() when it was received
  };
  ~AuditLog();
  // Registers as the audit daemon. As PID 1 also enables audit with a large
  // backlog and no rate limit; otherwise only if no other daemon is registered.
  bool open(bool pid1, std::string* why);
  bool ok() const { return fd_ >= 0 && registered_; }
  // Sends a marker record and reads until it comes back: every record queued
  // before has then been received. Bumps epoch().
  bool sync(int timeout_ms);
  void drain();  // reads what is there without waiting
  uint32_t epoch() const { return epoch_; }
  std::vector<Record>& records() { return records_; }
  void close_log();

 private:
  bool recv_one(int timeout_ms, bool* marker_seen);
  bool request(uint16_t type, const void* data, size_t len, bool ack, std::string* why);
  int fd_ = -1;
  bool registered_ = false;
  bool pid1_ = false;
  uint32_t epoch_ = 0;
  uint32_t seq_ = 1;
  std::vector<Record> records_;
  std::string marker_;
};

// The raw_syscalls:sys_enter counter.
class Witness {
 public:
  ~Witness();
  bool init(std::string* why);  // finds the tracepoint; opens nothing yet
  bool ok() const { return id_ >= 0; }
  int open_counter(pid_t tid);  // -1 on failure (opens the anchors first)
  static int64_t read_counter(int fd);

 private:
  bool anchor();
  long id_ = -1, exit_id_ = -1;
  bool anchor_failed_ = false;
  int anchors_[2] = {-1, -1};
};

// /proc/<tid>/seccomp_cache as bitmaps (index = nr); false if unreadable.
bool read_seccomp_cache(pid_t tid, std::vector<bool>* native, std::vector<bool>* compat);

// Inputs the agent issues on a host (no --allow-any-syscall): getpid & co.
// and numbers no syscall table has (host/host_kernel.cc's list).
bool is_harmless(Arch arch, int64_t nr);
// The register value the stub loads for an input (X32: nr | X32_SYSCALL_BIT).
uint64_t input_rax(const CaseInput& in);

// --- engine.cc -------------------------------------------------------------

class Engine {
 public:
  explicit Engine(const Options& o);
  ~Engine();
  bool start(std::string* why);
  // Fills the feature bits and JIT values (runs probe cases).
  void probe(vm::Hello* h);
  vm::ResultBatch run_batch(const vm::RunBatch& b);
  void stop();
  // Diagnostics collected since the last call (sent as Log frames).
  std::vector<std::string> take_logs();

  struct Impl;

 private:
  Impl* impl_;
};

void logf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));  // to stderr

// --- micro.cc --------------------------------------------------------------

// --anchor=N / --micro=N: the bare thread+filter+syscall loop (and with
// `micro` the primitives of a case) timed and printed with logf.
int run_micro(int n, bool micro);

}  // namespace secdiff::agent
