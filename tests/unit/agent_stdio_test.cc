// The guest agent without a VM: `secdiff-agent --stdio` as a child process on
// pipes, running batches of cases with harmless syscalls only (getpid & co.,
// int $0x80 getpid/getppid, x32 numbers, unimplemented numbers), checked
// against the oracle (predict_case).
//
//   SECDIFF_AGENT=<path>            the agent binary (default: next to the build's tests)
//   SECDIFF_AGENT_SCALE=<x>         multiplies the random and throughput case counts
//   SECDIFF_AGENT_ARGS="<args>"     extra agent options for the shared agent (e.g. --no-cache-read)
//   SECDIFF_AGENT_JIT=0|1           RunBatch::jit of every batch (default -1: leave it)
//
// With SECDIFF_AGENT_VM_KERNEL=<bzImage or vmlinuz> the same tests talk to the
// agent as PID 1 of a QEMU (TCG) guest instead, over virtio-serial
// (SECDIFF_AGENT_VM_MODULES=<dir of NN_name.ko> for kernels that need them;
// the initramfs is made with scripts/vm/initramfs.sh).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/random_program.h"
#include "oracle/cache/cache_model.h"
#include "oracle/case.h"
#include "oracle/chain.h"
#include "oracle/seccomp_abi.h"
#include "oracle/validator.h"
#include "vm/protocol.h"

namespace secdiff {
namespace {

using vm::CaseResult;
using vm::KernelOutcome;
using vm::OutcomeKind;

constexpr uint64_t kDefaultIp = 0x5ec000202ull;  // vm/guest/shm.h
constexpr uint32_t kNotifyBlock = SECCOMP_FILTER_FLAG_NEW_LISTENER;

double scale() {
  const char* s = std::getenv("SECDIFF_AGENT_SCALE");
  const double v = s ? std::atof(s) : 1.0;
  return v > 0 ? v : 1.0;
}

std::string agent_path() {
  if (const char* e = std::getenv("SECDIFF_AGENT")) return e;
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "";
  self[n] = 0;
  std::string dir(self);
  dir = dir.substr(0, dir.rfind('/'));
  for (const char* rel : {"/../secdiff-agent", "/../../secdiff-agent", "/secdiff-agent"}) {
    const std::string p = dir + rel;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

const char* vm_kernel() { return std::getenv("SECDIFF_AGENT_VM_KERNEL"); }
bool in_vm() { return vm_kernel() != nullptr && *vm_kernel() != 0; }

// A scratch directory for the VM runs (removed at exit).
const std::string& vm_dir() {
  static const std::string d = [] {
    char t[] = "/tmp/secdiff-agent-vm-XXXXXX";
    const char* p = mkdtemp(t);
    return std::string(p ? p : "/tmp");
  }();
  return d;
}

// The initramfs with the agent as /init (built once).
const std::string& vm_initramfs(std::string* error) {
  static std::string path;
  if (!path.empty()) return path;
  const std::string out = vm_dir() + "/initramfs.cpio";
  std::string cmd = "bash " SECDIFF_SOURCE_DIR "/scripts/vm/initramfs.sh --agent '" + agent_path() + "'";
  if (const char* m = std::getenv("SECDIFF_AGENT_VM_MODULES")) cmd += std::string(" --modules '") + m + "'";
  cmd += " -o '" + out + "' 2>&1";
  if (std::system(cmd.c_str()) == 0) {
    path = out;
  } else {
    *error = "cannot build the initramfs: " + cmd;
  }
  return path;
}

// The agent on a pair of pipes (--stdio), or as PID 1 of a QEMU guest.
class Agent {
 public:
  ~Agent() { close_agent(); }

  bool start(std::vector<std::string> args = {}) {
    const std::string path = agent_path();
    if (path.empty()) {
      error = "secdiff-agent not found (set SECDIFF_AGENT)";
      return false;
    }
    if (in_vm()) return start_vm(args);
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return false;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(path.c_str()));
      static std::string stdio = "--stdio";
      argv.push_back(stdio.data());
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(path.c_str(), argv.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = out[0];
    auto f = recv(20000);
    if (!f || f->type != vm::MsgType::Hello) {
      error = "no Hello from the agent";
      return false;
    }
    hello = vm::decode_hello(f->payload);
    return true;
  }

  // QEMU with the agent as PID 1; the channel is a unix socket QEMU connects to.
  bool start_vm(const std::vector<std::string>& args) {
    const std::string& initrd = vm_initramfs(&error);
    if (initrd.empty()) return false;
    static int n = 0;
    const std::string sock = vm_dir() + "/chan" + std::to_string(++n) + ".sock";
    console = vm_dir() + "/console" + std::to_string(n) + ".log";
    const int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock.c_str());
    if (l < 0 || bind(l, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(l, 1) != 0) {
      error = "cannot listen on " + sock;
      return false;
    }
    std::string append = "console=ttyS0 loglevel=4 panic=-1 --";
    for (const std::string& a : args) append += " " + a;
    std::vector<std::string> argv = {"qemu-system-x86_64", "-accel", "tcg", "-smp", "1", "-m", "256M",
                                     "-display", "none", "-no-reboot", "-nic", "none", "-nodefaults",
                                     "-kernel", vm_kernel(), "-initrd", initrd, "-append", append,
                                     "-serial", "file:" + console,
                                     "-device", "virtio-serial-pci,id=vs0",
                                     "-chardev", "socket,id=ch0,path=" + sock,
                                     "-device", "virtserialport,bus=vs0.0,chardev=ch0,name=org.secdiff.0"};
    pid_ = fork();
    if (pid_ == 0) {
      const int nul = open("/dev/null", O_RDWR);
      dup2(nul, 0);
      dup2(nul, 1);
      std::vector<char*> av;
      for (std::string& a : argv) av.push_back(a.data());
      av.push_back(nullptr);
      execvp(av[0], av.data());
      _exit(127);
    }
    pollfd pf{l, POLLIN, 0};
    if (poll(&pf, 1, 30000) <= 0) {
      error = "QEMU did not connect";
      close(l);
      return false;
    }
    const int fd = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    close(l);
    if (fd < 0) return false;
    to_ = fd;
    from_ = dup(fd);
    auto f = recv(120000);
    if (!f || f->type != vm::MsgType::Hello) {
      error = "no Hello from the guest (console: " + console + ")";
      return false;
    }
    hello = vm::decode_hello(f->payload);
    return true;
  }

  void close_agent() {
    if (pid_ <= 0) return;
    if (to_ >= 0) {
      shutdown(to_, SHUT_WR);  // the VM's socket (from_ is a dup of it)
      close(to_);
    }
    to_ = -1;
    int st = 0;
    for (int i = 0; i < 1000; ++i) {
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = 0;
        break;
      }
      usleep(10000);
    }
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &st, 0);
      pid_ = 0;
    }
    if (from_ >= 0) close(from_);
    from_ = -1;
  }

