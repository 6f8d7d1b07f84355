#include "host/host_kernel.h"

#include <linux/filter.h>
#include <poll.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>

#if !defined(__x86_64__)
#error "host/host_kernel.cc runs x86_64 machine code"
#endif

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

namespace secdiff {

namespace {

// ---------------------------------------------------------------------------
// Machine code. The stubs at the chosen instruction pointer are 3 bytes:
//   0f 05 c3  syscall; ret          (X86_64, X32)
//   cd 80 c3  int $0x80; ret        (I386)
// They are called from secdiff_host_call{64,32}, which load the registers from
// a CallBlock. The SIGSYS handler leaves a trapped stub through
// secdiff_host_resume, which restores the stack pointer saved at entry and
// returns 0 from secdiff_host_call*: a longjmp that makes no syscall (no
// signal mask, no rt_sigreturn).
// ---------------------------------------------------------------------------

struct CallBlock {
  uint64_t nr;         // 0
  uint64_t a[6];       // 8..48
  uint64_t target;     // 56: address of the 3-byte stub
  uint64_t rax_out;    // 64
  uint64_t saved_rsp;  // 72
};
static_assert(offsetof(CallBlock, a) == 8);
static_assert(offsetof(CallBlock, target) == 56);
static_assert(offsetof(CallBlock, rax_out) == 64);
static_assert(offsetof(CallBlock, saved_rsp) == 72);

}  // namespace
}  // namespace secdiff

extern "C" {
// Return 1 when the stub returned normally (rax in block->rax_out), 0 when left
// through secdiff_host_resume.
uint64_t secdiff_host_call64(secdiff::CallBlock* b);
uint64_t secdiff_host_call32(secdiff::CallBlock* b);
[[noreturn]] void secdiff_host_resume(secdiff::CallBlock* b);
}

asm(R"(
  .text
  .p2align 4
  .globl secdiff_host_call64
  .hidden secdiff_host_call64
  .type secdiff_host_call64,@function
secdiff_host_call64:
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
  .size secdiff_host_call64, .-secdiff_host_call64

  .p2align 4
  .globl secdiff_host_call32
  .hidden secdiff_host_call32
  .type secdiff_host_call32,@function
secdiff_host_call32:
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
  .size secdiff_host_call32, .-secdiff_host_call32

  .p2align 4
  .globl secdiff_host_resume
  .hidden secdiff_host_resume
  .type secdiff_host_resume,@function
secdiff_host_resume:
  movq 72(%rdi), %rsp
  xorl %eax, %eax
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  retq
  .size secdiff_host_resume, .-secdiff_host_resume
)");

