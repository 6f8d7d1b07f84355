#include "vm/runner.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdarg>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>

#include "host/case_file.h"
#include "oracle/errno_names.h"
#include "oracle/formats/formats.h"
#include "oracle/seccomp_data.h"
#include "oracle/strict_mode.h"

namespace secdiff::vm {

namespace fs = std::filesystem;

const char* jit_mode_name(JitMode m) {
  switch (m) {
    case JitMode::On: return "on";
    case JitMode::Off: return "off";
    case JitMode::Both: return "both";
    case JitMode::Leave: return "leave";
  }
  return "?";
}

namespace {

constexpr int kNrSeccomp = 317;  // x86_64 __NR_seccomp
constexpr uint64_t kSeccompSetModeFilter = 1;

std::string strf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string strf(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

std::string hex(uint64_t v) { return strf("0x%llx", static_cast<unsigned long long>(v)); }

std::string errno_str(int e) {
  if (e == 0) return "0";
  const auto n = errno_name(e);
  return n ? std::string(*n) : std::to_string(e);
}

std::string jit_str(int jit) { return jit < 0 ? "unchanged" : jit ? "on" : "off"; }

std::string syscall_str(Arch arch, int64_t nr) {
  const auto name = syscall_name(arch, nr);
  std::string s = std::string(arch_name(arch)) + " ";
  if (name) s += std::string(*name) + "(" + std::to_string(nr & ~int64_t{X32_SYSCALL_BIT}) + ")";
  else s += "nr " + std::to_string(nr) + " (" + hex(static_cast<uint64_t>(nr)) + ")";
  return s;
}

// --- prediction ---------------------------------------------------------------------------------

TaskEnv task_env(const Case& c) {
  TaskEnv te;
  te.tracer = c.task.tracer;
  te.other_threads = c.task.other_threads;
  te.sigsys_handler = c.task.sigsys_handler;
  return te;
}

struct InstallPred {
  enum Kind { Loaded, Rejected, Filtered, Uncertain } kind = Loaded;
  LoadResult load;
  int64_t ret = 0;  // Filtered: what seccomp() returns
  int err = 0;
  std::string why;  // Filtered / Uncertain
};

struct Prediction {
  std::vector<InstallPred> installs;
  FilterChain chain;
  int uncertain_from = -1;  // first install whose outcome cannot be predicted
};

LoadEnv load_env(const Case& c, const CompareContext& ctx, int jit) {
  LoadEnv e;
  e.no_new_privs = c.task.no_new_privs;
  e.cap_sys_admin = ctx.cap_sys_admin;
  const bool jit_on = jit >= 0 ? jit > 0 : ctx.hello.jit_enable > 0;
  e.jit_blinding = jit_blinding_enabled(jit_on, std::max(0, ctx.hello.jit_harden), ctx.cap_sys_admin);
  return e;
}

// The install sequence, including the seccomp() calls being filtered by the
// filters installed before them (the pointer argument, the unused argument
// registers and the ip are not known, so a verdict that depends on them is
// not predicted).
Prediction predict_installs(const Case& c, const CompareContext& ctx, int jit) {
  Prediction p;
  const LoadEnv env = load_env(c, ctx, jit);
  const TaskEnv te = task_env(c);
  for (size_t i = 0; i < c.filters.size(); i++) {
    const CaseFilter& f = c.filters[i];
    InstallPred ip;
    if (p.uncertain_from >= 0) {
      ip.kind = InstallPred::Uncertain;
      p.installs.push_back(ip);
      continue;
    }
    if (!p.chain.empty()) {
      // The agent issues seccomp(SECCOMP_SET_MODE_FILTER, flags, &fprog, 0, 0, 0)
      // from its install stub (vm/guest/shm.h: ip 0x5ec000102 today); the fprog
      // address and the ip are varied, and a verdict that depends on them is
      // not predicted.
      static const uint64_t kFill[3] = {0x5ec000102ull, 0x00007ffc12345678ull, ~uint64_t{0}};
      std::optional<uint32_t> verdict;
      bool varies = false;
      Observation obs;
      for (uint64_t v : kFill) {
        uint64_t args[6] = {kSeccompSetModeFilter, f.flags, v, 0, 0, 0};
        const SeccompData sd = make_seccomp_data(Arch::X86_64, kNrSeccomp, args, v);
        const RunResult rr = seccomp_run_filters(p.chain, sd);
        if (verdict && *verdict != rr.ret) varies = true;
        verdict = rr.ret;
        obs = observe(p.chain, rr, sd, te);
      }
      if (varies) {
        ip.kind = InstallPred::Uncertain;
        ip.why = "the filters before it decide seccomp() on the address of its struct sock_fprog or its ip";
        p.uncertain_from = static_cast<int>(i);
        p.installs.push_back(ip);
        continue;
      }
      if (!obs.dispatched) {
        if (obs.returns && !obs.signal && !obs.notify) {
          ip.kind = InstallPred::Filtered;
          ip.ret = obs.retval == 0 ? 0 : -1;
          ip.err = obs.retval == 0 ? 0 : static_cast<int>(-obs.retval);
          ip.why = "the seccomp() call itself gets " + format_ret(obs.ret) + ", so the filter is not installed";
          p.installs.push_back(ip);
          continue;
        }
        ip.kind = InstallPred::Uncertain;
        ip.why = "the seccomp() call itself gets " + format_ret(obs.ret);
        p.uncertain_from = static_cast<int>(i);
        p.installs.push_back(ip);
        continue;
      }
    }
    ip.load = p.chain.install(f.prog, f.flags, env);
    ip.kind = ip.load.ok() ? InstallPred::Loaded : InstallPred::Rejected;
    p.installs.push_back(ip);
  }
  return p;
}

// --- text ---------------------------------------------------------------------------------------

// One bpf_asm line per instruction index (labels dropped), for traces.
std::vector<std::string> insn_lines(const Program& p) {
  DisasmOptions d;
  d.comments = false;
  const std::string text = disassemble(p, d);
  std::vector<std::string> out;
  std::istringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) {
    const size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos) continue;
    line = line.substr(b);
    if (line.back() == ':' && line[0] == 'L') continue;
    out.push_back(line);
  }
  return out;
}

std::string observation_str(const Observation& o) {
  std::string s = format_ret(o.ret) + " -> ";
  if (o.killed) {
    const char* sig = o.strict_kill ? "SIGKILL (strict mode)" : "SIGSYS";
    s += std::string(o.whole_process ? "task killed (whole process) by " : "thread killed by ") + sig;
  } else if (o.notify) {
    s += "USER_NOTIF notification to the listener";
  } else if (o.ptrace_event) {
    s += "PTRACE_EVENT_SECCOMP stop, message " + hex(o.ptrace_msg) + ", then the syscall runs";
  } else if (o.signal) {
    s += strf("SIGSYS handler: si_code %d si_errno %d si_syscall %d si_arch %s si_call_addr %s; rax %lld after",
              o.sig_code, o.sig_errno, o.sig_syscall, hex(o.sig_arch).c_str(), hex(o.sig_call_addr).c_str(),
              static_cast<long long>(o.retval));
  } else if (o.dispatched) {
    s += "the syscall runs";
  } else {
    s += strf("returns %lld without running", static_cast<long long>(o.retval));
  }
  if (o.audit_logged) s += "; AUDIT_SECCOMP record";
  return s;
}

}  // namespace

