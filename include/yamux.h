/* libyamux: yamux stream multiplexing over any byte-duplex transport, on libuv.
 *
 * The wire protocol is hashicorp/yamux's (protocol version 0) with the libp2p
 * additions; libyamux interoperates byte for byte with hashicorp/yamux,
 * libp2p/go-yamux, rust-yamux and the JavaScript yamux.
 *
 * The API follows libuv's idiom:
 *
 *  - Handles (yamux_session_t, yamux_stream_t) and requests (yamux_write_t,
 *    yamux_shutdown_t, yamux_connect_t, yamux_ping_t) are allocated by the
 *    caller. The library initializes them and never moves them. Each has a
 *    public `data` field that the library never touches.
 *  - Every operation takes one typed callback; the object comes first, an
 *    `int status` (0 or a negative error code) second.
 *  - If a function that takes a callback returns an error, the callback is
 *    never called.
 *  - No callback runs inside the call that scheduled it. Completions are
 *    delivered later, from the transport's read or write completion, the
 *    session timer, or the end of the current loop turn.
 *  - Errors are negative numbers: libuv's UV_* codes where libuv has a word
 *    for it (UV_EOF, UV_ECONNRESET, UV_EPIPE, ...), YAMUX_E* for the rest.
 *    yamux_strerror() and yamux_err_name() name both.
 *  - A handle is released with a close function and a close callback; its
 *    memory may be reused from inside that callback.
 *
 * Threading: a session and its streams belong to one thread (the thread that
 * runs its loop). No function is safe to call from another thread, except
 * yamux_mailbox_post(): the way for other threads to get work done on a
 * session's loop (see "Other threads" below). Sessions on different loops
 * share no mutable state, so a server can run one loop per core (README,
 * examples/multiloop.c).
 *
 * Re-entrancy: from inside any libyamux callback you may call any function of
 * this header on any object of the same session, including closing the
 * stream or the session the callback is about. The functions that drive a
 * session by hand (yamux_session_feed(), yamux_session_send_buffers(),
 * yamux_session_send_done(), yamux_session_handle_expiry(),
 * yamux_session_run()) are the exception: never call them from a callback.
 *
 * The library never writes to stdout or stderr; see yamux_config_t.log_cb.
 */
#ifndef YAMUX_H
#define YAMUX_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define YAMUX_EXTERN __attribute__((visibility("default")))
#else
#define YAMUX_EXTERN
#endif

#define YAMUX_VERSION_MAJOR 0
#define YAMUX_VERSION_MINOR 2
#define YAMUX_VERSION_PATCH 0
#define YAMUX_VERSION_HEX                                     \
  ((YAMUX_VERSION_MAJOR << 16) | (YAMUX_VERSION_MINOR << 8) | \
   (YAMUX_VERSION_PATCH))
#define YAMUX_VERSION_STRING "0.2.0"

/* Returns YAMUX_VERSION_HEX of the library that is linked (it may differ
 * from the header's when the library is shared). */
YAMUX_EXTERN unsigned int yamux_version(void);
/* Returns YAMUX_VERSION_STRING of the linked library. */
YAMUX_EXTERN const char* yamux_version_string(void);

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */

/* libyamux's own codes. They sit in a range libuv does not use, so a status
 * is either one of these or a UV_* code. */
#define YAMUX_ERRNO_MAP(XX)                                             \
  XX(EPROTO, -9001, "peer violated the yamux protocol")                 \
  XX(EPEERPROTO, -9002, "peer ended the session: protocol error")       \
  XX(EPEERINTERNAL, -9003, "peer ended the session: internal error")    \
  XX(EPEERGOAWAY, -9004, "peer ended the session with an unknown code") \
  XX(EGOAWAY, -9005, "session is going away: no new streams")           \
  XX(EKEEPALIVE, -9006, "keepalive ping not answered in time")          \
  XX(ESTREAMIDS, -9007, "stream ids exhausted")                         \
  XX(ECLOSED, -9008, "session is closed")                               \
  XX(ETRANSPORT, -9009, "transport failed")                             \
  XX(ETLS, -9010, "TLS failed (see yamux_tls_error())")

typedef enum {
#define YAMUX_XX(name, val, _) YAMUX_##name = val,
  YAMUX_ERRNO_MAP(YAMUX_XX)
#undef YAMUX_XX
      YAMUX_ERRNO_RESERVED_END = -9100
} yamux_errno_t;

/* A human-readable message for any status code this library returns
 * (YAMUX_E* or UV_*). Never NULL; the string is static. */
YAMUX_EXTERN const char* yamux_strerror(int err);
/* The symbolic name ("YAMUX_EPROTO", "ECONNRESET", ...). Never NULL. */
YAMUX_EXTERN const char* yamux_err_name(int err);

/* Go Away codes of the wire protocol. */
#define YAMUX_GOAWAY_NORMAL 0
#define YAMUX_GOAWAY_PROTOCOL 1
#define YAMUX_GOAWAY_INTERNAL 2

/* ------------------------------------------------------------------------ */
/* Types                                                                     */

typedef struct yamux_session_s yamux_session_t;
typedef struct yamux_stream_s yamux_stream_t;
typedef struct yamux_write_s yamux_write_t;
typedef struct yamux_shutdown_s yamux_shutdown_t;
typedef struct yamux_connect_s yamux_connect_t;
typedef struct yamux_ping_s yamux_ping_t;

