// secdiff minimize: delta-debug a case down to a small one with the same
// mismatch signature; writes OUT.case.json, OUT.bpf_asm and OUT.c.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>

#include "cli/cli.h"
#include "host/case_file.h"
#include "oracle/formats/formats.h"
#include "vm/minimize.h"
#include "vm/repro_c.h"
#include "vm/runner.h"

namespace secdiff::cli {

namespace {

using namespace secdiff::vm;

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  if (!f) throw InputError("cannot write " + path);
}

std::string bpf_asm_text(const Case& c) {
  std::string s;
  for (size_t i = 0; i < c.filters.size(); i++) {
    std::string flags;
    for (const auto& n : filter_flag_names(c.filters[i].flags)) flags += (flags.empty() ? "" : "|") + n;
    s += "; ---- filter " + std::to_string(i) + " (" + std::to_string(c.filters[i].prog.size()) + " insns" +
         (flags.empty() ? "" : ", flags " + flags) + ") ----\n";
    DisasmOptions o;
    if (!c.inputs.empty()) o.arch = c.inputs[0].arch;
    s += disassemble(c.filters[i].prog, o);
  }
  return s;
}

// A fuzzer's finding is saved as <property>.<model>.<kind>.case
// (fuzzers/findings.h): for a model-only property, its property and model.
std::pair<std::string, std::string> finding_property_model(const std::string& file) {
  const std::string name = std::filesystem::path(file).filename().string();
  const size_t d1 = name.find('.');
  const size_t d2 = d1 == std::string::npos ? d1 : name.find('.', d1 + 1);
  if (d2 == std::string::npos || name.size() < 5 || name.compare(name.size() - 5, 5, ".case") != 0) return {};
  const std::string prop = name.substr(0, d1), model = name.substr(d1 + 1, d2 - d1 - 1);
  if (prop != "cache-soundness" && prop != "cache-sequence") return {};
  for (const auto& n : cache_model_names())
    if (n == model) return {prop, model};
  return {};
}

}  // namespace