namespace secdiff {

namespace {

constexpr uint8_t kStub64[3] = {0x0f, 0x05, 0xc3};
constexpr uint8_t kStub32[3] = {0xcd, 0x80, 0xc3};
constexpr uint64_t kPage = 4096;
constexpr long kNrSeccomp = 317;  // x86_64 __NR_seccomp
constexpr uint32_t kNobody = 65534;
// The child's stack: aligned to its size, with the Plan pointer at its lowest
// address, so that the SIGSYS handler finds its state from its stack pointer
// (no globals: children of different threads may run at the same time, and
// with CLONE_VM they share the parent's memory and TLS).
constexpr size_t kStackSize = 256 * 1024;

// Slot states.
constexpr uint32_t kNone = 0, kStarted = 1, kReturned = 2, kSigsysState = 3;

// One syscall's record in the shared page (64 bytes).
struct Slot {
  volatile uint32_t state;
  uint32_t ip_as_requested;
  uint64_t ip_used;
  uint64_t rax;
  int32_t sig_signo, sig_code, sig_errno, sig_syscall;
  uint32_t sig_arch, pad;
  uint64_t sig_call_addr;
  uint64_t uc_rax;
};
static_assert(sizeof(Slot) == 64);

struct Header {
  volatile uint32_t setup_failed_step;
  volatile int32_t setup_errno;
  volatile uint32_t finished;
  uint32_t pad[13];
};
static_assert(sizeof(Header) == 64);

// The default stub page, mapped once in the parent and shared or inherited by
// children.
struct DefaultStubs {
  uint64_t page = 0;
  uint64_t stub64 = 0, stub32 = 0;  // stub start addresses
};

const DefaultStubs& default_stubs() {
  static DefaultStubs d;
  static std::once_flag once;
  std::call_once(once, [] {
    void* p = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    auto* b = static_cast<uint8_t*>(p);
    std::memset(b, 0xcc, kPage);
    std::memcpy(b + 0x100, kStub64, 3);
    std::memcpy(b + 0x200, kStub32, 3);
    if (mprotect(p, kPage, PROT_READ | PROT_EXEC) != 0) {
      munmap(p, kPage);
      return;
    }
    d.page = reinterpret_cast<uint64_t>(p);
    d.stub64 = d.page + 0x100;
    d.stub32 = d.page + 0x200;
  });
  return d;
}

uint64_t mmap_min_addr() {
  static const uint64_t v = [] {
    uint64_t x = 65536;
    std::ifstream f("/proc/sys/vm/mmap_min_addr");
    if (f) f >> x;
    return x < kPage ? kPage : x;
  }();
  return v;
}

bool in_list(uint32_t v, std::initializer_list<uint32_t> l) {
  return std::find(l.begin(), l.end(), v) != l.end();
}

constexpr std::initializer_list<uint32_t> kHarmless64 = {39, 110, 102, 107, 104, 108, 186, 111, 24};
constexpr std::initializer_list<uint32_t> kHarmless32 = {20, 64, 24, 47, 49, 50, 224, 158};
// Numbers at or above this (as the kernel's unsigned int view) are implemented by
// no table: x86_64 < ~470 (+ x32 512..547 reachable only with the x32 bit), i386 < ~470.
constexpr uint32_t kFirstUnimplemented = 1000;

bool is_unimplemented(Arch arch, uint64_t rax) {
  const uint32_t u = static_cast<uint32_t>(rax);
  if (arch == Arch::I386) return u >= kFirstUnimplemented;
  if (u & 0x80000000u) return true;
  const uint32_t base = u & ~X32_SYSCALL_BIT;
  return base >= kFirstUnimplemented;
}

// Everything a child needs, prepared by the parent. With CLONE_VM the child
// writes into it directly; without, it works on its private copy (results go
// through the MAP_SHARED page either way).
struct Plan {
  // Used by the child and its SIGSYS handler.
  CallBlock block{};
  Slot* volatile cur_slot = nullptr;
  volatile int in_call = 0;
  Header* header = nullptr;
  Slot* scratch = nullptr;
  Slot* installs = nullptr;
  Slot* inputs = nullptr;
  const HostFilter* chain = nullptr;
  size_t n_chain = 0;
  const HostInput* in = nullptr;
  size_t n_inputs = 0;
  const sock_fprog* fprogs = nullptr;
  uint64_t* owned = nullptr;      // pages mapped for requested ips
  volatile size_t n_owned = 0;
  size_t owned_cap = 0;
  uint64_t* stub_addr = nullptr;  // per input
  uint64_t stub64 = 0, stub32 = 0, min_addr = kPage;
  bool no_new_privs = true, drop = false;
  long parent = 0;
  size_t first_input = 0;
  bool record_installs = true;
};

// Code that runs in the child after filters are installed must not call into a
// sanitizer runtime (its syscalls would be filtered, its fake stacks live in
// the parent's memory): no instrumentation there.
#define SECDIFF_CHILD_CODE __attribute__((no_sanitize("address", "undefined"), noinline))

// Raw syscalls: the child calls no libc function (with CLONE_VM it shares the
// parent's TLS, errno included).
__attribute__((no_sanitize("address", "undefined"))) inline long rsys(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  register long r10 asm("r10") = d;
  register long r8 asm("r8") = e;
  register long r9 asm("r9") = f;
  asm volatile("syscall"
               : "+a"(n)
               : "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
               : "rcx", "r11", "memory");
  return n;
}

struct KernelSigaction {  // the kernel's struct sigaction on x86_64
  uintptr_t handler;
  unsigned long flags;
  uintptr_t restorer;
  uint64_t mask;
};
constexpr unsigned long kSaRestorer = 0x04000000;

[[noreturn]] SECDIFF_CHILD_CODE void fault_now() {
  // A write to address 0: SIGSEGV, which the parent expects once all results
  // are recorded.
  asm volatile("movl $0, 0" ::: "memory");
  __builtin_unreachable();
}

// Never used (the handler never returns) but x86_64 signal delivery needs one.
SECDIFF_CHILD_CODE void dummy_restorer() { fault_now(); }

SECDIFF_CHILD_CODE Plan* plan_from_stack() {
  // The frame address, not a local's: ASan may put locals on its fake stack.
  const uintptr_t base =
      reinterpret_cast<uintptr_t>(__builtin_frame_address(0)) & ~(uintptr_t{kStackSize} - 1);
  return *reinterpret_cast<Plan**>(base);
}

SECDIFF_CHILD_CODE void sigsys_handler(int, siginfo_t* si, void* ucv) {
  Plan* p = plan_from_stack();
  Slot* s = p->cur_slot;
  if (s) {
    auto* uc = static_cast<ucontext_t*>(ucv);
    s->sig_signo = si->si_signo;
    s->sig_code = si->si_code;
    s->sig_errno = si->si_errno;
    s->sig_syscall = si->si_syscall;
    s->sig_arch = si->si_arch;
    s->sig_call_addr = reinterpret_cast<uint64_t>(si->si_call_addr);
    s->uc_rax = static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_RAX]);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    s->state = kSigsysState;
  }
  if (p->in_call) {
    p->in_call = 0;
    secdiff_host_resume(&p->block);
  }
  fault_now();
}

