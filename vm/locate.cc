#include "vm/locate.h"

#include <fstream>
#include <system_error>

#include "host/program_io.h"

namespace secdiff::vm {

namespace fs = std::filesystem;

fs::path exe_dir() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : p.parent_path();
}

fs::path source_dir() {
  if (const char* e = std::getenv("SECDIFF_SOURCE_DIR"); e && *e) return e;
  std::error_code ec;
  for (fs::path d = exe_dir(); !d.empty(); d = d.parent_path()) {
    std::ifstream cache(d / "CMakeCache.txt");
    std::string line;
    while (cache && std::getline(cache, line)) {
      const std::string key = "CMAKE_HOME_DIRECTORY:INTERNAL=";
      if (line.rfind(key, 0) == 0 && fs::exists(fs::path(line.substr(key.size())) / "scripts/vm/kernels.sh", ec))
        return line.substr(key.size());
    }
    if (fs::exists(d / "scripts/vm/kernels.sh", ec)) return d;
    if (d == d.parent_path()) break;
  }
  for (fs::path d = fs::current_path(); !d.empty(); d = d.parent_path()) {
    if (fs::exists(d / "scripts/vm/kernels.sh", ec)) return d;
    if (d == d.parent_path()) break;
  }
  throw InputError("cannot find the secdiff source tree (scripts/vm/kernels.sh); set SECDIFF_SOURCE_DIR");
}

std::string find_agent(const std::string& given) {
  std::error_code ec;
  if (!given.empty()) {
    if (!fs::is_regular_file(given, ec)) throw InputError(given + ": agent binary not found");
    return fs::absolute(given).string();
  }
  const fs::path p = exe_dir() / "secdiff-agent";
  if (!fs::is_regular_file(p, ec))
    throw InputError(p.string() + " not found (build the secdiff-agent target, or pass --agent)");
  return p.string();
}

}  // namespace secdiff::vm
