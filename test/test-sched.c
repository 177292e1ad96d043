/* Send scheduling under backpressure: a transport that takes a little at a
 * time (a full pipe or socket) must never make a control frame, or another
 * stream's data, wait behind more than one Data frame of our own backlog;
 * priorities order the streams' Data. */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "task.h"

#define KIB 1024u

/* One write by a slow transport: takes at most `limit` bytes of what the
 * session offers and decodes the frames that completed. */
static size_t take_once(tpeer_t* p, size_t limit) {
  const uv_buf_t* bufs;
  unsigned int n, i;
  size_t took = 0;

  if (p->side.woken) {
    p->side.woken = 0;
    yamux_session_run(&p->side.session, p->now_ns);
  }
  n = yamux_session_send_buffers(&p->side.session, &bufs, 1024, p->now_ns);
  for (i = 0; i < n && took < limit; i++) {
    size_t len = bufs[i].len;
    if (len > limit - took) len = limit - took;
    tbuf_append(&p->raw, bufs[i].base, len);
    took += len;
  }
  if (n > 0) yamux_session_send_done(&p->side.session, took, 0, p->now_ns);
  if (took > 0) {
    size_t used = tframes_decode(&p->out, p->raw.data, p->raw.len);
    tbuf_consume(&p->raw, used);
  }
  return took;
}

/* Opens a stream and has the peer ACK it with a window of 64 MiB (before
 * anything is written, so that pumping sends only the SYN). */
static void open_stream(tpeer_t* p, tstream_t* t) {
  tstream_init(t, &p->side.session);
  ASSERT_OK(tstream_open(t));
  tpeer_pump(p);
  ASSERT_OK(tpeer_send_frame(p, T_WU, F_ACK, t->handle.id, 64u << 20, NULL, 0));
}

static void open_bulk(tpeer_t* p, tstream_t* t, size_t bytes) {
  open_stream(p, t);
  ASSERT_OK(tstream_write(t, NULL, bytes));
}

/* Data bytes in frames out[from..) before the first frame that matches,
 * or SIZE_MAX if none does. */
static size_t data_before(const tpeer_t* p, size_t from, int type, int flags,
                          uint32_t id) {
  size_t i, bytes = 0;
  for (i = from; i < p->out.n; i++) {
    const tframe_t* f = &p->out.v[i];
    if (f->type == type && (flags < 0 || f->flags == flags) && f->id == id)
      return bytes;
    if (f->type == T_DATA) bytes += f->length;
  }
  return SIZE_MAX;
}

/* A ping arrives while 4 MiB wait to go out through a transport that
 * takes 16 KiB a turn: the pong follows at most the Data frame being
 * written. */
TEST(sched_pong_waits_at_most_one_frame) {
  tpeer_t p;
  tstream_t t;
  size_t mark, before;
  int turn;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  open_bulk(&p, &t, 4u << 20);
  for (turn = 0; turn < 20; turn++) ASSERT_GT(take_once(&p, 16 * KIB), 0);
  mark = p.out.n;
  ASSERT_OK(tpeer_send_frame(&p, T_PING, F_SYN, 0, 77, NULL, 0));
  for (turn = 0; turn < 20; turn++) take_once(&p, 16 * KIB);
  before = data_before(&p, mark, T_PING, F_ACK, 0);
  ASSERT_NE(before, SIZE_MAX);
  ASSERT_LE(before, 65536);
  tstream_close(&t);
  tpeer_close(&p);
  tbuf_free(&t.rx);
  tpeer_free(&p);
}

/* The same for another stream's small write (an RPC beside a bulk
 * transfer): it goes out after at most one frame of the bulk stream. */
TEST(sched_small_write_waits_at_most_one_frame) {
  tpeer_t p;
  tstream_t bulk, rpc;
  size_t mark, before;
  int turn;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  open_stream(&p, &rpc);
  open_bulk(&p, &bulk, 4u << 20);
  for (turn = 0; turn < 20; turn++) ASSERT_GT(take_once(&p, 16 * KIB), 0);
  mark = p.out.n;
  ASSERT_OK(tstream_write(&rpc, NULL, 64));
  for (turn = 0; turn < 20; turn++) take_once(&p, 16 * KIB);
  before = data_before(&p, mark, T_DATA, -1, rpc.handle.id);
  ASSERT_NE(before, SIZE_MAX);
  ASSERT_LE(before, 65536);
  tstream_close(&bulk);
  tstream_close(&rpc);
  tpeer_close(&p);
  tbuf_free(&bulk.rx);
  tbuf_free(&rpc.rx);
  tpeer_free(&p);
}