// Issues one syscall through the stub at `stub` and records it in `s`.
SECDIFF_CHILD_CODE void issue(Plan& p, Slot* s, bool i386, uint64_t stub, uint64_t rax, const uint64_t args[6]) {
  p.block.nr = rax;
  for (int i = 0; i < 6; ++i) p.block.a[i] = args[i];
  p.block.target = stub;
  p.cur_slot = s;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  s->state = kStarted;
  p.in_call = 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  const uint64_t r = i386 ? secdiff_host_call32(&p.block) : secdiff_host_call64(&p.block);
  p.in_call = 0;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (r) {
    s->rax = p.block.rax_out;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    s->state = kReturned;
  }
  p.cur_slot = nullptr;
}

SECDIFF_CHILD_CODE bool owns(const Plan& p, uint64_t page) {
  for (size_t i = 0; i < p.n_owned; ++i)
    if (p.owned[i] == page) return true;
  return false;
}

// Places the 3-byte stub so that the address after its first 2 bytes (the
// syscall instruction) is `ip`. Returns false when that is impossible.
SECDIFF_CHILD_CODE bool place_stub(Plan& p, uint64_t ip, const uint8_t* bytes) {
  if (ip < p.min_addr + 2 || ip > (uint64_t{1} << 56)) return false;
  const uint64_t start = ip - 2, end = ip + 1;
  for (uint64_t pg = start & ~(kPage - 1); pg < end; pg += kPage) {
    if (owns(p, pg)) continue;
    if (p.n_owned == p.owned_cap) return false;
    const long m = rsys(SYS_mmap, static_cast<long>(pg), kPage, PROT_READ | PROT_WRITE | PROT_EXEC,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (m < 0 && m >= -4095) return false;
    if (static_cast<uint64_t>(m) != pg) {  // kernel without MAP_FIXED_NOREPLACE
      rsys(SYS_munmap, m, kPage);
      return false;
    }
    volatile uint8_t* b = reinterpret_cast<volatile uint8_t*>(pg);
    for (uint64_t i = 0; i < kPage; ++i) b[i] = 0xcc;
    p.owned[p.n_owned] = pg;
    p.n_owned = p.n_owned + 1;
  }
  volatile uint8_t* b = reinterpret_cast<volatile uint8_t*>(start);
  for (int i = 0; i < 3; ++i)
    if (b[i] != 0xcc && b[i] != bytes[i]) return false;  // another input's stub is there
  for (int i = 0; i < 3; ++i) b[i] = bytes[i];
  return true;
}

[[noreturn]] SECDIFF_CHILD_CODE void child_fail(Plan& p, uint32_t step, long r) {
  p.header->setup_errno = static_cast<int32_t>(-r);
  p.header->setup_failed_step = step;
  rsys(SYS_exit_group, 120);
  fault_now();
}

SECDIFF_CHILD_CODE int child_main(void* arg) {
  Plan& p = *static_cast<Plan*>(arg);
  {
    // Publish the Plan at the base of this stack for the SIGSYS handler.
    // The frame address, not a local's: ASan may put locals on its fake stack.
    const uintptr_t base =
        reinterpret_cast<uintptr_t>(__builtin_frame_address(0)) & ~(uintptr_t{kStackSize} - 1);
    *reinterpret_cast<Plan**>(base) = &p;
  }
  long r;
  // Signals: nothing blocked, faults at their default action (no inherited
  // handler may run under the filters), SIGSYS caught below.
  const uint64_t none = 0;
  if ((r = rsys(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&none), 0, 8)) != 0)
    child_fail(p, 1, r);
  const KernelSigaction dfl{0 /* SIG_DFL */, 0, 0, 0};
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT, SIGALRM, SIGPIPE, SIGXCPU,
                  SIGXFSZ, SIGVTALRM, SIGPROF, SIGUSR1, SIGUSR2, SIGHUP, SIGINT, SIGTERM})
    rsys(SYS_rt_sigaction, sig, reinterpret_cast<long>(&dfl), 0, 8);
  if ((r = rsys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL)) != 0) child_fail(p, 2, r);
  if (rsys(SYS_getppid) != p.parent) rsys(SYS_exit_group, 121);
  // No core dumps of SIGSYS kills: RLIMIT_CORE 1 stops both file and pipe dumps
  // (rlimits are per process, not shared through CLONE_VM).
  struct {
    uint64_t cur, max;
  } core{1, 1};
  if ((r = rsys(SYS_prlimit64, 0, RLIMIT_CORE, reinterpret_cast<long>(&core), 0)) != 0)
    child_fail(p, 3, r);

  if (p.drop) {  // only without CLONE_VM: a uid change resets the mm's dumpable flag
    if ((r = rsys(SYS_setgroups, 0, 0)) != 0) child_fail(p, 4, r);
    if ((r = rsys(SYS_setresgid, kNobody, kNobody, kNobody)) != 0) child_fail(p, 5, r);
    if ((r = rsys(SYS_setresuid, kNobody, kNobody, kNobody)) != 0) child_fail(p, 6, r);
    if ((r = rsys(SYS_prctl, PR_SET_DUMPABLE, 0)) != 0) child_fail(p, 7, r);
  }
  if (p.no_new_privs && (r = rsys(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) != 0)
    child_fail(p, 8, r);

  // Stubs for the inputs.
  for (size_t i = p.first_input; i < p.n_inputs; ++i) {
    const HostInput& in = p.in[i];
    const bool i386 = in.arch == Arch::I386;
    Slot* s = &p.inputs[i];
    uint64_t stub = i386 ? p.stub32 : p.stub64;
    s->ip_as_requested = 0;
    if (in.ip && place_stub(p, *in.ip, i386 ? kStub32 : kStub64)) {
      stub = *in.ip - 2;
      s->ip_as_requested = 1;
    }
    s->ip_used = stub + 2;
    p.stub_addr[i] = stub;
  }

  const KernelSigaction sa{reinterpret_cast<uintptr_t>(&sigsys_handler),
                           SA_SIGINFO | SA_NODEFER | kSaRestorer,
                           reinterpret_cast<uintptr_t>(&dummy_restorer), 0};
  if ((r = rsys(SYS_rt_sigaction, SIGSYS, reinterpret_cast<long>(&sa), 0, 8)) != 0)
    child_fail(p, 9, r);

  // From here on: only the stub's syscalls, exit_group, and memory writes.
  bool listener = false;
  for (size_t f = 0; f < p.n_chain; ++f) {
    Slot* s = p.record_installs ? &p.installs[f] : p.scratch;
    s->ip_used = p.stub64 + 2;
    s->ip_as_requested = 0;
    const uint64_t args[6] = {1 /* SECCOMP_SET_MODE_FILTER */, p.chain[f].flags,
                              reinterpret_cast<uint64_t>(&p.fprogs[f]), 0, 0, 0};
    issue(p, s, false, p.stub64, kNrSeccomp, args);
    if ((p.chain[f].flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) && s->state == kReturned &&
        static_cast<int64_t>(s->rax) >= 0)
      listener = true;
  }
  for (size_t i = p.first_input; i < p.n_inputs; ++i) {
    const HostInput& in = p.in[i];
    issue(p, &p.inputs[i], in.arch == Arch::I386, p.stub_addr[i], host_rax(in), in.args);
  }
  p.header->finished = 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  // exit_group may be denied by the filters; with a listener of our own it could
  // block forever on USER_NOTIF, so then fault at once.
  if (!listener) rsys(SYS_exit_group, 0);
  fault_now();
}

