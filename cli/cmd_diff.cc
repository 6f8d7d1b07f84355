// secdiff diff: run case files on a real kernel (QEMU VMs, or the host agent)
// and compare with the oracle.
#include <sys/stat.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli.h"
#include "host/case_file.h"
#include "vm/locate.h"
#include "vm/pool.h"
#include "vm/runner.h"
#include "vm/spawn.h"

namespace secdiff::cli {

namespace {

namespace fs = std::filesystem;
namespace bp = boost::process;
using namespace secdiff::vm;

// Runs a command, returns its stdout; stderr passes through. Throws on failure.
std::string run_capture(const std::string& exe, const std::vector<std::string>& args, const std::string& what) {
  bp::ipstream out;
  bp::child c = spawn(bp::exe = exe, bp::args = args, bp::std_out > out, bp::std_in < bp::null);
  std::string all, line;
  while (std::getline(out, line)) all += line + "\n";
  c.wait();
  if (c.exit_code() != 0) throw InputError(what + " failed (exit status " + std::to_string(c.exit_code()) + ")");
  return all;
}

struct KernelChoice {
  std::string name, image, modules;
};

KernelChoice find_kernel(const std::string& spec, const std::string& modules) {
  KernelChoice k;
  std::error_code ec;
  if (spec.find('/') != std::string::npos || (fs::is_regular_file(spec, ec) && spec != "debian" && spec != "debug")) {
    if (!fs::is_regular_file(spec, ec)) throw InputError(spec + ": kernel image not found");
    k.name = fs::path(spec).filename().string();
    k.image = spec;
    k.modules = modules;
    return k;
  }
  k.name = spec;
  if (const char* dir = std::getenv("SECDIFF_KERNEL_DIR"); dir && *dir) {
    // Same layout as the kernel cache: <dir>/<name>-<key>/{vmlinuz|bzImage,modules/}.
    std::vector<fs::path> found;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
      if (it->is_directory() && it->path().filename().string().rfind(spec + "-", 0) == 0) found.push_back(it->path());
    if (fs::is_directory(fs::path(dir) / spec, ec)) found.push_back(fs::path(dir) / spec);
    std::sort(found.begin(), found.end());
    for (auto it = found.rbegin(); it != found.rend(); ++it) {
      for (const char* img : {"vmlinuz", "bzImage"})
        if (fs::is_regular_file(*it / img, ec)) {
          k.image = (*it / img).string();
          if (fs::is_directory(*it / "modules", ec)) k.modules = (*it / "modules").string();
          break;
        }
      if (!k.image.empty()) break;
    }
    if (k.image.empty())
      throw InputError("SECDIFF_KERNEL_DIR=" + std::string(dir) + ": no " + spec + "-*/{vmlinuz,bzImage}");
  } else {
    const fs::path script = source_dir() / "scripts/vm/kernels.sh";
    std::istringstream out(run_capture("/bin/bash", {script.string(), spec}, script.string() + " " + spec));
    std::string line;
    while (std::getline(out, line)) {
      std::istringstream ls(line);
      std::string name, image, mods;
      ls >> name >> image >> mods;
      if (name == spec) {
        k.image = image;
        k.modules = mods;
      }
    }
    if (k.image.empty()) throw InputError(script.string() + " printed no '" + spec + "' kernel");
  }
  if (!modules.empty()) k.modules = modules;
  return k;
}


std::string build_initramfs(const std::string& agent, const std::string& modules, const std::string& out) {
  const fs::path script = source_dir() / "scripts/vm/initramfs.sh";
  std::vector<std::string> args = {script.string(), "--agent", agent, "-o", out};
  if (!modules.empty()) {
    args.push_back("--modules");
    args.push_back(modules);
  }
  run_capture("/bin/bash", args, script.string());
  return out;
}

std::string make_temp_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/secdiff-diff-XXXXXX";
  if (!::mkdtemp(templ.data())) throw InputError("mkdtemp " + templ + " failed");
  return templ;
}

std::string features_str(uint32_t f) {
  std::string s;
  auto add = [&](uint32_t bit, const char* name) {
    if (f & bit) s += (s.empty() ? "" : ",") + std::string(name);
  };
  add(kFeatureCacheDebug, "cache-debug");
  add(kFeatureX32, "x32");
  add(kFeatureIa32, "ia32");
  add(kFeatureJitSysctl, "jit-sysctl");
  add(kFeatureAudit, "audit");
  add(kFeatureTracepoints, "tracepoints");
  return s.empty() ? "none" : s;
}

const char* const kProperties[] = {"install-result", "action", "errno-data", "siginfo", "dispatch",
                                   "audit", "cache-bitmap", "vm-crash", "jit-self-diff"};

}  // namespace

