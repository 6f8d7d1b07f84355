#include "vm/minimize.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

#include "host/program_io.h"
#include "oracle/cache/properties.h"
#include "oracle/chain.h"
#include "oracle/seccomp_data.h"
#include "vm/locate.h"

namespace secdiff::vm {

namespace {
using Clock = std::chrono::steady_clock;

void add_unique(std::vector<Signature>& v, Signature s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(std::move(s));
}

// The task's seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog) call runs under the
// filters installed before: unless it is dispatched whatever the pointer and
// ip (as the runner's agent varies them), the filter is not (reliably) installed.
bool install_call_allowed(const FilterChain& chain, uint32_t flags) {
  if (chain.empty()) return true;
  static const uint64_t kFill[3] = {0x5ec000102ull, 0x00007ffc12345678ull, ~uint64_t{0}};
  for (uint64_t v : kFill) {
    const uint64_t args[6] = {1 /* SECCOMP_SET_MODE_FILTER */, flags, v, 0, 0, 0};
    const SeccompData sd = make_seccomp_data(Arch::X86_64, 317 /* __NR_seccomp */, args, v);
    const Action a = action_of(seccomp_run_filters(chain, sd).ret);
    if (a != Action::Allow && a != Action::Log) return false;
  }
  return true;
}

// seccomp_uprobe_exception(): the kernel's deliberate divergence, cached ALLOW
// whatever the filters say (native arch only; excused as by the fuzzers).
bool uprobe_exception(const KernelProfile& k, const SeccompData& sd) {
  if (sd.arch != AUDIT_ARCH_X86_64) return false;
  return (k.uretprobe_exception && sd.nr == 335) || (k.uprobe_exception && sd.nr == 336);
}

const char* arch_label(uint32_t audit_arch) {
  return audit_arch == AUDIT_ARCH_X86_64 ? "x86_64" : audit_arch == AUDIT_ARCH_I386 ? "ia32" : "other-arch";
}
}  // namespace

int Checker::first_keeping(const std::vector<Case>& cands, const Signature& sig) {
  const auto all = check(cands);
  for (size_t i = 0; i < all.size(); i++)
    if (std::find(all[i].begin(), all[i].end(), sig) != all[i].end()) return static_cast<int>(i);
  return -1;
}

// --- ModelChecker -------------------------------------------------------------

ModelChecker::ModelChecker(std::string model, std::string property, const KernelProfile* profile,
                           CacheModelOptions opt)
    : model_(std::move(model)), property_(std::move(property)), profile_(profile), opt_(opt) {
  const KernelProfile& kp = profile_ ? *profile_ : default_kernel_profile();
  if (!make_cache_model(model_, kp, opt_)) throw std::invalid_argument("unknown cache model '" + model_ + "'");
  if (!property_.empty()) {
    const auto ps = properties();
    if (std::find(ps.begin(), ps.end(), property_) == ps.end())
      throw std::invalid_argument("unknown model property '" + property_ + "'");
  }
}

std::vector<std::string> ModelChecker::properties() {
  return {"cache-soundness", "cache-sequence", "model-vs-exact"};
}

std::vector<Signature> ModelChecker::signatures(const Case& c, const std::string& only_property) const {
  return signatures_as(c, only_property, attach_all_);
}

bool ModelChecker::prefer_filtered_installs(const Case& c, const Signature& sig) {
  if (!attach_all_) return false;
  const auto s = signatures_as(c, sig.property, false);
  if (std::find(s.begin(), s.end(), sig) == s.end()) return false;
  attach_all_ = false;
  return true;
}

std::optional<ModelPick> pick_model_signature(const Case& c, const std::string& model, const std::string& property,
                                              const std::string& kind) {
  auto mc = std::make_unique<ModelChecker>(model, property);
  for (const bool all : {false, true}) {
    mc->set_attach_all(all);
    for (Signature& s : mc->signatures(c))
      if (kind.empty() || s.kind == kind) return ModelPick{std::move(mc), std::move(s)};
  }
  return std::nullopt;
}

std::vector<Signature> ModelChecker::signatures_as(const Case& c, const std::string& only_property,
                                                   bool attach_all) const {
  const std::string& only = only_property.empty() ? property_ : only_property;
  auto want = [&](const char* p) { return only.empty() ? std::string(p) != "model-vs-exact" : only == p; };
  const KernelProfile& kp = profile_ ? *profile_ : default_kernel_profile();
  std::vector<Signature> out;
  auto m = make_cache_model(model_, kp, opt_);
  const bool bitmap_model = model_ != "exact" && model_.rfind("rfc", 0) != 0;
  const bool sound = want("cache-soundness") && bitmap_model;
  const bool vs_exact = want("model-vs-exact") && model_ != "exact";
  std::unique_ptr<CacheModel> ex = vs_exact ? make_cache_model("exact", kp) : nullptr;
  FilterChain chain;
  LoadEnv env;
  env.no_new_privs = c.task.no_new_privs;
  bool attach_ok = true;
  for (const CaseFilter& f : c.filters) {
    if (!attach_all && !install_call_allowed(chain, f.flags)) break;  // the install itself is filtered
    if (!chain.install(f.prog, f.flags, env).ok()) continue;
    if (const int err = m->on_attach(chain)) {
      if (only.empty() || only == "model-install")
        add_unique(out, {"model-install", model_ + " fails an install (errno " + std::to_string(err) + ")"});
      attach_ok = false;
      break;
    }
    if (ex) ex->on_attach(chain);
    if (sound) {
      const SubsetReport rep = check_bitmap_subset_of_exact(*m, chain);
      for (const BitDiff& d : rep.unsound)
        add_unique(out, {"cache-soundness", std::string(cache_arch_name(d.arch)) + " bit not constant-ALLOW"});
    }
    if (ex) {
      const BitmapCompare cmp = compare_models(*m, *ex);
      for (const BitDiff& d : cmp.only_a)
        add_unique(out, {"model-vs-exact", std::string(cache_arch_name(d.arch)) + " model-only ALLOW"});
      for (const BitDiff& d : cmp.only_b)
        add_unique(out, {"model-vs-exact", std::string(cache_arch_name(d.arch)) + " exact-only ALLOW"});
    }
  }
  // The lookup at syscall entry (the fuzzers' lookup-hit-not-allow): an input
  // the bitmap model answers from its cache must evaluate to ALLOW.
  if (attach_ok && sound && !chain.empty()) {
    for (const CaseInput& in : c.inputs) {
      const SeccompData sd = case_seccomp_data(in);
      if (uprobe_exception(kp, sd) || !m->lookup(sd)) continue;
      if (ACTION_ONLY(seccomp_run_filters(chain, sd).ret) != static_cast<int32_t>(SECCOMP_RET_ALLOW))
        add_unique(out, {"cache-soundness", std::string(arch_label(sd.arch)) + " lookup hit not ALLOW"});
    }
  }
  if (attach_ok && want("cache-sequence") && !chain.empty()) {
    m->reset_task();
    for (const CaseInput& in : c.inputs) {
      const SeccompData sd = case_seccomp_data(in);
      const RunResult exact = seccomp_run_filters(chain, sd);
      const RunResult got = seccomp_run_filters(chain, sd, *m);
      if (got.cache_hit && bitmap_model && uprobe_exception(kp, sd)) continue;  // by design
      if (ACTION_ONLY(got.ret) != ACTION_ONLY(exact.ret))
        add_unique(out, {"cache-sequence", std::string(got.cache_hit ? "cached " : "model ") +
                                               action_name(action_of(got.ret)) + ", chain " +
                                               action_name(action_of(exact.ret))});
    }
  }
  return out;
}

std::vector<std::vector<Signature>> ModelChecker::check(const std::vector<Case>& cases) {
  std::vector<std::vector<Signature>> out;
  for (const Case& c : cases) out.push_back(signatures(c));
  return out;
}

int ModelChecker::first_keeping(const std::vector<Case>& cands, const Signature& sig) {
  for (size_t i = 0; i < cands.size(); i++) {
    const auto s = signatures_as(cands[i], sig.property, attach_all_);
    if (std::find(s.begin(), s.end(), sig) != s.end()) return static_cast<int>(i);
  }
  return -1;
}

// --- VmChecker ----------------------------------------------------------------

std::vector<std::vector<Signature>> VmChecker::check(const std::vector<Case>& cases) {
  std::vector<std::vector<Signature>> out(cases.size());
  if (cases.empty()) return out;
  const DiffSummary s = runner_.run(cases);
  runs_ += cases.size();
  for (const Mismatch& m : s.list)
    if (m.case_index < out.size()) add_unique(out[m.case_index], {m.property, m.kind});
  return out;
}

// --- Sizes and program surgery ------------------------------------------------

std::string CaseSize::str() const {
  return std::to_string(filters) + " filters, " + std::to_string(insns) + " insns, " + std::to_string(inputs) +
         " inputs";
}

CaseSize case_size(const Case& c) {
  CaseSize s;
  s.filters = c.filters.size();
  for (const auto& f : c.filters) s.insns += f.prog.size();
  s.inputs = c.inputs.size();
  return s;
}

std::optional<Program> delete_insns(const Program& p, const std::vector<bool>& del) {
  const size_t n = p.size();
  std::vector<int64_t> newidx(n, -1), next_surv(n + 1, -1);
  int64_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (!del[i]) newidx[i] = k++;
  for (size_t i = n; i-- > 0;) next_surv[i] = del[i] ? next_surv[i + 1] : newidx[i];
  Program out;
  for (size_t i = 0; i < n; i++) {
    if (del[i]) continue;
    Insn in = p[i];
    if (bpf::class_of(in.code) == bpf::JMP) {
      const int64_t me = newidx[i];
      if (bpf::op_of(in.code) == bpf::JA) {
        const uint64_t t = i + 1 + uint64_t{in.k};
        if (t < n) {
          if (next_surv[t] < 0) return std::nullopt;
          in.k = static_cast<uint32_t>(next_surv[t] - me - 1);
        }
      } else {
        const size_t t1 = i + 1 + in.jt, t2 = i + 1 + in.jf;
        if (t1 >= n || t2 >= n) return std::nullopt;
        if (next_surv[t1] < 0 || next_surv[t2] < 0) return std::nullopt;
        in.jt = static_cast<uint8_t>(next_surv[t1] - me - 1);
        in.jf = static_cast<uint8_t>(next_surv[t2] - me - 1);
      }
    }
    out.push_back(in);
  }
  return out;
}

Program thread_jumps(const Program& p) {
  const size_t n = p.size();
  auto is_ja = [&](size_t t) { return t < n && p[t].code == (bpf::JMP | bpf::JA); };
  // Where a landing at t ends after following `ja`s (all jumps go forward).
  auto through = [&](size_t t) {
    while (is_ja(t)) {
      const uint64_t nt = t + 1 + uint64_t{p[t].k};
      if (nt >= n) break;
      t = static_cast<size_t>(nt);
    }
    return t;
  };
  // The last `ret` identical to the one at t, at most `reach` past i + 1.
  auto same_ret = [&](size_t i, size_t t, uint64_t reach) {
    if (t >= n || bpf::class_of(p[t].code) != bpf::RET) return t;
    size_t best = t;
    for (size_t u = t + 1; u < n && u - i - 1 <= reach; u++)
      if (p[u] == p[t]) best = u;
    return best;
  };
  Program out = p;
  for (size_t i = 0; i < n; i++) {
    const Insn& in = p[i];
    if (bpf::class_of(in.code) != bpf::JMP) continue;
    if (bpf::op_of(in.code) == bpf::JA) {
      const uint64_t t = i + 1 + uint64_t{in.k};
      if (t >= n) continue;
      out[i].k = static_cast<uint32_t>(same_ret(i, through(static_cast<size_t>(t)), UINT32_MAX) - i - 1);
    } else if (bpf::is_cond_jump(in.code)) {
      for (uint8_t Insn::*off : {&Insn::jt, &Insn::jf}) {
        const size_t t = i + 1 + in.*off;
        if (t >= n) continue;
        size_t d = through(t);
        if (d - i - 1 > 255) d = t;
        d = same_ret(i, d, 255);
        out[i].*off = static_cast<uint8_t>(d - i - 1);
      }
    }
  }
  return out;
}

Program drop_unreachable(const Program& p) {
  const size_t n = p.size();
  if (n == 0) return p;
  std::vector<bool> reach(n, false);
  reach[0] = true;
  auto mark = [&](uint64_t t) {
    if (t < n) reach[static_cast<size_t>(t)] = true;
  };
  for (size_t i = 0; i < n; i++) {  // jumps only go forward: one sweep
    if (!reach[i]) continue;
    const Insn& in = p[i];
    const uint16_t cls = bpf::class_of(in.code);
    if (cls == bpf::RET) continue;
    if (cls == bpf::JMP && bpf::op_of(in.code) == bpf::JA) {
      mark(i + 1 + uint64_t{in.k});
    } else if (cls == bpf::JMP) {
      mark(i + 1 + in.jt);
      mark(i + 1 + in.jf);
    } else {
      mark(i + 1);
    }
  }
  std::vector<bool> del(n);
  for (size_t i = 0; i < n; i++) del[i] = !reach[i];
  auto q = delete_insns(p, del);
  return q && !q->empty() ? *q : p;
}

// --- The minimizer ------------------------------------------------------------

namespace {

// Per filter: its install call is dispatched (when installs are filtered) and
// the filter loads.
std::vector<bool> load_ok(const Case& c, bool filtered) {
  FilterChain chain;
  LoadEnv env;
  env.no_new_privs = c.task.no_new_privs;
  std::vector<bool> ok;
  bool blocked = false;
  for (const CaseFilter& f : c.filters) {
    blocked = blocked || (filtered && !install_call_allowed(chain, f.flags));
    ok.push_back(!blocked && chain.install(f.prog, f.flags, env).ok());
  }
  return ok;
}

// Values a constant may shrink to, smallest first, all < v: 0, 1, the highest
// power of two <= v, v with its low 4, 8, ... bits cleared (the most first:
// 0xffffcdd1 -> 0xffff0000 in one step where only the high half matters),
// v/2, v-1. The constants pass repeats on an instruction while one is kept.
std::vector<uint64_t> shrink_values(uint64_t v) {
  std::vector<uint64_t> out;
  auto add = [&](uint64_t x) {
    if (x < v && std::find(out.begin(), out.end(), x) == out.end()) out.push_back(x);
  };
  add(0);
  add(1);
  if (v > 1) {
    uint64_t p = 1;
    while (p <= v / 2) p <<= 1;
    add(p);
    for (int bits = 60; bits >= 4; bits -= 4) add(v & ~((uint64_t{1} << bits) - 1));
    add(v >> 1);
    add(v - 1);
  }
  return out;
}

struct Cand {
  Case c;
  std::vector<bool> ok;  // expected load status per filter
  std::string what;
};

class Minimizer {
 public:
  Minimizer(const Case& c, const Signature& sig, Checker& ch, const MinimizeOptions& opt)
      : cur_(c), filtered_(ch.installs_filtered()), ok_(load_ok(c, filtered_)), sig_(sig), ch_(ch), opt_(opt),
        t0_(Clock::now()) {}

