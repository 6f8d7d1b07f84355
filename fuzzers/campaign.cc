#include "fuzzers/campaign.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "fuzzers/findings.h"
#include "oracle/case_codec.h"
#include "vm/spawn.h"

namespace secdiff::fuzz {

namespace fs = std::filesystem;

namespace {

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::string read_all(const std::string& path, size_t max = 1 << 20) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  f.seekg(0, std::ios::end);
  const auto size = static_cast<size_t>(std::max<std::streamoff>(0, f.tellg()));
  const size_t from = size > max ? size - max : 0;
  f.seekg(static_cast<std::streamoff>(from));
  std::string s(size - from, '\0');
  f.read(s.data(), static_cast<std::streamsize>(s.size()));
  return s;
}

uint64_t number_after(const std::string& line, const std::string& key) {
  const size_t p = line.find(key);
  if (p == std::string::npos) return 0;
  return std::strtoull(line.c_str() + p + key.size(), nullptr, 10);
}

pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::pair<std::string, std::string>>& env,
            const std::string& log) {
  // Not while a pool thread starts QEMU (vm/spawn.h): this child would keep
  // that launch's error pipe open for its whole life.
  std::unique_lock<std::mutex> lock(vm::spawn_mutex());
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    setpgid(0, 0);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    const int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) dup2(nul, 0);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> a;
    for (const std::string& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execvp(a[0], a.data());
    _exit(127);
  }
  setpgid(pid, pid);
  return pid;
}

}  // namespace

Campaign::Campaign(CampaignOptions o) : o_(std::move(o)) {
  if (o_.jobs == 0) o_.jobs = 1;
}

Campaign::~Campaign() { stop(); }

std::vector<std::vector<std::string>> Campaign::commands() const {
  std::vector<std::vector<std::string>> out;
  const std::string w = o_.work_dir;
  if (o_.engine == "libfuzzer") {
    std::vector<std::string> a = {o_.binary, "-artifact_prefix=" + w + "/findings/",
                                  "-max_len=65536", "-print_final_stats=1", "-reload=1"};
    if (o_.jobs > 1) {
      a.push_back("-fork=" + std::to_string(o_.jobs));
      a.push_back("-ignore_crashes=1");
      a.push_back("-ignore_timeouts=1");
      a.push_back("-ignore_ooms=1");
    }
    if (o_.max_seconds) a.push_back("-max_total_time=" + std::to_string(o_.max_seconds));
    a.insert(a.end(), o_.extra_args.begin(), o_.extra_args.end());
    a.push_back(w + "/corpus");
    for (const std::string& s : o_.seed_dirs) a.push_back(s);
    out.push_back(a);
  } else if (o_.engine == "afl") {
    const bool resume = o_.resume && fs::exists(w + "/afl/main");
    for (unsigned i = 0; i < o_.jobs; i++) {
      std::vector<std::string> a = {o_.afl_fuzz, "-i", resume ? "-" : w + "/afl-seeds", "-o", w + "/afl",
                                    "-m", "none", "-t", "2000"};
      if (i == 0) {
        a.insert(a.end(), {"-M", "main"});
      } else {
        a.insert(a.end(), {"-S", "secondary" + std::to_string(i)});
        // Different setups for the secondaries (AFL++ fuzzing_in_depth §3c).
        if (i % 2 == 0) a.insert(a.end(), {"-p", "exploit"});
      }
      if (o_.max_seconds) a.insert(a.end(), {"-V", std::to_string(o_.max_seconds)});
      a.insert(a.end(), o_.extra_args.begin(), o_.extra_args.end());
      a.insert(a.end(), {"--", o_.binary});
      out.push_back(a);
    }
  } else {
    throw std::runtime_error("unknown engine " + o_.engine + " (libfuzzer or afl)");
  }
  return out;
}

