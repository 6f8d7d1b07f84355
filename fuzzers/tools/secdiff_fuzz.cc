// secdiff-fuzz: the campaign runner (fuzzers/campaign.h) as a command, until
// `secdiff fuzz` in cli/ wraps the same library.
//   secdiff-fuzz run --binary B --work DIR [--engine libfuzzer|afl] [--target T]
//                    [--jobs N] [--time S] [--seeds DIR]... [--models M] [--fresh]
//                    [--afl-mutator SO]
//   secdiff-fuzz show CASE        (the readable report of a .case file)
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "fuzzers/campaign.h"
#include "fuzzers/findings.h"
#include "oracle/case_codec.h"

namespace {
volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  using namespace secdiff;
  if (argc >= 3 && std::string(argv[1]) == "show") {
    std::ifstream f(argv[2], std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    try {
      std::fputs(fuzz::describe_case(decode_case(s.str())).c_str(), stdout);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", argv[2], e.what());
      return 1;
    }
    return 0;
  }
  if (argc < 2 || std::string(argv[1]) != "run") {
    std::fprintf(stderr,
                 "usage: %s run --binary B --work DIR [--engine libfuzzer|afl] [--target T] [--jobs N]\n"
                 "          [--time S] [--seeds DIR]... [--models M] [--fresh] [--afl-mutator SO]\n"
                 "       %s show CASE\n",
                 argv[0], argv[0]);
    return 2;
  }
  fuzz::CampaignOptions o;
  for (int i = 2; i < argc; i++) {
    const std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--binary") o.binary = val();
    else if (a == "--work") o.work_dir = val();
    else if (a == "--engine") o.engine = val();
    else if (a == "--target") o.target = val();
    else if (a == "--jobs") o.jobs = static_cast<unsigned>(std::stoul(val()));
    else if (a == "--time") o.max_seconds = static_cast<unsigned>(std::stoul(val()));
    else if (a == "--seeds") o.seed_dirs.push_back(val());
    else if (a == "--models") o.env.emplace_back("SECDIFF_FUZZ_MODELS", val());
    else if (a == "--fresh") o.resume = false;
    else if (a == "--afl-mutator") o.afl_mutator = val();
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  fuzz::Campaign c(o);
  try {
    c.start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "secdiff-fuzz: %s\n", e.what());
    return 1;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  fuzz::CampaignStatus s;
  while (!g_stop) {
    sleep(2);
    s = c.poll();
    std::printf("[%6.0fs] execs %llu (%.0f/s) corpus %llu cov %llu findings %zu\n", s.elapsed_s,
                static_cast<unsigned long long>(s.execs), s.execs_per_s,
                static_cast<unsigned long long>(s.corpus), static_cast<unsigned long long>(s.coverage),
                s.findings);
    std::fflush(stdout);
    if (!s.running) break;
  }
  c.stop();
  s = c.poll();
  for (const std::string& r : c.finding_reports()) std::printf("finding: %s\n", r.c_str());
  return 0;
}