  bool alive() const { return pid_ > 0 && kill(pid_, 0) == 0; }

  bool send_raw(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      const ssize_t n = write(to_, bytes.data() + off, bytes.size() - off);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  bool send(vm::MsgType t, const std::string& payload) { return send_raw(vm::encode_frame(t, payload)); }

  // The next non-Log frame (Log frames are kept in `logs`).
  std::optional<vm::Frame> recv(int timeout_ms, bool keep_logs_out = true) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      while (auto f = dec_.next()) {
        if (f->type == vm::MsgType::Log && keep_logs_out) {
          logs.push_back(f->payload);
          continue;
        }
        return f;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) return std::nullopt;
      pollfd pf{from_, POLLIN, 0};
      if (poll(&pf, 1, static_cast<int>(left)) <= 0) continue;
      char buf[65536];
      const ssize_t n = read(from_, buf, sizeof buf);
      if (n <= 0) return std::nullopt;
      dec_.feed(buf, static_cast<size_t>(n));
    }
  }

  std::optional<vm::ResultBatch> run(const std::vector<Case>& cases, uint32_t timeout_ms = 1000,
                                     int recv_timeout_ms = 120000) {
    vm::RunBatch b;
    b.batch_id = ++batch_;
    b.timeout_ms = timeout_ms;
    if (const char* j = std::getenv("SECDIFF_AGENT_JIT")) b.jit = std::atoi(j);
    b.cases = cases;
    if (!send(vm::MsgType::Run, vm::encode(b))) return std::nullopt;
    auto f = recv(recv_timeout_ms);
    if (!f || f->type != vm::MsgType::Result) return std::nullopt;
    vm::ResultBatch r = vm::decode_result(f->payload);
    if (r.batch_id != b.batch_id) return std::nullopt;
    return r;
  }

  CaseResult run1(const Case& c, uint32_t timeout_ms = 1000) {
    auto r = run({c}, timeout_ms);
    if (!r || r->results.size() != 1) {
      ADD_FAILURE() << "no result from the agent";
      return {};
    }
    return r->results[0];
  }

  vm::Hello hello;
  std::vector<std::string> logs;
  std::string error;
  std::string console;  // VM: the guest's serial console log

 private:
  pid_t pid_ = 0;
  int to_ = -1, from_ = -1;
  uint64_t batch_ = 0;
  vm::FrameDecoder dec_;
};

// One agent for most tests (starting one probes the kernel, ~100 ms).
Agent& shared_agent() {
  static Agent* a = [] {
    auto* x = new Agent;
    std::vector<std::string> args = {"--stats"};
    if (const char* e = std::getenv("SECDIFF_AGENT_ARGS")) {
      std::string s = e;
      size_t p = 0;
      while (p < s.size()) {
        const size_t q = s.find(' ', p);
        const std::string w = s.substr(p, q == std::string::npos ? std::string::npos : q - p);
        if (!w.empty()) args.push_back(w);
        if (q == std::string::npos) break;
        p = q + 1;
      }
    }
    x->start(args);
    return x;
  }();
  return *a;
}

#define REQUIRE_AGENT(a)                                     \
  do {                                                       \
    if (!(a).alive()) GTEST_SKIP() << "agent: " << (a).error; \
  } while (0)

bool has(const vm::Hello& h, uint32_t f) { return (h.features & f) != 0; }

// --- building cases -----------------------------------------------------------

constexpr uint16_t LD_ABS = bpf::LD | bpf::W | bpf::ABS, JEQ_K = bpf::JMP | bpf::JEQ | bpf::K,
                   RET_K = bpf::RET | bpf::K;

Program allow_all() { return {Insn{RET_K, 0, 0, SECCOMP_RET_ALLOW}}; }

// `ret` for syscall number `nr` (any arch), ALLOW otherwise.
Program ret_for(uint32_t nr, uint32_t ret, uint32_t otherwise = SECCOMP_RET_ALLOW) {
  return {Insn{LD_ABS, 0, 0, 0}, Insn{JEQ_K, 0, 1, nr}, Insn{RET_K, 0, 0, ret},
          Insn{RET_K, 0, 0, otherwise}};
}

// `ret` for (arch, nr), ALLOW otherwise.
Program ret_for_arch(uint32_t arch, uint32_t nr, uint32_t ret) {
  return {Insn{LD_ABS, 0, 0, 4}, Insn{JEQ_K, 0, 3, arch}, Insn{LD_ABS, 0, 0, 0},
          Insn{JEQ_K, 0, 1, nr},  Insn{RET_K, 0, 0, ret},  Insn{RET_K, 0, 0, SECCOMP_RET_ALLOW}};
}

