// Glue shared by the fuzz targets (fuzzers/targets/*.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzzers/findings.h"
#include "oracle/case.h"

namespace secdiff::fuzz {

// Saves each finding in the target's sink (SECDIFF_FINDINGS_DIR) and aborts
// on a new one when SECDIFF_FUZZ_ABORT is set.
void report_findings(const char* target, const std::vector<Finding>& fs, const Case* c,
                     std::string_view raw);

}  // namespace secdiff::fuzz