std::string describe_install(const KernelInstall& i) {
  std::string s = i.ret == -1 ? "-1 " + errno_str(i.err) : "ret " + std::to_string(i.ret);
  if (i.has_cache) {
    size_t n = 0, c = 0;
    for (bool b : i.cache_native) n += b;
    for (bool b : i.cache_compat) c += b;
    s += strf("; seccomp_cache x86_64 ALLOW=%zu/%zu ia32 ALLOW=%zu/%zu", n, i.cache_native.size(), c,
              i.cache_compat.size());
  }
  return s;
}

std::string describe_outcome(const KernelOutcome& o) {
  std::string s;
  switch (o.kind) {
    case OutcomeKind::Returned: s = strf("returned rax=%lld (%s)", static_cast<long long>(o.rax), hex(static_cast<uint64_t>(o.rax)).c_str()); break;
    case OutcomeKind::Trapped:
      s = strf("SIGSYS handler: signo %d si_code %d si_errno %d si_syscall %d si_arch %s si_call_addr %s; rax=%lld",
               o.signo, o.sig_code, o.sig_errno, o.sig_syscall, hex(o.sig_arch).c_str(), hex(o.sig_call_addr).c_str(),
               static_cast<long long>(o.rax));
      break;
    case OutcomeKind::Killed:
      s = strf("killed by signal %d (%s)", o.term_signal, o.whole_process ? "whole process" : "only its thread");
      break;
    case OutcomeKind::Blocked: s = "blocked (still in the syscall at the timeout)"; break;
    case OutcomeKind::NotRun: s = "not run"; break;
  }
  if (o.ptrace_event) s += "; PTRACE_EVENT_SECCOMP msg " + hex(o.ptrace_msg);
  if (o.notified) s += "; USER_NOTIF notification";
  if (o.dispatched >= 0) s += o.dispatched ? "; dispatched" : "; not dispatched";
  if (o.audit_seen) s += "; audit code " + hex(o.audit_code);
  s += "; ip " + hex(o.ip_used);
  return s;
}

