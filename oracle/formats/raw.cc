// Raw format: a little-endian struct sock_filter array, 8 bytes per
// instruction (u16 code, u8 jt, u8 jf, u32 k), as firejail and bubblewrap store it.
#include <string>

#include "oracle/formats/formats.h"

namespace secdiff {

Program parse_raw(std::string_view bytes) {
  if (bytes.size() % 8 != 0)
    throw FormatError("raw filter size " + std::to_string(bytes.size()) +
                      " bytes is not a multiple of 8 (sizeof(struct sock_filter))");
  Program p(bytes.size() / 8);
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  for (Insn& in : p) {
    in.code = static_cast<uint16_t>(b[0] | b[1] << 8);
    in.jt = b[2];
    in.jf = b[3];
    in.k = uint32_t{b[4]} | uint32_t{b[5]} << 8 | uint32_t{b[6]} << 16 | uint32_t{b[7]} << 24;
    b += 8;
  }
  return p;
}

std::string write_raw(const Program& p) {
  std::string out(p.size() * 8, '\0');
  char* b = out.data();
  for (const Insn& in : p) {
    b[0] = static_cast<char>(in.code & 0xff);
    b[1] = static_cast<char>(in.code >> 8);
    b[2] = static_cast<char>(in.jt);
    b[3] = static_cast<char>(in.jf);
    for (int i = 0; i < 4; ++i) b[4 + i] = static_cast<char>((in.k >> (8 * i)) & 0xff);
    b += 8;
  }
  return out;
}

}  // namespace secdiff