/* A transport that takes everything gets full batches (the bound above
 * costs nothing when nothing backs up), and every byte arrives in order. */
TEST(sched_fast_transport_full_batches) {
  tpeer_t p;
  tstream_t t;
  const uv_buf_t* bufs;
  unsigned int n;
  size_t i, data = 0;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  open_bulk(&p, &t, 1u << 20);
  n = yamux_session_send_buffers(&p.side.session, &bufs, 1024, p.now_ns);
  ASSERT_GE(n, 8); /* 256 KiB: four frames, header and body each */
  yamux_session_send_done(&p.side.session, 0, 0, p.now_ns);
  tpeer_pump(&p);
  for (i = 0; i < p.out.n; i++)
    if (p.out.v[i].type == T_DATA) {
      ASSERT_MEM_EQ(p.out.v[i].body, t.rx.data, 0);
      data += p.out.v[i].length;
    }
  ASSERT_EQ(data, 1u << 20);
  tstream_close(&t);
  tpeer_close(&p);
  tbuf_free(&t.rx);
  tpeer_free(&p);
}

/* Frames taken back from a backed-up batch go out again later, in order:
 * the peer receives every byte of every stream exactly once. */
TEST(sched_backed_up_streams_bytes_intact) {
  tpair_t pair;
  tstream_t c[4];
  tstream_t s[4];
  int i, turns;
  yamux_config_t cfg;

  yamux_config_init(&cfg);
  cfg.keepalive_interval_ms = 0;
  tpair_init(&pair, &cfg, &cfg);
  pair.short_write = 3000; /* every write is short */
  for (i = 0; i < 4; i++) {
    tstream_init(&c[i], &pair.c.session);
    ASSERT_OK(tstream_open(&c[i]));
    ASSERT_OK(tstream_write(&c[i], NULL, 300000 + (size_t)i * 7777));
    ASSERT_OK(tstream_shutdown(&c[i]));
  }
  tpair_pump(&pair);
  for (i = 0; i < 4; i++) {
    ASSERT_OK(tstream_accept(&s[i], &pair.s.session));
    ASSERT_OK(tstream_read_start(&s[i]));
  }
  for (turns = 0; turns < 10000; turns++) {
    int done = 1;
    tpair_pump(&pair);
    for (i = 0; i < 4; i++) done &= s[i].eof == 1;
    if (done) break;
  }
  for (i = 0; i < 4; i++) {
    size_t k, want = 300000 + (size_t)i * 7777;
    ASSERT_EQ(s[i].eof, 1);
    ASSERT_EQ(s[i].rx.len, want);
    for (k = 0; k < want; k++) ASSERT_EQ(s[i].rx.data[k], tpattern(k));
    ASSERT_EQ(c[i].writes_done, 1);
    ASSERT_EQ(c[i].last_write_status, 0);
    tstream_close(&c[i]);
    tstream_close(&s[i]);
  }
  tpair_close(&pair);
  for (i = 0; i < 4; i++) {
    tbuf_free(&c[i].rx);
    tbuf_free(&s[i].rx);
  }
}

/* Priorities: while both have data, the urgent stream's frames go first;
 * equal priorities take turns. */
