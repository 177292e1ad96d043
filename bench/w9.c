/* yxbench: W9, many sessions (bench/README.md), the workload code every C
 * implementation shares: the loops (one per core, each on its own thread),
 * the phases, the probes of both processes and the RESULT line. An
 * implementation (w9_impl_t, e.g. bench/w9-libyamux.c) only sets up and
 * runs sessions on the loop it is given.
 *
 * The client drives the phases from its main thread, which blocks between
 * them; it sends each loop a command through a uv_async_t and waits on a
 * semaphore until every loop is done with it. It reads the server's RSS and
 * CPU time from /proc/<pid>, as it reads its own. The server's main thread
 * reads commands on its stdin: "SETTLE" (answered "SETTLED"; a C program
 * has no garbage collector to run, the Go and Rust servers do what they
 * have to here) and EOF, which ends it.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

uint64_t opt_sessions = 10000;
uint64_t opt_busy = 1000;
uint64_t opt_inflight = 256;
uint64_t opt_loops;
uint64_t opt_keepalive = 1000;
uint64_t opt_idle = 10000;

/* Both sides settle this long after the last session is established. */
#define W9_SETTLE_MS 2000
/* Descriptors beyond one per session: stdio, the loops' own, listeners. */
#define W9_SPARE_FDS 64

enum { OP_NONE, OP_CONNECT, OP_BUSY, OP_PINGS, OP_STOP };

unsigned int w9_nloops;
static w9_loop_t* loops;
static const w9_impl_t* w9;
static uv_sem_t sem;
static uint64_t* lat; /* every busy round trip, in per-session slices */

static const w9_impl_t* w9_of(const bench_impl_t* i) {
  if (i == &bench_libyamux) return &w9_libyamux;
  die("W9 is not implemented for %s", i->name);
  return NULL;
}

/* ---- what implementations call ------------------------------------------ */

void w9_done(w9_loop_t* l) {
  l->t_done = uv_hrtime();
  uv_sem_post(&sem);
}

uint64_t w9_first(const w9_loop_t* l) {
  return l->index;
}

uint64_t w9_next(uint64_t i) {
  return i + w9_nloops;
}

uint64_t w9_inflight(const w9_loop_t* l) {
  uint64_t n = opt_inflight / w9_nloops;
  (void)l;
  return n > 0 ? n : 1;
}

static uint64_t busy_sessions(void) {
  return opt_busy < opt_sessions ? opt_busy : opt_sessions;
}

uint64_t w9_slice(uint64_t i) {
  uint64_t b = busy_sessions();
  if (i >= b) return 0;
  return opt_count / b + (i < opt_count % b);
}

uint64_t* w9_lat(uint64_t i) {
  uint64_t b = busy_sessions();
  uint64_t rem = opt_count % b;
  return lat + i * (opt_count / b) + (i < rem ? i : rem);
}

/* ---- the loops ----------------------------------------------------------- */

static void on_cmd(uv_async_t* a) {
  w9_loop_t* l = a->data;
  switch (__atomic_exchange_n(&l->op, OP_NONE, __ATOMIC_ACQ_REL)) {
    case OP_CONNECT:
      w9->connect(l);
      break;
    case OP_BUSY:
      w9->busy(l);
      break;
    case OP_PINGS:
      w9->count_pings(l, l->pings);
      break;
    case OP_STOP:
      w9->stop(l);
      uv_close((uv_handle_t*)&l->cmd, NULL);
      break;
  }
}

static void loop_thread(void* arg) {
  w9_loop_t* l = arg;
  check_uv(uv_loop_init(&l->loop), "loop_init");
  check_uv(uv_async_init(&l->loop, &l->cmd, on_cmd), "async_init");
  l->cmd.data = l;
  if (is_server) w9->serve(l, l->fd);
  uv_sem_post(&sem);
  check_uv(uv_run(&l->loop, UV_RUN_DEFAULT), "run");
  if (uv_loop_close(&l->loop) != 0) die("loop %u: handles left", l->index);
}

/* fds: the server's listening sockets, one per loop; NULL on the client. */
static void start_loops(const int* fds) {
  unsigned int k;
  for (k = 0; k < w9_nloops; k++) {
    loops[k].index = k;
    loops[k].fd = fds != NULL ? fds[k] : -1;
    check_uv(uv_thread_create(&loops[k].thread, loop_thread, &loops[k]),
             "thread_create");
  }
  for (k = 0; k < w9_nloops; k++) uv_sem_wait(&sem);
}

static void send_op(w9_loop_t* l, int op) {
  __atomic_store_n(&l->op, op, __ATOMIC_RELEASE);
  check_uv(uv_async_send(&l->cmd), "async_send");
}

/* Runs a phase on every loop; returns when the last one finished it. */
static uint64_t run_phase(int op) {
  uint64_t last = 0;
  unsigned int k;
  for (k = 0; k < w9_nloops; k++) send_op(&loops[k], op);
  for (k = 0; k < w9_nloops; k++) uv_sem_wait(&sem);
  for (k = 0; k < w9_nloops; k++)
    if (loops[k].t_done > last) last = loops[k].t_done;
  return last;
}

