#include "corpus/src/corpus_seeds.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "corpus/src/docker_json.h"
#include "corpus/src/firejail_profile.h"
#include "corpus/src/lxc_policy.h"
#include "corpus/src/raw_bpf_import.h"
#include "corpus/src/systemd_filter.h"
#include "oracle/seccomp_abi.h"

namespace secdiff::corpus {

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ProfileError(path, 0, "cannot open file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool selected(const std::vector<std::string>& select, const std::string& name) {
  if (select.empty()) return true;
  for (const auto& s : select)
    if (s == name || s == base_of(name)) return true;
  return false;
}

size_t count_tabs(std::string_view line) { return static_cast<size_t>(std::count(line.begin(), line.end(), '\t')); }

}  // namespace

const char* profile_format_name(ProfileFormat f) {
  switch (f) {
    case ProfileFormat::DockerJson: return "docker-json";
    case ProfileFormat::Lxc: return "lxc";
    case ProfileFormat::SystemdTsv: return "systemd-tsv";
    case ProfileFormat::SystemdUnit: return "systemd-unit";
    case ProfileFormat::FirejailTsv: return "firejail-tsv";
    case ProfileFormat::FirejailProfile: return "firejail-profile";
    case ProfileFormat::RawBpf: return "raw-bpf";
  }
  return "?";
}

