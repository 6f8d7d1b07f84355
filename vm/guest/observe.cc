// Observation helpers of the agent: the audit daemon socket, the
// raw_syscalls:sys_enter counter, /proc/PID/seccomp_cache, the harmless list.
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "vm/guest/agent.h"

namespace secdiff::agent {

void logf(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "secdiff-agent: %s\n", buf);
  std::fflush(stderr);
}

// --- audit -----------------------------------------------------------------

namespace {

// From <linux/audit.h>, which cannot be included next to oracle/seccomp_abi.h
// (its AUDIT_ARCH_* macros clash with the oracle's constants).
constexpr uint16_t AUDIT_GET = 1000, AUDIT_SET = 1001;
constexpr uint32_t AUDIT_STATUS_PID = 4, AUDIT_STATUS_RATE_LIMIT = 8,
                   AUDIT_STATUS_BACKLOG_LIMIT = 16;
struct audit_status {
  uint32_t mask, enabled, failure, pid, rate_limit, backlog_limit, lost, backlog;
  uint32_t feature_bitmap;
  uint32_t backlog_wait_time, backlog_wait_time_actual;
};
constexpr uint16_t kAuditSeccomp = 1326;  // AUDIT_SECCOMP
constexpr uint16_t kAuditUserAvc = 1107;  // AUDIT_USER_AVC: accepted even with audit disabled

// Value of `key` (e.g. " pid=") in an audit record, parsed with base `base`.
bool field(const std::string& s, const char* key, int base, unsigned long long* out,
           size_t from = 0) {
  const size_t p = s.find(key, from);
  if (p == std::string::npos) return false;
  const char* v = s.c_str() + p + std::strlen(key);
  char* end = nullptr;
  errno = 0;
  const long long sv = std::strtoll(v, &end, base);
  if (end == v) return false;
  if (errno == ERANGE) {
    *out = std::strtoull(v, &end, base);
  } else {
    *out = static_cast<unsigned long long>(sv);
  }
  return true;
}

}  // namespace

AuditLog::~AuditLog() { close_log(); }

void AuditLog::close_log() {
  if (fd_ < 0) return;
  if (registered_ && !pid1_) {
    // Unregister, so the kernel stops sending us records.
    audit_status st{};
    st.mask = AUDIT_STATUS_PID;
    st.pid = 0;
    std::string why;
    request(AUDIT_SET, &st, sizeof st, true, &why);
  }
  close(fd_);
  fd_ = -1;
  registered_ = false;
}

bool AuditLog::request(uint16_t type, const void* data, size_t len, bool ack, std::string* why) {
  struct {
    nlmsghdr h;
    char payload[512];
  } m{};
  if (len > sizeof m.payload) return false;
  m.h.nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(len));
  m.h.nlmsg_type = type;
  m.h.nlmsg_flags = NLM_F_REQUEST | (ack ? NLM_F_ACK : 0);
  m.h.nlmsg_seq = seq_++;
  std::memcpy(m.payload, data, len);
  sockaddr_nl to{};
  to.nl_family = AF_NETLINK;
  if (sendto(fd_, &m, m.h.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
    *why = std::string("audit sendto: ") + std::strerror(errno);
    return false;
  }
  if (!ack) return true;
  // Wait for the ACK (and for AUDIT_GET the status reply, which the kernel may
  // send after the ACK). Records that arrive meanwhile are dropped.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  alignas(nlmsghdr) char buf[8192];
  bool acked = false, replied = type != AUDIT_GET;
  while (std::chrono::steady_clock::now() < deadline && !(acked && replied)) {
    pollfd pf{fd_, POLLIN, 0};
    if (poll(&pf, 1, 100) <= 0) continue;
    const ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n < static_cast<ssize_t>(NLMSG_HDRLEN)) continue;
    const auto* h = reinterpret_cast<const nlmsghdr*>(buf);
    if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_seq == m.h.nlmsg_seq) {
      const auto* e = reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(h));
      if (e->error != 0) {
        *why = std::string("audit request ") + std::to_string(type) + ": " + std::strerror(-e->error);
        return false;
      }
      acked = true;
    } else if (h->nlmsg_type == AUDIT_GET && type == AUDIT_GET) {
      // The status reply goes back into the caller's struct.
      const size_t got = static_cast<size_t>(n) - NLMSG_HDRLEN;
      std::memcpy(const_cast<void*>(data), NLMSG_DATA(h), std::min({len, got, sizeof(audit_status)}));
      replied = true;
    }
  }
  if (acked && replied) return true;
  *why = "no answer to audit request " + std::to_string(type);
  return false;
}