// ---------------------------------------------------------------------------
// Parent side.
// ---------------------------------------------------------------------------

void fill_outcome(HostOutcome& o, const Slot& s) {
  o.ip_used = s.ip_used;
  o.ip_as_requested = s.ip_as_requested != 0;
  if (s.state == kReturned) {
    o.returned = true;
    o.rax = s.rax;
    const int64_t v = static_cast<int64_t>(s.rax);
    o.err = (v < 0 && v >= -4095) ? static_cast<int>(-v) : 0;
  } else if (s.state == kSigsysState) {
    o.sigsys = true;
    o.sig_signo = s.sig_signo;
    o.sig_code = s.sig_code;
    o.sig_errno = s.sig_errno;
    o.sig_syscall = s.sig_syscall;
    o.sig_arch = s.sig_arch;
    o.sig_call_addr = s.sig_call_addr;
    o.uc_rax = s.uc_rax;
  }
}

bool slot_done(const Slot& s) { return s.state == kReturned || s.state == kSigsysState; }

struct ChildEnd {
  int status = 0;
  bool timed_out = false;
};

ChildEnd wait_child(pid_t pid, int pidfd, int timeout_ms) {
  ChildEnd e;
  if (timeout_ms > 0) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    if (pidfd >= 0) {
      for (;;) {
        pollfd pf{pidfd, POLLIN, 0};
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                              deadline - std::chrono::steady_clock::now())
                              .count();
        const int r = poll(&pf, 1, static_cast<int>(std::max<long long>(left, 0)));
        if (r > 0) break;
        if (r < 0 && errno == EINTR) continue;
        if (r == 0 && left > 0) continue;
        if (r == 0) {
          kill(pid, SIGKILL);
          e.timed_out = true;
        }
        break;
      }
    } else {
      long sleep_ns = 2000;
      for (;;) {
        const pid_t r = waitpid(pid, &e.status, WNOHANG | __WALL);
        if (r == pid) return e;
        if (r < 0 && errno != EINTR) return e;
        if (std::chrono::steady_clock::now() >= deadline) {
          kill(pid, SIGKILL);
          e.timed_out = true;
          break;
        }
        timespec ts{0, sleep_ns};
        nanosleep(&ts, nullptr);
        sleep_ns = std::min(sleep_ns * 2, 5'000'000L);
      }
    }
  }
  while (waitpid(pid, &e.status, __WALL) < 0 && errno == EINTR) {
  }
  return e;
}