std::optional<ProfileFormat> detect_profile_format(const std::string& path, std::string_view bytes) {
  if (bytes.empty()) return std::nullopt;
  for (unsigned char c : bytes)
    if (c == 0 || (c < 0x20 && c != '\n' && c != '\r' && c != '\t')) return ProfileFormat::RawBpf;
  size_t i = 0;
  if (bytes.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
  while (i < bytes.size() && std::isspace(static_cast<unsigned char>(bytes[i]))) i++;
  if (i < bytes.size() && bytes[i] == '{') return ProfileFormat::DockerJson;
  // First line "1" or "2": an LXC policy.
  std::string_view first = bytes.substr(0, bytes.find('\n'));
  while (!first.empty() && std::isspace(static_cast<unsigned char>(first.back()))) first.remove_suffix(1);
  if (first == "1" || first == "2") return ProfileFormat::Lxc;
  if (ends_with(path, ".profile") || ends_with(path, ".inc")) return ProfileFormat::FirejailProfile;
  // TSV: the first data (or header) line decides by its column count.
  std::istringstream ss{std::string(bytes)};
  for (std::string line; std::getline(ss, line);) {
    if (line.empty()) continue;
    const size_t tabs = count_tabs(line);
    if (tabs == 4) return ProfileFormat::SystemdTsv;
    if (tabs == 1) return ProfileFormat::FirejailTsv;
    if (line[0] == '#') continue;
    break;
  }
  if (bytes.find("SystemCallFilter=") != std::string_view::npos ||
      bytes.find("[Service]") != std::string_view::npos ||
      bytes.find("SystemCallArchitectures=") != std::string_view::npos)
    return ProfileFormat::SystemdUnit;
  if (bytes.find("seccomp") != std::string_view::npos && bytes.find('=') == std::string_view::npos)
    return ProfileFormat::FirejailProfile;
  return std::nullopt;
}

std::optional<Arch> arch_from_libseccomp(std::string_view name) {
  if (name == kArchX86_64) return Arch::X86_64;
  if (name == kArchX86) return Arch::I386;
  if (name == kArchX32) return Arch::X32;
  return std::nullopt;
}

ImportedProfile import_profile_file(const std::string& path, const ProfileImportOptions& opts) {
  const std::string bytes = slurp(path);
  const auto fmt = detect_profile_format(path, bytes);
  if (!fmt)
    throw ProfileError(path, 1,
                       "unrecognized profile format (expected Docker/OCI JSON, LXC policy, systemd "
                       "unit or TSV, firejail profile or TSV, raw BPF)");
  ImportedProfile ip;
  ip.path = path;
  ip.format = *fmt;
  auto systemd_groups = [&] {
    return parse_systemd_groups_file(
        opts.systemd_groups.empty() ? dir_of(path) + "/groups-v252.json" : opts.systemd_groups);
  };
  auto firejail_groups = [&] {
    return parse_firejail_groups_file(
        opts.firejail_groups.empty() ? dir_of(path) + "/syscalls.txt" : opts.firejail_groups);
  };
  auto add_systemd = [&](const std::vector<SystemdUnitFilter>& fs) {
    for (const auto& f : fs) {
      if (!selected(opts.select, f.unit)) continue;
      ip.filters.push_back({base_of(f.unit) + "." + f.filter, f.rules, {}});
    }
  };
  auto add_firejail = [&](const FirejailProfile& p) {
    if (!selected(opts.select, p.name)) return;
    for (const auto& f : p.filters) ip.filters.push_back({p.name + "." + f.kind, f.rules, {}});
  };
  SystemdImportOptions so;
  so.arches.clear();
  for (const auto& a : opts.arches)
    if (a == kArchX86_64) so.arches.insert(so.arches.begin(), a);
    else so.arches.push_back(a);
  if (so.arches.empty() || so.arches[0] != kArchX86_64) so.arches.insert(so.arches.begin(), std::string(kArchX86_64));
  switch (*fmt) {
    case ProfileFormat::DockerJson: {
      DockerImportOptions io;
      io.arches = opts.arches;
      io.kernel = opts.docker_kernel;
      ip.filters.push_back({"default", parse_docker_json(bytes, path, io), {}});
      break;
    }
    case ProfileFormat::Lxc:
      ip.filters.push_back({"default", parse_lxc_policy(bytes, path), {}});
      break;
    case ProfileFormat::SystemdTsv:
      add_systemd(parse_systemd_directives_tsv(bytes, path, systemd_groups(), so));
      break;
    case ProfileFormat::SystemdUnit:
      add_systemd(parse_systemd_unit(bytes, path, systemd_groups(), so));
      break;
    case ProfileFormat::FirejailTsv:
      for (const auto& p : parse_firejail_profile_lines_tsv(bytes, path, firejail_groups())) add_firejail(p);
      break;
    case ProfileFormat::FirejailProfile:
      add_firejail(parse_firejail_profile(bytes, path, firejail_groups()));
      break;
    case ProfileFormat::RawBpf:
      ip.filters.push_back({"bpf", std::nullopt, import_raw_bpf(bytes, path)});
      break;
  }
  return ip;
}

namespace {

int table_size(Arch a, const KernelProfile& kp) { return a == Arch::I386 ? kp.compat_nr : kp.native_nr; }

class InputSet {
 public:
  void add(Arch a, int64_t nr, unsigned idx = 0, uint64_t value = 0) {
    CaseInput in;
    in.arch = a;
    in.nr = nr;
    if (idx < 6) in.args[idx] = value;
    const auto key = std::make_tuple(static_cast<int>(a), nr, idx, value);
    if (!seen_.insert(key).second) return;
    inputs_.push_back(in);
  }
  std::vector<CaseInput> take() { return std::move(inputs_); }

 private:
  std::set<std::tuple<int, int64_t, unsigned, uint64_t>> seen_;
  std::vector<CaseInput> inputs_;
};

void past_table(InputSet& s, Arch a, const KernelProfile& kp) {
  const int64_t n = table_size(a, kp);
  const int64_t bit = a == Arch::X32 ? X32_SYSCALL_BIT : 0;
  s.add(a, n | bit);
  s.add(a, (n + 1) | bit);
  s.add(a, 0xffffffffLL);
}

// value-1, value, value+1 on each 32-bit half (the other half kept).
std::vector<uint64_t> boundary_values(const ArgCmp& c) {
  std::vector<uint64_t> v;
  if (c.op == ArgCmp::MASKED_EQ) {
    const uint64_t mask = c.value, datum = c.value_two;
    v = {datum, datum & mask, datum | ~mask, datum ^ mask, (datum ^ mask) & mask, mask, 0};
    return v;
  }
  const uint64_t x = c.value;
  const uint32_t lo = static_cast<uint32_t>(x), hi = static_cast<uint32_t>(x >> 32);
  auto mk = [](uint32_t h, uint32_t l) { return (uint64_t{h} << 32) | l; };
  for (int d = -1; d <= 1; d++) v.push_back(mk(hi, lo + static_cast<uint32_t>(d)));
  v.push_back(mk(hi - 1, lo));
  v.push_back(mk(hi + 1, lo));
  return v;
}

}  // namespace

std::vector<CaseInput> seed_inputs(const RuleSet& rs, const std::vector<Arch>& filter_arches,
                                   const KernelProfile& kp) {
  InputSet s;
  const Arch all[] = {Arch::X86_64, Arch::I386, Arch::X32};
  auto in_filter = [&](Arch a) {
    return std::find(filter_arches.begin(), filter_arches.end(), a) != filter_arches.end();
  };
  for (Arch a : filter_arches) past_table(s, a, kp);
  // Argument boundaries.
  for (const Rule& r : rs.rules) {
    if (r.args.empty()) continue;
    for (Arch a : filter_arches) {
      const auto nr = syscall_number(a, r.syscall, kp.version);
      if (!nr) continue;
      for (const ArgCmp& c : r.args)
        for (uint64_t v : boundary_values(c)) s.add(a, *nr, c.index, v);
    }
  }
  // Wrong arch (and x32 numbers when x32 is not in the filter): the first
  // few rule syscalls that exist there, plus nr 0 and past the table.
  for (Arch a : all) {
    if (in_filter(a)) continue;
    s.add(a, a == Arch::X32 ? int64_t{X32_SYSCALL_BIT} : 0);
    int n = 0;
    for (const Rule& r : rs.rules) {
      if (n >= 4) break;
      if (const auto nr = syscall_number(a, r.syscall, kp.version)) {
        s.add(a, *nr);
        n++;
      }
    }
    past_table(s, a, kp);
  }
  // x32 numbers of the rules' syscalls when the filter has x86_64 but not x32.
  if (in_filter(Arch::X86_64) && !in_filter(Arch::X32))
    for (const Rule& r : rs.rules)
      if (const auto nr = syscall_number(Arch::X32, r.syscall, kp.version)) s.add(Arch::X32, *nr);
  // Every named syscall on each arch where it exists.
  for (Arch a : filter_arches)
    for (const Rule& r : rs.rules)
      if (const auto nr = syscall_number(a, r.syscall, kp.version)) s.add(a, *nr);
  return s.take();
}

std::vector<CaseInput> seed_inputs(const Program& p, const KernelProfile& kp) {
  InputSet s;
  const Arch all[] = {Arch::X86_64, Arch::I386, Arch::X32};
  for (Arch a : all) past_table(s, a, kp);
  std::set<uint32_t> ks;
  for (const Insn& i : p) {
    const uint16_t cls = i.code & 0x07, op = i.code & 0xf0, src = i.code & 0x08;
    if (cls != 0x05 || op == 0x00 || src != 0) continue;  // BPF_JMP | K, not JA
    ks.insert(i.k);
  }
  for (Arch a : all) {
    const int64_t size = table_size(a, kp);
    for (uint32_t k : ks) {
      int64_t nr = k;
      if (a == Arch::X32) {
        if (!(k & X32_SYSCALL_BIT)) continue;
      } else if (nr > size + 1) {
        continue;
      }
      for (int d = -1; d <= 1; d++)
        if (nr + d >= 0) s.add(a, nr + d);
    }
  }
  return s.take();
}

std::vector<Case> split_cases(const std::string& name, const Program& prog,
                              const std::vector<CaseInput>& inputs, size_t cap) {
  std::vector<Case> out;
  if (cap == 0) cap = 1;
  for (size_t i = 0; i < inputs.size() || (i == 0 && inputs.empty()); i += cap) {
    Case c;
    c.name = name + "-" + std::to_string(out.size());
    c.filters.push_back({prog, 0});
    const size_t end = std::min(inputs.size(), i + cap);
    c.inputs.assign(inputs.begin() + static_cast<std::ptrdiff_t>(i),
                    inputs.begin() + static_cast<std::ptrdiff_t>(end));
    out.push_back(std::move(c));
    if (inputs.empty()) break;
  }
  return out;
}

}  // namespace secdiff::corpus
