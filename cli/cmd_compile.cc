// secdiff compile: a container profile to a BPF filter, through libseccomp.
#include <cstdio>
#include <memory>
#include <sstream>

#include "cli/cli.h"
#include "corpus/src/docker_json.h"
#include "corpus/src/seccomp_compile.h"
#include "oracle/formats/formats.h"

namespace secdiff::cli {

Runner add_compile(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "compile",
      "Compile a Docker/Moby, Podman or OCI JSON seccomp profile to a cBPF filter with\n"
      "libseccomp (seccomp_export_bpf), as runc would on an x86_64 host. Syscall names\n"
      "libseccomp does not know are reported and skipped.");
  struct Opts {
    std::string file, arch = "x86_64,x86,x32", format = "raw", out = "-", kernel = "6.1";
    int optimize = 1;
  };
  auto o = std::make_shared<Opts>();
  sub->add_option("PROFILE", o->file, "JSON profile")->required();
  sub->add_option("--arch", o->arch, "comma-separated libseccomp arches: x86_64,x86,x32")
      ->capture_default_str();
  sub->add_option("--optimize", o->optimize, "SCMP_FLTATR_CTL_OPTIMIZE: 1 or 2 (binary tree)")
      ->check(CLI::Range(1, 2))
      ->capture_default_str();
  sub->add_option("--min-kernel", o->kernel, "host kernel release for minKernel rules")
      ->capture_default_str();
  sub->add_option("--format", o->format, "output format raw|bpf_asm|ops|ddd|c")->capture_default_str();
  sub->add_option("-o,--output", o->out, "output file ('-' for stdout)")->capture_default_str();
  return [o] {
    corpus::DockerImportOptions io;
    io.arches.clear();
    std::stringstream ss(o->arch);
    for (std::string a; std::getline(ss, a, ',');) io.arches.push_back(a);
    io.kernel = o->kernel;
    corpus::RuleSet rs;
    corpus::CompileResult cr;
    try {
      rs = corpus::parse_docker_json_file(o->file, io);
      corpus::CompileOptions co;
      co.arches = io.arches;
      co.optimize = o->optimize;
      cr = corpus::compile_ruleset(rs, co);
    } catch (const corpus::ProfileError& e) {
      throw InputError(e.what());
    } catch (const corpus::CompileError& e) {
      throw InputError(o->file + ": " + e.what());
    }
    for (const auto& n : cr.unknown_names)
      std::fprintf(stderr, "secdiff: %s: unknown syscall '%s' skipped\n", o->file.c_str(), n.c_str());
    for (const auto& w : cr.warnings) std::fprintf(stderr, "secdiff: %s: %s\n", o->file.c_str(), w.c_str());
    const auto fmt = parse_format_name(o->format);
    if (!fmt) throw InputError("unknown format '" + o->format + "'");
    write_file(o->out, write_program(cr.prog, *fmt));
    return kExitOk;
  };
}

}  // namespace secdiff::cli
