#include "vm/protocol.h"

#include "oracle/case_codec.h"

namespace secdiff::vm {

std::string encode_frame(MsgType type, std::string_view payload) {
  if (payload.size() > kMaxPayload) throw ProtocolError("payload too large");
  WireWriter w;
  w.u32(kMagic);
  w.u16(kProtocolVersion);
  w.u16(static_cast<uint16_t>(type));
  w.u32(static_cast<uint32_t>(payload.size()));
  w.u32(crc32(payload));
  w.bytes(payload.data(), payload.size());
  return std::move(w.data());
}

std::optional<Frame> FrameDecoder::next() {
  if (buf_.size() < kHeaderSize) return std::nullopt;
  WireReader r(std::string_view(buf_).substr(0, kHeaderSize));
  const uint32_t magic = r.u32();
  const uint16_t version = r.u16();
  const uint16_t type = r.u16();
  const uint32_t len = r.u32();
  const uint32_t crc = r.u32();
  if (magic != kMagic) throw ProtocolError("bad frame magic");
  if (version != kProtocolVersion)
    throw ProtocolError("protocol version " + std::to_string(version) + " (expected " +
                        std::to_string(kProtocolVersion) + ")");
  if (len > kMaxPayload) throw ProtocolError("frame too large");
  if (type < 1 || type > 7) throw ProtocolError("unknown message type " + std::to_string(type));
  if (buf_.size() < kHeaderSize + len) return std::nullopt;
  Frame f{static_cast<MsgType>(type), buf_.substr(kHeaderSize, len)};
  if (crc32(f.payload) != crc) throw ProtocolError("frame checksum mismatch");
  buf_.erase(0, kHeaderSize + len);
  return f;
}

namespace {

void put_bitmap(WireWriter& w, const std::vector<bool>& b) {
  w.u16(static_cast<uint16_t>(b.size()));
  uint8_t byte = 0;
  for (size_t i = 0; i < b.size(); i++) {
    if (b[i]) byte |= static_cast<uint8_t>(1u << (i % 8));
    if (i % 8 == 7) {
      w.u8(byte);
      byte = 0;
    }
  }
  if (b.size() % 8) w.u8(byte);
}

std::vector<bool> get_bitmap(WireReader& r) {
  const uint16_t n = r.u16();
  std::vector<bool> b(n);
  uint8_t byte = 0;
  for (size_t i = 0; i < n; i++) {
    if (i % 8 == 0) byte = r.u8();
    b[i] = byte & (1u << (i % 8));
  }
  return b;
}

}  // namespace

std::string encode(const Hello& h) {
  WireWriter w;
  w.u32(h.agent_version);
  w.str(h.kernel_release);
  w.str(h.kernel_version);
  w.u32(h.features);
  w.i32(h.jit_enable);
  w.i32(h.jit_harden);
  return std::move(w.data());
}

Hello decode_hello(std::string_view p) {
  WireReader r(p);
  Hello h;
  h.agent_version = r.u32();
  h.kernel_release = r.str(256);
  h.kernel_version = r.str(256);
  h.features = r.u32();
  h.jit_enable = r.i32();
  h.jit_harden = r.i32();
  return h;
}

std::string encode(const RunBatch& b) {
  WireWriter w;
  w.u64(b.batch_id);
  w.i32(b.jit);
  w.u32(b.timeout_ms);
  w.u32(static_cast<uint32_t>(b.cases.size()));
  for (const Case& c : b.cases) encode_case(w, c);
  return std::move(w.data());
}

RunBatch decode_run(std::string_view p) {
  WireReader r(p);
  RunBatch b;
  b.batch_id = r.u64();
  b.jit = r.i32();
  b.timeout_ms = r.u32();
  const uint32_t n = r.u32();
  if (n > 100000) throw WireError("too many cases in a batch");
  for (uint32_t i = 0; i < n; i++) b.cases.push_back(decode_case(r));
  return b;
}

std::string encode(const ResultBatch& b) {
  WireWriter w;
  w.u64(b.batch_id);
  w.u32(static_cast<uint32_t>(b.results.size()));
  for (const CaseResult& c : b.results) {
    w.u8(static_cast<uint8_t>(c.installs.size()));
    for (const KernelInstall& i : c.installs) {
      w.i64(i.ret);
      w.i32(i.err);
      w.u8(i.has_cache);
      if (i.has_cache) {
        put_bitmap(w, i.cache_native);
        put_bitmap(w, i.cache_compat);
      }
    }
    w.u8(static_cast<uint8_t>(c.outcomes.size()));
    for (const KernelOutcome& o : c.outcomes) {
      w.u8(static_cast<uint8_t>(o.kind));
      w.i64(o.rax);
      w.i32(o.signo);
      w.i32(o.sig_code);
      w.i32(o.sig_errno);
      w.i32(o.sig_syscall);
      w.u32(o.sig_arch);
      w.u64(o.sig_call_addr);
      w.i32(o.term_signal);
      w.u8(o.whole_process);
      w.u8(o.ptrace_event);
      w.u32(o.ptrace_msg);
      w.u8(o.notified);
      w.u8(static_cast<uint8_t>(o.dispatched));
      w.u8(o.audit_seen);
      w.u32(o.audit_code);
      w.u64(o.ip_used);
    }
    w.str(c.note);
  }
  return std::move(w.data());
}

ResultBatch decode_result(std::string_view p) {
  WireReader r(p);
  ResultBatch b;
  b.batch_id = r.u64();
  const uint32_t n = r.u32();
  if (n > 100000) throw WireError("too many results in a batch");
  for (uint32_t i = 0; i < n; i++) {
    CaseResult c;
    const uint8_t ni = r.u8();
    for (unsigned k = 0; k < ni; k++) {
      KernelInstall in;
      in.ret = r.i64();
      in.err = r.i32();
      in.has_cache = r.u8();
      if (in.has_cache) {
        in.cache_native = get_bitmap(r);
        in.cache_compat = get_bitmap(r);
      }
      c.installs.push_back(std::move(in));
    }
    const uint8_t no = r.u8();
    for (unsigned k = 0; k < no; k++) {
      KernelOutcome o;
      const uint8_t kind = r.u8();
      if (kind > 4) throw WireError("unknown outcome kind");
      o.kind = static_cast<OutcomeKind>(kind);
      o.rax = r.i64();
      o.signo = r.i32();
      o.sig_code = r.i32();
      o.sig_errno = r.i32();
      o.sig_syscall = r.i32();
      o.sig_arch = r.u32();
      o.sig_call_addr = r.u64();
      o.term_signal = r.i32();
      o.whole_process = r.u8();
      o.ptrace_event = r.u8();
      o.ptrace_msg = r.u32();
      o.notified = r.u8();
      o.dispatched = static_cast<int8_t>(r.u8());
      o.audit_seen = r.u8();
      o.audit_code = r.u32();
      o.ip_used = r.u64();
      c.outcomes.push_back(o);
    }
    c.note = r.str();
    b.results.push_back(std::move(c));
  }
  return b;
}

}  // namespace secdiff::vm
