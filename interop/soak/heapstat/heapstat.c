/* heapstat: an LD_PRELOAD shim the soak puts into the echo it runs (glibc;
 * not part of the library, nor of the echo). It answers the soak's question
 * "how much heap does the echo use, now" from inside the process, where
 * VmRSS alone cannot: glibc keeps freed heap pages resident (only the top of
 * the heap is trimmed, and only past M_TRIM_THRESHOLD), so after a load peak
 * RSS stays near the peak although the memory is free.
 *
 * SOAK_HEAPSTAT_FDS=R,W names two pipe fds the soak passed. A thread reads
 * one request byte at a time from R and writes one line to W:
 *
 *   inuse_kib=N heap_kib=N free_kib=N mmap_kib=N rss_kib=N rss_trimmed_kib=N
 *
 * inuse = allocated bytes (mallinfo2 uordblks + hblkhd), heap = the heap
 * arenas' size, free = free bytes inside them, mmap = chunks mapped on their
 * own, rss = VmRSS. For request byte 't' the thread then calls
 * malloc_trim(0), which gives the free pages back, and rss_trimmed is VmRSS
 * after it (for 's' it is rss again). The thread allocates nothing; it ends
 * at EOF on R. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int req_fd = -1;
static int resp_fd = -1;

static long rss_kib(void) {
  char b[128];
  long size, res;
  ssize_t n;
  int fd;

  fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  n = read(fd, b, sizeof(b) - 1);
  close(fd);
  if (n <= 0) return -1;
  b[n] = '\0';
  if (sscanf(b, "%ld %ld", &size, &res) != 2) return -1;
  return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void* serve(void* arg) {
  struct mallinfo2 m;
  char line[256];
  char c;
  long rss, trimmed;
  int n;

  (void)arg;
  while (read(req_fd, &c, 1) == 1) {
    m = mallinfo2();
    rss = rss_kib();
    trimmed = rss;
    if (c == 't') {
      malloc_trim(0);
      trimmed = rss_kib();
    }
    n = snprintf(line, sizeof(line),
                 "inuse_kib=%zu heap_kib=%zu free_kib=%zu mmap_kib=%zu "
                 "rss_kib=%ld rss_trimmed_kib=%ld\n",
                 (m.uordblks + m.hblkhd) / 1024, m.arena / 1024,
                 m.fordblks / 1024, m.hblkhd / 1024, rss, trimmed);
    if (write(resp_fd, line, (size_t)n) != n) break;
  }
  close(req_fd);
  close(resp_fd);
  return NULL;
}

__attribute__((constructor)) static void heapstat_init(void) {
  pthread_t th;
  const char* fds;

  fds = getenv("SOAK_HEAPSTAT_FDS");
  if (fds == NULL || sscanf(fds, "%d,%d", &req_fd, &resp_fd) != 2) return;
  /* Not inherited by anything the process might run. */
  fcntl(req_fd, F_SETFD, FD_CLOEXEC);
  fcntl(resp_fd, F_SETFD, FD_CLOEXEC);
  if (pthread_create(&th, NULL, serve, NULL) == 0) pthread_detach(th);
}
