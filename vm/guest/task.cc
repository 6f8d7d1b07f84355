// The zygote and the case task (see agent.h for the design).
//
// The task code calls no libc function that touches TLS or errno (it shares the
// zygote's memory and TLS); every syscall is a raw one. After the first filter
// install the only syscalls it makes are the installs and the inputs, each
// issued from a stub at a known address; handshakes with the agent are int3
// traps, which stop the (ptraced) task without a syscall.
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>

#include "vm/guest/shm.h"

#if !defined(__x86_64__)
#error "the agent runs x86_64 machine code"
#endif

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

namespace secdiff::agent {

Shm* g_shm = nullptr;
int g_agent_pid = 0;

namespace {

// Registers for one stub call; the SIGSYS handler leaves a trapped stub
// through secdiff_agent_resume, which restores the stack pointer saved at entry.
struct CallBlock {
  uint64_t nr;         // 0
  uint64_t a[6];       // 8..48
  uint64_t target;     // 56
  uint64_t rax_out;    // 64
  uint64_t saved_rsp;  // 72
};
static_assert(offsetof(CallBlock, a) == 8);
static_assert(offsetof(CallBlock, target) == 56);
static_assert(offsetof(CallBlock, rax_out) == 64);
static_assert(offsetof(CallBlock, saved_rsp) == 72);

}  // namespace
}  // namespace secdiff::agent

extern "C" {
uint64_t secdiff_agent_call64(secdiff::agent::CallBlock* b);
uint64_t secdiff_agent_call32(secdiff::agent::CallBlock* b);
[[noreturn]] void secdiff_agent_resume(secdiff::agent::CallBlock* b);
// clone(flags, stack) for a thread that runs fn() on `stack_top`; returns the
// raw clone result in the caller.
long secdiff_agent_thread(unsigned long flags, void* stack_top, void (*fn)());
}

asm(R"(
  .text
  .p2align 4
  .globl secdiff_agent_call64
  .hidden secdiff_agent_call64
  .type secdiff_agent_call64,@function
secdiff_agent_call64:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rdi, %r12
  movq %rsp, 72(%r12)
  movq 0(%r12), %rax
  movq 16(%r12), %rsi
  movq 24(%r12), %rdx
  movq 32(%r12), %r10
  movq 40(%r12), %r8
  movq 48(%r12), %r9
  movq 8(%r12), %rdi
  callq *56(%r12)
  movq %rax, 64(%r12)
  movl $1, %eax
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  retq
  .size secdiff_agent_call64, .-secdiff_agent_call64

  .p2align 4
  .globl secdiff_agent_call32
  .hidden secdiff_agent_call32
  .type secdiff_agent_call32,@function
secdiff_agent_call32:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rdi, %r12
  movq %rsp, 72(%r12)
  movq 0(%r12), %rax
  movq 8(%r12), %rbx
  movq 16(%r12), %rcx
  movq 24(%r12), %rdx
  movq 32(%r12), %rsi
  movq 40(%r12), %rdi
  movq 48(%r12), %rbp
  callq *56(%r12)
  movq %rax, 64(%r12)
  movl $1, %eax
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  retq
  .size secdiff_agent_call32, .-secdiff_agent_call32

  .p2align 4
  .globl secdiff_agent_resume
  .hidden secdiff_agent_resume
  .type secdiff_agent_resume,@function
secdiff_agent_resume:
  movq 72(%rdi), %rsp
  xorl %eax, %eax
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  retq
  .size secdiff_agent_resume, .-secdiff_agent_resume

  .p2align 4
  .globl secdiff_agent_thread
  .hidden secdiff_agent_thread
  .type secdiff_agent_thread,@function
secdiff_agent_thread:
  andq $-16, %rsi
  movq %rdx, -8(%rsi)
  subq $16, %rsi
  xorl %edx, %edx
  xorl %r10d, %r10d
  xorl %r8d, %r8d
  movl $56, %eax
  syscall
  testq %rax, %rax
  jnz 1f
  xorl %ebp, %ebp
  movq 8(%rsp), %rax
  callq *%rax
  ud2
1:
  retq
  .size secdiff_agent_thread, .-secdiff_agent_thread
)");