TEST(sched_priority_orders_data) {
  tpeer_t p;
  tstream_t lo, hi, hi2;
  size_t i, hi_bytes = 0, lo_before_hi_done = 0;
  int turn;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  open_stream(&p, &lo);
  open_stream(&p, &hi);
  open_stream(&p, &hi2);
  ASSERT_OK(tstream_write(&lo, NULL, 1u << 20));
  ASSERT_OK(tstream_write(&hi, NULL, 512 * KIB));
  ASSERT_OK(tstream_write(&hi2, NULL, 512 * KIB));
  /* Set after the writes were queued: it applies to them too. */
  ASSERT_OK(yamux_stream_set_priority(&hi.handle, 0));
  ASSERT_OK(yamux_stream_set_priority(&hi2.handle, 0));
  ASSERT_EQ(yamux_stream_set_priority(&lo.handle, 8), UV_EINVAL);
  ASSERT_EQ(yamux_stream_set_priority(&lo.handle, -1), UV_EINVAL);
  for (turn = 0; turn < 200; turn++) take_once(&p, 64 * KIB);
  /* Once the first frames are out, nothing of `lo` goes until both urgent
   * streams are done; they alternate. */
  for (i = 0; i < p.out.n && hi_bytes < 1024 * KIB; i++) {
    const tframe_t* f = &p.out.v[i];
    if (f->type != T_DATA) continue;
    if (f->id == hi.handle.id || f->id == hi2.handle.id)
      hi_bytes += f->length;
    else
      lo_before_hi_done += f->length;
  }
  ASSERT_EQ(hi_bytes, 1024 * KIB);
  ASSERT_EQ(lo_before_hi_done, 0);
  {
    int alternations = 0;
    uint32_t last = 0;
    for (i = 0; i < p.out.n; i++) {
      const tframe_t* f = &p.out.v[i];
      if (f->type != T_DATA || f->id == lo.handle.id) continue;
      if (last != 0 && f->id != last) alternations++;
      last = f->id;
    }
    ASSERT_GE(alternations, 10);
  }
  ASSERT_EQ(yamux_stream_set_priority(NULL, 0), UV_EINVAL);
  tstream_close(&lo);
  tstream_close(&hi);
  tstream_close(&hi2);
  ASSERT_EQ(yamux_stream_set_priority(&lo.handle, 0), UV_EINVAL);
  tpeer_close(&p);
  tbuf_free(&lo.rx);
  tbuf_free(&hi.rx);
  tbuf_free(&hi2.rx);
  tpeer_free(&p);
}

/* A stream's requests complete in the order they were made, also when it
 * is reset (or closed) while the transport still writes an earlier one:
 * the later ones wait for it. */
static int order_seen[4];
static int order_n;
static int order_status[4];

static void order_cb(yamux_write_t* req, int status) {
  order_status[order_n] = status;
  order_seen[order_n++] = (int)(intptr_t)req->data;
}

static void order_shut_cb(yamux_shutdown_t* req, int status) {
  order_status[order_n] = status;
  order_seen[order_n++] = (int)(intptr_t)req->data;
}

static void check_order_after(int reset) {
  tpeer_t p;
  tstream_t t;
  yamux_write_t w1, w2;
  yamux_shutdown_t sh;
  const uv_buf_t* bufs;
  unsigned int n, i;
  size_t lent = 0;
  static char big[300000], small[1000];
  uv_buf_t b1 = uv_buf_init(big, sizeof(big));
  uv_buf_t b2 = uv_buf_init(small, sizeof(small));

  order_n = 0;
  tpeer_init(&p, YAMUX_CLIENT, NULL);
  open_stream(&p, &t);
  w1.data = (void*)1;
  w2.data = (void*)2;
  sh.data = (void*)3;
  ASSERT_OK(yamux_write(&w1, &t.handle, &b1, 1, order_cb));
  ASSERT_OK(yamux_write(&w2, &t.handle, &b2, 1, order_cb));
  ASSERT_OK(yamux_shutdown(&sh, &t.handle, order_shut_cb));
  /* The transport takes the first batch (part of w1) and holds it. */
  yamux_session_run(&p.side.session, p.now_ns);
  n = yamux_session_send_buffers(&p.side.session, &bufs, 1024, p.now_ns);
  ASSERT_GT(n, 0);
  for (i = 0; i < n; i++) lent += bufs[i].len;
  if (reset)
    ASSERT_OK(tpeer_send_frame(&p, T_WU, F_RST, t.handle.id, 0, NULL, 0));
  else
    yamux_close(&t.handle, NULL);
  yamux_session_run(&p.side.session, p.now_ns);
  ASSERT_EQ(order_n, 0); /* w1 is still being written */
  yamux_session_send_done(&p.side.session, lent, 0, p.now_ns);
  tpeer_pump(&p);
  ASSERT_EQ(order_n, 3);
  ASSERT_EQ(order_seen[0], 1);
  ASSERT_EQ(order_seen[1], 2);
  ASSERT_EQ(order_seen[2], 3);
  ASSERT_EQ(order_status[1], reset ? UV_ECONNRESET : UV_ECANCELED);
  if (reset) tstream_close(&t);
  tpeer_close(&p);
  tbuf_free(&t.rx);
  tpeer_free(&p);
}

TEST(sched_requests_complete_in_order_after_reset) {
  check_order_after(1);
}

TEST(sched_requests_complete_in_order_after_close) {
  check_order_after(0);
}

