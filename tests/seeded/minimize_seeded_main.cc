// Minimizes a seeded-bug finding (tests/data/seeded-bugs/bug<N>.case, what the
// cache_soundness fuzzer saved) with the model-only predicates of
// vm/minimize.h, and checks issue 5's target: the signature is kept, every
// filter has at most --max-insns (6) instructions, the minimization takes at
// most --time-limit (60) seconds, the minimized case still shows the signature
// under the buggy model and shows no mismatch under the unmodified one.
//
// Built once per bug (tests/CMakeLists.txt): minimize_seeded_bug<N> carries its
// own oracle/cache/linux.cc compiled with SECDIFF_LINUX_BUG=N (the trick of
// fuzzers/CMakeLists.txt: the linker then takes no linux.cc.o from
// secdiff_oracle), so its "linux" model is the buggy one. minimize_seeded (no
// bug) is the unmodified model: it minimizes the RFC flaw (model rfc-v1, whose
// unmodified counterpart rfc-v1-fixed is in the same binary) and, with
// --check, tells whether a case shows any model-only mismatch; the bug drivers
// run it for the "no mismatch under the unmodified model" check (--clean-exe).
//
//   minimize_seeded[_bugN] CASE [--model M] [--property P] [--kind K]
//       [--clean-model M] [--clean-exe PATH] [--max-insns 6] [--time-limit 60]
//       [-o OUT_PREFIX] [--row] [--progress]
//   minimize_seeded[_bugN] --check CASE [--model M]
//
// Exit: 0 all checks passed (--check: no mismatch), 1 a check failed (--check:
// a mismatch), 2 bad usage or input.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>
#include <vector>

#include "host/case_file.h"
#include "oracle/formats/formats.h"
#include "vm/minimize.h"

#ifndef SECDIFF_LINUX_BUG
#define SECDIFF_LINUX_BUG 0
#endif

namespace {

using namespace secdiff;
using namespace secdiff::vm;

// As oracle/cache/linux.cc and scripts/fuzz-seeded-bugs.sh.
const char* bug_what(int bug, const std::string& model) {
  static const char* const kWhat[] = {
      "",
      "JSET handled as JEQ",
      "JGE evaluated as JGT",
      "compat bitmap built with the native arch",
      "no AND with the previous filter's bitmap",
      "argument load taken as the syscall number",
      "no upper range check on nr in lookup",
      "RET K judged with the legacy 0x7fff0000 mask",
      "jf edge of a conditional jump dropped",
      "AND K ignored",
      "JA offset off by one",
      "uprobe exception on the compat arch too",
  };
  if (bug > 0 && bug <= 11) return kWhat[bug];
  if (model == "rfc-v1") return "RFC v1 prev == NULL (model rfc-v1)";
  return "unmodified model";
}

struct Args {
  std::string file, model = "linux", property, kind, clean_model, clean_exe, out;
  size_t max_insns = 6;
  double time_limit = 60;
  bool check = false, row = false, progress = false;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "%s\nusage: minimize_seeded CASE [--model M] [--property P] [--kind K] [--clean-model M]\n"
               "         [--clean-exe PATH] [--max-insns N] [--time-limit S] [-o OUT_PREFIX] [--row] [--progress]\n"
               "       minimize_seeded --check CASE [--model M]\n",
               why.c_str());
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  auto val = [&](int& i) -> std::string {
    if (i + 1 >= argc) usage(std::string(argv[i]) + " needs a value");
    return argv[++i];
  };
  for (int i = 1; i < argc; i++) {
    const std::string s = argv[i];
    if (s == "--model") a.model = val(i);
    else if (s == "--property") a.property = val(i);
    else if (s == "--kind") a.kind = val(i);
    else if (s == "--clean-model") a.clean_model = val(i);
    else if (s == "--clean-exe") a.clean_exe = val(i);
    else if (s == "--max-insns") a.max_insns = std::stoul(val(i));
    else if (s == "--time-limit") a.time_limit = std::stod(val(i));
    else if (s == "-o" || s == "--output") a.out = val(i);
    else if (s == "--check") a.check = true;
    else if (s == "--row") a.row = true;
    else if (s == "--progress") a.progress = true;
    else if (!s.empty() && s[0] == '-') usage("unknown option " + s);
    else if (a.file.empty()) a.file = s;
    else usage("one CASE only");
  }
  if (a.file.empty()) usage("no CASE");
  if (a.property.empty()) a.property = a.model.rfind("rfc", 0) == 0 ? "cache-sequence" : "cache-soundness";
  if (a.clean_model.empty()) a.clean_model = a.model == "rfc-v1" ? "rfc-v1-fixed" : a.model;
  return a;
}