  Case run(MinimizeStats& st) {
    st.before = case_size(cur_);
    if (ch_.first_keeping({cur_}, sig_) != 0)
      throw std::invalid_argument("the case does not show " + sig_.str() + " under " + ch_.name());
    tests_++;
    progress(filtered_ ? "start" : "start, every filter that loads attached (as the fuzzers see the chain)");
    prefer_filtered();
    bool changed = true;
    while (changed && !timed_out_) {
      changed = false;
      changed |= pass_let_installs_through();
      changed |= pass_filters();
      for (size_t f = 0; f < cur_.filters.size(); f++) changed |= pass_canonical(f);
      for (size_t f = 0; f < cur_.filters.size(); f++) changed |= pass_insns(f);
      for (size_t f = 0; f < cur_.filters.size(); f++) changed |= pass_replace(f);
      for (size_t f = 0; f < cur_.filters.size(); f++) changed |= pass_canonical(f);
      for (size_t f = 0; f < cur_.filters.size(); f++) changed |= pass_insns(f);
      changed |= pass_inputs();
      changed |= pass_input_values();
      for (size_t f = 0; f < cur_.filters.size(); f++) changed |= pass_constants(f);
      changed |= pass_flags();
    }
    st.after = case_size(cur_);
    st.tests = tests_;
    st.steps = steps_;
    st.timed_out = timed_out_;
    st.installs_filtered = filtered_;
    st.seconds = elapsed();
    progress(timed_out_ ? "time limit reached" : "done");
    return cur_;
  }

