// The agent side of running cases: the zygote, task creation, ptrace driving,
// observation and result assembly. See agent.h for the design.
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <tuple>
#include <unordered_set>

#include "vm/guest/agent.h"
#include "vm/guest/shm.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

namespace secdiff::agent {

using vm::CaseResult;
using vm::KernelInstall;
using vm::KernelOutcome;
using vm::OutcomeKind;

namespace {

using Clock = std::chrono::steady_clock;

int64_t ms_until(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count();
}

int read_int_file(const char* path) {
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return -1;
  int v = -1;
  if (std::fscanf(f, "%d", &v) != 1) v = -1;
  std::fclose(f);
  return v;
}

bool write_int_file(const char* path, int v) {
  const int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char b[16];
  const int n = std::snprintf(b, sizeof b, "%d\n", v);
  const bool ok = write(fd, b, static_cast<size_t>(n)) == n;
  close(fd);
  return ok;
}

inline void fence() { std::atomic_thread_fence(std::memory_order_seq_cst); }

long futex(volatile uint32_t* addr, int op, uint32_t val, const timespec* ts = nullptr) {
  return syscall(SYS_futex, const_cast<uint32_t*>(addr), op, val, ts, nullptr, 0);
}

constexpr const char* kJitPath = "/proc/sys/net/core/bpf_jit_enable";
constexpr const char* kHardenPath = "/proc/sys/net/core/bpf_jit_harden";

// One syscall the task attempted, for attributing audit records.
struct Attempt {
  int32_t pid;
  uint32_t arch;
  int32_t nr;
  uint64_t ip;
  uint32_t epoch;
  bool use_epoch;
  int target;  // input index, or -1 - filter index
};

struct PassOpts {
  bool read_cache = false;  // read /proc/PID/seccomp_cache (first task), after the installs in cache_at
  std::vector<bool> cache_at;
  bool per_input = false;   // stops before/after every input (witness, per-input audit)
  bool witness = false;
  bool untraced_ok = false;  // cases that need no ptrace run untraced (PID 1 only)
  uint32_t timeout_ms = 2000;
};

struct PassOut {
  CaseResult r;
  std::vector<Attempt> attempts;
  std::vector<std::string> notes;
  bool audit_ambiguous = false;
};

// One task (process) of a pass.
struct Task {
  pid_t pid = 0, tid2 = 0;
  bool main_gone = false, t2_gone = false;
  int main_status = 0, t2_status = 0;
  bool done = false, setup_failed = false, timed_out = false;
  uint32_t stop_seen = 0;
  int counter = -1;
  int64_t c0 = -1;
  int pidfd = -1;
  std::vector<int> listeners;
  uint32_t install_epoch = 0;
};

std::string errstr(int e) { return std::strerror(e); }

// From <linux/seccomp.h>, which cannot be included next to oracle/seccomp_abi.h
// (its macros clash with the oracle's constants).
struct seccomp_notif {
  uint64_t id;
  uint32_t pid;
  uint32_t flags;
  unsigned char data[64];  // struct seccomp_data
};
struct seccomp_notif_resp {
  uint64_t id;
  int64_t val;
  int32_t error;
  uint32_t flags;
};
static_assert(sizeof(seccomp_notif) == 80 && sizeof(seccomp_notif_resp) == 24);
constexpr unsigned long SECCOMP_IOCTL_NOTIF_RECV = _IOWR('!', 0, seccomp_notif);
constexpr unsigned long SECCOMP_IOCTL_NOTIF_SEND = _IOWR('!', 1, seccomp_notif_resp);

// True if the thread group of `pid` is exiting or gone: its leader is a zombie,
// has SIGKILL pending (zap_other_threads() queues it before the other threads
// exit) or PF_EXITING set. Tells KILL_PROCESS from KILL_THREAD once the
// syscall thread of an other_threads task has died; asked twice, 1 ms apart,
// to cover the instant between dequeuing SIGKILL and setting PF_EXITING.
bool group_exiting_once(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/task/%d/status", static_cast<int>(pid),
                static_cast<int>(pid));
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return true;
  char line[512];
  bool exiting = false;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "State:", 6) == 0) {
      const char* p = line + 6;
      while (*p == ' ' || *p == '\t') ++p;
      if (*p == 'Z' || *p == 'X') exiting = true;
    } else if (std::strncmp(line, "SigPnd:", 7) == 0) {
      const unsigned long long pend = std::strtoull(line + 7, nullptr, 16);
      if (pend & (1ull << (SIGKILL - 1))) exiting = true;
    }
  }
  std::fclose(f);
  if (exiting) return true;
  std::snprintf(path, sizeof path, "/proc/%d/task/%d/stat", static_cast<int>(pid), static_cast<int>(pid));
  f = std::fopen(path, "r");
  if (f == nullptr) return true;
  const size_t n = std::fread(line, 1, sizeof line - 1, f);
  std::fclose(f);
  line[n] = 0;
  // Field 9 (flags) after "pid (comm) state ppid pgrp session tty_nr tpgid".
  const char* p = std::strrchr(line, ')');
  if (p == nullptr) return false;
  int field = 2;
  for (++p; *p != 0 && field < 9; ++p)
    if (*p == ' ') ++field;
  const unsigned long flags = std::strtoul(p, nullptr, 10);
  return (flags & 0x4) != 0;  // PF_EXITING
}

bool group_exiting(pid_t pid) {
  if (group_exiting_once(pid)) return true;
  timespec ts{0, 1000000};
  nanosleep(&ts, nullptr);
  return group_exiting_once(pid);
}

}  // namespace

// Where the time goes (--stats): microseconds per phase, summed over a batch.
struct Stats {
  double spawn = 0, seize = 0, drive = 0, finish = 0, cache = 0, audit = 0, rerun = 0, total = 0;
  unsigned tasks = 0, reruns = 0, cache_reads = 0;
  double audit_sync = 0;
  size_t audit_records = 0;
  // rdtsc ticks, summed: request -> task entry, entry -> installs done,
  // installs -> inputs done, inputs done -> reaped by the agent, request -> ack.
  uint64_t zwake = 0, zprep = 0, zclone = 0, zack = 0;
  // Chunk tasks (Plan::tsc): prepare, clone, clone->entry, installs, inputs, inputs->exit seen.
  uint64_t c_prep = 0, c_clone = 0, c_entry = 0, c_install = 0, c_inputs = 0, c_exit = 0;
  unsigned c_timed = 0;
  uint64_t to_entry = 0, installing = 0, inputs = 0, to_reaped = 0, to_ack = 0, tsc0 = 0;
  unsigned timed = 0;
};

double now_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

struct Engine::Impl {
  Options opt;
  Stats st;
  Shm* shm = nullptr;
  size_t shm_size = 0;
  pid_t zygote = 0;
  bool zygote_suspect = false;
  uint32_t req = 0;
  int sigfd = -1;
  pid_t keeper = 0;
  bool keeper_jit = false;
  AuditLog audit;
  Witness witness;
  bool audit_ok = false, witness_ok = false;
  bool x32 = false;
  bool root = false;
  uint32_t plan_id = 0;
  std::vector<std::string> logs;
  // Per batch: cases whose audit records are still to be attributed.
  struct PendingAudit {
    size_t index;
    std::vector<Attempt> attempts;
  };
  std::vector<PendingAudit> pending;
  std::set<int32_t> batch_pids;
  std::vector<CaseResult>* batch_results = nullptr;
  std::vector<bool> batch_audit_ambiguous;

  void log(std::string s) {
    if (opt.verbose) logf("%s", s.c_str());
    if (logs.size() < 200) logs.push_back(std::move(s));
  }

  // --- children ------------------------------------------------------------

  struct Ev {
    pid_t pid;
    int status;
  };

  void collect(std::vector<Ev>& out) {
    for (;;) {
      int st = 0;
      const pid_t p = waitpid(-1, &st, WNOHANG | __WALL);
      if (p <= 0) break;
      const bool gone = WIFEXITED(st) || WIFSIGNALED(st);
      if (p == zygote && gone) {
        zygote = 0;
        log("zygote ended (status " + std::to_string(st) + ")");
        continue;
      }
      if (p == keeper && gone) {
        keeper = 0;
        keeper_jit = false;
        continue;
      }
      out.push_back({p, st});
    }
  }

