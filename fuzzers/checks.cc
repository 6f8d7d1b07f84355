#include "fuzzers/checks.h"

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <unordered_map>

#include "fuzzers/coverage.h"
#include "host/host_kernel.h"
#include "oracle/cache/cache_model.h"
#include "oracle/cache/exact.h"
#include "oracle/chain.h"
#include "oracle/evaluator.h"
#include "oracle/formats/formats.h"
#include "oracle/interpreter.h"
#include "oracle/prefix_by_nr.h"
#include "oracle/seccomp_data.h"
#include "oracle/validator.h"

namespace secdiff::fuzz {

using namespace bpf;

namespace {

// Feature kinds for cov_feature().
enum : uint32_t {
  kFeatChainShape = 1,
  kFeatLoadRule,
  kFeatAction,
  kFeatLookupHit,
  kFeatPopcount,
  kFeatRfcHit,
  kFeatRfcRepeat,
  kFeatEmuResult,
  kFeatParser,
  kFeatHostInstall,
};

bool is_allow(uint32_t ret) { return ACTION_ONLY(ret) == ACTION_ONLY(SECCOMP_RET_ALLOW); }

bool uprobe_exception(const KernelProfile& k, uint32_t arch, int32_t nr) {
  return arch == AUDIT_ARCH_X86_64 &&
         ((k.uretprobe_exception && nr == 335) || (k.uprobe_exception && nr == 336));
}

std::string hex(uint64_t v) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%" PRIx64, v);
  return b;
}

std::string sd_text(const SeccompData& sd) {
  std::string s = "arch=" + hex(sd.arch) + " nr=" + std::to_string(sd.nr) + " args=[";
  for (int i = 0; i < 6; i++) s += (i ? ", " : "") + hex(sd.args[i]);
  return s + "] ip=" + hex(sd.instruction_pointer);
}

CaseInput input_of(const SeccompData& sd) {
  CaseInput in;
  if (sd.arch == AUDIT_ARCH_I386) {
    in.arch = Arch::I386;
    in.nr = sd.nr;
  } else if (static_cast<uint32_t>(sd.nr) & X32_SYSCALL_BIT &&
             (static_cast<uint32_t>(sd.nr) & 0x80000000u) == 0) {
    in.arch = Arch::X32;
    in.nr = static_cast<int32_t>(static_cast<uint32_t>(sd.nr) & ~X32_SYSCALL_BIT);
  } else {
    in.arch = Arch::X86_64;
    in.nr = sd.nr;
  }
  for (int i = 0; i < 6; i++) in.args[i] = sd.args[i];
  in.ip = sd.instruction_pointer;
  return in;
}

unsigned arch_index(uint32_t audit) {
  return audit == AUDIT_ARCH_X86_64 ? 0 : audit == AUDIT_ARCH_I386 ? 1 : 2;
}

// A shadow of seccomp_is_const_allow() (oracle/cache/linux.cc) that records
// which emulator instructions and branch directions a syscall reaches.
void emulator_coverage(const Program& orig, const SeccompData& sd, unsigned filter) {
  const unsigned ai = arch_index(sd.arch);
  uint32_t a = 0;
  for (unsigned pc = 0; pc < orig.size(); pc++) {
    const Insn& in = orig[pc];
    const unsigned at = pc;
    switch (in.code) {
      case LD | W | ABS:
        if (in.k == SD_OFF_NR) {
          a = static_cast<uint32_t>(sd.nr);
        } else if (in.k == SD_OFF_ARCH) {
          a = sd.arch;
        } else {
          cov_emu(filter, ai, at, 3);
          cov_feature(kFeatEmuResult, filter * 4 + 0);
          return;
        }
        break;
      case RET | K:
        cov_emu(filter, ai, at, in.k == SECCOMP_RET_ALLOW ? 4 : 0);
        cov_feature(kFeatEmuResult, filter * 4 + (in.k == SECCOMP_RET_ALLOW ? 1 : 2));
        return;
      case JMP | JA: pc += in.k; break;
      case JMP | JEQ | K:
      case JMP | JGE | K:
      case JMP | JGT | K:
      case JMP | JSET | K: {
        bool t = false;
        switch (op_of(in.code)) {
          case JEQ: t = a == in.k; break;
          case JGE: t = a >= in.k; break;
          case JGT: t = a > in.k; break;
          default: t = (a & in.k) != 0; break;
        }
        cov_emu(filter, ai, at, t ? 1 : 2);
        pc += t ? in.jt : in.jf;
        continue;
      }
      case ALU | AND | K: a &= in.k; break;
      default:
        cov_emu(filter, ai, at, 3);
        cov_feature(kFeatEmuResult, filter * 4 + 3);
        return;
    }
  }
}

// BPF coverage of one filter: both directions of conditional jumps, and
// "executed" for RETs and JAs. Kept small on purpose: straight-line
// instructions are implied by the directions, and every key is a feature the
// engine has to track (libFuzzer's entropic bookkeeping is per feature).
void emit_bpf_coverage(const Program& p, const std::vector<uint8_t>& cov, unsigned filter) {
  for (size_t pc = 0; pc < p.size(); pc++) {
    const uint8_t c = cov[pc];
    if (!c) continue;
    const unsigned upc = static_cast<unsigned>(pc);
    if (c & 2) cov_bpf(filter, upc, 1);
    if (c & 4) cov_bpf(filter, upc, 2);
    const uint16_t cls = class_of(p[pc].code);
    if (cls == RET || (cls == JMP && !(c & 6))) cov_bpf(filter, upc, 0);
  }
}

// How a chain treats (arch, nr) whatever the args/ip: by the prefix of each
// filter up to its first load of a word other than nr/arch, newest filter first.
enum class Cls { Allow, Deny, Depends };
struct BitClass {
  Cls cls = Cls::Allow;
  uint32_t deny_ret = 0;
  int deny_filter = -1;
};
std::vector<BitClass> classify_all(const FilterChain& chain, uint32_t arch, uint32_t count) {
  std::vector<BitClass> out(count);
  std::vector<bool> done(count, false);
  const auto& fs = chain.filters();
  for (size_t i = fs.size(); i-- > 0;) {
    const std::vector<PrefixOutcome> pre = bpf_prefix_by_nr(fs[i].insns, arch, count);
    for (uint32_t n = 0; n < count; n++) {
      if (done[n]) continue;
      if (pre[n].stopped) {
        out[n].cls = Cls::Depends;
      } else if (!is_allow(pre[n].ret)) {
        out[n] = BitClass{Cls::Deny, pre[n].ret, static_cast<int>(i)};
        done[n] = true;
      }
    }
  }
  return out;
}

struct ModelState {
  std::string name;
  std::unique_ptr<CacheModel> model;
  bool built = false;
  bool attach_failed = false;
  int err = 0, filter = -1;
};

struct DepBit {
  uint32_t arch;
  int32_t nr;
};

struct ChainEntry {
  FilterChain chain;
  std::vector<LoadResult> installs;
  std::unique_ptr<ChainEvaluator> eval;
  std::vector<ModelState> models;
  bool static_done = false;
  std::vector<Finding> static_findings;
  std::vector<DepBit> dependent;  // linux bits whose filters read args/ip, left to the inputs
  std::vector<uint64_t> bits[2];  // the linux bitmaps (native, compat) as words
  size_t nbits[2] = {0, 0};       // their sizes in bits
  bool bit(unsigned ai, size_t n) const { return n < nbits[ai] && (bits[ai][n / 64] >> (n % 64)) & 1; }
  std::vector<BitClass> cls[2];   // classify_all() per bit, made on first use
  std::vector<uint8_t> verdict[2];  // per bit: 0 not checked yet, 1 checked
  bool deny_found = false, args_found = false;
  unsigned exact_calls = 0;
  uint64_t key_hash = 0;
  std::vector<uint32_t> static_features;