namespace secdiff::agent {
namespace {

constexpr uint64_t kPage = 4096;
constexpr long kNrSeccomp = 317;
constexpr uint32_t kNobody = 65534;
constexpr size_t kTaskStack = 256 * 1024;

inline long rsys(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  register long r10 asm("r10") = d;
  register long r8 asm("r8") = e;
  register long r9 asm("r9") = f;
  asm volatile("syscall"
               : "+a"(n)
               : "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
               : "rcx", "r11", "memory");
  return n;
}

inline void fence() { std::atomic_signal_fence(std::memory_order_seq_cst); }

// The plan of the task being created or running (set by the zygote before the
// clone; one task at a time per zygote).
Plan* g_plan = nullptr;

// Task-private state (in the zygote's memory, which the task shares). One task
// at a time per zygote, and only the thread that issues syscalls uses it.
struct TaskLocal {
  CallBlock block;
  Slot* volatile cur_slot;
  volatile int in_call;
};
TaskLocal g_local;

// Stacks for the task's threads (in the zygote's memory).
uint8_t* g_stack_main = nullptr;
uint8_t* g_stack_thread = nullptr;

struct KernelSigaction {
  uintptr_t handler;
  unsigned long flags;
  uintptr_t restorer;
  uint64_t mask;
};
constexpr unsigned long kSaRestorer = 0x04000000;

[[noreturn]] void hang() {
  for (;;) asm volatile("pause" ::: "memory");
}

void dummy_restorer() { hang(); }

// Handshake: publish what this stop is, then trap. The agent (our tracer)
// sees the SIGTRAP stop, does its work, and resumes us without the signal.
void task_stop(Shm& s, uint32_t kind, int32_t index) {
  s.stop_kind = kind;
  s.stop_index = index;
  fence();
  s.stop_seq = s.stop_seq + 1;
  fence();
  asm volatile("int3" ::: "memory");
  fence();
}

void sigsys_handler(int, siginfo_t* si, void* ucv) {
  TaskLocal& L = g_local;
  Slot* s = L.cur_slot;
  if (s != nullptr && L.in_call) {
    auto* uc = static_cast<ucontext_t*>(ucv);
    s->sig_signo = si->si_signo;
    s->sig_code = si->si_code;
    s->sig_errno = si->si_errno;
    s->sig_syscall = si->si_syscall;
    s->sig_arch = si->si_arch;
    s->sig_call_addr = reinterpret_cast<uint64_t>(si->si_call_addr);
    s->uc_rax = static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_RAX]);
    fence();
    s->state = kSlotSigsys;
    L.in_call = 0;
    fence();
    secdiff_agent_resume(&L.block);
  }
  // A SIGSYS outside a stub call: nothing sensible to do; the agent's timeout ends us.
  hang();
}

// Writes the stub only where its bytes differ: under TCG every store to a page
// that holds translated code invalidates the page's translations (the kernel
// saw ~100 us per input and per install when the bytes were rewritten each
// time). Reading first changes nothing the kernel or the filters see.
void write_stub(uint64_t at, bool i386) {
  volatile uint8_t* b = reinterpret_cast<volatile uint8_t*>(at);
  const uint8_t* src = i386 ? kStubInt80 : kStubSyscall;
  for (int i = 0; i < 3; ++i)
    if (b[i] != src[i]) b[i] = src[i];
  fence();
}

// Issues one syscall through the stub at `stub` and records it in `s`.
void issue(Slot* s, bool i386, uint64_t stub, uint64_t rax, const uint64_t args[6]) {
  TaskLocal& L = g_local;
  write_stub(stub, i386);
  L.block.nr = rax;
  for (int i = 0; i < 6; ++i) L.block.a[i] = args[i];
  L.block.target = stub;
  L.cur_slot = s;
  fence();
  s->state = kSlotStarted;
  L.in_call = 1;
  fence();
  const uint64_t r = i386 ? secdiff_agent_call32(&L.block) : secdiff_agent_call64(&L.block);
  L.in_call = 0;
  fence();
  if (r) {
    s->rax = L.block.rax_out;
    fence();
    s->state = kSlotReturned;
  }
  L.cur_slot = nullptr;
  g_shm->progress = g_shm->progress + 1;
  fence();
}

