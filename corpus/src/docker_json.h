// Importer for JSON seccomp profiles: Docker/Moby (archMap style and the old
// `architectures` + per-entry `name` style), Podman's extras (`defaultErrno`,
// per-rule `errno` names) and OCI runtime-spec `linux.seccomp` objects (bare,
// or inside a whole config.json).
//
// It resolves includes/excludes as moby's setupSeccomp does and splits entries
// into rules as runc's matchCall does, so the RuleSet is what runc passes to
// libseccomp on an x86_64 host (minus runc's ENOSYS stub, see patchbpf).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "corpus/src/ruleset.h"

namespace secdiff::corpus {

// The bounding set moby gives a container by default (oci/caps/defaults.go).
const std::vector<std::string>& docker_default_caps();

struct DockerImportOptions {
  // Arches to keep (libseccomp names), a subset of what the profile names.
  std::vector<std::string> arches = {"x86_64", "x86", "x32"};
  // moby's arch key: goToNative[GOARCH] ("amd64" on x86_64, "x86" for 386).
  // It picks the archMap entry and is compared with includes/excludes.arches.
  std::string host_arch = "amd64";
  std::vector<std::string> caps = docker_default_caps();  // container bounding set
  std::string kernel = "6.1";  // host kernel release for minKernel ("6.1.0-13-amd64" works)
};

// Parses `text`; `origin` names the file in errors and in RuleSet::origin.
// Throws ProfileError for invalid JSON and for invalid profile contents.
RuleSet parse_docker_json(std::string_view text, const std::string& origin,
                          const DockerImportOptions& opts = {});
// Reads `path` and parses it. `origin` defaults to `path`.
RuleSet parse_docker_json_file(const std::string& path, const DockerImportOptions& opts = {},
                               std::string origin = {});

}  // namespace secdiff::corpus