 private:
  double elapsed() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }

  void progress(const std::string& what) {
    if (!opt_.progress) return;
    std::fprintf(stderr, "minimize: step %zu (%s): %s; %zu tests, %.2f s\n", steps_, what.c_str(),
                 case_size(cur_).str().c_str(), tests_, elapsed());
  }

  // A checker that attaches every filter switches to filtering installs as
  // soon as the current case shows the signature that way too.
  void prefer_filtered() {
    if (filtered_ || !ch_.prefer_filtered_installs(cur_, sig_)) return;
    tests_++;
    filtered_ = true;
    ok_ = load_ok(cur_, true);
    progress("the signature holds with installs filtered: keep it that way");
  }

  // For a checker that attaches every filter (a fuzzer's chain whose later
  // installs the earlier filters deny): let the installs through, by putting
  // `ld [0]; jeq #__NR_seccomp, 0, 1; ret #ALLOW` (and `and #0` when the filter
  // does not start with a load: A was 0) in front of every filter but the last
  // that denies the seccomp() call on its own, and switch to filtered installs
  // if the signature survives. (Only the x86_64 call matters, as in
  // install_call_allowed.)
  bool pass_let_installs_through() {
    if (filtered_ || cur_.filters.size() < 2) return false;
    Cand c{cur_, {}, "let the installs through"};
    LoadEnv env;
    env.no_new_privs = cur_.task.no_new_privs;
    size_t last = cur_.filters.size();
    for (size_t i = 0; i < cur_.filters.size(); i++)
      if (ok_[i]) last = i;
    bool changed = false;
    for (size_t i = 0; i < last; i++) {
      if (!ok_[i]) continue;
      CaseFilter& f = c.c.filters[i];
      FilterChain alone;
      if (!alone.install(f.prog, f.flags, env).ok() || install_call_allowed(alone, 0)) continue;
      Program q = {Insn{bpf::LD | bpf::W | bpf::ABS, 0, 0, 0}, Insn{bpf::JMP | bpf::JEQ | bpf::K, 0, 1, 317},
                   Insn{bpf::RET | bpf::K, 0, 0, SECCOMP_RET_ALLOW}};
      if (bpf::class_of(f.prog[0].code) != bpf::LD) q.push_back(Insn{bpf::ALU | bpf::AND | bpf::K, 0, 0, 0});
      q.insert(q.end(), f.prog.begin(), f.prog.end());
      f.prog = std::move(q);
      changed = true;
    }
    if (!changed || load_ok(c.c, false) != ok_) return false;
    tests_++;
    if (!ch_.prefer_filtered_installs(c.c, sig_)) return false;
    cur_ = std::move(c.c);
    filtered_ = true;
    ok_ = load_ok(cur_, true);
    steps_++;
    progress("let the installs through: the signature holds with installs filtered");
    return true;
  }