/* Internal: an intrusive doubly linked list node (same shape as libuv's). */
struct yamux__queue {
  struct yamux__queue* next;
  struct yamux__queue* prev;
};

typedef enum { YAMUX_CLIENT = 1, YAMUX_SERVER = 2 } yamux_role_t;

typedef enum {
  YAMUX_LOG_ERROR = 1,
  YAMUX_LOG_WARN = 2,
  YAMUX_LOG_INFO = 3,
  YAMUX_LOG_DEBUG = 4
} yamux_log_level_t;

/* Session ended by itself (transport EOF or error, protocol error, keepalive
 * timeout, the peer's Go Away with a non-zero code). Fires at most once, and
 * never after yamux_session_close(). status is UV_EOF for a transport EOF
 * (the normal end when the peer closed), else a negative error. Call
 * yamux_session_close() from here or later. */
typedef void (*yamux_session_end_cb)(yamux_session_t* session, int status);
/* The session and every resource it held are released. */
typedef void (*yamux_session_close_cb)(yamux_session_t* session);
/* One or more inbound streams wait for yamux_accept(). status is 0. */
typedef void (*yamux_connection_cb)(yamux_session_t* session, int status);
/* The peer sent Go Away with `code`. With code 0 the session drains: streams
 * that exist go on, new opens fail with YAMUX_EGOAWAY. */
typedef void (*yamux_goaway_cb)(yamux_session_t* session, uint32_t code);
/* A ping completed: status 0 and the round-trip time in nanoseconds, or an
 * error (UV_ECANCELED on close, YAMUX_EKEEPALIVE, ...) and rtt_ns 0. */
typedef void (*yamux_ping_cb)(yamux_ping_t* req, int status, uint64_t rtt_ns);

/* Same contract as uv_alloc_cb: set buf->base and buf->len; a zero-length
 * buffer makes read_cb fire with UV_ENOBUFS and leaves the data queued, and
 * (as libuv does) delivery is tried again on the next loop turn while the
 * stream is reading. If alloc_cb closes the stream or its session, read_cb
 * does not run for that buffer: release it yourself. */
typedef void (*yamux_alloc_cb)(yamux_stream_t* stream, size_t suggested_size,
                               uv_buf_t* buf);
/* Same contract as uv_read_cb (except when reading without an alloc_cb: see
 * yamux_read_start()): nread > 0 bytes were read into buf; nread ==
 * UV_EOF: the peer half-closed (sent FIN); UV_ECONNRESET: the peer reset the
 * stream; UV_ECONNABORTED or a YAMUX_E* code: the session ended under the
 * stream. After a negative nread no more reads are delivered. The caller owns
 * buf->base in every case. */
typedef void (*yamux_read_cb)(yamux_stream_t* stream, ssize_t nread,
                              const uv_buf_t* buf);
typedef void (*yamux_write_cb)(yamux_write_t* req, int status);
typedef void (*yamux_shutdown_cb)(yamux_shutdown_t* req, int status);
typedef void (*yamux_connect_cb)(yamux_connect_t* req, int status);
typedef void (*yamux_close_cb)(yamux_stream_t* stream);
/* Logging hook: msg is a NUL-terminated line without a newline, valid only
 * during the call. */
typedef void (*yamux_log_cb)(void* log_data, yamux_log_level_t level,
                             const char* msg);

/* An allocator for every allocation a session makes (nghttp2_mem style).
 * All four functions must be set; realloc(NULL, n) must act as malloc. */
typedef struct yamux_allocator_s {
  void* user_data;
  void* (*malloc)(size_t size, void* user_data);
  void* (*calloc)(size_t nmemb, size_t size, void* user_data);
  void* (*realloc)(void* ptr, size_t size, void* user_data);
  void (*free)(void* ptr, void* user_data);
} yamux_allocator_t;

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */

/* Fill with yamux_config_init(), change what you need, pass to
 * yamux_session_init(), which copies it (the struct may be discarded after).
 * Times are in milliseconds; 0 turns a timeout off. */
