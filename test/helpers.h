/* Test helpers: a frame codec, a counting allocator, a scripted peer that
 * drives one session frame by frame, an in-memory pair of sessions, and a
 * recording stream wrapper. All time is virtual (nanoseconds).
 *
 * Typical scripted-peer test:
 *
 *   tpeer_t p;
 *   tpeer_init(&p, YAMUX_SERVER, NULL);
 *   tpeer_send_frame(&p, T_WU, F_SYN, 1, 0, NULL, 0);   peer opens stream 1
 *   tpeer_pump(&p);
 *   ...yamux_accept(&p.side.session, ...)...
 *   tpeer_expect(&p, T_WU, F_ACK, 1, 0);                 the ACK went out
 *   tpeer_close(&p);                                     asserts no leaks
 */
#ifndef YAMUX_TEST_HELPERS_H
#define YAMUX_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "task.h"
#include "yamux.h"

/* Frame types and flags of the wire protocol. */
enum { T_DATA = 0, T_WU = 1, T_PING = 2, T_GOAWAY = 3 };
enum { F_SYN = 1, F_ACK = 2, F_FIN = 4, F_RST = 8 };

#define T_HDR_LEN 12
#define T_WINDOW 262144u
#define T_MS 1000000ull /* nanoseconds per millisecond */
/* Wildcard for tpeer_expect() arguments. */
#define TANY (-1LL)

/* ---- byte buffer -------------------------------------------------------- */

typedef struct {
  uint8_t* data;
  size_t len;
  size_t cap;
} tbuf_t;

/* Appends n bytes (grows as needed; aborts on OOM). */
void tbuf_append(tbuf_t* b, const void* data, size_t n);
/* Drops the first n bytes. */
void tbuf_consume(tbuf_t* b, size_t n);
/* Frees the storage and zeroes the buffer (reusable afterwards). */
void tbuf_free(tbuf_t* b);

/* ---- frame codec -------------------------------------------------------- */

typedef struct {
  uint8_t version;
  uint8_t type;
  uint16_t flags;
  uint32_t id;
  uint32_t length;
  const uint8_t* body; /* Data frames: `length` bytes; NULL otherwise */
} tframe_t;

/* Appends a 12-byte header with any field values (malformed ones too). */
void tframe_put_header(tbuf_t* b, uint8_t version, uint8_t type, uint16_t flags,
                       uint32_t id, uint32_t length);
/* Appends a version-0 header and `bodylen` bytes of body (body may be NULL
 * with bodylen > 0: the body is filled with a pattern, see tpattern()). */
void tframe_put(tbuf_t* b, uint8_t type, uint16_t flags, uint32_t id,
                uint32_t length, const void* body, size_t bodylen);

/* A growable array of decoded frames; each Data body is an owned copy. */
typedef struct {
  tframe_t* v;
  size_t n;
  size_t cap;
} tframes_t;

/* Decodes every complete frame at the start of data[0..len) into `out`
 * (appending). A Data frame's body (length bytes) must be complete too.
 * Returns the number of bytes consumed. */
size_t tframes_decode(tframes_t* out, const uint8_t* data, size_t len);
/* Frees the bodies and the array. */
void tframes_free(tframes_t* f);

/* Formats one frame as e.g. "Data|SYN|FIN id=1 len=5" into buf. */
const char* tframe_str(const tframe_t* f, char* buf, size_t size);
/* Prints the frames, one a line, marking index `mark` (or none if >= n). */
void tframes_dump(FILE* out, const tframes_t* f, size_t mark);

/* Deterministic test bytes: byte i of a pattern stream is tpattern(i). */
uint8_t tpattern(size_t i);
/* Fills buf with tpattern(start + i). */
void tpattern_fill(void* buf, size_t n, size_t start);

/* ---- counting allocator ------------------------------------------------- */

typedef struct {
  yamux_allocator_t alloc; /* points back at this tmem_t */
  size_t live_bytes;
  size_t peak_bytes;
  size_t live_blocks;
  size_t nallocs;  /* successful allocations (realloc to a new size too) */
  size_t attempts; /* allocation attempts, failed ones included */
  size_t nfailed;
  size_t fail_at;  /* fail attempt number fail_at (1-based); 0 = never */
  int fail_sticky; /* with fail_at: fail that attempt and every later one */
} tmem_t;