  // Tries candidates in order; accepts the first that keeps the signature.
  bool try_cands(std::vector<Cand> cands) {
    std::vector<Cand> valid;
    for (Cand& c : cands) {
      if (c.c == cur_) continue;
      if (load_ok(c.c, filtered_) != c.ok) continue;
      valid.push_back(std::move(c));
    }
    for (size_t at = 0; at < valid.size(); at += opt_.max_batch) {
      if (opt_.time_limit_seconds > 0 && elapsed() > opt_.time_limit_seconds) {
        timed_out_ = true;
        return false;
      }
      const size_t n = std::min(opt_.max_batch, valid.size() - at);
      std::vector<Case> batch;
      for (size_t i = 0; i < n; i++) batch.push_back(valid[at + i].c);
      const int k = ch_.first_keeping(batch, sig_);
      tests_ += k < 0 ? n : static_cast<size_t>(k) + 1;
      if (k >= 0) {
        cur_ = std::move(valid[at + k].c);
        ok_ = std::move(valid[at + k].ok);
        steps_++;
        progress(valid[at + k].what);
        prefer_filtered();
        return true;
      }
    }
    return false;
  }

  // ddmin over `count()` items: make(keep) builds a candidate from the current case.
  bool ddmin(const std::function<size_t()>& count, const std::function<std::optional<Cand>(const std::vector<bool>&)>& make,
             size_t min_keep) {
    bool any = false;
    size_t g = 2;
    while (!timed_out_) {
      const size_t n = count();
      if (n <= min_keep) break;
      g = std::min(g, n);
      std::vector<Cand> cands;
      for (size_t j = 0; j < g; j++) {
        const size_t lo = n * j / g, hi = n * (j + 1) / g;
        if (hi == lo || n - (hi - lo) < min_keep) continue;
        std::vector<bool> keep(n, true);
        for (size_t i = lo; i < hi; i++) keep[i] = false;
        if (auto c = make(keep)) cands.push_back(std::move(*c));
      }
      if (try_cands(std::move(cands))) {
        any = true;
        g = std::max<size_t>(g - 1, 2);
        continue;
      }
      if (g >= n) break;
      g = std::min(g * 2, n);
    }
    return any;
  }