typedef struct yamux_config_s {
  /* Receive window announced for every stream, in bytes. The protocol's
   * implicit window is 262144; anything larger is announced as a delta on
   * the SYN or ACK. Default 262144 (every peer's default: a larger value
   * costs memory per stream while the reader is slow). Minimum 262144. */
  uint32_t initial_window;
  /* Largest receive window a stream may grow to. Each stream's window is
   * tuned by the receiver from what it measures (src/tune.c): the rate at
   * which the application reads the stream times the minimum round-trip
   * time of the session's pings (at least 100 us: below that the round
   * trip a window must cover is the OS scheduler's). While the read rate
   * keeps rising the window grows fast (about a doubling per round trip;
   * from 10 ms RTT, 8x in two round trips); then it settles at 5/4 of rate x
   * RTT, enough to keep the path busy and little enough that a bottleneck's
   * queue, which every other stream's frames wait behind, stays short; it
   * shrinks again when the reader or the path slows down. Below 1 ms RTT
   * (loopback, pipes, a LAN) it stays at most 512 KiB: there a larger window
   * only queues data in the kernel (bench/RESULTS.md, W1 and W7). On a WAN it
   * reaches the path's bandwidth-delay product by itself (15 MiB for 300 MiB/s
   * at 50 ms RTT) in well under a second. Default 64 MiB: as the sender holds
   * at least 3/4 of a large window, room for about 960 MiB/s at 50 ms RTT or
   * 480 MiB/s at 100 ms (bench/RESULTS.md, W8r100); what a peer can make
   * the session buffer is bounded by window_budget, not by this. A value at
   * or below initial_window turns tuning off (a fixed window). */
  uint32_t max_window;
  /* Budget for the growth above initial_window, summed over all streams of
   * the session, in bytes: the bound on the memory a peer can make a
   * session hold beyond the initial windows (a reader that stops reading
   * holds at most its stream's window). Default 256 MiB. */
  uint64_t window_budget;
  /* Largest Data frame body sent, in bytes. At most 1 MiB (rust-yamux
   * rejects larger frames; larger values make yamux_session_init() fail
   * with UV_EINVAL). Default 65536: large enough that headers cost
   * under 0.02 %, small enough that one bulk stream holds up a round-robin
   * turn for tens of microseconds, not milliseconds. */
  uint32_t max_frame_size;
  /* Inbound streams that may wait for yamux_accept() before new SYNs are
   * refused with RST. Default 256 (hashicorp's and go-yamux's). */
  uint32_t accept_backlog;
  /* Maximum number of live inbound streams; SYNs beyond it are refused with
   * RST. Default 65536 (a bound against SYN floods that still lets a child
   * process carry thousands of concurrent connections). */
  uint32_t max_inbound_streams;
  /* Our opens that may wait for the peer's ACK at once; further opens queue
   * their SYN until an ACK arrives. Default 256: hashicorp/yamux blocks at
   * 256 of its own, and rust-yamux refuses more than 256 un-ACKed streams. */
  uint32_t max_unacked_opens;
  /* Ping replies (pongs) queued while the transport is slow; further pings
   * are not answered. Default 64. */
  uint32_t max_queued_pongs;
  /* Send a keepalive ping after this long without hearing anything from
   * the peer (as go-yamux does: a busy session, or one whose peer pings it,
   * sends none). Default 30000 (hashicorp's); 0 turns keepalive off. */
  uint64_t keepalive_interval_ms;
  /* End the session with YAMUX_EKEEPALIVE when nothing at all arrives from
   * the peer within this time after a keepalive ping. Any inbound frame
   * counts. Default 10000 (hashicorp's ConnectionWriteTimeout). */
  uint64_t keepalive_timeout_ms;
  /* A stream we opened that is not ACKed (nor refused) in this time after
   * its SYN is sent is reset and its open fails with UV_ETIMEDOUT; the
   * session goes on. A SYN waiting for room (max_unacked_opens) is not yet
   * timed, as in hashicorp/yamux. Default 75000 (hashicorp's
   * StreamOpenTimeout). */
  uint64_t open_timeout_ms;
  /* After yamux_close() of a stream the peer has not half-closed, wait this
   * long for its FIN, then reset. Default 300000 (hashicorp's
   * StreamCloseTimeout). */
  uint64_t linger_timeout_ms;
  /* yamux_session_close() waits at most this long for queued frames and the
   * Go Away to reach the transport. Default 5000. */
  uint64_t close_timeout_ms;
  /* NULL: the C library's malloc family. The struct is copied. */
  const yamux_allocator_t* allocator;
  /* NULL: no logging (the default). */
  yamux_log_cb log_cb;
  void* log_data;
  /* Messages above this level are not formatted. Default YAMUX_LOG_INFO. */
  yamux_log_level_t log_level;
} yamux_config_t;

/* Fills cfg with the defaults documented above. */
YAMUX_EXTERN void yamux_config_init(yamux_config_t* cfg);

/* ------------------------------------------------------------------------ */
/* Statistics                                                                */

typedef struct yamux_session_stats_s {
  uint64_t bytes_sent;     /* transport bytes, headers included */
  uint64_t bytes_received; /* transport bytes, headers included */
  uint64_t frames_sent;
  uint64_t frames_received;
  uint64_t data_bytes_sent; /* Data frame bodies */
  uint64_t data_bytes_received;
  uint64_t streams_opened;   /* by us */
  uint64_t streams_accepted; /* inbound SYNs accepted into the backlog */
  uint64_t streams_refused;  /* inbound SYNs answered with RST */
  uint64_t resets_sent;
  uint64_t resets_received;
  uint64_t pings_sent;
  uint64_t pongs_sent;
  uint64_t pongs_dropped;   /* over max_queued_pongs */
  uint64_t frames_dropped;  /* for unknown or closed streams, stray pongs */
  uint64_t protocol_errors; /* 0 or 1: the session ends on the first */
  uint32_t streams_open;    /* live streams now, both directions */
  uint32_t streams_pending_accept;
  uint64_t queued_bytes;   /* write requests' bytes not yet written by the
                            * transport (as yamux_stream_get_write_queue_size) */
  uint64_t buffered_bytes; /* received bytes not yet read */
  uint64_t rtt_ns;         /* smoothed ping round-trip time; 0 unknown */
  uint64_t goaway_sent;    /* code + 1 (64 bits: never wraps), 0 if none */
  uint64_t goaway_received;
} yamux_session_stats_t;