std::string describe_case(const Case& c, const CompareContext& ctx) {
  std::string s;
  s += "case: " + c.name + "\n";
  s += "kernel: " + ctx.hello.kernel_release + " " + ctx.hello.kernel_version + "\n";
  s += "oracle profile: " + (ctx.profile ? ctx.profile->version : default_kernel_profile().version) +
       ", cache model: " + ctx.model + "\n";
  s += strf("task: no_new_privs=%d tracer=%d other_threads=%d sigsys_handler=%d\n", c.task.no_new_privs,
            c.task.tracer, c.task.other_threads, c.task.sigsys_handler);
  for (size_t i = 0; i < c.filters.size(); i++) {
    const CaseFilter& f = c.filters[i];
    std::string flags;
    for (const auto& n : filter_flag_names(f.flags)) flags += (flags.empty() ? "" : "|") + n;
    s += strf("--- filter %zu (%zu insns, flags %s)\n", i, f.prog.size(), flags.empty() ? "0" : flags.c_str());
    DisasmOptions d;
    if (!c.inputs.empty() && c.inputs[0].arch == Arch::I386) d.arch = Arch::I386;
    s += disassemble(f.prog, d);
    if (!s.empty() && s.back() != '\n') s += '\n';
  }
  for (size_t i = 0; i < c.inputs.size(); i++) {
    const CaseInput& in = c.inputs[i];
    s += strf("--- input %zu: %s args [", i, syscall_str(in.arch, in.nr).c_str());
    for (int a = 0; a < 6; a++) s += (a ? ", " : "") + hex(in.args[a]);
    s += "]";
    if (in.ip) s += " ip " + hex(*in.ip);
    s += "\n";
  }
  return s;
}

namespace {

// The oracle's trace of every filter for one input, newest filter first.
std::string oracle_trace(const FilterChain& chain, const SeccompData& sd) {
  if (chain.empty()) return "  (no filter installed: the syscall runs)\n";
  std::vector<Trace> traces;
  const RunResult r = seccomp_run_filters_traced(chain, sd, &traces);
  std::string s;
  for (size_t i = chain.size(); i-- > 0;) {
    const auto lines = insn_lines(chain.filters()[i].orig);
    s += strf("  filter %zu (installed #%zu):\n", i, i);
    for (const TraceStep& st : traces[i].steps) {
      const std::string text = st.pc < lines.size() ? lines[st.pc] : "?";
      s += strf("    %4u  %-28s A=0x%08x X=0x%08x%s%s\n", st.pc, text.c_str(), st.a, st.x,
                bpf::is_cond_jump(st.insn.code) ? (st.branch_taken ? " (taken)" : " (not taken)") : "",
                st.div_by_zero ? " (division by zero: returns 0)" : "");
    }
    s += "    => " + format_ret(traces[i].ret) + "\n";
  }
  s += strf("  chain result: %s from filter %d\n", format_ret(r.ret).c_str(), r.match);
  return s;
}

std::string slug(const std::string& s) {
  std::string out;
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c)) out += static_cast<char>(std::tolower(c));
    else if (!out.empty() && out.back() != '-') out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  if (out.size() > 60) out.resize(60);
  return out;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

struct Builder {
  const Case& c;
  const CompareContext& ctx;
  int jit;
  std::vector<Mismatch> out;
  std::string header;

  void add(std::string property, std::string kind, std::string what, std::string details, int filter, int input,
           const std::string& sig_extra = "") {
    Mismatch m;
    m.property = std::move(property);
    m.kind = std::move(kind);
    m.what = std::move(what);
    m.filter = filter;
    m.input = input;
    m.jit = jit;
    const std::string sig = m.property + "|" + m.kind + "|" + sig_extra + "|" + ctx.hello.kernel_release;
    m.signature = slug(m.property + "-" + m.kind) + "-" + strf("%08llx", static_cast<unsigned long long>(fnv1a(sig) & 0xffffffffull));
    m.report = "MISMATCH " + m.property + ": " + m.what + "\n" + "kind: " + m.kind + "\n" +
               "jit: " + jit_str(jit) + "\n" + header + details;
    out.push_back(std::move(m));
  }
};

// What the kernel's outcome shows, in the same words as the expectation.
std::string outcome_class(const KernelOutcome& o) {
  if (o.notified) return "USER_NOTIF";
  switch (o.kind) {
    case OutcomeKind::Killed: return o.whole_process ? "killed-process" : "killed-thread";
    case OutcomeKind::Trapped: return "SIGSYS-handler";
    case OutcomeKind::Blocked: return "blocked";
    case OutcomeKind::NotRun: return "not-run";
    case OutcomeKind::Returned: break;
  }
  if (o.ptrace_event) return "TRACE-event";
  if (o.dispatched == 1) return "dispatched";
  if (o.dispatched == 0) return "returned-undispatched";
  return "returned";
}

std::string expected_class(const Observation& o) {
  if (o.killed) return o.whole_process ? "killed-process" : "killed-thread";
  if (o.notify) return "USER_NOTIF";
  if (o.signal) return "SIGSYS-handler";
  if (o.ptrace_event) return "TRACE-event";
  if (o.dispatched) return "dispatched";
  return "returned-undispatched";
}

}  // namespace

CompareContext make_context(const Hello& h, const std::string& model) {
  CompareContext ctx;
  ctx.hello = h;
  ctx.profile = find_kernel_profile(h.kernel_release);
  ctx.model = model;
  return ctx;
}