  bool pass_filters() {
    return ddmin([&] { return cur_.filters.size(); },
                 [&](const std::vector<bool>& keep) -> std::optional<Cand> {
                   Cand c{cur_, {}, "drop filters"};
                   c.c.filters.clear();
                   for (size_t i = 0; i < keep.size(); i++)
                     if (keep[i]) {
                       c.c.filters.push_back(cur_.filters[i]);
                       c.ok.push_back(ok_[i]);
                     }
                   return c;
                 },
                 0);
  }

  bool pass_insns(size_t f) {
    if (f >= cur_.filters.size()) return false;
    return ddmin([&] { return f < cur_.filters.size() ? cur_.filters[f].prog.size() : 0; },
                 [&](const std::vector<bool>& keep) -> std::optional<Cand> {
                   std::vector<bool> del(keep.size());
                   for (size_t i = 0; i < keep.size(); i++) del[i] = !keep[i];
                   auto p = delete_insns(cur_.filters[f].prog, del);
                   if (!p || p->empty()) return std::nullopt;
                   Cand c{cur_, ok_, "delete insns of filter " + std::to_string(f)};
                   c.c.filters[f].prog = std::move(*p);
                   return c;
                 },
                 1);
  }

  bool pass_replace(size_t f) {
    bool any = false;
    for (size_t i = 0; f < cur_.filters.size() && i < cur_.filters[f].prog.size() && !timed_out_; i++) {
      const Program& p = cur_.filters[f].prog;
      const Insn in = p[i];
      std::vector<Cand> cands;
      auto with = [&](Insn repl, const char* what) {
        Cand c{cur_, ok_, std::string(what) + " in filter " + std::to_string(f)};
        c.c.filters[f].prog[i] = repl;
        cands.push_back(std::move(c));
      };
      if (bpf::is_cond_jump(in.code)) {
        with(Insn{bpf::JMP | bpf::JA, 0, 0, in.jt}, "take the true branch");
        with(Insn{bpf::JMP | bpf::JA, 0, 0, in.jf}, "take the false branch");
      }
      if (bpf::class_of(in.code) != bpf::RET) {
        std::vector<uint32_t> vals;
        for (size_t j = i + 1; j < p.size() && vals.size() < 4; j++)
          if (p[j].code == (bpf::RET | bpf::K) && std::find(vals.begin(), vals.end(), p[j].k) == vals.end())
            vals.push_back(p[j].k);
        for (uint32_t v : vals) with(Insn{bpf::RET | bpf::K, 0, 0, v}, "replace by ret");
      }
      any |= try_cands(std::move(cands));
    }
    return any;
  }

