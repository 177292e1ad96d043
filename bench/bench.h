/* yxbench: what every implementation shares (bench/bench.c) and the small
 * interface each one provides (bench/impl-*.c), as h2load keeps its
 * workload code apart from one file per protocol.
 *
 * The workload code owns the options, the clock, the RESULT line, the
 * server child and its stdio (and, for W8, the toxiproxy route to it), the
 * ping-pong engine of W4/W7/W8lat, the RSS and heap probes of W6 and the
 * receive timeline of W8. An implementation only moves bytes: it sets up
 * its transport, opens or accepts its streams (or connections) and calls
 * back into the workload code (pp_read(), bulk_received(), ...).
 */
#ifndef YXBENCH_BENCH_H_
#define YXBENCH_BENCH_H_

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define MAX_DEPTH 256
#define RX_SIZE 65536

typedef enum {
  WL_BULK, /* W1, W2, W8, W8x8, W8r100, W8m */
  WL_SPR,  /* W5 */
  WL_ECHO, /* W3 */
  WL_RPC,  /* W4 */
  WL_IDLE, /* W6 */
  WL_HOL,  /* W7, W7p, W8lat */
  WL_MANY  /* W9 (bench/w9.c) */
} wl_kind_t;

typedef enum { TR_TCP, TR_PIPE, TR_SOCKETPAIR } transport_t;

/* One implementation. client() spawns the server child, runs the workload,
 * prints the RESULT line and returns the exit status; server() is the
 * child's side. print_config() adds the implementation's non-default
 * settings to the RESULT line (may be NULL). */
typedef struct bench_impl_s {
  const char* name;
  int (*client)(int argc, char** argv);
  int (*server)(void);
  void (*print_config)(void);
} bench_impl_t;

extern const bench_impl_t bench_libyamux;
extern const bench_impl_t bench_raw_uv;
extern const bench_impl_t bench_raw_block;

/* ---- options (yxbench.c parses them; the child gets the same) ----------- */

extern const bench_impl_t* impl;
extern int is_server;
extern const char* wname;
extern wl_kind_t wkind;
extern transport_t transport;
extern int wan;           /* the W8 family: through -proxy, receive timeline */
extern uint64_t opt_size; /* bulk: the total over all streams */
extern uint64_t opt_chunk;
extern uint64_t opt_depth;
extern uint64_t opt_streams;
extern uint64_t opt_count;
extern uint64_t opt_msg;
extern uint64_t opt_resp;
extern uint64_t opt_frame;      /* libyamux max_frame_size; 0: the default */
extern uint64_t opt_window;     /* libyamux initial_window; 0: the default */
extern uint64_t opt_maxinbound; /* libyamux max_inbound_streams; 0: default */
extern uint64_t opt_maxwindow;  /* libyamux max_window; 0: the default */
/* libyamux: the ping-pong stream (W4, W7's stream B, W8lat) at urgency 0
 * (yamux_stream_set_priority), the bulk stream at the default 3. */
extern uint64_t opt_prio;
extern int opt_read_mode;     /* W6 -mode=read */
extern uint64_t opt_warmup;   /* W7 bulk warm-up, ms */
extern uint64_t opt_exitwait; /* W6: seconds to wait for the child */
extern const char* opt_proxy; /* W8: toxiproxy "host:port/name" */

/* ---- state every workload uses ------------------------------------------ */

extern uv_loop_t* loop;
extern char rxbuf[RX_SIZE]; /* every read lands here and is consumed at once */
extern char* pattern;       /* the payload: one chunk, reused by every write */
extern char* reqbuf;        /* -msg bytes (requests, pings) */
extern char* respbuf;       /* -resp bytes (W5 responses) */
extern char ackbyte;
extern uint64_t t_start, t_end;
extern int done;              /* the measured part is over */
extern uint64_t bsent, brecv; /* bulk bytes written / received */
extern uint64_t bdone;        /* W7: bulk bytes whose write completed */
extern uint64_t started, completed, served; /* W3/W5 streams or requests */
extern uint64_t nconns; /* server: streams / connections accepted */

void die(const char* fmt, ...);
void check_uv(int rc, const char* what);
/* A client's read or write failed: fatal before the measured part is over,
 * expected after (the session or connection is ending). */
void io_error(const char* what, const char* err);
double elapsed_secs(void);
void write_all(int fd, const char* p, size_t n); /* blocking */

/* ---- the server child --------------------------------------------------- */

extern uv_process_t child;
extern int child_exited;
extern int64_t child_status;
extern int port_fd;            /* the child's stdout in TCP mode */
extern int extra_tx, extra_rx; /* W7p raw: the child's fds 3 and 4 */