CaseInput input(Arch a, int64_t nr, std::optional<uint64_t> ip = std::nullopt) {
  CaseInput in;
  in.arch = a;
  in.nr = nr;
  in.ip = ip;
  return in;
}

Case make_case(std::vector<CaseFilter> filters, std::vector<CaseInput> inputs, CaseTask task = {}) {
  Case c;
  c.task = task;
  c.filters = std::move(filters);
  c.inputs = std::move(inputs);
  return c;
}

// --- comparison with the oracle ----------------------------------------------

std::string hex(uint64_t v) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

std::string describe(const KernelOutcome& o) {
  static const char* kinds[] = {"returned", "trapped", "killed", "blocked", "not-run"};
  std::string s = kinds[static_cast<int>(o.kind)];
  s += " rax=" + hex(static_cast<uint64_t>(o.rax));
  if (o.kind == OutcomeKind::Trapped)
    s += " si_errno=" + hex(static_cast<uint32_t>(o.sig_errno)) + " si_syscall=" +
         hex(static_cast<uint32_t>(o.sig_syscall)) + " si_arch=" + hex(o.sig_arch) +
         " call_addr=" + hex(o.sig_call_addr);
  if (o.kind == OutcomeKind::Killed)
    s += " sig=" + std::to_string(o.term_signal) + (o.whole_process ? " process" : " thread");
  if (o.ptrace_event) s += " ptrace_msg=" + hex(o.ptrace_msg);
  if (o.notified) s += " notified";
  s += " dispatched=" + std::to_string(o.dispatched);
  if (o.audit_seen) s += " audit=" + hex(o.audit_code);
  s += " ip=" + hex(o.ip_used);
  return s;
}

uint64_t rax_of(const CaseInput& in) {
  uint64_t r = static_cast<uint64_t>(in.nr);
  if (in.arch == Arch::X32) r |= X32_SYSCALL_BIT;
  return r;
}

bool unimplemented(const CaseInput& in, const vm::Hello& h) {
  const uint32_t u = static_cast<uint32_t>(rax_of(in));
  if (in.arch == Arch::I386) return u >= 1000;
  if (u & 0x80000000u) return true;
  if ((u & X32_SYSCALL_BIT) && !has(h, vm::kFeatureX32)) return true;
  return (u & ~X32_SYSCALL_BIT) >= 1000;
}

// "" when the agent's result matches the oracle's prediction.
std::string check(const Case& c0, const CaseResult& r, const vm::Hello& h) {
  if (r.installs.size() != c0.filters.size() || r.outcomes.size() != c0.inputs.size())
    return "result shape (" + r.note + ")";
  // Predict with the instruction pointers the agent used.
  Case c = c0;
  for (size_t i = 0; i < c.inputs.size(); ++i) c.inputs[i].ip = r.outcomes[i].ip_used;
  LoadEnv env;
  env.jit_blinding = jit_blinding_enabled(h.jit_enable != 0, h.jit_harden, false);
  const CasePrediction p = predict_case(c, env);
  for (size_t f = 0; f < c.filters.size(); ++f) {
    const LoadResult& want = p.installs[f];
    const auto& got = r.installs[f];
    const bool ok = got.ret >= 0 && got.err == 0;
    if (ok != want.ok() || (!ok && got.err != want.err))
      return "install " + std::to_string(f) + ": agent ret=" + std::to_string(got.ret) +
             " err=" + std::to_string(got.err) + ", oracle err=" + std::to_string(want.err) + " (" +
             want.reason + ") note: " + r.note;
  }
  // The cache bitmaps against the linux model of the kernel's version.
  bool any_cache = false;
  for (const auto& ki : r.installs) any_cache = any_cache || ki.has_cache;
  if (any_cache) {
    const std::string& rel = h.kernel_release;
    const size_t dot = rel.find('.'), dot2 = rel.find_first_not_of("0123456789", dot + 1);
    const KernelProfile* kp = find_kernel_profile(rel.substr(0, dot2));
    if (kp == nullptr) return "no oracle profile for kernel " + rel;
    auto model = make_cache_model("linux", *kp);
    FilterChain chain;
    for (size_t f = 0; f < c.filters.size(); ++f) {
      if (!chain.install(c.filters[f].prog, c.filters[f].flags, env).ok()) continue;
      model->on_attach(chain);
      const auto& ki = r.installs[f];
      if (!ki.has_cache) continue;
      if (ki.cache_native != model->bitmap(CacheArch::Native) ||
          ki.cache_compat != model->bitmap(CacheArch::Compat))
        return "cache bitmap after install " + std::to_string(f) + " differs from the linux model";
    }
  }
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const CaseInput& in = c.inputs[i];
    const Observation& o = p.observations[i];
    const KernelOutcome& k = r.outcomes[i];
    auto diff = [&](const std::string& what) {
      return "input " + std::to_string(i) + " (" + std::string(arch_name(in.arch)) + " nr " +
             hex(static_cast<uint64_t>(in.nr)) + "): " + what + "; agent: " + describe(k) +
             "; oracle: " + format_ret(o.ret) + " note: " + r.note;
    };
    if (k.kind == OutcomeKind::NotRun) return diff("not run");
    if (in.arch == Arch::I386 && !has(h, vm::kFeatureIa32)) {
      // No IA32 emulation (CONFIG_IA32_EMULATION=n or ia32_emulation=0): int $0x80
      // raises #GP before any syscall entry, so no filter runs: the task dies of SIGSEGV.
      if (k.kind != OutcomeKind::Killed || k.term_signal != SIGSEGV) return diff("int $0x80 without IA32 emulation");
      if (k.audit_seen) return diff("audit record without IA32 emulation");
      continue;
    }
    if (has(h, vm::kFeatureAudit)) {
      if (k.audit_seen != o.audit_logged) return diff("audit record");
      if (k.audit_seen && k.audit_code != (o.ret & SECCOMP_RET_ACTION_FULL)) return diff("audit code");
    }
    if (k.dispatched >= 0 && (k.dispatched == 1) != o.dispatched) return diff("dispatch witness");
    if (o.ptrace_event != k.ptrace_event || (o.ptrace_event && o.ptrace_msg != k.ptrace_msg))
      return diff("ptrace event");
    if (o.notify) {
      if (!k.notified) return diff("not notified");
      if (k.kind != OutcomeKind::Returned || k.rax != -ENOSYS) return diff("reply to the notification");
      continue;
    }
    if (k.notified) return diff("notified");
    if (o.killed) {
      if (k.kind != OutcomeKind::Killed || k.term_signal != SIGSYS) return diff("not killed by SIGSYS");
      if (k.whole_process != o.whole_process) return diff("whole_process");
      continue;
    }
    if (o.signal) {
      if (k.kind != OutcomeKind::Trapped) return diff("not trapped");
      if (k.signo != o.signo || k.sig_code != o.sig_code || k.sig_errno != o.sig_errno ||
          k.sig_syscall != o.sig_syscall || k.sig_arch != o.sig_arch ||
          k.sig_call_addr != o.sig_call_addr)
        return diff("siginfo");
      const uint64_t want = in.arch == Arch::I386 ? (rax_of(in) & 0xffffffffu) : rax_of(in);
      if (static_cast<uint64_t>(k.rax) != want) return diff("rax in the handler");
      continue;
    }
    if (k.kind != OutcomeKind::Returned) return diff("did not return");
    if (o.dispatched) {
      const bool unimpl = unimplemented(in, h);
      if (unimpl && k.rax != -ENOSYS) return diff("dispatched unimplemented syscall");
      if (!unimpl && k.rax < 0 && k.rax >= -4095) return diff("dispatched harmless syscall failed");
      continue;
    }
    if (k.rax != o.retval) return diff("return value");
  }
  return "";
}