/* Initializes the counters and the allocator (fail_at = 0). */
void tmem_init(tmem_t* m);
/* The yamux_allocator_t to put into yamux_config_t.allocator. */
const yamux_allocator_t* tmem_allocator(tmem_t* m);

/* ---- one side of a custom transport ------------------------------------- */

/* A session on a virtual transport; the building block of tpeer_t/tpair_t.
 * The wake hook only sets `woken`; the close hook sets
 * `transport_close_requested` and the next pump calls
 * yamux_session_transport_closed() (or the hook does it at once when
 * `sync_transport_close` is set). */
typedef struct {
  yamux_session_t session; /* session.data is free for the test */
  tmem_t mem;              /* the session's allocator (unless cfg has one) */
  const uint64_t* clock;   /* virtual time, nanoseconds */
  int started;
  int woken;
  int wakes;
  int sync_transport_close;
  int transport_close_requested;
  int transport_closed; /* yamux_session_transport_closed() was called */
  int end_count;        /* end_cb calls */
  int end_status;
  int close_count; /* session close_cb calls */
  int check_leaks; /* tpeer/tpair_close assert mem.live_bytes == 0 (default) */
} tside_t;

/* Returns the tside_t that holds `session`. */
tside_t* tside_of(yamux_session_t* session);

/* ---- scripted peer ------------------------------------------------------ */

typedef struct {
  tside_t side;
  uint64_t now_ns;  /* virtual clock; starts at 1 s */
  size_t split;     /* feed in chunks of this many bytes; 0 = all at once */
  size_t max_write; /* accept at most this many bytes per send_done; 0 = all */
  int last_feed;    /* what the last yamux_session_feed() returned */
  tbuf_t raw;       /* sent bytes not yet forming a whole frame */
  tframes_t out;    /* every frame the session sent, in order */
  size_t next;      /* read cursor into out */
} tpeer_t;

/* Initializes and starts a session of `role` (the peer plays the other
 * role). cfg NULL means the defaults with keepalive off; a cfg without an
 * allocator gets the counting one. */
void tpeer_init(tpeer_t* p, yamux_role_t role, const yamux_config_t* cfg);
/* Encodes one frame and feeds it (in chunks of p->split bytes). body may be
 * NULL with bodylen > 0 (pattern bytes). Returns the last feed()'s result. */
int tpeer_send_frame(tpeer_t* p, uint8_t type, uint16_t flags, uint32_t id,
                     uint32_t length, const void* body, size_t bodylen);
/* Feeds raw bytes (in chunks of p->split bytes). Returns feed()'s result. */
int tpeer_feed_raw(tpeer_t* p, const void* bytes, size_t n);
/* Runs the session while woken and collects everything it sends into
 * p->out, until nothing moves. Returns the number of new frames. */
size_t tpeer_pump(tpeer_t* p);
/* Pumps, then returns the next unread frame (NULL if none). The pointer is
 * valid until the next pump. */
const tframe_t* tpeer_next_frame(tpeer_t* p);
/* Asserts that the next unread frame matches (TANY matches anything) and
 * returns it; on mismatch prints all frames and fails the test. */
const tframe_t* tpeer_expect_at(tpeer_t* p, long long type, long long flags,
                                long long id, long long length,
                                const char* file, int line);
#define tpeer_expect(p, type, flags, id, length) \
  tpeer_expect_at((p), (type), (flags), (id), (length), __FILE__, __LINE__)
/* Asserts that there is no unread frame after a pump. */
void tpeer_expect_none_at(tpeer_t* p, const char* file, int line);
#define tpeer_expect_none(p) tpeer_expect_none_at((p), __FILE__, __LINE__)
/* Number of unread frames (after a pump). */
size_t tpeer_pending(tpeer_t* p);
/* Skips unread frames up to and including the first that matches; returns it
 * or NULL (all skipped). */
const tframe_t* tpeer_find(tpeer_t* p, long long type, long long flags,
                           long long id, long long length);