void Campaign::start() {
  if (o_.work_dir.empty()) throw std::runtime_error("no work directory");
  if (o_.binary.empty() || access(o_.binary.c_str(), X_OK) != 0)
    throw std::runtime_error("target binary not executable: " + o_.binary);
  const std::string w = o_.work_dir;
  if (!o_.resume) {
    for (const char* d : {"/corpus", "/afl", "/afl-seeds", "/findings"}) fs::remove_all(w + d);
  }
  for (const char* d : {"", "/corpus", "/findings", "/logs"}) fs::create_directories(w + d);
  if (o_.engine == "afl") {
    fs::create_directories(w + "/afl-seeds");
    size_t n = 0;
    for (const std::string& s : o_.seed_dirs)
      if (fs::is_directory(s))
        for (const auto& e : fs::directory_iterator(s))
          if (e.is_regular_file())
            fs::copy_file(e.path(), w + "/afl-seeds/" + std::to_string(n++) + "-" + e.path().filename().string(),
                          fs::copy_options::skip_existing);
    if (n == 0 && fs::is_empty(w + "/afl-seeds")) {
      std::ofstream(w + "/afl-seeds/empty.case", std::ios::binary) << encode_case(Case{});
    }
  }
  {
    std::ofstream f(w + "/campaign.txt");
    f << "target " << o_.target << "\nengine " << o_.engine << "\nbinary " << o_.binary
      << "\njobs " << o_.jobs << "\nmax_seconds " << o_.max_seconds << "\n";
    for (const auto& [k, v] : o_.env) f << "env " << k << "=" << v << "\n";
  }
  std::vector<std::pair<std::string, std::string>> env = o_.env;
  env.emplace_back("SECDIFF_FINDINGS_DIR", w + "/findings");
  if (o_.engine == "afl") {
    env.emplace_back("AFL_NO_UI", "1");
    env.emplace_back("AFL_SKIP_CPUFREQ", "1");
    env.emplace_back("AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES", "1");
    env.emplace_back("AFL_NO_AFFINITY", "1");
    env.emplace_back("AFL_MAP_SIZE", "131072");  // edges + the 65,536 BPF-coverage slots
    if (!o_.afl_mutator.empty()) {
      env.emplace_back("AFL_CUSTOM_MUTATOR_LIBRARY", o_.afl_mutator);
      env.emplace_back("AFL_CUSTOM_MUTATOR_ONLY", "1");
    }
  }
  const auto cmds = commands();
  started_ = now_s();
  for (size_t i = 0; i < cmds.size(); i++) {
    const std::string log = w + "/logs/" + o_.engine + "-" + std::to_string(i) + ".log";
    logs_.push_back(log);
    pids_.push_back(spawn(cmds[i], env, log));
  }
}

bool Campaign::running() {
  bool any = false;
  for (pid_t& p : pids_) {
    if (p <= 0) continue;
    int st = 0;
    const pid_t r = waitpid(p, &st, WNOHANG);
    if (r == p) {
      p = -1;
    } else {
      any = true;
    }
  }
  return any;
}

void Campaign::stop() {
  for (pid_t p : pids_)
    if (p > 0) kill(-p, SIGTERM);
  const double until = now_s() + 3;
  while (running() && now_s() < until) usleep(50000);
  for (pid_t& p : pids_) {
    if (p <= 0) continue;
    kill(-p, SIGKILL);
    waitpid(p, nullptr, 0);
    p = -1;
  }
}

std::vector<std::string> Campaign::finding_reports() const {
  std::vector<std::string> v;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(findings_dir(), ec))
    if (e.path().extension() == ".txt") v.push_back(e.path().string());
  std::sort(v.begin(), v.end());
  return v;
}

