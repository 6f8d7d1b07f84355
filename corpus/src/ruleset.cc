#include "corpus/src/ruleset.h"

#include "oracle/errno_names.h"

namespace secdiff::corpus {

std::string_view op_name(ArgCmp::Op op) {
  switch (op) {
    case ArgCmp::NE: return "NE";
    case ArgCmp::LT: return "LT";
    case ArgCmp::LE: return "LE";
    case ArgCmp::EQ: return "EQ";
    case ArgCmp::GE: return "GE";
    case ArgCmp::GT: return "GT";
    case ArgCmp::MASKED_EQ: return "MASKED_EQ";
  }
  return "?";
}

static std::string format_location(const std::string& file, int line, const std::string& msg) {
  if (line > 0) return file + ":" + std::to_string(line) + ": " + msg;
  return file + ": " + msg;
}

ProfileError::ProfileError(std::string file, int line, std::string message)
    : std::runtime_error(format_location(file, line, message)),
      file_(std::move(file)),
      line_(line),
      message_(std::move(message)) {}

std::optional<int> errno_from_name(std::string_view name) {
  // The kernel's table lives in the oracle; ENOTSUP is glibc's name for EOPNOTSUPP.
  if (name == "ENOTSUP") return errno_number("EOPNOTSUPP");
  return errno_number(name);
}

}  // namespace secdiff::corpus
