// Coverage of a corpus at the BPF level: which of the 41 seccomp opcodes ran,
// which conditional-jump directions were taken, and which instructions and
// branches of the cache emulator (seccomp_is_const_allow) were reached.
//   fuzz_coverage_report CORPUS_DIR...
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "fuzzers/mutator.h"
#include "oracle/case_codec.h"
#include "oracle/chain.h"
#include "oracle/interpreter.h"

namespace {

using namespace secdiff;
using namespace secdiff::bpf;
namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

struct Tally {
  std::set<uint16_t> executed;                      // seccomp opcodes run
  std::set<std::pair<uint16_t, int>> directions;    // (cond jump code, 1 taken / 2 not taken)
  std::set<std::string> emu;                        // emulator features reached
  std::set<std::tuple<size_t, size_t, int>> sites;  // (corpus file, pc, bit): distinct BPF sites
  size_t cases = 0, decoded = 0, inputs = 0;
};

void emulator(const Program& orig, const SeccompData& sd, Tally& t) {
  uint32_t a = 0;
  const char* arch = sd.arch == AUDIT_ARCH_I386 ? "ia32" : "x86_64";
  for (unsigned pc = 0; pc < orig.size(); pc++) {
    const Insn& in = orig[pc];
    switch (in.code) {
      case LD | W | ABS:
        if (in.k == 0) {
          a = static_cast<uint32_t>(sd.nr);
          t.emu.insert("ld nr");
        } else if (in.k == 4) {
          a = sd.arch;
          t.emu.insert("ld arch");
        } else {
          t.emu.insert("gives up: ld args/ip");
          return;
        }
        break;
      case RET | K:
        t.emu.insert(in.k == SECCOMP_RET_ALLOW ? std::string("ret ALLOW (") + arch + ")"
                                               : std::string("ret other (") + arch + ")");
        return;
      case JMP | JA: t.emu.insert("ja"); pc += in.k; break;
      case JMP | JEQ | K: case JMP | JGE | K: case JMP | JGT | K: case JMP | JSET | K: {
        bool taken = false;
        const char* op = "jset";
        switch (op_of(in.code)) {
          case JEQ: taken = a == in.k; op = "jeq"; break;
          case JGE: taken = a >= in.k; op = "jge"; break;
          case JGT: taken = a > in.k; op = "jgt"; break;
          default: taken = (a & in.k) != 0; break;
        }
        t.emu.insert(std::string(op) + (taken ? " taken" : " not taken"));
        pc += taken ? in.jt : in.jf;
        break;
      }
      case ALU | AND | K: t.emu.insert("and #k"); a &= in.k; break;
      default: t.emu.insert("gives up: other insn"); return;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Tally t;
  size_t file_index = 0;
  for (int i = 1; i < argc; i++) {
    std::vector<fs::path> files;
    if (fs::is_directory(argv[i])) {
      for (const auto& e : fs::recursive_directory_iterator(argv[i]))
        if (e.is_regular_file() && e.path().filename().string()[0] != '.') files.push_back(e.path());
    } else {
      files.push_back(argv[i]);
    }
    for (const fs::path& f : files) {
      t.cases++;
      file_index++;
      Case c;
      try {
        c = decode_case(read_file(f));
      } catch (const std::exception&) {
        continue;
      }
      t.decoded++;
      FilterChain chain;
      LoadEnv env;
      env.no_new_privs = c.task.no_new_privs;
      for (const CaseFilter& cf : c.filters) chain.install(cf.prog, cf.flags, env);
      for (const CaseInput& in : c.inputs) {
        t.inputs++;
        const SeccompData sd = case_seccomp_data(in);
        for (size_t fi = 0; fi < chain.size(); fi++) {
          const Filter& flt = chain.filters()[fi];
          std::vector<uint8_t> cov(flt.insns.size(), 0);
          bpf_run_cov(flt.insns, sd, cov.data());
          for (size_t pc = 0; pc < cov.size(); pc++) {
            if (!cov[pc]) continue;
            const uint16_t code = flt.orig[pc].code;
            t.executed.insert(code);
            for (int bit = 0; bit < 3; bit++)
              if (cov[pc] & (1 << bit)) t.sites.insert({file_index * 16 + fi, pc, bit});
            if (cov[pc] & 2) t.directions.insert({code, 1});
            if (cov[pc] & 4) t.directions.insert({code, 2});
          }
          emulator(flt.orig, sd, t);
        }
      }
    }
  }
  const auto& ops = fuzz::seccomp_opcodes();
  std::printf("cases %zu (decoded %zu), inputs %zu, distinct (case, filter, pc, bit) sites %zu\n",
              t.cases, t.decoded, t.inputs, t.sites.size());
  size_t op_hit = 0, cond = 0, dir_hit = 0;
  std::string missing;
  for (uint16_t c : ops) {
    if (t.executed.count(c)) {
      op_hit++;
    } else {
      char b[16];
      std::snprintf(b, sizeof b, " 0x%02x", c);
      missing += b;
    }
    if (is_cond_jump(c)) {
      cond++;
      dir_hit += t.directions.count({c, 1}) + t.directions.count({c, 2});
    }
  }
  std::printf("seccomp opcodes executed: %zu/%zu%s%s\n", op_hit, ops.size(),
              missing.empty() ? "" : "  missing:", missing.c_str());
  std::printf("conditional jump directions: %zu/%zu (8 jump opcodes x taken/not taken)\n", dir_hit, 2 * cond);
  const char* emu_all[] = {"ld nr", "ld arch", "and #k", "ja", "jeq taken", "jeq not taken",
                           "jge taken", "jge not taken", "jgt taken", "jgt not taken",
                           "jset taken", "jset not taken", "ret ALLOW (x86_64)", "ret ALLOW (ia32)",
                           "ret other (x86_64)", "ret other (ia32)", "gives up: ld args/ip",
                           "gives up: other insn"};
  size_t emu_hit = 0;
  std::string emu_missing;
  for (const char* e : emu_all) {
    if (t.emu.count(e)) {
      emu_hit++;
    } else {
      emu_missing += std::string(" [") + e + "]";
    }
  }
  std::printf("cache emulator features reached: %zu/%zu%s%s\n", emu_hit, sizeof emu_all / sizeof emu_all[0],
              emu_missing.empty() ? "" : "  missing:", emu_missing.c_str());
  return 0;
}
