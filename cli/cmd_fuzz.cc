// secdiff fuzz: the fuzzing campaign, the main job. Builds what is missing,
// starts the VM pool (vm_diff) behind a broker socket, runs libFuzzer (-fork)
// or AFL++ (-M/-S) on the target from the built-in corpus, and shows live
// progress. Everything lives in the work directory; a later run resumes.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "cli/cli.h"
#include "fuzzers/campaign.h"
#include "fuzzers/coverage_tally.h"
#include "vm/broker.h"
#include "vm/diff_service.h"
#include "vm/locate.h"
#include "vm/minimize.h"

namespace secdiff::cli {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

volatile sig_atomic_t g_interrupted = 0;
void on_interrupt(int) { g_interrupted = 1; }

const char* const kTargets[] = {"vm_diff", "cache_soundness", "oracle_consistency", "kernel_load"};

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Runs a build step with its output in `log`; throws InputError with the log's tail.
void run_step(const std::vector<std::string>& argv, const std::string& log, const std::string& what) {
  std::fprintf(stderr, "secdiff fuzz: %s (log: %s)\n", what.c_str(), log.c_str());
  std::string cmd;
  for (const std::string& a : argv) {
    std::string q = "'";
    for (char ch : a) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
    cmd += q + "' ";
  }
  cmd += ">>'" + log + "' 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    std::string tail = read_text(log);
    if (tail.size() > 2000) tail = "..." + tail.substr(tail.size() - 2000);
    throw InputError(what + " failed; end of " + log + ":\n" + tail);
  }
}

bool have_command(const std::string& name) {
  return std::system(("command -v '" + name + "' >/dev/null 2>&1").c_str()) == 0;
}

// Cumulative figures over every run in a work directory (stats.json).
struct Totals {
  double seconds = 0;
  uint64_t execs = 0, vm_cases = 0, vm_inputs = 0, vm_mismatches = 0, runs = 0;
};

Totals load_totals(const fs::path& p) {
  Totals t;
  std::error_code ec;
  if (!fs::exists(p, ec)) return t;
  try {
    const auto j = nlohmann::json::parse(read_text(p));
    t.seconds = j.value("seconds", 0.0);
    t.execs = j.value("execs", uint64_t{0});
    t.vm_cases = j.value("vm_cases", uint64_t{0});
    t.vm_inputs = j.value("vm_inputs", uint64_t{0});
    t.vm_mismatches = j.value("vm_mismatches", uint64_t{0});
    t.runs = j.value("runs", uint64_t{0});
  } catch (const std::exception& e) {
    throw InputError(p.string() + ": corrupt campaign statistics (" + e.what() + "); delete it to start counting anew");
  }
  return t;
}

void save_totals(const fs::path& p, const Totals& t) {
  nlohmann::ordered_json j = {{"seconds", t.seconds},   {"execs", t.execs},
                              {"vm_cases", t.vm_cases}, {"vm_inputs", t.vm_inputs},
                              {"vm_mismatches", t.vm_mismatches}, {"runs", t.runs}};
  const fs::path tmp = p.string() + ".tmp";
  std::ofstream(tmp) << j.dump(2) << "\n";
  std::error_code ec;
  fs::rename(tmp, p, ec);
}