void on_child_exit(uv_process_t* p, int64_t status, int sig);
/* Reads one line (without its newline) from the child's stdout (port_fd),
 * blocking. */
void read_child_line(char* line, size_t size);
/* Fills opts to run this program (its path goes in self, size bytes) as
 * the server child. Returns the argv to free once spawned. */
char** child_options(int argc, char** argv, char* self, size_t size,
                     uv_process_options_t* opts);
/* Spawns the child with stdio (3 entries, 5 for W7p's raw pipe pairs). */
void spawn_child(int argc, char** argv, uv_stdio_container_t* stdio);
/* TCP: spawns the child and returns the address to connect to: the port
 * it printed or, with -proxy, the proxy once pointed at that port. */
void spawn_tcp_child(int argc, char** argv, struct sockaddr_in* addr);
/* Pipes: the child's stdin and stdout are two pipe(2)s. */
void spawn_pipe_child(int argc, char** argv, int* our_tx, int* our_rx);
/* Waits for the child to exit and checks its status; W8: reads the
 * receive report the child printed. */
void reap_child(void);
/* The server's end: runs the loop, checks what the workload received. */
int server_run(void);
/* Reads the child's stdout (after its PORT line) with the loop, line by
 * line (W6: the server reports there). */
void watch_child_out(void (*cb)(const char* line));

/* ---- transports --------------------------------------------------------- */

extern uv_tcp_t listener;

void set_nodelay_fd(int fd);
void on_handle_closed(uv_handle_t* h);
void sockaddr_loopback(struct sockaddr_in* addr, int port);
void print_port(int port);
/* Listens on 127.0.0.1:0 (backlog as the kernel allows), prints PORT. */
void uv_listen_tcp(uv_connection_cb cb);
void pipe_open_fd(uv_pipe_t* p, int fd);
/* Accepts a TCP connection on t (not yet initialised), TCP_NODELAY on. */
void tcp_accept(uv_stream_t* server, int status, uv_tcp_t* t);
void raw_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);

/* ---- pools -------------------------------------------------------------- */

/* Fixed-size records (an implementation's per-stream state), zeroed when
 * taken. */
typedef struct pool_s {
  size_t size;
  void* free;
} pool_t;

void* pool_get(pool_t* p);
void pool_put(pool_t* p, void* rec);
void pool_free(pool_t* p);

/* Echo servers copy what they read into one of these and write it back. In
 * front of the data is room for the implementation's write request
 * (ebuf_req_size bytes, set before the first ebuf_get()). */
typedef struct ebuf_s {
  struct ebuf_s* next;
  size_t cap;
  char* data;
} ebuf_t;

extern size_t ebuf_req_size;
ebuf_t* ebuf_get(const void* p, size_t n);
void* ebuf_req(ebuf_t* e);
void ebuf_put(ebuf_t* e);
void ebuf_pool_free(void);

/* Free write slots: -depth requests of one chunk each. */
typedef struct slots_s {
  int free[MAX_DEPTH];
  unsigned int nfree;
} slots_t;

void slots_init(slots_t* s);
int slot_take(slots_t* s);
void slot_give(slots_t* s, int i);

/* ---- per-stream state the workloads keep -------------------------------- */

/* Embedded in each implementation's stream (or connection) record. */
typedef struct bench_conn_s {
  uint64_t got;  /* bytes read in this message or response */
  int responded; /* W5 server: the response is queued */
  uint64_t todo; /* ping-pong: timed round trips left in this phase */
  uint64_t t0;   /* when this round trip's write started */
  int warm;      /* the untimed round trip is done */
  int wpending;  /* our write request is in flight */
  int want;      /* a write waits for it */
  int bulk;      /* server: W7's bulk stream (discard, ack its EOF) */
} bench_conn_t;

/* Server: counts an accepted stream or connection; 1 if it is W7's bulk
 * stream A (the first one). */
int bench_next_is_bulk(void);

/* ---- ping-pong (W4, W7's stream B), the same for every implementation --- */

/* Provided by the implementation: pp_write sends -msg bytes on c, pp_end
 * ends everything once measured, pp_stop_bulk (W7) stops stream A, after
 * which it calls bench_pp_bulk_acked() when the server has read all of A. */
extern void (*pp_write)(bench_conn_t* c);
extern void (*pp_end)(void);
extern void (*pp_stop_bulk)(void);
extern bench_conn_t** pp_streams;
extern uint64_t pp_nstreams;

enum { PP_WARM, PP_TIMED, PP_DRAIN, PP_IDLE, PP_DONE };
extern int pp_phase;