[[noreturn]] void setup_fail(Shm& s, uint32_t step, long r) {
  g_plan->setup_errno = static_cast<int32_t>(-r);
  g_plan->setup_failed_step = step;
  fence();
  task_stop(s, kStopSetup, static_cast<int32_t>(step));
  hang();
}

// The thread that installs the filters and issues the inputs.
[[noreturn]] void worker() {
  Shm& s = *g_shm;
  Plan& p = *g_plan;
  const uint32_t nf = p.n_filters < kMaxFilters ? p.n_filters : kMaxFilters;
  const uint32_t ni = p.n_inputs < kMaxInputs ? p.n_inputs : kMaxInputs;
  p.phase = kPhaseInstall;
  for (uint32_t f = 0; f < nf; ++f) {
    p.cur = static_cast<int32_t>(f);
    fence();
    const uint64_t args[6] = {1 /* SECCOMP_SET_MODE_FILTER */, p.filters[f].flags,
                              reinterpret_cast<uint64_t>(&p.filters[f].fprog), 0, 0, 0};
    Slot* slot = &p.install_slots[f];
    issue(slot, false, kInstallStub, kNrSeccomp, args);
    if (p.filters[f].stop_after && slot->state == kSlotReturned &&
        static_cast<int64_t>(slot->rax) >= 0)
      task_stop(s, kStopInstall, static_cast<int32_t>(f));
  }
  p.tsc[kTscInstalled] = rdtsc();
  p.phase = kPhaseInputs;
  for (uint32_t i = p.first_input; i < ni; ++i) {
    const InputDesc& in = p.inputs[i];
    p.cur = static_cast<int32_t>(i);
    fence();
    if (in.stops & kStopBefore) task_stop(s, kStopBeforeInput, static_cast<int32_t>(i));
    issue(&p.input_slots[i], in.i386 != 0, in.stub, in.rax, in.args);
    if (in.stops & kStopAfter) task_stop(s, kStopAfterInput, static_cast<int32_t>(i));
  }
  p.tsc[kTscInputsDone] = rdtsc();
  p.phase = kPhaseDone;
  fence();
  // Done: end by ourselves (cheaper than a stop the agent answers with SIGKILL).
  const uint64_t args[6] = {0, 0, 0, 0, 0, 0};
  issue(&p.exit_slot, false, kExitStub, 231 /* exit_group */, args);
  if (p.flags & kPlanUntraced) {
    asm volatile("int3" ::: "memory");  // exit_group was denied: die of SIGTRAP
    hang();
  }
  // Traced, and exit_group was denied: the agent ends us at this stop.
  for (;;) task_stop(s, kStopDone, 0);
}

// The second thread of an other_threads task. Before it installs anything the
// main thread must be asleep inside futex_wait: a syscall it made after a TSYNC
// install would be filtered, and if the filters killed it, thread 2 would be the
// last thread and KILL_THREAD would kill the process. FUTEX_REQUEUE with no
// wake-ups moves a waiter to another word and says whether there was one,
// without waking it.
void thread_entry() {
  Shm& s = *g_shm;
  for (int i = 0; i < 200000; ++i) {
    if (rsys(SYS_futex, reinterpret_cast<long>(&s.park), FUTEX_REQUEUE, 0, 1,
             reinterpret_cast<long>(&s.park2)) >= 1)
      break;
    rsys(SYS_sched_yield);
  }
  worker();
}

struct Rlim {
  uint64_t cur, max;
};

const KernelSigaction kSigsysAction{reinterpret_cast<uintptr_t>(&sigsys_handler),
                                   SA_SIGINFO | SA_NODEFER | kSaRestorer,
                                   reinterpret_cast<uintptr_t>(&dummy_restorer), 0};
