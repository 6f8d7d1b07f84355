// The compact, versioned binary encoding of a Case, shared by every fuzzing
// target (it is the fuzzers' input format) and carried by the VM protocol.
// decode_case() accepts any bytes: malformed input throws WireError, never crashes.
//
// Layout (little-endian), version 1:
//   u8  version (1)
//   u8  task flags: bit0 no_new_privs, bit1 tracer, bit2 other_threads, bit3 sigsys_handler
//   u8  number of filters (<= 16)
//   per filter: u32 flags, u16 length (<= 4096), length * {u16 code, u8 jt, u8 jf, u32 k}
//   u8  number of inputs (<= 64)
//   per input: u8 arch (0 x86_64, 1 i386, 2 x32), u8 has_ip, i64 nr, 6 * u64 args, u64 ip
#pragma once

#include <string>
#include <string_view>

#include "oracle/case.h"
#include "oracle/wire.h"

namespace secdiff {

inline constexpr uint8_t kCaseCodecVersion = 1;
inline constexpr size_t kMaxCaseFilters = 16;
inline constexpr size_t kMaxCaseInputs = 64;

std::string encode_case(const Case& c);
// The length of encode_case(c), without encoding it.
size_t encoded_case_size(const Case& c);
Case decode_case(std::string_view bytes);  // throws WireError
void encode_case(WireWriter& w, const Case& c);
Case decode_case(WireReader& r);

}  // namespace secdiff
