#include "corpus/src/corpus_report.h"

#include <map>
#include <sstream>

#include "oracle/cache/exact.h"
#include "oracle/cache/linux.h"
#include "oracle/formats/formats.h"

namespace secdiff::corpus {

namespace {

std::string name_of(CacheArch a, int nr, const KernelProfile& kp) {
  const auto n = syscall_name(a == CacheArch::Native ? Arch::X86_64 : Arch::I386, nr, kp.version);
  return n ? std::string(*n) : "nr" + std::to_string(nr);
}

// Line `pc` of the disassembly, without the index comment.
std::string insn_text(const Program& p, int pc) {
  if (pc < 0 || pc >= static_cast<int>(p.size())) return "";
  DisasmOptions o;
  o.comments = true;
  const std::string text = disassemble(p, o);
  std::istringstream ss(text);
  for (std::string line; std::getline(ss, line);) {
    if (line.rfind("/* ", 0) != 0) continue;
    const auto close = line.find(" */");
    if (close == std::string::npos) continue;
    int idx = -1;
    try {
      idx = std::stoi(line.substr(3, close - 3));
    } catch (const std::exception&) {
      continue;
    }
    if (idx != pc) continue;
    // "ld [16]                      ; args[0] low" -> "ld [16] ; args[0] low"
    std::string out;
    for (char c : line.substr(close + 3)) {
      if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
      out += c;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
  }
  return "";
}

std::string join(const std::vector<std::string>& v, size_t limit) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < limit; i++) s += (i ? ", " : "") + v[i];
  if (v.size() > limit) s += ", … (+" + std::to_string(v.size() - limit) + ")";
  return s;
}

std::string escape_md(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '`') out += "'";
    else out += c;
  }
  return out;
}

}  // namespace

std::vector<ReportRow> report_chain(const std::string& profile, const FilterChain& chain,
                                    const KernelProfile& kp) {
  auto lin = make_cache_model("linux", kp);
  auto ex = make_cache_model("exact", kp);
  replay_attach(*lin, chain);
  replay_attach(*ex, chain);
  std::vector<ReportRow> rows;
  for (CacheArch a : kCacheArches) {
    ReportRow r;
    r.profile = profile;
    r.arch = cache_arch_name(a);
    const Bitmap bl = lin->bitmap(a), be = ex->bitmap(a);
    r.size = static_cast<int>(bl.size());
    std::map<std::pair<int, int>, LostGroup> groups;
    for (size_t nr = 0; nr < bl.size(); nr++) {
      const bool l = bl[nr], e = nr < be.size() && be[nr];
      r.linux_cached += l;
      r.exact_allow += e;
      if (l == e) continue;
      SeccompData sd;
      sd.nr = static_cast<int32_t>(nr);
      sd.arch = cache_arch_audit(a);
      const std::string name = name_of(a, static_cast<int>(nr), kp);
      if (e && !l) {
        r.lost++;
        // The first filter whose emulation does not end in ALLOW.
        for (size_t f = 0; f < chain.filters().size(); f++) {
          const Program& orig = chain.filters()[f].orig;
          const ConstAllowWhy w = seccomp_is_const_allow_why(orig, sd, kp);
          if (w.allow) continue;
          LostGroup& g = groups[{static_cast<int>(f), w.stop_pc}];
          if (g.syscalls.empty()) {
            g.filter = static_cast<int>(f);
            g.pc = w.stop_pc;
            g.unsupported = w.unsupported;
            g.insn = insn_text(orig, w.stop_pc);
          }
          g.syscalls.push_back(name);
          break;
        }
      } else {
        bool exception = false;
        for (const Filter& f : chain.filters())
          exception = exception || seccomp_is_const_allow_why(f.orig, sd, kp).exception;
        (exception ? r.exceptions : r.extra).push_back(name);
      }
    }
    for (auto& [k, g] : groups) r.lost_groups.push_back(std::move(g));
    rows.push_back(std::move(r));
  }
  return rows;
}

std::string format_report_table(const std::vector<ReportRow>& rows) {
  std::ostringstream o;
  o << "| Profile | Arch | linux caches | exact const-ALLOW | lost by linux | lost at (first insn the emulator could not follow) | cached, not constant |\n";
  o << "|---|---|---:|---:|---:|---|---|\n";
  for (const ReportRow& r : rows) {
    std::string why;
    for (const LostGroup& g : r.lost_groups) {
      if (!why.empty()) why += "; ";
      why += std::to_string(g.syscalls.size()) + " at ";
      if (g.pc < 0) {
        why += "a RET";
      } else {
        why += "f" + std::to_string(g.filter) + "#" + std::to_string(g.pc) + " `" +
               escape_md(g.insn) + "`";
      }
    }
    std::string extra;
    if (!r.exceptions.empty()) extra = "uprobe exception: " + join(r.exceptions, 4);
    if (!r.extra.empty()) extra += (extra.empty() ? "" : "; ") + std::string("**NOT an exception**: ") + join(r.extra, 8);
    o << "| " << escape_md(r.profile) << " | " << r.arch << " | " << r.linux_cached << " | "
      << r.exact_allow << " | " << r.lost << " | " << (why.empty() ? "–" : why) << " | "
      << (extra.empty() ? "–" : extra) << " |\n";
  }
  return o.str();
}

std::string format_report_markdown(const std::vector<ReportRow>& rows, const KernelProfile& kp,
                                   const std::string& date, const std::string& libseccomp) {
  std::ostringstream o;
  o << "# Action cache on the seed corpus profiles\n\n"
    << "Generated by `secdiff corpus report` on " << date << " for kernel profile " << kp.version
    << " (NR_syscalls " << kp.native_nr << ", IA32_NR_syscalls " << kp.compat_nr
    << "), libseccomp " << libseccomp << ".\n\n"
    << "Per profile and cache arch: how many syscall numbers the `linux` model\n"
    << "(seccomp_is_const_allow, mainline since 5.11) caches, how many are truly\n"
    << "constant-ALLOW for every argument and instruction pointer (`exact`), how many\n"
    << "the emulator loses and at which instruction it gave up (`fN#pc`: filter N of\n"
    << "the chain, instruction pc of the original program), and which numbers it caches\n"
    << "although they are not constant (only the uprobe/uretprobe exceptions should be).\n"
    << "Profiles are compiled with libseccomp for x86_64+x86+x32 (as runc does),\n"
    << "optimize level 1, unless the importer restricts the arches.\n\n"
    << format_report_table(rows) << "\n## Lost syscalls\n\n";
  bool any = false;
  for (const ReportRow& r : rows)
    for (const LostGroup& g : r.lost_groups) {
      any = true;
      o << "- " << escape_md(r.profile) << " " << r.arch << ", f" << g.filter << "#" << g.pc << " `"
        << escape_md(g.insn) << "`" << (g.unsupported ? " (unsupported instruction)" : "") << ": "
        << join(g.syscalls, 40) << "\n";
    }
  if (!any) o << "None.\n";
  return o.str();
}

}  // namespace secdiff::corpus
