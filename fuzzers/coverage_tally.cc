#include "fuzzers/coverage_tally.h"

#include "fuzzers/mutator.h"
#include "oracle/case_codec.h"
#include "oracle/chain.h"
#include "oracle/interpreter.h"

namespace secdiff::fuzz {

using namespace secdiff::bpf;

namespace {

// The cache emulator's path on one input (mirrors seccomp_is_const_allow's
// instruction switch; names the features it reaches).
void emulator(const Program& orig, const SeccompData& sd, std::set<std::string>& emu) {
  uint32_t a = 0;
  const char* arch = sd.arch == AUDIT_ARCH_I386 ? "ia32" : "x86_64";
  for (unsigned pc = 0; pc < orig.size(); pc++) {
    const Insn& in = orig[pc];
    switch (in.code) {
      case LD | W | ABS:
        if (in.k == 0) {
          a = static_cast<uint32_t>(sd.nr);
          emu.insert("ld nr");
        } else if (in.k == 4) {
          a = sd.arch;
          emu.insert("ld arch");
        } else {
          emu.insert("gives up: ld args/ip");
          return;
        }
        break;
      case RET | K:
        emu.insert(in.k == SECCOMP_RET_ALLOW ? std::string("ret ALLOW (") + arch + ")"
                                             : std::string("ret other (") + arch + ")");
        return;
      case JMP | JA: emu.insert("ja"); pc += in.k; break;
      case JMP | JEQ | K: case JMP | JGE | K: case JMP | JGT | K: case JMP | JSET | K: {
        bool taken = false;
        const char* op = "jset";
        switch (op_of(in.code)) {
          case JEQ: taken = a == in.k; op = "jeq"; break;
          case JGE: taken = a >= in.k; op = "jge"; break;
          case JGT: taken = a > in.k; op = "jgt"; break;
          default: taken = (a & in.k) != 0; break;
        }
        emu.insert(std::string(op) + (taken ? " taken" : " not taken"));
        pc += taken ? in.jt : in.jf;
        break;
      }
      case ALU | AND | K: emu.insert("and #k"); a &= in.k; break;
      default: emu.insert("gives up: other insn"); return;
    }
  }
}

}  // namespace

const std::vector<std::string>& CoverageTally::emulator_features() {
  static const std::vector<std::string> all = {
      "ld nr", "ld arch", "and #k", "ja", "jeq taken", "jeq not taken", "jge taken", "jge not taken",
      "jgt taken", "jgt not taken", "jset taken", "jset not taken", "ret ALLOW (x86_64)", "ret ALLOW (ia32)",
      "ret other (x86_64)", "ret other (ia32)", "gives up: ld args/ip", "gives up: other insn"};
  return all;
}

bool CoverageTally::add_encoded(std::string_view bytes) {
  Case c;
  try {
    c = decode_case(bytes);
  } catch (const std::exception&) {
    cases_++;
    return false;
  }
  add(c);
  return true;
}

void CoverageTally::add(const Case& c) {
  const size_t index = cases_++;
  decoded_++;
  FilterChain chain;
  LoadEnv env;
  env.no_new_privs = c.task.no_new_privs;
  for (const CaseFilter& cf : c.filters) chain.install(cf.prog, cf.flags, env);
  std::vector<uint8_t> cov;
  for (const CaseInput& in : c.inputs) {
    inputs_++;
    const SeccompData sd = case_seccomp_data(in);
    for (size_t fi = 0; fi < chain.size(); fi++) {
      const Filter& flt = chain.filters()[fi];
      cov.assign(flt.insns.size(), 0);
      bpf_run_cov(flt.insns, sd, cov.data());
      for (size_t pc = 0; pc < cov.size(); pc++) {
        if (!cov[pc]) continue;
        const uint16_t code = flt.orig[pc].code;
        executed_.insert(code);
        if (track_sites_)
          for (int bit = 0; bit < 3; bit++)
            if (cov[pc] & (1 << bit)) sites_.insert({index * 16 + fi, pc, bit});
        if (cov[pc] & 2) directions_.insert({code, 1});
        if (cov[pc] & 4) directions_.insert({code, 2});
      }
      emulator(flt.orig, sd, emu_);
    }
  }
}

size_t CoverageTally::opcodes_total() const { return seccomp_opcodes().size(); }

size_t CoverageTally::opcodes_hit() const {
  size_t n = 0;
  for (uint16_t c : seccomp_opcodes()) n += executed_.count(c);
  return n;
}

std::vector<uint16_t> CoverageTally::opcodes_missing() const {
  std::vector<uint16_t> v;
  for (uint16_t c : seccomp_opcodes())
    if (!executed_.count(c)) v.push_back(c);
  return v;
}

size_t CoverageTally::directions_total() const {
  size_t n = 0;
  for (uint16_t c : seccomp_opcodes()) n += is_cond_jump(c) ? 2 : 0;
  return n;
}

size_t CoverageTally::directions_hit() const {
  size_t n = 0;
  for (uint16_t c : seccomp_opcodes())
    if (is_cond_jump(c)) n += directions_.count({c, 1}) + directions_.count({c, 2});
  return n;
}

size_t CoverageTally::emulator_hit() const {
  size_t n = 0;
  for (const std::string& e : emulator_features()) n += emu_.count(e);
  return n;
}

std::vector<std::string> CoverageTally::emulator_missing() const {
  std::vector<std::string> v;
  for (const std::string& e : emulator_features())
    if (!emu_.count(e)) v.push_back(e);
  return v;
}

}  // namespace secdiff::fuzz