std::string sig_list(const std::vector<Signature>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : "; ") + x.str();
  return s.empty() ? "none" : s;
}

// Every model-only mismatch (cache-soundness, cache-sequence) of `c` under
// `model`, with installs filtered and as the fuzzers see the chain.
std::vector<Signature> all_signatures(const Case& c, const std::string& model) {
  ModelChecker mc(model);
  std::vector<Signature> out = mc.signatures(c);
  mc.set_attach_all(true);
  for (Signature& s : mc.signatures(c))
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(std::move(s));
  return out;
}

// Runs `exe --check FILE --model M`: 0 no mismatch, 1 mismatch, else error.
int run_clean_exe(const std::string& exe, const std::string& file, const std::string& model) {
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const char* argv[] = {exe.c_str(), "--check", file.c_str(), "--model", model.c_str(), nullptr};
    ::execv(exe.c_str(), const_cast<char* const*>(argv));
    std::_Exit(127);
  }
  int st = 0;
  if (::waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) return -1;
  return WEXITSTATUS(st);
}

std::string bpf_asm_text(const Case& c) {
  std::string s;
  for (size_t i = 0; i < c.filters.size(); i++) {
    s += "; ---- filter " + std::to_string(i) + " (" + std::to_string(c.filters[i].prog.size()) +
         " insns, flags " + std::to_string(c.filters[i].flags) + ") ----\n";
    DisasmOptions o;
    if (!c.inputs.empty()) o.arch = c.inputs[0].arch;
    s += disassemble(c.filters[i].prog, o);
  }
  return s;
}