int read_int_file(const char* path) {
  std::ifstream f(path);
  int v = -1;
  if (f && (f >> v)) return v;
  return -1;
}

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

// Per-thread child stack (aligned to its size) and results page.
struct ThreadBuffers {
  void* stack_region = nullptr;
  uint8_t* stack = nullptr;  // aligned base
  void* shared = nullptr;
  size_t shared_size = 0;
  ~ThreadBuffers() {
    if (stack_region) munmap(stack_region, 2 * kStackSize);
    if (shared) munmap(shared, shared_size);
  }
  bool ensure(size_t shared_bytes) {
    if (!stack_region) {
      void* r = mmap(nullptr, 2 * kStackSize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (r == MAP_FAILED) return false;
      stack_region = r;
      stack = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(r) + kStackSize - 1) &
                                         ~(uintptr_t{kStackSize} - 1));
    }
    if (shared_size < shared_bytes) {
      if (shared) munmap(shared, shared_size);
      shared = nullptr;
      shared_size = 0;
      void* m = mmap(nullptr, shared_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED) return false;
      shared = m;
      shared_size = shared_bytes;
    }
    return true;
  }
};

ThreadBuffers& thread_buffers() {
  thread_local ThreadBuffers b;
  return b;
}

}  // namespace

// ---------------------------------------------------------------------------

bool is_harmless_syscall(Arch arch, int64_t nr) {
  HostInput in;
  in.arch = arch;
  in.nr = nr;
  const uint32_t u = static_cast<uint32_t>(host_rax(in));
  if (arch == Arch::I386) return in_list(u, kHarmless32) || u >= kFirstUnimplemented;
  // syscall instruction (X86_64 and X32): do_syscall_x64 on (unsigned)nr, then
  // do_syscall_x32 on nr - __X32_SYSCALL_BIT.
  if (u & 0x80000000u) return true;  // neither table (x32: nr - bit >= 0x40000000)
  const uint32_t base = u & ~X32_SYSCALL_BIT;
  return in_list(base, kHarmless64) || base >= kFirstUnimplemented;
}

uint64_t host_rax(const HostInput& in) {
  uint64_t rax = static_cast<uint64_t>(in.nr);
  if (in.arch == Arch::X32) rax |= X32_SYSCALL_BIT;
  return rax;
}

SeccompData host_seccomp_data(const HostInput& in, uint64_t ip_used) {
  SeccompData sd;
  sd.nr = static_cast<int32_t>(static_cast<uint32_t>(host_rax(in)));
  sd.arch = in.arch == Arch::I386 ? AUDIT_ARCH_I386 : AUDIT_ARCH_X86_64;
  sd.instruction_pointer = ip_used;
  for (int i = 0; i < 6; ++i) sd.args[i] = in.args[i];
  return sd;
}

SeccompData host_install_seccomp_data(const HostRun& run, const std::vector<HostFilter>& chain,
                                      size_t i) {
  SeccompData sd;
  sd.nr = static_cast<int32_t>(kNrSeccomp);
  sd.arch = AUDIT_ARCH_X86_64;
  sd.instruction_pointer = i < run.installs.size() ? run.installs[i].call.ip_used : 0;
  sd.args[0] = 1;
  sd.args[1] = i < chain.size() ? chain[i].flags : 0;
  sd.args[2] = i < run.fprog_addr.size() ? run.fprog_addr[i] : 0;
  return sd;
}