bool AuditLog::open(bool pid1, std::string* why) {
  pid1_ = pid1;
  fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
  if (fd_ < 0) {
    *why = std::string("NETLINK_AUDIT socket: ") + std::strerror(errno);
    return false;
  }
  const int big = 8 << 20;
  if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) != 0)
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  sockaddr_nl me{};
  me.nl_family = AF_NETLINK;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&me), sizeof me) != 0) {
    *why = std::string("bind NETLINK_AUDIT: ") + std::strerror(errno);
    close(fd_);
    fd_ = -1;
    return false;
  }
  if (!pid1) {
    // Leave a running audit daemon alone.
    audit_status cur{};
    cur.pid = 0;
    if (request(AUDIT_GET, &cur, sizeof cur, true, why) && cur.pid != 0 &&
        kill(static_cast<pid_t>(cur.pid), 0) == 0) {
      *why = "another audit daemon (pid " + std::to_string(cur.pid) + ") is registered";
      close(fd_);
      fd_ = -1;
      return false;
    }
  }
  audit_status st{};
  st.mask = AUDIT_STATUS_PID;
  st.pid = static_cast<uint32_t>(getpid());
  if (pid1) {
    // Not AUDIT_STATUS_ENABLED: AUDIT_SECCOMP records come without it, and with
    // audit enabled every task would get a syscall audit context.
    st.mask |= AUDIT_STATUS_BACKLOG_LIMIT | AUDIT_STATUS_RATE_LIMIT;
    st.backlog_limit = 100000;
    st.rate_limit = 0;
  }
  if (!request(AUDIT_SET, &st, sizeof st, true, why)) {
    close(fd_);
    fd_ = -1;
    return false;
  }
  registered_ = true;
  if (!sync(2000)) {
    *why = "the audit marker did not come back";
    close_log();
    return false;
  }
  records_.clear();
  return true;
}

// Reads one netlink message (waiting up to timeout_ms); false if none.
bool AuditLog::recv_one(int timeout_ms, bool* marker_seen) {
  alignas(nlmsghdr) static char buf[1 << 16];
  if (timeout_ms > 0) {
    pollfd pf{fd_, POLLIN, 0};
    if (poll(&pf, 1, timeout_ms) <= 0) return false;
  }
  const ssize_t n = recv(fd_, buf, sizeof buf - 1, MSG_DONTWAIT);
  if (n < static_cast<ssize_t>(NLMSG_HDRLEN)) return n >= 0;
  const auto* h = reinterpret_cast<const nlmsghdr*>(buf);
  // Records from kauditd carry one record per datagram, and their nlmsg_len is
  // the payload length without the header (kernel quirk): take the datagram.
  std::string text(buf + NLMSG_HDRLEN, static_cast<size_t>(n) - NLMSG_HDRLEN);
  while (!text.empty() && (text.back() == '\0' || text.back() == '\n')) text.pop_back();
  if (h->nlmsg_type == kAuditUserAvc) {
    if (!marker_.empty() && text.find(marker_) != std::string::npos) *marker_seen = true;
    return true;
  }
  if (h->nlmsg_type != kAuditSeccomp) return true;
  Record r;
  unsigned long long v = 0;
  if (!field(text, " pid=", 10, &v)) return true;
  r.pid = static_cast<int32_t>(v);
  // The fields after comm/exe (which are quoted or hex).
  const size_t sig_at = text.rfind(" sig=");
  if (sig_at == std::string::npos) return true;
  if (field(text, " sig=", 10, &v, sig_at)) r.sig = static_cast<int32_t>(v);
  if (field(text, " arch=", 16, &v, sig_at)) r.arch = static_cast<uint32_t>(v);
  if (field(text, " syscall=", 10, &v, sig_at)) r.syscall = static_cast<int32_t>(v);
  if (field(text, " ip=0x", 16, &v, sig_at)) r.ip = v;
  if (field(text, " code=0x", 16, &v, sig_at)) r.code = static_cast<uint32_t>(v);
  r.epoch = epoch_;
  records_.push_back(r);
  return true;
}