typedef struct yamux_stream_stats_s {
  uint64_t bytes_sent;      /* Data bodies the transport has written */
  uint64_t bytes_received;  /* Data bodies received */
  uint32_t send_window;     /* credit the peer gave us, now */
  uint32_t recv_window;     /* credit we gave the peer, not yet used */
  uint32_t recv_window_max; /* current receive window size (auto-tuned) */
  uint64_t queued_bytes;    /* yamux_stream_get_write_queue_size() */
  uint64_t buffered_bytes;  /* received, not yet read */
} yamux_stream_stats_t;

/* ------------------------------------------------------------------------ */
/* Session                                                                   */

/* Where the libuv driver keeps its transport handles. Initialize the member
 * that fits (tcp, pipe, tty) in place, e.g.
 *   uv_tcp_init(loop, &session->io[0].tcp);
 *   uv_accept(server, &session->io[0].stream);
 * then call yamux_session_start_uv(). */
typedef union yamux_uv_io_u {
  uv_handle_t handle;
  uv_stream_t stream;
  uv_tcp_t tcp;
  uv_pipe_t pipe;
  uv_tty_t tty;
} yamux_uv_io_t;

/* How a session reaches its transport when it is not driven by libuv: the
 * custom-transport hook. */
typedef struct yamux_transport_s {
  /* The session has frames to send or callbacks to deliver: call
   * yamux_session_run() soon, from outside any libyamux callback (for
   * example from the next turn of your event loop). May be called often;
   * coalesce. */
  void (*wake)(yamux_session_t* session);
  /* The session is closing and no longer needs the transport: release it,
   * then call yamux_session_transport_closed(). */
  void (*close)(yamux_session_t* session);
  /* The transport's own state, for its hooks and callbacks to find:
   * yamux_session_get_transport_data() returns it. The library never
   * touches it. */
  void* data;
} yamux_transport_t;

struct yamux_session_s {
  /* public */
  void* data;
  /* read-only */
  uv_loop_t* loop; /* NULL unless driven by libuv */
  yamux_role_t role;
  /* libuv driver: transport handles (io[0] reads, io[1] writes when two are
   * used) */
  yamux_uv_io_t io[2];
  /* private */
  struct yamux__sess* internal_; /* the engine's state */
  void* reserved_[4];
};

/* Initializes a session handle for `role` with a copy of `cfg` (NULL: the
 * defaults). Allocates the session's state. The session does nothing until
 * it is started on a transport (yamux_session_start_uv() and friends, or
 * yamux_session_start_custom()). Once this returns 0 you must call
 * yamux_session_close() to release it, started or not.
 * Returns 0, UV_EINVAL (bad role, bad config value) or UV_ENOMEM. */
YAMUX_EXTERN int yamux_session_init(yamux_session_t* session, yamux_role_t role,
                                    const yamux_config_t* cfg);

/* Sets the callback for inbound streams. `cb` fires once per inbound stream
 * (as uv_listen's callback does per connection), later, never inside this
 * call; accept it with yamux_accept() from the callback or afterwards.
 * Inbound SYNs that arrive while no callback is set wait in the backlog (up
 * to accept_backlog; more are refused with RST) and are announced once one
 * is set. May be called again to replace the callback; NULL stops
 * announcing (queued streams still wait). Streams are ACKed when accepted.
 * A stream the peer resets before it is accepted leaves the backlog, so an
 * announced stream may be gone: yamux_accept() then returns UV_EAGAIN.
 * Returns 0 or UV_EINVAL (session closing). */
YAMUX_EXTERN int yamux_session_listen(yamux_session_t* session,
                                      yamux_connection_cb cb);

/* Sets the callback that reports a Go Away from the peer (NULL: none). */
YAMUX_EXTERN void yamux_session_on_goaway(yamux_session_t* session,
                                          yamux_goaway_cb cb);

/* Sends Go Away with `code` after the frames already queued. Code 0 drains:
 * inbound SYNs are refused from now on and new local opens fail with
 * YAMUX_EGOAWAY, while existing streams go on. A non-zero code announces an
 * error; the caller normally closes the session next.
 * Returns 0, UV_EINVAL (session closed or not started) or UV_EALREADY (a Go
 * Away was already sent). */
YAMUX_EXTERN int yamux_session_goaway(yamux_session_t* session, uint32_t code);

/* Sends a ping; `cb` fires when the reply arrives with the round-trip time.
 * The request memory belongs to the library until then.
 * Returns 0, UV_EINVAL (NULL argument, session closing) or YAMUX_ECLOSED. */
YAMUX_EXTERN int yamux_ping(yamux_ping_t* req, yamux_session_t* session,
                            yamux_ping_cb cb);

/* Ends the session. Write requests whose bytes have not been handed to the
 * transport complete with UV_ECANCELED, as do pending connects, shutdowns
 * and pings; streams that are reading get read_cb(UV_ECONNABORTED); streams
 * with a pending yamux_close() get their close callback. The bytes already
 * in the transport's hands are finished and a Go Away(0) (unless a Go Away
 * was sent or queued by yamux_session_goaway(), whose code is kept) is
 * written (for at most close_timeout_ms, counted from the next time the
 * session is driven), then the transport is closed. To deliver queued data
 * first, shut the streams down (or send yamux_session_goaway(0)) and close when
 * their callbacks have fired. `cb` fires once when everything is released; the
 * session memory and the memory of every yamux_stream_t of this session may be
 * reused from then on (stream handles need no yamux_close() of their own once
 * the session is closed). `cb` may be NULL. Calling it twice is a no-op. A
 * session that was never started has no transport to deliver callbacks later:
 * streams opened or written before the start complete here (UV_ECANCELED for
 * connects, writes and shutdowns, then the close callbacks of closed streams),
 * and `cb` runs, before this function returns. */
