// Driver for the plain (-DSECDIFF_FUZZ=none) build of a target: replays files
// and directories through LLVMFuzzerTestOneInput, then optionally mutates
// them with the structure-aware mutator (no coverage feedback) for
// -runs=N inputs or -max_total_time=S seconds. Used by the smoke tests and to
// reproduce findings without a fuzzing engine.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fuzzers/mutator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  uint64_t runs = 0, seed = 1;
  double max_time = 0;
  std::vector<std::string> corpus;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    if (a.rfind("-runs=", 0) == 0) {
      runs = std::strtoull(a.c_str() + 6, nullptr, 10);
    } else if (a.rfind("-seed=", 0) == 0) {
      seed = std::strtoull(a.c_str() + 6, nullptr, 10);
    } else if (a.rfind("-max_total_time=", 0) == 0) {
      max_time = std::strtod(a.c_str() + 16, nullptr);
    } else if (a.rfind("-", 0) == 0) {
      std::fprintf(stderr, "ignoring option %s\n", a.c_str());
    } else if (fs::is_directory(a)) {
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(a))
        if (e.is_regular_file()) files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) corpus.push_back(read_file(f));
    } else {
      corpus.push_back(read_file(a));
    }
  }
  for (const std::string& c : corpus)
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(c.data()), c.size());
  std::fprintf(stderr, "replayed %zu inputs\n", corpus.size());
  if (runs == 0 && max_time <= 0) return 0;
  const secdiff::fuzz::CaseMutator m;
  secdiff::fuzz::Rng r(seed);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<uint8_t> buf(1 << 16);
  uint64_t n = 0;
  for (; runs == 0 || n < runs; n++) {
    if (max_time > 0 && (n & 63) == 0 &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > max_time)
      break;
    size_t size = 0;
    if (!corpus.empty() && r.chance(0.9)) {
      const std::string& c = corpus[r.below(static_cast<uint32_t>(corpus.size()))];
      size = std::min(c.size(), buf.size());
      std::memcpy(buf.data(), c.data(), size);
    }
    size = m.mutate_bytes(buf.data(), size, buf.size(), r.next());
    LLVMFuzzerTestOneInput(buf.data(), size);
    if (r.chance(0.05) && corpus.size() < 4096) corpus.emplace_back(reinterpret_cast<char*>(buf.data()), size);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "ran %llu mutated inputs in %.1f s (%.0f/s)\n",
               static_cast<unsigned long long>(n), secs, secs > 0 ? static_cast<double>(n) / secs : 0.0);
  return 0;
}