std::string host_seccomp_unavailable_reason() {
  // SECCOMP_GET_ACTION_AVAIL changes nothing.
  uint32_t action = SECCOMP_RET_ALLOW;
  const long r = syscall(SYS_seccomp, 2 /* SECCOMP_GET_ACTION_AVAIL */, 0, &action);
  if (r != 0) return std::string("seccomp(SECCOMP_GET_ACTION_AVAIL) failed: ") + std::strerror(errno);
  if (default_stubs().page == 0) return "cannot map an executable stub page";
  // A real install in a child.
  HostRun run = host_run({HostFilter{{Insn{0x06, 0, 0, SECCOMP_RET_ALLOW}}, 0}}, {}, {});
  if (!run.ok()) return run.error;
  if (run.installs.empty() || !run.installs[0].ok())
    return "installing a RET ALLOW filter failed: errno " +
           std::to_string(run.installs.empty() ? 0 : run.installs[0].err);
  return "";
}

bool host_ia32_available() {
  static const bool ok = [] {
    HostInput in;
    in.arch = Arch::I386;
    in.nr = 20;  // getpid
    HostRun run = host_run({}, {in}, {});
    return run.ok() && run.outcomes.size() == 1 && run.outcomes[0].returned &&
           run.outcomes[0].err == 0;
  }();
  return ok;
}

int host_bpf_jit_harden() { return read_int_file("/proc/sys/net/core/bpf_jit_harden"); }
int host_bpf_jit_enable() { return read_int_file("/proc/sys/net/core/bpf_jit_enable"); }