/* Frames gathered before the application closes the stream are not taken
 * back after a short write: its writes complete (they were handed to the
 * transport), and only then its close callback runs (found by fuzzing: the
 * close callback ran while a write taken back waited in the stream). */
static int closed_after_writes;
static int close_seen;

static void count_order_close(yamux_stream_t* h) {
  (void)h;
  close_seen++;
  closed_after_writes = order_n;
}

TEST(sched_close_keeps_gathered_frames) {
  tpeer_t p;
  tstream_t t;
  yamux_write_t w[3];
  static char bytes[3][65536];
  const uv_buf_t* bufs;
  unsigned int n, i;
  int turn;

  order_n = 0;
  close_seen = 0;
  tpeer_init(&p, YAMUX_CLIENT, NULL);
  open_stream(&p, &t);
  for (i = 0; i < 3; i++) {
    uv_buf_t b = uv_buf_init(bytes[i], sizeof(bytes[i]));
    w[i].data = (void*)(intptr_t)(i + 1);
    ASSERT_OK(yamux_write(&w[i], &t.handle, &b, 1, order_cb));
  }
  /* All three are gathered; the transport writes 1,000 bytes of them. */
  yamux_session_run(&p.side.session, p.now_ns);
  n = yamux_session_send_buffers(&p.side.session, &bufs, 1024, p.now_ns);
  ASSERT_GE(n, 6);
  yamux_session_send_done(&p.side.session, 1000, 0, p.now_ns);
  yamux_close(&t.handle, count_order_close);
  for (turn = 0; turn < 100 && close_seen == 0; turn++) take_once(&p, 16384);
  ASSERT_EQ(close_seen, 1);
  ASSERT_EQ(order_n, 3);
  ASSERT_EQ(closed_after_writes, 3);
  for (i = 0; i < 3; i++) {
    ASSERT_EQ(order_seen[i], (int)i + 1);
    ASSERT_EQ(order_status[i], 0);
  }
  tpeer_close(&p);
  tbuf_free(&t.rx);
  tpeer_free(&p);
}

/* A cancelled write on a closed stream is never lost when a more urgent
 * stream's backlog keeps the closed stream's earlier write out of the next
 * batch (review: a frame taken back from a closing stream let its
 * cancelled requests wait for ever). */
static int prio_done[3];
static int prio_status[3];
static int prio_close;

static void prio_write_cb(yamux_write_t* req, int status) {
  int i = (int)(intptr_t)req->data;
  prio_done[i]++;
  prio_status[i] = status;
}

static void prio_close_cb(yamux_stream_t* h) {
  (void)h;
  prio_close++;
}

TEST(sched_cancelled_write_completes_beside_urgent_backlog) {
  tpeer_t p;
  tstream_t x, y;
  yamux_write_t a, c;
  static char abuf[100], cbuf[100];
  uv_buf_t ba = uv_buf_init(abuf, sizeof(abuf));
  uv_buf_t bc = uv_buf_init(cbuf, sizeof(cbuf));
  const uv_buf_t* bufs;

  memset(prio_done, 0, sizeof(prio_done));
  prio_close = 0;
  tpeer_init(&p, YAMUX_CLIENT, NULL);
  open_stream(&p, &x);
  open_stream(&p, &y);
  ASSERT_OK(yamux_stream_set_priority(&y.handle, 0));
  a.data = (void*)1;
  c.data = (void*)2;
  ASSERT_OK(tstream_write(&y, NULL, 65536));
  ASSERT_OK(yamux_write(&a, &x.handle, &ba, 1, prio_write_cb));
  yamux_session_run(&p.side.session, p.now_ns);
  ASSERT_GT(yamux_session_send_buffers(&p.side.session, &bufs, 1024, p.now_ns),
            0);
  yamux_session_send_done(&p.side.session, 1000, 0, p.now_ns); /* short */
  ASSERT_OK(tstream_write(&y, NULL, 1u << 20));
  ASSERT_OK(yamux_write(&c, &x.handle, &bc, 1, prio_write_cb));
  yamux_close(&x.handle, prio_close_cb);
  ASSERT_GT(yamux_session_send_buffers(&p.side.session, &bufs, 1024, p.now_ns),
            0);
  yamux_session_send_done(&p.side.session, 0, 0, p.now_ns);
  ASSERT_OK(tpeer_send_frame(&p, T_WU, F_RST, x.handle.id, 0, NULL, 0));
  tpeer_pump(&p);
  ASSERT_EQ(prio_done[1], 1);
  ASSERT_EQ(prio_done[2], 1);
  ASSERT_EQ(prio_status[2], UV_ECANCELED);
  ASSERT_EQ(prio_close, 1);
  tstream_close(&y);
  tpeer_close(&p);
  tbuf_free(&x.rx);
  tbuf_free(&y.rx);
  tpeer_free(&p);
}