  ChainEvaluator& evaluator() {
    if (!eval) eval = std::make_unique<ChainEvaluator>(chain);
    return *eval;
  }
};

struct Memo {
  std::unordered_map<std::string, std::unique_ptr<ChainEntry>> map;
  std::string opt_key;
};
Memo& memo() {
  static Memo m;
  return m;
}

const KernelProfile& profile_of(const CheckOptions& opt) {
  if (!opt.kernel.empty())
    if (const KernelProfile* k = find_kernel_profile(opt.kernel)) return *k;
  return default_kernel_profile();
}

ModelState& model_state(ChainEntry& e, const std::string& name, const KernelProfile& k) {
  for (ModelState& m : e.models)
    if (m.name == name) {
      if (!m.built) {
        m.built = true;
        m.model = make_cache_model(name, k);
        if (m.model) {
          if (auto err = replay_attach(*m.model, e.chain)) {
            m.attach_failed = true;
            m.err = err->err;
            m.filter = err->filter;
          }
        }
      }
      return m;
    }
  e.models.push_back(ModelState{name, nullptr, false, false, 0, -1});
  return model_state(e, name, k);
}

// The memo key: the chain's programs and flags, into a reused buffer.
void chain_key(const Case& c, std::string& k) {
  size_t n = 1;
  for (const CaseFilter& f : c.filters) n += 8 + 8 * f.prog.size();
  k.clear();
  k.reserve(n);
  k.push_back(c.task.no_new_privs ? 1 : 0);
  for (const CaseFilter& f : c.filters) {
    k.append(reinterpret_cast<const char*>(&f.flags), 4);
    const uint32_t len = static_cast<uint32_t>(f.prog.size());
    k.append(reinterpret_cast<const char*>(&len), 4);
    static_assert(sizeof(Insn) == 8);  // code, jt, jf, k: no padding
    if (!f.prog.empty()) k.append(reinterpret_cast<const char*>(f.prog.data()), f.prog.size() * sizeof(Insn));
  }
}

ChainEntry& chain_entry(const Case& c, const CheckOptions& opt, bool* fresh) {
  Memo& m = memo();
  static thread_local std::string ok, key;  // reused: no allocation per call
  ok = opt.kernel;
  for (const auto& s : opt.models) {
    ok += ',';
    ok += s;
  }
  if (ok != m.opt_key) {
    m.map.clear();
    m.opt_key = ok;
  }
  chain_key(c, key);
  auto it = m.map.find(key);
  if (it != m.map.end()) {
    *fresh = false;
    return *it->second;
  }
  if (m.map.size() >= 2048) m.map.clear();
  auto e = std::make_unique<ChainEntry>();
  LoadEnv env;
  env.no_new_privs = c.task.no_new_privs;
  e->installs.reserve(c.filters.size());
  for (const CaseFilter& f : c.filters) e->installs.push_back(e->chain.install(f.prog, f.flags, env));
  *fresh = true;
  e->key_hash = std::hash<std::string>{}(key);
  return *m.map.emplace(key, std::move(e)).first->second;
}

// The linux property for one set bit: Allow bits are fine; Deny bits are
// unsound whatever the args (witness: zero args); Depends bits go to
// exact_const_allow() (a few per chain) and otherwise to the per-input check.
// Verdicts are memoised per chain entry.
void check_linux_bit(ChainEntry& e, const std::string& model, CacheArch a, int32_t n,
                     const KernelProfile& k, const CheckOptions& opt) {
  const unsigned ai = a == CacheArch::Native ? 0 : 1;
  if (n < 0 || !e.bit(ai, static_cast<size_t>(n))) return;
  uint8_t& verdict = e.verdict[ai][static_cast<size_t>(n)];
  if (verdict) return;
  verdict = 1;
  const uint32_t audit = cache_arch_audit(a);
  if (uprobe_exception(k, audit, n)) return;
  if (e.cls[ai].size() != e.nbits[ai])
    e.cls[ai] = classify_all(e.chain, audit, static_cast<uint32_t>(e.nbits[ai]));
  const BitClass& bc = e.cls[ai][static_cast<size_t>(n)];
  const Cls cls = bc.cls;
  const uint32_t ret = bc.deny_ret;
  const int filter = bc.deny_filter;
  if (cls == Cls::Allow) return;
  if (cls == Cls::Deny) {
    if (e.deny_found) return;
    e.deny_found = true;
    SeccompData w;
    w.arch = audit;
    w.nr = n;
    const auto name = syscall_name(a == CacheArch::Native ? Arch::X86_64 : Arch::I386, n);
    e.static_findings.push_back(
        {"cache-soundness", model, "bit-not-const-allow",
         std::string("bitmap ") + cache_arch_name(a) + " bit " + std::to_string(n) + " (" +
             std::string(name.value_or("?")) + ") is set, but filter " + std::to_string(filter) +
             " returns " + format_ret(ret) + " for every argument and instruction pointer",
         {input_of(w)}});
    return;
  }
  if (e.args_found) return;
  if (e.exact_calls < opt.max_exact_calls) {
    e.exact_calls++;
    const ExactAnswer ans = exact_const_allow(e.chain, audit, n);
    if (!ans.const_allow && ans.witness) {
      e.args_found = true;
      e.static_findings.push_back(
          {"cache-soundness", model, "bit-not-const-allow-args",
           std::string("bitmap ") + cache_arch_name(a) + " bit " + std::to_string(n) +
               " is set, but the chain returns " + format_ret(ans.witness_ret) + " on " +
               sd_text(*ans.witness) + " (filter " + std::to_string(ans.witness_filter) +
               ", exact analysis" + (ans.used_solver ? " with Z3" : "") + ")",
           {input_of(*ans.witness)}});
    }
    return;
  }
  if (e.dependent.size() < 64) e.dependent.push_back({audit, n});
}

// The static part of the linux property, once per chain: the bits of the
// syscall numbers the programs compare with (and their neighbours), the
// bitmap boundaries, the uprobe numbers and a sample of the rest (or every
// set bit with CheckOptions::full_bitmap). Input numbers are checked per input.
void linux_static_check(ChainEntry& e, ModelState& ms, const KernelProfile& k,
                        const CheckOptions& opt, uint64_t key_hash) {
  if (ms.attach_failed) {
    e.static_findings.push_back({"cache-soundness", ms.name, "attach-error",
                                 "on_attach failed for filter " + std::to_string(ms.filter) +
                                     " with errno " + std::to_string(ms.err),
                                 {}});
    return;
  }
  std::vector<int32_t> rel;
  size_t n_insns = 0;
  for (const Filter& f : e.chain.filters()) n_insns += f.orig.size();
  rel.reserve(4 * n_insns);
  for (const Filter& f : e.chain.filters())
    for (const Insn& i : f.orig)
      if ((is_cond_jump(i.code) && src_of(i.code) == K) || i.code == (ALU | AND | K)) {
        const int32_t v = static_cast<int32_t>(i.k & 0xffff);
        if (i.k < 0x10000) rel.insert(rel.end(), {v - 1, v, v + 1});
        if (i.code == (JMP | JSET | K) || i.code == (ALU | AND | K)) {
          const uint32_t low = i.k & (~i.k + 1);  // lowest set bit
          if (low && low < 0x10000) rel.push_back(static_cast<int32_t>(low));
        }
      }
  for (CacheArch a : kCacheArches) {
    const unsigned ai = a == CacheArch::Native ? 0 : 1;
    e.nbits[ai] = ms.model->bitmap_words(a, e.bits[ai]);
    const int32_t size = static_cast<int32_t>(e.nbits[ai]);
    e.verdict[ai].assign(e.nbits[ai], 0);
    size_t pop = 0;
    for (uint64_t w : e.bits[ai]) pop += static_cast<size_t>(std::popcount(w));
    unsigned bucket = 0;
    while ((size_t{1} << bucket) <= pop) bucket++;
    e.static_features.push_back(ai * 64 + bucket);
    if (opt.full_bitmap) {
      for (int32_t n = 0; n < size; n++) check_linux_bit(e, ms.name, a, n, k, opt);
      continue;
    }
    for (int32_t n : rel) check_linux_bit(e, ms.name, a, n, k, opt);
    for (int32_t n : {0, 1, size - 1, 335, 336}) check_linux_bit(e, ms.name, a, n, k, opt);
    uint64_t h = key_hash;
    for (unsigned i = 0; i < opt.sampled_bits && size > 0; i++) {
      h = h * 6364136223846793005ull + 1442695040888963407ull;
      check_linux_bit(e, ms.name, a, static_cast<int32_t>((h >> 33) % static_cast<uint64_t>(size)), k, opt);
    }
  }
}

// Whether the inputs, run in order, can hit an rfc-v1 style per-task cache:
// some (arch, nr) in range repeats after an exact SECCOMP_RET_ALLOW of it with
// no arch change in between (the cache is flushed on a change of arch).
bool task_cache_can_hit(const std::vector<SeccompData>& sds, const std::vector<uint32_t>& rets,
                        int nr_max) {
  std::vector<uint8_t> seen(static_cast<size_t>(std::max(nr_max, 0)), 0);
  uint32_t arch = 0;
  bool have_arch = false;
  for (size_t i = 0; i < sds.size(); i++) {
    const SeccompData& sd = sds[i];
    if (!have_arch || sd.arch != arch) {
      std::fill(seen.begin(), seen.end(), 0);
      arch = sd.arch;
      have_arch = true;
    }
    if (sd.nr < 0 || sd.nr >= nr_max) continue;
    if (seen[static_cast<size_t>(sd.nr)]) return true;
    if (rets[i] == SECCOMP_RET_ALLOW) seen[static_cast<size_t>(sd.nr)] = 1;
  }
  return false;
}

}  // namespace