std::vector<Mismatch> compare_case(const Case& c, const CaseResult& r, const CompareContext& ctx, int jit) {
  Builder b{c, ctx, jit, {}, ""};
  b.header = describe_case(c, ctx);
  const Prediction p = predict_installs(c, ctx, jit);
  const bool audit = ctx.hello.features & kFeatureAudit;

  // Installs.
  std::string install_text = "--- installs (oracle | kernel)\n";
  for (size_t i = 0; i < c.filters.size() && i < r.installs.size(); i++) {
    const InstallPred& ip = p.installs[i];
    const KernelInstall& ki = r.installs[i];
    std::string pred;
    switch (ip.kind) {
      case InstallPred::Loaded: pred = "loads"; break;
      case InstallPred::Rejected:
        pred = "-1 " + errno_str(ip.load.err) + " (" + rule_name(ip.load.rule) + ": " + ip.load.reason + ")";
        break;
      case InstallPred::Filtered:
        pred = ip.ret == -1 ? "-1 " + errno_str(ip.err) : "ret " + std::to_string(ip.ret);
        pred += " (" + ip.why + ")";
        break;
      case InstallPred::Uncertain: pred = "not predicted" + (ip.why.empty() ? "" : " (" + ip.why + ")"); break;
    }
    install_text += strf("  filter %zu: %s | %s\n", i, pred.c_str(), describe_install(ki).c_str());
  }
  bool chains_differ = false;
  for (size_t i = 0; i < c.filters.size() && i < r.installs.size(); i++) {
    const InstallPred& ip = p.installs[i];
    const KernelInstall& ki = r.installs[i];
    const bool kernel_ok = ki.ret >= 0 && !(ki.ret == 0 && ki.err != 0);
    std::string kind, what;
    switch (ip.kind) {
      case InstallPred::Loaded:
        if (!kernel_ok) {
          kind = "oracle loads, kernel " + errno_str(ki.err);
          what = strf("filter %zu: the oracle loads it, the kernel returns %s", i, describe_install(ki).c_str());
        }
        break;
      case InstallPred::Rejected:
        if (ki.ret != -1 || ki.err != ip.load.err) {
          kind = std::string("oracle ") + errno_str(ip.load.err) + " (" + rule_name(ip.load.rule) + "), kernel " +
                 (ki.ret == -1 ? errno_str(ki.err) : "loads");
          what = strf("filter %zu: the oracle rejects it with %s (%s), the kernel returns %s", i,
                      errno_str(ip.load.err).c_str(), ip.load.reason.c_str(), describe_install(ki).c_str());
        }
        break;
      case InstallPred::Filtered:
        if (ki.ret != ip.ret || (ip.ret == -1 && ki.err != ip.err)) {
          kind = "filtered seccomp() call";
          what = strf("filter %zu: %s, expected %s; the kernel returns %s", i, ip.why.c_str(),
                      ip.ret == -1 ? ("-1 " + errno_str(ip.err)).c_str() : "0", describe_install(ki).c_str());
        }
        break;
      case InstallPred::Uncertain: break;
    }
    if (!kind.empty()) {
      b.add("install-result", kind, what, install_text, static_cast<int>(i), -1);
      chains_differ = true;
    }
  }
  if (chains_differ) return b.out;  // the chains differ: everything after would too

  // Cache bitmaps after each install.
  if (ctx.compare_cache && (ctx.hello.features & kFeatureCacheDebug) && p.uncertain_from < 0) {
    const KernelProfile& kp = ctx.profile ? *ctx.profile : default_kernel_profile();
    auto model = make_cache_model(ctx.model, kp, ctx.model_options);
    if (model) {
      FilterChain mc;
      const LoadEnv env = load_env(c, ctx, jit);
      for (size_t i = 0; i < c.filters.size() && i < r.installs.size(); i++) {
        if (p.installs[i].kind != InstallPred::Loaded) continue;
        mc.install(c.filters[i].prog, c.filters[i].flags, env);
        const int merr = model->on_attach(mc);
        const KernelInstall& ki = r.installs[i];
        if (merr != 0) {
          b.add("cache-bitmap", "model " + ctx.model + " fails the install",
                strf("filter %zu: the %s model fails this install with %s; the kernel installs it", i,
                     ctx.model.c_str(), errno_str(merr).c_str()),
                install_text, static_cast<int>(i), -1, ctx.model);
          break;
        }
        if (!ki.has_cache) continue;
        for (CacheArch a : kCacheArches) {
          const Bitmap mb = model->bitmap(a);
          const std::vector<bool>& kb = a == CacheArch::Native ? ki.cache_native : ki.cache_compat;
          const Arch sarch = a == CacheArch::Native ? Arch::X86_64 : Arch::I386;
          if (mb.size() != kb.size()) {
            b.add("cache-bitmap", std::string(cache_arch_name(a)) + " bitmap size",
                  strf("filter %zu: %s bitmap has %zu entries in the kernel, %zu in the %s model (profile %s)", i,
                       cache_arch_name(a), kb.size(), mb.size(), ctx.model.c_str(), kp.version.c_str()),
                  install_text, static_cast<int>(i), -1, ctx.model);
            continue;
          }
          std::vector<int> k_allow, m_allow;  // allowed by one side only
          for (size_t nr = 0; nr < kb.size(); nr++) {
            if (kb[nr] && !mb[nr]) k_allow.push_back(static_cast<int>(nr));
            if (!kb[nr] && mb[nr]) m_allow.push_back(static_cast<int>(nr));
          }
          auto list = [&](const std::vector<int>& v) {
            std::string s;
            for (size_t k = 0; k < v.size() && k < 12; k++) {
              const auto name = syscall_name(sarch, v[k], kp.version);
              s += (k ? ", " : "") + std::to_string(v[k]) + (name ? " " + std::string(*name) : "");
            }
            if (v.size() > 12) s += strf(", ... (%zu in all)", v.size());
            return s;
          };
          if (!k_allow.empty())
            b.add("cache-bitmap", std::string(cache_arch_name(a)) + " kernel ALLOW, model FILTER",
                  strf("after filter %zu: %zu %s syscalls are ALLOW in /proc/PID/seccomp_cache but FILTER in the %s "
                       "model: %s", i, k_allow.size(), cache_arch_name(a), ctx.model.c_str(), list(k_allow).c_str()),
                  install_text, static_cast<int>(i), -1, ctx.model);
          if (!m_allow.empty())
            b.add("cache-bitmap", std::string(cache_arch_name(a)) + " kernel FILTER, model ALLOW",
                  strf("after filter %zu: %zu %s syscalls are FILTER in /proc/PID/seccomp_cache but ALLOW in the %s "
                       "model: %s", i, m_allow.size(), cache_arch_name(a), ctx.model.c_str(), list(m_allow).c_str()),
                  install_text, static_cast<int>(i), -1, ctx.model);
        }
      }
    }
  }
  if (p.uncertain_from >= 0) return b.out;

  // Inputs.
  const TaskEnv te = task_env(c);
  bool strict = false;  // an earlier input put the task in SECCOMP_MODE_STRICT
  for (size_t i = 0; i < c.inputs.size() && i < r.outcomes.size(); i++) {
    const CaseInput& in = c.inputs[i];
    const KernelOutcome& o = r.outcomes[i];
    if (o.kind == OutcomeKind::NotRun) continue;
    if (in.arch == Arch::I386 && !(ctx.hello.features & kFeatureIa32)) {
      // No IA32 emulation (CONFIG_IA32_EMULATION=n, ia32_emulation=false): int $0x80
      // raises #GP in entry_INT80 before any syscall work, so no filter runs.
      if (o.kind != OutcomeKind::Killed || o.term_signal != SIGSEGV || o.audit_seen)
        b.add("action", "int $0x80 without IA32 emulation",
              strf("input %zu (%s): the kernel has no IA32 emulation, so the task should die of SIGSEGV "
                   "before seccomp; the kernel: %s",
                   i, syscall_str(in.arch, in.nr).c_str(), describe_outcome(o).c_str()),
              install_text, -1, static_cast<int>(i), "i386");
      continue;
    }
    const uint64_t ip = o.ip_used ? o.ip_used : in.ip.value_or(0);
    const SeccompData sd = make_seccomp_data(in.arch, in.nr, in.args, ip);
    Observation obs;
    const bool was_strict = strict;
    if (strict) {
      obs = strict_mode_observe(in, te);
    } else if (p.chain.empty()) {
      obs.dispatched = true;
      obs.returns = true;
      strict = requests_strict_mode(in, ctx.hello.features & kFeatureX32);
    } else {
      obs = observe_input(p.chain, seccomp_run_filters(p.chain, sd), in, sd, te);
    }
    // The agent runs the inputs after a kill or a blocked syscall in a new
    // task (engine.cc run_pass), which starts outside strict mode.
    if (o.kind == OutcomeKind::Killed || o.kind == OutcomeKind::Blocked) strict = false;
    const std::string details = install_text + strf("--- input %zu: %s", i, syscall_str(in.arch, in.nr).c_str()) +
                                (in.ip && *in.ip != ip ? " (requested ip " + hex(*in.ip) + ", the kernel saw " + hex(ip) + ")" : "") +
                                "\noracle trace:\n" +
                                (was_strict ? std::string("  (strict mode, entered by an earlier input: __secure_computing_strict)\n")
                                     : oracle_trace(p.chain, sd)) +
                                "oracle: " + observation_str(obs) +
                                "\nkernel: " + describe_outcome(o) + "\n";
    const std::string arch = std::string(arch_name(in.arch));
    const int ii = static_cast<int>(i);
    const std::string exp = expected_class(obs), got = outcome_class(o);
    // action: how the syscall ended.
    bool action_ok = exp == got;
    if (!action_ok && exp == "dispatched" && (got == "returned" || got == "blocked")) action_ok = true;
    // A dispatched syscall can end the task itself (exit, exit_group, a signal it
    // sends or causes); seccomp's own kills are always SIGSYS.
    if (!action_ok && exp == "dispatched" && o.kind == OutcomeKind::Killed && o.term_signal != SIGSYS) action_ok = true;
    if (action_ok && obs.strict_kill && o.term_signal != SIGKILL) action_ok = false;  // do_exit(SIGKILL)
    if (!action_ok && exp == "returned-undispatched" && got == "returned") action_ok = true;
    if (!action_ok && exp == "TRACE-event" && got == "blocked" && o.ptrace_event) action_ok = true;
    if (!action_ok && exp == "USER_NOTIF" && o.notified) action_ok = true;
    if (!action_ok) {
      b.add("action", "expected " + exp + ", kernel " + got,
            strf("input %zu (%s): the oracle predicts %s, the kernel: %s", i, syscall_str(in.arch, in.nr).c_str(),
                 observation_str(obs).c_str(), describe_outcome(o).c_str()),
            details, -1, ii, arch);
      continue;  // the other properties would only repeat it
    }
    if (obs.killed && !obs.strict_kill && o.term_signal != SIGSYS)
      b.add("action", "killed by another signal",
            strf("input %zu: killed by signal %d, expected SIGSYS", i, o.term_signal), details, -1, ii, arch);
    // errno-data: the value an undispatched syscall returns, TRACE message, rax after TRAP.
    if (!obs.dispatched && obs.returns && !obs.signal && o.kind == OutcomeKind::Returned && o.rax != obs.retval) {
      const Action a = obs.action;
      std::string kind = a == Action::Errno ? (obs.data > MAX_ERRNO ? "ERRNO data above 4095" : obs.data == 0 ? "ERRNO(0)" : "ERRNO value")
                                            : std::string(action_name(a)) + " ENOSYS";
      b.add("errno-data", kind,
            strf("input %zu (%s): %s should return %lld, the kernel returned %lld", i,
                 syscall_str(in.arch, in.nr).c_str(), format_ret(obs.ret).c_str(), static_cast<long long>(obs.retval),
                 static_cast<long long>(o.rax)),
            details, -1, ii, arch);
    }
    if (obs.ptrace_event && o.ptrace_event && o.ptrace_msg != obs.ptrace_msg)
      b.add("errno-data", "TRACE event message",
            strf("input %zu: PTRACE_GETEVENTMSG %s, expected %s", i, hex(o.ptrace_msg).c_str(), hex(obs.ptrace_msg).c_str()),
            details, -1, ii, arch);
    // siginfo.
    if (obs.signal && !obs.killed && o.kind == OutcomeKind::Trapped) {
      std::string bad;
      if (o.signo != SIGSYS) bad += strf(" si_signo %d (expected %d)", o.signo, SIGSYS);
      if (o.sig_code != obs.sig_code) bad += strf(" si_code %d (expected %d)", o.sig_code, obs.sig_code);
      if (o.sig_errno != obs.sig_errno) bad += strf(" si_errno %d (expected %d)", o.sig_errno, obs.sig_errno);
      if (o.sig_syscall != obs.sig_syscall) bad += strf(" si_syscall %d (expected %d)", o.sig_syscall, obs.sig_syscall);
      if (o.sig_arch != obs.sig_arch) bad += " si_arch " + hex(o.sig_arch) + " (expected " + hex(obs.sig_arch) + ")";
      if (o.ip_used && o.sig_call_addr != obs.sig_call_addr)
        bad += " si_call_addr " + hex(o.sig_call_addr) + " (expected " + hex(obs.sig_call_addr) + ")";
      if (!bad.empty())
        b.add("siginfo", "SIGSYS siginfo fields", strf("input %zu (%s):%s", i, syscall_str(in.arch, in.nr).c_str(), bad.c_str()),
              details, -1, ii, arch);
      if (o.rax != obs.retval)
        b.add("errno-data", "rax after SIGSYS",
              strf("input %zu: rax in the SIGSYS handler is %lld, expected %lld (the rolled-back syscall number)", i,
                   static_cast<long long>(o.rax), static_cast<long long>(obs.retval)),
              details, -1, ii, arch);
    }
    // dispatch witness.
    if (o.dispatched >= 0 && !obs.killed && !obs.notify && (o.dispatched == 1) != obs.dispatched)
      b.add("dispatch", obs.dispatched ? "expected dispatch, none" : "unexpected dispatch",
            strf("input %zu (%s): the oracle says the syscall %s, the kernel's sys_enter says it %s", i,
                 syscall_str(in.arch, in.nr).c_str(), obs.dispatched ? "runs" : "does not run",
                 o.dispatched ? "ran" : "did not run"),
            details, -1, ii, arch);
    // audit.
    if (audit) {
      const uint32_t code = obs.ret & SECCOMP_RET_ACTION_FULL;
      if (o.audit_seen != obs.audit_logged)
        b.add("audit", obs.audit_logged ? "expected a record, none" : "unexpected record",
              strf("input %zu (%s): %s", i, syscall_str(in.arch, in.nr).c_str(),
                   obs.audit_logged ? ("no AUDIT_SECCOMP record, expected code " + hex(code)).c_str()
                                    : ("AUDIT_SECCOMP record with code " + hex(o.audit_code) + ", expected none").c_str()),
              details, -1, ii, std::string(action_name(obs.action)));
      else if (o.audit_seen && o.audit_code != code)
        b.add("audit", "record code",
              strf("input %zu: audit code %s, expected %s", i, hex(o.audit_code).c_str(), hex(code).c_str()), details,
              -1, ii, std::string(action_name(obs.action)));
    }
  }
  return b.out;
}