/* Our Go Away(0) goes after every SYN queued before it, also when the
 * SYNs do not fit in the first (small) batch. */
TEST(sched_goaway_after_queued_syns) {
  tpeer_t p;
  tstream_t t[10];
  int i, seen_goaway = 0, syn_after = 0, syns = 0;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  for (i = 0; i < 10; i++) {
    tstream_init(&t[i], &p.side.session);
    ASSERT_OK(tstream_open(&t[i]));
  }
  ASSERT_OK(yamux_session_goaway(&p.side.session, 0));
  tpeer_pump(&p);
  for (i = 0; i < (int)p.out.n; i++) {
    if (p.out.v[i].type == T_GOAWAY) seen_goaway = 1;
    if (p.out.v[i].flags & F_SYN) {
      syns++;
      if (seen_goaway) syn_after++;
    }
  }
  ASSERT_EQ(syns, 10);
  ASSERT_EQ(seen_goaway, 1);
  ASSERT_EQ(syn_after, 0);
  for (i = 0; i < 10; i++) tstream_close(&t[i]);
  tpeer_close(&p);
  for (i = 0; i < 10; i++) tbuf_free(&t[i].rx);
  tpeer_free(&p);
}

/* One write by a transport that takes whole gather lists of at most
 * `max_bufs` entries (the session's batch limit); decodes the frames. */
static void take_bufs(tpeer_t* p, unsigned int max_bufs) {
  const uv_buf_t* bufs;
  unsigned int n, i;
  size_t took = 0;

  if (p->side.woken) {
    p->side.woken = 0;
    yamux_session_run(&p->side.session, p->now_ns);
  }
  n = yamux_session_send_buffers(&p->side.session, &bufs, max_bufs, p->now_ns);
  for (i = 0; i < n; i++) {
    tbuf_append(&p->raw, bufs[i].base, bufs[i].len);
    took += bufs[i].len;
  }
  if (n > 0) yamux_session_send_done(&p->side.session, took, 0, p->now_ns);
  tbuf_consume(&p->raw, tframes_decode(&p->out, p->raw.data, p->raw.len));
}

/* Data bytes of stream `id` in frames out[from..). */
static size_t data_of(const tpeer_t* p, size_t from, uint32_t id) {
  size_t i, bytes = 0;
  for (i = from; i < p->out.n; i++)
    if (p->out.v[i].type == T_DATA && p->out.v[i].id == id)
      bytes += p->out.v[i].length;
  return bytes;
}

#define RPC_STREAMS 64

/* Small writes on idle streams go ahead of the round, but new ones arriving
 * without pause (an RPC client with many calls in flight) must not starve
 * a stream with a backlog: found as an RPC request whose second half
 * waited more than 200 ms (examples/rpc under ASan). */
TEST(sched_small_writes_do_not_starve_the_round) {
  tpeer_t p;
  tstream_t bulk;
  tstream_t* rpc = calloc(RPC_STREAMS, sizeof(*rpc));
  size_t mark, rpc_bytes = 0;
  int turn, k, i;

  ASSERT_NOT_NULL(rpc);
  tpeer_init(&p, YAMUX_CLIENT, NULL);
  for (i = 0; i < RPC_STREAMS; i++) open_stream(&p, &rpc[i]);
  open_stream(&p, &bulk);
  ASSERT_OK(tstream_write(&bulk, NULL, 1u << 20));
  mark = p.out.n;
  /* Each turn four new requests (8 entries: a batch of 8 would hold only
   * them), then the transport takes one batch of 8. */
  for (turn = 0; turn < 16; turn++) {
    for (k = 0; k < 4; k++)
      ASSERT_OK(tstream_write(&rpc[(turn * 4 + k) % RPC_STREAMS], NULL, 16));
    take_bufs(&p, 8);
  }
  /* The bulk stream had about half of the batches' entries: two 64 KiB
   * frames a turn, 1 MiB in 8 turns (starved, it sent nothing). */
  ASSERT_GE(data_of(&p, mark, bulk.handle.id), 512 * KIB);
  tpeer_pump(&p);
  for (i = 0; i < RPC_STREAMS; i++)
    rpc_bytes += data_of(&p, mark, rpc[i].handle.id);
  ASSERT_EQ(rpc_bytes, 16u * 4 * 16);
  ASSERT_EQ(data_of(&p, mark, bulk.handle.id), 1u << 20);
  for (i = 0; i < RPC_STREAMS; i++) {
    tstream_close(&rpc[i]);
    tbuf_free(&rpc[i].rx);
  }
  tstream_close(&bulk);
  tpeer_close(&p);
  tbuf_free(&bulk.rx);
  tpeer_free(&p);
  free(rpc);
}

