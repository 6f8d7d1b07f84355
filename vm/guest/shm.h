// The memory the agent shares with its zygote and the case tasks, and the
// task side of running a case. See agent.h for the overall design.
//
// The region is MAP_SHARED|MAP_ANONYMOUS, mapped by the agent before it forks
// the zygote, so it sits at the same address in the agent, the zygote and the
// tasks (which share the zygote's memory through CLONE_VM). Everything a task
// writes here may be garbage (a dispatched syscall can write anywhere in the
// task's memory): the agent bounds-checks what it reads back, and copies the
// few fields it must trust (the task pid, the stub addresses) at moments when no
// task is issuing inputs.
#pragma once

#include <cstddef>
#include <cstdint>

#include "oracle/bpf.h"

namespace secdiff::agent {

inline constexpr size_t kMaxFilters = 16;
inline constexpr size_t kMaxInputs = 64;
inline constexpr size_t kMaxInsnsTotal = kMaxFilters * 4096;

// The fixed page of the default syscall stubs. Every input without a usable
// requested instruction pointer is issued from kDefaultStub (so the filter sees
// instruction_pointer == kDefaultIp whatever the arch: the task writes the stub
// bytes before each call); the seccomp() installs from kInstallStub.
inline constexpr uint64_t kStubPage = 0x5ec000000ull;
inline constexpr uint64_t kInstallStub = kStubPage + 0x100;
inline constexpr uint64_t kDefaultStub = kStubPage + 0x200;
inline constexpr uint64_t kExitStub = kStubPage + 0x300;  // the final exit_group (untraced tasks)
inline constexpr uint64_t kInstallIp = kInstallStub + 2;
inline constexpr uint64_t kDefaultIp = kDefaultStub + 2;

// Slot states.
inline constexpr uint32_t kSlotNone = 0, kSlotStarted = 1, kSlotReturned = 2, kSlotSigsys = 3;

// One syscall's record, written by the task (64 bytes).
struct Slot {
  volatile uint32_t state;
  uint32_t pad0;
  uint64_t rax;
  int32_t sig_signo, sig_code, sig_errno, sig_syscall;
  uint32_t sig_arch, pad1;
  uint64_t sig_call_addr;
  uint64_t uc_rax;
  uint64_t pad2;
};
static_assert(sizeof(Slot) == 64);

// struct sock_fprog (<linux/filter.h> cannot be included next to oracle/bpf.h).
struct Fprog {
  unsigned short len;
  const Insn* filter;
};

struct FilterDesc {
  uint32_t flags;
  uint32_t stop_after;  // int3 after a successful install (cache read / listener grab)
  Fprog fprog;          // .filter points into Shm::insns
};

// Input stop bits.
inline constexpr uint32_t kStopBefore = 1, kStopAfter = 2;

struct InputDesc {
  uint32_t i386;       // int $0x80 instead of syscall
  uint32_t stops;      // kStopBefore | kStopAfter
  uint64_t rax;        // the register value (X32: nr | X32_SYSCALL_BIT)
  uint64_t args[6];
  uint64_t req_ip;     // requested instruction pointer, 0 = none
  // Written by the zygote at spawn time.
  uint64_t stub;       // where the 3-byte stub goes (ip_used - 2)
  uint64_t ip_used;
  uint32_t ip_as_requested;
  uint32_t pad;
};

// Task plan flags.
// kPlanUntraced: the agent does not ptrace this task (nothing to observe
// through ptrace): it starts at once and ends with exit_group, or with an int3
// (SIGTRAP, not dumpable: a quiet death) if the filters deny that.
inline constexpr uint32_t kPlanNnp = 1, kPlanOtherThreads = 2, kPlanSigsysHandler = 4,
                          kPlanUntraced = 8;

// Stop kinds (Shm::stop_kind).
inline constexpr uint32_t kStopInstall = 1, kStopBeforeInput = 2, kStopAfterInput = 3,
                          kStopDone = 4, kStopSetup = 5;

// Phases (Shm::phase).
inline constexpr uint32_t kPhaseSetup = 0, kPhaseInstall = 1, kPhaseInputs = 2, kPhaseDone = 3;

// Zygote requests.
inline constexpr uint32_t kReqSpawn = 1, kReqExit = 2, kReqChunk = 3;

// How a chunk task ended (Plan::end; see kReqChunk).
inline constexpr uint32_t kEndNone = 0,  // not run (yet)
    kEndDone = 1,                        // reached kPhaseDone, then exited
    kEndOther = 2,                       // exited or died before kPhaseDone
    kEndTimeout = 3,                     // made no progress for the timeout: the zygote killed it
    kEndStuck = 4;                       // did not die after SIGKILL (the zygote gave up)

// Plans a chunk request can hold.
inline constexpr size_t kMaxChunk = 32;

// Plan::tsc indexes: the zygote woke for the plan, before and after the
// clone, the task's entry, installs done, inputs done, the zygote saw it exit.
inline constexpr int kTscWake = 0, kTscClone0 = 1, kTscClone1 = 2, kTscEntry = 3, kTscInstalled = 4,
                     kTscInputsDone = 5, kTscExited = 6;

// One task's plan (agent -> zygote/task) and what became of it (task/zygote ->
// agent). A single spawn uses plans[0]; a chunk uses plans[0..chunk_n).
struct Plan {
  uint32_t n_filters, n_inputs, first_input, flags;
  uint32_t plan_id;            // changes when the inputs' ips change
  uint32_t pad0;
  FilterDesc filters[kMaxFilters];
  InputDesc inputs[kMaxInputs];
  // --- task -> agent ---
  volatile uint32_t phase;
  volatile int32_t cur;        // install index (kPhaseInstall) or input index (kPhaseInputs)
  volatile uint32_t setup_failed_step;
  volatile int32_t setup_errno;
  // --- zygote -> agent (chunks) ---
  volatile int32_t task_pid;   // global pid, or -errno if the clone failed
  volatile uint32_t end;       // kEnd*
  // rdtsc at points of the task's life, for --stats (kTsc*).
  volatile uint64_t tsc[7];
  Slot install_slots[kMaxFilters];
  Slot input_slots[kMaxInputs];
  Slot exit_slot;
  Insn insns[kMaxInsnsTotal];
};

struct Shm {
  // --- agent <-> zygote ---
  volatile uint32_t req_seq;   // the agent bumps it; the zygote futex-waits on it
  volatile uint32_t ack_seq;   // the zygote sets it to req_seq when done
  volatile uint32_t req_kind;
  volatile int32_t task_pid;   // spawned task (global pid) or -errno
  volatile int32_t holder_pid; // the pid-namespace holder (global pid), 0 if none
  volatile int32_t zygote_ready;
  volatile int32_t ns_errno;   // why namespaces could not be created (0 = created)
  char zygote_note[256];
  // --- chunks (kReqChunk): the zygote runs plans[0..chunk_n) one task after
  // the other, untraced, and stops after the first that does not end kEndDone ---
  volatile uint32_t chunk_n;
  volatile uint32_t chunk_timeout_ms;  // a task with no progress for this long is killed
  volatile uint32_t chunk_done;        // plans whose task has ended
  volatile int32_t chunk_errno;        // why the zygote stopped early (clone/pidfd failure), else 0
  // --- agent -> task ---
  volatile uint32_t go;        // the task futex-waits until it is non-zero
  volatile uint32_t park;      // the main thread of an other_threads task sleeps on it
  volatile uint32_t park2;     // ... and is requeued here (see task.cc)
  // --- task -> agent ---
  volatile uint32_t stop_seq;  // bumped right before each int3 handshake
  volatile uint32_t stop_kind;
  volatile int32_t stop_index;
  volatile uint32_t progress;  // bumped after every syscall the task issues
  uint64_t rlimit_as;
  Plan plans[kMaxChunk];
};

// The region, mapped by the agent (engine.cc) before the zygote is forked, and
// the agent's pid (the zygote dies with it).
extern Shm* g_shm;
extern int g_agent_pid;

// Starts the zygote's loop in a freshly forked process; never returns.
// `namespaces`: create pid/net/ipc/uts/mount namespaces (needs root).
[[noreturn]] void zygote_main(bool namespaces);

// The syscall stubs as the task issues them (also used by the agent's probes).
inline constexpr uint8_t kStubSyscall[3] = {0x0f, 0x05, 0xc3};  // syscall; ret
inline constexpr uint8_t kStubInt80[3] = {0xcd, 0x80, 0xc3};    // int $0x80; ret

inline uint64_t rdtsc() {
  uint32_t lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

}  // namespace secdiff::agent
