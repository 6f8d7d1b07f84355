// secdiff-agent --anchor=N / --micro=N: timing loops for bench/bench_vm.sh.
//
// The anchor is the bare loop of docs/vm-facts.md: a new pthread sets
// no_new_privs, installs the benchmark's 20-instruction filter (arch check, 12
// compares, getppid -> ERRNO(42)) on itself and calls getppid; the main thread
// joins it. It is what one case costs with no harness at all, measured in the
// same VM (and at the same time as another VM) as the agent's figures.
// --micro adds the primitives the agent's per-case work is made of, to see
// where the harness time goes.
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "oracle/bpf.h"
#include "oracle/seccomp_abi.h"
#include "vm/guest/agent.h"
#include "vm/guest/shm.h"

namespace secdiff::agent {
namespace {

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// The 20-instruction benchmark filter.
std::vector<Insn> bench_filter() {
  std::vector<Insn> p;
  p.push_back({0x20, 0, 0, 4});                                  // ld [4]
  p.push_back({0x15, 1, 0, AUDIT_ARCH_X86_64});                  // jeq arch, skip the kill
  p.push_back({0x06, 0, 0, SECCOMP_RET_KILL_PROCESS});
  p.push_back({0x20, 0, 0, 0});                                  // ld [0]
  // 12 compares to "allow", then getppid -> deny.
  for (uint32_t k = 0; k < 12; ++k) p.push_back({0x15, 0, 0, 200 + k});
  p.push_back({0x15, 0, 0, 110});                                // jeq getppid
  p.push_back({0x06, 0, 0, SECCOMP_RET_ALLOW});
  p.push_back({0x06, 0, 0, SECCOMP_RET_ALLOW});                  // allow:
  p.push_back({0x06, 0, 0, SECCOMP_RET_ERRNO | 42});             // deny:
  // Fix up the jumps: compares k (index 4..15) jump to allow (18); getppid (16) to deny (19).
  for (size_t i = 4; i < 16; ++i) p[i].jt = static_cast<uint8_t>(18 - (i + 1));
  p[16].jt = static_cast<uint8_t>(19 - 17);
  return p;
}

struct Prog {
  unsigned short len;
  const Insn* filter;
};

std::vector<Insn> g_filter;
Prog g_prog;
volatile long g_sink;

void install_and_call() {
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  if (syscall(SYS_seccomp, 1, 0, &g_prog) != 0) g_sink = -1000;
  g_sink = syscall(SYS_getppid);
}

void* thread_filter(void*) {
  install_and_call();
  return nullptr;
}
void* thread_empty(void*) {
  g_sink = syscall(SYS_getppid);
  return nullptr;
}

alignas(64) uint8_t g_stack[2][64 * 1024];

int child_filter(void*) {
  install_and_call();
  syscall(SYS_exit_group, 0);
  return 0;
}
int child_empty(void*) {
  syscall(SYS_exit_group, 0);
  return 0;
}

using Fn = void (*)(int n);

void loop_thread(int n, bool filter) {
  for (int i = 0; i < n; ++i) {
    pthread_t t;
    if (pthread_create(&t, nullptr, filter ? thread_filter : thread_empty, nullptr) != 0) return;
    pthread_join(t, nullptr);
  }
}

void loop_clone(int n, unsigned long flags, bool filter) {
  for (int i = 0; i < n; ++i) {
    const pid_t p = clone(filter ? child_filter : child_empty, g_stack[0] + sizeof g_stack[0] - 64,
                          static_cast<int>(flags | SIGCHLD), nullptr);
    if (p < 0) return;
    int st;
    waitpid(p, &st, __WALL);
  }
}

// As the zygote's chunk waits: a pidfd per task, ppoll until it exits.
void loop_clone_pidfd(int n) {
  for (int i = 0; i < n; ++i) {
    int pidfd = -1;
    const pid_t p = clone(child_empty, g_stack[0] + sizeof g_stack[0] - 64, CLONE_VM | CLONE_PIDFD | SIGCHLD,
                          nullptr, &pidfd);
    if (p < 0) return;
    pollfd pf{pidfd, POLLIN, 0};
    ppoll(&pf, 1, nullptr, nullptr);
    close(pidfd);
    int st;
    waitpid(p, &st, __WALL);
  }
}

// The same, waiting on CLONE_CHILD_CLEARTID's futex instead.
volatile uint32_t g_ctid;
void loop_clone_ctid(int n) {
  for (int i = 0; i < n; ++i) {
    g_ctid = 1;
    const pid_t p = clone(child_empty, g_stack[0] + sizeof g_stack[0] - 64,
                          CLONE_VM | CLONE_CHILD_CLEARTID | SIGCHLD, nullptr, nullptr, nullptr,
                          const_cast<uint32_t*>(&g_ctid));
    if (p < 0) return;
    while (g_ctid != 0) syscall(SYS_futex, &g_ctid, FUTEX_WAIT, g_ctid, nullptr, nullptr, 0);
    int st;
    waitpid(p, &st, __WALL);
  }
}

void loop_fork(int n, bool filter) {
  for (int i = 0; i < n; ++i) {
    const pid_t p = fork();
    if (p == 0) {
      if (filter) install_and_call();
      _exit(0);
    }
    int st;
    waitpid(p, &st, 0);
  }
}

// Futex round trips with a forked process (another mm): two switches each.
void loop_pingpong(int n, bool same_mm) {
  auto* w = static_cast<volatile uint32_t*>(
      mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  if (w == MAP_FAILED) return;
  w[0] = 0;
  auto body = [](void* arg) -> int {
    auto* v = static_cast<volatile uint32_t*>(arg);
    for (uint32_t k = 1;; k += 2) {
      while (v[0] != k) syscall(SYS_futex, &v[0], FUTEX_WAIT, k - 1, nullptr, nullptr, 0);
      v[0] = k + 1;
      syscall(SYS_futex, &v[0], FUTEX_WAKE, 1, nullptr, nullptr, 0);
      if (v[1]) syscall(SYS_exit_group, 0);
    }
  };
  const pid_t p = clone(body, g_stack[1] + sizeof g_stack[1] - 64,
                        static_cast<int>((same_mm ? CLONE_VM : 0) | SIGCHLD), const_cast<uint32_t*>(w));
  if (p < 0) return;
  for (int i = 0; i < n; ++i) {
    const uint32_t k = 2 * static_cast<uint32_t>(i) + 1;
    if (i == n - 1) w[1] = 1;
    w[0] = k;
    syscall(SYS_futex, &w[0], FUTEX_WAKE, 1, nullptr, nullptr, 0);
    while (w[0] != k + 1) syscall(SYS_futex, &w[0], FUTEX_WAIT, k, nullptr, nullptr, 0);
  }
  int st;
  waitpid(p, &st, __WALL);
  munmap(const_cast<uint32_t*>(w), 4096);
}

void loop_getppid(int n) {
  for (int i = 0; i < n; ++i) g_sink = syscall(SYS_getppid);
}

double timed(const char* name, int n, const std::function<void(int)>& f, bool print) {
  const double t0 = now_s();
  f(n);
  const double dt = now_s() - t0;
  if (print)
    logf("micro %-28s n=%d %8.1f us each %9.0f/s", name, n, dt * 1e6 / n, n / dt);
  return n / dt;
}

}  // namespace

int run_micro(int n, bool micro) {
  g_filter = bench_filter();
  g_prog = {static_cast<unsigned short>(g_filter.size()), g_filter.data()};
  // The filter must do what it says: checked in a forked child.
  {
    const pid_t p = fork();
    if (p == 0) {
      install_and_call();
      _exit(g_sink == -1 && errno == 42 ? 0 : 1);
    }
    int st = 0;
    waitpid(p, &st, 0);
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) logf("anchor: the benchmark filter does not work (status %d)", st);
  }
  FILE* f = std::fopen("/proc/sys/net/core/bpf_jit_enable", "r");
  int jit = -1;
  if (f != nullptr) {
    if (std::fscanf(f, "%d", &jit) != 1) jit = -1;
    std::fclose(f);
  }
  // A keeper holding one filter, as the agent has (a JITed filter keeps the bpf_prog_pack).
  const pid_t keeper = fork();
  if (keeper == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    install_and_call();
    for (;;) pause();
  }
  timed("warm-up", std::max(1, n / 10), [](int k) { loop_thread(k, true); }, false);
  const double rate = timed("anchor thread+filter+getppid", n, [](int k) { loop_thread(k, true); }, micro);
  logf("anchor: %.0f/s (thread + NNP + 20-insn filter + getppid, n=%d, bpf_jit_enable=%d)", rate, n, jit);
  if (micro) {
    timed("thread+getppid (no filter)", n, [](int k) { loop_thread(k, false); }, true);
    timed("fork+filter+getppid", n, [](int k) { loop_fork(k, true); }, true);
    timed("clone(VM)+filter+getppid", n, [](int k) { loop_clone(k, CLONE_VM, true); }, true);
    timed("clone(VM) empty", n, [](int k) { loop_clone(k, CLONE_VM, false); }, true);
    timed("clone(VM|VFORK) empty", n, [](int k) { loop_clone(k, CLONE_VM | CLONE_VFORK, false); }, true);
    timed("clone(VM|PIDFD) empty + ppoll", n, [](int k) { loop_clone_pidfd(k); }, true);
    timed("clone(VM|CHILD_CLEARTID) empty + futex", n, [](int k) { loop_clone_ctid(k); }, true);
    timed("futex ping-pong other mm", n, [](int k) { loop_pingpong(k, false); }, true);
    timed("futex ping-pong same mm", n, [](int k) { loop_pingpong(k, true); }, true);
    timed("getppid", n * 10, [](int k) { loop_getppid(k); }, true);
    if (access("/proc/self/seccomp_cache", F_OK) == 0) {
      // A forked child with the filter, stopped; its bitmaps read n/10 times.
      const pid_t c = fork();
      if (c == 0) {
        install_and_call();
        for (;;) pause();
      }
      usleep(100000);
      static pid_t g_c;
      g_c = c;
      static char path[64];
      std::snprintf(path, sizeof path, "/proc/%d/seccomp_cache", static_cast<int>(c));
      timed("seccomp_cache open+read+close", std::max(1, n / 10), [](int k) {
        static char buf[65536];
        for (int i = 0; i < k; ++i) {
          const int fd = open(path, O_RDONLY | O_CLOEXEC);
          while (read(fd, buf, sizeof buf) > 0) {
          }
          close(fd);
        }
      }, true);
      timed("seccomp_cache re-read same fd", std::max(1, n / 10), [](int k) {
        static char buf[65536];
        const int fd = open(path, O_RDONLY | O_CLOEXEC);
        for (int i = 0; i < k; ++i) {
          lseek(fd, 0, SEEK_SET);
          while (read(fd, buf, sizeof buf) > 0) {
          }
        }
        close(fd);
      }, true);
      timed("seccomp_cache read + parse", std::max(1, n / 10), [](int k) {
        std::vector<bool> a, b;
        for (int i = 0; i < k; ++i) read_seccomp_cache(g_c, &a, &b);
      }, true);
      kill(c, SIGKILL);
      int st;
      waitpid(c, &st, 0);
    }
    if (getpid() == 1) {
      static AuditLog audit;
      std::string why;
      if (audit.open(true, &why)) {
        timed("audit marker round trip", std::max(1, n / 10), [](int k) {
          for (int i = 0; i < k; ++i) audit.sync(2000);
        }, true);
      } else {
        logf("micro: audit: %s", why.c_str());
      }
    }
  }
  kill(keeper, SIGKILL);
  int st;
  waitpid(keeper, &st, 0);
  return 0;
}

}  // namespace secdiff::agent