int run(const Args& a) {
  const Case start = load_case_file(a.file);
  if (a.check) {
    const auto sigs = all_signatures(start, a.model);
    std::printf("%s under %s (linux bug %d): %s\n", a.file.c_str(), a.model.c_str(), SECDIFF_LINUX_BUG,
                sigs.empty() ? "no mismatch" : sig_list(sigs).c_str());
    return sigs.empty() ? 0 : 1;
  }

  int fails = 0;
  auto expect = [&](bool ok, const std::string& what) {
    std::printf("%s: %s\n", ok ? "ok" : "FAIL", what.c_str());
    if (!ok) fails++;
  };
  // The clean model's verdict on a case file: in this process, or (for the
  // linux model of a bug build, which is not the unmodified one) by --clean-exe.
  auto clean = [&](const std::string& file, const Case& c) -> int {
    if (!a.clean_exe.empty()) return run_clean_exe(a.clean_exe, file, a.clean_model);
    if (SECDIFF_LINUX_BUG != 0 && a.clean_model == "linux") {
      std::printf("the linux model of this build has bug %d: the clean check needs --clean-exe\n",
                  SECDIFF_LINUX_BUG);
      return -1;
    }
    const auto sigs = all_signatures(c, a.clean_model);
    if (!sigs.empty()) std::printf("  %s: %s\n", a.clean_model.c_str(), sig_list(sigs).c_str());
    return sigs.empty() ? 0 : 1;
  };

  std::printf("case %s, model %s (linux bug %d: %s)\n", a.file.c_str(), a.model.c_str(), SECDIFF_LINUX_BUG,
              bug_what(SECDIFF_LINUX_BUG, a.model));
  auto pick = pick_model_signature(start, a.model, a.property, a.kind);
  if (!pick) {
    std::printf("FAIL: the case shows no %s%s%s mismatch under %s\n", a.property.c_str(),
                a.kind.empty() ? "" : " / ", a.kind.c_str(), a.model.c_str());
    return 1;
  }
  ModelChecker& checker = *pick->checker;
  const Signature* sig = &pick->sig;
  std::printf("signatures (%s%s): %s\n", a.property.c_str(),
              checker.attach_all() ? ", every filter that loads attached as the fuzzers see the chain" : "",
              sig_list(checker.signatures(start)).c_str());
  expect(clean(a.file, start) == 0, "the starting case shows no mismatch under the unmodified model (" +
                                        a.clean_model + ")");

  MinimizeOptions mo;
  mo.progress = a.progress;
  MinimizeStats st;
  const auto t0 = std::chrono::steady_clock::now();
  Case m = minimize_case(start, *sig, checker, mo, &st);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  m.name = start.name + "-min";

  std::printf("signature: %s\n", sig->str().c_str());
  std::printf("before: %s\n", st.before.str().c_str());
  std::printf("after:  %s\n", st.after.str().c_str());
  size_t largest = 0;
  for (size_t i = 0; i < m.filters.size(); i++) {
    std::printf("  filter %zu: %zu insns\n", i, m.filters[i].prog.size());
    largest = std::max(largest, m.filters[i].prog.size());
  }
  std::printf("time: %.2f s (%zu candidates tested, %zu reductions)\n", secs, st.tests, st.steps);
  std::printf("installs: %s\n", st.installs_filtered
                                    ? "every filter's seccomp() call gets through the filters before it"
                                    : "NOT filtered (a filter's seccomp() call is denied by the filters before it; "
                                      "the signature needs the fuzzers' view of the chain)");
  std::printf("%s", bpf_asm_text(m).c_str());
  for (size_t i = 0; i < m.inputs.size(); i++) {
    const auto& in = m.inputs[i];
    std::printf("input %zu: arch %d nr %lld args [%llx %llx %llx %llx %llx %llx]%s\n", i, static_cast<int>(in.arch),
                static_cast<long long>(in.nr), (unsigned long long)in.args[0], (unsigned long long)in.args[1],
                (unsigned long long)in.args[2], (unsigned long long)in.args[3], (unsigned long long)in.args[4],
                (unsigned long long)in.args[5], in.ip ? " (ip)" : "");
  }

  std::string min_file;
  if (!a.out.empty()) {
    min_file = a.out + ".case.json";
    save_case_file(min_file, m);
    std::ofstream(a.out + ".bpf_asm") << bpf_asm_text(m);
  }
  const auto after = checker.signatures(m);
  expect(std::find(after.begin(), after.end(), *sig) != after.end(),
         "the minimized case keeps the signature under the buggy model");
  expect(largest <= a.max_insns, "every filter has at most " + std::to_string(a.max_insns) + " instructions (largest " +
                                     std::to_string(largest) + ")");
  char tbuf[64];
  std::snprintf(tbuf, sizeof tbuf, "%.2f s", secs);
  expect(a.time_limit <= 0 || secs <= a.time_limit,
         "minimized within " + std::to_string(static_cast<int>(a.time_limit)) + " s (" + tbuf + ")");
  if (!a.clean_exe.empty() && min_file.empty()) {
    expect(false, "--clean-exe needs -o (the minimized case is checked from its file)");
  } else {
    expect(clean(min_file, m) == 0,
           "the minimized case shows no mismatch under the unmodified model (" + a.clean_model + ")");
  }
  if (a.row) {
    // bug | what | signature | start filters/insns/inputs | minimized (largest filter) | time | candidates
    std::printf("ROW | %s | %s | %s | %zu / %zu / %zu | %zu / %zu / %zu (%zu) | %.2f | %zu |\n",
                SECDIFF_LINUX_BUG ? std::to_string(SECDIFF_LINUX_BUG).c_str() : a.model.c_str(),
                bug_what(SECDIFF_LINUX_BUG, a.model), sig->kind.c_str(), st.before.filters, st.before.insns,
                st.before.inputs, st.after.filters, st.after.insns, st.after.inputs, largest, secs, st.tests);
  }
  std::printf("%s\n", fails ? "FAILED" : "PASSED");
  return fails ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  try {
    return run(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "minimize_seeded: %s\n", e.what());
    return 2;
  }
}