Runner add_minimize(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "minimize",
      "Delta-debug CASE to a small case with the same mismatch signature (property + kind).\n"
      "Model-only properties (no kernel): cache-soundness, cache-sequence, model-vs-exact.\n"
      "With --backend vm|host the differential runner decides (any runner property).\n"
      "Writes OUT.case.json, OUT.bpf_asm and OUT.c (a C reproducer).\n"
      "Exit: 0 minimized, 1 the case shows no mismatch, 2 bad input or infrastructure failure.");
  struct Opts {
    std::string file, property, kind, model, out;
    BackendSpec spec;
    bool use_backend = false, quiet = false;
    double time_limit = 0;
  };
  auto o = std::make_shared<Opts>();
  sub->add_option("CASE", o->file, "case file")->required();
  sub->add_option("--property", o->property, "mismatch property to keep (default: the case's first)");
  sub->add_option("--kind", o->kind, "mismatch kind to keep (default: the first of --property)");
  sub->add_option("--model", o->model,
                  "cache model (model-only: default tries linux, rfc-v1, rfc-v1-fixed; runner: default linux)");
  auto* be = sub->add_option("--backend", o->spec.backend, "vm|host: decide with the differential runner");
  sub->add_option("--kernel", o->spec.kernel, "debian|debug|PATH (with --backend vm)")->capture_default_str();
  sub->add_option("--modules", o->spec.modules, "modules directory for a PATH kernel");
  sub->add_option("--jobs", o->spec.jobs, "VMs");
  sub->add_option("-o,--output", o->out, "output prefix (default: CASE without extension + .min)");
  sub->add_option("--time-limit", o->time_limit, "stop reducing after this many seconds (0 = none)");
  sub->add_flag("-q,--quiet", o->quiet, "no progress lines on stderr");
  sub->add_option("--agent", o->spec.agent, "secdiff-agent binary")->group("Advanced");
  sub->add_option("--initrd", o->spec.initrd, "prebuilt initramfs")->group("Advanced");
  sub->add_option("--qemu", o->spec.qemu, "QEMU binary")->group("Advanced");
  return [o, be]() -> int {
    o->use_backend = be->count() > 0;
    const Case c = load_case_file(o->file);
    if (!o->model.empty()) {
      bool known = false;
      for (const auto& n : cache_model_names()) known = known || n == o->model;
      if (!known) throw InputError("--model: unknown cache model '" + o->model + "'");
    }
    const auto model_props = ModelChecker::properties();
    const bool model_prop = std::find(model_props.begin(), model_props.end(), o->property) != model_props.end();
    if (!o->use_backend && !o->property.empty() && !model_prop)
      throw InputError("--property " + o->property + " needs --backend (model-only properties: cache-soundness, "
                       "cache-sequence, model-vs-exact)");
    const auto t0 = std::chrono::steady_clock::now();

    std::unique_ptr<BackendHandle> h;
    std::unique_ptr<DiffRunner> runner;
    std::unique_ptr<Checker> checker;
    std::optional<Signature> sig;
    auto pick = [&](const std::vector<Signature>& sigs) -> std::optional<Signature> {
      for (const Signature& s : sigs)
        if ((o->property.empty() || s.property == o->property) && (o->kind.empty() || s.kind == o->kind)) return s;
      return std::nullopt;
    };
    std::string model_used;
    bool fuzzer_view = false;
    if (!o->use_backend && o->property.empty() && o->model.empty()) {
      const auto [prop, model] = finding_property_model(o->file);
      if (!prop.empty()) {
        std::printf("fuzzer finding: property %s, model %s (from the file name)\n", prop.c_str(), model.c_str());
        o->property = prop;
        o->model = model;
      }
    }
    if (o->use_backend) {
      h = make_backend(o->spec);
      RunnerOptions ro;
      ro.model = o->model.empty() ? "linux" : o->model;
      model_used = ro.model;
      runner = std::make_unique<DiffRunner>(*h->pool, ro);
      auto vc = std::make_unique<VmChecker>(*runner);
      try {
        sig = pick(vc->check({c}).at(0));
      } catch (const PoolError& e) {
        std::fprintf(stderr, "secdiff: infrastructure failure: %s\n", e.what());
        return kExitError;
      }
      checker = std::move(vc);
    } else {
      std::vector<std::string> models;
      if (!o->model.empty()) models = {o->model};
      else
        for (const auto& n : cache_model_names())
          if (n != "exact") models.push_back(n);
      // Installs filtered as on a kernel; failing that, the chain as the fuzzers
      // see it (every filter that loads attached).
      for (const auto& m : models) {
        if (auto p = pick_model_signature(c, m, o->property, o->kind)) {
          sig = p->sig;
          model_used = m;
          fuzzer_view = p->checker->attach_all();
          checker = std::move(p->checker);
          break;
        }
      }
    }
    if (!sig) {
      std::printf("no mismatch%s%s in %s (%s)\n", o->property.empty() ? "" : " with property ",
                  o->property.c_str(), o->file.c_str(),
                  o->use_backend ? ("runner on " + h->kernel_name).c_str() : "model-only checks");
      return kExitNegative;
    }
    std::printf("signature: %s (%s, model %s)\n", sig->str().c_str(),
                o->use_backend ? ("runner on " + h->kernel_name).c_str() : "model-only", model_used.c_str());
    if (fuzzer_view)
      std::printf("note: only with every filter that loads attached (as the fuzzers see the chain): the filters "
                  "before some filter deny its seccomp() call\n");
    std::fflush(stdout);
    MinimizeOptions mo;
    mo.progress = !o->quiet;
    mo.time_limit_seconds = o->time_limit;
    MinimizeStats st;
    Case m;
    try {
      m = minimize_case(c, *sig, *checker, mo, &st);
    } catch (const PoolError& e) {
      std::fprintf(stderr, "secdiff: infrastructure failure: %s\n", e.what());
      return kExitError;
    }
    m.name = c.name + "-min";
    std::string prefix = o->out;
    if (prefix.empty()) {
      std::filesystem::path p(o->file);
      prefix = (p.parent_path() / p.stem()).string() + ".min";
    }
    save_case_file(prefix + ".case.json", m);
    write_text(prefix + ".bpf_asm", bpf_asm_text(m));
    ReproOptions ro;
    ro.title = "mismatch: " + sig->str() + " (model " + model_used + ")";
    ro.notes = "minimized from " + o->file + " by secdiff minimize";
    write_text(prefix + ".c", repro_c_source(m, ro));
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("before: %s\n", st.before.str().c_str());
    std::printf("after:  %s\n", st.after.str().c_str());
    for (size_t i = 0; i < m.filters.size(); i++)
      std::printf("  filter %zu: %zu insns\n", i, m.filters[i].prog.size());
    if (!st.installs_filtered)
      std::printf("note: the minimized chain still needs every filter attached; on a kernel the filters before "
                  "some filter deny its seccomp() call\n");
    std::printf("time: %.2f s (minimizing %.2f s, %zu candidates tested, %zu reductions%s)\n", secs, st.seconds,
                st.tests, st.steps, st.timed_out ? ", time limit reached" : "");
    std::printf("wrote %s.case.json %s.bpf_asm %s.c\n", prefix.c_str(), prefix.c_str(), prefix.c_str());
    return kExitOk;
  };
}

}  // namespace secdiff::cli