  // Waits for SIGCHLD or a readable fd in `fds`, up to timeout_ms.
  void wait_signal(int64_t timeout_ms, const std::vector<int>& fds, std::vector<short>* revents) {
    std::vector<pollfd> pf;
    pf.push_back({sigfd, POLLIN, 0});
    for (int fd : fds) pf.push_back({fd, POLLIN, 0});
    timespec ts{static_cast<time_t>(timeout_ms / 1000), static_cast<long>(timeout_ms % 1000) * 1000000};
    const int r = ppoll(pf.data(), pf.size(), timeout_ms < 0 ? nullptr : &ts, nullptr);
    if (revents != nullptr) {
      revents->assign(fds.size(), 0);
      if (r > 0)
        for (size_t i = 0; i < fds.size(); ++i) (*revents)[i] = pf[i + 1].revents;
    }
    if (r > 0 && (pf[0].revents & POLLIN)) {
      signalfd_siginfo si[16];
      while (read(sigfd, si, sizeof si) > 0) {
      }
    }
  }

  void kill_zygote() {
    if (zygote <= 0) return;
    kill(zygote, SIGKILL);
    int st;
    while (waitpid(zygote, &st, __WALL) < 0 && errno == EINTR) {
    }
    zygote = 0;
  }

  bool start_zygote(std::string* why) {
    kill_zygote();
    shm->zygote_ready = 0;
    shm->ack_seq = req;
    shm->req_seq = req;
    fence();
    const pid_t p = fork();
    if (p < 0) {
      *why = "fork of the zygote: " + errstr(errno);
      return false;
    }
    if (p == 0) zygote_main(opt.namespaces && root);
    zygote = p;
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (shm->zygote_ready == 0) {
      std::vector<Ev> evs;
      collect(evs);
      if (zygote == 0) {
        *why = "the zygote died while starting";
        return false;
      }
      if (Clock::now() > deadline) {
        *why = "the zygote did not start";
        kill_zygote();
        return false;
      }
      timespec ts{0, 500000};
      nanosleep(&ts, nullptr);
    }
    if (opt.namespaces && root && shm->ns_errno != 0)
      log(std::string("namespaces not created: ") + const_cast<const char*>(shm->zygote_note));
    zygote_suspect = false;
    return true;
  }

  // Hands the zygote a request (the rest of it is already in shm); returns its
  // sequence number, which the zygote copies to ack_seq when done.
  uint32_t post_request(uint32_t kind) {
    shm->req_kind = kind;
    fence();
    const uint32_t my = ++req;
    shm->req_seq = my;
    futex(&shm->req_seq, FUTEX_WAKE, 1);
    return my;
  }

  // Asks the zygote for a task. Returns its pid, or 0 (why in *why).
  pid_t spawn(std::string* why) {
    if ((zygote <= 0 || zygote_suspect) && !start_zygote(why)) return 0;
    shm->go = 0;
    shm->park = 0;
    shm->park2 = 0;
    shm->stop_seq = 0;
    shm->progress = 0;
    shm->task_pid = 0;
    const uint32_t my = post_request(kReqSpawn);
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (shm->ack_seq != my) {
      const timespec ts{0, 20 * 1000000};
      futex(&shm->ack_seq, FUTEX_WAIT, shm->ack_seq, &ts);
      if (shm->ack_seq == my) break;
      std::vector<Ev> evs;
      collect(evs);
      if (zygote == 0 || Clock::now() > deadline) {
        *why = zygote == 0 ? "the zygote died" : "the zygote did not answer";
        zygote_suspect = true;
        return 0;
      }
    }
    fence();
    const int32_t pid = shm->task_pid;
    if (pid <= 0) {
      *why = "clone of the task: " + errstr(-pid);
      zygote_suspect = true;
      return 0;
    }
    return pid;
  }

  // --- the keeper ----------------------------------------------------------

  void start_keeper() {
    if (keeper > 0) {
      kill(keeper, SIGKILL);
      int st;
      waitpid(keeper, &st, __WALL);
      keeper = 0;
    }
    const bool jit = read_int_file(kJitPath) == 1;
    const pid_t p = fork();
    if (p < 0) return;
    if (p == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      for (int fd = 0; fd < 4096; ++fd)
        if (fd != 2) close(fd);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      const Insn allow{0x06, 0, 0, SECCOMP_RET_ALLOW};
      const Fprog prog{1, &allow};
      prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
      syscall(SYS_seccomp, 1 /* SECCOMP_SET_MODE_FILTER */, 0, &prog);
      for (;;) pause();
    }
    keeper = p;
    keeper_jit = jit;
  }

  // --- running a pass ------------------------------------------------------

  // Whether a task of this case needs no ptrace: no tracer, no second thread,
  // no listener to take, no cache to read, no per-input stops.
  static bool untraced(const Case& c, const PassOpts& po, bool first) {
    if (!po.untraced_ok || c.task.tracer || c.task.other_threads || po.per_input) return false;
    for (size_t f = 0; f < c.filters.size() && f < kMaxFilters; ++f) {
      if (c.filters[f].flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) return false;
      if (first && po.read_cache && f < po.cache_at.size() && po.cache_at[f]) return false;
    }
    return true;
  }

  void write_plan(const Case& c, const PassOpts& po, uint32_t first_input, bool first, Plan& s,
                  uint32_t id) {
    s.plan_id = id;
    s.phase = kPhaseSetup;
    s.cur = -1;
    s.setup_failed_step = 0;
    s.setup_errno = 0;
    s.task_pid = 0;
    s.end = kEndNone;
    const size_t nf = std::min(c.filters.size(), kMaxFilters);
    const size_t ni = std::min(c.inputs.size(), kMaxInputs);
    s.n_filters = static_cast<uint32_t>(nf);
    s.n_inputs = static_cast<uint32_t>(ni);
    s.first_input = first_input;
    s.flags = (c.task.no_new_privs ? kPlanNnp : 0) | (c.task.other_threads ? kPlanOtherThreads : 0) |
              (c.task.sigsys_handler ? kPlanSigsysHandler : 0) |
              (untraced(c, po, first) ? kPlanUntraced : 0);
    size_t off = 0;
    for (size_t f = 0; f < nf; ++f) {
      const Program& p = c.filters[f].prog;
      const size_t len = std::min(p.size(), kMaxInsnsTotal - off);
      std::memcpy(&s.insns[off], p.data(), len * sizeof(Insn));
      s.filters[f].flags = c.filters[f].flags;
      const bool cache = first && po.read_cache && f < po.cache_at.size() && po.cache_at[f];
      s.filters[f].stop_after = cache || (c.filters[f].flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) ? 1 : 0;
      s.filters[f].fprog.len = static_cast<unsigned short>(len);
      s.filters[f].fprog.filter = &s.insns[off];
      off += len;
    }
    static_assert(sizeof(Insn) == 8);
    for (size_t i = 0; i < ni; ++i) {
      const CaseInput& in = c.inputs[i];
      InputDesc& d = s.inputs[i];
      d.i386 = in.arch == Arch::I386 ? 1 : 0;
      d.stops = po.per_input ? (kStopBefore | kStopAfter) : 0;
      d.rax = input_rax(in);
      for (int k = 0; k < 6; ++k) d.args[k] = in.args[k];
      d.req_ip = in.ip.value_or(0);
    }
    std::memset(s.install_slots, 0, sizeof s.install_slots);
    std::memset(&s.exit_slot, 0, sizeof s.exit_slot);
    for (size_t i = first_input; i < kMaxInputs; ++i) std::memset(&s.input_slots[i], 0, sizeof(Slot));
  }

  void cont(pid_t who, int sig) { ptrace(PTRACE_CONT, who, nullptr, reinterpret_cast<void*>(static_cast<long>(sig))); }