// The task. The zygote did the common setup once (no fds, uid/gid 65534 and no
// capabilities, RLIMIT_CORE/AS/NOFILE, the SIGSYS handler, not dumpable); what
// is left is per case.
int task_main(void*) {
  Shm& s = *g_shm;
  const uint32_t flags = g_plan->flags;
  g_plan->tsc[kTscEntry] = rdtsc();
  long r;
  if (!(flags & kPlanSigsysHandler)) {
    const KernelSigaction dfl{0 /* SIG_DFL */, 0, 0, 0};
    if ((r = rsys(SYS_rt_sigaction, SIGSYS, reinterpret_cast<long>(&dfl), 0, 8)) != 0) setup_fail(s, 2, r);
  }
  if ((flags & kPlanNnp) && (r = rsys(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) != 0)
    setup_fail(s, 3, r);
  // Wait until the agent has attached (it ptraces us before any install).
  if (!(flags & kPlanUntraced))
    while (s.go == 0) rsys(SYS_futex, reinterpret_cast<long>(&s.go), FUTEX_WAIT, 0, 0);
  const Rlim nproc{0, 0};
  if (flags & kPlanOtherThreads) {
    constexpr unsigned long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
                                    CLONE_THREAD | CLONE_SYSVSEM;
    r = secdiff_agent_thread(flags, g_stack_thread + kTaskStack, &thread_entry);
    if (r < 0) setup_fail(s, 4, r);
    // No further processes or threads: an allowed fork/clone input fails.
    rsys(SYS_prlimit64, 0, RLIMIT_NPROC, reinterpret_cast<long>(&nproc), 0);
    // Sleep for good; never another syscall (thread 2 may have synced filters to us).
    rsys(SYS_futex, reinterpret_cast<long>(&s.park), FUTEX_WAIT, 0, 0);
    hang();
  }
  rsys(SYS_prlimit64, 0, RLIMIT_NPROC, reinterpret_cast<long>(&nproc), 0);
  worker();
}

// --- zygote ---------------------------------------------------------------

uint64_t g_min_addr = 65536;
// Pages this zygote mapped for requested instruction pointers.
uint64_t g_owned[2 * kMaxInputs];
size_t g_n_owned = 0;
uint32_t g_plan_id = ~0u;

bool owns(uint64_t pg) {
  for (size_t i = 0; i < g_n_owned; ++i)
    if (g_owned[i] == pg) return true;
  return false;
}

void unmap_owned() {
  for (size_t i = 0; i < g_n_owned; ++i) munmap(reinterpret_cast<void*>(g_owned[i]), kPage);
  g_n_owned = 0;
}

// Maps what it takes for a stub whose syscall instruction ends at `ip`.
bool place_stub(uint64_t ip) {
  if (ip < g_min_addr + 2 || ip >= (uint64_t{1} << 47) - kPage) return false;
  const uint64_t start = ip - 2, end = ip + 1;
  for (uint64_t pg = start & ~(kPage - 1); pg < end; pg += kPage) {
    if (owns(pg) || pg == kStubPage) continue;
    if (g_n_owned == sizeof g_owned / sizeof g_owned[0]) return false;
    void* m = mmap(reinterpret_cast<void*>(pg), kPage, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (m == MAP_FAILED) return false;
    if (reinterpret_cast<uint64_t>(m) != pg) {  // kernel without MAP_FIXED_NOREPLACE
      munmap(m, kPage);
      return false;
    }
    std::memset(m, 0xcc, kPage);
    g_owned[g_n_owned++] = pg;
  }
  return true;
}

// The default stub page, mapped once per zygote. (A task that unmaps it dies of
// SIGSEGV at its next stub call, and the agent then starts a new zygote.)
void map_default_stubs() {
  void* p = mmap(reinterpret_cast<void*>(kStubPage), kPage, PROT_READ | PROT_WRITE | PROT_EXEC,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p != MAP_FAILED) std::memset(p, 0xcc, kPage);
}

void prepare_stubs(Plan& s) {
  if (s.plan_id != g_plan_id) {
    unmap_owned();
    g_plan_id = s.plan_id;
  }
  const uint32_t ni = s.n_inputs < kMaxInputs ? s.n_inputs : kMaxInputs;
  for (uint32_t i = 0; i < ni; ++i) {
    InputDesc& in = s.inputs[i];
    in.ip_as_requested = 0;
    uint64_t ip = kDefaultIp;
    if (in.req_ip != 0 && place_stub(in.req_ip)) {
      ip = in.req_ip;
      in.ip_as_requested = 1;
    }
    in.stub = ip - 2;
    in.ip_used = ip;
  }
}

// kReqChunk: runs plans[0..chunk_n) one after the other, each in a fresh task
// cloned exactly as for kReqSpawn (untraced plans only), and waits for each to
// exit on a pidfd: a task's exit wakes the zygote, which shares its mm, so
// no address-space switch and no agent wake-up happens between the tasks. The
// agent (the tasks' parent) reaps them all afterwards. Stops after the first
// task that does not reach kPhaseDone: the agent decides what comes next
// (re-create the task for the rest of the inputs, a new zygote...).
void run_chunk(Shm& s) {
  const uint32_t n = s.chunk_n < kMaxChunk ? s.chunk_n : kMaxChunk;
  const long timeout_ms = s.chunk_timeout_ms > 0 ? s.chunk_timeout_ms : 1;
  s.chunk_errno = 0;
  for (uint32_t i = 0; i < n; ++i) {
    Plan& p = s.plans[i];
    p.tsc[kTscWake] = rdtsc();
    g_plan = &p;
    prepare_stubs(p);
    std::memset(static_cast<void*>(&g_local), 0, sizeof g_local);
    s.progress = 0;
    s.stop_seq = 0;
    fence();
    int pidfd = -1;
    p.tsc[kTscClone0] = rdtsc();
    const long pid = clone(task_main, g_stack_main + kTaskStack - 64,
                           CLONE_VM | CLONE_PARENT | CLONE_PIDFD | SIGCHLD, nullptr, &pidfd);
    p.tsc[kTscClone1] = rdtsc();
    if (pid <= 0 || pidfd < 0) {
      // Stop before this plan; the agent runs the case on its own.
      s.chunk_errno = pid <= 0 ? errno : EBADF;
      p.task_pid = pid > 0 ? static_cast<int32_t>(pid) : -s.chunk_errno;
      if (pid > 0) kill(static_cast<pid_t>(pid), SIGKILL);  // no pidfd (cannot happen); the agent reaps it
      break;
    }
    p.task_pid = static_cast<int32_t>(pid);
    uint32_t end = 0, last = s.progress;
    pollfd pf{pidfd, POLLIN, 0};
    for (;;) {
      timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000};
      const int r = ppoll(&pf, 1, &ts, nullptr);
      if (r > 0) break;
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {  // cannot wait: end the task and say so
        s.chunk_errno = errno;
        kill(static_cast<pid_t>(pid), SIGKILL);
        end = kEndOther;
        timespec t5{5, 0};
        if (ppoll(&pf, 1, &t5, nullptr) <= 0) end = kEndStuck;
        break;
      }
      const uint32_t now = s.progress;
      if (now != last) {  // still issuing syscalls: give it another timeout
        last = now;
        continue;
      }
      // Blocked in a syscall: as the agent does with a traced task.
      kill(static_cast<pid_t>(pid), SIGKILL);
      end = kEndTimeout;
      timespec t5{5, 0};
      if (ppoll(&pf, 1, &t5, nullptr) <= 0) end = kEndStuck;
      break;
    }
    p.tsc[kTscExited] = rdtsc();
    close(pidfd);
    if (end == 0) end = p.phase == kPhaseDone ? kEndDone : kEndOther;
    p.end = end;
    fence();
    s.chunk_done = i + 1;
    if (end != kEndDone) break;
  }
}

void note(Shm& s, const char* what, int err) {
  std::snprintf(s.zygote_note, sizeof s.zygote_note, "%s: %s", what, std::strerror(err));
}

}  // namespace

