// Fuzz target: the oracle against a real kernel in QEMU, with the same
// comparisons and reports as `secdiff diff` (vm/runner.h).
//
// Each case is run on the VM pool and compared there; the target itself only
// feeds BPF-level coverage (the oracle's run of the chain on the inputs, as in
// cache_soundness) and keeps up to 16 cases in flight, so the engine keeps
// generating while the VMs run. Where the pool lives:
//   SECDIFF_VM_SOCKET=PATH  the campaign's broker (`secdiff fuzz` starts it; the
//                           VMs outlive -fork jobs and AFL++ restarts)
//   otherwise               a pool of its own, booted on the first input:
//                           SECDIFF_FUZZ_KERNEL (debian|debug|PATH, default
//                           debug), SECDIFF_FUZZ_VMS (default 1),
//                           SECDIFF_FUZZ_MODEL (default linux), SECDIFF_AGENT
//                           (default build/secdiff-agent); findings go to
//                           SECDIFF_FINDINGS_DIR, and the process waits for its
//                           cases at exit.
// Only the first SECDIFF_FUZZ_MAX_INPUTS (default 32) inputs of a case run
// (and feed coverage): real profiles' seeds carry hundreds.
// Fuzzed syscalls run only in the VMs, never on the host.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "fuzzers/checks.h"
#include "oracle/case_codec.h"
#include "vm/broker.h"
#include "vm/diff_service.h"
#include "vm/locate.h"
#include "vm/minimize.h"

namespace {

using namespace secdiff;

std::string env_or(const char* name, const char* def) {
  const char* v = std::getenv(name);
  return v && *v ? v : def;
}

struct VmSide {
  std::unique_ptr<vm::BrokerClient> client;
  std::unique_ptr<vm::BackendHandle> backend;
  std::unique_ptr<vm::DiffService> service;

  void submit(const Case& c, std::string_view raw) {
    if (client) {
      client->submit(raw);
    } else {
      service->submit(c);
    }
  }
};

VmSide* g_vm = nullptr;

void finish_at_exit() {
  if (!g_vm) return;
  try {
    if (g_vm->client) g_vm->client->flush();
    if (g_vm->service) g_vm->service->stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vm_diff: %s\n", e.what());
  }
}

VmSide& vm_side() {
  if (g_vm) return *g_vm;
  auto* v = new VmSide;
  try {
    if (const char* sock = std::getenv("SECDIFF_VM_SOCKET"); sock && *sock) {
      v->client = std::make_unique<vm::BrokerClient>(16);
      v->client->connect(sock);
    } else {
      vm::BackendSpec spec;
      spec.kernel = env_or("SECDIFF_FUZZ_KERNEL", "debug");
      spec.jobs = std::atoi(env_or("SECDIFF_FUZZ_VMS", "1").c_str());
      // The fuzz builds have no agent of their own: the release build's.
      spec.agent = env_or("SECDIFF_AGENT", "");
      if (spec.agent.empty()) spec.agent = (vm::source_dir() / "build/secdiff-agent").string();
      v->backend = vm::make_backend(spec);
      vm::RunnerOptions ro;
      ro.model = env_or("SECDIFF_FUZZ_MODEL", "linux");
      ro.findings_dir = env_or("SECDIFF_FINDINGS_DIR", "findings");
      v->service = std::make_unique<vm::DiffService>(*v->backend->pool, ro);
      const vm::Hello& h = v->service->start();
      std::fprintf(stderr, "vm_diff: kernel %s booted (%s)\n", h.kernel_release.c_str(), spec.kernel.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vm_diff: cannot reach a VM: %s\n", e.what());
    std::exit(1);
  }
  g_vm = v;
  std::atexit(finish_at_exit);
  return *g_vm;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Coverage only: the oracle's BPF paths of the chain on the inputs.
  static const fuzz::CheckOptions opt = [] {
    fuzz::CheckOptions o = fuzz::check_options_from_env();
    o.models.clear();
    return o;
  }();
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  Case c;
  try {
    c = decode_case(raw);
  } catch (const WireError&) {
    return -1;
  }
  // The first max_inputs only (the saved finding is the case as run).
  static const size_t max_inputs = [] {
    const long v = std::atol(env_or("SECDIFF_FUZZ_MAX_INPUTS", "32").c_str());
    return v > 0 ? static_cast<size_t>(v) : size_t{32};
  }();
  std::string trimmed;
  if (c.inputs.size() > max_inputs) {
    c.inputs.resize(max_inputs);
    trimmed = encode_case(c);
  }
  (void)fuzz::check_cache_soundness(c, opt);
  try {
    vm_side().submit(c, trimmed.empty() ? raw : std::string_view(trimmed));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vm_diff: %s\n", e.what());
    std::exit(1);
  }
  return 0;
}