  void handle_notifications(Task& t, const std::vector<short>& rev, PassOut& out, size_t ni) {
    for (size_t k = 0; k < t.listeners.size() && k < rev.size(); ++k) {
      if (rev[k] & POLLIN) {
        seccomp_notif n{};  // the kernel insists on zeroes
        if (ioctl(t.listeners[k], SECCOMP_IOCTL_NOTIF_RECV, &n) == 0) {
          const int32_t cur = shm->plans[0].cur;
          const uint32_t phase = shm->plans[0].phase;
          if (phase == kPhaseInputs && cur >= 0 && static_cast<size_t>(cur) < ni)
            out.r.outcomes[static_cast<size_t>(cur)].notified = true;
          else if (phase != kPhaseDone)  // Done: the task's own exit_group
            out.notes.push_back("USER_NOTIF during an install");
          if (!opt.no_notif_reply || phase == kPhaseDone) {
            seccomp_notif_resp resp{};
            resp.id = n.id;
            resp.error = -ENOSYS;
            ioctl(t.listeners[k], SECCOMP_IOCTL_NOTIF_SEND, &resp);
          }
        }
      }
      if (rev[k] & (POLLHUP | POLLERR | POLLNVAL)) {
        close(t.listeners[k]);
        t.listeners[k] = -1;
      }
    }
    t.listeners.erase(std::remove(t.listeners.begin(), t.listeners.end(), -1), t.listeners.end());
  }

  void handshake(Task& t, pid_t who, const Case& c, const PassOpts& po, bool first, PassOut& out) {
    const uint32_t kind = shm->stop_kind;
    const int32_t idx = shm->stop_index;
    const size_t nf = std::min(c.filters.size(), kMaxFilters);
    const size_t ni = std::min(c.inputs.size(), kMaxInputs);
    switch (kind) {
      case kStopInstall: {
        if (idx < 0 || static_cast<size_t>(idx) >= nf) break;
        const size_t f = static_cast<size_t>(idx);
        if (po.read_cache && first && f < po.cache_at.size() && po.cache_at[f]) {
          const double t0 = now_us();
          KernelInstall& ki = out.r.installs[f];
          ki.has_cache = read_seccomp_cache(who, &ki.cache_native, &ki.cache_compat);
          st.cache += now_us() - t0;
          ++st.cache_reads;
        }
        if (c.filters[f].flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) {
          const int fd = static_cast<int>(shm->plans[0].install_slots[f].rax);
          if (t.pidfd < 0) t.pidfd = static_cast<int>(syscall(SYS_pidfd_open, t.pid, 0));
          const int l = t.pidfd >= 0 ? static_cast<int>(syscall(SYS_pidfd_getfd, t.pidfd, fd, 0)) : -1;
          if (l >= 0) {
            fcntl(l, F_SETFD, FD_CLOEXEC);
            t.listeners.push_back(l);
          } else {
            out.notes.push_back("cannot take the listener fd of filter " + std::to_string(f) + ": " +
                                errstr(errno));
          }
        }
        break;
      }
      case kStopBeforeInput:
        if (t.counter >= 0) t.c0 = Witness::read_counter(t.counter);
        break;
      case kStopAfterInput: {
        if (idx < 0 || static_cast<size_t>(idx) >= ni) break;
        KernelOutcome& o = out.r.outcomes[static_cast<size_t>(idx)];
        if (t.counter >= 0 && t.c0 >= 0) {
          const int64_t c1 = Witness::read_counter(t.counter);
          if (c1 >= 0) o.dispatched = c1 > t.c0 ? 1 : 0;
        }
        if (po.per_input && audit_ok) {
          add_input_attempt(t, c, static_cast<size_t>(idx), true, out);
          if (!audit.sync(1000)) out.notes.push_back("audit marker lost");
        }
        break;
      }
      case kStopDone:
        t.done = true;
        break;
      case kStopSetup:
        t.setup_failed = true;
        break;
      default:
        break;
    }
  }

  void add_input_attempt(const Task& t, const Case& c, size_t i, bool use_epoch, PassOut& out) {
    const CaseInput& in = c.inputs[i];
    Attempt a;
    a.pid = t.pid;
    a.arch = in.arch == Arch::I386 ? AUDIT_ARCH_I386 : AUDIT_ARCH_X86_64;
    a.nr = static_cast<int32_t>(static_cast<uint32_t>(input_rax(in)));
    a.ip = out.r.outcomes[i].ip_used;
    a.epoch = audit.epoch();
    a.use_epoch = use_epoch;
    a.target = static_cast<int>(i);
    out.attempts.push_back(a);
  }

  void handle_event(Task& t, const Ev& ev, const Case& c, const PassOpts& po, bool first, PassOut& out) {
    pid_t who = ev.pid;
    const int st = ev.status;
    if (who != t.pid && who != t.tid2) {
      // The auto-attached second thread may report before the clone event.
      if (c.task.other_threads && t.tid2 == 0 && WIFSTOPPED(st)) {
        t.tid2 = who;
      } else {
        return;  // an old task's late event
      }
    }
    if (WIFEXITED(st) || WIFSIGNALED(st)) {
      if (who == t.pid) {
        t.main_gone = true;
        t.main_status = st;
      } else {
        t.t2_gone = true;
        t.t2_status = st;
      }
      return;
    }
    if (!WIFSTOPPED(st)) return;
    const int sig = WSTOPSIG(st);
    const int event = (st >> 16) & 0xff;
    const size_t ni = std::min(c.inputs.size(), kMaxInputs);
    if (event == PTRACE_EVENT_SECCOMP) {
      unsigned long msg = 0;
      ptrace(PTRACE_GETEVENTMSG, who, nullptr, &msg);
      const int32_t cur = shm->plans[0].cur;
      const uint32_t phase = shm->plans[0].phase;
      if (phase == kPhaseInputs && cur >= 0 && static_cast<size_t>(cur) < ni) {
        KernelOutcome& o = out.r.outcomes[static_cast<size_t>(cur)];
        o.ptrace_event = true;
        o.ptrace_msg = static_cast<uint32_t>(msg);
      } else if (phase == kPhaseDone) {
        // The task's own exit_group after its inputs: nothing to record.
      } else {
        out.notes.push_back("PTRACE_EVENT_SECCOMP during an install (msg " + std::to_string(msg) + ")");
      }
      cont(who, 0);
      return;
    }
    if (event == PTRACE_EVENT_CLONE) {
      unsigned long msg = 0;
      ptrace(PTRACE_GETEVENTMSG, who, nullptr, &msg);
      if (t.tid2 == 0) t.tid2 = static_cast<pid_t>(msg);
      cont(who, 0);
      return;
    }
    if (event == PTRACE_EVENT_STOP) {
      if (who == t.tid2 && po.witness && t.counter < 0) t.counter = witness.open_counter(who);
      cont(who, 0);
      return;
    }
    if (sig == SIGTRAP && event == 0 && shm->stop_seq != t.stop_seen) {
      t.stop_seen = shm->stop_seq;
      handshake(t, who, c, po, first, out);
      if (!t.done) cont(who, 0);
      return;
    }
    cont(who, sig);  // SIGSYS to the handler (or death), anything else as it comes
  }

  // Kills the task and reaps it.
  void finish(Task& t) {
    if (t.pid > 0 && !t.main_gone) kill(t.pid, SIGKILL);
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (t.pid > 0 && !t.main_gone) {
      std::vector<Ev> evs;
      collect(evs);
      for (const Ev& e : evs) {
        if (e.pid == t.pid && (WIFEXITED(e.status) || WIFSIGNALED(e.status))) t.main_gone = true;
        // A ptrace stop that raced with SIGKILL: let it go.
        if ((e.pid == t.pid || e.pid == t.tid2) && WIFSTOPPED(e.status)) cont(e.pid, 0);
      }
      if (t.main_gone) break;
      if (Clock::now() > deadline) {
        log("task " + std::to_string(t.pid) + " did not die after SIGKILL");
        zygote_suspect = true;  // never reuse its stack
        break;
      }
      wait_signal(50, {}, nullptr);
    }
    if (t.counter >= 0) close(t.counter);
    if (t.pidfd >= 0) close(t.pidfd);
    for (int l : t.listeners) close(l);
    t.counter = t.pidfd = -1;
    t.listeners.clear();
  }