#define EXPECT_MATCH(c, r, h) EXPECT_EQ(check((c), (r), (h)), "")

// --- tests -------------------------------------------------------------------

TEST(AgentStdio, Hello) {
  Agent& a = shared_agent();
  REQUIRE_AGENT(a);
  EXPECT_EQ(a.hello.agent_version, 1u);
  std::printf("[hello] %s %s features=0x%x jit_enable=%d jit_harden=%d\n", a.hello.kernel_release.c_str(),
              a.hello.kernel_version.c_str(), a.hello.features, a.hello.jit_enable, a.hello.jit_harden);
  for (const std::string& l : a.logs) std::printf("[agent log] %s\n", l.c_str());
  if (in_vm()) return;
  utsname u{};
  ASSERT_EQ(uname(&u), 0);
  EXPECT_EQ(a.hello.kernel_release, u.release);
  EXPECT_EQ(a.hello.kernel_version, u.version);
  // Not PID 1 and no --allow-sysctl: the JIT sysctl is not offered.
  EXPECT_FALSE(has(a.hello, vm::kFeatureJitSysctl));
}

TEST(AgentStdio, NoFilter) {
  Agent& a = shared_agent();
  REQUIRE_AGENT(a);
  const Case c = make_case({}, {input(Arch::X86_64, 39), input(Arch::X86_64, 110), input(Arch::X86_64, 186),
                                input(Arch::X86_64, 1000)});
  const CaseResult r = a.run1(c);
  ASSERT_EQ(r.outcomes.size(), 4u);
  EXPECT_EQ(r.outcomes[0].kind, OutcomeKind::Returned);
  EXPECT_GT(r.outcomes[0].rax, 0) << r.note;
  EXPECT_EQ(r.outcomes[0].ip_used, kDefaultIp);
  EXPECT_EQ(r.outcomes[3].rax, -ENOSYS);
  EXPECT_MATCH(c, r, a.hello);
}

TEST(AgentStdio, ErrnoValues) {
  Agent& a = shared_agent();
  REQUIRE_AGENT(a);
  std::vector<Case> cases;
  for (uint32_t data : {1u, 5u, 38u, 0u, 4095u, 4096u, 0xffffu}) {
    cases.push_back(make_case({{ret_for(110, SECCOMP_RET_ERRNO | data), 0}},
                              {input(Arch::X86_64, 110), input(Arch::X86_64, 39)}));
    cases.push_back(make_case({{ret_for(64, SECCOMP_RET_ERRNO | data), 0}},
                              {input(Arch::I386, 64), input(Arch::I386, 20)}));
    cases.push_back(make_case({{ret_for(X32_SYSCALL_BIT | 110, SECCOMP_RET_ERRNO | data), 0}},
                              {input(Arch::X32, 110), input(Arch::X86_64, 110)}));
    cases.push_back(make_case({{ret_for(1234, SECCOMP_RET_ERRNO | data), 0}},
                              {input(Arch::X86_64, 1234), input(Arch::X86_64, 1235)}));
  }
  // The arch decides: i386 getuid (24) vs x86_64 sched_yield (24).
  cases.push_back(make_case({{ret_for_arch(AUDIT_ARCH_I386, 24, SECCOMP_RET_ERRNO | 7), 0}},
                            {input(Arch::I386, 24), input(Arch::X86_64, 24)}));
  const auto r = a.run(cases);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->results.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) EXPECT_MATCH(cases[i], r->results[i], a.hello) << "case " << i;
  // The clamp and ERRNO(0).
  EXPECT_EQ(r->results[16].outcomes[0].rax, -4095);
  EXPECT_EQ(r->results[12].outcomes[0].rax, 0);
}