static void stop_loops(void) {
  unsigned int k;
  for (k = 0; k < w9_nloops; k++) send_op(&loops[k], OP_STOP);
  for (k = 0; k < w9_nloops; k++) uv_thread_join(&loops[k].thread);
}

static void setup(void) {
  w9 = w9_of(impl);
  w9_nloops = opt_loops ? (unsigned int)opt_loops : uv_available_parallelism();
  loops = calloc(w9_nloops, sizeof(*loops));
  if (loops == NULL) die("calloc");
  check_uv(uv_sem_init(&sem, 0), "sem_init");
  w9->init(w9_nloops);
}

/* One descriptor per session, and some to spare. */
static void raise_nofile(void) {
  struct rlimit rl;
  uint64_t need = opt_sessions + W9_SPARE_FDS;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) die("getrlimit: %s", strerror(errno));
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= need) return;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
    die("-sessions=%" PRIu64 " needs %" PRIu64
        " open files in each process, but the hard limit (RLIMIT_NOFILE, "
        "ulimit -Hn) is %" PRIu64 ": raise it or use fewer sessions",
        opt_sessions, need, (uint64_t)rl.rlim_max);
  rl.rlim_cur = need;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) die("setrlimit: %s", strerror(errno));
}

/* ---- probes of a process (ours or the server's) ------------------------- */

static uint64_t proc_rss(int pid) {
  char path[64], line[256];
  uint64_t kb = 0;
  FILE* f;
  snprintf(path, sizeof(path), "/proc/%d/status", pid);
  if ((f = fopen(path, "r")) == NULL) die("%s: %s", path, strerror(errno));
  while (fgets(line, sizeof(line), f) != NULL)
    if (sscanf(line, "VmRSS: %" SCNu64 " kB", &kb) == 1) break;
  fclose(f);
  return kb * 1024;
}

/* CPU time of every thread of the process, in ns (schedstat's run time:
 * exact, where utime/stime count 10 ms ticks). */
static uint64_t proc_cpu_ns(int pid) {
  char path[64], file[384];
  uint64_t sum = 0, ns;
  struct dirent* e;
  DIR* d;
  FILE* f;
  snprintf(path, sizeof(path), "/proc/%d/task", pid);
  if ((d = opendir(path)) == NULL) die("%s: %s", path, strerror(errno));
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    snprintf(file, sizeof(file), "%s/%s/schedstat", path, e->d_name);
    if ((f = fopen(file, "r")) == NULL) continue; /* the thread ended */
    if (fscanf(f, "%" SCNu64, &ns) == 1) sum += ns;
    fclose(f);
  }
  closedir(d);
  return sum;
}

/* ---- the client --------------------------------------------------------- */

struct sockaddr_in w9_addr;
static int ctl_fd = -1; /* the server's stdin */

static void spawn_server(int argc, char** argv) {
  uv_stdio_container_t stdio[3];
  uv_file in[2], out[2];
  char line[64];
  int port;

  check_uv(uv_pipe(in, 0, 0), "pipe");
  check_uv(uv_pipe(out, 0, 0), "pipe");
  stdio[0].flags = UV_INHERIT_FD;
  stdio[0].data.fd = in[0];
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = out[1];
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  spawn_child(argc, argv, stdio);
  close(in[0]);
  close(out[1]);
  ctl_fd = in[1];
  port_fd = out[0];
  read_child_line(line, sizeof(line));
  if (sscanf(line, "PORT %d", &port) != 1) die("bad port line '%s'", line);
  sockaddr_loopback(&w9_addr, port);
}

static uint64_t sum_pings(void) {
  uint64_t* per = calloc(w9_nloops, sizeof(*per));
  uint64_t sum = 0;
  unsigned int k;
  if (per == NULL) die("calloc");
  for (k = 0; k < w9_nloops; k++) loops[k].pings = &per[k];
  run_phase(OP_PINGS);
  for (k = 0; k < w9_nloops; k++) sum += per[k];
  free(per);
  return sum;
}

static int cmp_u64(const void* a, const void* b) {
  uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
  return x < y ? -1 : x > y;
}

/* Nearest rank, in microseconds, of the sorted v. */
static double rank_us(const uint64_t* v, uint64_t n, double p) {
  uint64_t k = (uint64_t)(p / 100.0 * (double)n + 0.999999);
  if (k < 1) k = 1;
  if (k > n) k = n;
  return (double)v[k - 1] / 1e3;
}

