// secdiff: differential testing of Linux seccomp filters and the action cache.
#include <cstdio>
#include <iostream>
#include <map>

#include "cli/cli.h"
#include "oracle/formats/formats.h"

namespace secdiff::cli {

uint64_t parse_u64(const std::string& s, const std::string& what) {
  try {
    size_t pos = 0;
    if (s.empty() || s[0] == '-') throw std::invalid_argument("negative");
    const uint64_t v = std::stoull(s, &pos, 0);
    if (pos != s.size()) throw std::invalid_argument("trailing");
    return v;
  } catch (const std::exception&) {
    throw InputError("invalid " + what + " '" + s + "' (expected a decimal or 0x hex number)");
  }
}

int64_t parse_i64(const std::string& s, const std::string& what) {
  if (!s.empty() && s[0] == '-') {
    const uint64_t m = parse_u64(s.substr(1), what);
    return -static_cast<int64_t>(m);
  }
  return static_cast<int64_t>(parse_u64(s, what));
}

const KernelProfile& kernel_or_throw(const std::string& version) {
  if (version.empty()) return default_kernel_profile();
  if (const KernelProfile* k = find_kernel_profile(version)) return *k;
  std::string known;
  for (const auto& p : kernel_profiles()) known += (known.empty() ? "" : ", ") + p.version;
  throw InputError("unknown kernel version '" + version + "' (known: " + known + ")");
}

ChainLoad load_chain(const std::vector<std::string>& files, uint32_t flags, const LoadEnv& env,
                     std::optional<Format> fmt) {
  ChainLoad cl;
  for (size_t i = 0; i < files.size(); i++) {
    cl.programs.push_back(load_program(files[i], fmt));
    LoadResult r = cl.chain.install(cl.programs.back().prog, flags, env);
    if (!r.ok() && cl.first_failure < 0) cl.first_failure = static_cast<int>(i);
    cl.results.push_back(std::move(r));
  }
  return cl;
}

}  // namespace secdiff::cli

int main(int argc, char** argv) {
  using namespace secdiff::cli;
  CLI::App app{
      "secdiff: differential testing of Linux seccomp filters and the seccomp action cache.\n"
      "Exit codes: 0 success, 1 negative answer (a filter is rejected, models differ),\n"
      "2 bad usage or bad input."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "secdiff 0.1.0");
  std::map<CLI::App*, Runner> runners;
  auto reg = [&](Runner (*add)(CLI::App&)) {
    Runner r = add(app);
    runners[app.get_subcommands({}).back()] = std::move(r);
  };
  reg(add_asm);
  reg(add_disasm);
  reg(add_check);
  reg(add_emu);
  reg(add_cache);
  reg(add_compile);
  reg(add_diff);
  reg(add_minimize);
  reg(add_repro);
  reg(add_corpus);
  reg(add_fuzz);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kExitError;
  }
  try {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return run();
  } catch (const secdiff::InputError& e) {
    std::fprintf(stderr, "secdiff: %s\n", e.what());
    return kExitError;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "secdiff: error: %s\n", e.what());
    return kExitError;
  }
  return kExitError;
}