Runner add_diff(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "diff",
      "Run CASE... (case files, or directories of them) on a real kernel and compare with the oracle.\n"
      "Kernels: debian (Debian's cloud kernel) or debug (SECCOMP_CACHE_DEBUG: cache bitmaps are compared),\n"
      "or a kernel image PATH (with --modules DIR if virtio-serial is modular). Exit: 0 no mismatch,\n"
      "1 mismatches (or cases that crash the VM), 2 bad input or infrastructure failure.");
  struct Opts {
    std::vector<std::string> cases;
    std::string kernel = "debian", modules, jit = "on", model = "linux", backend = "vm", findings;
    int jobs = 0;
    bool json = false, quiet = false, no_cache = false, keep = false, show = false, no_inputs = false;
    // test and tuning knobs
    std::string agent, initrd, fault, work_dir, qemu = "qemu-system-x86_64", append;
    size_t batch = 16;
    uint32_t syscall_timeout_ms = 2000;
    int batch_timeout_ms = 20000;
    int boot_timeout_ms = 60000;
  };
  auto o = std::make_shared<Opts>();
  sub->add_option("CASE", o->cases, "case files or directories")->required();
  sub->add_option("--kernel", o->kernel, "debian|debug|PATH")->capture_default_str();
  sub->add_option("--modules", o->modules, "directory of NN_name.ko modules to load (PATH kernels)");
  sub->add_option("--jit", o->jit, "on|off|both (both: run each case twice and also compare the kernel with itself)")
      ->capture_default_str();
  sub->add_option("--model", o->model, "cache model for the bitmap comparison: linux|rfc-v1|rfc-v1-fixed|exact")
      ->capture_default_str();
  sub->add_option("--jobs", o->jobs, "VMs (default: one single-vCPU VM per core)");
  sub->add_option("--backend", o->backend,
                  "vm (QEMU) or host (runs secdiff-agent --stdio --allow-any-syscall on this kernel: "
                  "only on a throw-away machine)")
      ->capture_default_str();
  sub->add_option("--findings", o->findings, "save each mismatch here (case file + .txt report, named by signature)");
  sub->add_flag("--json", o->json, "machine-readable output");
  sub->add_flag("-q,--quiet", o->quiet, "print the summary only, not each mismatch report");
  sub->add_flag("--no-cache-compare", o->no_cache, "do not compare /proc/PID/seccomp_cache bitmaps");
  sub->add_flag("--installs-only", o->no_inputs,
                "drop every case's inputs: compare install results and cache bitmaps only");
  sub->add_flag("--show-results", o->show, "print what the kernel did for every install and input (to stderr)");
  const std::string adv = "Advanced";
  sub->add_option("--agent", o->agent, "secdiff-agent binary (default: next to secdiff)")->group(adv);
  sub->add_option("--initrd", o->initrd, "use this initramfs instead of building one")->group(adv);
  sub->add_option("--qemu", o->qemu, "QEMU binary")->capture_default_str()->group(adv);
  sub->add_option("--append", o->append, "extra kernel command line")->group(adv);
  sub->add_option("--batch", o->batch, "cases per batch")->capture_default_str()->group(adv);
  sub->add_option("--syscall-timeout-ms", o->syscall_timeout_ms, "a syscall running longer counts as blocked")
      ->capture_default_str()->group(adv);
  sub->add_option("--batch-timeout-ms", o->batch_timeout_ms, "base answer deadline of a batch (hang detection)")
      ->capture_default_str()->group(adv);
  sub->add_option("--boot-timeout-ms", o->boot_timeout_ms, "an agent that has not said Hello by then failed to boot")
      ->capture_default_str()->group(adv);
  sub->add_option("--work-dir", o->work_dir, "keep VM files (console logs) here")->group(adv);
  sub->add_flag("--keep-vm-files", o->keep, "keep console logs of cleanly stopped VMs")->group(adv);
  sub->add_option("--inject-fault", o->fault, "test only: kill|panic|garbage|hang[@N] on the first VM's N-th batch")
      ->group(adv);

  return [o]() -> int {
    JitMode jit;
    if (o->jit == "on") jit = JitMode::On;
    else if (o->jit == "off") jit = JitMode::Off;
    else if (o->jit == "both") jit = JitMode::Both;
    else throw InputError("--jit: expected on, off or both, not '" + o->jit + "'");
    if (o->backend != "vm" && o->backend != "host")
      throw InputError("--backend: expected vm or host, not '" + o->backend + "'");
    {
      bool known = false;
      for (const auto& n : cache_model_names()) known = known || n == o->model;
      if (!known) {
        std::string names;
        for (const auto& n : cache_model_names()) names += (names.empty() ? "" : ", ") + n;
        throw InputError("--model: unknown cache model '" + o->model + "' (" + names + ")");
      }
    }
    // Cases first: bad input is reported before anything boots.
    std::vector<Case> cases;
    for (const std::string& path : collect_case_files(o->cases)) cases.push_back(load_case_file(path));
    if (o->no_inputs)
      for (Case& c : cases) c.inputs.clear();

    PoolOptions po;
    po.jobs = o->jobs;
    po.batch_cases = std::max<size_t>(1, o->batch);
    po.syscall_timeout_ms = o->syscall_timeout_ms;
    po.batch_timeout_base = Millis(o->batch_timeout_ms);
    if (!o->fault.empty()) {
      try {
        po.fault = parse_fault(o->fault);
      } catch (const std::invalid_argument& e) {
        throw InputError(std::string("--inject-fault: ") + e.what());
      }
    }
    std::string kernel_name = o->backend;
    std::string tmp;
    struct Cleanup {
      std::string dir;
      ~Cleanup() {
        if (!dir.empty()) {
          std::error_code ec;
          fs::remove_all(dir, ec);
        }
      }
    } cleanup;
    std::unique_ptr<Pool> pool;
    if (o->backend == "host") {
      HostAgentConfig hc;
      hc.agent = find_agent(o->agent);
      hc.work_dir = o->work_dir;
      hc.start_timeout = Millis(o->boot_timeout_ms);
      pool = make_host_pool(hc, po);
    } else {
      const KernelChoice k = find_kernel(o->kernel, o->modules);
      kernel_name = k.name;
      QemuConfig qc;
      qc.qemu = o->qemu;
      qc.kernel = k.image;
      qc.append = o->append;
      qc.work_dir = o->work_dir;
      qc.keep_files = o->keep;
      qc.boot_timeout = Millis(o->boot_timeout_ms);
      if (!o->initrd.empty()) {
        qc.initrd = o->initrd;
      } else {
        tmp = make_temp_dir();
        cleanup.dir = tmp;
        qc.initrd = build_initramfs(find_agent(o->agent), k.modules, tmp + "/initramfs.cpio");
      }
      pool = make_qemu_pool(qc, po);
    }
    RunnerOptions ro;
    ro.model = o->model;
    ro.jit = jit;
    ro.findings_dir = o->findings;
    ro.compare_cache = !o->no_cache;
    if (o->show)
      ro.on_result = [](const Case& c, const CaseRun& r) {
        std::fprintf(stderr, "case %s (jit %d)%s\n", c.name.c_str(), r.jit, r.crashed ? ": CRASHED the VM" : "");
        if (r.crashed) {
          std::fprintf(stderr, "  %s: %s\n", vm_failure_name(r.failure), r.failure_message.c_str());
          return;
        }
        for (size_t i = 0; i < r.result.installs.size(); i++)
          std::fprintf(stderr, "  install %zu: %s\n", i, describe_install(r.result.installs[i]).c_str());
        for (size_t i = 0; i < r.result.outcomes.size(); i++)
          std::fprintf(stderr, "  input %zu: %s\n", i, describe_outcome(r.result.outcomes[i]).c_str());
        if (!r.result.note.empty()) std::fprintf(stderr, "  note: %s\n", r.result.note.c_str());
      };
    DiffRunner runner(*pool, ro);
    DiffSummary s;
    try {
      s = runner.run(cases, [&](const Mismatch& m) {
        if (!o->json && !o->quiet) {
          std::printf("%s", m.report.c_str());
          if (!m.finding.empty()) std::printf("finding: %s%s\n", m.finding.c_str(), m.duplicate ? " (seen before)" : "");
          std::printf("\n");
          std::fflush(stdout);
        }
      });
    } catch (const PoolError& e) {
      pool->stop();
      std::fprintf(stderr, "secdiff: infrastructure failure: %s\n", e.what());
      return kExitError;
    }
    pool->stop();

    if (o->json) {
      nlohmann::ordered_json j;
      j["backend"] = s.backend;
      j["kernel"] = {{"name", kernel_name}, {"release", s.kernel_release}, {"version", s.kernel_version},
                     {"features", features_str(s.features)}, {"oracle_profile", s.profile}};
      j["model"] = s.model;
      j["cache_compared"] = s.cache_compared;
      j["jit"] = jit_mode_name(s.jit);
      j["cases"] = s.cases;
      j["inputs"] = s.inputs;
      j["executions"] = s.executions;
      j["crashed_cases"] = s.crashed;
      j["mismatches"] = s.mismatches;
      nlohmann::ordered_json bp = nlohmann::ordered_json::object();
      for (const char* p : kProperties) bp[p] = s.by_property.count(p) ? s.by_property.at(p) : 0;
      j["by_property"] = bp;
      j["vm"] = {{"workers", s.pool.workers}, {"restarts", s.pool.restarts}, {"boots", s.pool.boots},
                 {"batches", s.pool.batches}, {"retried_batches", s.pool.retried_batches},
                 {"isolated_batches", s.pool.isolated_batches}, {"flaky_batches", s.pool.flaky_batches},
                 {"first_boot_seconds", s.pool.first_boot_seconds},
                 {"first_case_seconds", s.pool.first_case_seconds},
                 {"failures", {{"boot", s.pool.failures_by_kind[0]}, {"panic", s.pool.failures_by_kind[1]},
                               {"exited", s.pool.failures_by_kind[2]}, {"hang", s.pool.failures_by_kind[3]},
                               {"protocol", s.pool.failures_by_kind[4]}}}};
      j["seconds"] = s.seconds;
      j["cases_per_second"] = s.cases_per_second;
      j["findings"] = {{"new", s.findings_new}, {"duplicate", s.findings_duplicate}};
      nlohmann::ordered_json list = nlohmann::ordered_json::array();
      for (const Mismatch& m : s.list)
        list.push_back({{"property", m.property}, {"kind", m.kind}, {"what", m.what},
                        {"case", cases[m.case_index].name}, {"filter", m.filter}, {"input", m.input},
                        {"jit", m.jit}, {"signature", m.signature}, {"finding", m.finding}, {"report", m.report}});
      j["mismatch_list"] = list;
      j["notes"] = s.notes;
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      std::printf("== secdiff diff: %zu cases, %zu inputs on %s (%s, %s), backend %s x%d, jit %s\n", s.cases,
                  s.inputs, s.kernel_release.c_str(), kernel_name.c_str(), features_str(s.features).c_str(),
                  s.backend.c_str(), s.pool.workers, jit_mode_name(s.jit));
      std::printf("   oracle profile %s, cache model %s, cache bitmaps %s\n", s.profile.c_str(), s.model.c_str(),
                  s.cache_compared ? "compared" : "not available on this kernel");
      std::printf("%-16s %10s\n", "property", "mismatches");
      for (const char* p : kProperties)
        std::printf("%-16s %10zu\n", p, s.by_property.count(p) ? s.by_property.at(p) : size_t{0});
      std::printf("%-16s %10zu\n", "total", s.mismatches);
      std::printf("%-16s %10zu (%zu crashed)\n", "case runs", s.executions, s.crashed);
      std::printf("%-16s %10llu (panic %llu, exited %llu, hang %llu, protocol %llu; %llu batches retried, %llu isolated)\n",
                  "VM restarts", static_cast<unsigned long long>(s.pool.restarts),
                  static_cast<unsigned long long>(s.pool.failures_by_kind[1]),
                  static_cast<unsigned long long>(s.pool.failures_by_kind[2]),
                  static_cast<unsigned long long>(s.pool.failures_by_kind[3]),
                  static_cast<unsigned long long>(s.pool.failures_by_kind[4]),
                  static_cast<unsigned long long>(s.pool.retried_batches),
                  static_cast<unsigned long long>(s.pool.isolated_batches));
      std::printf("%-16s %10.1f (%.2f s in all; first boot %.2f s, first case answered after %.2f s)\n", "cases/s",
                  s.cases_per_second, s.seconds, s.pool.first_boot_seconds, s.pool.first_case_seconds);
      if (s.findings_new || s.findings_duplicate)
        std::printf("%-16s %10zu new, %zu seen before, in %s\n", "findings", s.findings_new, s.findings_duplicate,
                    o->findings.c_str());
      for (size_t i = 0; i < s.notes.size() && i < 10; i++) std::printf("note: %s\n", s.notes[i].c_str());
      if (s.notes.size() > 10) std::printf("note: ... %zu notes in all (--json lists them)\n", s.notes.size());
    }
    return s.mismatches ? kExitNegative : kExitOk;
  };
}

}  // namespace secdiff::cli