HostRun host_run(const std::vector<HostFilter>& chain, const std::vector<HostInput>& inputs,
                 const HostOptions& opts) {
  HostRun run;
  // Safety first: refuse anything that is not harmless.
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!is_harmless_syscall(inputs[i].arch, inputs[i].nr)) {
      run.error = "refused: input " + std::to_string(i) + " (" + describe(inputs[i]) +
                  ") is not a harmless syscall";
      return run;
    }
  }
  for (size_t f = 0; f < chain.size(); ++f) {
    if (chain[f].prog.size() > 0xffff) {
      run.error = "filter " + std::to_string(f) + " has more than 65535 instructions";
      return run;
    }
  }
  const DefaultStubs& ds = default_stubs();
  if (ds.page == 0) {
    run.error = "cannot map the stub page";
    return run;
  }
  const size_t slots = 2 + chain.size() + inputs.size();
  const size_t bytes = (slots * sizeof(Slot) + kPage - 1) & ~(kPage - 1);
  ThreadBuffers& tb = thread_buffers();
  if (!tb.ensure(bytes)) {
    run.error = std::string("mmap of the child stack or results page failed: ") + std::strerror(errno);
    return run;
  }
  // CLONE_VM unless the uid changes (commit_creds would reset the shared mm's
  // dumpable flag).
  const bool share_vm = opts.share_vm && !opts.drop_to_nobody;

  std::vector<sock_fprog> fprogs(chain.size());
  for (size_t f = 0; f < chain.size(); ++f) {
    fprogs[f].len = static_cast<unsigned short>(chain[f].prog.size());
    // Insn has the layout of struct sock_filter.
    fprogs[f].filter = reinterpret_cast<sock_filter*>(const_cast<Insn*>(chain[f].prog.data()));
    run.fprog_addr.push_back(reinterpret_cast<uint64_t>(&fprogs[f]));
  }
  static_assert(sizeof(Insn) == sizeof(sock_filter));
  std::vector<uint64_t> owned(2 * inputs.size() + 2, 0);
  std::vector<uint64_t> stub_addr(inputs.size(), 0);

  std::memset(tb.shared, 0, bytes);
  Plan plan;
  plan.header = static_cast<Header*>(tb.shared);
  plan.scratch = reinterpret_cast<Slot*>(static_cast<char*>(tb.shared) + sizeof(Header));
  plan.installs = plan.scratch + 1;
  plan.inputs = plan.installs + chain.size();
  plan.chain = chain.data();
  plan.n_chain = chain.size();
  plan.in = inputs.data();
  plan.n_inputs = inputs.size();
  plan.fprogs = fprogs.data();
  plan.owned = owned.data();
  plan.owned_cap = owned.size();
  plan.stub_addr = stub_addr.data();
  plan.stub64 = ds.stub64;
  plan.stub32 = ds.stub32;
  plan.min_addr = mmap_min_addr();
  plan.no_new_privs = opts.no_new_privs;
  plan.drop = opts.drop_to_nobody;
  plan.parent = getpid();

  run.installs.resize(chain.size());
  run.outcomes.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    run.outcomes[i].arch = inputs[i].arch;
    run.outcomes[i].rax_issued = host_rax(inputs[i]);
  }
  for (size_t f = 0; f < chain.size(); ++f) {
    run.installs[f].call.arch = Arch::X86_64;
    run.installs[f].call.rax_issued = kNrSeccomp;
    run.installs[f].call.ip_used = ds.stub64 + 2;
  }

  bool first = true;
  for (;;) {
    plan.record_installs = first;
    plan.n_owned = 0;
    int pidfd = -1;
    const int base_flags = SIGCHLD | (share_vm ? CLONE_VM : 0);
    void* stack_top = tb.stack + kStackSize - 64;
    pid_t pid = clone(child_main, stack_top, base_flags | CLONE_PIDFD, &plan, &pidfd);
    if (pid < 0 && errno == EINVAL) {  // kernel without CLONE_PIDFD
      pidfd = -1;
      pid = clone(child_main, stack_top, base_flags, &plan);
      if (pid > 0) pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    }
    if (pid < 0) {
      run.error = std::string("clone failed: ") + std::strerror(errno);
      break;
    }
    ++run.children;
    const ChildEnd end = wait_child(pid, pidfd, opts.timeout_ms);
    if (pidfd >= 0) close(pidfd);
    // With CLONE_VM the child's stub pages are in our address space.
    if (share_vm)
      for (size_t i = 0; i < plan.n_owned; ++i) munmap(reinterpret_cast<void*>(owned[i]), kPage);
    const Header& h = *plan.header;
    if (h.setup_failed_step != 0) {
      run.error = "child setup failed at step " + std::to_string(h.setup_failed_step) + ": " +
                  std::strerror(h.setup_errno);
      break;
    }
    const int sig = WIFSIGNALED(end.status) ? WTERMSIG(end.status) : 0;
    if (first) {
      first = false;
      bool stopped = false;
      for (size_t f = 0; f < chain.size(); ++f) {
        HostInstall& in = run.installs[f];
        const Slot& s = plan.installs[f];
        in.ret = -1;
        if (stopped || s.state == kNone) {
          in.call.not_run = true;
          stopped = true;
          continue;
        }
        fill_outcome(in.call, s);
        if (s.state == kStarted) {  // died in this install
          in.call.timed_out = end.timed_out;
          in.call.killed_by = end.timed_out ? 0 : sig;
          stopped = true;
          continue;
        }
        if (in.call.returned) {
          in.ret = in.call.err ? -1 : static_cast<int64_t>(in.call.rax);
          in.err = in.call.err;
        }
      }
      if (stopped) {
        for (auto& o : run.outcomes) o.not_run = true;
        break;
      }
    }
    bool again = false;
    for (size_t i = plan.first_input; i < inputs.size(); ++i) {
      const Slot& s = plan.inputs[i];
      HostOutcome& o = run.outcomes[i];
      if (slot_done(s)) {
        fill_outcome(o, s);
        continue;
      }
      if (s.state == kStarted) {
        fill_outcome(o, s);
        o.timed_out = end.timed_out;
        o.killed_by = end.timed_out ? 0 : sig;
        plan.first_input = i + 1;
        again = plan.first_input < inputs.size();
        break;
      }
      // Never reached: the child died before this input.
      for (size_t j = i; j < inputs.size(); ++j) {
        run.outcomes[j].not_run = true;
        run.outcomes[j].ip_used = plan.inputs[j].ip_used;
      }
      run.error = "child ended (status " + hex(static_cast<uint64_t>(end.status)) +
                  (end.timed_out ? ", timed out" : "") + ") before input " + std::to_string(i);
      break;
    }
    if (!again) break;
    // Go again with the next input.
    for (size_t i = plan.first_input; i < inputs.size(); ++i)
      std::memset(&plan.inputs[i], 0, sizeof(Slot));
    std::memset(plan.header, 0, sizeof(Header));
  }
  return run;
}

// ---------------------------------------------------------------------------
// Comparison with the oracle.
// ---------------------------------------------------------------------------

std::string describe(const HostOutcome& o) {
  std::string s;
  if (o.not_run) return "not run";
  if (o.timed_out) s = "timed out (blocked)";
  else if (o.killed_by) s = "killed by signal " + std::to_string(o.killed_by);
  else if (o.sigsys)
    s = "SIGSYS si_signo=" + std::to_string(o.sig_signo) + " si_code=" + std::to_string(o.sig_code) +
        " si_errno=" + hex(static_cast<uint32_t>(o.sig_errno)) +
        " si_syscall=" + hex(static_cast<uint32_t>(o.sig_syscall)) + " si_arch=" + hex(o.sig_arch) +
        " si_call_addr=" + hex(o.sig_call_addr) + " uc_rax=" + hex(o.uc_rax);
  else if (o.returned)
    s = "returned rax=" + hex(o.rax) + (o.err ? " (errno " + std::to_string(o.err) + ")" : "");
  else
    s = "no result";
  s += " [ip " + hex(o.ip_used) + (o.ip_as_requested ? "" : " default") + "]";
  return s;
}

