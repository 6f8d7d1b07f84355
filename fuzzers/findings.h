// Findings of the fuzz targets: every property violation (and, through the
// sanitizer death callback, every crash) is saved at once as a case in the
// compact encoding (<sig>.case, loadable with decode_case or `secdiff` case
// tools) plus a readable report (<sig>.txt: what broke, the disassembly of
// every filter, the inputs and the oracle's prediction), deduplicated by a
// signature of what broke: property + model + kind. The first case for a
// signature is kept; later ones only count (<sig>.count).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "oracle/case.h"

namespace secdiff::fuzz {

struct Finding {
  std::string property;  // "cache-soundness", "cache-sequence", "oracle-consistency", "kernel-load", "crash"
  std::string model;     // "linux", "rfc-v1", ..., or "-" when not about a model
  std::string kind;      // what broke, e.g. "bit-not-const-allow"
  std::string details;   // one or more lines for the report
  std::vector<CaseInput> witnesses;  // inputs that show it (appended to the saved case)
};

// "property.model.kind" with every character outside [A-Za-z0-9_-] replaced.
std::string finding_signature(const Finding& f);

// Readable description of a case: task, filters (flags, load result,
// disassembly), inputs with the oracle's prediction for each.
std::string describe_case(const Case& c);

class FindingSink {
 public:
  FindingSink(std::string dir, std::string target);
  // Saves the finding (new signature: returns true). `c` may be null when the
  // input did not decode; `raw` is the input as the engine gave it.
  bool report(const Finding& f, const Case* c, std::string_view raw);
  const std::string& dir() const { return dir_; }
  size_t reported() const { return reported_; }

 private:
  std::string dir_, target_;
  std::vector<std::string> seen_;
  size_t reported_ = 0;
};

// The process-wide sink of a fuzz target, configured from the environment:
//   SECDIFF_FINDINGS_DIR  where findings go (default ./findings)
//   SECDIFF_FUZZ_ABORT=1  abort() after saving a new finding (the seeded-bug
//                         benchmark uses it to stop at the first detection)
FindingSink& target_sink(const char* target);
bool abort_on_finding();

// Crashes (sanitizer reports, uncaught exceptions, signals) are written by the
// engine itself (libFuzzer -artifact_prefix=<findings>/, AFL++ crashes/);
// fuzzers/campaign.h triages each one into a "crash.<target>.<kind>" finding
// with the same .case/.txt pair (triage_crash below).
struct CrashTriage {
  std::string kind;     // e.g. "heap-buffer-overflow", "undefined-behavior", "abort", "timeout"
  std::string summary;  // the sanitizer's SUMMARY line or the signal
};
// Classifies an engine/sanitizer log of a crashing run.
CrashTriage classify_crash_log(std::string_view log);

}  // namespace secdiff::fuzz
