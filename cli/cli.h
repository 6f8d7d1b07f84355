// Shared pieces of the `secdiff` subcommands.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "host/program_io.h"
#include "oracle/kernel_profile.h"
#include "oracle/validator.h"

namespace secdiff::cli {

// Documented exit codes.
inline constexpr int kExitOk = 0;        // success; for check: every filter loads
inline constexpr int kExitNegative = 1;  // a filter is rejected / models differ / mismatch
inline constexpr int kExitError = 2;     // bad usage or bad input (file, format, syscall name)

// A subcommand registers its options and returns the function that runs it.
using Runner = std::function<int()>;
Runner add_asm(CLI::App& app);
Runner add_disasm(CLI::App& app);
Runner add_check(CLI::App& app);
Runner add_emu(CLI::App& app);
Runner add_cache(CLI::App& app);
Runner add_compile(CLI::App& app);
Runner add_diff(CLI::App& app);
Runner add_minimize(CLI::App& app);
Runner add_repro(CLI::App& app);
Runner add_corpus(CLI::App& app);
Runner add_fuzz(CLI::App& app);

// "123", "0x7b", "-1" -> value; throws InputError naming `what`.
uint64_t parse_u64(const std::string& s, const std::string& what);
int64_t parse_i64(const std::string& s, const std::string& what);

const KernelProfile& kernel_or_throw(const std::string& version);

// Loads FILTER... as one chain (first installed first). Per-file load results
// are returned; the chain holds the filters that loaded.
struct ChainLoad {
  std::vector<LoadedProgram> programs;
  std::vector<LoadResult> results;
  FilterChain chain;
  int first_failure = -1;
};
ChainLoad load_chain(const std::vector<std::string>& files, uint32_t flags, const LoadEnv& env,
                     std::optional<Format> fmt = std::nullopt);

}  // namespace secdiff::cli