/* Index in out[from..) of the first Data frame of stream `id`, or SIZE_MAX. */
static size_t first_data(const tpeer_t* p, size_t from, uint32_t id) {
  size_t i;
  for (i = from; i < p->out.n; i++)
    if (p->out.v[i].type == T_DATA && p->out.v[i].id == id) return i;
  return SIZE_MAX;
}

/* A request whose frame the batch cut between its buffers (a header and
 * its arguments) keeps its turn: its rest goes out ahead of a small write
 * that came later, whether the cut frame carried its SYN or not. */
static void check_cut_frame_keeps_turn(int with_syn) {
  static char head[10] = "0123456789", args[4] = "abcd";
  tpeer_t p;
  tstream_t cut, later;
  yamux_write_t req;
  uv_buf_t bufs[2];
  size_t mark, rest, other;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  open_stream(&p, &later);
  if (with_syn) {
    tstream_init(&cut, &p.side.session);
    ASSERT_OK(tstream_open(&cut));
  } else {
    open_stream(&p, &cut);
  }
  bufs[0] = uv_buf_init(head, sizeof(head));
  bufs[1] = uv_buf_init(args, sizeof(args));
  ASSERT_OK(yamux_write(&req, &cut.handle, bufs, 2, NULL));
  mark = p.out.n;
  take_bufs(&p, 2); /* a header and the first buffer */
  ASSERT_EQ(data_of(&p, mark, cut.handle.id), sizeof(head));
  mark = p.out.n;
  ASSERT_OK(tstream_write(&later, NULL, 16));
  take_bufs(&p, 8);
  rest = first_data(&p, mark, cut.handle.id);
  other = first_data(&p, mark, later.handle.id);
  ASSERT_NE(rest, SIZE_MAX);
  ASSERT_NE(other, SIZE_MAX);
  ASSERT_LT(rest, other);
  ASSERT_MEM_EQ(p.out.v[rest].body, args, sizeof(args));
  tstream_close(&cut);
  tstream_close(&later);
  tpeer_close(&p);
  tbuf_free(&cut.rx);
  tbuf_free(&later.rx);
  tpeer_free(&p);
}

TEST(sched_cut_frame_keeps_turn) {
  check_cut_frame_keeps_turn(0);
}

TEST(sched_cut_frame_with_syn_keeps_turn) {
  check_cut_frame_keeps_turn(1);
}

/* A write of `n` buffers of 64 B (an encoder's output gathered in pieces):
 * a frame of such writes needs more entries than a batch has. */
#define PIECES 254
typedef struct {
  yamux_write_t req;
  uv_buf_t bufs[PIECES];
} pieces_t;

static char piece[64];

static void pieces_cb(yamux_write_t* req, int status) {
  /* Writes still queued when the test closes its streams are cancelled. */
  ASSERT(status == 0 || status == UV_ECANCELED);
  free(req->data);
}

static void write_pieces(tstream_t* t) {
  pieces_t* w = calloc(1, sizeof(*w));
  unsigned int i;
  ASSERT_NOT_NULL(w);
  for (i = 0; i < PIECES; i++) w->bufs[i] = uv_buf_init(piece, sizeof(piece));
  w->req.data = w;
  ASSERT_OK(yamux_write(&w->req, &t->handle, w->bufs, PIECES, pieces_cb));
}

/* Streams whose every frame the batch cuts short (their data is in many
 * small buffers) keep their turn once, not for ever: a stream of the same
 * priority with a backlog still gets its frames. `how`: 0, writes of 100 B
 * behind a large one; 1, writes of 254 x 64 B behind a large one; 2, the
 * same on an idle stream (a sparse one, which may take half a batch). */
