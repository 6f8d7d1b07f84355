/* Boot smoke test: a tiny static PID 1 for the QEMU guest (tests/vm/boot_smoke.sh).
 *
 * 1. mounts proc, sysfs and devtmpfs;
 * 2. loads /mods/ *.ko in lexical order with finit_module (Debian kernel; none on the debug kernel);
 * 3. in a child: PR_SET_NO_NEW_PRIVS + an allow-all seccomp filter, then checks whether
 *    /proc/self/seccomp_cache exists (only with CONFIG_SECCOMP_CACHE_DEBUG);
 * 4. waits up to 5 s for named virtio-serial ports in /sys/class/virtio-ports;
 * 5. prints   SECDIFF-SMOKE-PORT <dev> <name>   per port, then
 *             SECDIFF-SMOKE-OK <uname -r> cache_debug=<0|1>
 * 6. writes "SECDIFF-SMOKE-VIRTIO <release>\n" to the port named org.secdiff.0 if the host is
 *    connected within 3 s (the host side may check it), and powers off.
 *
 * Build: cc -static -O2 -o smoke_init tests/vm/smoke_init.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/reboot.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void power_off(void) {
  fflush(stdout);
  sync();
  reboot(RB_POWER_OFF);
  for (;;) pause(); /* PID 1 must not exit (that panics; panic=-1 would reboot) */
}

static double uptime_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int filter_ko(const struct dirent *d) {
  size_t n = strlen(d->d_name);
  return n > 3 && strcmp(d->d_name + n - 3, ".ko") == 0;
}

static void load_modules(void) {
  struct dirent **ents;
  int n = scandir("/mods", &ents, filter_ko, alphasort);
  if (n < 0) return; /* no /mods: nothing to load */
  for (int i = 0; i < n; i++) {
    char path[512];
    snprintf(path, sizeof path, "/mods/%s", ents[i]->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    long r = fd < 0 ? -1 : syscall(SYS_finit_module, fd, "", 0);
    int e = errno;
    if (fd >= 0) close(fd);
    if (r == 0 || e == EEXIST)
      printf("SECDIFF-SMOKE-MOD %s ok\n", ents[i]->d_name);
    else
      printf("SECDIFF-SMOKE-MOD %s FAILED %s\n", ents[i]->d_name, strerror(e));
    free(ents[i]);
  }
  free(ents);
}

/* Returns 1 if /proc/self/seccomp_cache exists after installing an allow-all filter, 0 if not,
 * -1 if the filter could not be installed. Runs in a child so PID 1 stays unfiltered. */
static int check_cache_debug(void) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    struct sock_filter insn[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_fprog prog = {.len = 1, .filter = insn};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
      printf("SECDIFF-SMOKE-SECCOMP install failed: %s\n", strerror(errno));
      _exit(2);
    }
    FILE *f = fopen("/proc/self/seccomp_cache", "r");
    if (!f) _exit(errno == ENOENT ? 1 : 3);
    char line[128];
    int allow = 0, filt = 0;
    while (fgets(line, sizeof line, f)) {
      if (strstr(line, " ALLOW")) allow++;
      else if (strstr(line, " FILTER")) filt++;
    }
    fclose(f);
    printf("SECDIFF-SMOKE-CACHE entries ALLOW=%d FILTER=%d\n", allow, filt);
    _exit(0);
  }
  int st;
  if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) return -1;
  switch (WEXITSTATUS(st)) {
    case 0: return 1;
    case 1: return 0;
    default: return -1;
  }
}

static int read_trimmed(const char *path, char *buf, size_t len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, len - 1);
  close(fd);
  if (n < 0) return -1;
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) n--;
  buf[n] = 0;
  return (int)n;
}

/* Prints the named ports; returns how many have a name. Remembers the org.secdiff.0 device. */
static int list_ports(int print, char *secdiff_dev, size_t devlen) {
  DIR *d = opendir("/sys/class/virtio-ports");
  if (!d) return 0;
  int named = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[512], name[256];
    snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
    if (read_trimmed(path, name, sizeof name) <= 0) continue;
    named++;
    if (print) printf("SECDIFF-SMOKE-PORT %s %s\n", e->d_name, name);
    if (secdiff_dev && strcmp(name, "org.secdiff.0") == 0)
      snprintf(secdiff_dev, devlen, "/dev/%s", e->d_name);
  }
  closedir(d);
  return named;
}

static void virtio_hello(const char *dev, const char *release) {
  int fd = -1;
  for (int i = 0; i < 100 && fd < 0; i++) { /* devtmpfs node may lag the sysfs entry */
    fd = open(dev, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) usleep(10000);
  }
  if (fd < 0) {
    printf("SECDIFF-SMOKE-VIRTIO open %s failed: %s\n", dev, strerror(errno));
    return;
  }
  char msg[256];
  int len = snprintf(msg, sizeof msg, "SECDIFF-SMOKE-VIRTIO %s\n", release);
  struct pollfd p = {.fd = fd, .events = POLLOUT};
  if (poll(&p, 1, 3000) == 1 && (p.revents & POLLOUT) && write(fd, msg, (size_t)len) == len)
    printf("SECDIFF-SMOKE-VIRTIO sent %d bytes on %s\n", len, dev);
  else
    printf("SECDIFF-SMOKE-VIRTIO not sent (host not connected?)\n");
  close(fd);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (getpid() != 1) {
    fprintf(stderr, "smoke_init: must run as PID 1 in the guest\n");
    return 1;
  }
  mount("proc", "/proc", "proc", 0, NULL);
  mount("sysfs", "/sys", "sysfs", 0, NULL);
  if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) != 0 && errno != EBUSY)
    printf("SECDIFF-SMOKE-WARN devtmpfs: %s\n", strerror(errno));

  double t_start = uptime_s();
  load_modules();
  int cache = check_cache_debug();

  char dev[300] = "";
  double t_wait = uptime_s();
  while (list_ports(0, NULL, 0) == 0 && uptime_s() - t_wait < 5.0) usleep(5000);
  int ports = list_ports(1, dev, sizeof dev);
  if (ports == 0) printf("SECDIFF-SMOKE-NOPORTS\n");

  struct utsname u;
  uname(&u);
  printf("SECDIFF-SMOKE-TIME uptime_at_init=%.3f ports_after=%.3f\n", t_start, uptime_s() - t_start);
  if (cache < 0) printf("SECDIFF-SMOKE-FAIL seccomp filter install failed\n");
  else printf("SECDIFF-SMOKE-OK %s cache_debug=%d\n", u.release, cache);

  if (dev[0]) virtio_hello(dev, u.release);
  power_off();
  return 0;
}