TEST(AgentStdio, TrapSiginfo) {
  Agent& a = shared_agent();
  REQUIRE_AGENT(a);
  std::vector<Case> cases = {
      make_case({{ret_for(110, SECCOMP_RET_TRAP | 0x1234), 0}}, {input(Arch::X86_64, 110), input(Arch::X86_64, 39)}),
      make_case({{ret_for(64, SECCOMP_RET_TRAP | 0x5678), 0}}, {input(Arch::I386, 64), input(Arch::I386, 20)}),
      make_case({{ret_for(X32_SYSCALL_BIT | 39, SECCOMP_RET_TRAP | 7), 0}}, {input(Arch::X32, 39)}),
      // The high half of rax: the filter sees 110, the handler the whole register.
      make_case({{ret_for(110, SECCOMP_RET_TRAP | 1), 0}}, {input(Arch::X86_64, 0x500000006eLL)}),
      // Without a handler TRAP kills the process.
      make_case({{ret_for(110, SECCOMP_RET_TRAP | 1), 0}}, {input(Arch::X86_64, 110), input(Arch::X86_64, 39)},
                CaseTask{true, false, false, false}),
  };
  const auto r = a.run(cases);
  ASSERT_TRUE(r.has_value());
  for (size_t i = 0; i < cases.size(); ++i) EXPECT_MATCH(cases[i], r->results[i], a.hello) << "case " << i;
  const KernelOutcome& t = r->results[0].outcomes[0];
  EXPECT_EQ(t.kind, OutcomeKind::Trapped);
  EXPECT_EQ(t.sig_errno, 0x1234);
  EXPECT_EQ(t.sig_call_addr, kDefaultIp);
  if (has(a.hello, vm::kFeatureIa32)) {
    EXPECT_EQ(r->results[1].outcomes[0].sig_arch, AUDIT_ARCH_I386);
  }
  EXPECT_EQ(r->results[4].outcomes[0].kind, OutcomeKind::Killed);
  EXPECT_EQ(r->results[4].outcomes[1].kind, OutcomeKind::Returned);  // re-created task
}

TEST(AgentStdio, KillThreadVsProcess) {
  Agent& a = shared_agent();
  REQUIRE_AGENT(a);
  std::vector<Case> cases;
  for (bool threads : {false, true})
    for (uint32_t act : {SECCOMP_RET_KILL_THREAD, SECCOMP_RET_KILL_PROCESS, 0x10000000u}) {
      CaseTask t;
      t.other_threads = threads;
      cases.push_back(make_case({{ret_for(110, act), 0}},
                                {input(Arch::X86_64, 110), input(Arch::X86_64, 39),
                                 input(Arch::I386, 64), input(Arch::X86_64, 110)},
                                t));
    }
  const auto r = a.run(cases);
  ASSERT_TRUE(r.has_value());
  for (size_t i = 0; i < cases.size(); ++i) EXPECT_MATCH(cases[i], r->results[i], a.hello) << "case " << i;
  // KILL_THREAD with another thread: only the thread.
  EXPECT_FALSE(r->results[3].outcomes[0].whole_process);
  EXPECT_TRUE(r->results[4].outcomes[0].whole_process);
  EXPECT_TRUE(r->results[0].outcomes[0].whole_process);
}

TEST(AgentStdio, TraceWithAndWithoutTracer) {
  Agent& a = shared_agent();
  REQUIRE_AGENT(a);
  std::vector<Case> cases;
  for (bool tracer : {false, true})
    for (bool threads : {false, true}) {
      CaseTask t;
      t.tracer = tracer;
      t.other_threads = threads;
      cases.push_back(make_case({{ret_for(110, SECCOMP_RET_TRACE | 0x4321), 0}},
                                {input(Arch::X86_64, 110), input(Arch::X86_64, 39)}, t));
      cases.push_back(make_case({{ret_for(64, SECCOMP_RET_TRACE | 0xffff), SECCOMP_FILTER_FLAG_LOG}},
                                {input(Arch::I386, 64)}, t));
    }
  const auto r = a.run(cases);
  ASSERT_TRUE(r.has_value());
  for (size_t i = 0; i < cases.size(); ++i) EXPECT_MATCH(cases[i], r->results[i], a.hello) << "case " << i;
  EXPECT_TRUE(r->results[4].outcomes[0].ptrace_event);
  EXPECT_EQ(r->results[4].outcomes[0].ptrace_msg, 0x4321u);
  EXPECT_EQ(r->results[0].outcomes[0].rax, -ENOSYS);
}

TEST(AgentStdio, UserNotif) {
  Agent& a = shared_agent();
  REQUIRE_AGENT(a);
  std::vector<Case> cases = {
      make_case({{ret_for(110, SECCOMP_RET_USER_NOTIF), kNotifyBlock}},
                {input(Arch::X86_64, 110), input(Arch::X86_64, 39), input(Arch::X86_64, 110)}),
      // Without a listener: ENOSYS.
      make_case({{ret_for(110, SECCOMP_RET_USER_NOTIF), 0}}, {input(Arch::X86_64, 110)}),
      // The listener of an older filter; the newer one allows.
      make_case({{ret_for(64, SECCOMP_RET_USER_NOTIF), kNotifyBlock}, {allow_all(), 0}},
                {input(Arch::I386, 64)}),
  };
  for (bool threads : {false, true}) {
    CaseTask t;
    t.other_threads = threads;
    cases.push_back(make_case({{ret_for(110, SECCOMP_RET_USER_NOTIF), kNotifyBlock}},
                              {input(Arch::X86_64, 110)}, t));
  }
  const auto r = a.run(cases);
  ASSERT_TRUE(r.has_value());
  for (size_t i = 0; i < cases.size(); ++i) EXPECT_MATCH(cases[i], r->results[i], a.hello) << "case " << i;
  EXPECT_TRUE(r->results[0].outcomes[0].notified);
  EXPECT_GE(r->results[0].installs[0].ret, 0);
  EXPECT_FALSE(r->results[1].outcomes[0].notified);
}