std::vector<Mismatch> compare_jit(const Case& c, const CaseResult& on, const CaseResult& off,
                                  const CompareContext& ctx) {
  Builder b{c, ctx, -1, {}, ""};
  b.header = describe_case(c, ctx);
  for (size_t i = 0; i < on.installs.size() && i < off.installs.size(); i++) {
    const KernelInstall &x = on.installs[i], &y = off.installs[i];
    const bool same = (x.ret >= 0) == (y.ret >= 0) && x.err == y.err && x.has_cache == y.has_cache &&
                      x.cache_native == y.cache_native && x.cache_compat == y.cache_compat;
    if (!same)
      b.add("jit-self-diff", "install differs",
            strf("filter %zu: JIT on: %s; JIT off: %s", i, describe_install(x).c_str(), describe_install(y).c_str()),
            "", static_cast<int>(i), -1);
  }
  const Prediction p = predict_installs(c, ctx, 1);
  const TaskEnv te = task_env(c);
  for (size_t i = 0; i < on.outcomes.size() && i < off.outcomes.size() && i < c.inputs.size(); i++) {
    const KernelOutcome &x = on.outcomes[i], &y = off.outcomes[i];
    if (x.kind == OutcomeKind::NotRun || y.kind == OutcomeKind::NotRun) continue;
    // rax of a syscall that ran is its real result (a pid...): not compared.
    bool dispatched = x.dispatched == 1 || y.dispatched == 1;
    if (x.dispatched < 0 && !p.chain.empty() && p.uncertain_from < 0) {
      const CaseInput& in = c.inputs[i];
      const SeccompData sd = make_seccomp_data(in.arch, in.nr, in.args, x.ip_used);
      dispatched = observe(p.chain, seccomp_run_filters(p.chain, sd), sd, te).dispatched;
    } else if (x.dispatched < 0 && p.chain.empty()) {
      dispatched = true;
    }
    std::string diff;
    if (x.kind != y.kind) diff += " kind";
    if (!dispatched && x.rax != y.rax) diff += " rax";
    if (x.signo != y.signo || x.sig_code != y.sig_code || x.sig_errno != y.sig_errno || x.sig_syscall != y.sig_syscall ||
        x.sig_arch != y.sig_arch || x.sig_call_addr != y.sig_call_addr)
      diff += " siginfo";
    if (x.term_signal != y.term_signal || x.whole_process != y.whole_process) diff += " kill";
    if (x.ptrace_event != y.ptrace_event || x.ptrace_msg != y.ptrace_msg) diff += " ptrace";
    if (x.notified != y.notified) diff += " notify";
    if (x.dispatched != y.dispatched) diff += " dispatch";
    if (x.audit_seen != y.audit_seen || x.audit_code != y.audit_code) diff += " audit";
    if (!diff.empty())
      b.add("jit-self-diff", "outcome differs:" + diff,
            strf("input %zu (%s): JIT on: %s; JIT off: %s", i, syscall_str(c.inputs[i].arch, c.inputs[i].nr).c_str(),
                 describe_outcome(x).c_str(), describe_outcome(y).c_str()),
            "", -1, static_cast<int>(i));
  }
  return b.out;
}

