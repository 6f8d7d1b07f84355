// BPF-level coverage for the fuzzers: which filter instructions and branch
// directions the oracle executed (oracle/interpreter.h bpf_run_cov), which
// instructions and branches of the cache emulator (seccomp_is_const_allow)
// were reached, and a few semantic features (actions, cache hits, load-time
// rules). Keys are folded into one kCovSize-entry map that the engine backend
// turns into coverage:
//   libFuzzer  an extra-counters array in section __libfuzzer_extra_counters
//              (fuzzers/engine_libfuzzer.cc)
//   AFL++      kCovSize sanitizer-coverage guards registered with AFL++'s
//              runtime, i.e. slots of __afl_area_ptr (fuzzers/engine_afl.cc)
//   none       tests and tools: a plain array (cov_snapshot)
#pragma once

#include <cstddef>
#include <cstdint>

namespace secdiff::fuzz {

inline constexpr size_t kCovSize = size_t{1} << 16;

// Regions of the map.
inline constexpr uint32_t kCovBpfBase = 0;          // (filter, pc, executed/taken/not taken)
inline constexpr uint32_t kCovBpfSize = 1u << 15;
inline constexpr uint32_t kCovEmuBase = 1u << 15;   // (filter, arch, pc, direction) of the emulator
inline constexpr uint32_t kCovEmuSize = 1u << 14;
inline constexpr uint32_t kCovMiscBase = (1u << 15) + (1u << 14);  // features
inline constexpr uint32_t kCovMiscSize = 1u << 14;

using CovSink = void (*)(uint32_t index);  // index < kCovSize
// Installed by the engine backend; the default records into a plain array.
void set_cov_sink(CovSink sink);
CovSink cov_sink();

inline uint32_t cov_mix(uint32_t a, uint32_t b) {
  uint32_t h = a * 0x9e3779b1u ^ (b + 0x7f4a7c15u + (a << 6) + (a >> 2));
  h ^= h >> 15;
  h *= 0x2c1b3c6du;
  h ^= h >> 12;
  return h;
}

// bit: 0 executed, 1 taken, 2 not taken (bpf_run_cov's bits).
inline void cov_bpf(unsigned filter, unsigned pc, unsigned bit) {
  const uint32_t key = ((filter & 15u) * 4096u + (pc & 4095u)) * 3u + bit;
  cov_sink()(kCovBpfBase + (key < kCovBpfSize ? key : cov_mix(key, 1) % kCovBpfSize));
}
// arch: 0 native, 1 compat, 2 other; dir: 0 executed, 1 taken, 2 not taken, 3 gave up, 4 allow
inline void cov_emu(unsigned filter, unsigned arch, unsigned pc, unsigned dir) {
  const uint32_t key = cov_mix(cov_mix(filter, arch), pc * 8 + dir);
  cov_sink()(kCovEmuBase + key % kCovEmuSize);
}
// A feature: (kind, value) hashed into the misc region.
inline void cov_feature(uint32_t kind, uint32_t value) {
  cov_sink()(kCovMiscBase + cov_mix(kind, value) % kCovMiscSize);
}

// The default sink's array (for tests and the coverage report tool).
uint8_t* cov_default_map();

}  // namespace secdiff::fuzz