static void check_cut_frames_share_the_round(int how) {
  tpeer_t p;
  tstream_t bulk, other;
  size_t mark;
  int turn, k;

  tpeer_init(&p, YAMUX_CLIENT, NULL);
  open_stream(&p, &bulk);
  open_stream(&p, &other);
  ASSERT_OK(tstream_write(&bulk, NULL, 4u << 20));
  if (how == 2) {
    take_bufs(&p, 1024); /* the bulk stream is under way, `other` idle */
  } else {
    ASSERT_OK(tstream_write(&other, NULL, 128 * KIB)); /* a backlog */
  }
  mark = p.out.n;
  for (turn = 0; turn < 60; turn++) {
    /* The application keeps writing as fast as the transport takes. */
    if (how == 0)
      for (k = 0; k < 300; k++) ASSERT_OK(tstream_write(&other, NULL, 100));
    else
      write_pieces(&other);
    take_bufs(&p, 1024);
  }
  /* Both streams get frames: the bulk stream about one 64 KiB frame in
   * every other batch at least (starved, it sent 128 KiB or nothing). */
  ASSERT_GE(data_of(&p, mark, bulk.handle.id), 1u << 20);
  ASSERT_GE(data_of(&p, mark, other.handle.id), 256 * KIB);
  tstream_close(&bulk);
  tstream_close(&other);
  tpeer_close(&p);
  tbuf_free(&bulk.rx);
  tbuf_free(&other.rx);
  tpeer_free(&p);
}

TEST(sched_cut_small_writes_share_the_round) {
  check_cut_frames_share_the_round(0);
}

TEST(sched_cut_writev_shares_the_round) {
  check_cut_frames_share_the_round(1);
}

TEST(sched_cut_sparse_stream_takes_half) {
  check_cut_frames_share_the_round(2);
}

/* Random batches: streams opened in order write multi-buffer writes (many short
 * slices, so frames get cut by the batch), with random priorities, and shut
 * down; the transport asks for random max_bufs and writes a random part (short
 * writes: ungather). The peer ACKs each SYN and returns credit for every
 * Data byte. Checked: every stream's bytes arrive once and in order, the
 * SYN leaves on the stream's first frame and SYNs in open order, FIN comes
 * after the last Data and nothing after it, every write completes with 0. */
#define RB_STREAMS 12
typedef struct {
  yamux_write_t req;
  uv_buf_t bufs[40];
  char data[40 * 700];
} rb_write_t;
static uint64_t rb_state = 0x9e3779b97f4a7c15ull;
static uint64_t rb_rand(void) {
  rb_state ^= rb_state << 13;
  rb_state ^= rb_state >> 7;
  rb_state ^= rb_state << 17;
  return rb_state;
}
static int rb_done, rb_failed;
static void rb_write_cb(yamux_write_t* req, int status) {
  if (status != 0) rb_failed++;
  rb_done++;
  free(req->data);
}
static uint8_t rb_byte(int i, size_t off) {
  return (uint8_t)((off * 7 + (size_t)i * 13 + off / 251) & 0xff);
}