YAMUX_EXTERN void yamux_session_close(yamux_session_t* session,
                                      yamux_session_close_cb cb);

/* The allocator the session uses for everything it allocates (the one in
 * its config, or the C library's), for code that drives the session and
 * wants its own memory accounted the same way (the libuv driver does).
 * Valid until the session's close callback. NULL if the session is not
 * initialized. */
YAMUX_EXTERN const yamux_allocator_t* yamux_session_get_allocator(
    const yamux_session_t* session);

/* The `data` of the transport the session was started with (the libuv
 * driver's state for yamux_session_start_uv() and friends), or NULL before
 * the start and once the transport has closed. */
YAMUX_EXTERN void* yamux_session_get_transport_data(
    const yamux_session_t* session);

/* Non-zero once yamux_session_close() has been called. */
YAMUX_EXTERN int yamux_session_is_closing(const yamux_session_t* session);

/* Copies the session's counters. Returns 0 or UV_EINVAL. */
YAMUX_EXTERN int yamux_session_get_stats(const yamux_session_t* session,
                                         yamux_session_stats_t* stats);

/* ---- Driving a session over a custom transport (no libuv needed) -------- */

/* The application moves the bytes and the time; src/uv-driver.c is the
 * reference driver, built only on these functions. A minimal loop:
 *
 *   for (;;) {
 *     const uv_buf_t* bufs;
 *     unsigned n = yamux_session_send_buffers(s, &bufs, 64, now());
 *     if (n > 0) {  // uv_buf_t is iovec-shaped on Unix
 *       ssize_t w = writev(fd, (const struct iovec*)bufs, n);
 *       yamux_session_send_done(s, w < 0 ? 0 : (size_t)w,
 *                               w < 0 ? UV_EPIPE : 0, now());
 *     }
 *     // wait until fd is readable (or writable while n > 0), the wake
 *     // hook fired, or yamux_session_expiry(s) passed; then
 *     //   readable: k = read(fd, buf, sizeof buf);
 *     //             k > 0 ? yamux_session_feed(s, buf, k, now())
 *     //                   : yamux_session_feed_error(s, UV_EOF, now());
 *     //   expired:  yamux_session_handle_expiry(s, now());
 *     //   woken:    yamux_session_run(s, now());
 *   }
 */

/* Starts the session over a transport that the caller drives with the
 * functions below. `transport` is copied. `now` is a monotonic time in
 * nanoseconds (uv_hrtime() or clock_gettime(CLOCK_MONOTONIC)); the session
 * never reads a clock of its own. Returns 0 or UV_EINVAL. */
YAMUX_EXTERN int yamux_session_start_custom(yamux_session_t* session,
                                            const yamux_transport_t* transport,
                                            yamux_session_end_cb end_cb,
                                            uint64_t now);

/* Feeds bytes received from the transport, in any split. Stream callbacks
 * (read, connect, close...) run from inside this call. Returns 0, or the
 * negative status the session ended with (it then also fired end_cb). */
YAMUX_EXTERN int yamux_session_feed(yamux_session_t* session, const void* data,
                                    size_t len, uint64_t now);

/* The transport delivered EOF (status UV_EOF) or failed (status < 0). The
 * session ends with that status. */
YAMUX_EXTERN void yamux_session_feed_error(yamux_session_t* session, int status,
                                           uint64_t now);

/* Points *bufs at the bytes to write next, as a gather list owned by the
 * session (frame headers beside slices of the callers' write buffers, not
 * copied), and returns the number of entries (0: nothing to send). The list
 * and the memory it points to stay valid until yamux_session_send_done(),
 * or, once the session closes, until yamux_session_transport_closed() (the
 * close timeout never takes it back from a transport still writing).
 * Calling it again before send_done returns the same unsent bytes (possibly
 * with more appended). At most `max_bufs` entries are returned; any
 * max_bufs >= 1 works (a frame may then span calls); 0 returns 0.
 * Scheduling: when the transport wrote less than it was given (a short
 * write: it is backed up), the frames it had not started are taken back
 * (the list returned next may differ after the first unfinished frame) and,
 * until a write completes in full, it is given at most one Data frame's
 * worth at a time, so that no frame waits behind more of our own backlog
 * than the frame being written. */
YAMUX_EXTERN unsigned int yamux_session_send_buffers(yamux_session_t* session,
                                                     const uv_buf_t** bufs,
                                                     unsigned int max_bufs,
                                                     uint64_t now);

/* The transport wrote the first `nbytes` bytes of the gather list (a short
 * write is fine), or failed (status < 0: the session ends with it). Write
 * requests whose last byte is now written complete (their callbacks run from
 * inside this call). */
YAMUX_EXTERN void yamux_session_send_done(yamux_session_t* session,
                                          size_t nbytes, int status,
                                          uint64_t now);

/* The next time (nanoseconds, the clock of `now`) at which
 * yamux_session_handle_expiry() must be called; UINT64_MAX for never. */
