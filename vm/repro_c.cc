#include "vm/repro_c.h"

#include <cstdio>
#include <sstream>

#include "oracle/formats/formats.h"
#include "oracle/kernel_profile.h"

namespace secdiff::vm {

namespace {

std::string hex(uint64_t v) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

// Every line of `text` as a // comment (bpf_asm text has /* */ in it).
std::string line_comments(const std::string& text, const std::string& indent = "") {
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) out += indent + "// " + line + "\n";
  return out;
}

const char* kPrelude = R"C(#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_seccomp
#define SYS_seccomp 317
#endif
#ifndef SECCOMP_SET_MODE_FILTER
#define SECCOMP_SET_MODE_FILTER 1
#endif

#define MAX_FILTERS 64

struct shared {
  long nnp_ret;
  int nnp_errno;
  long install_ret[MAX_FILTERS];
  int install_errno[MAX_FILTERS];
  int installs_done;
  int reached;   /* the syscall was issued */
  int returned;  /* and returned */
  long ret;
  int err;
  int sigsys;
  int s_signo, s_code, s_errno, s_syscall;
  unsigned s_arch;
  unsigned long s_call_addr;
};
static struct shared *sh;

static void on_sigsys(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  (void)uc;
  sh->sigsys++;
  sh->s_signo = si->si_signo;
  sh->s_code = si->si_code;
  sh->s_errno = si->si_errno;
  sh->s_syscall = si->si_syscall;
  sh->s_arch = si->si_arch;
  sh->s_call_addr = (unsigned long)si->si_call_addr;
}

/* i386 entry from a 64-bit task: int $0x80 with eax, ebx, ecx, edx, esi, edi, ebp. */
static long int80(long nr, long a0, long a1, long a2, long a3, long a4, long a5) {
  long ret;
  register long r8v __asm__("r8") = a5;
  __asm__ volatile(
      "sub $128, %%rsp\n\t"
      "push %%rbp\n\t"
      "mov %%r8, %%rbp\n\t"
      "int $0x80\n\t"
      "pop %%rbp\n\t"
      "add $128, %%rsp"
      : "=a"(ret), "+r"(r8v)
      : "a"(nr), "b"(a0), "c"(a1), "d"(a2), "S"(a3), "D"(a4)
      : "r9", "r10", "r11", "memory", "cc");
  return ret;
}

struct input {
  const char *desc;
  int arch; /* 0 x86_64, 1 i386, 2 x32 */
  long nr;
  unsigned long args[6];
};
struct filt {
  const char *name;
  struct sock_filter *insns;
  unsigned short len;
  unsigned flags;
};

static void child(const struct filt *fs, int nf, const struct input *in, int nnp, int handler) {
  if (handler) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSYS, &sa, NULL);
  }
  if (nnp) {
    sh->nnp_ret = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    sh->nnp_errno = sh->nnp_ret < 0 ? errno : 0;
  }
  for (int f = 0; f < nf && f < MAX_FILTERS; f++) {
    struct sock_fprog prog = {fs[f].len, fs[f].insns};
    long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, fs[f].flags, &prog);
    sh->install_ret[f] = r;
    sh->install_errno[f] = r < 0 ? errno : 0;
    sh->installs_done = f + 1;
  }
  sh->reached = 1;
  long r;
  errno = 0;
  if (in->arch == 1) {
    r = int80(in->nr, in->args[0], in->args[1], in->args[2], in->args[3], in->args[4], in->args[5]);
    sh->err = 0;
  } else {
    long nr = in->arch == 2 ? (in->nr | 0x40000000L) : in->nr;
    r = syscall(nr, in->args[0], in->args[1], in->args[2], in->args[3], in->args[4], in->args[5]);
    sh->err = r == -1 ? errno : 0;
  }
  sh->ret = r;
  sh->returned = 1;
  for (;;) syscall(SYS_exit_group, 0); /* the parent kills us if exit is filtered */
}

static void run(const struct filt *fs, int nf, const struct input *ins, int ni, int nnp, int handler,
                int timeout_ms) {
  sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) {
    perror("mmap");
    exit(2);
  }
  for (int i = 0; i < ni; i++) {
    memset(sh, 0, sizeof *sh);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      exit(2);
    }
    if (pid == 0) child(fs, nf, &ins[i], nnp, handler);
    int st = 0, done = 0, killed_by_us = 0;
    for (int t = 0; t < timeout_ms && !done; t += 5) {
      if (waitpid(pid, &st, WNOHANG) == pid) done = 1;
      else {
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
      }
    }
    if (!done) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      killed_by_us = 1;
    }
    if (i == 0) {
      if (nnp) printf("prctl(PR_SET_NO_NEW_PRIVS) = %ld%s%s\n", sh->nnp_ret, sh->nnp_errno ? " " : "",
                      sh->nnp_errno ? strerror(sh->nnp_errno) : "");
      for (int f = 0; f < nf; f++) {
        if (f >= sh->installs_done) {
          printf("install %d (%s): not reached\n", f, fs[f].name);
          continue;
        }
        printf("install %d (%s, flags 0x%x): seccomp() = %ld", f, fs[f].name, fs[f].flags, sh->install_ret[f]);
        if (sh->install_ret[f] < 0) printf(" errno %d (%s)", sh->install_errno[f], strerror(sh->install_errno[f]));
        printf("\n");
      }
    }
    printf("input %d: %s:", i, ins[i].desc);
    if (!sh->reached) printf(" not reached (the installs did not finish)");
    else if (sh->returned) {
      printf(" returned %ld", sh->ret);
      if (ins[i].arch == 1) {
        int r32 = (int)sh->ret;
        if (r32 < 0 && r32 > -4096) printf(" (-%d %s)", -r32, strerror(-r32));
      } else if (sh->ret == -1) {
        printf(" errno %d (%s)", sh->err, strerror(sh->err));
      }
    } else {
      printf(" did not return");
    }
    if (sh->sigsys)
      printf("; SIGSYS x%d: si_signo %d si_code %d si_errno %d si_syscall %d si_arch 0x%x si_call_addr 0x%lx",
             sh->sigsys, sh->s_signo, sh->s_code, sh->s_errno, sh->s_syscall, sh->s_arch, sh->s_call_addr);
    if (killed_by_us)
      printf("; %s, killed after %d ms", sh->returned ? "exit was blocked" : "blocked", timeout_ms);
    else if (WIFSIGNALED(st))
      printf("; child died of signal %d (%s)%s", WTERMSIG(st), strsignal(WTERMSIG(st)),
             WCOREDUMP(st) ? " (core dumped)" : "");
    else if (WIFEXITED(st))
      printf("; child exited %d", WEXITSTATUS(st));
    printf("\n");
  }
}
)C";

}  // namespace

