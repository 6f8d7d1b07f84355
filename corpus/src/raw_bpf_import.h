// Compiled seccomp programs stored as raw cBPF (firejail's /usr/lib/firejail/
// seccomp*, bubblewrap's --seccomp files): a little-endian struct sock_filter
// array, 8 bytes an instruction, no header. These are not rule sets but
// programs; this reads one and checks it the way the kernel would on
// seccomp(SECCOMP_SET_MODE_FILTER) (oracle/validator.h FilterChain::install).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "corpus/src/ruleset.h"
#include "oracle/bpf.h"
#include "oracle/validator.h"

namespace secdiff::corpus {

struct RawBpfImportOptions {
  uint32_t flags = 0;  // SECCOMP_FILTER_FLAG_* passed to the install check
  LoadEnv env;         // no_new_privs by default
};

// Parses `bytes` (oracle/formats parse_program, raw format) and validates the
// program on an empty filter chain. Throws ProfileError(origin, 0, ...) if the
// size is not a multiple of 8 or the kernel would refuse the filter (the
// message names the kernel rule and the instruction).
Program import_raw_bpf(std::string_view bytes, const std::string& origin,
                       const RawBpfImportOptions& opts = {});
// Reads `path` and imports it. `origin` defaults to `path`.
Program import_raw_bpf_file(const std::string& path, const RawBpfImportOptions& opts = {},
                            std::string origin = {});

}  // namespace secdiff::corpus
