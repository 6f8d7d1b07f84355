// secdiff check: would the kernel load this chain?
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "oracle/errno_names.h"
#include "oracle/seccomp_abi.h"

namespace secdiff::cli {

Runner add_check(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "check",
      "Validate FILTER... as one chain (first installed first) exactly as the kernel's\n"
      "seccomp_set_mode_filter would. Exit 0 if every filter loads, 1 if one is rejected\n"
      "(printing the errno, the filter and instruction index and the rule), 2 on bad input.");
  struct Opts {
    std::vector<std::string> files;
    bool json = false, no_nnp = false, cap_sys_admin = false;
    std::string flags = "0", format;
    int jit_harden = 0;
    bool jit = true;
  };
  auto o = std::make_shared<Opts>();
  sub->add_option("FILTER", o->files, "filter files (format detected)")->required();
  sub->add_flag("--json", o->json,
                "print {\"ok\":bool,\"errno\":\"EINVAL\"|null,\"filter\":i,\"insn\":j,\"reason\":\"...\"}");
  sub->add_option("--flags", o->flags, "SECCOMP_FILTER_FLAG_* bits for every filter")
      ->capture_default_str();
  sub->add_flag("--no-nnp", o->no_nnp, "the task has not set no_new_privs");
  sub->add_flag("--cap-sys-admin", o->cap_sys_admin, "the task has CAP_SYS_ADMIN");
  sub->add_option("--jit-harden", o->jit_harden, "net.core.bpf_jit_harden (0, 1, 2)")
      ->check(CLI::Range(0, 2))
      ->capture_default_str();
  sub->add_option("--format", o->format, "input format (default: detect)");
  return [o] {
    LoadEnv env;
    env.no_new_privs = !o->no_nnp;
    env.cap_sys_admin = o->cap_sys_admin;
    env.jit_blinding = jit_blinding_enabled(o->jit, o->jit_harden, o->cap_sys_admin);
    const uint32_t flags = static_cast<uint32_t>(parse_u64(o->flags, "--flags"));
    std::optional<Format> fmt;
    if (!o->format.empty()) {
      fmt = parse_format_name(o->format);
      if (!fmt) throw InputError("unknown format '" + o->format + "'");
    }
    const ChainLoad cl = load_chain(o->files, flags, env, fmt);
    const int fi = cl.first_failure;
    if (o->json) {
      nlohmann::json j;
      j["ok"] = fi < 0;
      if (fi < 0) {
        j["errno"] = nullptr;
        j["filter"] = nullptr;
        j["insn"] = nullptr;
        j["reason"] = nullptr;
      } else {
        const LoadResult& r = cl.results[fi];
        j["errno"] = std::string(errno_name(r.err).value_or("?"));
        j["filter"] = fi;
        j["insn"] = r.insn >= 0 ? nlohmann::json(r.insn) : nlohmann::json(nullptr);
        j["reason"] = r.reason;
        j["rule"] = rule_name(r.rule);
        j["function"] = rule_kernel_function(r.rule);
        j["file"] = cl.programs[fi].path;
      }
      nlohmann::json per = nlohmann::json::array();
      for (size_t i = 0; i < cl.results.size(); i++) {
        nlohmann::json f;
        f["file"] = cl.programs[i].path;
        f["insns"] = cl.programs[i].prog.size();
        f["ok"] = cl.results[i].ok();
        if (!cl.results[i].ok()) f["errno"] = std::string(errno_name(cl.results[i].err).value_or("?"));
        per.push_back(f);
      }
      j["filters"] = per;
      std::printf("%s\n", j.dump().c_str());
    } else if (fi < 0) {
      unsigned total = 0;
      for (const auto& f : cl.chain.filters()) total += f.ebpf_len + 4;
      std::printf("ok: %zu filter%s load (%u of %u eBPF instructions per path)\n",
                  cl.chain.size(), cl.chain.size() == 1 ? "" : "s",
                  total - 4, MAX_INSNS_PER_PATH);
    } else {
      for (size_t i = 0; i < cl.results.size(); i++) {
        const LoadResult& r = cl.results[i];
        if (r.ok()) continue;
        std::string where = "filter " + std::to_string(i) + " (" + cl.programs[i].path + ")";
        if (r.insn >= 0) where += " insn " + std::to_string(r.insn);
        std::printf("%s: %s: %s: %s [%s]\n", std::string(errno_name(r.err).value_or("?")).c_str(),
                    where.c_str(), rule_kernel_function(r.rule), r.reason.c_str(), rule_name(r.rule));
      }
    }
    return fi < 0 ? kExitOk : kExitNegative;
  };
}

}  // namespace secdiff::cli
