// secdiff asm / secdiff disasm: program format conversion.
#include <unistd.h>

#include <memory>

#include "cli/cli.h"
#include "oracle/formats/formats.h"

namespace secdiff::cli {

namespace {

Format format_or_throw(const std::string& s) {
  if (auto f = parse_format_name(s)) return *f;
  throw InputError("unknown format '" + s + "' (raw, bpf_asm, ops, ddd, c)");
}

}  // namespace

Runner add_asm(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "asm",
      "Assemble a program (bpf_asm syntax, or any format secdiff reads) and write it out.\n"
      "Default output is bpf_asm's: \"N,code jt jf k,...\".");
  struct Opts {
    std::string file, format = "ops", in_format, out = "-";
  };
  auto o = std::make_shared<Opts>();
  sub->add_option("FILE", o->file, "input program ('-' for stdin)")->required();
  sub->add_option("--format", o->format, "output format: raw|bpf_asm|ops|ddd|c")
      ->capture_default_str();
  sub->add_option("--in-format", o->in_format, "input format (default: bpf_asm, or detected)");
  sub->add_option("-o,--output", o->out, "output file ('-' for stdout)")->capture_default_str();
  return [o] {
    const Format out = format_or_throw(o->format);
    std::optional<Format> in;
    if (!o->in_format.empty()) in = format_or_throw(o->in_format);
    const LoadedProgram lp = load_program(o->file, in);
    if (out == Format::Raw && o->out == "-" && isatty(1))
      throw InputError("refusing to write raw binary to a terminal; use -o FILE");
    std::string text = write_program(lp.prog, out);
    write_file(o->out, text);
    return kExitOk;
  };
}

Runner add_disasm(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "disasm",
      "Disassemble a program into bpf_asm syntax with seccomp annotations (seccomp_data\n"
      "fields, actions, syscall names). The output assembles back to the same program.");
  struct Opts {
    std::string file, format, arch = "x86_64", kernel;
    bool no_comments = false;
  };
  auto o = std::make_shared<Opts>();
  sub->add_option("FILE", o->file, "program file ('-' for stdin)")->required();
  sub->add_option("--format", o->format, "input format raw|bpf_asm|ops|ddd|c (default: detect)");
  sub->add_option("--arch", o->arch, "arch for syscall names: x86_64|i386|x32")
      ->capture_default_str();
  sub->add_option("--kernel", o->kernel, "syscall table version (6.1, 6.12, 6.18)");
  sub->add_flag("--no-comments", o->no_comments, "plain bpf_asm without annotations");
  return [o] {
    std::optional<Format> in;
    if (!o->format.empty()) in = format_or_throw(o->format);
    const LoadedProgram lp = load_program(o->file, in);
    DisasmOptions opt;
    auto arch = parse_arch(o->arch);
    if (!arch) throw InputError("unknown arch '" + o->arch + "'");
    opt.arch = *arch;
    opt.kernel = kernel_or_throw(o->kernel).version;
    opt.comments = !o->no_comments;
    write_file("-", disassemble(lp.prog, opt));
    return kExitOk;
  };
}

}  // namespace secdiff::cli
