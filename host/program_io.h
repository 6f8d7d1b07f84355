// Reading filter programs from files (the oracle itself does no I/O).
#pragma once

#include <optional>
#include <stdexcept>
#include <string>

#include "oracle/formats/formats.h"

namespace secdiff {

// An input problem, already phrased as "file:line: message".
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string read_file(const std::string& path);  // "-" = stdin; throws InputError
void write_file(const std::string& path, const std::string& data);  // "-" = stdout

struct LoadedProgram {
  std::string path;
  Format format = Format::Raw;
  Program prog;
};

// Reads and parses a program; `fmt` overrides detection. Errors name the file and line.
LoadedProgram load_program(const std::string& path, std::optional<Format> fmt = std::nullopt);

}  // namespace secdiff
