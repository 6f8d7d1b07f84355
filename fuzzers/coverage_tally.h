// What a set of cases covers at the BPF level: which of the 41 seccomp opcodes
// ran, which conditional-jump directions were taken, and which instructions
// and branches of the cache emulator (seccomp_is_const_allow) were reached.
// Used by `secdiff fuzz` (live share of opcodes and branches covered) and by
// fuzz_coverage_report.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "oracle/case.h"

namespace secdiff::fuzz {

class CoverageTally {
 public:
  // track_sites: also count distinct (case, filter, pc, bit) sites (memory grows with the corpus).
  explicit CoverageTally(bool track_sites = false) : track_sites_(track_sites) {}
  void add(const Case& c);
  // Decodes and adds; false when `bytes` is not a case.
  bool add_encoded(std::string_view bytes);

  size_t cases() const { return cases_; }
  size_t decoded() const { return decoded_; }
  size_t inputs() const { return inputs_; }
  size_t sites() const { return sites_.size(); }  // distinct (case, filter, pc, bit)
  size_t opcodes_hit() const;
  size_t opcodes_total() const;
  size_t directions_hit() const;                  // conditional jumps x taken / not taken
  size_t directions_total() const;
  std::vector<uint16_t> opcodes_missing() const;
  static const std::vector<std::string>& emulator_features();
  size_t emulator_hit() const;
  std::vector<std::string> emulator_missing() const;

 private:
  std::set<uint16_t> executed_;
  std::set<std::pair<uint16_t, int>> directions_;
  std::set<std::string> emu_;
  std::set<std::tuple<size_t, size_t, int>> sites_;
  size_t cases_ = 0, decoded_ = 0, inputs_ = 0;
  bool track_sites_;
};

}  // namespace secdiff::fuzz