  // Jump threading and dead code removal (thread_jumps, drop_unreachable):
  // the filter's results do not change, but a buggy model's may.
  bool pass_canonical(size_t f) {
    if (f >= cur_.filters.size()) return false;
    const Program& p = cur_.filters[f].prog;
    std::vector<Cand> cands;
    auto add = [&](Program q, const char* what) {
      if (q == p) return;
      Cand c{cur_, ok_, std::string(what) + " in filter " + std::to_string(f)};
      c.c.filters[f].prog = std::move(q);
      cands.push_back(std::move(c));
    };
    const Program threaded = thread_jumps(p);
    add(drop_unreachable(threaded), "thread jumps, drop dead code");
    add(drop_unreachable(p), "drop dead code");
    add(threaded, "thread jumps");
    return try_cands(std::move(cands));
  }

  bool pass_constants(size_t f) {
    bool any = false;
    for (size_t i = 0; f < cur_.filters.size() && i < cur_.filters[f].prog.size() && !timed_out_; i++) {
      const Insn in = cur_.filters[f].prog[i];
      if (bpf::class_of(in.code) == bpf::JMP && bpf::op_of(in.code) == bpf::JA) continue;
      for (int round = 0; round < 64 && !timed_out_ && f < cur_.filters.size() &&
                          i < cur_.filters[f].prog.size() && cur_.filters[f].prog[i].k != 0;
           round++) {
        std::vector<Cand> cands;
        for (uint64_t v : shrink_values(cur_.filters[f].prog[i].k)) {
          Cand c{cur_, ok_, "shrink a constant in filter " + std::to_string(f)};
          c.c.filters[f].prog[i].k = static_cast<uint32_t>(v);
          cands.push_back(std::move(c));
        }
        if (!try_cands(std::move(cands))) break;
        any = true;
      }
    }
    return any;
  }