  // Runs the task until it is done, dies, or blocks.
  void drive(Task& t, const Case& c, const PassOpts& po, bool first, PassOut& out) {
    const size_t ni = std::min(c.inputs.size(), kMaxInputs);
    const int64_t timeout = std::max<uint32_t>(po.timeout_ms, 1);
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout);
    uint32_t last_progress = shm->progress, last_stop = shm->stop_seq;
    for (;;) {
      if (t.tid2 != 0 && t.t2_gone && !t.main_gone && group_exiting(t.pid)) {
        // The whole process is going: wait for its leader's exit status.
        const auto until = Clock::now() + std::chrono::seconds(2);
        while (!t.main_gone && Clock::now() < until) {
          wait_signal(20, {}, nullptr);
          std::vector<Ev> evs;
          collect(evs);
          for (const Ev& e : evs) handle_event(t, e, c, po, first, out);
        }
      }
      if (t.done || t.setup_failed || t.main_gone || (t.tid2 != 0 && t.t2_gone)) return;
      int64_t left = ms_until(deadline);
      if (left <= 0) {
        const uint32_t p = shm->progress, s = shm->stop_seq;
        if (p != last_progress || s != last_stop) {
          last_progress = p;
          last_stop = s;
          deadline = Clock::now() + std::chrono::milliseconds(timeout);
          continue;
        }
        t.timed_out = true;
        return;
      }
      std::vector<short> rev;
      wait_signal(left, t.listeners, &rev);
      if (!t.listeners.empty()) handle_notifications(t, rev, out, ni);
      std::vector<Ev> evs;
      collect(evs);
      for (const Ev& e : evs) handle_event(t, e, c, po, first, out);
    }
  }

  static void fill_install(KernelInstall& ki, const Slot& s) {
    ki.ret = -1;
    ki.err = 0;
    if (s.state == kSlotReturned) {
      const int64_t v = static_cast<int64_t>(s.rax);
      if (v < 0 && v >= -4095) {
        ki.err = static_cast<int32_t>(-v);
      } else {
        ki.ret = v;
      }
    }
  }

  static void fill_outcome(KernelOutcome& o, const Slot& s) {
    if (s.state == kSlotReturned) {
      o.kind = OutcomeKind::Returned;
      o.rax = static_cast<int64_t>(s.rax);
    } else if (s.state == kSlotSigsys) {
      o.kind = OutcomeKind::Trapped;
      o.rax = static_cast<int64_t>(s.uc_rax);
      o.signo = s.sig_signo;
      o.sig_code = s.sig_code;
      o.sig_errno = s.sig_errno;
      o.sig_syscall = s.sig_syscall;
      o.sig_arch = s.sig_arch;
      o.sig_call_addr = s.sig_call_addr;
    }
  }

  static std::string status_str(int st) {
    if (WIFSIGNALED(st)) return "killed by signal " + std::to_string(WTERMSIG(st));
    if (WIFEXITED(st)) return "exited with status " + std::to_string(WEXITSTATUS(st));
    return "status " + std::to_string(st);
  }

  // A first round that a chunk already ran (run_chunk): the task's pid and
  // how it ended; its plan is shm->plans[index].
  struct PreRound {
    size_t index = 0;
    pid_t pid = 0;
    int status = 0;       // wait status (reaped by run_chunk)
    bool timed_out = false;
    uint32_t epoch = 0;   // audit epoch when the chunk started
    uint32_t plan_id = 0;
  };

  PassOut run_pass(const Case& c, const PassOpts& po, const PreRound* pre = nullptr) {
    PassOut out;
    const size_t nf = std::min(c.filters.size(), kMaxFilters);
    const size_t ni = std::min(c.inputs.size(), kMaxInputs);
    out.r.installs.resize(nf);
    for (KernelInstall& ki : out.r.installs) ki.ret = -1;
    out.r.outcomes.resize(ni);
    uint32_t first_input = 0;
    bool first = true;
    // One plan id per case: re-created tasks keep the stub pages of the first.
    const uint32_t case_plan_id = pre != nullptr ? pre->plan_id : ++plan_id;
    auto not_run_from = [&](size_t from, const std::string& why) {
      for (size_t j = from; j < ni; ++j) out.r.outcomes[j].kind = OutcomeKind::NotRun;
      if (!why.empty()) out.notes.push_back(why);
    };
    for (int round = 0; round <= static_cast<int>(ni) + 1; ++round) {
      Task t;
      uint32_t phase = 0;
      int32_t cur = -1;
      bool thread_only = false;
      const bool from_chunk = round == 0 && pre != nullptr;
      Plan& p = shm->plans[from_chunk ? pre->index : 0];
      if (from_chunk) {
        // Everything the live path below learns by driving the task, the
        // chunk left in the plan and the wait status.
        t.pid = pre->pid;
        t.main_gone = true;
        t.main_status = pre->status;
        t.timed_out = pre->timed_out;
        t.install_epoch = pre->epoch;
        phase = p.phase;
        cur = p.cur;
        t.done = !t.timed_out && phase == kPhaseDone;
        ++st.tasks;
        for (size_t i = 0; i < ni; ++i) out.r.outcomes[i].ip_used = p.inputs[i].ip_used;
      } else {
        write_plan(c, po, first_input, first, p, case_plan_id);
        std::string why;
        double t0 = now_us();
        for (int k = 0; k < 7; ++k) p.tsc[k] = 0;
        const uint64_t tsc_req = rdtsc();
        t.pid = spawn(&why);
        const uint64_t tsc_ack = rdtsc();
        st.spawn += now_us() - t0;
        ++st.tasks;
        if (t.pid <= 0) {
          not_run_from(first_input, "could not start a task: " + why);
          break;
        }
        // The zygote has placed the stubs; no task is issuing inputs now.
        for (size_t i = first_input; i < ni; ++i) out.r.outcomes[i].ip_used = p.inputs[i].ip_used;
        if (batch_pids.count(t.pid) != 0) flush_audit();
        batch_pids.insert(t.pid);
        t.install_epoch = audit.epoch();
        const bool traced = !(p.flags & kPlanUntraced);
        long opts = PTRACE_O_EXITKILL;
        if (c.task.other_threads) opts |= PTRACE_O_TRACECLONE;
        if (c.task.tracer) opts |= PTRACE_O_TRACESECCOMP;
        if (traced && ptrace(PTRACE_SEIZE, t.pid, nullptr, reinterpret_cast<void*>(opts)) != 0) {
          const int e = errno;
          finish(t);
          if (p.setup_failed_step != 0) {
            not_run_from(first_input, "task setup failed at step " + std::to_string(p.setup_failed_step) +
                                          ": " + errstr(p.setup_errno));
          } else {
            not_run_from(first_input, "PTRACE_SEIZE: " + errstr(e));
          }
          zygote_suspect = true;
          break;
        }
        if (po.witness && !c.task.other_threads) t.counter = witness.open_counter(t.pid);
        fence();
        shm->go = 1;
        if (traced) futex(&shm->go, FUTEX_WAKE, 1);
        double t1 = now_us();
        st.seize += t1 - t0;
        drive(t, c, po, first, out);
        // A task ends by itself (exit_group) once its inputs are done.
        if ((t.main_gone || (t.tid2 != 0 && t.t2_gone)) && p.phase == kPhaseDone) t.done = true;
        phase = p.phase;
        cur = p.cur;
        thread_only = c.task.other_threads && t.t2_gone && !t.main_gone;
        t0 = now_us();
        st.drive += t0 - t1;
        if (opt.stats) {
          const uint64_t e = p.tsc[kTscEntry], i = p.tsc[kTscInstalled], d = p.tsc[kTscInputsDone], r = rdtsc();
          if (e > tsc_req && i >= e && d >= i && r >= d) {
            st.to_entry += e - tsc_req;
            st.installing += i - e;
            st.inputs += d - i;
            st.to_reaped += r - d;
            st.to_ack += tsc_ack - tsc_req;
            st.zwake += p.tsc[kTscWake] - tsc_req;
            st.zprep += p.tsc[kTscClone0] - p.tsc[kTscWake];
            st.zclone += p.tsc[kTscClone1] - p.tsc[kTscClone0];
            st.zack += tsc_ack - p.tsc[kTscClone1];
            ++st.timed;
          }
        }
        finish(t);
        st.finish += now_us() - t0;
      }
      if (t.setup_failed || p.setup_failed_step != 0) {
        not_run_from(first_input, "task setup failed at step " + std::to_string(p.setup_failed_step) +
                                      ": " + errstr(p.setup_errno));
        zygote_suspect = true;
        break;
      }
      const int death = thread_only ? t.t2_status : t.main_status;
      const bool died = !t.done && !t.timed_out;
      if (died && WIFSIGNALED(death) && WTERMSIG(death) != SIGSYS && WTERMSIG(death) != SIGKILL)
        zygote_suspect = true;  // a dispatched syscall may have damaged the shared memory
      // Installs.
      bool installs_ok = true;
      for (size_t f = 0; f < nf; ++f) {
        const Slot& s = p.install_slots[f];
        if (first) {
          fill_install(out.r.installs[f], s);
          if (audit_ok && s.state != kSlotNone)
            out.attempts.push_back(Attempt{t.pid, AUDIT_ARCH_X86_64, 317, kInstallIp, t.install_epoch,
                                           po.per_input, -1 - static_cast<int>(f)});
          if (s.state == kSlotSigsys)
            out.notes.push_back("install " + std::to_string(f) + " trapped (SIGSYS si_errno " +
                                std::to_string(s.sig_errno) + ")");
        }
        if (s.state == kSlotStarted || s.state == kSlotNone) {
          installs_ok = false;
          std::string what = s.state == kSlotNone ? "never reached"
                             : t.timed_out       ? "blocked"
                                                 : status_str(death);
          not_run_from(first_input, "task ended during install " + std::to_string(f) + " (" + what + ")");
          break;
        }
        if (!first && s.state == kSlotReturned && static_cast<int64_t>(s.rax) < 0 &&
            out.r.installs[f].ret >= 0) {
          out.notes.push_back("install " + std::to_string(f) + " failed in a re-created task");
        }
      }
      if (!installs_ok) break;
      // Inputs.
      size_t next = ni;
      for (size_t i = first_input; i < ni; ++i) {
        const Slot& s = p.input_slots[i];
        KernelOutcome& o = out.r.outcomes[i];
        if (s.state == kSlotReturned || s.state == kSlotSigsys) {
          fill_outcome(o, s);
          if (audit_ok && !po.per_input) add_input_attempt(t, c, i, false, out);
          continue;
        }
        if (s.state == kSlotStarted) {
          if (audit_ok && !po.per_input) add_input_attempt(t, c, i, false, out);
          if (audit_ok && po.per_input) add_input_attempt(t, c, i, true, out);
          if (t.timed_out) {
            o.kind = OutcomeKind::Blocked;
          } else {
            o.kind = OutcomeKind::Killed;
            if (WIFSIGNALED(death)) {
              o.term_signal = WTERMSIG(death);
            } else {
              out.notes.push_back("input " + std::to_string(i) + ": task " + status_str(death));
            }
            o.whole_process = !thread_only;
          }
          next = i + 1;
          break;
        }
        // Never reached.
        std::string what = t.timed_out ? "blocked" : status_str(death);
        not_run_from(i, "task ended before input " + std::to_string(i) + " (" + what +
                            ", phase " + std::to_string(phase) + ", at " + std::to_string(cur) + ")");
        break;
      }
      if (po.per_input && audit_ok && next < ni + 1 && !t.done) {
        // The records of the input that ended the task arrive with the next marker.
        if (!audit.sync(1000)) out.notes.push_back("audit marker lost");
      }
      if (next >= ni) break;
      first_input = static_cast<uint32_t>(next);
      first = false;
    }
    if (po.per_input && audit_ok) attribute(out.attempts, out.r, &out.audit_ambiguous);
    return out;
  }

  // --- chunks ----------------------------------------------------------------

  // True if an input is ptrace: PTRACE_TRACEME makes the agent (the task's
  // parent) its tracer, and every signal then stops the task until the agent
  // passes it on (drive() does; an agent waiting for a chunk would not).
  static bool may_trace_itself(const Case& c) {
    for (const CaseInput& in : c.inputs) {
      // The kernel dispatches on the low 32 bits (and the x32 bit selects a table).
      const uint32_t base = static_cast<uint32_t>(input_rax(in)) & ~static_cast<uint32_t>(X32_SYSCALL_BIT);
      if (in.arch == Arch::I386 ? base == 26 : (base == 101 || base == 521)) return true;
    }
    return false;
  }

  // Whether a case's first task can run in a zygote chunk: untraced (which
  // also means no listener, no cache read, no per-input stops), and it cannot
  // make itself traced.
  bool chunkable(const Case& c, const PassOpts& po) const {
    return chunks_ok && !po.per_input && untraced(c, po, true) && !may_trace_itself(c);
  }

  // True if the zygote has exited (and reaps it).
  bool zygote_gone() {
    if (zygote <= 0) return true;
    int st = 0;
    if (waitpid(zygote, &st, WNOHANG | __WALL) == zygote && (WIFEXITED(st) || WIFSIGNALED(st))) {
      log("zygote ended (status " + std::to_string(st) + ")");
      zygote = 0;
      return true;
    }
    return false;
  }

  // Runs the first task of each case in `cs` (all chunkable, in order) as one
  // zygote chunk (task.cc run_chunk) and completes each case with run_pass.
  // Returns how many cases of `cs` have their PassOut in `outs`: all, unless
  // the zygote failed before a case ran; the caller runs the rest alone.
  size_t run_chunk(const std::vector<const Case*>& cs, const std::vector<const std::vector<bool>*>& cache_at,
                   PassOpts& po, std::vector<PassOut>& outs) {
    const size_t n = std::min(cs.size(), kMaxChunk);
    std::string why;
    if ((zygote <= 0 || zygote_suspect) && !start_zygote(&why)) return 0;
    // Pids are unique among the chunk's tasks (the agent reaps them only
    // afterwards), but not against the batch's earlier tasks.
    if (!batch_pids.empty()) flush_audit();
    const uint32_t epoch = audit.epoch();
    std::vector<uint32_t> ids(n);
    for (size_t k = 0; k < n; ++k) {
      if (cache_at[k] != nullptr) po.cache_at = *cache_at[k];
      ids[k] = ++plan_id;
      write_plan(*cs[k], po, 0, true, shm->plans[k], ids[k]);
    }
    const double t0 = now_us();
    shm->chunk_n = static_cast<uint32_t>(n);
    shm->chunk_timeout_ms = std::max<uint32_t>(po.timeout_ms, 1);
    shm->chunk_done = 0;
    shm->chunk_errno = 0;
    const uint32_t my = post_request(kReqChunk);
    // The zygote ends blocked tasks itself after timeout_ms (+ up to 5 s for
    // the death); this watchdog is for a zygote that stops making progress.
    const int64_t stall_ms = static_cast<int64_t>(po.timeout_ms) + 7000;
    auto last_change = Clock::now();
    uint32_t last_done = 0, last_progress = shm->progress;
    int32_t last_pid = 0;
    bool failed = false;
    while (shm->ack_seq != my) {
      const timespec ts{0, 50 * 1000000};
      futex(&shm->ack_seq, FUTEX_WAIT, shm->ack_seq, &ts);
      if (shm->ack_seq == my) break;
      if (zygote_gone()) {
        failed = true;
        break;
      }
      const uint32_t d = shm->chunk_done, p = shm->progress;
      const int32_t pid = d < n ? shm->plans[d].task_pid : 0;
      if (d != last_done || p != last_progress || pid != last_pid) {
        last_done = d;
        last_progress = p;
        last_pid = pid;
        last_change = Clock::now();
      } else if (Clock::now() - last_change > std::chrono::milliseconds(stall_ms)) {
        log("the zygote made no progress in a chunk: restarting it");
        kill_zygote();
        failed = true;
        break;
      }
    }
    fence();
    size_t done = std::min<size_t>(shm->chunk_done, n);
    pid_t stray = 0;
    if (failed) {
      zygote_suspect = true;
      // A task the zygote had started for plans[done]: end it; that case runs again.
      if (done < n && shm->plans[done].task_pid > 0) {
        stray = shm->plans[done].task_pid;
        kill(stray, SIGKILL);
        batch_pids.insert(stray);
      }
    } else if (shm->chunk_errno != 0 && done < n) {
      log("chunk stopped: " + errstr(shm->chunk_errno));
      if (shm->chunk_errno == EINVAL && done == 0) chunks_ok = false;  // no CLONE_PIDFD
    }
    // Reap the chunk's tasks: all have exited (their pidfds said so), and the
    // stray one dies of the SIGKILL.
    std::map<pid_t, int> status;
    const auto reap_deadline = Clock::now() + std::chrono::seconds(5);
    for (;;) {
      std::vector<Ev> evs;
      collect(evs);
      for (const Ev& e : evs)
        if (WIFEXITED(e.status) || WIFSIGNALED(e.status)) status[e.pid] = e.status;
      if (!evs.empty()) continue;
      if (stray <= 0 || status.count(stray) != 0) break;
      if (Clock::now() > reap_deadline) {
        log("task " + std::to_string(stray) + " did not die after SIGKILL");
        break;
      }
      wait_signal(50, {}, nullptr);
    }
    const double t1 = now_us();
    st.spawn += t1 - t0;
    struct AddFinish {
      Stats& st;
      double t1;
      ~AddFinish() { st.finish += now_us() - t1; }
    } add_finish{st, t1};
    for (size_t k = 0; k < done; ++k) {
      Plan& p = shm->plans[k];
      PreRound pr;
      pr.index = k;
      pr.pid = p.task_pid;
      pr.epoch = epoch;
      pr.plan_id = ids[k];
      pr.timed_out = p.end == kEndTimeout || p.end == kEndStuck;
      auto it = status.find(pr.pid);
      if (it == status.end() && pr.pid > 0) {
        // Not reaped yet (a task the zygote gave up on): as finish() does.
        Task t;
        t.pid = pr.pid;
        finish(t);
        std::vector<Ev> evs;
        collect(evs);
        for (const Ev& e : evs)
          if (WIFEXITED(e.status) || WIFSIGNALED(e.status)) status[e.pid] = e.status;
        it = status.find(pr.pid);
      }
      if (it == status.end()) {
        // No such child: the plan's record was overwritten (by a dispatched
        // syscall of a later task). Trust nothing from here on.
        log("chunk plan " + std::to_string(k) + " names no task of ours (pid " + std::to_string(pr.pid) + ")");
        zygote_suspect = true;
        done = k;
        break;
      }
      pr.status = it->second;
      batch_pids.insert(pr.pid);
      if (opt.stats) {
        const volatile uint64_t* ts = p.tsc;
        bool mono = ts[kTscWake] != 0;
        for (int q = 1; q < 7; ++q) mono = mono && ts[q] >= ts[q - 1];
        if (mono && p.end == kEndDone) {
          st.c_prep += ts[kTscClone0] - ts[kTscWake];
          st.c_clone += ts[kTscClone1] - ts[kTscClone0];
          st.c_entry += ts[kTscEntry] - ts[kTscClone1];
          st.c_install += ts[kTscInstalled] - ts[kTscEntry];
          st.c_inputs += ts[kTscInputsDone] - ts[kTscInstalled];
          st.c_exit += ts[kTscExited] - ts[kTscInputsDone];
          ++st.c_timed;
        }
      }
      if (cache_at[k] != nullptr) po.cache_at = *cache_at[k];
      outs[k] = run_pass(*cs[k], po, &pr);
    }
    return done;
  }

  // --- audit attribution ---------------------------------------------------

  // Pairs the audit records of the attempts' tasks with the attempts: per
  // (pid, epoch when used, arch, nr, ip), in order.
  void attribute(const std::vector<Attempt>& atts, CaseResult& r, bool* ambiguous) {
    using Key = std::tuple<int32_t, uint32_t, uint32_t, int32_t, uint64_t>;
    std::map<Key, std::vector<const Attempt*>> by_key;
    std::set<int32_t> pids;
    bool epochs = false;
    for (const Attempt& a : atts) {
      by_key[Key{a.pid, a.use_epoch ? a.epoch : 0, a.arch, a.nr, a.ip}].push_back(&a);
      pids.insert(a.pid);
      epochs = epochs || a.use_epoch;
    }
    std::map<Key, std::vector<const AuditLog::Record*>> recs;
    for (const AuditLog::Record& rec : audit.records()) {
      if (pids.count(rec.pid) == 0) continue;
      recs[Key{rec.pid, epochs ? rec.epoch : 0, rec.arch, rec.syscall, rec.ip}].push_back(&rec);
    }
    for (auto& [key, as] : by_key) {
      auto it = recs.find(key);
      if (it == recs.end()) continue;
      const auto& rs = it->second;
      if (rs.size() < as.size()) {
        *ambiguous = true;
        continue;
      }
      for (size_t k = 0; k < as.size(); ++k) {
        const int target = as[k]->target;
        if (target < 0 || static_cast<size_t>(target) >= r.outcomes.size()) continue;
        r.outcomes[static_cast<size_t>(target)].audit_seen = true;
        r.outcomes[static_cast<size_t>(target)].audit_code = rs[k]->code;
      }
    }
  }

  // Attributes the records of every pending case of the batch.
  void flush_audit() {
    if (!audit_ok || pending.empty() || batch_results == nullptr) {
      pending.clear();
      return;
    }
    const double t0 = now_us();
    if (!audit.sync(2000)) log("audit marker lost");
    st.audit_sync += now_us() - t0;
    st.audit_records += audit.records().size();
    for (PendingAudit& p : pending) {
      bool amb = false;
      attribute(p.attempts, (*batch_results)[p.index], &amb);
      if (amb && p.index < batch_audit_ambiguous.size()) batch_audit_ambiguous[p.index] = true;
    }
    pending.clear();
    audit.records().clear();
    batch_pids.clear();
  }

  // --- ambiguity -------------------------------------------------------------

  // What the real syscall returns in a task, for the harmless ones.
  enum class Real { Unknown, Positive, Zero, Enosys };
  Real real_result(const CaseInput& in) const {
    const uint32_t u = static_cast<uint32_t>(input_rax(in));
    const bool ns = shm->ns_errno == 0;  // pid namespace: the parent and pgrp are outside
    uint32_t base;
    if (in.arch == Arch::I386) {
      if (u >= 1000) return Real::Enosys;
      switch (u) {
        case 20: case 224: return Real::Positive;            // getpid, gettid
        case 24: case 47: case 49: case 50: return root ? Real::Positive : Real::Unknown;  // uid 65534
        case 64: return ns ? Real::Zero : Real::Positive;    // getppid
        case 158: return Real::Zero;                         // sched_yield
        default: return Real::Unknown;
      }
    }
    if (u & 0x80000000u) return Real::Enosys;
    base = u & ~X32_SYSCALL_BIT;
    if (base >= 1000) return Real::Enosys;
    if ((u & X32_SYSCALL_BIT) && !x32) return Real::Enosys;  // no x32 ABI: every x32 number
    switch (base) {
      case 39: case 186: return Real::Positive;                // getpid, gettid
      case 102: case 104: case 107: case 108: return root ? Real::Positive : Real::Unknown;
      case 110: case 111: return ns ? Real::Zero : Real::Positive;  // getppid, getpgrp
      case 24: return Real::Zero;                              // sched_yield
      default: return Real::Unknown;
    }
  }

  // True if a Returned value could come both from the real syscall and from a
  // seccomp action (ERRNO data, ENOSYS of TRACE/USER_NOTIF without a peer).
  bool ambiguous(const CaseInput& in, const KernelOutcome& o) const {
    if (o.kind != OutcomeKind::Returned || o.notified || o.ptrace_event) return false;
    const int64_t v = o.rax;
    if (v > 0 || v < -4095) return false;  // no seccomp action returns that
    switch (real_result(in)) {
      case Real::Positive: return false;
      case Real::Zero: return v == 0;
      case Real::Enosys: return v == -ENOSYS;
      case Real::Unknown: break;
    }
    return true;
  }

  // --- batches -------------------------------------------------------------

  // After which installs the cache bitmaps are read (--cache-read).
  std::unordered_set<uint64_t> seen_prefixes;
  std::vector<bool> cache_points(const Case& c) {
    const size_t nf = std::min(c.filters.size(), kMaxFilters);
    std::vector<bool> at(nf, false);
    switch (opt.cache_read) {
      case CacheRead::Off:
        break;
      case CacheRead::Each:
        at.assign(nf, true);
        break;
      case CacheRead::Last:
        if (nf > 0) at[nf - 1] = true;
        break;
      case CacheRead::New: {
        // FNV-1a over the chain prefix (flags and instructions): the bitmaps of
        // a prefix this agent has read once are not read again.
        uint64_t h = 1469598103934665603ull;
        auto mix = [&h](const void* p, size_t n) {
          const auto* b = static_cast<const unsigned char*>(p);
          for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
        };
        if (seen_prefixes.size() > 1000000) seen_prefixes.clear();
        for (size_t f = 0; f < nf; ++f) {
          const CaseFilter& cf = c.filters[f];
          const uint32_t len = static_cast<uint32_t>(cf.prog.size());
          mix(&cf.flags, sizeof cf.flags);
          mix(&len, sizeof len);
          mix(cf.prog.data(), cf.prog.size() * sizeof(Insn));
          at[f] = seen_prefixes.insert(h).second;
        }
        break;
      }
    }
    return at;
  }

  std::string refusal(const Case& c) const {
    if (opt.pid1 || opt.allow_any_syscall) return "";
    for (size_t i = 0; i < c.inputs.size(); ++i)
      if (!is_harmless(c.inputs[i].arch, c.inputs[i].nr))
        return "refused: input " + std::to_string(i) +
               " is not a harmless syscall (the agent is not PID 1; see --allow-any-syscall)";
    return "";
  }

  static std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const std::string& x : v) {
      if (x.empty()) continue;
      if (!s.empty()) s += "; ";
      s += x;
    }
    return s;
  }

  vm::ResultBatch run_batch(const vm::RunBatch& b) {
    st = Stats{};
    const double start = now_us();
    st.tsc0 = rdtsc();
    vm::ResultBatch rb = run_batch_inner(b);
    st.total = now_us() - start;
    if (opt.stats && !b.cases.empty()) {
      char line[512];
      const double n = static_cast<double>(b.cases.size());
      std::snprintf(line, sizeof line,
                    "stats: %zu cases in %.0f ms (%.0f/s); per case us: spawn %.0f seize %.0f drive %.0f "
                    "finish %.0f cache %.0f audit %.0f rerun %.0f; tasks %u reruns %u cache reads %u",
                    b.cases.size(), st.total / 1e3, n / (st.total / 1e6), st.spawn / n, st.seize / n,
                    st.drive / n, st.finish / n, st.cache / n, st.audit / n, st.rerun / n, st.tasks,
                    st.reruns, st.cache_reads);
      log(line);
      std::snprintf(line, sizeof line, "stats: audit sync %.0f us, %zu records", st.audit_sync, st.audit_records);
      log(line);
      if (st.timed > 0) {
        const double tpu = static_cast<double>(rdtsc() - st.tsc0) / st.total, k = st.timed * tpu;
        std::snprintf(line, sizeof line,
                      "stats: %u untimed-free tasks, us each: request->task entry %.0f (->ack %.0f), "
                      "installs %.0f, inputs %.0f, inputs done->reaped %.0f",
                      st.timed, st.to_entry / k, st.to_ack / k, st.installing / k, st.inputs / k,
                      st.to_reaped / k);
        log(line);
        std::snprintf(line, sizeof line, "stats: zygote: wake %.0f prep %.0f clone %.0f ->ack %.0f",
                      st.zwake / k, st.zprep / k, st.zclone / k, st.zack / k);
        log(line);
      }
      if (st.c_timed > 0) {
        const double tpu = static_cast<double>(rdtsc() - st.tsc0) / st.total, k = st.c_timed * tpu;
        std::snprintf(line, sizeof line,
                      "stats: %u chunk tasks, us each: prepare %.0f clone %.0f ->entry %.0f installs %.0f "
                      "inputs %.0f ->exit seen %.0f",
                      st.c_timed, st.c_prep / k, st.c_clone / k, st.c_entry / k, st.c_install / k,
                      st.c_inputs / k, st.c_exit / k);
        log(line);
      }
    }
    return rb;
  }

  vm::ResultBatch run_batch_inner(const vm::RunBatch& b) {
    vm::ResultBatch rb;
    rb.batch_id = b.batch_id;
    std::string batch_note;
    if (b.jit == 0 || b.jit == 1) {
      const int cur = read_int_file(kJitPath);
      if (cur != b.jit) {
        if (!(opt.pid1 || opt.allow_sysctl)) {
          batch_note = "net.core.bpf_jit_enable left at " + std::to_string(cur) + " (host mode)";
        } else if (!write_int_file(kJitPath, b.jit)) {
          batch_note = "cannot set net.core.bpf_jit_enable to " + std::to_string(b.jit) + ": " + errstr(errno);
        }
      }
      if (b.jit == 1 && read_int_file(kJitPath) == 1 && (keeper <= 0 || !keeper_jit)) start_keeper();
    }
    const size_t n = b.cases.size();
    rb.results.resize(n);
    batch_results = &rb.results;
    batch_audit_ambiguous.assign(n, false);
    pending.clear();
    batch_pids.clear();
    std::vector<std::vector<std::string>> notes(n);
    std::vector<bool> refused(n, false);
    PassOpts po;
    po.timeout_ms = b.timeout_ms;
    po.read_cache = cache_debug_ && opt.cache_read != CacheRead::Off;
    // On a host an int3 death would print "traps:" lines (--untraced allows it).
    po.untraced_ok = (opt.pid1 || opt.untraced) && !opt.always_trace;
    const bool always = opt.witness > 0;
    po.per_input = always && (witness_ok || audit_ok);
    po.witness = always && witness_ok;
    // The cache points of every case, in order (--cache-read=new remembers).
    std::vector<std::vector<bool>> cache_at(n);
    for (size_t i = 0; i < n; ++i) {
      const Case& c = b.cases[i];
      const std::string why = refusal(c);
      if (!why.empty()) {
        CaseResult& r = rb.results[i];
        r.installs.resize(std::min(c.filters.size(), kMaxFilters));
        for (KernelInstall& ki : r.installs) ki.ret = -1;
        r.outcomes.resize(std::min(c.inputs.size(), kMaxInputs));
        notes[i].push_back(why);
        refused[i] = true;
        continue;
      }
      if (po.read_cache) cache_at[i] = cache_points(c);
    }
    auto take = [&](size_t i, PassOut& out) {
      rb.results[i] = std::move(out.r);
      notes[i] = std::move(out.notes);
      if (out.audit_ambiguous) batch_audit_ambiguous[i] = true;
      if (audit_ok && !po.per_input) {
        pending.push_back({i, std::move(out.attempts)});
        audit.drain();
      }
    };
    for (size_t i = 0; i < n;) {
      if (refused[i]) {
        ++i;
        continue;
      }
      po.cache_at = cache_at[i];
      // A run of cases whose first task needs no ptrace goes to the zygote in
      // one request (see run_chunk).
      std::vector<const Case*> cs;
      std::vector<const std::vector<bool>*> cas;
      std::vector<size_t> idx;
      for (size_t j = i; j < n && cs.size() < kMaxChunk && !refused[j]; ++j) {
        po.cache_at = cache_at[j];
        if (!chunkable(b.cases[j], po)) break;
        cs.push_back(&b.cases[j]);
        cas.push_back(&cache_at[j]);
        idx.push_back(j);
      }
      if (!cs.empty()) {
        std::vector<PassOut> outs(cs.size());
        const size_t done = run_chunk(cs, cas, po, outs);
        for (size_t k = 0; k < done; ++k) take(idx[k], outs[k]);
        if (done > 0) {
          i = idx[done - 1] + 1;
          continue;
        }
      }
      // Alone: traced, or a chunk could not start.
      po.cache_at = cache_at[i];
      PassOut out = run_pass(b.cases[i], po);
      take(i, out);
      ++i;
    }
    double t0 = now_us();
    flush_audit();
    st.audit += now_us() - t0;
    t0 = now_us();
    // Re-run what the cheap observations leave open, with per-input stops.
    if (opt.witness >= 0 && !always) {
      PassOpts wo;
      wo.timeout_ms = b.timeout_ms;
      wo.per_input = true;
      wo.witness = witness_ok;
      for (size_t i = 0; i < n; ++i) {
        if (refused[i]) continue;
        const Case& c = b.cases[i];
        CaseResult& r = rb.results[i];
        bool need_witness = false;
        for (size_t k = 0; k < r.outcomes.size(); ++k)
          if (ambiguous(c.inputs[k], r.outcomes[k])) need_witness = true;
        const bool need_audit = batch_audit_ambiguous[i];
        if (!((need_witness && witness_ok) || (need_audit && audit_ok))) continue;
        PassOut w = run_pass(c, wo);
        ++st.reruns;
        for (size_t k = 0; k < r.outcomes.size() && k < w.r.outcomes.size(); ++k) {
          KernelOutcome& o = r.outcomes[k];
          const KernelOutcome& x = w.r.outcomes[k];
          // Each run is a fresh task, so getpid() and the like return other
          // values; only another kind of outcome or another errno is a difference.
          const auto err = [](uint64_t rax) { return rax >= static_cast<uint64_t>(-4095); };
          if (o.kind != x.kind ||
              (o.kind == OutcomeKind::Returned && o.rax != x.rax && (err(o.rax) || err(x.rax)))) {
            notes[i].push_back("the witness re-run differed at input " + std::to_string(k));
            break;
          }
          if (x.dispatched >= 0 && (need_witness || o.dispatched < 0)) o.dispatched = x.dispatched;
          if (need_audit) {
            o.audit_seen = x.audit_seen;
            o.audit_code = x.audit_code;
          }
        }
        if (w.audit_ambiguous) notes[i].push_back("audit records could not be attributed");
      }
      audit.records().clear();
    }
    st.rerun += now_us() - t0;
    audit.records().clear();
    for (size_t i = 0; i < n; ++i) {
      if (!batch_note.empty()) notes[i].insert(notes[i].begin(), batch_note);
      rb.results[i].note = join(notes[i]);
    }
    batch_results = nullptr;
    return rb;
  }

  bool cache_debug_ = false;
  bool chunks_ok = true;  // cleared if the kernel refuses CLONE_PIDFD
};