CheckOptions check_options_from_env() {
  CheckOptions o;
  if (const char* m = std::getenv("SECDIFF_FUZZ_MODELS"); m && *m) {
    o.models.clear();
    std::string s = m;
    size_t pos = 0;
    while (pos <= s.size()) {
      const size_t comma = s.find(',', pos);
      const std::string name = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      if (!name.empty()) o.models.push_back(name);
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
  }
  if (const char* k = std::getenv("SECDIFF_FUZZ_KERNEL"); k && *k) o.kernel = k;
  if (const char* f = std::getenv("SECDIFF_FUZZ_FULL_BITMAP"); f && *f && *f != '0') o.full_bitmap = true;
  return o;
}

void reset_check_caches() { memo().map.clear(); }

std::vector<Finding> check_cache_soundness(const Case& c, const CheckOptions& opt) {
  std::vector<Finding> out;
  const KernelProfile& k = profile_of(opt);
  bool fresh = false;
  ChainEntry& e = chain_entry(c, opt, &fresh);
  const auto& fs = e.chain.filters();

  if (opt.coverage) {
    cov_feature(kFeatChainShape, static_cast<uint32_t>(fs.size() * 32 + c.filters.size()));
    for (size_t i = 0; i < e.installs.size(); i++)
      cov_feature(kFeatLoadRule, static_cast<uint32_t>(i * 64 + static_cast<int>(e.installs[i].rule)));
  }
  if (fs.empty()) return out;

  // Static (per-chain) part.
  const bool want_linux = std::find(opt.models.begin(), opt.models.end(), "linux") != opt.models.end();
  if (!e.static_done) {
    e.static_done = true;
    if (want_linux) linux_static_check(e, model_state(e, "linux", k), k, opt, e.key_hash);
  }
  if (opt.coverage)
    for (uint32_t f : e.static_features) cov_feature(kFeatPopcount, f);

  // The plain chain on every input (with BPF coverage when asked).
  const size_t n_in = c.inputs.size();
  static thread_local std::vector<SeccompData> sds;  // reused: no allocation per call
  static thread_local std::vector<uint32_t> rets;
  sds.resize(n_in);
  rets.assign(n_in, SECCOMP_RET_ALLOW);
  for (size_t j = 0; j < n_in; j++) sds[j] = case_seccomp_data(c.inputs[j]);
  if (opt.coverage) {
    static thread_local std::vector<uint8_t> cov;
    for (size_t i = fs.size(); i-- > 0;) {
      const Program& p = fs[i].insns;
      cov.assign(p.size(), 0);
      for (size_t j = 0; j < n_in; j++) {
        const uint32_t cur = bpf_run_cov(p, sds[j], cov.data());
        if (ACTION_ONLY(cur) < ACTION_ONLY(rets[j])) rets[j] = cur;
        emulator_coverage(fs[i].orig, sds[j], static_cast<unsigned>(i));
      }
      emit_bpf_coverage(p, cov, static_cast<unsigned>(i));
    }
    for (size_t j = 0; j < n_in; j++)
      cov_feature(kFeatAction, static_cast<uint32_t>(action_of(rets[j])) * 4 + arch_index(sds[j].arch));
  } else {
    ChainEvaluator& ev = e.evaluator();
    for (size_t j = 0; j < n_in; j++) rets[j] = ev.run(sds[j]).ret;
  }

  // linux: lookups of the inputs, and the args-dependent bits on their args/ip.
  if (want_linux) {
    ModelState& ms = model_state(e, "linux", k);
    if (ms.model && !ms.attach_failed) {
      bool hit_bad = false, dep_bad = false;
      for (size_t j = 0; j < n_in; j++) {
        const SeccompData& sd = sds[j];
        if (sd.arch == AUDIT_ARCH_X86_64 || sd.arch == AUDIT_ARCH_I386)
          check_linux_bit(e, ms.name, sd.arch == AUDIT_ARCH_X86_64 ? CacheArch::Native : CacheArch::Compat,
                          sd.nr, k, opt);
        const bool hit = ms.model->lookup(sd);
        if (opt.coverage) cov_feature(kFeatLookupHit, (hit ? 4 : 0) + arch_index(sd.arch));
        if (hit && !hit_bad && !is_allow(rets[j]) && !uprobe_exception(k, sd.arch, sd.nr)) {
          hit_bad = true;
          out.push_back({"cache-soundness", ms.name, "lookup-hit-not-allow",
                         "input " + std::to_string(j) + " (" + sd_text(sd) +
                             ") hits the cache, but the chain returns " + format_ret(rets[j]),
                         {}});
        }
        for (const DepBit& d : e.dependent) {
          if (dep_bad) break;
          SeccompData s2 = sd;
          s2.arch = d.arch;
          s2.nr = d.nr;
          const RunResult r = e.evaluator().run(s2);
          if (!is_allow(r.ret)) {
            dep_bad = true;
            out.push_back({"cache-soundness", ms.name, "bit-not-const-allow-args",
                           "bitmap bit " + std::string(d.arch == AUDIT_ARCH_I386 ? "ia32" : "x86_64") +
                               ":" + std::to_string(d.nr) + " is set, but the chain returns " +
                               format_ret(r.ret) + " on " + sd_text(s2) + " (filter " +
                               std::to_string(r.match) + ")",
                           {input_of(s2)}});
          }
        }
      }
    }
  }

  out.insert(out.begin(), e.static_findings.begin(), e.static_findings.end());

  // rfc-v1 models: the per-task cache over the inputs in order.
  bool repeat_checked = false, can_hit = false;
  for (size_t mi = 0; mi < opt.models.size(); mi++) {
    const std::string& name = opt.models[mi];
    if (name == "linux" || name == "exact") continue;
    if (!repeat_checked) {
      repeat_checked = true;
      can_hit = task_cache_can_hit(sds, rets, k.native_nr);
      if (opt.coverage) cov_feature(kFeatRfcRepeat, can_hit);
    }
    if (!can_hit) break;  // no lookup can hit: the sequence equals the plain chain
    ModelState& ms = model_state(e, name, k);
    if (!ms.model || ms.attach_failed) continue;  // the design refuses the install (E2BIG)
    ms.model->reset_task();
    for (size_t j = 0; j < n_in; j++) {
      const bool hit = ms.model->lookup(sds[j]);
      uint32_t got = rets[j];
      if (hit) {
        got = SECCOMP_RET_ALLOW;
      } else {
        ms.model->after_run(sds[j], rets[j]);
      }
      if (opt.coverage) cov_feature(kFeatRfcHit, static_cast<uint32_t>(mi * 2 + hit));
      if (ACTION_ONLY(got) != ACTION_ONLY(rets[j])) {
        out.push_back({"cache-sequence", name, "cached-action-differs",
                       "input " + std::to_string(j) + " (" + sd_text(sds[j]) +
                           ") is answered ALLOW from the per-task cache, but the chain returns " +
                           format_ret(rets[j]),
                       {}});
        break;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// oracle_consistency

std::vector<Finding> check_oracle_consistency(const Case* c, std::string_view bytes, bool coverage) {
  std::vector<Finding> out;
  auto add = [&](std::string kind, std::string details) {
    for (const Finding& f : out)
      if (f.kind == kind) return;
    out.push_back({"oracle-consistency", "-", std::move(kind), std::move(details), {}});
  };
  // Every parser survives arbitrary bytes (FormatError is the only failure).
  if (bytes.size() <= (1u << 16)) {
    auto parser = [&](const char* name, uint32_t id, auto&& fn) {
      try {
        fn();
        if (coverage) cov_feature(kFeatParser, id * 2);
      } catch (const FormatError&) {
        if (coverage) cov_feature(kFeatParser, id * 2 + 1);
      } catch (const std::exception& e) {
        add(std::string("parser-exception-") + name,
            std::string(name) + " threw a non-FormatError exception: " + e.what());
      }
    };
    parser("raw", 0, [&] { parse_raw(bytes); });
    parser("ops", 1, [&] { parse_ops(bytes); });
    parser("ddd", 2, [&] { parse_ddd(bytes); });
    parser("c", 3, [&] { parse_c_array(bytes); });
    parser("bpf_asm", 4, [&] { assemble(bytes); });
    parser("detect", 5, [&] {
      if (detect_format(bytes)) parse_program(bytes);
    });
  }
  if (!c) return out;

  static const Format kFormats[] = {Format::Raw, Format::BpfAsm, Format::Ops, Format::Ddd, Format::C};
  for (size_t fi = 0; fi < c->filters.size(); fi++) {
    const Program& p = c->filters[fi].prog;
    if (p.empty() || p.size() > 1024) continue;
    for (Format f : kFormats) {
      const std::string name = format_name(f);
      try {
        const Program q = parse_program(write_program(p, f), f);
        if (q != p) {
          size_t d = 0;
          while (d < p.size() && d < q.size() && p[d] == q[d]) d++;
          add("roundtrip-" + name, "parse(write(p, " + name + ")) != p for filter " +
                                       std::to_string(fi) + ", first difference at insn " +
                                       std::to_string(d));
        }
      } catch (const std::exception& e) {
        add("roundtrip-" + name + "-throws", "filter " + std::to_string(fi) + ": " + e.what());
      }
    }
    DisasmOptions o1, o2, o3;
    o2.comments = false;
    o3.arch = Arch::I386;
    for (const DisasmOptions* o : {&o1, &o2, &o3}) {
      try {
        if (assemble(disassemble(p, *o)) != p)
          add("disasm-roundtrip", "assemble(disassemble(p)) != p for filter " + std::to_string(fi) +
                                      (o->comments ? "" : " (no comments)"));
      } catch (const std::exception& e) {
        add("disasm-roundtrip-throws", "filter " + std::to_string(fi) + ": " + e.what());
      }
    }
  }

  // Valid programs never fault; the evaluations agree.
  FilterChain chain;
  LoadEnv env;
  env.no_new_privs = c->task.no_new_privs;
  for (const CaseFilter& f : c->filters) {
    const LoadResult r = chain.install(f.prog, f.flags, env);
    if (coverage) cov_feature(kFeatLoadRule, static_cast<uint32_t>(r.rule) * 64 + static_cast<uint32_t>(r.insn & 63));
  }
  if (chain.empty()) return out;
  std::unique_ptr<ChainEvaluator> ev = std::make_unique<ChainEvaluator>(chain);
  const auto& fs = chain.filters();
  std::vector<uint8_t> cov;
  Trace t;
  for (size_t j = 0; j < c->inputs.size(); j++) {
    const SeccompData sd = case_seccomp_data(c->inputs[j]);
    for (size_t i = 0; i < fs.size(); i++) {
      const Program& p = fs[i].insns;
      const uint32_t r1 = bpf_run_traced(p, sd, &t);
      const bool ended = !t.steps.empty() &&
                         (class_of(t.steps.back().insn.code) == RET || t.steps.back().div_by_zero);
      if (!ended)
        add("interpreter-fault", "filter " + std::to_string(i) + " on input " + std::to_string(j) +
                                     " did not end on a RET (" + std::to_string(t.steps.size()) +
                                     " steps)");
      cov.assign(p.size(), 0);
      const uint32_t r2 = bpf_run_cov(p, sd, cov.data());
      const uint32_t r3 = bpf_run(p, sd);
      if (r1 != r2 || r1 != r3)
        add("interpreter-mismatch", "traced/cov/plain runs of filter " + std::to_string(i) +
                                        " disagree: " + hex(r1) + " " + hex(r2) + " " + hex(r3));
      if (coverage) emit_bpf_coverage(p, cov, static_cast<unsigned>(i));
    }
    const RunResult a = seccomp_run_filters(chain, sd);
    const RunResult b = ev->run(sd);
    if (a.ret != b.ret || a.match != b.match)
      add("evaluator-mismatch", "seccomp_run_filters gives " + format_ret(a.ret) + " (filter " +
                                    std::to_string(a.match) + "), ChainEvaluator " +
                                    format_ret(b.ret) + " (filter " + std::to_string(b.match) +
                                    ") on " + sd_text(sd));
  }
  return out;
}

// ---------------------------------------------------------------------------
// kernel_load

namespace {

uint64_t cap_eff() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("CapEff:", 0) == 0) return std::strtoull(line.c_str() + 7, nullptr, 16);
  return 0;
}

LoadEnv host_env(bool nnp) {
  static const uint64_t caps = cap_eff();
  static const int jit_enable = host_bpf_jit_enable();
  static const int jit_harden = host_bpf_jit_harden();
  LoadEnv e;
  e.no_new_privs = nnp;
  const bool admin = (caps >> 21) & 1;
  const bool bpf_cap = ((caps >> 39) & 1) || admin;
  e.cap_sys_admin = admin;
  e.jit_blinding = jit_blinding_enabled(jit_enable != 0, jit_harden, bpf_cap);
  return e;
}

}  // namespace

std::vector<Finding> check_kernel_load(const Case& c, bool coverage) {
  std::vector<Finding> out;
  static const bool available = host_seccomp_unavailable_reason().empty();
  if (!available || c.filters.empty()) return out;
  std::vector<HostFilter> hf;
  for (size_t i = 0; i < c.filters.size() && i < 4; i++) hf.push_back({c.filters[i].prog, c.filters[i].flags});
  HostOptions ho;
  ho.no_new_privs = c.task.no_new_privs;
  const HostRun run = host_run(hf, {}, ho);
  if (!run.ok()) return out;
  const LoadEnv env = host_env(ho.no_new_privs);
  FilterChain chain;
  for (size_t i = 0; i < hf.size() && i < run.installs.size(); i++) {
    const HostInstall& hi = run.installs[i];
    if (hi.call.not_run) break;
    // The install is itself a syscall under the filters before it: compare
    // only when the oracle lets it through to seccomp().
    if (!chain.empty()) {
      const RunResult r = seccomp_run_filters(chain, host_install_seccomp_data(run, hf, i));
      const Action a = action_of(r.ret);
      if (a != Action::Allow && a != Action::Log) break;
    }
    const LoadResult lr = chain.install(hf[i].prog, hf[i].flags, env);
    const bool host_ok = hi.ok();
    if (coverage) cov_feature(kFeatHostInstall, static_cast<uint32_t>(lr.rule) * 4 + host_ok * 2 + lr.ok());
    if (!hi.call.returned) break;
    if (lr.ok() != host_ok) {
      out.push_back({"kernel-load", "-", "accept-mismatch",
                     "filter " + std::to_string(i) + ": the oracle " +
                         (lr.ok() ? std::string("accepts it") : "rejects it (errno " + std::to_string(lr.err) + ", " + rule_name(lr.rule) + ": " + lr.reason + ")") +
                         ", the host kernel " +
                         (host_ok ? std::string("accepts it") : "returns errno " + std::to_string(hi.err)),
                     {}});
      break;
    }
    if (!lr.ok() && lr.err != hi.err) {
      out.push_back({"kernel-load", "-", "errno-mismatch",
                     "filter " + std::to_string(i) + ": oracle errno " + std::to_string(lr.err) +
                         " (" + rule_name(lr.rule) + ": " + lr.reason + "), host errno " +
                         std::to_string(hi.err),
                     {}});
      break;
    }
  }
  return out;
}

}  // namespace secdiff::fuzz
