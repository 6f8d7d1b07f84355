#include "corpus/src/raw_bpf_import.h"

#include <fstream>
#include <sstream>

#include "oracle/formats/formats.h"

namespace secdiff::corpus {

Program import_raw_bpf(std::string_view bytes, const std::string& origin,
                       const RawBpfImportOptions& opts) {
  if (bytes.size() % 8 != 0)
    throw ProfileError(origin, 0, "size " + std::to_string(bytes.size()) +
                                      " bytes is not a multiple of 8 (struct sock_filter)");
  Program prog;
  try {
    prog = parse_program(bytes, Format::Raw);
  } catch (const FormatError& e) {
    throw ProfileError(origin, 0, std::string("not a raw cBPF program: ") + e.what());
  }
  FilterChain chain;
  LoadResult lr = chain.install(prog, opts.flags, opts.env);
  if (!lr.ok()) {
    std::string msg = "the kernel would reject the filter (" + std::string(rule_name(lr.rule)) +
                      " in " + rule_kernel_function(lr.rule) + ", errno " + std::to_string(lr.err);
    if (lr.insn >= 0) msg += ", instruction " + std::to_string(lr.insn);
    msg += "): " + lr.reason;
    throw ProfileError(origin, 0, msg);
  }
  return prog;
}

Program import_raw_bpf_file(const std::string& path, const RawBpfImportOptions& opts,
                            std::string origin) {
  if (origin.empty()) origin = path;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ProfileError(origin, 0, "cannot open file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return import_raw_bpf(ss.str(), origin, opts);
}

}  // namespace secdiff::corpus
