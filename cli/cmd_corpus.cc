// secdiff corpus: seed cases from real profiles, and how the action cache does on them.
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "cli/cli.h"
#include "corpus/src/corpus_report.h"
#include "corpus/src/corpus_seeds.h"
#include "corpus/src/seccomp_compile.h"
#include "host/case_file.h"
#include "oracle/case_codec.h"
#include "oracle/errno_names.h"
#include "oracle/seccomp_abi.h"

namespace secdiff::cli {

namespace {

namespace fs = std::filesystem;

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> v;
  std::stringstream ss(s);
  for (std::string a; std::getline(ss, a, ',');)
    if (!a.empty()) v.push_back(a);
  return v;
}

std::string sanitize(const std::string& s) {
  std::string out;
  for (char c : s) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == '+';
    out += ok ? c : '_';
  }
  while (!out.empty() && (out[0] == '.' || out[0] == '_')) out.erase(0, 1);
  return out.empty() ? "profile" : out;
}

// "docker/debian-bookworm/default.json" -> "debian-bookworm-default";
// an arch directory names its parent instead: "crosvm/x86_64/net.policy" -> "crosvm-net".
std::string profile_id(const std::string& path) {
  const fs::path p(path);
  std::string parent = p.parent_path().filename().string();
  for (const char* arch : {"x86_64", "aarch64", "arm", "riscv64"})
    if (parent == arch && p.parent_path().has_parent_path())
      parent = p.parent_path().parent_path().filename().string();
  std::string stem = p.filename().string();
  for (const char* ext : {".json", ".conf", ".seccomp", ".tsv", ".bpf", ".asm", ".profile", ".service", ".policy",
                          ".TXT", ".txt"}) {
    const std::string e = ext;
    if (stem.size() > e.size() && stem.compare(stem.size() - e.size(), e.size(), e) == 0) {
      stem.resize(stem.size() - e.size());
      break;
    }
  }
  return sanitize(parent.empty() || parent == "." ? stem : parent + "-" + stem);
}

// The filter's group in a chain: the unit or firejail profile it belongs to.
std::string group_of(const corpus::ImportedProfile& ip, const corpus::ImportedFilter& f) {
  if (ip.format == corpus::ProfileFormat::SystemdTsv || ip.format == corpus::ProfileFormat::SystemdUnit ||
      ip.format == corpus::ProfileFormat::FirejailTsv ||
      ip.format == corpus::ProfileFormat::FirejailProfile) {
    for (const char* key : {".service.", ".conf.", ".profile.", ".inc."}) {
      const auto at = f.name.find(key);
      if (at != std::string::npos) return f.name.substr(0, at + std::string(key).size() - 1);
    }
  }
  return "";
}