// Adds corpus files not seen yet to the coverage tally.
struct CorpusWatch {
  fuzz::CoverageTally tally;
  std::set<std::string> seen;
  void scan(const std::vector<fs::path>& dirs) {
    std::error_code ec;
    for (const fs::path& d : dirs) {
      if (!fs::is_directory(d, ec)) continue;
      for (auto it = fs::recursive_directory_iterator(d, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        if (!it->is_regular_file(ec)) continue;
        const std::string name = it->path().filename().string();
        if (name.empty() || name[0] == '.' || name == "README.txt") continue;
        if (!seen.insert(it->path().string()).second) continue;
        tally.add_encoded(read_text(it->path()));
      }
    }
  }
};

std::string hms(double s) {
  const long t = static_cast<long>(s);
  char b[32];
  std::snprintf(b, sizeof b, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  return b;
}

}  // namespace

Runner add_fuzz(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "fuzz",
      "Run a fuzzing campaign (the main job). Default: the vm_diff target - every generated case runs on a\n"
      "real kernel in QEMU (the debug kernel, so cache bitmaps are compared too) and against the oracle -\n"
      "with libFuzzer on every core, seeded from the built-in corpus (corpus/seeds, fuzzers/seeds).\n"
      "Builds what is missing (fuzz targets, kernels, initramfs). Everything lives in --work; Ctrl-C stops,\n"
      "and running the same command again resumes (corpus, findings and totals are kept).\n"
      "Findings: WORK/findings/<signature>.{case|json,txt}; reproduce with `secdiff repro`, shrink with\n"
      "`secdiff minimize`. Exit: 0 no finding, 1 findings in the work directory, 2 bad input or failure.");
  struct Opts {
    std::string work, engine = "libfuzzer", target = "vm_diff", kernel = "debug", model, jit = "on", binary;
    std::vector<std::string> seeds;
    unsigned time = 0, jobs = 0, vms = 0;
    uint32_t syscall_timeout_ms = 250;
    double interval = 0;
    bool fresh = false, no_build = false, json = false;
    std::vector<std::string> engine_args;
  };
  auto o = std::make_shared<Opts>();
  sub->add_option("--work", o->work, "work directory (default: ./secdiff-work/<target>)");
  sub->add_option("--time", o->time, "stop after this many seconds (default: run until Ctrl-C)");
  sub->add_option("--jobs", o->jobs, "fuzzing processes (default: one per core)");
  sub->add_option("--engine", o->engine, "libfuzzer|afl")->capture_default_str();
  sub->add_option("--target", o->target, "vm_diff|cache_soundness|oracle_consistency|kernel_load")
      ->capture_default_str();
  sub->add_option("--kernel", o->kernel, "vm_diff: debian|debug|PATH (a kernel image)")->capture_default_str();
  sub->add_option("--model", o->model,
                  "vm_diff: cache model compared with the kernel's bitmaps (default linux); cache_soundness: "
                  "comma-separated models under test (default linux,rfc-v1,rfc-v1-fixed)");
  sub->add_option("--vms", o->vms, "vm_diff: VMs in the pool (default: one per core)");
  sub->add_option("--jit", o->jit, "vm_diff: on|off|both")->capture_default_str();
  sub->add_option("--seeds", o->seeds, "seed directories (default: the built-in corpus)");
  sub->add_flag("--fresh", o->fresh, "start over: empty the corpus, findings and totals of the work directory");
  sub->add_flag("--no-build", o->no_build, "do not build missing fuzz targets");
  sub->add_flag("--json", o->json, "print the final summary as JSON");
  sub->add_option("--status-interval", o->interval, "seconds between progress updates (default 1 on a terminal, 10 otherwise)");
  const std::string adv = "Advanced";
  sub->add_option("--binary", o->binary, "the fuzz target binary (default: build-fuzz-<engine>/fuzzers/fuzz_<target>)")
      ->group(adv);
  sub->add_option("--syscall-timeout-ms", o->syscall_timeout_ms,
                  "vm_diff: a syscall still running then counts as blocked (ended by the agent)")
      ->capture_default_str()
      ->group(adv);
  sub->add_option("--engine-arg", o->engine_args, "extra argument for every engine process (repeatable)")->group(adv);

