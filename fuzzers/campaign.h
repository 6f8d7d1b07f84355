// The fuzz-campaign runner behind `secdiff fuzz` (and the standalone
// secdiff-fuzz tool in fuzz builds): starts an engine on a target in a work
// directory, resumes from it, reports live progress, collects and triages
// findings. The CLI subcommand is a thin loop over start() / poll() / stop().
//
// Work directory:
//   corpus/            libFuzzer's corpus (kept: a later run resumes from it)
//   afl/<instance>/    AFL++'s output (-o afl; resumed with -i -)
//   afl-seeds/         the seed directories merged for afl-fuzz -i
//   findings/          <signature>.case / .txt / .count from the targets, and the
//                      engines' crash artifacts triaged into crash.<target>.<kind>.*
//   logs/              one log per engine process
//   campaign.txt       the options of the last start
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace secdiff::fuzz {

struct CampaignOptions {
  std::string target = "cache_soundness";  // for messages and crash signatures
  std::string engine = "libfuzzer";        // "libfuzzer" or "afl"
  std::string binary;                      // the target built for that engine
  std::string afl_mutator;                 // libsecdiff_afl_mutator.so (afl; empty: AFL++ havoc only)
  std::string afl_fuzz = "afl-fuzz";
  std::string work_dir;
  std::vector<std::string> seed_dirs;
  unsigned jobs = 1;         // libFuzzer: -fork=jobs when > 1; AFL++: -M main + (jobs-1) -S
  unsigned max_seconds = 0;  // 0: until stop()
  bool resume = true;        // false: empty corpus/, afl/ and findings/ first
  std::vector<std::pair<std::string, std::string>> env;  // e.g. {"SECDIFF_FUZZ_MODELS", "linux"}
  std::vector<std::string> extra_args;                   // passed to each engine process
};

struct CampaignStatus {
  bool running = false;
  double elapsed_s = 0;
  uint64_t execs = 0;
  double execs_per_s = 0;
  uint64_t corpus = 0;
  uint64_t coverage = 0;   // libFuzzer "cov", AFL++ edges found
  size_t findings = 0;     // distinct signatures in findings/
  std::string last_line;   // the newest progress line of the first engine process
};

class Campaign {
 public:
  explicit Campaign(CampaignOptions o);
  ~Campaign();
  Campaign(const Campaign&) = delete;
  Campaign& operator=(const Campaign&) = delete;

  // The engine command lines start() runs (argv per process).
  std::vector<std::vector<std::string>> commands() const;
  void start();              // throws std::runtime_error
  CampaignStatus poll();     // non-blocking; triages new crash artifacts
  void stop();               // SIGTERM, then SIGKILL after 3 s
  bool running();
  const CampaignOptions& options() const { return o_; }
  std::string findings_dir() const { return o_.work_dir + "/findings"; }
  // Finding reports (.txt) in findings/, sorted.
  std::vector<std::string> finding_reports() const;

 private:
  void triage(const std::string& artifact);
  CampaignOptions o_;
  std::vector<pid_t> pids_;
  std::vector<std::string> logs_;
  std::vector<std::string> triaged_;
  double started_ = 0;
};

}  // namespace secdiff::fuzz
