// Preloaded (LD_PRELOAD) into `layoutdb` by the kill tests: counts the writes, syncs and truncations
// of files whose path contains $LAYOUTDB_KILL_MATCH (the database, its -wal, -shm and -journal), and
// kills the process with SIGKILL just before the $LAYOUTDB_KILL_AT-th one (1-based; 0 or unset: never),
// so that a test can stop a writer at every step of a commit or a checkpoint, not only between them.
// $LAYOUTDB_KILL_LOG, if set, receives one line naming the call it killed at, or, at a normal exit,
// "count N" (how many such calls the run made).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static long g_count;

static int Matches(int fd, char* path, size_t size) {
  const char* match = getenv("LAYOUTDB_KILL_MATCH");
  if (!match || !*match) return 0;
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, size - 1);
  if (n <= 0) return 0;
  path[n] = '\0';
  return strstr(path, match) != NULL;
}

static void Log(const char* line) {
  const char* log = getenv("LAYOUTDB_KILL_LOG");
  if (!log || !*log) return;
  const int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  if (write(fd, line, strlen(line)) < 0) {
  }
  close(fd);
}

// Counts a call on `fd`; at the chosen one, says where and dies.
static void Step(int fd, const char* call, long long offset, size_t bytes) {
  char path[4096];
  if (!Matches(fd, path, sizeof path)) return;
  const long n = __atomic_add_fetch(&g_count, 1, __ATOMIC_SEQ_CST);
  const char* at = getenv("LAYOUTDB_KILL_AT");
  if (!at || atol(at) != n) return;
  char line[4300];
  snprintf(line, sizeof line, "killed at call %ld: %s(%s, offset %lld, %zu bytes)\n", n, call, path,
           offset, bytes);
  Log(line);
  kill(getpid(), SIGKILL);
  pause();
}

__attribute__((destructor)) static void AtExit(void) {
  if (!getenv("LAYOUTDB_KILL_MATCH")) return;
  char line[64];
  snprintf(line, sizeof line, "count %ld\n", g_count);
  Log(line);
}

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t write(int fd, const void* buf, size_t n) {
  Step(fd, "write", -1, n);
  return NEXT(write)(fd, buf, n);
}
ssize_t pwrite(int fd, const void* buf, size_t n, off_t offset) {
  Step(fd, "pwrite", (long long)offset, n);
  return NEXT(pwrite)(fd, buf, n, offset);
}
ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t offset) {
  Step(fd, "pwrite64", (long long)offset, n);
  return NEXT(pwrite64)(fd, buf, n, offset);
}
int fsync(int fd) {
  Step(fd, "fsync", -1, 0);
  return NEXT(fsync)(fd);
}
int fdatasync(int fd) {
  Step(fd, "fdatasync", -1, 0);
  return NEXT(fdatasync)(fd);
}
int ftruncate(int fd, off_t length) {
  Step(fd, "ftruncate", (long long)length, 0);
  return NEXT(ftruncate)(fd, length);
}
int ftruncate64(int fd, off64_t length) {
  Step(fd, "ftruncate64", (long long)length, 0);
  return NEXT(ftruncate64)(fd, length);
}
