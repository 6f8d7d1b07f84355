// secdiff-agent: entry point, PID-1 boot duties, and the protocol loop.
//
//   secdiff-agent                  as PID 1 of the VM (the protocol on the
//                                  virtio-serial port org.secdiff.0)
//   secdiff-agent --stdio          the protocol on stdin/stdout (host backend, tests)
//   secdiff-agent --fd N           the protocol on fd N
// Options: --allow-any-syscall (else only harmless inputs unless PID 1),
//   --allow-sysctl (may set net.core.bpf_jit_enable), --witness=auto|always|never,
//   --no-namespaces, --no-audit, --cache-read=each|last|new|off (--no-cache-read = off),
//   --stats (a Log line per batch), --always-trace,
//   --verbose, --no-notif-reply (tests only).
//   --anchor=N [--jit=0|1]: only time the bare thread+filter+syscall loop N
//   times (bench/bench_vm.sh), print it, power off; --micro=N also times the
//   primitives a case is made of; --dmesg then also prints the kernel log and
//   the trace buffer (boot analysis: initcall_debug, trace_event=...).
#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/io.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "vm/guest/agent.h"
#include "vm/protocol.h"

namespace secdiff::agent {
namespace {

constexpr const char* kPortName = "org.secdiff.0";

bool write_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string read_file(const std::string& path) {
  std::string s;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return s;
  char b[512];
  ssize_t n;
  while ((n = read(fd, b, sizeof b)) > 0) s.append(b, static_cast<size_t>(n));
  close(fd);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

void mount_one(const char* src, const char* dir, const char* type, std::vector<std::string>& notes) {
  mkdir(dir, 0755);
  if (mount(src, dir, type, 0, nullptr) != 0 && errno != EBUSY)
    notes.push_back(std::string("mount ") + type + " on " + dir + ": " + std::strerror(errno));
}

// Loads /mods/*.ko in name order.
void load_modules(std::vector<std::string>& notes) {
  DIR* d = opendir("/mods");
  if (d == nullptr) return;
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    if (n.size() > 3 && n.compare(n.size() - 3, 3, ".ko") == 0) names.push_back(n);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) {
    const std::string path = "/mods/" + n;
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      notes.push_back("open " + path + ": " + std::strerror(errno));
      continue;
    }
    if (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST)
      notes.push_back("finit_module " + n + ": " + std::strerror(errno));
    close(fd);
  }
}

// /dev/<vportNpM> of the virtio-serial port named kPortName, waiting up to 3 s.
int open_port(std::vector<std::string>& notes) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (;;) {
    if (DIR* d = opendir("/sys/class/virtio-ports")) {
      std::string dev;
      while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        if (read_file(std::string("/sys/class/virtio-ports/") + e->d_name + "/name") == kPortName)
          dev = std::string("/dev/") + e->d_name;
      }
      closedir(d);
      if (!dev.empty()) {
        const int fd = open(dev.c_str(), O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0) return fd;
      }
    }
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  notes.push_back(std::string("virtio-serial port ") + kPortName + " not found");
  return -1;
}

// Seconds since the kernel started (for --stats boot timing).
double uptime_s() {
  timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// QEMU's isa-debug-exit device (vm/qemu.cc adds it at port 0xf4): a write
// there ends QEMU at once, with or without ACPI. Without the device the write
// goes nowhere, and reboot() powers off through ACPI as before.
constexpr unsigned short kDebugExitPort = 0xf4;

[[noreturn]] void power_off() {
  sync();
  if (ioperm(kDebugExitPort, 4, 1) == 0) {
    const uint32_t v = 0;
    asm volatile("outl %0, %w1" : : "a"(v), "Nd"(kDebugExitPort));
  }
  reboot(RB_POWER_OFF);
  for (;;) pause();
}

void boot(std::vector<std::string>& notes) {
  mount_one("proc", "/proc", "proc", notes);
  mount_one("sysfs", "/sys", "sysfs", notes);
  mount_one("devtmpfs", "/dev", "devtmpfs", notes);
  if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0 && errno != EBUSY)
    notes.push_back(std::string("tracefs: ") + std::strerror(errno));
  load_modules(notes);
  // A crashing task is ptraced (no "segfault at" lines), but keep the console quiet anyway.
  if (const int fd = open("/proc/sys/debug/exception-trace", O_WRONLY | O_CLOEXEC); fd >= 0) {
    if (write(fd, "0\n", 2) < 0) notes.push_back("exception-trace not set");
    close(fd);
  }
}

