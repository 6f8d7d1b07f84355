// Coverage of a corpus at the BPF level (fuzzers/coverage_tally.h).
//   fuzz_coverage_report CORPUS_DIR|CASE...
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "fuzzers/coverage_tally.h"

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  secdiff::fuzz::CoverageTally t(/*track_sites=*/true);
  auto add = [&](const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    t.add_encoded(s.str());
  };
  for (int i = 1; i < argc; i++) {
    if (fs::is_directory(argv[i])) {
      for (const auto& e : fs::recursive_directory_iterator(argv[i]))
        if (e.is_regular_file() && e.path().filename().string()[0] != '.') add(e.path());
    } else {
      add(argv[i]);
    }
  }
  std::printf("cases %zu (decoded %zu), inputs %zu, distinct (case, filter, pc, bit) sites %zu\n", t.cases(),
              t.decoded(), t.inputs(), t.sites());
  std::string missing;
  for (uint16_t c : t.opcodes_missing()) {
    char b[16];
    std::snprintf(b, sizeof b, " 0x%02x", c);
    missing += b;
  }
  std::printf("seccomp opcodes executed: %zu/%zu%s%s\n", t.opcodes_hit(), t.opcodes_total(),
              missing.empty() ? "" : "  missing:", missing.c_str());
  std::printf("conditional jump directions: %zu/%zu (8 jump opcodes x taken/not taken)\n", t.directions_hit(),
              t.directions_total());
  std::string emu_missing;
  for (const std::string& e : t.emulator_missing()) emu_missing += " [" + e + "]";
  std::printf("cache emulator features reached: %zu/%zu%s%s\n", t.emulator_hit(),
              secdiff::fuzz::CoverageTally::emulator_features().size(), emu_missing.empty() ? "" : "  missing:",
              emu_missing.c_str());
  return 0;
}