  bool pass_flags() {
    std::vector<Cand> cands;
    for (size_t f = 0; f < cur_.filters.size(); f++)
      if (cur_.filters[f].flags) {
        Cand c{cur_, ok_, "clear flags of filter " + std::to_string(f)};
        c.c.filters[f].flags = 0;
        cands.push_back(std::move(c));
      }
    return try_cands(std::move(cands));
  }

  bool pass_inputs() {
    return ddmin([&] { return cur_.inputs.size(); },
                 [&](const std::vector<bool>& keep) -> std::optional<Cand> {
                   Cand c{cur_, ok_, "drop inputs"};
                   c.c.inputs.clear();
                   for (size_t i = 0; i < keep.size(); i++)
                     if (keep[i]) c.c.inputs.push_back(cur_.inputs[i]);
                   return c;
                 },
                 0);
  }

  bool pass_input_values() {
    bool any = false;
    for (size_t i = 0; i < cur_.inputs.size() && !timed_out_; i++) {
      {
        std::vector<Cand> cands;
        Cand z{cur_, ok_, "zero args and ip of input " + std::to_string(i)};
        for (auto& a : z.c.inputs[i].args) a = 0;
        z.c.inputs[i].ip.reset();
        cands.push_back(z);
        Cand za{cur_, ok_, "zero args of input " + std::to_string(i)};
        for (auto& a : za.c.inputs[i].args) a = 0;
        cands.push_back(za);
        Cand zi{cur_, ok_, "drop ip of input " + std::to_string(i)};
        zi.c.inputs[i].ip.reset();
        cands.push_back(zi);
        any |= try_cands(std::move(cands));
      }
      for (int a = 0; a < 6 && !timed_out_; a++) {
        for (int round = 0; round < 64 && !timed_out_ && cur_.inputs[i].args[a] != 0; round++) {
          std::vector<Cand> cands;
          for (uint64_t v : shrink_values(cur_.inputs[i].args[a])) {
            Cand c{cur_, ok_, "shrink args[" + std::to_string(a) + "] of input " + std::to_string(i)};
            c.c.inputs[i].args[a] = v;
            cands.push_back(std::move(c));
          }
          if (!try_cands(std::move(cands))) break;
          any = true;
        }
      }
    }
    return any;
  }

  Case cur_;
  bool filtered_;
  std::vector<bool> ok_;
  Signature sig_;
  Checker& ch_;
  MinimizeOptions opt_;
  Clock::time_point t0_;
  size_t tests_ = 0, steps_ = 0;
  bool timed_out_ = false;
};

}  // namespace

