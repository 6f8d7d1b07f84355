// secdiff cache: the action-cache bitmap a model computes for a chain.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "oracle/cache/cache_model.h"
#include "oracle/cache/exact.h"
#include "oracle/cache/properties.h"
#include "oracle/errno_names.h"

namespace secdiff::cli {

namespace {

std::unique_ptr<CacheModel> build_model(const std::string& name, const KernelProfile& kp,
                                        const FilterChain& chain) {
  auto m = make_cache_model(name, kp);
  if (!m) {
    std::string known;
    for (const auto& n : cache_model_names()) known += (known.empty() ? "" : ", ") + n;
    throw InputError("unknown cache model '" + name + "' (" + known + ")");
  }
  if (auto err = replay_attach(*m, chain))
    std::fprintf(stderr, "secdiff: note: under %s the install of filter %d fails with %s\n",
                 name.c_str(), err->filter, std::string(errno_name(err->err).value_or("?")).c_str());
  return m;
}

size_t count(const Bitmap& b) {
  size_t n = 0;
  for (bool x : b) n += x;
  return n;
}

std::string witness_text(const ExactAnswer& a) {
  if (!a.witness) return "";
  char buf[256];
  const SeccompData& w = *a.witness;
  std::snprintf(buf, sizeof buf,
                "filter %d returns 0x%08x for args [0x%llx, 0x%llx, 0x%llx, 0x%llx, 0x%llx, 0x%llx]"
                " ip 0x%llx",
                a.witness_filter, a.witness_ret, (unsigned long long)w.args[0],
                (unsigned long long)w.args[1], (unsigned long long)w.args[2],
                (unsigned long long)w.args[3], (unsigned long long)w.args[4],
                (unsigned long long)w.args[5], (unsigned long long)w.instruction_pointer);
  return buf;
}

}  // namespace

Runner add_cache(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "cache",
      "Print the action-cache bitmap of FILTER... (one chain) in the format of\n"
      "/proc/PID/seccomp_cache (\"x86_64 0 ALLOW\", \"ia32 5 FILTER\"), or compare two models.\n"
      "Models: linux (mainline seccomp_is_const_allow), rfc-v1 (2020 RFC, with its flaw),\n"
      "rfc-v1-fixed, exact (true constant-ALLOW set, decided with Z3).");
  struct Opts {
    std::vector<std::string> files;
    std::string model = "linux", kernel, compare, format;
    bool json = false, summary = false;
  };
  auto o = std::make_shared<Opts>();
  sub->add_option("FILTER", o->files, "filter files")->required();
  sub->add_option("--model", o->model, "linux|rfc-v1|rfc-v1-fixed|exact")->capture_default_str();
  sub->add_option("--kernel", o->kernel, "kernel profile: 6.1|6.12|6.18 (bitmap sizes, exceptions)");
  sub->add_option("--compare", o->compare,
                  "A,B: print where two models differ (exit 1 if they do)");
  sub->add_flag("--summary", o->summary, "only counts per arch");
  sub->add_flag("--json", o->json, "machine-readable output");
  sub->add_option("--format", o->format, "input format (default: detect)");
  return [o] {
    const KernelProfile& kp = kernel_or_throw(o->kernel);
    std::optional<Format> fmt;
    if (!o->format.empty()) fmt = parse_format_name(o->format);
    const ChainLoad cl = load_chain(o->files, 0, LoadEnv{}, fmt);
    if (cl.first_failure >= 0) {
      const LoadResult& r = cl.results[cl.first_failure];
      throw InputError(cl.programs[cl.first_failure].path + ": the kernel would reject this filter: " +
                       std::string(errno_name(r.err).value_or("?")) + ": " + r.reason);
    }
    if (o->compare.empty()) {
      auto m = build_model(o->model, kp, cl.chain);
      if (o->json) {
        nlohmann::json j;
        j["model"] = o->model;
        j["kernel"] = kp.version;
        for (CacheArch a : kCacheArches) {
          const Bitmap b = m->bitmap(a);
          nlohmann::json allow = nlohmann::json::array();
          for (size_t nr = 0; nr < b.size(); nr++)
            if (b[nr]) allow.push_back(nr);
          j[cache_arch_name(a)] = {{"size", b.size()}, {"allow", allow}};
        }
        std::printf("%s\n", j.dump().c_str());
        return kExitOk;
      }
      for (CacheArch a : kCacheArches) {
        const Bitmap b = m->bitmap(a);
        if (o->summary) {
          std::printf("%s ALLOW=%zu FILTER=%zu\n", cache_arch_name(a), count(b), b.size() - count(b));
          continue;
        }
        // proc_pid_seccomp_cache_arch(): "%s %d %s\n"
        for (size_t nr = 0; nr < b.size(); nr++)
          std::printf("%s %zu %s\n", cache_arch_name(a), nr, b[nr] ? "ALLOW" : "FILTER");
      }
      return kExitOk;
    }
    const auto comma = o->compare.find(',');
    if (comma == std::string::npos) throw InputError("--compare takes two models: A,B");
    const std::string na = o->compare.substr(0, comma), nb = o->compare.substr(comma + 1);
    auto ma = build_model(na, kp, cl.chain), mb = build_model(nb, kp, cl.chain);
    const BitmapCompare c = compare_models(*ma, *mb);
    const bool exact_involved = na == "exact" || nb == "exact";
    nlohmann::json diffs = nlohmann::json::array();
    auto report = [&](const BitDiff& d, bool in_a) {
      const Arch arch = d.arch == CacheArch::Native ? Arch::X86_64 : Arch::I386;
      const auto name = syscall_name(arch, d.nr, kp.version);
      std::string why;
      if (exact_involved) {
        const bool exact_allows = (in_a && na == "exact") || (!in_a && nb == "exact");
        if (!exact_allows)
          why = witness_text(exact_const_allow(cl.chain, cache_arch_audit(d.arch), d.nr));
      }
      if (o->json) {
        diffs.push_back({{"arch", cache_arch_name(d.arch)}, {"nr", d.nr},
                         {"syscall", name ? std::string(*name) : ""},
                         {na, in_a ? "ALLOW" : "FILTER"}, {nb, in_a ? "FILTER" : "ALLOW"},
                         {"witness", why}});
      } else {
        std::printf("%s %d %-20s %s=%s %s=%s%s%s\n", cache_arch_name(d.arch), d.nr,
                    name ? std::string(*name).c_str() : "?", na.c_str(), in_a ? "ALLOW" : "FILTER",
                    nb.c_str(), in_a ? "FILTER" : "ALLOW", why.empty() ? "" : "  witness: ",
                    why.c_str());
      }
    };
    for (const BitDiff& d : c.only_a) report(d, true);
    for (const BitDiff& d : c.only_b) report(d, false);
    if (o->json) {
      nlohmann::json j;
      j["models"] = {na, nb};
      j["kernel"] = kp.version;
      for (CacheArch a : kCacheArches)
        j["counts"][cache_arch_name(a)] = {{na, count(ma->bitmap(a))}, {nb, count(mb->bitmap(a))},
                                           {"size", ma->bitmap(a).size()}};
      j["differences"] = diffs;
      std::printf("%s\n", j.dump().c_str());
    } else {
      for (CacheArch a : kCacheArches)
        std::printf("# %s: %s ALLOW=%zu, %s ALLOW=%zu of %zu\n", cache_arch_name(a), na.c_str(),
                    count(ma->bitmap(a)), nb.c_str(), count(mb->bitmap(a)), ma->bitmap(a).size());
      std::printf("# %zu only in %s, %zu only in %s\n", c.only_a.size(), na.c_str(),
                  c.only_b.size(), nb.c_str());
    }
    return c.only_a.empty() && c.only_b.empty() ? kExitOk : kExitNegative;
  };
}

}  // namespace secdiff::cli