Engine::Engine(const Options& o) : impl_(new Impl) { impl_->opt = o; }

Engine::~Engine() {
  stop();
  delete impl_;
}

std::vector<std::string> Engine::take_logs() {
  std::vector<std::string> v;
  v.swap(impl_->logs);
  return v;
}

bool Engine::start(std::string* why) {
  Impl& m = *impl_;
  m.root = geteuid() == 0;
  g_agent_pid = getpid();
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  if (m.root) {
    // Nothing this process or its children do may regain capabilities via exec.
    for (int cap = 0; cap < 64; ++cap)
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno == EINVAL) break;
  }
  m.shm_size = (sizeof(Shm) + 4095) & ~size_t{4095};
  void* p = mmap(nullptr, m.shm_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    *why = "mmap of the shared region: " + errstr(errno);
    return false;
  }
  m.shm = static_cast<Shm*>(p);
  g_shm = m.shm;
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, nullptr);
  m.sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
  if (m.sigfd < 0) {
    *why = "signalfd: " + errstr(errno);
    return false;
  }
  signal(SIGPIPE, SIG_IGN);
  std::string w;
  std::string times;
  double t0 = now_us();
  auto stamp = [&](const char* what) {
    if (!m.opt.stats) return;
    const double t = now_us();
    char b[64];
    std::snprintf(b, sizeof b, " %s %.1f", what, (t - t0) / 1e3);
    times += b;
    t0 = t;
  };
  if (m.opt.audit) {
    m.audit_ok = m.audit.open(m.opt.pid1, &w);
    if (!m.audit_ok) m.log("audit: " + w);
  }
  stamp("audit");
  if (m.opt.witness >= 0) {
    m.witness_ok = m.witness.init(&w);
    if (!m.witness_ok) m.log("witness: " + w);
  }
  stamp("witness");
  m.start_keeper();
  stamp("keeper");
  const bool ok = m.start_zygote(why);
  stamp("zygote");
  if (m.opt.stats) m.log("engine start (ms):" + times);
  return ok;
}

