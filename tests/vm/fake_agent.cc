// A stand-in for the guest agent, for tests of the host side (vm/qemu, vm/pool,
// vm/runner, secdiff diff) without QEMU or kernels. It answers every case with
// what the oracle predicts, so a healthy run has no mismatch, and it injects
// faults on request.
//
//   fake_agent --stdio [...]       speaks the protocol on stdin/stdout (host backend)
//   fake_agent <QEMU arguments>    pretends to be qemu-system-x86_64: connects to the
//                                  -chardev socket path, writes the -serial file: log
//
// Environment:
//   FAKE_AGENT_FAULTS  comma-separated FAULT:CASE_KEY, applied when a Run batch
//                      holds that case. The protocol carries no case names, so the
//                      key is case_key(): 16 hex digits of FNV-1a-64 over the
//                      case's compact encoding (fake_agent --key FILE prints it). FAULT is crash (exit 1), panic
//                      (console "Kernel panic", exit 0), garbage (bytes that are no
//                      frame), hang (stop answering), wrong (ERRNO values off by
//                      one: errno-data mismatches), bitmap (a wrong cache bitmap);
//                      FAULT-once applies only the first time (a marker file in
//                      FAKE_AGENT_STATE).
//   FAKE_AGENT_FEATURES Hello features (default 0x3d: cache-debug, ia32, jit, audit, tracepoints)
//   FAKE_AGENT_RELEASE  Hello kernel release (default 6.1.0-fake)
//   FAKE_AGENT_NO_HELLO never say Hello (boot failure)
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "oracle/cache/cache_model.h"
#include "oracle/case.h"
#include "oracle/case_codec.h"
#include "host/case_file.h"
#include "vm/protocol.h"

using namespace secdiff;
using namespace secdiff::vm;

namespace {

int g_fd_in = 0, g_fd_out = 1;
std::string g_console;

void console(const std::string& s) {
  if (g_console.empty()) return;
  std::ofstream f(g_console, std::ios::app);
  f << s;
}

void write_all(const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(g_fd_out, s.data() + off, s.size() - off);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      std::exit(3);
    }
    off += static_cast<size_t>(n);
  }
}

void send(MsgType t, const std::string& payload) { write_all(encode_frame(t, payload)); }

struct Fault {
  std::string kind, name;
  bool once = false;
};

std::vector<Fault> faults() {
  std::vector<Fault> out;
  const char* e = std::getenv("FAKE_AGENT_FAULTS");
  if (!e) return out;
  std::string s = e;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    const std::string item = s.substr(start, comma - start);
    const size_t colon = item.find(':');
    if (colon != std::string::npos) {
      Fault f;
      f.kind = item.substr(0, colon);
      f.name = item.substr(colon + 1);
      if (f.kind.size() > 5 && f.kind.substr(f.kind.size() - 5) == "-once") {
        f.once = true;
        f.kind.resize(f.kind.size() - 5);
      }
      out.push_back(f);
    }
    start = comma + 1;
  }
  return out;
}

// True if the fault applies now (and, for -once faults, marks it used).
bool fires(const Fault& f) {
  if (!f.once) return true;
  const char* dir = std::getenv("FAKE_AGENT_STATE");
  const std::string marker = std::string(dir ? dir : "/tmp") + "/fake-agent-" + f.kind + "-" + f.name;
  if (::access(marker.c_str(), F_OK) == 0) return false;
  std::ofstream(marker) << "used\n";
  return true;
}

std::string case_key(const Case& c) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char ch : encode_case(c)) {
    h ^= ch;
    h *= 0x100000001b3ull;
  }
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

constexpr uint64_t kDefaultIp = 0x5ec000202ull;

CaseResult answer(const Case& c, bool wrong, bool bad_bitmap, uint32_t features) {
  CaseResult r;
  LoadEnv env;
  env.no_new_privs = c.task.no_new_privs;
  const CasePrediction p = predict_case(c, env, kDefaultIp);
  const KernelProfile& kp = *find_kernel_profile("6.1");
  auto model = make_cache_model("linux", kp);
  FilterChain chain;
  for (size_t i = 0; i < c.filters.size(); i++) {
    KernelInstall ki;
    const LoadResult& lr = p.installs[i];
    if (lr.ok()) {
      ki.ret = (c.filters[i].flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) ? 3 + static_cast<int64_t>(i) : 0;
      chain.install(c.filters[i].prog, c.filters[i].flags, env);
      model->on_attach(chain);
      if (features & kFeatureCacheDebug) {
        ki.has_cache = true;
        ki.cache_native = model->bitmap(CacheArch::Native);
        ki.cache_compat = model->bitmap(CacheArch::Compat);
        if (bad_bitmap) ki.cache_native[39] = !ki.cache_native[39];
      }
    } else {
      ki.ret = -1;
      ki.err = lr.err;
    }
    r.installs.push_back(ki);
  }
  for (size_t i = 0; i < c.inputs.size(); i++) {
    const Observation& o = p.observations[i];
    KernelOutcome k;
    k.ip_used = c.inputs[i].ip.value_or(kDefaultIp);
    if (o.killed) {
      k.kind = OutcomeKind::Killed;
      k.term_signal = o.strict_kill ? SIGKILL : SIGSYS;  // strict mode: do_exit(SIGKILL)
      k.whole_process = o.whole_process;
    } else if (o.notify) {
      k.kind = OutcomeKind::Returned;
      k.notified = true;
      k.rax = -ENOSYS;
    } else if (o.signal) {
      k.kind = OutcomeKind::Trapped;
      k.signo = o.signo;
      k.sig_code = o.sig_code;
      k.sig_errno = o.sig_errno;
      k.sig_syscall = o.sig_syscall;
      k.sig_arch = o.sig_arch;
      k.sig_call_addr = o.sig_call_addr;
      k.rax = o.retval;
    } else {
      k.kind = OutcomeKind::Returned;
      k.rax = o.dispatched ? 4242 : o.retval;
      if (wrong && !o.dispatched) k.rax -= 1;
      k.ptrace_event = o.ptrace_event;
      k.ptrace_msg = o.ptrace_msg;
    }
    if (features & kFeatureTracepoints) k.dispatched = o.dispatched ? 1 : 0;
    if (features & kFeatureAudit) {
      k.audit_seen = o.audit_logged;
      k.audit_code = o.audit_logged ? (o.ret & SECCOMP_RET_ACTION_FULL) : 0;
    }
    r.outcomes.push_back(k);
  }
  return r;
}