Mismatch crash_mismatch(const Case& c, const CaseRun& run, const CompareContext& ctx) {
  Builder b{c, ctx, run.jit, {}, describe_case(c, ctx)};
  std::string first_fault = vm_failure_name(run.failure);
  if (auto f = find_kernel_fault(run.kernel_log)) first_fault += ": " + *f;
  std::string details = "--- failure: " + std::string(vm_failure_name(run.failure)) + ": " + run.failure_message + "\n";
  if (!run.agent_logs.empty()) {
    details += "--- agent log (last messages)\n";
    const size_t from = run.agent_logs.size() > 20 ? run.agent_logs.size() - 20 : 0;
    for (size_t i = from; i < run.agent_logs.size(); i++) details += run.agent_logs[i] + "\n";
  }
  details += "--- kernel log (tail)\n" + run.kernel_log + "\n";
  // The signature keeps the first fault line without numbers (addresses, pids).
  std::string sig_line;
  if (auto f = find_kernel_fault(run.kernel_log)) {
    for (char ch : *f)
      if (!std::isdigit(static_cast<unsigned char>(ch))) sig_line += ch;
  }
  b.add("vm-crash", std::string(vm_failure_name(run.failure)),
        "the case kills the " + std::string(run.failure == VmFailure::Exited ? "agent" : "VM") + " (" + first_fault +
            "), also when run alone",
        details, -1, -1, sig_line);
  return b.out.front();
}

