// secdiff repro: replay a case on a real kernel and say whether its mismatch
// still reproduces (exit 0 yes, 1 no, 2 infrastructure); --bisect inverts for
// `git bisect run` (1 = reproduces = bad, 0 = good, 125 = skip).
#include <cstdio>
#include <memory>
#include <sstream>

#include "cli/cli.h"
#include "host/case_file.h"
#include "oracle/chain.h"
#include "oracle/formats/formats.h"
#include "vm/minimize.h"
#include "vm/runner.h"

namespace secdiff::cli {

namespace {

using namespace secdiff::vm;

std::vector<std::string> insn_texts(const Program& p) {
  DisasmOptions o;
  o.comments = false;
  std::istringstream in(disassemble(p, o));
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == ':') continue;
    const size_t b = line.find_first_not_of(" \t");
    out.push_back(b == std::string::npos ? line : line.substr(b));
  }
  return out;
}

std::string trace_text(const FilterChain& chain, const SeccompData& sd) {
  if (chain.empty()) return "    (no filter installed: the syscall runs)\n";
  std::vector<Trace> traces;
  const RunResult r = seccomp_run_filters_traced(chain, sd, &traces);
  std::string s;
  char b[256];
  for (size_t i = chain.size(); i-- > 0;) {
    const auto lines = insn_texts(chain.filters()[i].orig);
    std::snprintf(b, sizeof b, "    filter %zu:", i);
    s += b;
    for (const TraceStep& st : traces[i].steps) {
      std::snprintf(b, sizeof b, " %u%s", st.pc,
                    bpf::is_cond_jump(st.insn.code) ? (st.branch_taken ? "(t)" : "(f)") : "");
      s += b;
    }
    s += " => " + format_ret(traces[i].ret) + "\n";
  }
  s += "    chain: " + format_ret(r.ret) + " from filter " + std::to_string(r.match) + "\n";
  return s;
}

}  // namespace

Runner add_repro(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "repro",
      "Boot a kernel, replay CASE and report whether its mismatch reproduces.\n"
      "Exit: 0 reproduces, 1 does not, 2 infrastructure or input problem.\n"
      "With --bisect (for `git bisect run`): 1 reproduces (bad), 0 does not (good), 125 skip.");
  struct Opts {
    std::string file, property, kind;
    BackendSpec spec;
    std::string model = "linux";
    bool bisect = false, quiet = false;
  };
  auto o = std::make_shared<Opts>();
  sub->add_option("CASE", o->file, "case file")->required();
  sub->add_option("--kernel", o->spec.kernel, "debian|debug|PATH")->capture_default_str();
  sub->add_option("--modules", o->spec.modules, "modules directory for a PATH kernel");
  sub->add_option("--model", o->model, "cache model for the bitmap comparison")->capture_default_str();
  sub->add_option("--backend", o->spec.backend, "vm|host")->capture_default_str();
  sub->add_option("--property", o->property, "only this mismatch property counts (default: any)");
  sub->add_option("--kind", o->kind, "only this mismatch kind counts (with --property)");
  sub->add_flag("--bisect", o->bisect, "git bisect run exit codes: 1 reproduces, 0 not, 125 skip");
  sub->add_flag("-q,--quiet", o->quiet, "no per-input listing");
  sub->add_option("--agent", o->spec.agent, "secdiff-agent binary")->group("Advanced");
  sub->add_option("--initrd", o->spec.initrd, "prebuilt initramfs")->group("Advanced");
  sub->add_option("--qemu", o->spec.qemu, "QEMU binary")->group("Advanced");
  sub->add_option("--boot-timeout-ms", o->spec.boot_timeout_ms, "boot deadline")->group("Advanced");
  return [o]() -> int {
    const int infra = o->bisect ? 125 : kExitError;
    Case c;
    std::unique_ptr<BackendHandle> h;
    try {
      c = load_case_file(o->file);
      bool known = false;
      for (const auto& n : cache_model_names()) known = known || n == o->model;
      if (!known) throw InputError("--model: unknown cache model '" + o->model + "'");
      o->spec.jobs = 1;
      h = make_backend(o->spec);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "secdiff repro: %s\n", e.what());
      return infra;
    }
    RunnerOptions ro;
    ro.model = o->model;
    CaseRun run;
    ro.on_result = [&](const Case&, const CaseRun& r) { run = r; };
    DiffRunner runner(*h->pool, ro);
    DiffSummary s;
    try {
      s = runner.run({c});
    } catch (const std::exception& e) {
      std::fprintf(stderr, "secdiff repro: infrastructure failure: %s\n", e.what());
      return infra;
    }
    std::printf("== secdiff repro: case %s on %s (%s), model %s, cache bitmaps %s\n", c.name.c_str(),
                s.kernel_release.c_str(), h->kernel_name.c_str(), o->model.c_str(),
                s.cache_compared ? "compared" : "not available");
    if (!o->quiet) {
      const CasePrediction p = predict_case(c);
      if (run.crashed) {
        std::printf("the case crashed the %s: %s\n", h->pool->name().c_str(), run.failure_message.c_str());
      } else {
        for (size_t i = 0; i < c.filters.size(); i++)
          std::printf("install %zu: oracle %s | kernel %s\n", i,
                      p.installs[i].ok() ? "ok" : ("errno " + std::to_string(p.installs[i].err)).c_str(),
                      i < run.result.installs.size() ? describe_install(run.result.installs[i]).c_str() : "-");
        for (size_t i = 0; i < c.inputs.size(); i++) {
          const SeccompData sd = case_seccomp_data(c.inputs[i]);
          std::printf("input %zu: %s nr %lld\n  oracle trace:\n%s  oracle: %s (%s)\n  kernel: %s\n", i,
                      std::string(arch_name(c.inputs[i].arch)).c_str(), static_cast<long long>(c.inputs[i].nr),
                      trace_text(p.chain, sd).c_str(), format_ret(p.observations[i].ret).c_str(),
                      action_name(p.observations[i].action),
                      i < run.result.outcomes.size() ? describe_outcome(run.result.outcomes[i]).c_str() : "-");
        }
      }
    }
    size_t hits = 0;
    for (const Mismatch& m : s.list) {
      const bool match = (o->property.empty() || m.property == o->property) && (o->kind.empty() || m.kind == o->kind);
      std::printf("mismatch %s: %s: %s%s\n", m.property.c_str(), m.kind.c_str(), m.what.c_str(),
                  match ? "" : " (not the one asked for)");
      hits += match;
    }
    for (const auto& n : s.notes) std::printf("note: %s\n", n.c_str());
    const bool reproduces = hits > 0;
    std::printf("%s\n", reproduces ? "REPRODUCES" : "does not reproduce");
    if (o->bisect) return reproduces ? 1 : 0;
    return reproduces ? kExitOk : kExitNegative;
  };
}

}  // namespace secdiff::cli