void pp_alloc(uint64_t nstreams);
void pp_send(bench_conn_t* c);    /* starts a round trip on c */
void pp_written(bench_conn_t* c); /* c's write request completed */
void pp_bulk_acked(void);
/* n bytes of c's reply arrived: completes the round trip when all have. */
void pp_read(bench_conn_t* c, size_t n);
/* n bytes of c's -msg echo (W3) arrived: 1 when it is complete. */
int echo_read(bench_conn_t* c, size_t n);

/* ---- W8: the server's receive timeline ---------------------------------- */

/* Server: n bulk bytes arrived (all streams together). Returns 1 once all
 * -size bytes are in (after printing the W8 report for the client). */
int bulk_received(uint64_t n);

/* Server: the RSS baseline, before any stream exists. */
void rx_init(void);
/* raw_uv W8: the untimed 1-byte round trip that shows the link's delay. */
extern double probe_rtt_ms;

/* ---- W6 ----------------------------------------------------------------- */

uint64_t rss_bytes(void);
uint64_t heap_bytes(void);

/* ---- RESULT line -------------------------------------------------------- */

/* "RESULT impl=... w=... transport=..." */
void result_begin(void);
/* The implementation's config changes, the newline, flush. */
void result_end(void);
/* The RESULT line of the workload (W6's is the implementation's own). */
void print_result(void);

/* ---- W9: many sessions, one loop per core (bench/w9.c) ------------------ */

extern uint64_t opt_sessions; /* sessions (TCP connections) */
extern uint64_t opt_busy;     /* sessions doing the busy phase's round trips */
extern uint64_t opt_inflight; /* sessions being established at once */
extern uint64_t opt_loops;    /* loops (threads) per process; 0: one per core */
extern uint64_t opt_keepalive; /* keepalive interval, ms */
extern uint64_t opt_idle;      /* the measured idle time, ms */

typedef struct w9_loop_s w9_loop_t;

/* A W9 implementation. Every function but init runs on the thread of the
 * loop it is given; what a phase asks of a loop is over when the
 * implementation calls w9_done(l). */
typedef struct w9_impl_s {
  const bench_impl_t* impl;
  /* Both, before the loops start: the configuration and, on the client,
   * the per-session records. */
  void (*init)(unsigned int nloops);
  /* Server: accept on fd, this loop's own listening socket (SO_REUSEPORT,
   * already listening); every connection is one session served here. */
  void (*serve)(w9_loop_t* l, int fd);
  /* Client: establish this loop's sessions (w9_first(l), w9_next()) with at
   * most w9_inflight(l) at once; each is done after its first round trip
   * on its one stream. Then w9_done(l). */
  void (*connect)(w9_loop_t* l);
  /* Client: this loop's busy sessions (index < -busy) do their round trips
   * (w9_slice()), each latency stored with w9_lat(). Then w9_done(l). */
  void (*busy)(w9_loop_t* l);
  /* Client: adds the keepalive pings this loop's sessions have sent to
   * *pings, then w9_done(l). NULL if the implementation cannot tell. */
  void (*count_pings)(w9_loop_t* l, uint64_t* pings);
  /* Both: close everything of this loop; its thread ends once the loop has
   * no more handles. */
  void (*stop)(w9_loop_t* l);
  /* Both, at the settle point (from the main thread): diagnostics on
   * stderr (may be NULL). */
  void (*report)(void);
  /* The settings changed from the library's defaults (the keepalive
   * interval), printed in the RESULT line. */
  void (*print_config)(void);
} w9_impl_t;

extern const w9_impl_t w9_libyamux;

struct w9_loop_s {
  uv_loop_t loop;
  unsigned int index;
  void* data; /* the implementation's */
  /* private to w9.c */
  uv_thread_t thread;
  uv_async_t cmd;
  int fd;
  int op;
  uint64_t* pings;
  uint64_t t_done;
};

extern unsigned int w9_nloops;
extern struct sockaddr_in w9_addr; /* client: the server's address */

/* The loop's part of the phase is over. */
void w9_done(w9_loop_t* l);
/* This loop's sessions: i = w9_first(l); i < opt_sessions; i = w9_next(i). */
uint64_t w9_first(const w9_loop_t* l);
uint64_t w9_next(uint64_t i);
/* Sessions this loop may establish at once. */
uint64_t w9_inflight(const w9_loop_t* l);
/* Busy session i's round trips: n of them, stored from w9_lat(i)[0]. */
uint64_t w9_slice(uint64_t i);
uint64_t* w9_lat(uint64_t i);

int w9_client(int argc, char** argv);
int w9_server(void);

#endif /* YXBENCH_BENCH_H_ */
