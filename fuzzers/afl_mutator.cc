// The structure-aware mutator through AFL++'s custom mutator API
// (docs/custom_mutators.md): build libsecdiff_afl_mutator.so and run
//   AFL_CUSTOM_MUTATOR_LIBRARY=.../libsecdiff_afl_mutator.so AFL_CUSTOM_MUTATOR_ONLY=1 afl-fuzz ...
// afl_custom_fuzz mutates one case (or crosses it with add_buf, another queue
// entry, when AFL++ offers one); the seed is AFL++'s, so runs are repeatable.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "fuzzers/mutator.h"

namespace {

struct State {
  secdiff::fuzz::CaseMutator mutator;
  secdiff::fuzz::Rng rng;
  std::vector<uint8_t> buf;
  explicit State(unsigned seed) : rng(seed) {}
};

}  // namespace

extern "C" {

void* afl_custom_init(void* /*afl*/, unsigned int seed) { return new State(seed); }

size_t afl_custom_fuzz(void* data, uint8_t* in, size_t in_size, uint8_t** out, uint8_t* add_buf,
                       size_t add_size, size_t max_size) {
  State* s = static_cast<State*>(data);
  const size_t cap = max_size ? max_size : (1u << 16);
  s->buf.resize(cap);
  const uint64_t seed = s->rng.next();
  size_t n;
  if (add_buf && add_size && s->rng.chance(0.15)) {
    n = s->mutator.crossover_bytes(in, in_size, add_buf, add_size, s->buf.data(), cap, seed);
  } else {
    const size_t m = in_size < cap ? in_size : cap;
    std::memcpy(s->buf.data(), in, m);
    n = s->mutator.mutate_bytes(s->buf.data(), m, cap, seed);
  }
  *out = s->buf.data();
  return n;
}

void afl_custom_deinit(void* data) { delete static_cast<State*>(data); }

const char* afl_custom_describe(void* /*data*/, size_t /*max_description_len*/) {
  return "secdiff-case";
}

}  // extern "C"