void AuditLog::drain() {
  if (!ok()) return;
  bool marker = false;
  for (int i = 0; i < 100000; ++i) {
    pollfd pf{fd_, POLLIN, 0};
    if (poll(&pf, 1, 0) <= 0) break;
    if (!recv_one(0, &marker)) break;
  }
}

bool AuditLog::sync(int timeout_ms) {
  if (fd_ < 0 || !registered_) return false;
  marker_ = "secdiff-sync " + std::to_string(getpid()) + " " + std::to_string(epoch_);
  std::string why;
  std::string payload = marker_;
  payload.push_back('\0');
  if (!request(kAuditUserAvc, payload.data(), payload.size(), false, &why)) return false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  bool seen = false;
  while (!seen) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) break;
    recv_one(static_cast<int>(left), &seen);
  }
  ++epoch_;
  return seen;
}

// --- witness ---------------------------------------------------------------

Witness::~Witness() {
  for (int& fd : anchors_)
    if (fd >= 0) close(fd);
}

namespace {
long read_tracepoint_id(const char* name) {
  for (const char* base : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
    const std::string path = std::string(base) + "/events/raw_syscalls/" + name + "/id";
    FILE* f = std::fopen(path.c_str(), "r");
    if (f == nullptr) continue;
    long id = -1;
    if (std::fscanf(f, "%ld", &id) != 1) id = -1;
    std::fclose(f);
    if (id >= 0) return id;
  }
  return -1;
}

int perf_open(long config, pid_t pid, bool disabled) {
  perf_event_attr a{};
  a.type = PERF_TYPE_TRACEPOINT;
  a.size = sizeof a;
  a.config = static_cast<uint64_t>(config);
  a.disabled = disabled ? 1 : 0;
  return static_cast<int>(syscall(SYS_perf_event_open, &a, pid, -1, -1, PERF_FLAG_FD_CLOEXEC));
}
}  // namespace

bool Witness::init(std::string* why) {
  const long enter = read_tracepoint_id("sys_enter");
  exit_id_ = read_tracepoint_id("sys_exit");
  if (enter < 0) {
    *why = "no raw_syscalls/sys_enter tracepoint (tracefs not mounted or FTRACE_SYSCALLS off)";
    return false;
  }
  id_ = enter;
  return true;
}

// Anchors: with one perf user open for the agent's lifetime the tracepoints'
// static keys stay enabled, so a per-task counter does not patch kernel text
// (~60 ms per open/close under TCG otherwise). Disabled events still register
// the probe. Opened on first use: they cost ~2 x 60 ms of text patching, which
// a VM that never needs the witness (no ambiguous result) should not pay at boot.
bool Witness::anchor() {
  if (anchors_[0] >= 0) return true;
  if (anchor_failed_) return false;
  anchors_[0] = perf_open(id_, 0, true);
  if (anchors_[0] < 0) {
    anchor_failed_ = true;
    return false;
  }
  if (exit_id_ >= 0) anchors_[1] = perf_open(exit_id_, 0, true);
  return true;
}

