// secdiff emu: evaluate a chain on one syscall.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli.h"
#include "oracle/cache/cache_model.h"
#include "oracle/chain.h"
#include "oracle/errno_names.h"
#include "oracle/formats/formats.h"
#include "oracle/seccomp_data.h"

namespace secdiff::cli {

namespace {

std::string hex(uint64_t v) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

std::string describe_outcome(const Observation& o) {
  std::ostringstream s;
  if (o.killed) {
    s << (o.whole_process ? "the process is killed by SIGSYS" : "the thread is killed by SIGSYS");
  } else if (o.notify) {
    s << "the task waits for the user-notification listener";
  } else if (o.action == Action::Trap) {
    s << "SIGSYS (si_code SYS_SECCOMP, si_errno " << o.sig_errno << ", si_syscall " << o.sig_syscall
      << ", si_arch " << hex(o.sig_arch) << "); the syscall then returns " << o.retval;
  } else if (o.dispatched) {
    s << "the syscall runs";
    if (o.ptrace_event) s << " after a PTRACE_EVENT_SECCOMP stop (message " << o.ptrace_msg << ")";
  } else if (o.retval < 0) {
    const auto name = errno_name(static_cast<int>(-o.retval));
    s << "the syscall returns -1, errno " << -o.retval << " (" << name.value_or("?") << ")";
  } else {
    s << "the syscall returns " << o.retval << " without running";
  }
  if (o.audit_logged) s << "; an AUDIT_SECCOMP record is logged";
  return s.str();
}

// The disassembly of each instruction, by pc (labels are the program's own).
std::vector<std::string> insn_lines(const Program& p, const DisasmOptions& opt) {
  std::vector<std::string> lines(p.size());
  std::istringstream in(disassemble(p, opt));
  for (std::string l; std::getline(in, l);) {
    unsigned pc;
    int used = 0;
    if (std::sscanf(l.c_str(), "/* %u */ %n", &pc, &used) == 1 && used > 0 && pc < p.size())
      lines[pc] = l.substr(static_cast<size_t>(used));
  }
  return lines;
}

}  // namespace

Runner add_emu(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "emu",
      "Evaluate FILTER... (one chain, first installed first) on one syscall, as the kernel\n"
      "would: every filter runs newest to oldest, the lowest signed action wins.");
  struct Opts {
    std::vector<std::string> files;
    std::string arch = "x86_64", nr, args, ip = "0", kernel, model, format;
    bool trace = false, json = false, tracer = false;
  };
  auto o = std::make_shared<Opts>();
  sub->add_option("FILTER", o->files, "filter files")->required();
  sub->add_option("--arch", o->arch, "x86_64 (syscall), i386 (int $0x80) or x32")
      ->capture_default_str();
  sub->add_option("--nr", o->nr, "syscall number (decimal or 0x hex) or name")->required();
  sub->add_option("--args", o->args, "up to six arguments a0,a1,...,a5 (decimal or 0x hex)");
  sub->add_option("--ip", o->ip, "instruction pointer")->capture_default_str();
  sub->add_flag("--trace", o->trace, "print every executed instruction");
  sub->add_flag("--json", o->json,
                "print {\"action\":\"ERRNO\",\"data\":1,\"ret\":327681,...}");
  sub->add_option("--kernel", o->kernel, "kernel profile for names and the cache (6.1, 6.12, 6.18)");
  sub->add_option("--model", o->model, "consult a cache model first (linux, rfc-v1, exact)");
  sub->add_flag("--tracer", o->tracer, "a ptrace tracer with PTRACE_O_TRACESECCOMP is attached");
  sub->add_option("--format", o->format, "input format (default: detect)");
  return [o] {
    const KernelProfile& kp = kernel_or_throw(o->kernel);
    const auto arch = parse_arch(o->arch);
    if (!arch) throw InputError("unknown arch '" + o->arch + "' (x86_64, i386, x32)");
    int64_t nr;
    if (!o->nr.empty() && (std::isdigit(static_cast<unsigned char>(o->nr[0])) || o->nr[0] == '-')) {
      nr = parse_i64(o->nr, "--nr");
    } else {
      auto n = syscall_number(*arch, o->nr, kp.version);
      if (!n) throw InputError("unknown syscall '" + o->nr + "' for " + std::string(arch_name(*arch)));
      nr = *n;
    }
    uint64_t args[6] = {};
    if (!o->args.empty()) {
      std::stringstream ss(o->args);
      std::string item;
      int i = 0;
      while (std::getline(ss, item, ',')) {
        if (i == 6) throw InputError("--args takes at most six values");
        args[i++] = parse_u64(item, "argument");
      }
    }
    const SeccompData sd = make_seccomp_data(*arch, nr, args, parse_u64(o->ip, "--ip"));
    std::optional<Format> fmt;
    if (!o->format.empty()) fmt = parse_format_name(o->format);
    const ChainLoad cl = load_chain(o->files, 0, LoadEnv{}, fmt);
    if (cl.first_failure >= 0) {
      const LoadResult& r = cl.results[cl.first_failure];
      throw InputError(cl.programs[cl.first_failure].path + ": the kernel would reject this filter: " +
                       std::string(errno_name(r.err).value_or("?")) +
                       (r.insn >= 0 ? " at insn " + std::to_string(r.insn) : std::string()) + ": " +
                       r.reason);
    }
    std::vector<Trace> traces;
    RunResult rr = seccomp_run_filters_traced(cl.chain, sd, &traces);
    bool cache_hit = false;
    if (!o->model.empty()) {
      auto m = make_cache_model(o->model, kp);
      if (!m) throw InputError("unknown cache model '" + o->model + "'");
      if (auto err = replay_attach(*m, cl.chain))
        throw InputError("cache model " + o->model + " fails the install of filter " +
                         std::to_string(err->filter) + ": " +
                         std::string(errno_name(err->err).value_or("?")));
      if (m->lookup(sd)) {
        cache_hit = true;
        rr = RunResult{};
        rr.cache_hit = true;
      }
    }
    TaskEnv env;
    env.tracer = o->tracer;
    const Observation ob = observe(cl.chain, rr, sd, env);
    const auto name = syscall_name(*arch, sd.nr, kp.version);
    if (o->json) {
      nlohmann::json j;
      j["action"] = action_name(ob.action);
      j["data"] = ob.data;
      j["ret"] = rr.ret;
      j["known_action"] = is_known_action(rr.ret);
      j["match"] = rr.match >= 0 ? nlohmann::json(rr.match) : nlohmann::json(nullptr);
      j["cache_hit"] = cache_hit;
      j["arch"] = std::string(arch_name(*arch));
      j["audit_arch"] = sd.arch;
      j["nr"] = sd.nr;
      j["syscall"] = name ? nlohmann::json(std::string(*name)) : nlohmann::json(nullptr);
      j["dispatched"] = ob.dispatched;
      j["returns"] = ob.returns;
      if (ob.returns && !ob.dispatched) j["retval"] = ob.retval;
      j["killed"] = ob.killed;
      if (ob.killed) j["whole_process"] = ob.whole_process;
      if (ob.signal) {
        j["signal"] = {{"signo", ob.signo}, {"si_code", ob.sig_code}, {"si_errno", ob.sig_errno},
                       {"si_syscall", ob.sig_syscall}, {"si_arch", ob.sig_arch},
                       {"si_call_addr", ob.sig_call_addr}};
      }
      if (ob.ptrace_event) j["ptrace_msg"] = ob.ptrace_msg;
      j["notify"] = ob.notify;
      j["audit_logged"] = ob.audit_logged;
      if (o->trace && !cache_hit) {
        nlohmann::json tr = nlohmann::json::array();
        for (size_t f = 0; f < traces.size(); f++) {
          nlohmann::json steps = nlohmann::json::array();
          for (const TraceStep& s : traces[f].steps)
            steps.push_back({{"pc", s.pc}, {"code", s.insn.code}, {"jt", s.insn.jt},
                             {"jf", s.insn.jf}, {"k", s.insn.k}, {"a", s.a}, {"x", s.x},
                             {"taken", s.branch_taken}, {"div_by_zero", s.div_by_zero}});
          tr.push_back({{"filter", f}, {"ret", traces[f].ret}, {"steps", steps}});
        }
        j["trace"] = tr;
      }
      std::printf("%s\n", j.dump().c_str());
      return kExitOk;
    }
    std::printf("syscall: %s nr %d (%s) arch %s args [", std::string(arch_name(*arch)).c_str(),
                sd.nr, name ? std::string(*name).c_str() : "?", hex(sd.arch).c_str());
    for (int i = 0; i < 6; i++) std::printf("%s%s", i ? ", " : "", hex(sd.args[i]).c_str());
    std::printf("] ip %s\n", hex(sd.instruction_pointer).c_str());
    if (cache_hit) {
      std::printf("cache (%s): hit, filters not run\n", o->model.c_str());
    } else {
      for (size_t f = traces.size(); f-- > 0;) {
        std::printf("filter %zu (%s): %s%s\n", f, cl.programs[f].path.c_str(),
                    format_ret(traces[f].ret).c_str(),
                    static_cast<int>(f) == rr.match ? "   <- decides" : "");
        if (!o->trace) continue;
        DisasmOptions dopt;
        dopt.arch = *arch;
        dopt.kernel = kp.version;
        const auto lines = insn_lines(cl.chain.filters()[f].orig, dopt);
        for (const TraceStep& s : traces[f].steps) {
          std::string note;
          if (s.div_by_zero) {
            note = "  division by zero: the filter returns 0";
          } else if (bpf::is_cond_jump(s.insn.code)) {
            note = "  -> " + std::to_string(s.pc + 1 + (s.branch_taken ? s.insn.jt : s.insn.jf));
          }
          std::printf("  %4u: %-60s A=%-10s X=%-10s%s\n", s.pc, lines[s.pc].c_str(),
                      hex(s.a).c_str(), hex(s.x).c_str(), note.c_str());
        }
      }
    }
    std::printf("result: %s (ret 0x%08x): %s\n", format_ret(rr.ret).c_str(), rr.ret,
                describe_outcome(ob).c_str());
    return kExitOk;
  };
}

}  // namespace secdiff::cli
