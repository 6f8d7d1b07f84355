#include "fuzzers/target_support.h"

#include <cstdio>
#include <cstdlib>

namespace secdiff::fuzz {

void report_findings(const char* target, const std::vector<Finding>& fs, const Case* c,
                     std::string_view raw) {
  if (fs.empty()) return;
  FindingSink& sink = target_sink(target);
  for (const Finding& f : fs) {
    if (!sink.report(f, c, raw)) continue;
    std::fprintf(stderr, "secdiff-fuzz: NEW FINDING %s -> %s/%s.txt\n",
                 finding_signature(f).c_str(), sink.dir().c_str(), finding_signature(f).c_str());
    if (abort_on_finding()) {
      std::fflush(stderr);
      std::abort();
    }
  }
}

}  // namespace secdiff::fuzz