int Witness::open_counter(pid_t tid) {
  if (id_ < 0 || !anchor()) return -1;
  return perf_open(id_, tid, false);
}

int64_t Witness::read_counter(int fd) {
  uint64_t v = 0;
  if (fd < 0 || read(fd, &v, sizeof v) != static_cast<ssize_t>(sizeof v)) return -1;
  return static_cast<int64_t>(v);
}

// --- /proc/PID/seccomp_cache -------------------------------------------------

bool read_seccomp_cache(pid_t tid, std::vector<bool>* native, std::vector<bool>* compat) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/seccomp_cache", static_cast<int>(tid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  // ~900 lines, ~16 KB: one read normally. Parsed by hand (no allocation per
  // line, no strtol): under TCG the parse cost a third of the read.
  static std::vector<char> text(1 << 16);
  size_t len = 0;
  for (;;) {
    if (len == text.size()) text.resize(text.size() * 2);
    const ssize_t n = read(fd, text.data() + len, text.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return false;
    }
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  close(fd);
  native->clear();
  compat->clear();
  // "<arch> <nr> ALLOW|FILTER\n"
  const char* p = text.data();
  const char* const end = p + len;
  while (p < end) {
    const char* eol = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    if (eol == nullptr) eol = end;
    const char* sp = static_cast<const char*>(std::memchr(p, ' ', static_cast<size_t>(eol - p)));
    std::vector<bool>* b = nullptr;
    if (sp != nullptr) {
      const size_t alen = static_cast<size_t>(sp - p);
      if (alen == 6 && std::memcmp(p, "x86_64", 6) == 0) b = native;
      else if (alen == 4 && std::memcmp(p, "ia32", 4) == 0) b = compat;
    }
    if (b != nullptr) {
      const char* q = sp + 1;
      unsigned long nr = 0;
      int digits = 0;
      while (q < eol && *q >= '0' && *q <= '9' && digits < 6) nr = nr * 10 + static_cast<unsigned long>(*q++ - '0'), ++digits;
      if (digits > 0 && nr <= 65535 && q < eol && *q == ' ') {
        const bool allow = eol - q >= 6 && std::memcmp(q, " ALLOW", 6) == 0;
        if (b->size() <= nr) b->resize(nr + 1, false);
        (*b)[nr] = allow;
      }
    }
    p = eol + 1;
  }
  return true;
}

// --- harmless inputs ---------------------------------------------------------

namespace {
bool in_list(uint32_t v, std::initializer_list<uint32_t> l) {
  return std::find(l.begin(), l.end(), v) != l.end();
}
constexpr std::initializer_list<uint32_t> kHarmless64 = {39, 110, 102, 107, 104, 108, 186, 111, 24};
constexpr std::initializer_list<uint32_t> kHarmless32 = {20, 64, 24, 47, 49, 50, 224, 158};
constexpr uint32_t kFirstUnimplemented = 1000;
}  // namespace

uint64_t input_rax(const CaseInput& in) {
  uint64_t rax = static_cast<uint64_t>(in.nr);
  if (in.arch == Arch::X32) rax |= X32_SYSCALL_BIT;
  return rax;
}

bool is_harmless(Arch arch, int64_t nr) {
  CaseInput in;
  in.arch = arch;
  in.nr = nr;
  const uint32_t u = static_cast<uint32_t>(input_rax(in));
  if (arch == Arch::I386) return in_list(u, kHarmless32) || u >= kFirstUnimplemented;
  // The syscall instruction dispatches on the low 32 bits: do_syscall_x64 for
  // (unsigned)nr < NR_syscalls, then do_syscall_x32 for nr - __X32_SYSCALL_BIT.
  if (u & 0x80000000u) return true;
  const uint32_t base = u & ~X32_SYSCALL_BIT;
  return in_list(base, kHarmless64) || base >= kFirstUnimplemented;
}

}  // namespace secdiff::agent