// Arches of `rs` that were asked for, in the rule set's order.
std::vector<std::string> usable_arches(const corpus::RuleSet& rs, const std::vector<std::string>& want) {
  std::vector<std::string> v;
  for (const auto& a : rs.arches)
    if (std::find(want.begin(), want.end(), a) != want.end()) v.push_back(a);
  return v;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// The profiles gen-corpus uses, relative to the shared profiles directory.
struct DefaultProfile {
  const char* path;
  const char* select;  // comma-separated units / profiles, or ""
};
constexpr DefaultProfile kDefaultProfiles[] = {
    {"docker/default.json", ""},
    {"docker/debian-bookworm/default.json", ""},
    {"podman/seccomp.json", ""},
    {"podman/debian-bookworm/seccomp.json", ""},
    {"oci-runc/seccomp_syscall_test1.json", ""},
    {"oci-runc/seccomp_syscall_test2.json", ""},
    {"flatpak/flatpak-docker-seccomp.json", ""},
    {"lxc/common.seccomp", ""},
    {"lxc/seccomp-v1.conf", ""},
    {"lxc/seccomp-v2.conf", ""},
    {"lxc/seccomp-v2-denylist.conf", ""},
    {"lxd/lxd-5.0.2-all-intercepts.seccomp", ""},
    {"systemd/unit-directives-bookworm.tsv",
     "systemd-journald.service,systemd-resolved.service,systemd-timesyncd.service,chrony.service,"
     "nm-priv-helper.service,redis-server.service"},
    {"firejail/profile-seccomp-lines.tsv",
     "default.profile,firefox-common.profile,ssh.profile,0ad.profile,dnscrypt-proxy.profile,"
     "steam.profile,chafa.profile"},
    {"firejail/bpf/seccomp", ""},
    {"firejail/bpf/seccomp.debug", ""},
    {"firejail/bpf/seccomp.32", ""},
    {"firejail/bpf/seccomp.mdwx", ""},
    {"firejail/bpf/seccomp.mdwx.32", ""},
    {"firejail/bpf/seccomp.block_secondary", ""},
    {"bubblewrap/flatpak.bpf", ""},
    {"flatpak/blocklist.json", ""},
    {"qemu/sandbox-denylist.json", ""},
    {"firecracker/x86_64-unknown-linux-musl.json", ""},
    {"firecracker/aarch64-unknown-linux-musl.json", ""},
    {"firecracker/unimplemented.json", ""},
    {"android-bionic/SYSCALLS.TXT", ""},
    {"crosvm/x86_64/block_device.policy", ""},
    {"crosvm/x86_64/fs_device.policy", ""},
    {"crosvm/x86_64/gpu_device.policy", ""},
    {"crosvm/x86_64/jail_warden.policy", ""},
    {"crosvm/x86_64/net_device.policy", ""},
    {"crosvm/x86_64/vhost_vsock_device_vhost_user.policy", ""},
    {"crosvm/x86_64/video_device.policy", ""},
    {"crosvm/x86_64/xhci_device.policy", ""},
};

std::string profiles_dir() {
  if (const char* e = std::getenv("SECDIFF_PROFILES"); e && *e) return e;
  for (const char* c : {"../shared/profiles", "../../shared/profiles", "/work/shared/profiles"})
    if (fs::is_directory(c)) return c;
  throw InputError("no profiles given and ../shared/profiles not found (set SECDIFF_PROFILES)");
}

struct ImportOpts {
  std::vector<std::string> files;
  std::string arch = "x86_64,x86,x32", out = "corpus-seeds", kernel, select, systemd_groups,
              firejail_groups, min_kernel = "6.1", minijail_constants, minijail_default, firecracker_target;
  std::vector<int> optimize;
  bool json = false, notes = false;
  int max_cases = 0;
};

struct ProfileStats {
  size_t rules = 0, filters = 0, cases = 0;
  std::set<std::string> unknown, absent;
};

// compile_seccomp_policy's --default-action words.
uint32_t minijail_action(const std::string& s) {
  if (s == "kill" || s == "kill-thread") return SECCOMP_RET_KILL_THREAD;
  if (s == "kill-process") return SECCOMP_RET_KILL_PROCESS;
  if (s == "trap") return SECCOMP_RET_TRAP;
  if (s == "user-notify") return SECCOMP_RET_USER_NOTIF;
  if (s == "log") return SECCOMP_RET_LOG;
  throw InputError("unknown minijail default action '" + s + "' (kill, kill-process, kill-thread, trap, "
                   "user-notify, log)");
}

int run_import(const ImportOpts& o) {
  const KernelProfile& kp = kernel_or_throw(o.kernel);
  const std::vector<std::string> arches = split_list(o.arch);
  for (const auto& a : arches)
    if (!corpus::arch_from_libseccomp(a)) throw InputError("unknown arch '" + a + "' (x86_64, x86, x32)");
  std::vector<int> levels = o.optimize.empty() ? std::vector<int>{1, 2} : o.optimize;
  corpus::ProfileImportOptions io;
  io.arches = arches;
  io.docker_kernel = o.min_kernel;
  io.systemd_groups = o.systemd_groups;
  io.firejail_groups = o.firejail_groups;
  io.select = split_list(o.select);
  io.minijail_constants = o.minijail_constants;
  if (!o.minijail_default.empty()) io.minijail_default_action = minijail_action(o.minijail_default);
  io.firecracker_target = o.firecracker_target;
  fs::create_directories(o.out);
  size_t total_cases = 0;
  for (const std::string& file : o.files) {
    corpus::ImportedProfile ip;
    try {
      ip = corpus::import_profile_file(file, io);
    } catch (const corpus::ProfileError& e) {
      std::fprintf(stderr, "secdiff: %s\n", e.what());
      return kExitError;
    }
    const std::string pid = profile_id(file);
    const fs::path dir = fs::path(o.out) / pid;
    fs::create_directories(dir);
    ProfileStats st;
    std::set<std::string> written;  // encoded cases, to skip identical ones
    auto write_cases = [&](const std::string& base, const Program& prog,
                           const std::vector<CaseInput>& inputs) {
      std::vector<Case> cases = corpus::split_cases(pid + "." + base, prog, inputs, kMaxCaseInputs);
      if (o.max_cases > 0 && cases.size() > static_cast<size_t>(o.max_cases))
        cases.resize(static_cast<size_t>(o.max_cases));
      bool any = false;
      for (size_t k = 0; k < cases.size(); k++) {
        const std::string bytes = encode_case(cases[k]);
        if (!written.insert(bytes).second) continue;
        const std::string stem = sanitize(base) + "-" + std::to_string(k);
        write_file((dir / (stem + ".case")).string(), bytes);
        if (o.json) {
          CaseFileOptions co;
          co.style = FilterStyle::Hex;
          co.comments = false;
          save_case_file((dir / (stem + ".json")).string(), cases[k], co);
        }
        st.cases++;
        any = true;
      }
      st.filters += any;
    };
    for (const corpus::ImportedFilter& f : ip.filters) {
      if (!f.rules) {
        write_cases(f.name, f.program, corpus::seed_inputs(f.program, kp));
        continue;
      }
      const corpus::RuleSet& rs = *f.rules;
      st.rules += rs.rules.size();
      if (o.notes)
        for (const auto& n : rs.notes) std::fprintf(stderr, "secdiff: note: %s: %s\n", f.name.c_str(), n.c_str());
      const std::vector<std::string> use = usable_arches(rs, arches);
      if (use.empty()) {
        std::fprintf(stderr, "secdiff: %s: %s: none of the arches %s; skipped\n", file.c_str(),
                     f.name.c_str(), o.arch.c_str());
        continue;
      }
      std::vector<Arch> use_arches;
      for (const auto& a : use) use_arches.push_back(*corpus::arch_from_libseccomp(a));
      for (auto& n : corpus::names_without_number(rs, use_arches, kp)) st.absent.insert(n);
      std::vector<std::vector<std::string>> combos;
      for (const auto& a : use) combos.push_back({a});
      if (use.size() > 1) combos.push_back(use);
      for (const auto& combo : combos) {
        std::vector<Arch> fa;
        for (const auto& a : combo) fa.push_back(*corpus::arch_from_libseccomp(a));
        const std::vector<CaseInput> inputs = corpus::seed_inputs(rs, fa, kp);
        for (int level : levels) {
          corpus::CompileOptions co;
          co.arches = combo;
          co.optimize = level;
          corpus::CompileResult cr;
          try {
            cr = corpus::compile_ruleset(rs, co);
          } catch (const corpus::CompileError& e) {
            std::fprintf(stderr, "secdiff: %s: %s: %s\n", file.c_str(), f.name.c_str(), e.what());
            return kExitError;
          }
          st.unknown.insert(cr.unknown_names.begin(), cr.unknown_names.end());
          write_cases(f.name + "." + join(combo, "+") + ".O" + std::to_string(level), cr.prog, inputs);
        }
      }
    }
    if (!st.unknown.empty())
      std::fprintf(stderr, "secdiff: %s: unknown syscall names skipped: %s\n", file.c_str(),
                   join(std::vector<std::string>(st.unknown.begin(), st.unknown.end()), ", ").c_str());
    for (const auto& n : st.unknown) st.absent.erase(n);
    if (!st.absent.empty())
      std::fprintf(stderr, "secdiff: %s: syscall names without a number on a filter's arches, skipped there: %s\n",
                   file.c_str(), join(std::vector<std::string>(st.absent.begin(), st.absent.end()), ", ").c_str());
    std::printf("%s: %s, %zu rules, %zu unknown names, %zu filters written, %zu cases written (%s)\n",
                file.c_str(), corpus::profile_format_name(ip.format), st.rules, st.unknown.size(),
                st.filters, st.cases, dir.string().c_str());
    total_cases += st.cases;
  }
  std::printf("total: %zu cases in %s\n", total_cases, o.out.c_str());
  return kExitOk;
}

struct ReportOpts {
  std::vector<std::string> files;
  std::string kernel, out = "docs/corpus-report.md", arch = "x86_64,x86,x32", select;
  int optimize = 1;
};

int run_report(const ReportOpts& o) {
  const KernelProfile& kp = kernel_or_throw(o.kernel);
  std::vector<std::pair<std::string, std::string>> inputs;  // path, select
  if (o.files.empty()) {
    const std::string base = profiles_dir();
    for (const auto& d : kDefaultProfiles) inputs.emplace_back(base + "/" + d.path, d.select);
  } else {
    for (const auto& f : o.files) inputs.emplace_back(f, o.select);
  }
  const std::vector<std::string> arches = split_list(o.arch);
  std::vector<corpus::ReportRow> rows;
  for (const auto& [file, select] : inputs) {
    corpus::ProfileImportOptions io;
    io.arches = arches;
    io.select = split_list(select);
    std::vector<std::pair<std::string, std::vector<Program>>> chains;  // name, filters
    std::map<std::string, size_t> by_group;
    const std::string pid = profile_id(file);
    std::string text;
    try {
      text = read_file(file);
    } catch (const InputError&) {
      throw;
    }
    const auto pf = corpus::detect_profile_format(file, text);
    if (!pf) {
      // Not a profile: a filter program in any oracle format.
      chains.push_back({pid, {load_program(file).prog}});
    } else {
      corpus::ImportedProfile ip;
      try {
        ip = corpus::import_profile_file(file, io);
      } catch (const corpus::ProfileError& e) {
        throw InputError(e.what());
      }
      for (const auto& f : ip.filters) {
        Program prog;
        if (!f.rules) {
          prog = f.program;
        } else {
          corpus::CompileOptions co;
          co.arches = usable_arches(*f.rules, arches);
          if (co.arches.empty()) continue;
          co.optimize = o.optimize;
          try {
            prog = corpus::compile_ruleset(*f.rules, co).prog;
          } catch (const corpus::CompileError& e) {
            throw InputError(file + ": " + f.name + ": " + e.what());
          }
        }
        const std::string g = group_of(ip, f);
        const std::string name = g.empty() ? (ip.filters.size() > 1 ? pid + ":" + f.name : pid) : pid + ":" + g;
        auto it = by_group.find(name);
        if (it == by_group.end()) {
          by_group[name] = chains.size();
          chains.push_back({name, {prog}});
        } else {
          chains[it->second].second.push_back(prog);
        }
      }
    }
    for (const auto& [name, progs] : chains) {
      FilterChain chain;
      for (const Program& p : progs) {
        const LoadResult r = chain.install(p, 0, LoadEnv{});
        if (!r.ok())
          throw InputError(file + ": " + name + ": the kernel would reject a filter: " +
                           std::string(errno_name(r.err).value_or("?")) + ": " + r.reason);
      }
      auto part = corpus::report_chain(name, chain, kp);
      rows.insert(rows.end(), part.begin(), part.end());
    }
  }
  const std::string table = corpus::format_report_table(rows);
  std::printf("%s", table.c_str());
  if (!o.out.empty() && o.out != "-") {
    char date[32];
    const std::time_t t = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&t));
    write_file(o.out, corpus::format_report_markdown(rows, kp, date, corpus::libseccomp_version()));
    std::fprintf(stderr, "secdiff: wrote %s\n", o.out.c_str());
  }
  return kExitOk;
}

}  // namespace

