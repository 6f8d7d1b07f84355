// Writes the fuzzers' seed cases (fuzzers/seeds/, compact encoding) from the
// real profiles in shared/profiles: libseccomp-compiled Docker and Podman
// profiles (x86_64 only and x86_64+x86+x32), the precompiled bubblewrap and
// firejail filters, a two-filter chain, and a few generated cases. Inputs are
// drawn from each program's own constants. Deterministic.
//   fuzz_make_seeds PROFILES_DIR OUT_DIR
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "corpus/src/docker_json.h"
#include "corpus/src/seccomp_compile.h"
#include "fuzzers/mutator.h"
#include "oracle/case_codec.h"
#include "oracle/formats/formats.h"

namespace {

using namespace secdiff;
namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

void write_case(const fs::path& dir, const std::string& name, const Case& c) {
  std::ofstream(dir / (name + ".case"), std::ios::binary) << encode_case(c);
  std::printf("%-36s %zu filter(s), %zu inputs\n", name.c_str(), c.filters.size(), c.inputs.size());
}

Case with_inputs(std::vector<CaseFilter> filters, uint64_t seed, unsigned n = 10) {
  const fuzz::CaseMutator m;
  Case c;
  c.filters = std::move(filters);
  const std::vector<uint32_t> consts = fuzz::case_constants(c);
  fuzz::Rng r(seed);
  for (unsigned i = 0; i < n; i++) c.inputs.push_back(m.generate_input(r, consts));
  // The same syscall twice with other arguments (per-task caches).
  CaseInput again = c.inputs[0];
  again.args[0] ^= 1;
  c.inputs.push_back(again);
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s PROFILES_DIR OUT_DIR\n", argv[0]);
    return 2;
  }
  const fs::path prof = argv[1], out = argv[2];
  fs::create_directories(out);
  uint64_t seed = 1;
  struct Json {
    const char* name;
    const char* file;
  };
  const Json jsons[] = {{"docker", "docker/default.json"}, {"podman", "podman/seccomp.json"}};
  for (const Json& j : jsons) {
    if (!fs::exists(prof / j.file)) continue;
    try {
      const corpus::RuleSet rs = corpus::parse_docker_json_file((prof / j.file).string());
      for (int multi = 0; multi < 2; multi++) {
        corpus::CompileOptions o;
        o.arches = multi ? std::vector<std::string>{"x86_64", "x86", "x32"}
                         : std::vector<std::string>{"x86_64"};
        const Program p = corpus::compile_ruleset(rs, o).prog;
        write_case(out, std::string(j.name) + (multi ? "-multiarch" : "-x86_64"),
                   with_inputs({CaseFilter{p, 0}}, seed++));
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", j.file, e.what());
    }
  }
  const char* raws[] = {"bubblewrap/flatpak.bpf", "firejail/bpf/seccomp", "firejail/bpf/seccomp.32",
                        "firejail/bpf/seccomp.mdwx", "firejail/bpf/seccomp.block_secondary"};
  std::vector<Program> raw_progs;
  for (const char* f : raws) {
    if (!fs::exists(prof / f)) continue;
    try {
      const Program p = parse_raw(read_file(prof / f));
      raw_progs.push_back(p);
      std::string name = f;
      for (char& ch : name)
        if (ch == '/' || ch == '.') ch = '-';
      write_case(out, name, with_inputs({CaseFilter{p, 0}}, seed++));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", f, e.what());
    }
  }
  // Chains: a real filter under a generated one, and two real ones.
  const fuzz::CaseMutator m;
  if (!raw_progs.empty()) {
    fuzz::Rng r(7);
    write_case(out, "chain-real-generated",
               with_inputs({CaseFilter{raw_progs[0], 0}, CaseFilter{m.generate_program(r, {}), 0}}, seed++));
    if (raw_progs.size() > 1)
      write_case(out, "chain-real-real",
                 with_inputs({CaseFilter{raw_progs[1], 0}, CaseFilter{raw_progs[0], 0}}, seed++));
  }
  for (uint64_t i = 1; i <= 12; i++) write_case(out, "generated-" + std::to_string(i), m.generate(i));
  return 0;
}