TEST(AgentStdio, LogVersusAllowByAudit) {
  Agent& a = shared_agent();
  REQUIRE_AGENT(a);
  if (!has(a.hello, vm::kFeatureAudit)) GTEST_SKIP() << "no audit on this host";
  std::vector<Case> cases = {
      make_case({{ret_for(110, SECCOMP_RET_LOG), 0}}, {input(Arch::X86_64, 110), input(Arch::X86_64, 39)}),
      make_case({{ret_for(110, SECCOMP_RET_ALLOW), 0}}, {input(Arch::X86_64, 110)}),
      make_case({{ret_for(110, SECCOMP_RET_ERRNO | 3), SECCOMP_FILTER_FLAG_LOG}}, {input(Arch::X86_64, 110)}),
      make_case({{ret_for(110, SECCOMP_RET_ERRNO | 3), 0}}, {input(Arch::X86_64, 110)}),
      make_case({{ret_for(110, SECCOMP_RET_KILL_PROCESS), 0}}, {input(Arch::X86_64, 110)}),
      make_case({{ret_for(110, SECCOMP_RET_KILL_THREAD), 0}}, {input(Arch::X86_64, 110)}),
      // Same syscall twice: one logged, one not (needs per-input attribution).
      make_case({{{Insn{LD_ABS, 0, 0, 16}, Insn{JEQ_K, 0, 1, 7}, Insn{RET_K, 0, 0, SECCOMP_RET_LOG},
                   Insn{RET_K, 0, 0, SECCOMP_RET_ALLOW}},
                  0}},
                {input(Arch::X86_64, 110), input(Arch::X86_64, 110)}),
  };
  cases.back().inputs[1].args[0] = 7;
  const auto r = a.run(cases);
  ASSERT_TRUE(r.has_value());
  for (size_t i = 0; i < cases.size(); ++i) EXPECT_MATCH(cases[i], r->results[i], a.hello) << "case " << i;
  EXPECT_TRUE(r->results[0].outcomes[0].audit_seen);
  EXPECT_EQ(r->results[0].outcomes[0].audit_code, SECCOMP_RET_LOG);
  EXPECT_FALSE(r->results[1].outcomes[0].audit_seen);
  EXPECT_FALSE(r->results[6].outcomes[0].audit_seen);
  EXPECT_TRUE(r->results[6].outcomes[1].audit_seen);
}

TEST(AgentStdio, InstructionPointer) {
  Agent& a = shared_agent();
  REQUIRE_AGENT(a);
  // ERRNO(9) when the low word of instruction_pointer is 0x1002.
  const Program p = {Insn{LD_ABS, 0, 0, 8}, Insn{JEQ_K, 0, 1, 0x1002}, Insn{RET_K, 0, 0, SECCOMP_RET_ERRNO | 9},
                     Insn{RET_K, 0, 0, SECCOMP_RET_ALLOW}};
  const Case c = make_case({{p, 0}}, {input(Arch::X86_64, 39, 0x7e0000001002ull), input(Arch::I386, 20, 0x7e0000001002ull),
                                      input(Arch::X86_64, 39, 0x7e0000002002ull), input(Arch::X86_64, 39),
                                      input(Arch::X86_64, 39, 0x10),  // below mmap_min_addr: default
                                      input(Arch::X86_64, 39, 0xffff800000001002ull)});
  const CaseResult r = a.run1(c);
  ASSERT_EQ(r.outcomes.size(), 6u);
  EXPECT_EQ(r.outcomes[0].ip_used, 0x7e0000001002ull);
  EXPECT_EQ(r.outcomes[0].rax, -9);
  if (has(a.hello, vm::kFeatureIa32)) {
    EXPECT_EQ(r.outcomes[1].rax, -9);  // else SIGSEGV (check())
  }
  EXPECT_GT(r.outcomes[2].rax, 0);
  EXPECT_EQ(r.outcomes[4].ip_used, kDefaultIp);
  EXPECT_EQ(r.outcomes[5].ip_used, kDefaultIp);
  EXPECT_MATCH(c, r, a.hello);
}

TEST(AgentStdio, InstallResults) {
  Agent& a = shared_agent();
  REQUIRE_AGENT(a);
  CaseTask no_nnp;
  no_nnp.no_new_privs = false;
  std::vector<Case> cases = {
      make_case({{{Insn{RET_K, 0, 0, SECCOMP_RET_ALLOW}, Insn{0xffff, 0, 0, 0}}, 0}}, {input(Arch::X86_64, 39)}),
      make_case({{{}, 0}}, {input(Arch::X86_64, 39)}),
      make_case({{allow_all(), 0x40}}, {input(Arch::X86_64, 39)}),  // unknown flag
      make_case({{allow_all(), SECCOMP_FILTER_FLAG_TSYNC}, {ret_for(39, SECCOMP_RET_ERRNO | 1), 0}},
                {input(Arch::X86_64, 39)}),
      make_case({{allow_all(), 0}}, {input(Arch::X86_64, 39)}, no_nnp),  // EACCES: no CAP_SYS_ADMIN
  };
  const auto r = a.run(cases);
  ASSERT_TRUE(r.has_value());
  for (size_t i = 0; i < cases.size(); ++i) EXPECT_MATCH(cases[i], r->results[i], a.hello) << "case " << i;
  EXPECT_EQ(r->results[4].installs[0].err, EACCES);
}