  return [o]() -> int {
    bool known = false;
    for (const char* t : kTargets) known = known || o->target == t;
    if (!known) throw InputError("--target: unknown target '" + o->target + "' (vm_diff, cache_soundness, oracle_consistency, kernel_load)");
    if (o->engine != "libfuzzer" && o->engine != "afl")
      throw InputError("--engine: expected libfuzzer or afl, not '" + o->engine + "'");
    vm::JitMode jit;
    if (o->jit == "on") jit = vm::JitMode::On;
    else if (o->jit == "off") jit = vm::JitMode::Off;
    else if (o->jit == "both") jit = vm::JitMode::Both;
    else throw InputError("--jit: expected on, off or both, not '" + o->jit + "'");
    const bool vm_target = o->target == "vm_diff";
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    if (o->jobs == 0) o->jobs = cores;
    if (o->vms == 0) o->vms = cores;
    if (vm_target && !o->model.empty()) {
      bool ok = false;
      for (const auto& n : cache_model_names()) ok = ok || n == o->model;
      if (!ok) throw InputError("--model: unknown cache model '" + o->model + "'");
    }

    const fs::path src = vm::source_dir();
    const fs::path work = fs::absolute(o->work.empty() ? fs::path("secdiff-work") / o->target : fs::path(o->work));
    fs::create_directories(work / "logs");
    // One campaign per work directory.
    const int lock_fd = ::open((work / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0)
      throw InputError(work.string() + ": another secdiff fuzz is running in this work directory");
    const fs::path stats_path = work / "stats.json";
    if (o->fresh) fs::remove(stats_path);
    Totals totals = load_totals(stats_path);
    {
      // The options of the first run stay the campaign's: warn when they change.
      const fs::path cf = work / "campaign.txt";
      const std::string want = "target " + o->target + "\nengine " + o->engine;
      std::error_code ec;
      if (!o->fresh && fs::exists(cf, ec) && read_text(cf).rfind(want, 0) != 0)
        std::fprintf(stderr, "secdiff fuzz: note: %s was used with other options before (see campaign.txt)\n",
                     work.c_str());
    }

    // 1. The engine binary (built when missing).
    std::string binary = o->binary, mutator;
    const fs::path build = src / ("build-fuzz-" + o->engine);
    const std::string build_log = (work / "logs/build.log").string();
    if (o->engine == "afl" && (!have_command("afl-fuzz") || !have_command("afl-clang-fast++")))
      throw InputError("AFL++ is not installed (afl-fuzz, afl-clang-fast++): run scripts/setup.sh");
    if (binary.empty()) {
      binary = (build / "fuzzers" / ("fuzz_" + o->target)).string();
      if (!o->no_build)
        run_step({"bash", (src / "scripts/fuzz-build.sh").string(), o->engine, "fuzz_" + o->target}, build_log,
                 "building fuzz_" + o->target + " for " + o->engine);
    }
    if (::access(binary.c_str(), X_OK) != 0)
      throw InputError(binary + ": fuzz target not built (scripts/fuzz-build.sh " + o->engine + " fuzz_" + o->target + ")");
    if (o->engine == "afl") {
      // The custom mutator is part of the build secdiff comes from.
      mutator = (vm::exe_dir() / "fuzzers/libsecdiff_afl_mutator.so").string();
      if (!o->no_build && fs::exists(vm::exe_dir() / "CMakeCache.txt"))
        run_step({"cmake", "--build", vm::exe_dir().string(), "--target", "secdiff_afl_mutator"}, build_log,
                 "building the AFL++ custom mutator");
      if (::access(mutator.c_str(), R_OK) != 0) throw InputError(mutator + ": AFL++ custom mutator not built");
    }

    // 2. The VM pool behind the broker socket (vm_diff).
    std::unique_ptr<vm::BackendHandle> backend;
    std::unique_ptr<vm::DiffService> service;
    std::unique_ptr<vm::BrokerServer> broker;
    std::string kernel_line;
    if (vm_target) {
      vm::BackendSpec spec;
      spec.kernel = o->kernel;
      spec.jobs = static_cast<int>(o->vms);
      spec.syscall_timeout_ms = o->syscall_timeout_ms;
      spec.batch_cases = 4;
      spec.work_dir = (work / "vm").string();
      fs::create_directories(spec.work_dir);
      std::fprintf(stderr, "secdiff fuzz: starting %u VM(s) with the %s kernel\n", o->vms, o->kernel.c_str());
      backend = vm::make_backend(spec);
      vm::RunnerOptions ro;
      ro.model = o->model.empty() ? "linux" : o->model;
      ro.jit = jit;
      ro.findings_dir = (work / "findings").string();
      service = std::make_unique<vm::DiffService>(*backend->pool, ro);
      try {
        const vm::Hello& h = service->start();
        const auto& ctx = service->context();
        kernel_line = h.kernel_release + " (" + backend->kernel_name + "), oracle profile " +
                      (ctx.profile ? ctx.profile->version : default_kernel_profile().version) + ", model " + ro.model +
                      ((h.features & vm::kFeatureCacheDebug) ? ", cache bitmaps compared" : ", no cache bitmaps");
      } catch (const vm::PoolError& e) {
        throw InputError(std::string("the VMs did not start: ") + e.what());
      }
      std::string sock = (work / "vm.sock").string();
      if (sock.size() >= 100) sock = "/tmp/secdiff-fuzz-" + std::to_string(::getpid()) + ".sock";
      broker = std::make_unique<vm::BrokerServer>(*service, sock);
      broker->start();
    }

    // 3. The engine processes.
    fuzz::CampaignOptions co;
    co.target = o->target;
    co.engine = o->engine;
    co.binary = binary;
    co.afl_mutator = mutator;
    co.work_dir = work.string();
    co.jobs = o->jobs;
    co.max_seconds = o->time;
    co.resume = !o->fresh;
    co.extra_args = o->engine_args;
    if (o->seeds.empty()) {
      for (const char* d : {"corpus/seeds", "fuzzers/seeds"})
        if (fs::is_directory(src / d)) co.seed_dirs.push_back((src / d).string());
    } else {
      for (const std::string& d : o->seeds) {
        if (!fs::is_directory(d)) throw InputError(d + ": seed directory not found");
        co.seed_dirs.push_back(d);
      }
    }
    if (broker) co.env.emplace_back("SECDIFF_VM_SOCKET", broker->path());
    if (!vm_target && !o->model.empty()) co.env.emplace_back("SECDIFF_FUZZ_MODELS", o->model);
    fuzz::Campaign campaign(co);
    campaign.start();

    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);
    FILE* out = o->json ? stderr : stdout;  // progress; stdout keeps the JSON alone
    const bool tty = ::isatty(fileno(out));
    const double interval = o->interval > 0 ? o->interval : (tty ? 1.0 : 10.0);
    const auto t0 = Clock::now();
    std::vector<fs::path> corpus_dirs = {work / "corpus"};
    if (o->engine == "afl") corpus_dirs = {work / "afl"};
    for (const std::string& d : co.seed_dirs) corpus_dirs.push_back(d);
    CorpusWatch watch;
    std::vector<std::string> recent;  // newest findings
    std::set<std::string> findings_seen;
    for (const std::string& r : campaign.finding_reports()) findings_seen.insert(r);
    int drawn = 0;
    auto next_draw = Clock::now();
    auto next_scan = Clock::now();
    auto next_save = Clock::now() + std::chrono::seconds(30);
    fuzz::CampaignStatus st;
    vm::ServiceStats vs;
    std::deque<std::pair<double, uint64_t>> rate_window;  // (seconds, execs)
    std::string stop_reason = "time limit";

    std::fprintf(out, "secdiff fuzz: target %s, engine %s x%u, work %s%s\n", o->target.c_str(), o->engine.c_str(), o->jobs,
                work.c_str(), totals.runs ? (" (resuming run " + std::to_string(totals.runs + 1) + ")").c_str() : "");
    if (!kernel_line.empty()) std::fprintf(out, "kernel: %s, %u VM(s)\n", kernel_line.c_str(), o->vms);
    std::fprintf(out, "Ctrl-C stops; the same command resumes.\n");
    std::fflush(out);

    auto draw = [&](bool final) {
      const double el = std::chrono::duration<double>(Clock::now() - t0).count();
      std::vector<std::string> lines;
      char b[512];
      std::snprintf(b, sizeof b, "elapsed %s (campaign %s)   engine: %llu execs, %.0f/s, corpus %llu, cov %llu",
                    hms(el).c_str(), hms(totals.seconds + el).c_str(), static_cast<unsigned long long>(st.execs),
                    st.execs_per_s, static_cast<unsigned long long>(st.corpus),
                    static_cast<unsigned long long>(st.coverage));
      lines.push_back(b);
      if (service) {
        const double cps = el > 0 ? static_cast<double>(vs.executions) / el : 0;
        std::snprintf(b, sizeof b,
                      "kernel: %llu cases (%.0f/s), %llu inputs, queue %llu   mismatches %llu   VMs %d, restarts %llu, "
                      "crashed cases %llu",
                      static_cast<unsigned long long>(vs.done), cps, static_cast<unsigned long long>(vs.inputs),
                      static_cast<unsigned long long>(vs.submitted - vs.done),
                      static_cast<unsigned long long>(vs.mismatches), vs.pool.workers,
                      static_cast<unsigned long long>(vs.pool.restarts), static_cast<unsigned long long>(vs.crashed));
        lines.push_back(b);
      }
      const auto& t = watch.tally;
      std::snprintf(b, sizeof b,
                    "BPF coverage of the corpus (%zu cases): opcodes %zu/%zu (%.0f%%), branch directions %zu/%zu "
                    "(%.0f%%), cache-emulator paths %zu/%zu",
                    t.decoded(), t.opcodes_hit(), t.opcodes_total(),
                    100.0 * static_cast<double>(t.opcodes_hit()) / static_cast<double>(std::max<size_t>(1, t.opcodes_total())),
                    t.directions_hit(), t.directions_total(),
                    100.0 * static_cast<double>(t.directions_hit()) / static_cast<double>(std::max<size_t>(1, t.directions_total())),
                    t.emulator_hit(), fuzz::CoverageTally::emulator_features().size());
      lines.push_back(b);
      std::snprintf(b, sizeof b, "findings: %zu distinct in %s/findings", st.findings, work.c_str());
      lines.push_back(b);
      for (const std::string& r : recent) lines.push_back("  " + r);
      if (tty && !final) {
        if (drawn) std::fprintf(out, "\033[%dA", drawn);
        for (const std::string& l : lines) std::fprintf(out, "\033[2K%s\n", l.c_str());
        drawn = static_cast<int>(lines.size());
      } else if (!final) {
        std::fprintf(out, "[%s] %s\n", hms(el).c_str(), lines[0].c_str());
        for (size_t i = 1; i < lines.size() && i < 4; i++) std::fprintf(out, "           %s\n", lines[i].c_str());
      } else {
        for (const std::string& l : lines) std::fprintf(out, "%s\n", l.c_str());
      }
      std::fflush(out);
    };

    auto persist = [&] {
      Totals t = totals;
      t.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
      t.execs += st.execs;
      t.vm_cases += vs.done;
      t.vm_inputs += vs.inputs;
      t.vm_mismatches += vs.mismatches;
      t.runs += 1;
      save_totals(stats_path, t);
    };

    int rc = kExitOk;
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      const auto now = Clock::now();
      if (g_interrupted) {
        stop_reason = "interrupted";
        break;
      }
      // The engines check their time limit between executions only.
      if (o->time && std::chrono::duration<double>(now - t0).count() > o->time + 10.0) break;
      if (now < next_draw) continue;
      st = campaign.poll();
      {
        // exec/s over the last 10 s from the counts (the engines' own rates are
        // per process, or taken during calibration).
        rate_window.emplace_back(std::chrono::duration<double>(now - t0).count(), st.execs);
        while (rate_window.size() > 2 && rate_window.back().first - rate_window.front().first > 10) rate_window.pop_front();
        const auto& [t_a, e_a] = rate_window.front();
        const auto& [t_b, e_b] = rate_window.back();
        if (t_b > t_a) st.execs_per_s = static_cast<double>(e_b - std::min(e_a, e_b)) / (t_b - t_a);
      }
      if (service) {
        vs = service->stats();
        if (!vs.error.empty()) {
          stop_reason = "VM pool failed: " + vs.error;
          rc = kExitError;
          break;
        }
      }
      for (const std::string& r : campaign.finding_reports())
        if (findings_seen.insert(r).second) {
          recent.push_back(fs::path(r).stem().string());
          if (recent.size() > 5) recent.erase(recent.begin());
        }
      if (now >= next_scan) {
        watch.scan(corpus_dirs);
        next_scan = now + std::chrono::seconds(5);
      }
      draw(false);
      if (now >= next_save) {
        persist();
        next_save = now + std::chrono::seconds(30);
      }
      next_draw = now + std::chrono::milliseconds(static_cast<int>(interval * 1000));
      if (!st.running) {
        if (o->time == 0 || std::chrono::duration<double>(now - t0).count() + 5 < o->time) {
          stop_reason = "the engine exited (see " + work.string() + "/logs)";
          rc = kExitError;
        }
        break;
      }
    }
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    std::fprintf(stderr, "\nsecdiff fuzz: stopping (%s)...\n", stop_reason.c_str());
    campaign.stop();
    if (broker) broker->stop();
    if (service) {
      service->stop();  // every case already sent is run and compared
      vs = service->stats();
    }
    st = campaign.poll();
    watch.scan(corpus_dirs);
    for (const std::string& r : campaign.finding_reports())
      if (findings_seen.insert(r).second) recent.push_back(fs::path(r).stem().string());
    persist();
    const Totals all = load_totals(stats_path);
    if (backend) backend.reset();
    std::fprintf(out, "\n");
    if (o->json) {
      nlohmann::ordered_json j;
      j["target"] = o->target;
      j["engine"] = o->engine;
      j["work"] = work.string();
      j["stopped"] = stop_reason;
      j["run"] = {{"seconds", std::chrono::duration<double>(Clock::now() - t0).count()},
                  {"execs", st.execs},
                  {"corpus", st.corpus},
                  {"vm_cases", vs.done},
                  {"vm_inputs", vs.inputs},
                  {"vm_mismatches", vs.mismatches},
                  {"vm_restarts", vs.pool.restarts}};
      j["campaign"] = {{"runs", all.runs}, {"seconds", all.seconds}, {"execs", all.execs},
                       {"vm_cases", all.vm_cases}, {"vm_inputs", all.vm_inputs}, {"vm_mismatches", all.vm_mismatches}};
      j["coverage"] = {{"corpus_cases", watch.tally.decoded()},
                       {"opcodes", watch.tally.opcodes_hit()},
                       {"opcodes_total", watch.tally.opcodes_total()},
                       {"directions", watch.tally.directions_hit()},
                       {"directions_total", watch.tally.directions_total()}};
      nlohmann::ordered_json f = nlohmann::ordered_json::array();
      for (const std::string& r : campaign.finding_reports()) f.push_back(r);
      j["findings"] = f;
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      draw(true);
      std::printf("campaign so far: %llu run(s), %s, %llu execs, %llu kernel cases\n",
                  static_cast<unsigned long long>(all.runs), hms(all.seconds).c_str(),
                  static_cast<unsigned long long>(all.execs), static_cast<unsigned long long>(all.vm_cases));
      for (const std::string& r : campaign.finding_reports()) std::printf("finding: %s\n", r.c_str());
    }
    ::close(lock_fd);
    if (rc != kExitOk) {
      std::fprintf(stderr, "secdiff fuzz: %s\n", stop_reason.c_str());
      return rc;
    }
    return campaign.finding_reports().empty() ? kExitOk : kExitNegative;
  };
}

}  // namespace secdiff::cli
