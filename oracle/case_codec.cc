#include "oracle/case_codec.h"

#include <bit>
#include <cstddef>
#include <cstring>

namespace secdiff {

// The wire layout of an instruction is struct sock_filter's, little-endian:
// on a little-endian host a program is copied as it is.
static_assert(sizeof(Insn) == 8 && offsetof(Insn, jt) == 2 && offsetof(Insn, jf) == 3 && offsetof(Insn, k) == 4);
constexpr bool kInsnsAsIs = std::endian::native == std::endian::little;

void encode_case(WireWriter& w, const Case& c) {
  w.u8(kCaseCodecVersion);
  w.u8(static_cast<uint8_t>((c.task.no_new_privs ? 1 : 0) | (c.task.tracer ? 2 : 0) |
                            (c.task.other_threads ? 4 : 0) | (c.task.sigsys_handler ? 8 : 0)));
  if (c.filters.size() > kMaxCaseFilters) throw WireError("too many filters");
  w.u8(static_cast<uint8_t>(c.filters.size()));
  for (const CaseFilter& f : c.filters) {
    if (f.prog.size() > 0xffff) throw WireError("filter too long");
    w.u32(f.flags);
    w.u16(static_cast<uint16_t>(f.prog.size()));
    if constexpr (kInsnsAsIs) {
      w.bytes(f.prog.data(), f.prog.size() * sizeof(Insn));
      continue;
    }
    for (const Insn& i : f.prog) {
      w.u16(i.code);
      w.u8(i.jt);
      w.u8(i.jf);
      w.u32(i.k);
    }
  }
  if (c.inputs.size() > kMaxCaseInputs) throw WireError("too many inputs");
  w.u8(static_cast<uint8_t>(c.inputs.size()));
  for (const CaseInput& in : c.inputs) {
    w.u8(static_cast<uint8_t>(in.arch));
    w.u8(in.ip.has_value());
    w.i64(in.nr);
    for (uint64_t a : in.args) w.u64(a);
    w.u64(in.ip.value_or(0));
  }
}

Case decode_case(WireReader& r) {
  Case c;
  if (r.u8() != kCaseCodecVersion) throw WireError("unknown case encoding version");
  const uint8_t t = r.u8();
  c.task.no_new_privs = t & 1;
  c.task.tracer = t & 2;
  c.task.other_threads = t & 4;
  c.task.sigsys_handler = t & 8;
  const uint8_t nf = r.u8();
  if (nf > kMaxCaseFilters) throw WireError("too many filters");
  c.filters.reserve(nf);
  for (unsigned i = 0; i < nf; i++) {
    CaseFilter f;
    f.flags = r.u32();
    const uint16_t len = r.u16();
    if (len > 4096) throw WireError("filter longer than 4096 instructions");
    if (static_cast<size_t>(len) * 8 > r.remaining()) throw WireError("truncated filter");
    f.prog.resize(len);
    if constexpr (kInsnsAsIs) {
      r.bytes(f.prog.data(), f.prog.size() * sizeof(Insn));
      c.filters.push_back(std::move(f));
      continue;
    }
    for (Insn& in : f.prog) {
      in.code = r.u16();
      in.jt = r.u8();
      in.jf = r.u8();
      in.k = r.u32();
    }
    c.filters.push_back(std::move(f));
  }
  const uint8_t ni = r.u8();
  if (ni > kMaxCaseInputs) throw WireError("too many inputs");
  c.inputs.reserve(ni);
  for (unsigned i = 0; i < ni; i++) {
    CaseInput in;
    const uint8_t arch = r.u8();
    if (arch > 2) throw WireError("unknown arch");
    in.arch = static_cast<Arch>(arch);
    const bool has_ip = r.u8();
    in.nr = r.i64();
    for (uint64_t& a : in.args) a = r.u64();
    const uint64_t ip = r.u64();
    if (has_ip) in.ip = ip;
    c.inputs.push_back(in);
  }
  return c;
}

size_t encoded_case_size(const Case& c) {
  size_t n = 4 + 66 * c.inputs.size();  // version, task, counts; 2 + 8 * 8 per input
  for (const CaseFilter& f : c.filters) n += 6 + 8 * f.prog.size();
  return n;
}

std::string encode_case(const Case& c) {
  WireWriter w;
  w.reserve(encoded_case_size(c));
  encode_case(w, c);
  return std::move(w.data());
}

Case decode_case(std::string_view bytes) {
  WireReader r(bytes);
  Case c = decode_case(r);
  if (!r.done()) throw WireError("trailing bytes after the case");
  return c;
}

}  // namespace secdiff