std::string describe(const HostInput& in) {
  std::string s = std::string(in.arch == Arch::I386 ? "i386" : in.arch == Arch::X32 ? "x32" : "x86_64") +
                  " nr=" + hex(static_cast<uint64_t>(in.nr)) + " args=";
  for (int i = 0; i < 6; ++i) s += (i ? "," : "") + hex(in.args[i]);
  s += in.ip ? " ip=" + hex(*in.ip) : " ip=default";
  return s;
}

std::string describe(const Observation& o) {
  std::string s = format_ret(o.ret) + ":";
  if (o.notify) s += " notify listener (task waits)";
  if (o.killed) s += std::string(" killed by SIGSYS") + (o.whole_process ? " (process)" : " (thread)");
  if (o.signal && !o.killed)
    s += " SIGSYS si_errno=" + hex(static_cast<uint32_t>(o.sig_errno)) +
         " si_syscall=" + hex(static_cast<uint32_t>(o.sig_syscall)) + " si_arch=" + hex(o.sig_arch) +
         " si_call_addr=" + hex(o.sig_call_addr);
  if (o.dispatched) s += " dispatched";
  if (o.returns && !o.dispatched) s += " returns " + hex(static_cast<uint64_t>(o.retval));
  return s;
}

std::string compare_with_oracle(const HostOutcome& h, const Observation& o) {
  auto diff = [&](const std::string& what) {
    return what + " (host: " + describe(h) + "; oracle: " + describe(o) + ")";
  };
  if (h.not_run) return diff("host did not run the syscall");
  if (o.notify) {
    // The only listener is in the child itself: it never answers.
    return h.timed_out ? "" : diff("oracle notifies a listener, host did not block");
  }
  if (h.timed_out) return diff("host blocked");
  if (o.killed) {
    if (h.killed_by == SIGSYS) return "";
    return diff("oracle kills with SIGSYS");
  }
  if (h.killed_by) return diff("host killed");
  if (o.dispatched) {
    if (h.sigsys) return diff("host got SIGSYS");
    if (!h.returned) return diff("host did not return");
    // The real result of a harmless syscall: -ENOSYS for a number no table has
    // (and for x32 numbers on kernels without CONFIG_X86_X32_ABI), else a
    // non-error value.
    const bool unimpl = is_unimplemented(h.arch, h.rax_issued);
    const bool x32 = h.arch != Arch::I386 && (h.rax_issued & X32_SYSCALL_BIT) &&
                     !(h.rax_issued & 0x80000000u);
    if (unimpl && h.err != ENOSYS) return diff("dispatched unimplemented syscall did not give ENOSYS");
    if (!unimpl && h.err != 0 && !(x32 && h.err == ENOSYS))
      return diff("dispatched harmless syscall returned an error");
    return "";
  }
  if (o.signal) {  // TRAP with a handler
    if (!h.sigsys) return diff("oracle delivers SIGSYS");
    if (h.sig_signo != o.signo) return diff("si_signo");
    if (h.sig_code != o.sig_code) return diff("si_code");
    if (h.sig_errno != o.sig_errno) return diff("si_errno");
    if (h.sig_syscall != o.sig_syscall) return diff("si_syscall");
    if (h.sig_arch != o.sig_arch) return diff("si_arch");
    if (h.sig_call_addr != o.sig_call_addr) return diff("si_call_addr");
    // syscall_rollback(): rax = orig_ax. x86_64 keeps all 64 bits of rax;
    // int $0x80 keeps the low 32 bits zero-extended. The oracle only knows the
    // 32-bit nr, so compare its value in the low 32 bits.
    const uint64_t want = h.arch == Arch::I386 ? (h.rax_issued & 0xffffffffu) : h.rax_issued;
    if (h.uc_rax != want) return diff("handler rax is not the rolled-back syscall number");
    if (o.returns && static_cast<uint32_t>(h.uc_rax) != static_cast<uint32_t>(o.retval))
      return diff("rax after the handler");
    return "";
  }
  if (h.sigsys) return diff("host got SIGSYS");
  if (!h.returned) return diff("host did not return");
  if (!o.returns) return diff("oracle: syscall does not return");
  if (h.rax != static_cast<uint64_t>(o.retval)) return diff("return value");
  return "";
}

}  // namespace secdiff