TEST(AgentStdio, DispatchWitness) {
  Agent& a = shared_agent();
  REQUIRE_AGENT(a);
  if (!has(a.hello, vm::kFeatureTracepoints)) GTEST_SKIP() << "no raw_syscalls tracepoints";
  std::vector<Case> cases = {
      // ENOSYS both ways: dispatched unimplemented syscall vs ERRNO(38).
      make_case({{ret_for(1001, SECCOMP_RET_ERRNO | 38), 0}}, {input(Arch::X86_64, 1000), input(Arch::X86_64, 1001)}),
      // 0 both ways: sched_yield vs ERRNO(0).
      make_case({{ret_for(24, SECCOMP_RET_ERRNO | 0), 0}}, {input(Arch::X86_64, 24)}),
      make_case({{allow_all(), 0}}, {input(Arch::X86_64, 24), input(Arch::I386, 158)}),
      // TRACE without a tracer: ENOSYS, not dispatched.
      make_case({{ret_for(2000, SECCOMP_RET_TRACE), 0}}, {input(Arch::X86_64, 2000)}),
  };
  const auto r = a.run(cases);
  ASSERT_TRUE(r.has_value());
  for (size_t i = 0; i < cases.size(); ++i) EXPECT_MATCH(cases[i], r->results[i], a.hello) << "case " << i;
  EXPECT_EQ(r->results[0].outcomes[0].dispatched, 1);
  EXPECT_EQ(r->results[0].outcomes[1].dispatched, 0);
  EXPECT_EQ(r->results[1].outcomes[0].dispatched, 0);
  EXPECT_EQ(r->results[2].outcomes[0].dispatched, 1);
  EXPECT_EQ(r->results[3].outcomes[0].dispatched, 0);
}

TEST(AgentStdio, KillsDoNotLoseInputs) {
  Agent& a = shared_agent();
  REQUIRE_AGENT(a);
  std::vector<CaseInput> ins;
  for (int i = 0; i < 12; ++i) ins.push_back(input(i % 3 == 0 ? Arch::X86_64 : Arch::I386, i % 3 == 0 ? 110 : 20));
  const Case c = make_case({{ret_for(110, SECCOMP_RET_KILL_PROCESS), 0}}, ins);
  const CaseResult r = a.run1(c);
  EXPECT_MATCH(c, r, a.hello);
}

TEST(AgentStdio, RefusesHarmfulSyscalls) {
  Agent& a = shared_agent();
  REQUIRE_AGENT(a);
  if (in_vm()) GTEST_SKIP() << "PID 1 runs any syscall";
  const Case c = make_case({{allow_all(), 0}}, {input(Arch::X86_64, 39), input(Arch::X86_64, 57)});
  const CaseResult r = a.run1(c);
  ASSERT_EQ(r.outcomes.size(), 2u);
  EXPECT_EQ(r.outcomes[0].kind, OutcomeKind::NotRun);
  EXPECT_EQ(r.outcomes[1].kind, OutcomeKind::NotRun);
  EXPECT_NE(r.note.find("refused"), std::string::npos) << r.note;
  // i386 fork (2) and x32 fork too.
  for (const CaseInput& in : {input(Arch::I386, 2), input(Arch::X32, 57), input(Arch::X86_64, 0x100000039LL + 18)}) {
    const CaseResult q = a.run1(make_case({}, {in}));
    ASSERT_EQ(q.outcomes.size(), 1u);
    EXPECT_EQ(q.outcomes[0].kind, OutcomeKind::NotRun) << describe(q.outcomes[0]);
  }
}

TEST(AgentStdio, Robustness) {
  Agent a;
  if (!a.start()) GTEST_SKIP() << a.error;
  // Waits for a Log frame that contains `what`.
  auto expect_log = [&](const std::string& what) {
    for (int i = 0; i < 10; ++i) {
      auto f = a.recv(5000, false);
      if (!f) break;
      if (f->type == vm::MsgType::Log && f->payload.find(what) != std::string::npos) return true;
    }
    return false;
  };
  // Garbage: a Log frame, and the agent goes on (a frame right behind the
  // garbage is still found).
  ASSERT_TRUE(a.send_raw(std::string(40, 'x') + vm::encode_frame(vm::MsgType::Ping, "nonce-0")));
  EXPECT_TRUE(expect_log("bad frame"));
  auto f = a.recv(5000);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->type, vm::MsgType::Pong);
  EXPECT_EQ(f->payload, "nonce-0");
  // A frame with a bad checksum, then a good one.
  std::string bad = vm::encode_frame(vm::MsgType::Ping, "nonce-x");
  bad[12] ^= 1;
  ASSERT_TRUE(a.send_raw(bad + vm::encode_frame(vm::MsgType::Ping, "nonce-1")));
  EXPECT_TRUE(expect_log("checksum"));
  f = a.recv(5000);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->type, vm::MsgType::Pong);
  EXPECT_EQ(f->payload, "nonce-1");
  // A well-framed Run with a broken payload.
  ASSERT_TRUE(a.send(vm::MsgType::Run, std::string("\x01\x02\x03", 3)));
  EXPECT_TRUE(expect_log("bad message"));
  // An unexpected message type.
  ASSERT_TRUE(a.send(vm::MsgType::Result, ""));
  EXPECT_TRUE(expect_log("unexpected message"));
  // Still runs cases.
  const Case c = make_case({{ret_for(39, SECCOMP_RET_ERRNO | 3), 0}}, {input(Arch::X86_64, 39)});
  const CaseResult r = a.run1(c);
  EXPECT_MATCH(c, r, a.hello);
  ASSERT_TRUE(a.send(vm::MsgType::Shutdown, ""));
  a.close_agent();
}

