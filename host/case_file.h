// Human-editable, versioned JSON case files (docs/case-format.md):
//
//   {
//     "secdiff_case": 1,
//     "name": "errno-getppid",
//     "task": {"no_new_privs": true, "tracer": false, "other_threads": false},
//     "filters": [
//       {"flags": ["LOG"], "bpf_asm": ["ld [0]", "jeq #110, deny, ok", ...]},
//       {"hex": "2000000000000000 0600000000007fff"},
//       {"file": "filters/allow.bpf"}
//     ],
//     "inputs": [{"arch": "x86_64", "nr": "getppid", "args": [1, "0x2"], "ip": "0x7f0000001000"}]
//   }
//
// Errors are InputError("file:line: message"), the line being the one of the
// offending JSON value (for bpf_asm text, the line inside the file).
// A file whose first byte is not JSON is read as the compact encoding of
// oracle/case_codec.h, so fuzzer inputs can be given where case files are.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "host/program_io.h"
#include "oracle/case.h"

namespace secdiff {

inline constexpr int kCaseFileVersion = 1;

// Parses case-file text. `path` names the file in errors and `base_dir` is the
// directory "file" filters are relative to.
Case parse_case_file(std::string_view text, const std::string& path, const std::string& base_dir);
// Reads a JSON case file (or a compact-encoded case). The case name defaults to
// the file name without extension.
Case load_case_file(const std::string& path);

enum class FilterStyle { BpfAsm, Hex };
struct CaseFileOptions {
  FilterStyle style = FilterStyle::BpfAsm;  // bpf_asm is a list of lines, with comments
  bool comments = true;                     // annotations in the bpf_asm text
};
nlohmann::ordered_json case_to_json(const Case& c, const CaseFileOptions& opt = {});
std::string format_case_file(const Case& c, const CaseFileOptions& opt = {});  // ends with '\n'
void save_case_file(const std::string& path, const Case& c, const CaseFileOptions& opt = {});

// Compact encoding (oracle/case_codec.h) <-> Case; errors as InputError.
std::string case_to_compact(const Case& c);
Case case_from_compact(std::string_view bytes, const std::string& path_for_errors = "<compact>");

// Expands CASE arguments: files as given, directories to their *.json and
// *.case files (recursively, sorted). Throws InputError for missing paths and
// for directories without case files.
std::vector<std::string> collect_case_files(const std::vector<std::string>& paths);

// Names of SECCOMP_FILTER_FLAG_* bits ("TSYNC", "LOG", ...), lowest first.
std::vector<std::string> filter_flag_names(uint32_t flags);

}  // namespace secdiff
