// Finding secdiff's own files at run time: the source tree (for scripts/vm/*)
// and the guest agent next to the secdiff binary.
#pragma once

#include <filesystem>
#include <string>

namespace secdiff::vm {

// The directory of the running executable.
std::filesystem::path exe_dir();
// $SECDIFF_SOURCE_DIR, the CMake cache of the build dir the binary is in, or a
// parent of the binary or of the working directory that has scripts/vm/kernels.sh.
// Throws InputError when none is found.
std::filesystem::path source_dir();
// `given` if set (must exist), else secdiff-agent next to the binary. Throws InputError.
std::string find_agent(const std::string& given);

}  // namespace secdiff::vm