YAMUX_EXTERN uint64_t yamux_session_expiry(const yamux_session_t* session);

/* Fires the timers that are due at `now` (keepalive, open, linger, close
 * timeouts). */
YAMUX_EXTERN void yamux_session_handle_expiry(yamux_session_t* session,
                                              uint64_t now);

/* Delivers deferred callbacks (close callbacks, cancelled requests,
 * accept announcements). Call it after the wake hook fired. Returns non-zero
 * if there are frames to send. */
YAMUX_EXTERN int yamux_session_run(yamux_session_t* session, uint64_t now);

/* The custom transport finished closing (after its close hook). */
YAMUX_EXTERN void yamux_session_transport_closed(yamux_session_t* session);

/* ---- Driving a session over libuv streams ------------------------------- */

/* Starts the session over libuv stream handles the caller initialized in
 * session->io: io[0] alone (a TCP or Unix socket, a duplex pipe, a TTY) or,
 * with `duplex` zero, io[0] for reading and io[1] for writing (stdin and
 * stdout). Reading starts at once. The session owns the handles from now on
 * and closes them when it closes. On a TCP handle the driver sets
 * TCP_NOTSENT_LOWAT (128 KiB): the kernel then holds little of our data
 * unsent, and what waits does so in the session, where control frames and
 * other streams (see yamux_stream_set_priority()) can still go first.
 * Returns 0, UV_EINVAL, or the error of uv_read_start(). On error the handles
 * are still the caller's. */
YAMUX_EXTERN int yamux_session_start_uv(uv_loop_t* loop,
                                        yamux_session_t* session, int duplex,
                                        yamux_session_end_cb end_cb);

/* Runs the session over this process's own stdin (fd 0) and stdout (fd 1),
 * whatever they are (pipes, sockets, TTYs put in raw mode, or files).
 * When the session closes, the descriptors it used (a pipe or socket on fd
 * 0 and/or 1, not a TTY) are replaced with /dev/null, and a socket is shut
 * down for writing first, so that the peer reads EOF (or gets EPIPE) while
 * this process lives on; libuv itself never closes fds 0-2.
 * Returns 0, UV_EINVAL (a descriptor of another kind, a closed one),
 * UV_EBADF (fd 0 not open for reading or fd 1 not for writing), UV_ENOMEM
 * or the libuv error that opening the descriptors gave. After that last
 * kind (rare: a TTY that cannot be put in raw mode, a descriptor libuv
 * cannot watch) handles in session->io are still closing: close the
 * session as usual, but keep its memory until the loop has run once. */
YAMUX_EXTERN int yamux_session_start_stdio(uv_loop_t* loop,
                                           yamux_session_t* session,
                                           yamux_session_end_cb end_cb);

/* Spawns a child process as described by `options` (whose stdio[0] and
 * stdio[1] are replaced: the session's pipes become the child's stdin and
 * stdout; stdio[2] and beyond are kept, default: inherit stderr) and runs the
 * session over the child's stdin/stdout. `process` is initialized by
 * uv_spawn(); its exit_cb is the caller's. The session does not kill the
 * child; closing the session closes the pipes, which a well-behaved child
 * reads as EOF.
 * Returns 0, UV_EINVAL, or the error of uv_spawn() or of setting up the
 * pipes. On error the caller has nothing to close but the session (with
 * yamux_session_close(), as always) and no child is left running: if the
 * child had started, it is killed and reaped. If uv_spawn() ran, `process`
 * is closed here, unlike after a failed uv_spawn() of your own (its exit_cb
 * does not run; keep the memory of `process` and of the session until the
 * loop has run once). */
YAMUX_EXTERN int yamux_session_spawn(uv_loop_t* loop, yamux_session_t* session,
                                     uv_process_t* process,
                                     const uv_process_options_t* options,
                                     yamux_session_end_cb end_cb);

/* ------------------------------------------------------------------------ */
/* Streams                                                                   */

struct yamux_stream_s {
  /* public */
  void* data;
  /* read-only */
  yamux_session_t* session;
  uint32_t id; /* 0 until opened or accepted */
  /* private */
  unsigned int flags_;
  union {
    struct { /* while reading */
      yamux_alloc_cb alloc_cb_;
      yamux_read_cb read_cb_;
    } r_;
    struct yamux__queue pending_; /* once closed: the deferred-close list */
  } u_;
  yamux_close_cb close_cb_;
  struct yamux__strm* internal_;
};

/* Initializes a stream handle for `session`. Allocates nothing. The handle
 * becomes live with yamux_stream_open() or yamux_accept(); a handle that
 * never became live needs no close. Returns 0 or UV_EINVAL. */
YAMUX_EXTERN int yamux_stream_init(yamux_session_t* session,
                                   yamux_stream_t* stream);

/* Opens a new outbound stream (sends SYN). The stream is writable at once:
 * data written in the same loop turn rides with the SYN (0-RTT); otherwise
 * the SYN goes out on its own right away. `cb` (may be NULL, then `req` may
 * be NULL) fires with 0 when the peer ACKs, UV_ECONNREFUSED when it resets
 * the stream before ACKing, UV_ETIMEDOUT after open_timeout_ms (the stream
 * is then reset), UV_ECANCELED when the stream or the session is closed
 * first, or the session's error (as end_cb's, UV_ECONNABORTED for a
 * transport EOF) when the session ends by itself. When max_unacked_opens of our
 * opens wait for an ACK, the SYN waits for room. Returns 0, UV_EINVAL (bad
 * arguments, stream already live, session closing), YAMUX_EGOAWAY (either side
 * sent Go Away), YAMUX_ESTREAMIDS (the 2^31 ids of our parity are used up),
 * YAMUX_ECLOSED (the session ended) or UV_ENOMEM. */