Case minimize_case(const Case& c, const Signature& sig, Checker& checker, const MinimizeOptions& opt,
                   MinimizeStats* stats) {
  MinimizeStats st;
  Minimizer m(c, sig, checker, opt);
  Case out = m.run(st);
  if (stats) *stats = st;
  return out;
}

// --- Backends -------------------------------------------------------------------

namespace {
namespace fs = std::filesystem;

std::string shell_quote(const std::string& s) {
  std::string o = "'";
  for (char ch : s) o += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return o + "'";
}

std::string run_capture(const std::vector<std::string>& argv, const std::string& what) {
  std::string cmd;
  for (const auto& a : argv) cmd += shell_quote(a) + " ";
  cmd += "</dev/null";
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) throw InputError(what + ": cannot run");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const int st = ::pclose(f);
  if (st != 0) throw InputError(what + " failed (status " + std::to_string(st) + ")");
  return out;
}

}  // namespace

BackendHandle::~BackendHandle() {
  if (pool) pool->stop();
  pool.reset();
  if (!tmp_dir.empty()) {
    std::error_code ec;
    fs::remove_all(tmp_dir, ec);
  }
}

std::unique_ptr<BackendHandle> make_backend(const BackendSpec& spec) {
  auto h = std::make_unique<BackendHandle>();
  PoolOptions po;
  po.jobs = spec.jobs;
  po.syscall_timeout_ms = spec.syscall_timeout_ms;
  po.batch_cases = spec.batch_cases ? spec.batch_cases : 1;
  if (spec.backend == "host") {
    HostAgentConfig hc;
    hc.agent = find_agent(spec.agent);
    hc.work_dir = spec.work_dir;
    hc.start_timeout = Millis(spec.boot_timeout_ms);
    h->kernel_name = "host";
    h->pool = make_host_pool(hc, po);
    return h;
  }
  if (spec.backend != "vm") throw InputError("--backend: expected vm or host, not '" + spec.backend + "'");
  std::string image, modules;
  std::error_code ec;
  if (spec.kernel.find('/') != std::string::npos ||
      (fs::is_regular_file(spec.kernel, ec) && spec.kernel != "debian" && spec.kernel != "debug")) {
    if (!fs::is_regular_file(spec.kernel, ec)) throw InputError(spec.kernel + ": kernel image not found");
    h->kernel_name = fs::path(spec.kernel).filename().string();
    image = spec.kernel;
  } else {
    if (spec.kernel != "debian" && spec.kernel != "debug")
      throw InputError("--kernel: expected debian, debug or a kernel image PATH, not '" + spec.kernel + "'");
    h->kernel_name = spec.kernel;
    const fs::path script = source_dir() / "scripts/vm/kernels.sh";
    std::istringstream out(run_capture({"/bin/bash", script.string(), spec.kernel}, script.string()));
    std::string line;
    while (std::getline(out, line)) {
      std::istringstream ls(line);
      std::string name, img, mods;
      ls >> name >> img >> mods;
      if (name == spec.kernel) {
        image = img;
        modules = mods;
      }
    }
    if (image.empty()) throw InputError(script.string() + " printed no '" + spec.kernel + "' kernel");
  }
  if (!spec.modules.empty()) modules = spec.modules;
  QemuConfig qc;
  qc.qemu = spec.qemu;
  qc.kernel = image;
  qc.work_dir = spec.work_dir;
  qc.boot_timeout = Millis(spec.boot_timeout_ms);
  if (!spec.initrd.empty()) {
    qc.initrd = spec.initrd;
  } else {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/secdiff-min-XXXXXX";
    if (!::mkdtemp(templ.data())) throw InputError("mkdtemp " + templ + " failed");
    h->tmp_dir = templ;
    const fs::path script = source_dir() / "scripts/vm/initramfs.sh";
    std::vector<std::string> args = {"/bin/bash", script.string(), "--agent", find_agent(spec.agent), "-o",
                                     templ + "/initramfs.cpio"};
    if (!modules.empty()) {
      args.push_back("--modules");
      args.push_back(modules);
    }
    run_capture(args, script.string());
    qc.initrd = templ + "/initramfs.cpio";
  }
  h->pool = make_qemu_pool(qc, po);
  return h;
}

}  // namespace secdiff::vm
