#include "corpus/src/profile_import.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "corpus/src/bionic_syscalls.h"
#include "corpus/src/c_table_json.h"
#include "corpus/src/docker_json.h"
#include "corpus/src/firecracker_json.h"
#include "corpus/src/firejail_profile.h"
#include "corpus/src/lxc_policy.h"
#include "corpus/src/minijail_policy.h"
#include "corpus/src/raw_bpf_import.h"
#include "corpus/src/systemd_filter.h"

namespace secdiff::corpus {

namespace {

using json = nlohmann::json;

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

bool selected(const std::vector<std::string>& select, const std::string& name) {
  if (select.empty()) return true;
  for (const auto& s : select)
    if (s == name || s == base_of(name)) return true;
  return false;
}

size_t count_tabs(std::string_view line) { return static_cast<size_t>(std::count(line.begin(), line.end(), '\t')); }

bool binary(std::string_view bytes) {
  return std::any_of(bytes.begin(), bytes.end(), [](unsigned char c) {
    return c == 0 || (c < 0x20 && c != '\n' && c != '\r' && c != '\t');
  });
}

// Offset of the first non-blank byte after a UTF-8 BOM.
size_t content_start(std::string_view bytes) {
  size_t i = bytes.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0;
  while (i < bytes.size() && std::isspace(static_cast<unsigned char>(bytes[i]))) i++;
  return i;
}

bool is_json_object(std::string_view bytes) {
  const size_t i = content_start(bytes);
  return i < bytes.size() && bytes[i] == '{';
}

// Firecracker: every member is {default_action, filter_action, filter}.
bool is_firecracker(const json& doc, std::string_view bytes) {
  if (doc.is_discarded())  // broken JSON: go by the keys it mentions
    return bytes.find("\"filter_action\"") != std::string_view::npos &&
           bytes.find("\"defaultAction\"") == std::string_view::npos;
  if (!doc.is_object() || doc.empty()) return false;
  return std::all_of(doc.begin(), doc.end(), [](const json& v) {
    return v.is_object() && (v.contains("filter_action") || v.contains("default_action") || v.contains("filter"));
  });
}

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
    case ProfileFormat::Firecracker: return "firecracker-json";
    case ProfileFormat::Minijail: return "minijail-policy";
    case ProfileFormat::Bionic: return "bionic-list";
    case ProfileFormat::CTable: return "c-table-json";
  }
  return "?";
}

std::optional<std::string> not_a_profile(const std::string& path, std::string_view bytes) {
  const std::string base = base_of(path);
  if (base.ends_with(".md")) return "documentation, not a profile";
  if (base.ends_with(".frequency"))
    return "a minijail @frequency file (syscall counts, ignored by the policies that name it), not a profile";
  if (bytes.empty() || binary(bytes)) return std::nullopt;
  if (is_json_object(bytes)) {
    const json doc = json::parse(bytes, nullptr, false);
    if (!doc.is_object() || doc.empty()) return std::nullopt;
    if (doc.contains("constants") && doc.contains("syscalls") && doc.contains("arch_nr"))
      return "minijail's arch table (constants.json, read by the .policy files next to it), not a profile";
    bool groups = true;
    for (auto it = doc.begin(); it != doc.end(); ++it)
      groups = groups && (it.key().starts_with("@") || it.key().starts_with("_"));
    if (groups) return "a systemd syscall group table (--systemd-groups), not a profile";
    return std::nullopt;
  }
  // firejail's syscalls.txt: `@group=a,b` lines; systemd-analyze syscall-filter:
  // `@group` lines followed by indented members.
  std::istringstream ss{std::string(bytes)};
  std::string prev;
  for (std::string line; std::getline(ss, line);) {
    if (line.size() > 1 && line[0] == '@' && line.find('=') != std::string::npos &&
        line.find_first_of(" \t") == std::string::npos)
      return "firejail's syscall group file (syscalls.txt, --firejail-groups), not a profile";
    if (prev.size() > 1 && prev[0] == '@' && prev.find_first_of(" \t=:") == std::string::npos && !line.empty() &&
        (line[0] == ' ' || line[0] == '\t'))
      return "systemd-analyze syscall-filter output (the groups of groups-*.json), not a profile";
    if (!line.empty()) prev = line;
  }
  return std::nullopt;
}

std::optional<ProfileFormat> detect_profile_format(const std::string& path, std::string_view bytes) {
  if (bytes.empty()) return std::nullopt;
  if (binary(bytes)) return ProfileFormat::RawBpf;
  if (not_a_profile(path, bytes)) return std::nullopt;
  if (is_json_object(bytes)) {
    const json doc = json::parse(bytes, nullptr, false);
    if (is_firecracker(doc, bytes)) return ProfileFormat::Firecracker;
    if (looks_like_c_table_json(bytes)) return ProfileFormat::CTable;
    return ProfileFormat::DockerJson;
  }
  // First line "1" or "2": an LXC policy.
  std::string_view first = bytes.substr(0, bytes.find('\n'));
  while (!first.empty() && std::isspace(static_cast<unsigned char>(first.back()))) first.remove_suffix(1);
  if (first == "1" || first == "2") return ProfileFormat::Lxc;
  if (path.ends_with(".profile") || path.ends_with(".inc")) return ProfileFormat::FirejailProfile;
  if (looks_like_bionic_list(path, bytes)) return ProfileFormat::Bionic;
  if (looks_like_minijail_policy(path, bytes)) return ProfileFormat::Minijail;
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

ImportedProfile import_profile_file(const std::string& path, const ProfileImportOptions& opts) {
  const std::string bytes = slurp(path);
  if (auto why = not_a_profile(path, bytes)) throw ProfileError(path, 0, *why);
  const auto fmt = detect_profile_format(path, bytes);
  if (!fmt)
    throw ProfileError(path, 1,
                       "unrecognized profile format (expected Docker/OCI JSON, LXC policy, systemd "
                       "unit or TSV, firejail profile or TSV, raw BPF, Firecracker JSON, minijail "
                       "policy, bionic syscall list, transcribed C table JSON)");
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
    case ProfileFormat::Firecracker: {
      FirecrackerImportOptions fo;
      fo.arches = opts.arches;
      fo.target = opts.firecracker_target;
      for (auto& f : parse_firecracker_json(bytes, path, fo)) ip.filters.push_back({f.thread, std::move(f.rules), {}});
      break;
    }
    case ProfileFormat::Minijail: {
      MinijailImportOptions mo;
      mo.arches = opts.arches;
      mo.constants_path = opts.minijail_constants;
      mo.kill_action = opts.minijail_kill_action;
      mo.default_action = opts.minijail_default_action;
      ip.filters.push_back({"policy", parse_minijail_policy(bytes, path, mo), {}});
      break;
    }
    case ProfileFormat::Bionic: {
      BionicImportOptions bo;
      bo.arches = opts.arches;
      for (auto& f : import_bionic(bytes, path, bo)) ip.filters.push_back({f.name, std::move(f.rules), {}});
      break;
    }
    case ProfileFormat::CTable: {
      CTableImportOptions co;
      co.arches = opts.arches;
      for (auto& f : parse_c_table_json(bytes, path, co)) ip.filters.push_back({f.name, std::move(f.rules), {}});
      break;
    }
  }
  return ip;
}

}  // namespace secdiff::corpus