/* Advances virtual time by ms, firing each due expiry at its own time, and
 * pumps. */
void tpeer_advance(tpeer_t* p, uint64_t ms);
/* yamux_session_close() and pump until the close callback fired; asserts it
 * fired once and (if side.check_leaks) that no memory is left. Frames sent
 * during the close stay readable. Call tpeer_free() afterwards. If the test
 * already called yamux_session_close() with its own callback, this finishes
 * that close (pump, close timeout) and checks for leaks. */
void tpeer_close(tpeer_t* p);
/* Frees the peer's own buffers (not the session). */
void tpeer_free(tpeer_t* p);

/* ---- in-memory pair ----------------------------------------------------- */

typedef struct {
  tside_t c;           /* client */
  tside_t s;           /* server */
  uint64_t now_ns;     /* shared virtual clock; starts at 1 s */
  size_t max_per_pump; /* bytes moved per direction per pump; 0 = no cap */
  size_t short_write;  /* bytes accepted per send_done; 0 = all */
  uint64_t moved_c2s;  /* total bytes moved client -> server */
  uint64_t moved_s2c;
  int eof_to_c; /* feed_error(UV_EOF) delivered to the client */
  int eof_to_s;
} tpair_t;

/* Initializes and starts both sessions (cfg as for tpeer_init, used for
 * both; either may be NULL). */
void tpair_init(tpair_t* pair, const yamux_config_t* ccfg,
                const yamux_config_t* scfg);
/* Moves bytes both ways (running woken sessions) until nothing moves or the
 * per-pump cap is reached. Once a side's transport closed, the other side
 * reads EOF and its output is discarded. Returns the bytes moved. */
size_t tpair_pump(tpair_t* pair);
/* Pumps until nothing moves at all (ignoring the cap between rounds). */
void tpair_pump_all(tpair_t* pair);
/* Advances the shared clock by ms, firing expiries in time order, pumping
 * after each. */
void tpair_advance(tpair_t* pair, uint64_t ms);
/* Closes both sessions (or finishes closes the test started) and pumps until
 * both are released; asserts no memory is left in either. */
void tpair_close(tpair_t* pair);

/* ---- recording stream --------------------------------------------------- */

/* A stream handle plus counters for every callback. handle.data points at
 * the tstream_t; do not change it. Free t.rx with tbuf_free() when done (a
 * forgotten one is not reported as a leak). */
typedef struct {
  yamux_stream_t handle;
  tbuf_t rx;          /* everything read */
  int nreads;         /* read_cb calls with nread > 0 */
  int eof;            /* read_cb(UV_EOF) calls */
  int read_error;     /* last negative nread other than UV_EOF */
  int read_errors;    /* count of those */
  int nobufs;         /* read_cb(UV_ENOBUFS) */
  size_t alloc_limit; /* 0: give suggested_size; else at most this */
  int connect_count;
  int connect_status;
  int writes_done;
  int write_errors;
  int last_write_status;
  int shutdown_count;
  int shutdown_status;
  int close_count;
  yamux_connect_t connect_req;
  yamux_shutdown_t shutdown_req;
} tstream_t;

/* yamux_stream_init() and zeroed counters; asserts success. */
void tstream_init(tstream_t* t, yamux_session_t* session);
/* yamux_stream_open() with the counting connect callback. */
int tstream_open(tstream_t* t);
/* yamux_accept() into t (initializing it first). */
int tstream_accept(tstream_t* t, yamux_session_t* session);
/* yamux_read_start() with the recording callbacks. */
int tstream_read_start(tstream_t* t);
/* Copies n bytes (pattern bytes if data is NULL) and yamux_write()s them;
 * the copy is freed by the callback. */
int tstream_write(tstream_t* t, const void* data, size_t n);
/* yamux_shutdown() with the counting callback. */
int tstream_shutdown(tstream_t* t);
/* yamux_close() / yamux_close_reset() with the counting close callback. */
void tstream_close(tstream_t* t);
void tstream_close_reset(tstream_t* t, uint32_t code);

#endif /* YAMUX_TEST_HELPERS_H */
