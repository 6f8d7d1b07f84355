#include "host/program_io.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

namespace secdiff {

std::string read_file(const std::string& path) {
  if (path == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InputError(path + ": " + std::strerror(errno));
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const std::string& data) {
  if (path == "-") {
    std::cout.write(data.data(), static_cast<std::streamsize>(data.size()));
    std::cout.flush();
    return;
  }
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw InputError(path + ": " + std::strerror(errno));
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!f) throw InputError(path + ": write failed");
}

LoadedProgram load_program(const std::string& path, std::optional<Format> fmt) {
  LoadedProgram lp;
  lp.path = path;
  const std::string bytes = read_file(path);
  if (bytes.empty()) throw InputError(path + ": empty file");
  try {
    std::optional<Format> f = fmt ? fmt : detect_format(bytes);
    if (!f) throw FormatError("cannot tell the program format; use --format");
    lp.format = *f;
    lp.prog = parse_program(bytes, *f);
  } catch (const FormatError& e) {
    std::string where = path;
    if (e.line() > 0) where += ":" + std::to_string(e.line());
    throw InputError(where + ": " + e.what());
  }
  return lp;
}

}  // namespace secdiff