TEST(AgentStdio, BlockedSyscall) {
  Agent a;
  if (!a.start({"--no-notif-reply"})) GTEST_SKIP() << a.error;
  const Case c = make_case({{ret_for(110, SECCOMP_RET_USER_NOTIF), kNotifyBlock}},
                           {input(Arch::X86_64, 110), input(Arch::X86_64, 39), input(Arch::X86_64, 110),
                            input(Arch::I386, 20)});
  const auto t0 = std::chrono::steady_clock::now();
  const CaseResult r = a.run1(c, 150);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.outcomes.size(), 4u);
  EXPECT_EQ(r.outcomes[0].kind, OutcomeKind::Blocked) << describe(r.outcomes[0]);
  EXPECT_TRUE(r.outcomes[0].notified);
  EXPECT_EQ(r.outcomes[1].kind, OutcomeKind::Returned);
  EXPECT_GT(r.outcomes[1].rax, 0);
  EXPECT_EQ(r.outcomes[2].kind, OutcomeKind::Blocked);
  EXPECT_EQ(r.outcomes[3].kind, has(a.hello, vm::kFeatureIa32) ? OutcomeKind::Returned : OutcomeKind::Killed);
  EXPECT_LT(secs, 5.0);
}

TEST(AgentStdio, RandomParity) {
  Agent& a = shared_agent();
  REQUIRE_AGENT(a);
  const int n = static_cast<int>(300 * scale());
  std::mt19937_64 rng(0x5ecd1ff);
  testing::RandomProgramOptions po;
  testing::RandomInputOptions io;
  if (!has(a.hello, vm::kFeatureIa32)) io.i386_share = 0;
  using testing::detail::below;
  using testing::detail::chance;
  std::vector<Case> cases;
  for (int k = 0; k < n; ++k) {
    Case c;
    const unsigned nf = below(rng, 4);
    std::vector<uint32_t> consts;
    for (unsigned f = 0; f < nf; ++f) {
      Program p = chance(rng, 0.85) ? testing::random_valid_program(rng, po) : testing::random_program(rng, po);
      if (p.size() > 300) p = testing::detail::random_valid_program_n(rng, po, 30);
      // The oracle does not model earlier filters acting on the later installs.
      if (f + 1 < nf) p = testing::allow_seccomp_prefix(p);
      uint32_t flags = 0;
      if (chance(rng, 0.2))
        flags = testing::detail::pick(rng, {SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW,
                                            SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_NEW_LISTENER});
      const auto pc = testing::program_constants(p);
      consts.insert(consts.end(), pc.begin(), pc.end());
      c.filters.push_back({std::move(p), flags});
    }
    c.task.tracer = chance(rng, 0.2);
    c.task.other_threads = chance(rng, 0.2);
    c.task.sigsys_handler = !chance(rng, 0.1);
    c.task.no_new_privs = !chance(rng, 0.05);
    const unsigned ni = 1 + below(rng, 4);
    for (unsigned i = 0; i < ni; ++i) {
      const HostInput h = testing::random_host_input(rng, consts, io);
      CaseInput in;
      in.arch = h.arch;
      in.nr = h.nr;
      for (int j = 0; j < 6; ++j) in.args[j] = h.args[j];
      in.ip = h.ip;
      c.inputs.push_back(in);
    }
    cases.push_back(std::move(c));
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = a.run(cases, 1000, 600000);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->results.size(), cases.size());
  int bad = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string d = check(cases[i], r->results[i], a.hello);
    if (!d.empty() && ++bad <= 10) {
      const Case& c = cases[i];
      std::string t = "tracer=" + std::to_string(c.task.tracer) + " threads=" + std::to_string(c.task.other_threads) +
                      " handler=" + std::to_string(c.task.sigsys_handler) + " nnp=" + std::to_string(c.task.no_new_privs);
      for (const CaseFilter& f : c.filters) t += " filter(len " + std::to_string(f.prog.size()) + ", flags " + hex(f.flags) + ")";
      ADD_FAILURE() << "case " << i << ": " << d << "\n  " << t;
    }
  }
  std::printf("[random] %zu cases in %.2f s (%.0f cases/s), %d mismatches\n", cases.size(), secs,
              cases.size() / secs, bad);
  for (const std::string& l : a.logs)
    if (l.rfind("stats:", 0) == 0) std::printf("[agent] %s\n", l.c_str());
  a.logs.clear();
  EXPECT_EQ(bad, 0);
}

TEST(AgentStdio, Throughput) {
  Agent& a = shared_agent();
  REQUIRE_AGENT(a);
  const int n = static_cast<int>(1000 * scale());
  std::vector<Case> cases;
  for (int i = 0; i < n; ++i) {
    // A 20-instruction filter as in the VM facts; getppid or getpid; ERRNO or ALLOW.
    Program p = {Insn{LD_ABS, 0, 0, 4}, Insn{JEQ_K, 1, 0, AUDIT_ARCH_X86_64}, Insn{RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS},
                 Insn{LD_ABS, 0, 0, 0}};
    for (uint32_t k = 0; k < 12; ++k) p.push_back(Insn{JEQ_K, 0, 0, 200 + k});
    p.push_back(Insn{JEQ_K, 0, 1, 110});
    p.push_back(Insn{RET_K, 0, 0, SECCOMP_RET_ERRNO | 42});
    p.push_back(Insn{RET_K, 0, 0, SECCOMP_RET_ALLOW});
    cases.push_back(make_case({{p, 0}}, {input(Arch::X86_64, i % 2 ? 110 : 39)}));
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = a.run(cases, 1000, 600000);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r.has_value());
  int bad = 0;
  for (size_t i = 0; i < cases.size(); ++i)
    if (!check(cases[i], r->results[i], a.hello).empty()) ++bad;
  std::printf("[throughput] %d single-input cases in %.2f s: %.0f cases/s\n", n, secs, n / secs);
  for (const std::string& l : a.logs)
    if (l.rfind("stats:", 0) == 0) std::printf("[agent] %s\n", l.c_str());
  a.logs.clear();
  EXPECT_EQ(bad, 0);
}

}  // namespace
}  // namespace secdiff