void Engine::probe(vm::Hello* h) {
  Impl& m = *impl_;
  const double t0 = now_us();
  struct Done {
    Impl& m;
    double t0;
    ~Done() {
      if (m.opt.stats) m.log("probe (ms): " + std::to_string((now_us() - t0) / 1e3));
    }
  } done{m, t0};
  utsname u{};
  if (uname(&u) == 0) {
    h->kernel_release = u.release;
    h->kernel_version = u.version;
  }
  h->jit_enable = read_int_file(kJitPath);
  h->jit_harden = read_int_file(kHardenPath);
  uint32_t f = 0;
  if (m.audit_ok) f |= vm::kFeatureAudit;
  if (m.witness_ok) f |= vm::kFeatureTracepoints;
  if ((m.opt.pid1 || m.opt.allow_sysctl) && h->jit_enable >= 0 && write_int_file(kJitPath, h->jit_enable))
    f |= vm::kFeatureJitSysctl;
  PassOpts po;
  po.timeout_ms = 2000;
  // IA32 emulation and the x32 ABI: getpid through int $0x80 and with the x32 bit.
  Case c;
  CaseInput in;
  in.arch = Arch::I386;
  in.nr = 20;
  c.inputs.push_back(in);
  in.arch = Arch::X32;
  in.nr = 39;
  c.inputs.push_back(in);
  PassOut out = m.run_pass(c, po);
  if (out.r.outcomes.size() == 2) {
    const KernelOutcome& a = out.r.outcomes[0];
    const KernelOutcome& b = out.r.outcomes[1];
    if (a.kind == OutcomeKind::Returned && a.rax > 0) f |= vm::kFeatureIa32;
    if (b.kind == OutcomeKind::Returned && b.rax > 0) {
      f |= vm::kFeatureX32;
      m.x32 = true;
    }
  }
  // CONFIG_SECCOMP_CACHE_DEBUG: the bitmaps after an allow-all filter.
  if (access("/proc/self/seccomp_cache", F_OK) == 0) {
    Case k;
    k.filters.push_back(CaseFilter{{Insn{0x06, 0, 0, SECCOMP_RET_ALLOW}}, 0});
    po.read_cache = true;
    po.cache_at = {true};
    PassOut o = m.run_pass(k, po);
    if (o.r.installs.size() == 1 && o.r.installs[0].ret == 0 && o.r.installs[0].has_cache &&
        !o.r.installs[0].cache_native.empty()) {
      f |= vm::kFeatureCacheDebug;
      m.cache_debug_ = true;
    } else {
      m.log("/proc/self/seccomp_cache exists but could not be read for a task");
    }
  }
  h->features = f;
}

vm::ResultBatch Engine::run_batch(const vm::RunBatch& b) { return impl_->run_batch(b); }

void Engine::stop() {
  Impl& m = *impl_;
  if (m.shm == nullptr) return;
  if (m.zygote > 0) m.kill_zygote();
  if (m.keeper > 0) {
    kill(m.keeper, SIGKILL);
    int st;
    waitpid(m.keeper, &st, __WALL);
    m.keeper = 0;
  }
  m.audit.close_log();
}

}  // namespace secdiff::agent