void Campaign::triage(const std::string& artifact) {
  // Re-run the target on the artifact and classify its report.
  const std::string log = o_.work_dir + "/logs/triage.log";
  fs::remove(log);
  std::vector<std::pair<std::string, std::string>> env = o_.env;
  env.emplace_back("SECDIFF_FINDINGS_DIR", o_.work_dir + "/logs/triage-findings");
  const pid_t pid = spawn({o_.binary, artifact}, env, log);
  int st = 0;
  const double until = now_s() + 20;
  while (waitpid(pid, &st, WNOHANG) == 0) {
    if (now_s() > until) {
      kill(-pid, SIGKILL);
      waitpid(pid, &st, 0);
      break;
    }
    usleep(20000);
  }
  CrashTriage t = classify_crash_log(read_all(log));
  if (fs::path(artifact).filename().string().rfind("timeout-", 0) == 0) t.kind = "timeout";
  if (fs::path(artifact).filename().string().rfind("oom-", 0) == 0) t.kind = "oom";
  Finding f{"crash", o_.target, t.kind, t.summary + "\nartifact: " + artifact + "\n\nlog:\n" + read_all(log, 8000), {}};
  const std::string raw = read_all(artifact);
  FindingSink sink(findings_dir(), o_.target);
  try {
    const Case c = decode_case(raw);
    sink.report(f, &c, raw);
  } catch (const std::exception&) {
    sink.report(f, nullptr, raw);
  }
}

CampaignStatus Campaign::poll() {
  CampaignStatus s;
  s.running = running();
  s.elapsed_s = started_ > 0 ? now_s() - started_ : 0;
  if (o_.engine == "libfuzzer") {
    if (!logs_.empty()) {
      const std::string text = read_all(logs_[0], 64 * 1024);
      // The newest "#<execs> ... cov: ... corp: ... exec/s: ..." line.
      size_t end = text.size();
      while (end > 0) {
        const size_t begin = text.rfind('\n', end - 1);
        const size_t b = begin == std::string::npos ? 0 : begin + 1;
        const std::string line = text.substr(b, end - b);
        if (line.rfind('#', 0) == 0 && line.find("corp: ") != std::string::npos) {
          s.last_line = line;
          s.execs = std::strtoull(line.c_str() + 1, nullptr, 10);
          s.coverage = number_after(line, "cov: ");
          s.corpus = number_after(line, "corp: ");
          s.execs_per_s = static_cast<double>(number_after(line, "exec/s: "));
          break;
        }
        if (begin == std::string::npos) break;
        end = begin;
      }
    }
  } else {
    std::error_code ec;
    for (const auto& inst : fs::directory_iterator(o_.work_dir + "/afl", ec)) {
      const std::string stats = read_all(inst.path().string() + "/fuzzer_stats");
      std::istringstream in(stats);
      std::string line;
      while (std::getline(in, line)) {
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string key = line.substr(0, colon);
        key.erase(key.find_last_not_of(' ') + 1);
        const char* v = line.c_str() + colon + 1;
        if (key == "execs_done") s.execs += std::strtoull(v, nullptr, 10);
        if (key == "execs_per_sec") {
          const double x = std::strtod(v, nullptr);
          if (std::isfinite(x)) s.execs_per_s += x;
        }
        if (key == "corpus_count") s.corpus = std::max<uint64_t>(s.corpus, std::strtoull(v, nullptr, 10));
        if (key == "edges_found") s.coverage = std::max<uint64_t>(s.coverage, std::strtoull(v, nullptr, 10));
      }
      if (inst.path().filename() == "main")
        s.last_line = "afl main: " + std::to_string(s.execs) + " execs";
    }
  }
  // New crash artifacts: libFuzzer's crash-/timeout-/oom- files, AFL++'s crashes/.
  std::vector<std::string> artifacts;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(findings_dir(), ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("crash-", 0) == 0 || n.rfind("timeout-", 0) == 0 || n.rfind("oom-", 0) == 0)
      artifacts.push_back(e.path().string());
  }
  for (const auto& inst : fs::directory_iterator(o_.work_dir + "/afl", ec))
    for (const auto& e : fs::directory_iterator(inst.path() / "crashes", ec))
      if (e.path().filename().string().rfind("id:", 0) == 0) artifacts.push_back(e.path().string());
  for (const std::string& a : artifacts) {
    if (std::find(triaged_.begin(), triaged_.end(), a) != triaged_.end()) continue;
    triaged_.push_back(a);
    triage(a);
  }
  if ((!std::isfinite(s.execs_per_s) || s.execs_per_s <= 0) && s.elapsed_s > 0) s.execs_per_s = static_cast<double>(s.execs) / s.elapsed_s;
  s.findings = finding_reports().size();
  return s;
}

}  // namespace secdiff::fuzz