static void random_batches_once(uint64_t seed) {
  tpeer_t p;
  tstream_t t[RB_STREAMS];
  size_t written[RB_STREAMS] = {0}, got[RB_STREAMS] = {0};
  int fin[RB_STREAMS] = {0}, syn_seen[RB_STREAMS] = {0}, opened = 0,
      shut[RB_STREAMS] = {0};
  int writes_made = 0, turn, i;
  uint32_t last_syn = 0;
  size_t cursor = 0;
  yamux_shutdown_t sh[RB_STREAMS];

  rb_state = seed;
  rb_done = rb_failed = 0;
  tpeer_init(&p, YAMUX_CLIENT, NULL);
  for (turn = 0; turn < 40000; turn++) {
    /* the application */
    if (opened < RB_STREAMS && rb_rand() % 8 == 0) {
      tstream_init(&t[opened], &p.side.session);
      ASSERT_OK(tstream_open(&t[opened]));
      if (rb_rand() % 2)
        ASSERT_OK(
            yamux_stream_set_priority(&t[opened].handle, (int)(rb_rand() % 4)));
      opened++;
    }
    for (i = 0; i < opened; i++) {
      if (shut[i] || rb_rand() % 4 != 0) continue;
      if (written[i] > 3000000 || turn > 600) {
        ASSERT_OK(yamux_shutdown(&sh[i], &t[i].handle, NULL));
        shut[i] = 1;
        continue;
      }
      {
        rb_write_t* w = malloc(sizeof(*w));
        unsigned n = (unsigned)(1 + rb_rand() % 40), k;
        size_t off = 0;
        for (k = 0; k < n; k++) {
          size_t len = rb_rand() % 5 == 0 ? 0 : (size_t)(rb_rand() % 700);
          size_t b;
          for (b = 0; b < len; b++)
            w->data[off + b] = (char)rb_byte(i, written[i] + off + b);
          w->bufs[k] = uv_buf_init(w->data + off, (unsigned)len);
          off += len;
        }
        w->req.data = w;
        ASSERT_OK(yamux_write(&w->req, &t[i].handle, w->bufs, n, rb_write_cb));
        written[i] += off;
        writes_made++;
      }
    }
    /* the transport */
    {
      const uv_buf_t* bufs;
      unsigned int n, k,
          maxb = (unsigned)(1 + rb_rand() % (rb_rand() % 2 ? 10 : 400));
      size_t took = 0, limit;
      if (p.side.woken) {
        p.side.woken = 0;
        yamux_session_run(&p.side.session, p.now_ns);
      }
      n = yamux_session_send_buffers(&p.side.session, &bufs, maxb, p.now_ns);
      limit = rb_rand() % 3 == 0 ? (size_t)(rb_rand() % 20000) : (size_t)-1;
      for (k = 0; k < n && took < limit; k++) {
        size_t len = bufs[k].len;
        if (len > limit - took) len = limit - took;
        tbuf_append(&p.raw, bufs[k].base, len);
        took += len;
      }
      if (n > 0) yamux_session_send_done(&p.side.session, took, 0, p.now_ns);
      tbuf_consume(&p.raw, tframes_decode(&p.out, p.raw.data, p.raw.len));
    }
    /* the peer */
    for (; cursor < p.out.n; cursor++) {
      const tframe_t* f = &p.out.v[cursor];
      int si = -1;
      if (f->type == T_PING) continue;
      for (i = 0; i < opened; i++)
        if (t[i].handle.id == f->id) si = i;
      if (si < 0) continue;
      if (f->flags & F_SYN) {
        ASSERT_EQ(syn_seen[si], 0);
        ASSERT_GT(f->id, last_syn);
        last_syn = f->id;
        syn_seen[si] = 1;
        ASSERT_OK(tpeer_send_frame(&p, T_WU, F_ACK, f->id, 0, NULL, 0));
      }
      ASSERT_EQ(syn_seen[si], 1);
      ASSERT_EQ(fin[si], 0);
      if (f->type == T_DATA) {
        uint32_t b;
        for (b = 0; b < f->length; b++) {
          if (f->body[b] != rb_byte(si, got[si] + b)) {
            fprintf(stderr, "seed %llx stream %d byte %zu wrong\n",
                    (unsigned long long)seed, si, got[si] + b);
            ASSERT(0);
          }
        }
        got[si] += f->length;
        if (f->length)
          ASSERT_OK(tpeer_send_frame(&p, T_WU, 0, f->id, f->length, NULL, 0));
      }
      if (f->flags & F_FIN) {
        ASSERT_EQ(got[si], written[si]);
        fin[si] = 1;
      }
    }
    if (turn > 600) {
      int all = opened == RB_STREAMS;
      for (i = 0; i < opened; i++) all &= fin[i];
      if (all) break;
    }
  }
  for (i = 0; i < opened; i++) {
    if (!fin[i])
      fprintf(stderr, "seed %llx: stream %d (id %u) got %zu of %zu, no FIN\n",
              (unsigned long long)seed, i, t[i].handle.id, got[i], written[i]);
    ASSERT_EQ(fin[i], 1);
    ASSERT_EQ(got[i], written[i]);
  }
  ASSERT_EQ(rb_done, writes_made);
  ASSERT_EQ(rb_failed, 0);
  for (i = 0; i < opened; i++) tstream_close(&t[i]);
  tpeer_close(&p);
  for (i = 0; i < opened; i++) tbuf_free(&t[i].rx);
  tpeer_free(&p);
}

/* Every path of the scheduler at once (frames cut by the batch, short
 * writes that take frames back, sparse streams, priorities, FIN and SYN on
 * Data) keeps each stream's bytes whole and in order: 40 seeds. */
TEST_TIMEOUT(sched_random_batches_keep_bytes_and_order, 300) {
  uint64_t seed;
  for (seed = 1; seed <= 40; seed++)
    random_batches_once(seed * 0x2545F4914F6CDD1Dull);
}