void save_finding(const std::string& dir, const Case& c, Mismatch& m) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string base = (fs::path(dir) / m.signature).string();
  m.finding = base + ".json";
  if (fs::exists(m.finding, ec)) {
    m.duplicate = true;
    return;
  }
  Case saved = c;
  if (saved.name.empty()) saved.name = m.signature;
  // Write the report first: the case file's existence marks the finding as saved.
  write_file(base + ".txt", m.report);
  const std::string tmp = m.finding + ".tmp";
  save_case_file(tmp, saved);
  fs::rename(tmp, m.finding, ec);
  if (ec) throw InputError(m.finding + ": " + ec.message());
}

// --- DiffRunner ---------------------------------------------------------------------------------

const Hello& DiffRunner::start() {
  if (!started_) {
    const Hello& h = backend_.start();
    ctx_ = make_context(h, opt_.model);
    ctx_.compare_cache = opt_.compare_cache;
    ctx_.model_options = opt_.model_options;
    started_ = true;
  }
  return ctx_.hello;
}

DiffSummary DiffRunner::run(const std::vector<Case>& cases, const std::function<void(const Mismatch&)>& on_mismatch) {
  const auto t0 = std::chrono::steady_clock::now();
  start();
  const KernelProfile& kp = ctx_.profile ? *ctx_.profile : default_kernel_profile();
  if (!make_cache_model(ctx_.model, kp, ctx_.model_options)) {
    std::string known;
    for (const auto& n : cache_model_names()) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown cache model '" + ctx_.model + "' (" + known + ")");
  }
  DiffSummary s;
  s.backend = backend_.name();
  s.kernel_release = ctx_.hello.kernel_release;
  s.kernel_version = ctx_.hello.kernel_version;
  s.features = ctx_.hello.features;
  s.profile = kp.version;
  s.model = ctx_.model;
  s.jit = opt_.jit;
  s.cache_compared = ctx_.compare_cache && (ctx_.hello.features & kFeatureCacheDebug);
  if (!ctx_.profile)
    s.notes.push_back("no oracle profile for kernel " + ctx_.hello.kernel_release + "; using " + kp.version);
  s.cases = cases.size();
  for (const Case& c : cases) s.inputs += c.inputs.size();

  std::vector<int> jits;
  switch (opt_.jit) {
    case JitMode::On: jits = {1}; break;
    case JitMode::Off: jits = {0}; break;
    case JitMode::Both: jits = {1, 0}; break;
    case JitMode::Leave: jits = {-1}; break;
  }
  std::vector<Job> jobs;
  for (size_t i = 0; i < cases.size(); i++)
    for (size_t k = 0; k < jits.size(); k++) jobs.push_back(Job{&cases[i], jits[k], i * jits.size() + k});

  std::vector<std::vector<std::optional<CaseRun>>> got(cases.size(), std::vector<std::optional<CaseRun>>(jits.size()));
  std::vector<std::vector<Mismatch>> per_case(cases.size());
  auto emit = [&](size_t ci, Mismatch&& m) {
    m.case_index = ci;
    if (!opt_.findings_dir.empty()) {
      save_finding(opt_.findings_dir, cases[ci], m);
      (m.duplicate ? s.findings_duplicate : s.findings_new)++;
    }
    s.by_property[m.property]++;
    s.mismatches++;
    if (on_mismatch) on_mismatch(m);
    per_case[ci].push_back(std::move(m));
  };
  backend_.run(jobs, [&](CaseRun&& run) {
    const size_t ci = run.id / jits.size(), k = run.id % jits.size();
    const Case& c = cases[ci];
    if (opt_.on_result) opt_.on_result(c, run);
    if (run.crashed) {
      s.crashed++;
      emit(ci, crash_mismatch(c, run, ctx_));
    } else {
      s.executions++;
      for (Mismatch& m : compare_case(c, run.result, ctx_, run.jit)) emit(ci, std::move(m));
      if (!run.result.note.empty()) s.notes.push_back(c.name + " (jit " + jit_str(run.jit) + "): agent: " + run.result.note);
    }
    got[ci][k] = std::move(run);
    if (jits.size() == 2 && got[ci][0] && got[ci][1] && !got[ci][0]->crashed && !got[ci][1]->crashed)
      for (Mismatch& m : compare_jit(c, got[ci][0]->result, got[ci][1]->result, ctx_)) emit(ci, std::move(m));
  });
  for (auto& v : per_case)
    for (auto& m : v) s.list.push_back(std::move(m));
  s.pool = backend_.stats();
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.cases_per_second = s.seconds > 0 ? static_cast<double>(s.executions) / s.seconds : 0;
  return s;
}

}  // namespace secdiff::vm