YAMUX_EXTERN int yamux_stream_open(yamux_connect_t* req, yamux_stream_t* stream,
                                   yamux_connect_cb cb);

/* Takes the oldest inbound stream waiting in the session's backlog into
 * `stream` (initialized with yamux_stream_init()) and ACKs it. Data that
 * arrived with or after the SYN is delivered once reading starts.
 * Returns 0, UV_EINVAL or UV_EAGAIN (nothing waiting). */
YAMUX_EXTERN int yamux_accept(yamux_session_t* session, yamux_stream_t* stream);

/* Starts delivering received data: alloc_cb then read_cb for each chunk,
 * as with uv_read_start(). Data that arrived before is delivered from the
 * next loop turn. Credit goes back to the peer as data is delivered.
 *
 * Zero-copy reading: with alloc_cb NULL, read_cb's buf points into the
 * session's own receive memory and is valid only until read_cb returns (do
 * not free it, copy what you keep). This saves the one copy libyamux
 * otherwise makes, as nghttp2's on_data_chunk_recv does.
 * Returns 0, UV_EINVAL or UV_EALREADY (already reading). */
YAMUX_EXTERN int yamux_read_start(yamux_stream_t* stream,
                                  yamux_alloc_cb alloc_cb,
                                  yamux_read_cb read_cb);

/* Stops delivering; data keeps arriving up to the receive window and waits
 * in memory. Returns 0 or UV_EINVAL. */
YAMUX_EXTERN int yamux_read_stop(yamux_stream_t* stream);

/* Queues `nbufs` buffers for sending. A stream's write and shutdown
 * requests complete in the order they were made, whatever ends them (a
 * reset or close waits for an earlier write the transport still holds). The
 * buffer array is copied; the memory it points to is not and must stay valid
 * until `cb` fires. `cb` (may be NULL) fires with 0 once every byte has been
 * handed to the transport, or with UV_ECANCELED (stream closed or reset
 * locally, session closed), UV_ECONNRESET (the peer reset the stream) or the
 * session's error. Returns 0, UV_EINVAL (bad arguments; the handle is not live
 * or is closing, as after yamux_close()), UV_EPIPE (after yamux_shutdown()),
 * UV_ECONNRESET (stream reset), YAMUX_ECLOSED (session ended or closing) or
 * UV_ENOMEM (more than 4 buffers and the array copy failed). */
YAMUX_EXTERN int yamux_write(yamux_write_t* req, yamux_stream_t* stream,
                             const uv_buf_t bufs[], unsigned int nbufs,
                             yamux_write_cb cb);

/* Sets the stream's send priority: its urgency, 0 (most urgent) to 7
 * (least), default 3, as in HTTP's extensible priorities (RFC 9218). When
 * the transport can take more, Data frames of more urgent streams go
 * first; streams of equal urgency take turns (round-robin, one frame of at
 * most max_frame_size each). Control frames (pings, credit, SYN, FIN, RST)
 * always go ahead of Data. Priorities order only what waits in this
 * session: a frame the transport already holds is finished first (see
 * yamux_session_send_buffers()). Takes effect at once, also for data
 * already queued. Local only: nothing goes on the wire.
 * Returns 0 or UV_EINVAL (not live, closing, urgency out of range). */
YAMUX_EXTERN int yamux_stream_set_priority(yamux_stream_t* stream, int urgency);

/* Bytes accepted by yamux_write() and not yet written by the transport
 * (queued, or in the gather list the transport holds): the backpressure
 * signal (stop writing above your threshold, resume from a write callback).
 * 0 for a handle that is not live or is closed. */
YAMUX_EXTERN size_t
yamux_stream_get_write_queue_size(const yamux_stream_t* stream);

/* Half-closes: sends FIN after every queued write. `cb` (may be NULL; then
 * `req` may be NULL) fires with 0 once the FIN frame is queued to the
 * transport behind those writes, or with an error as for yamux_write(). Returns
 * 0, UV_EINVAL, UV_EALREADY, UV_ECONNRESET, YAMUX_ECLOSED. */
YAMUX_EXTERN int yamux_shutdown(yamux_shutdown_t* req, yamux_stream_t* stream,
                                yamux_shutdown_cb cb);

/* Releases the stream handle. Queued writes and a pending shutdown or
 * connect complete with UV_ECANCELED; reading stops. If neither side reset
 * the stream, a FIN is sent (unless already sent) and the library keeps the
 * stream's protocol state until the peer's FIN arrives (data arriving
 * meanwhile is discarded and credited), for at most linger_timeout_ms, then
 * resets it. `cb` (may be NULL) fires once, later; the handle's memory may be
 * reused from then on. Calling it twice is a no-op. */
YAMUX_EXTERN void yamux_close(yamux_stream_t* stream, yamux_close_cb cb);

/* Like yamux_close(), but resets the stream at once (RST) instead of
 * half-closing. A non-zero `code` is sent in the RST frame's length field
 * (libp2p's stream error codes); the peer sees it with
 * yamux_stream_reset_code(). */
