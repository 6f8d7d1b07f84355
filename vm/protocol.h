// The host <-> guest-agent protocol over virtio-serial: versioned,
// length-prefixed, checksummed frames.
//
// Frame: 16-byte header {u32 magic "SDF1", u16 version, u16 type, u32 payload
// length, u32 CRC-32 of the payload} then the payload. Payloads are built with
// WireWriter (little-endian). A bad magic, version, length or checksum is a
// ProtocolError: the host treats the VM as broken (restart, retry the batch).
//
//   guest -> host  Hello   once after boot: what this kernel is and can do
//   host  -> guest Run     a batch of cases (oracle/case_codec.h encoding)
//   guest -> host  Result  one CaseResult per case, in order
//   host  -> guest Ping    guest answers Pong with the same nonce
//   guest -> host  Log     diagnostics (free text)
//   host  -> guest Shutdown
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "oracle/case.h"
#include "oracle/wire.h"

namespace secdiff::vm {

inline constexpr uint32_t kMagic = 0x31464453;  // "SDF1"
inline constexpr uint16_t kProtocolVersion = 1;
inline constexpr size_t kHeaderSize = 16;
inline constexpr uint32_t kMaxPayload = 64u << 20;

enum class MsgType : uint16_t { Hello = 1, Run = 2, Result = 3, Ping = 4, Pong = 5, Log = 6, Shutdown = 7 };

class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Frame {
  MsgType type;
  std::string payload;
};

std::string encode_frame(MsgType type, std::string_view payload);

// Incremental decoder: feed() bytes as they arrive, then next() until nullopt.
class FrameDecoder {
 public:
  void feed(const char* data, size_t n) { buf_.append(data, n); }
  std::optional<Frame> next();  // throws ProtocolError
  size_t buffered() const { return buf_.size(); }

 private:
  std::string buf_;
};

// --- messages ---

enum Feature : uint32_t {
  kFeatureCacheDebug = 1u << 0,  // /proc/PID/seccomp_cache exists (CONFIG_SECCOMP_CACHE_DEBUG)
  kFeatureX32 = 1u << 1,         // CONFIG_X86_X32_ABI
  kFeatureIa32 = 1u << 2,        // CONFIG_IA32_EMULATION
  kFeatureJitSysctl = 1u << 3,   // net.core.bpf_jit_enable is writable
  kFeatureAudit = 1u << 4,       // AUDIT_SECCOMP records can be read
  kFeatureTracepoints = 1u << 5, // raw_syscalls tracepoints (dispatch witness)
};

struct Hello {
  uint32_t agent_version = 1;
  std::string kernel_release;  // uname -r
  std::string kernel_version;  // uname -v
  uint32_t features = 0;
  int32_t jit_enable = -1;     // net.core.bpf_jit_enable at boot (-1 unknown)
  int32_t jit_harden = -1;
};

struct RunBatch {
  uint64_t batch_id = 0;
  int32_t jit = -1;            // set net.core.bpf_jit_enable first: -1 leave, 0 or 1
  uint32_t timeout_ms = 2000;  // per syscall: longer counts as blocked and is ended
  std::vector<Case> cases;
};

struct KernelInstall {
  int64_t ret = 0;             // seccomp() return value (fd with NEW_LISTENER)
  int32_t err = 0;             // errno when ret == -1
  bool has_cache = false;      // bitmaps read from /proc/PID/seccomp_cache after the install
  std::vector<bool> cache_native, cache_compat;
};

enum class OutcomeKind : uint8_t {
  Returned = 0,  // the syscall instruction returned; rax holds the value
  Trapped = 1,   // SIGSYS reached the handler (then rax as the handler saw it)
  Killed = 2,    // the task died of a signal
  Blocked = 3,   // still in the syscall after timeout_ms (ended by the agent)
  NotRun = 4,    // the harness could not run it (reason in CaseResult::note)
};

struct KernelOutcome {
  OutcomeKind kind = OutcomeKind::NotRun;
  int64_t rax = 0;
  // SIGSYS siginfo (Trapped)
  int32_t signo = 0, sig_code = 0, sig_errno = 0, sig_syscall = 0;
  uint32_t sig_arch = 0;
  uint64_t sig_call_addr = 0;
  // Killed
  int32_t term_signal = 0;
  bool whole_process = false;  // false: only the syscall's thread died
  // TRACE: the agent is the tracer
  bool ptrace_event = false;
  uint32_t ptrace_msg = 0;
  // USER_NOTIF: the agent holds the listener
  bool notified = false;
  // Dispatch witness: -1 not measured, 0 the syscall did not run, 1 it ran
  int8_t dispatched = -1;
  // AUDIT_SECCOMP record seen for this syscall (code = action only)
  bool audit_seen = false;
  uint32_t audit_code = 0;
  uint64_t ip_used = 0;  // instruction_pointer the kernel saw
};

struct CaseResult {
  std::vector<KernelInstall> installs;  // one per filter, in order
  std::vector<KernelOutcome> outcomes;  // one per input, in order
  std::string note;                     // harness remarks (empty normally)
};

struct ResultBatch {
  uint64_t batch_id = 0;
  std::vector<CaseResult> results;
};

std::string encode(const Hello&);
std::string encode(const RunBatch&);
std::string encode(const ResultBatch&);
Hello decode_hello(std::string_view payload);        // throw WireError on malformed payloads
RunBatch decode_run(std::string_view payload);
ResultBatch decode_result(std::string_view payload);

}  // namespace secdiff::vm