std::string repro_c_source(const Case& c, const ReproOptions& opt) {
  std::string s;
  s += "// secdiff reproducer for case '" + c.name + "'\n";
  if (!opt.title.empty()) s += line_comments(opt.title);
  if (!opt.notes.empty()) s += line_comments(opt.notes);
  s += "// Build: cc -static -O1 -o repro repro.c && ./repro\n";
  s += "// Each input runs in a fork of its own that installs the whole chain, then makes the syscall.\n";
  s += "// Task: no_new_privs " + std::string(c.task.no_new_privs ? "yes" : "no (needs CAP_SYS_ADMIN)") +
       ", SIGSYS handler " + (c.task.sigsys_handler ? "yes" : "no") + "\n";
  if (c.task.tracer) s += "// NOTE: the case runs under a ptrace tracer; this reproducer has none.\n";
  if (c.task.other_threads) s += "// NOTE: the case runs in a second thread; this reproducer does not.\n";
  bool has_ip = false;
  for (const auto& in : c.inputs) has_ip = has_ip || in.ip.has_value();
  if (has_ip) s += "// NOTE: requested instruction pointers are not reproduced (the ip is where the call is).\n";
  s += kPrelude;
  s += "\n";
  for (size_t f = 0; f < c.filters.size(); f++) {
    const Program& p = c.filters[f].prog;
    s += "// filter " + std::to_string(f) + " (" + std::to_string(p.size()) + " insns), bpf_asm:\n";
    DisasmOptions dopt;
    if (!c.inputs.empty()) dopt.arch = c.inputs[0].arch;
    s += line_comments(disassemble(p, dopt), "//   ");
    s += "static struct sock_filter filter" + std::to_string(f) + "[] = {\n";
    for (const Insn& in : p) {
      char b[96];
      std::snprintf(b, sizeof b, "    {0x%02x, %u, %u, 0x%08x},\n", in.code, in.jt, in.jf, in.k);
      s += b;
    }
    if (p.empty()) s += "    {0x06, 0, 0, 0}, /* placeholder: the program is empty (len 0) */\n";
    s += "};\n\n";
  }
  s += "int main(void) {\n";
  s += "  static struct filt filters[] = {\n";
  for (size_t f = 0; f < c.filters.size(); f++)
    s += "      {\"filter " + std::to_string(f) + "\", filter" + std::to_string(f) + ", " +
         std::to_string(c.filters[f].prog.size()) + ", " + hex(c.filters[f].flags) + "},\n";
  if (c.filters.empty()) s += "      {\"none\", NULL, 0, 0},\n";
  s += "  };\n  static struct input inputs[] = {\n";
  for (size_t i = 0; i < c.inputs.size(); i++) {
    const CaseInput& in = c.inputs[i];
    std::string desc = std::string(arch_name(in.arch)) + " nr " + std::to_string(in.nr);
    const int64_t bare = in.arch == Arch::X32 ? (in.nr & ~int64_t{0x40000000}) : in.nr;
    auto n = syscall_name(in.arch, in.nr);
    if (!n) n = syscall_name(in.arch, bare);
    if (n) desc += " (" + std::string(*n) + ")";
    desc += " args";
    for (int a = 0; a < 6; a++) desc += " " + hex(in.args[a]);
    const int arch = in.arch == Arch::X86_64 ? 0 : in.arch == Arch::I386 ? 1 : 2;
    s += "      {\"" + desc + "\", " + std::to_string(arch) + ", " + std::to_string(in.nr) + "L, {";
    for (int a = 0; a < 6; a++) s += (a ? ", " : "") + hex(in.args[a]) + "UL";
    s += "}},\n";
  }
  if (c.inputs.empty()) s += "      {\"getpid\", 0, 39L, {0, 0, 0, 0, 0, 0}},\n";
  s += "  };\n";
  s += "  run(filters, " + std::to_string(c.filters.size()) + ", inputs, " +
       std::to_string(c.inputs.empty() ? 1 : c.inputs.size()) + ", " + (c.task.no_new_privs ? "1" : "0") + ", " +
       (c.task.sigsys_handler ? "1" : "0") + ", " + std::to_string(opt.timeout_ms) + ");\n";
  s += "  return 0;\n}\n";
  return s;
}

}  // namespace secdiff::vm