YAMUX_EXTERN void yamux_close_reset(yamux_stream_t* stream, uint32_t code,
                                    yamux_close_cb cb);

/* Non-zero once yamux_close() or yamux_close_reset() was called. */
YAMUX_EXTERN int yamux_is_closing(const yamux_stream_t* stream);

/* The error code the peer sent with its RST (0 if none or not reset). */
YAMUX_EXTERN uint32_t yamux_stream_reset_code(const yamux_stream_t* stream);

/* Copies the stream's counters. Returns 0 or UV_EINVAL (not live, or
 * closing: after yamux_close() a handle answers UV_EINVAL everywhere). */
YAMUX_EXTERN int yamux_stream_get_stats(const yamux_stream_t* stream,
                                        yamux_stream_stats_t* stats);

/* ------------------------------------------------------------------------ */
/* Requests                                                                  */

#define YAMUX_REQ_FIELDS      \
  /* public */                \
  void* data;                 \
  /* private */               \
  struct yamux__queue queue_; \
  int status_;                \
  int type_;

struct yamux_write_s {
  YAMUX_REQ_FIELDS
  yamux_stream_t* stream; /* read-only */
  yamux_write_cb cb_;
  uv_buf_t* bufs_;
  unsigned int nbufs_;
  unsigned int buf_index_;
  size_t buf_offset_;
  unsigned int refs_; /* gather-list entries that still point into it */
  uv_buf_t bufsml_[4];
};

struct yamux_shutdown_s {
  YAMUX_REQ_FIELDS
  yamux_stream_t* stream; /* read-only */
  yamux_shutdown_cb cb_;
};

struct yamux_connect_s {
  YAMUX_REQ_FIELDS
  yamux_stream_t* stream; /* read-only */
  yamux_connect_cb cb_;
};

struct yamux_ping_s {
  YAMUX_REQ_FIELDS
  yamux_session_t* session; /* read-only */
  yamux_ping_cb cb_;
  uint32_t opaque_;
  uint64_t sent_at_;
};

/* ------------------------------------------------------------------------ */
/* Other threads                                                             */

/* A mailbox lets any thread hand work to a loop's thread: the thread that
 * owns a session posts a callback there and calls libyamux from it, the
 * RPC framework's case (workers producing replies for streams of a session
 * on another thread). A uv_async_t underneath: posts made close together
 * are delivered in one loop turn, in the order they were posted. */
typedef struct yamux_mailbox_s yamux_mailbox_t;
typedef struct yamux_mail_s yamux_mail_t;

/* Runs on the mailbox's loop thread, where every libyamux function may be
 * called. status is 0, or UV_ECANCELED when the mailbox was closed before
 * the mail was delivered. The mail's memory is the caller's again. */
typedef void (*yamux_mail_cb)(yamux_mail_t* mail, int status);
/* The mailbox is closed; its memory may be reused. */
typedef void (*yamux_mailbox_close_cb)(yamux_mailbox_t* mailbox);

struct yamux_mail_s {
  /* public */
  void* data;
  /* private */
  yamux_mail_t* next_;
  yamux_mail_cb cb_;
};

struct yamux_mailbox_s {
  /* public */
  void* data;
  /* private */
  uv_async_t async_;
  uv_mutex_t lock_;
  yamux_mail_t* head_; /* posted, not yet delivered (under lock_) */
  yamux_mail_t* tail_;
  int closed_;  /* set under lock_; read atomically by posting threads */
  int posting_; /* threads inside yamux_mailbox_post() (atomic) */
  yamux_mailbox_close_cb close_cb_;
};

/* Initializes a mailbox on `loop`. Call it on the loop's thread. The
 * mailbox keeps the loop alive (as a uv_async_t does) until closed.
 * Returns 0, UV_EINVAL, or the error of uv_async_init()/uv_mutex_init(). */
YAMUX_EXTERN int yamux_mailbox_init(uv_loop_t* loop, yamux_mailbox_t* mailbox);

/* Posts `mail` from any thread: `cb` runs later on the mailbox's loop
 * thread. The mail's memory must stay valid until `cb` runs. Safe to call
 * from any thread at any time until the mailbox's close callback, also
 * while it closes: the close waits for posts already under way (they are
 * short) before its callback, so the callback may free the mailbox. A post
 * must not overlap or follow the close callback: stop the posting threads
 * (or let them see UV_ECANCELED) before the callback frees the memory.
 * Returns 0, UV_EINVAL (NULL argument) or UV_ECANCELED (the mailbox is
 * closing: `cb` will not run). */
YAMUX_EXTERN int yamux_mailbox_post(yamux_mailbox_t* mailbox,
                                    yamux_mail_t* mail, yamux_mail_cb cb);

/* Closes the mailbox, on its loop's thread. Mail posted before this call
 * and not yet delivered is delivered with UV_ECANCELED; posts from now on
 * fail with UV_ECANCELED. `cb` (may be NULL) fires once the handle is
 * closed. Other threads must not post after the close callback. */
YAMUX_EXTERN void yamux_mailbox_close(yamux_mailbox_t* mailbox,
                                      yamux_mailbox_close_cb cb);

#ifdef __cplusplus
}
#endif
#endif /* YAMUX_H */
