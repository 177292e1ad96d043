/* Shared pieces of the libuv driver tests (test/test-uv-*.c): sessions that
 * count their callbacks, an in-process echo server, a client workload that
 * sends pseudo-random bytes on many streams and verifies the echo by hash,
 * and the transports (pipes, socket pairs, TCP on 127.0.0.1). */
#ifndef YAMUX_TEST_UV_UTIL_H
#define YAMUX_TEST_UV_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "task.h"
#include "yamux.h"

/* Sizes are scaled down under ASan, where everything is ~10x slower. */
#if defined(__SANITIZE_ADDRESS__)
#define UVT_SLOW 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UVT_SLOW 1
#endif
#endif
#ifndef UVT_SLOW
#define UVT_SLOW 0
#endif

#define FNV_INIT 0xcbf29ce484222325ull
uint64_t fnv1a(uint64_t h, const void* data, size_t n);
/* xorshift64*: deterministic pseudo-random numbers. */
uint64_t uvt_rand(uint64_t* state);

struct uvt_gen_s;

/* A session plus callback counters. session.data points at it. */
typedef struct uvt_session_s {
  yamux_session_t session;
  int end_count;
  int end_status;
  int close_count;
  int close_on_end; /* yamux_session_close() from end_cb (default 1) */
  uint32_t goaway_code;
  int goaway_count;
  /* Echo server state (uvt_echo_listen). */
  void* echo_head[2];
  unsigned int echo_accepted;
  unsigned int echo_closed;
  uint64_t echo_bytes;
  /* The client workload running on it, if any. */
  struct uvt_gen_s* gen;
} uvt_session_t;

/* yamux_session_init() (asserts success); cfg NULL: defaults, keepalive
 * off. Handles in session.io may be initialized after this. */
void uvt_session_init(uvt_session_t* us, yamux_role_t role,
                      const yamux_config_t* cfg);
/* The end callback for yamux_session_start_*(): counts, and closes the
 * session if close_on_end. */
void uvt_on_end(yamux_session_t* session, int status);
/* yamux_session_close() with the counting close callback. */
void uvt_session_close(uvt_session_t* us);

/* Accepts every stream and echoes it (zero copy, backpressure at 1 MiB),
 * half-closing after the peer's FIN, as examples/echo does. */
void uvt_echo_listen(uvt_session_t* us);
/* Frees the echo streams a closed session left behind (their handles need
 * no close of their own once the session is closed). */
void uvt_echo_free_all(uvt_session_t* us);

/* Client workload: opens `nstreams` streams; stream i sends sizes[i]
 * pseudo-random bytes in writes of at most `chunk` bytes (at most `depth`
 * writes in flight), then half-closes; it reads the echo and checks its
 * length and FNV-1a hash against what it sent. Every request callback is
 * checked to fire exactly once. */
typedef struct uvt_gen_s {
  uvt_session_t* us;
  unsigned int nstreams;
  const uint64_t* sizes;
  size_t chunk;
  unsigned int depth;
  int close_when_done; /* close the session when every stream is done */
  int expect_errors;   /* a failure test: errors are counted, not fatal */
  /* counters */
  unsigned int opened;
  unsigned int connected;     /* connect_cb(0) */
  unsigned int connect_done;  /* connect_cb calls, any status */
  unsigned int verified;      /* echo complete and matching */
  unsigned int stream_errors; /* streams that saw an error */
  unsigned int closed;        /* stream close callbacks */
  uint64_t writes_started;
  uint64_t writes_done; /* write_cb calls */
  uint64_t write_errors;
  uint64_t shutdowns_started;
  uint64_t shutdowns_done;
  uint64_t bytes_sent; /* handed to yamux_write */
  uint64_t bytes_received;
  void* head[2];                            /* live gen streams */
  void (*on_progress)(struct uvt_gen_s* g); /* after each write_cb */
} uvt_gen_t;

/* Starts the workload (asserts the opens succeed). */
void uvt_gen_start(uvt_gen_t* g, uvt_session_t* us, unsigned int nstreams,
                   const uint64_t* sizes, size_t chunk, unsigned int depth);
/* Checks that every request completed exactly once (call after the loop
 * ended) and frees what the session close left behind. */
void uvt_gen_check_done(uvt_gen_t* g);

/* Transports. Each initializes a->session.io and b->session.io (after
 * uvt_session_init) and sets *duplex for yamux_session_start_uv(). */
void uvt_socketpair(uv_loop_t* loop, uvt_session_t* a, uvt_session_t* b);
/* Two uv_pipe() pairs: io[0] reads, io[1] writes (duplex 0). */
void uvt_pipes(uv_loop_t* loop, uvt_session_t* a, uvt_session_t* b);
/* A TCP connection on 127.0.0.1 (ephemeral port, TCP_NODELAY); runs the
 * loop until connected. */
void uvt_tcp(uv_loop_t* loop, uvt_session_t* a, uvt_session_t* b);

/* Runs the loop to the end, then asserts uv_loop_close() == 0 (printing the
 * handles still open otherwise). */
void uvt_loop_finish(uv_loop_t* loop);

/* Ignores SIGPIPE (a peer closing must show up as EPIPE). */
void uvt_no_sigpipe(void);

#endif /* YAMUX_TEST_UV_UTIL_H */