// Outside the VM: the tracepoints, in a private mount namespace of our own if
// tracefs is not mounted (changes nothing on the host).
void host_tracefs(std::vector<std::string>& notes) {
  if (access("/sys/kernel/tracing/events/raw_syscalls/sys_enter/id", R_OK) == 0 ||
      access("/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id", R_OK) == 0 || geteuid() != 0)
    return;
  if (unshare(CLONE_NEWNS) != 0) return;
  mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
  if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0)
    notes.push_back(std::string("private tracefs mount: ") + std::strerror(errno));
}

void usage() {
  std::fprintf(stderr,
               "usage: secdiff-agent [--stdio | --fd N] [--allow-any-syscall] [--allow-sysctl]\n"
               "                     [--witness=auto|always|never] [--no-namespaces] [--no-audit]\n"
               "                     [--cache-read=each|last|new|off] [--stats] [--no-notif-reply]\n"
               "                     [--verbose]\n");
}

int run(int argc, char** argv) {
  Options opt;
  opt.pid1 = getpid() == 1;
  bool have_channel = false;
  int anchor = 0, anchor_jit = -1;
  bool micro = false, dmesg = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--stdio") {
      opt.fd_in = 0;
      opt.fd_out = 1;
      have_channel = true;
    } else if (a == "--fd" && i + 1 < argc) {
      opt.fd_in = opt.fd_out = std::atoi(argv[++i]);
      have_channel = true;
    } else if (a == "--allow-any-syscall") {
      opt.allow_any_syscall = true;
    } else if (a == "--allow-sysctl") {
      opt.allow_sysctl = true;
    } else if (a == "--no-notif-reply") {
      opt.no_notif_reply = true;
    } else if (a == "--no-namespaces") {
      opt.namespaces = false;
    } else if (a == "--no-audit") {
      opt.audit = false;
    } else if (a == "--verbose") {
      opt.verbose = true;
    } else if (a == "--always-trace") {
      opt.always_trace = true;
    } else if (a == "--untraced") {
      opt.untraced = true;
    } else if (a == "--stats") {
      opt.stats = true;
    } else if (a == "--no-cache-read") {
      opt.cache_read = CacheRead::Off;
    } else if (a.rfind("--cache-read=", 0) == 0) {
      const std::string v = a.substr(13);
      opt.cache_read = v == "last" ? CacheRead::Last : v == "new" ? CacheRead::New
                       : v == "off"  ? CacheRead::Off  : CacheRead::Each;
    } else if (a.rfind("--anchor=", 0) == 0) {
      anchor = std::atoi(a.c_str() + 9);
    } else if (a == "--dmesg") {
      dmesg = true;
    } else if (a == "--jit=0" || a == "--jit=1") {
      anchor_jit = a.back() - '0';
    } else if (a.rfind("--micro=", 0) == 0) {
      anchor = std::atoi(a.c_str() + 8);
      micro = true;
    } else if (a.rfind("--witness=", 0) == 0) {
      const std::string v = a.substr(10);
      opt.witness = v == "never" ? -1 : v == "always" ? 1 : 0;
    } else if (opt.pid1) {
      // The kernel passes unknown command-line words to init: ignore them.
    } else {
      usage();
      return 2;
    }
  }
  std::vector<std::string> notes;
  if (anchor > 0) {
    // The timing loops alone (bench/bench_vm.sh), then power off / exit.
    if (opt.pid1) logf("init at %.3f s since kernel start", uptime_s());
    if (opt.pid1) boot(notes);
    if (dmesg) {  // the kernel log (and the trace buffer): what was not printed on the console
      const int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
      char b[2048];
      ssize_t n;
      while (fd >= 0 && (n = read(fd, b, sizeof b - 1)) > 0) {
        b[n] = 0;
        std::fprintf(stderr, "kmsg: %s", b);
      }
      if (fd >= 0) close(fd);
      const int tfd = open("/sys/kernel/tracing/trace", O_RDONLY | O_CLOEXEC);
      while (tfd >= 0 && (n = read(tfd, b, sizeof b - 1)) > 0) {
        b[n] = 0;
        std::fprintf(stderr, "%s", b);
      }
      if (tfd >= 0) close(tfd);
    }
    if (anchor_jit >= 0 && (opt.pid1 || opt.allow_sysctl)) {
      if (const int fd = open("/proc/sys/net/core/bpf_jit_enable", O_WRONLY | O_CLOEXEC); fd >= 0) {
        const char v[2] = {static_cast<char>('0' + anchor_jit), '\n'};
        if (write(fd, v, 2) != 2) logf("cannot set bpf_jit_enable");
        close(fd);
      }
    }
    run_micro(anchor, micro);
    if (opt.pid1) power_off();
    return 0;
  }
  std::string boot_times;
  auto stamp = [&](const char* what) {
    if (!opt.stats) return;
    char b[64];
    std::snprintf(b, sizeof b, " %s %.3f", what, uptime_s());
    boot_times += b;
  };
  stamp("init");
  if (opt.pid1) {
    boot(notes);
    stamp("mounted");
    for (const std::string& n : notes) logf("%s", n.c_str());
    if (!have_channel) {
      const int fd = open_port(notes);
      if (fd < 0) {
        logf("no channel to the host: powering off");
        power_off();
      }
      opt.fd_in = opt.fd_out = fd;
      stamp("port");
    }
  } else {
    if (!have_channel) {
      usage();
      return 2;
    }
    host_tracefs(notes);
  }

  Engine engine(opt);
  std::string why;
  if (!engine.start(&why)) {
    logf("cannot start: %s", why.c_str());
    write_all(opt.fd_out, vm::encode_frame(vm::MsgType::Log, "agent cannot start: " + why));
    if (opt.pid1) power_off();
    return 1;
  }
  stamp("engine");
  vm::Hello hello;
  engine.probe(&hello);
  stamp("probed");
  if (opt.stats) {
    notes.push_back("boot times (s since kernel start):" + boot_times);
    if (opt.verbose) logf("%s", notes.back().c_str());
  }
  if (!write_all(opt.fd_out, vm::encode_frame(vm::MsgType::Hello, vm::encode(hello)))) {
    if (opt.pid1) power_off();
    return 1;
  }
  auto send_logs = [&] {
    for (const std::string& n : notes) write_all(opt.fd_out, vm::encode_frame(vm::MsgType::Log, n));
    notes.clear();
    for (const std::string& n : engine.take_logs())
      write_all(opt.fd_out, vm::encode_frame(vm::MsgType::Log, n));
  };
  send_logs();

  // Undecoded input. After a bad frame the agent resynchronizes on the next
  // frame magic instead of dropping everything that arrived with it.
  std::string in;
  std::vector<char> buf(1 << 16);
  const std::string magic("SDF1", 4);
  for (;;) {
    const ssize_t n = read(opt.fd_in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the host went away
    in.append(buf.data(), static_cast<size_t>(n));
    for (;;) {
      if (in.size() >= magic.size() && in.compare(0, magic.size(), magic) != 0) {
        const size_t next = in.find(magic, 1);
        const size_t drop = next == std::string::npos ? in.size() - (magic.size() - 1) : next;
        write_all(opt.fd_out, vm::encode_frame(vm::MsgType::Log,
                                               "bad frame: bad frame magic (skipped " +
                                                   std::to_string(drop) + " bytes)"));
        in.erase(0, drop);
        continue;
      }
      if (in.size() < vm::kHeaderSize) break;
      std::optional<vm::Frame> f;
      try {
        vm::FrameDecoder dec;
        dec.feed(in.data(), in.size());
        f = dec.next();
      } catch (const std::exception& e) {
        write_all(opt.fd_out, vm::encode_frame(vm::MsgType::Log, std::string("bad frame: ") + e.what()));
        in.erase(0, 1);  // look for the next magic
        continue;
      }
      if (!f) break;
      in.erase(0, vm::kHeaderSize + f->payload.size());
      try {
        switch (f->type) {
          case vm::MsgType::Ping:
            write_all(opt.fd_out, vm::encode_frame(vm::MsgType::Pong, f->payload));
            break;
          case vm::MsgType::Shutdown: {
            const double t0 = uptime_s();
            engine.stop();
            if (opt.stats) logf("shutdown: engine stopped in %.1f ms", (uptime_s() - t0) * 1e3);
            if (opt.pid1) power_off();
            return 0;
          }
          case vm::MsgType::Run: {
            const vm::RunBatch b = vm::decode_run(f->payload);
            const vm::ResultBatch r = engine.run_batch(b);
            send_logs();
            write_all(opt.fd_out, vm::encode_frame(vm::MsgType::Result, vm::encode(r)));
            break;
          }
          default:
            write_all(opt.fd_out, vm::encode_frame(vm::MsgType::Log,
                                                   "unexpected message type " +
                                                       std::to_string(static_cast<int>(f->type))));
        }
      } catch (const std::exception& e) {
        write_all(opt.fd_out, vm::encode_frame(vm::MsgType::Log,
                                               std::string("bad message: ") + e.what()));
      }
    }
  }
  engine.stop();
  if (opt.pid1) power_off();
  return 0;
}

}  // namespace
}  // namespace secdiff::agent

int main(int argc, char** argv) {
  try {
    return secdiff::agent::run(argc, argv);
  } catch (const std::exception& e) {
    secdiff::agent::logf("fatal: %s", e.what());
  } catch (...) {
    secdiff::agent::logf("fatal: unknown exception");
  }
  if (getpid() == 1) {
    sync();
    reboot(RB_POWER_OFF);
  }
  return 1;
}