int w9_client(int argc, char** argv) {
  uint64_t srv_rss0, srv_rss1, rss0, rss1, srv_cpu0, srv_cpu1, cpu0, cpu1;
  uint64_t t0, t_est, t_idle0, t_idle1, t_busy0, t_busy1, pings0 = 0, pings1;
  uint64_t settled_at, now, n = opt_sessions;
  double idle_secs, busy_secs;
  int srv, self = getpid();
  char line[64];

  raise_nofile();
  setup();
  lat = malloc((size_t)opt_count * sizeof(*lat));
  if (lat == NULL) die("malloc");
  spawn_server(argc, argv);
  srv = child.pid;
  start_loops(NULL);

  /* Before any connection: both processes are up, loops and all. */
  srv_rss0 = proc_rss(srv);
  rss0 = proc_rss(self);

  t0 = uv_hrtime();
  t_est = run_phase(OP_CONNECT);

  /* Settle, then 10 s of idle with keepalive pinging. */
  write_all(ctl_fd, "SETTLE\n", 7);
  read_child_line(line, sizeof(line));
  if (strcmp(line, "SETTLED") != 0) die("unexpected line '%s'", line);
  settled_at = t_est + (uint64_t)W9_SETTLE_MS * 1000000;
  now = uv_hrtime();
  if (now < settled_at) uv_sleep((unsigned int)((settled_at - now) / 1000000));
  srv_rss1 = proc_rss(srv);
  rss1 = proc_rss(self);
  if (w9->report != NULL) w9->report();
  if (w9->count_pings != NULL) pings0 = sum_pings();
  srv_cpu0 = proc_cpu_ns(srv);
  cpu0 = proc_cpu_ns(self);
  t_idle0 = uv_hrtime();
  uv_sleep((unsigned int)opt_idle);
  srv_cpu1 = proc_cpu_ns(srv);
  cpu1 = proc_cpu_ns(self);
  t_idle1 = uv_hrtime();
  pings1 = w9->count_pings != NULL ? sum_pings() : 0;

  /* Busy. */
  t_busy0 = uv_hrtime();
  t_busy1 = run_phase(OP_BUSY);

  stop_loops();
  close(ctl_fd); /* the server's stdin: EOF ends it */
  reap_child();
  done = 1;

  idle_secs = (double)(t_idle1 - t_idle0) / 1e9;
  busy_secs = (double)(t_busy1 - t_busy0) / 1e9;
  qsort(lat, (size_t)opt_count, sizeof(*lat), cmp_u64);
  result_begin();
  printf(" sessions=%" PRIu64 " busy=%" PRIu64 " count=%" PRIu64 " msg=%" PRIu64
         " loops=%u connect_secs=%.6f"
         " server_rss_per_session=%.1f client_rss_per_session=%.1f"
         " idle_cpu_pct=%.2f client_idle_cpu_pct=%.2f idle_secs=%.3f",
         n, busy_sessions(), opt_count, opt_msg, w9_nloops,
         (double)(t_est - t0) / 1e9,
         ((double)srv_rss1 - (double)srv_rss0) / (double)n,
         ((double)rss1 - (double)rss0) / (double)n,
         (double)(srv_cpu1 - srv_cpu0) / 1e9 / idle_secs * 100,
         (double)(cpu1 - cpu0) / 1e9 / idle_secs * 100, idle_secs);
  if (w9->count_pings != NULL)
    printf(" idle_pings_per_session=%.2f",
           (double)(pings1 - pings0) / (double)n);
  printf(" secs=%.6f rtt_per_s=%.0f p50_us=%.1f p99_us=%.1f max_us=%.1f",
         busy_secs, (double)opt_count / busy_secs, rank_us(lat, opt_count, 50),
         rank_us(lat, opt_count, 99), (double)lat[opt_count - 1] / 1e3);
  w9->print_config();
  result_end();
  return 0;
}

/* ---- the server --------------------------------------------------------- */

/* The loops' listening sockets: all bound to the same port with
 * SO_REUSEPORT, so that the kernel spreads the connections over them. */
static int reuseport_listeners(int* fds) {
  struct sockaddr_in addr;
  socklen_t len = sizeof(addr);
  int one = 1, port = 0;
  unsigned int k;
  for (k = 0; k < w9_nloops; k++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket: %s", strerror(errno));
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
      die("SO_REUSEPORT: %s", strerror(errno));
    sockaddr_loopback(&addr, port);
    if (bind(fd, (struct sockaddr*)&addr, sizeof(addr)) != 0)
      die("bind: %s", strerror(errno));
    /* The kernel caps the backlog at net.core.somaxconn. */
    if (listen(fd, 65535) != 0) die("listen: %s", strerror(errno));
    if (port == 0) {
      if (getsockname(fd, (struct sockaddr*)&addr, &len) != 0)
        die("getsockname: %s", strerror(errno));
      port = ntohs(addr.sin_port);
    }
    fds[k] = fd;
  }
  return port;
}

int w9_server(void) {
  char line[64];
  int* fds;
  int port;

  raise_nofile();
  setup();
  fds = calloc(w9_nloops, sizeof(*fds));
  if (fds == NULL) die("calloc");
  port = reuseport_listeners(fds);
  start_loops(fds);
  print_port(port); /* the client takes the RSS baseline now */
  while (fgets(line, sizeof(line), stdin) != NULL) {
    if (strcmp(line, "SETTLE\n") != 0) die("unexpected command '%s'", line);
    if (w9->report != NULL) w9->report();
    printf("SETTLED\n");
    fflush(stdout);
  }
  stop_loops();
  free(fds);
  free(loops);
  return 0;
}