Runner add_corpus(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "corpus",
      "Seed corpus from real seccomp profiles (Docker/Podman/OCI JSON, LXC/LXD policies,\n"
      "systemd units, firejail profiles, raw BPF, Firecracker JSON, minijail policies,\n"
      "Android bionic syscall lists, transcribed C tables) and action-cache reports on them.");
  sub->require_subcommand(1);
  auto* imp = sub->add_subcommand(
      "import",
      "Import profiles, compile each with libseccomp per arch and for the arches together,\n"
      "and write seed cases (compact .case, optionally .json) with inputs from the rules.\n"
      "Exit 2 on a broken profile (files already imported stay written).");
  auto io = std::make_shared<ImportOpts>();
  imp->add_option("FILE", io->files, "profiles")->required();
  imp->add_option("--arch", io->arch, "comma-separated libseccomp arches: x86_64,x86,x32")
      ->capture_default_str();
  imp->add_option("--optimize", io->optimize, "SCMP_FLTATR_CTL_OPTIMIZE level(s): 1 and/or 2 (default both)")
      ->check(CLI::Range(1, 2));
  imp->add_option("--out", io->out, "output directory")->capture_default_str();
  imp->add_option("--kernel", io->kernel, "kernel profile for syscall tables: 6.1|6.12|6.18");
  imp->add_option("--min-kernel", io->min_kernel, "host kernel release for Docker minKernel rules")
      ->capture_default_str();
  imp->add_flag("--json", io->json, "also write JSON case files");
  imp->add_option("--select", io->select,
                  "systemd units / firejail profiles to keep from a TSV (comma-separated names)");
  imp->add_option("--systemd-groups", io->systemd_groups, "groups JSON (default: next to the file)");
  imp->add_option("--firejail-groups", io->firejail_groups, "syscalls.txt (default: next to the file)");
  imp->add_option("--max-cases", io->max_cases, "at most N cases per compiled filter (0: all)")
      ->capture_default_str();
  imp->add_option("--minijail-constants", io->minijail_constants,
                  "minijail constants.json (default: next to the policy)");
  imp->add_option("--minijail-default-action", io->minijail_default,
                  "override a minijail policy's default action (crosvm builds with trap; default: kill)");
  imp->add_option("--firecracker-target", io->firecracker_target,
                  "Firecracker target arch: x86_64|aarch64|riscv64 (default: from the file name)");
  imp->add_flag("--notes", io->notes, "print the importers' notes on stderr");

  auto* rep = sub->add_subcommand(
      "report",
      "For each profile (compiled for the arches together) or filter, and each cache arch:\n"
      "what the linux cache model caches, the exact constant-ALLOW set, the syscalls the\n"
      "emulator loses and where it stops. Prints a markdown table and writes --out.\n"
      "Default profiles: those of scripts/gen-corpus.sh, from ../shared/profiles.");
  auto ro = std::make_shared<ReportOpts>();
  rep->add_option("FILTER_OR_PROFILE", ro->files, "profiles or filter programs");
  rep->add_option("--kernel", ro->kernel, "kernel profile: 6.1|6.12|6.18");
  rep->add_option("--out", ro->out, "markdown file ('-' or '' for none)")->capture_default_str();
  rep->add_option("--arch", ro->arch, "libseccomp arches to compile profiles for")->capture_default_str();
  rep->add_option("--optimize", ro->optimize, "SCMP_FLTATR_CTL_OPTIMIZE: 1 or 2")
      ->check(CLI::Range(1, 2))
      ->capture_default_str();
  rep->add_option("--select", ro->select, "systemd units / firejail profiles to keep from a TSV");
  return [imp, rep, io, ro] {
    if (imp->parsed()) return run_import(*io);
    if (rep->parsed()) return run_report(*ro);
    return kExitError;
  };
}

}  // namespace secdiff::cli