[[noreturn]] void hang() {
  for (;;) ::pause();
}

int serve() {
  const char* fe = std::getenv("FAKE_AGENT_FEATURES");
  const uint32_t features = fe ? static_cast<uint32_t>(std::strtoul(fe, nullptr, 0))
                               : (kFeatureCacheDebug | kFeatureIa32 | kFeatureJitSysctl | kFeatureAudit |
                                  kFeatureTracepoints);
  console("Linux version 6.1.0-fake (fake_agent)\nRun /init as init process\n");
  if (std::getenv("FAKE_AGENT_NO_HELLO")) hang();
  Hello h;
  const char* rel = std::getenv("FAKE_AGENT_RELEASE");
  h.kernel_release = rel ? rel : "6.1.0-fake";
  h.kernel_version = "#1 fake";
  h.features = features;
  h.jit_enable = 1;
  h.jit_harden = 0;
  send(MsgType::Hello, encode(h));
  const std::vector<Fault> fs = faults();
  FrameDecoder dec;
  char buf[65536];
  for (;;) {
    std::optional<Frame> f;
    while (!(f = dec.next())) {
      const ssize_t n = ::read(g_fd_in, buf, sizeof buf);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        return 0;
      }
      dec.feed(buf, static_cast<size_t>(n));
    }
    switch (f->type) {
      case MsgType::Ping: send(MsgType::Pong, f->payload); break;
      case MsgType::Shutdown: console("reboot: Power down\n"); return 0;
      case MsgType::Run: {
        const RunBatch b = decode_run(f->payload);
        std::vector<char> wrong(b.cases.size()), bad_bitmap(b.cases.size());
        for (size_t ci = 0; ci < b.cases.size(); ci++) {
          const Case& c = b.cases[ci];
          for (const Fault& ft : fs) {
            if (case_key(c) != ft.name) continue;
            if (!fires(ft)) continue;
            if (ft.kind == "crash") {
              console("fake: crashing on " + ft.name + "\n");
              std::exit(1);
            }
            if (ft.kind == "panic") {
              console("BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
                      "Kernel panic - not syncing: Fatal exception (fake, case " + ft.name + ")\n");
              std::exit(0);
            }
            if (ft.kind == "garbage") {
              write_all(std::string(64, '\x5a'));
              hang();
            }
            if (ft.kind == "hang") hang();
            if (ft.kind == "wrong") wrong[ci] = 1;
            if (ft.kind == "bitmap") bad_bitmap[ci] = 1;
          }
        }
        send(MsgType::Log, "running batch " + std::to_string(b.batch_id));
        ResultBatch rb;
        rb.batch_id = b.batch_id;
        for (size_t ci = 0; ci < b.cases.size(); ci++)
          rb.results.push_back(answer(b.cases[ci], wrong[ci], bad_bitmap[ci], features));
        send(MsgType::Result, encode(rb));
        break;
      }
      default: return 2;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  std::string sock;
  bool stdio = false;
  if (argc == 3 && std::string(argv[1]) == "--key") {
    std::printf("%s\n", case_key(load_case_file(argv[2])).c_str());
    return 0;
  }
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    if (a == "--stdio") stdio = true;
    if (i + 1 < argc && a == "-chardev") {
      const std::string v = argv[i + 1];
      const size_t p = v.find("path=");
      if (v.rfind("socket,", 0) == 0 && p != std::string::npos) sock = v.substr(p + 5, v.find(',', p) - p - 5);
    }
    if (i + 1 < argc && a == "-serial") {
      const std::string v = argv[i + 1];
      if (v.rfind("file:", 0) == 0) g_console = v.substr(5);
    }
  }
  if (stdio) return serve();
  if (sock.empty()) {
    std::fprintf(stderr, "fake_agent: no --stdio and no -chardev socket,path=...\n");
    return 2;
  }
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", sock.c_str());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
    std::fprintf(stderr, "fake_agent: cannot connect to %s: %s\n", sock.c_str(), std::strerror(errno));
    return 1;
  }
  g_fd_in = g_fd_out = fd;
  return serve();
}