[[noreturn]] void zygote_main(bool namespaces) {
  Shm& s = *g_shm;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != g_agent_pid) _exit(1);
  // Clean signal state (the agent blocks SIGCHLD and may ignore SIGPIPE).
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < 65; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction sa {};
    sa.sa_handler = SIG_DFL;
    sigaction(sig, &sa, nullptr);
  }
  // No fds at all, so the tasks have none either.
  for (int fd = 0; fd < 4096; ++fd) close(fd);
  {
    FILE* f = std::fopen("/proc/sys/vm/mmap_min_addr", "r");
    if (f != nullptr) {
      unsigned long long v = 0;
      if (std::fscanf(f, "%llu", &v) == 1) g_min_addr = v < kPage ? kPage : v;
      std::fclose(f);
    }
  }
  s.holder_pid = 0;
  s.ns_errno = -1;
  if (namespaces) {
    if (unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID) != 0) {
      s.ns_errno = errno;
      note(s, "unshare", errno);
    } else {
      mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
      // The pid namespace's init: must outlive every task, and leaves with the
      // zygote. As a namespace init it ignores SIGKILL from inside the
      // namespace and a parent-death SIGKILL, but runs handlers.
      const pid_t h = fork();
      if (h == 0) {
        struct sigaction sa {};
        sa.sa_handler = [](int) { _exit(0); };
        sigaction(SIGUSR1, &sa, nullptr);
        prctl(PR_SET_PDEATHSIG, SIGUSR1);
        for (;;) pause();
      }
      if (h < 0) {
        s.ns_errno = errno;
        note(s, "fork of the namespace holder", errno);
      } else {
        s.holder_pid = h;
        s.ns_errno = 0;
      }
    }
  }
  prctl(PR_SET_DUMPABLE, 0);
  map_default_stubs();
  void* st = mmap(nullptr, 2 * (kTaskStack + kPage), PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (st == MAP_FAILED) _exit(3);
  // Guard pages below each stack.
  g_stack_main = static_cast<uint8_t*>(st) + kPage;
  g_stack_thread = g_stack_main + kTaskStack + kPage;
  mprotect(st, kPage, PROT_NONE);
  mprotect(g_stack_main + kTaskStack, kPage, PROT_NONE);
  {
    // RLIMIT_AS for tasks: what the zygote uses now plus 256 MiB.
    uint64_t pages = 0;
    FILE* f = std::fopen("/proc/self/statm", "r");
    if (f != nullptr) {
      unsigned long long v = 0;
      if (std::fscanf(f, "%llu", &v) == 1) pages = v;
      std::fclose(f);
    }
    s.rlimit_as = pages * kPage + (256ull << 20);
  }
  // The setup every task shares, done once here and inherited through clone.
  const Rlim core{0, 0}, as{s.rlimit_as, s.rlimit_as}, nofile{64, 64};
  prlimit(0, RLIMIT_CORE, reinterpret_cast<const rlimit*>(&core), nullptr);
  prlimit(0, RLIMIT_AS, reinterpret_cast<const rlimit*>(&as), nullptr);
  prlimit(0, RLIMIT_NOFILE, reinterpret_cast<const rlimit*>(&nofile), nullptr);
  if (geteuid() == 0) {
    // Nobody from here on: the namespaces exist, and nothing the zygote does
    // later needs a privilege. Leaving uid 0 clears every capability (and the
    // agent emptied the bounding set, so none can come back through exec).
    if (rsys(SYS_setgroups, 0, 0) != 0 || rsys(SYS_setresgid, kNobody, kNobody, kNobody) != 0 ||
        rsys(SYS_setresuid, kNobody, kNobody, kNobody) != 0) {
      note(s, "dropping to uid/gid 65534", EPERM);
      _exit(4);
    }
  }
  // The uid change set the mm's dumpable flag to suid_dumpable: never dump.
  prctl(PR_SET_DUMPABLE, 0);
  rsys(SYS_rt_sigaction, SIGSYS, reinterpret_cast<long>(&kSigsysAction), 0, 8);
  s.zygote_ready = 1;
  uint32_t seen = s.req_seq;
  for (;;) {
    const uint32_t want = s.req_seq;
    if (want == seen) {
      syscall(SYS_futex, &s.req_seq, FUTEX_WAIT, seen, nullptr, nullptr, 0);
      continue;
    }
    seen = want;
    s.plans[0].tsc[kTscWake] = rdtsc();
    if (s.req_kind == kReqExit) _exit(0);
    if (s.req_kind == kReqSpawn) {
      g_plan = &s.plans[0];
      prepare_stubs(*g_plan);
      std::memset(static_cast<void*>(&g_local), 0, sizeof g_local);
      g_plan->tsc[kTscClone0] = rdtsc();
      const long pid = clone(task_main, g_stack_main + kTaskStack - 64,
                             CLONE_VM | CLONE_PARENT | SIGCHLD, nullptr);
      g_plan->tsc[kTscClone1] = rdtsc();
      s.task_pid = pid > 0 ? static_cast<int32_t>(pid) : -errno;
    } else if (s.req_kind == kReqChunk) {
      run_chunk(s);
    }
    fence();
    s.ack_seq = seen;
    syscall(SYS_futex, &s.ack_seq, FUTEX_WAKE, 1, nullptr, nullptr, 0);
  }
}

}  // namespace secdiff::agent
