/* Window tuning over simulated links (linksim.h), on virtual time: bulk
 * streams from the client to the server over paths from a 50 us loopback
 * to a 100 ms WAN, optionally a second stream doing 64-byte round trips
 * beside them (latency under load), a reader that slows down, and the
 * max_window and window_budget bounds.
 *
 * YAMUX_TUNING_REPORT=1 prints each run's figures and timeline;
 * YAMUX_TUNING_LOG=1 also prints every window change (the engine's log). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "linksim.h"
#include "task.h"

#define KIB 1024u
#define MIB (1024u * 1024u)
#define US 1000ull
#define MS 1000000ull
#define MAX_BULK 4
#define NBUCKETS 64

static char pattern[65536];

typedef struct {
  yamux_write_t req;
  int busy;
} wslot_t;

typedef struct run_s run_t;

typedef struct {
  run_t* run;
  yamux_stream_t tx; /* the client's end */
  yamux_stream_t rx; /* the server's end */
  wslot_t slots[32];
  int accepted;
  int reading;
  uint64_t read;
  uint64_t read_budget_at; /* rate-limited reader: bytes allowed so far */
  uint64_t read_base;      /* bytes read when it slowed down */
  uint32_t window_max;     /* the largest window seen on rx */
  uint32_t window_now;
} bulk_t;

struct run_s {
  lsim_t sim;
  const char* name;
  uint64_t t0;
  uint64_t bucket_ns;
  uint64_t buckets[NBUCKETS]; /* bytes read, all bulk streams */
  int nbulk;
  bulk_t bulk[MAX_BULK];
  uint64_t reader_rate; /* bytes/s the reader takes from time reader_from;
                           0: as fast as it arrives */
  uint64_t reader_from;
  uint64_t grown_max; /* largest sum of growth over initial_window seen */
  /* 64-byte round trips on client stream B, echoed by the server */
  int use_b;
  uint64_t b_start;
  yamux_stream_t b, b_srv;
  int b_accepted;
  yamux_write_t b_wreq, b_echo_req;
  char b_msg[64], b_echo[64];
  size_t b_echo_have, b_have;
  uint64_t b_sent_at;
  int b_inflight;
  int b_count;
  uint64_t b_rtt[2048];
};

/* ---- the application on both sides --------------------------------------- */

static void on_wdone(yamux_write_t* req, int status) {
  wslot_t* slot = req->data;
  (void)status;
  slot->busy = 0;
}

static void sink_alloc(yamux_stream_t* h, size_t n, uv_buf_t* buf) {
  static char sink[65536];
  (void)h;
  (void)n;
  *buf = uv_buf_init(sink, sizeof(sink));
}

/* A slow reader's buffer holds what it may still read. */
static void bulk_alloc(yamux_stream_t* h, size_t n, uv_buf_t* buf) {
  bulk_t* b = h->data;
  sink_alloc(h, n, buf);
  if (b->run->reader_rate && b->run->sim.pair.now_ns >= b->run->reader_from &&
      buf->len > b->read_budget_at - b->read)
    buf->len = (size_t)(b->read_budget_at - b->read);
}

static void bulk_read(yamux_stream_t* h, ssize_t nread, const uv_buf_t* buf) {
  bulk_t* b = h->data;
  run_t* r = b->run;
  uint64_t k;
  (void)buf;
  if (nread <= 0) return;
  b->read += (uint64_t)nread;
  k = (r->sim.pair.now_ns - r->t0) / r->bucket_ns;
  if (k < NBUCKETS) r->buckets[k] += (uint64_t)nread;
  /* A slow reader stops once it has taken its share. */
  if (r->reader_rate && r->sim.pair.now_ns >= r->reader_from &&
      b->read >= b->read_budget_at) {
    ASSERT_OK(yamux_read_stop(h));
    b->reading = 0;
  }
}

static void echo_done(yamux_write_t* req, int status) {
  (void)req;
  (void)status;
}

static void b_srv_read(yamux_stream_t* h, ssize_t nread, const uv_buf_t* buf) {
  run_t* r = h->data;
  uv_buf_t out;
  if (nread <= 0) return;
  memcpy(r->b_echo + r->b_echo_have, buf->base, (size_t)nread);
  r->b_echo_have += (size_t)nread;
  if (r->b_echo_have < 64) return;
  r->b_echo_have = 0;
  out = uv_buf_init(r->b_echo, 64);
  ASSERT_OK(yamux_write(&r->b_echo_req, h, &out, 1, echo_done));
}

static void b_read(yamux_stream_t* h, ssize_t nread, const uv_buf_t* buf) {
  run_t* r = h->data;
  (void)buf;
  if (nread <= 0) return;
  r->b_have += (size_t)nread;
  if (r->b_have < 64) return;
  r->b_have = 0;
  r->b_inflight = 0;
  if (r->b_count < 2048)
    r->b_rtt[r->b_count] = r->sim.pair.now_ns - r->b_sent_at;
  r->b_count++;
}

static void on_conn(yamux_session_t* s, int status) {
  run_t* r = tside_of(s)->session.data;
  int i;
  (void)status;
  for (i = 0; i < r->nbulk; i++) {
    bulk_t* b = &r->bulk[i];
    if (b->accepted) continue;
    ASSERT_OK(yamux_stream_init(s, &b->rx));
    b->rx.data = b;
    ASSERT_OK(yamux_accept(s, &b->rx));
    b->accepted = 1;
    b->reading = 1;
    ASSERT_OK(yamux_read_start(&b->rx, bulk_alloc, bulk_read));
    return;
  }
  ASSERT(r->use_b && !r->b_accepted);
  ASSERT_OK(yamux_stream_init(s, &r->b_srv));
  r->b_srv.data = r;
  ASSERT_OK(yamux_accept(s, &r->b_srv));
  r->b_accepted = 1;
  ASSERT_OK(yamux_read_start(&r->b_srv, sink_alloc, b_srv_read));
}

static uint64_t run_app(lsim_t* sim, void* arg) {
  run_t* r = arg;
  uint64_t now = sim->pair.now_ns, next = UINT64_MAX, grown = 0;
  int i;
  size_t k;

  for (i = 0; i < r->nbulk; i++) {
    bulk_t* b = &r->bulk[i];
    yamux_stream_stats_t st;
    for (k = 0; k < 32; k++) {
      uv_buf_t buf = uv_buf_init(pattern, sizeof(pattern));
      if (yamux_stream_get_write_queue_size(&b->tx) >= 1 * MIB) break;
      if (b->slots[k].busy) continue;
      b->slots[k].busy = 1;
      b->slots[k].req.data = &b->slots[k];
      ASSERT_OK(yamux_write(&b->slots[k].req, &b->tx, &buf, 1, on_wdone));
    }
    if (!b->accepted) continue;
    ASSERT_OK(yamux_stream_get_stats(&b->rx, &st));
    b->window_now = st.recv_window_max;
    if (st.recv_window_max > b->window_max) b->window_max = st.recv_window_max;
    grown += st.recv_window_max - T_WINDOW;
    if (r->reader_rate && now >= r->reader_from) {
      /* The slow reader may read rate x (time since it slowed down). */
      uint64_t allowed =
          b->read_base + r->reader_rate * (now - r->reader_from) / 1000000000u;
      if (allowed > b->read_budget_at) b->read_budget_at = allowed;
      if (!b->reading && b->read < b->read_budget_at) {
        b->reading = 1;
        ASSERT_OK(yamux_read_start(&b->rx, bulk_alloc, bulk_read));
      }
      next = now + MS;
    }
  }
  if (grown > r->grown_max) r->grown_max = grown;
  if (r->use_b && now >= r->b_start && !r->b_inflight) {
    uv_buf_t buf = uv_buf_init(r->b_msg, 64);
    ASSERT_OK(yamux_write(&r->b_wreq, &r->b, &buf, 1, NULL));
    r->b_inflight = 1;
    r->b_sent_at = now;
  }
  if (r->use_b && now < r->b_start && r->b_start < next) next = r->b_start;
  return next;
}

/* ---- a run --------------------------------------------------------------- */

typedef struct {
  uint64_t rtt_ns;    /* base round trip: twice the one-way delay */
  uint64_t rate_bps;  /* the bottleneck; 0: none */
  size_t sndbuf;      /* see lsim_link_t */
  double secs;        /* how long to run */
  int nbulk;          /* bulk streams */
  int use_b;          /* round trips on stream B from half-time on */
  yamux_config_t cfg; /* both sides */
} setup_t;

static void setup_init(setup_t* su, uint64_t rtt_ns, uint64_t rate_bps,
                       double secs) {
  memset(su, 0, sizeof(*su));
  su->rtt_ns = rtt_ns;
  su->rate_bps = rate_bps;
  su->secs = secs;
  su->nbulk = 1;
  yamux_config_init(&su->cfg);
  su->cfg.keepalive_interval_ms = 0;
}

static void tuning_log(void* data, yamux_log_level_t level, const char* msg) {
  run_t* r = data;
  (void)level;
  fprintf(stderr, "  %9.3f ms %s\n", (double)(r->sim.pair.now_ns - r->t0) / 1e6,
          msg);
}

static void run_start(run_t* r, const char* name, setup_t* su) {
  lsim_link_t link = {su->rtt_ns / 2, su->rate_bps, su->sndbuf, 0};
  int i;

  memset(r, 0, sizeof(*r));
  r->name = name;
  if (getenv("YAMUX_TUNING_LOG") != NULL) {
    su->cfg.log_cb = tuning_log;
    su->cfg.log_data = r;
    su->cfg.log_level = YAMUX_LOG_DEBUG;
  }
  lsim_init(&r->sim, &su->cfg, &su->cfg, &link);
  r->t0 = r->sim.pair.now_ns;
  r->bucket_ns = (uint64_t)(su->secs * 1e9 / NBUCKETS);
  r->nbulk = su->nbulk;
  r->sim.pair.s.session.data = r;
  r->sim.app = run_app;
  r->sim.app_arg = r;
  ASSERT_OK(yamux_session_listen(&r->sim.pair.s.session, on_conn));
  for (i = 0; i < r->nbulk; i++) {
    r->bulk[i].run = r;
    ASSERT_OK(yamux_stream_init(&r->sim.pair.c.session, &r->bulk[i].tx));
    ASSERT_OK(yamux_stream_open(NULL, &r->bulk[i].tx, NULL));
  }
  if (su->use_b) {
    r->use_b = 1;
    r->b_start = r->t0 + (uint64_t)(su->secs * 0.5e9);
    ASSERT_OK(yamux_stream_init(&r->sim.pair.c.session, &r->b));
    r->b.data = r;
    ASSERT_OK(yamux_stream_open(NULL, &r->b, NULL));
    ASSERT_OK(yamux_read_start(&r->b, sink_alloc, b_read));
  }
}

static void run_for(run_t* r, double secs) {
  lsim_run_until(&r->sim, r->sim.pair.now_ns + (uint64_t)(secs * 1e9));
}

static void run_finish(run_t* r) {
  int i;
  size_t k;
  for (i = 0; i < r->nbulk; i++) yamux_close(&r->bulk[i].tx, NULL);
  if (r->use_b) yamux_close(&r->b, NULL);
  lsim_close(&r->sim);
  for (i = 0; i < r->nbulk; i++)
    for (k = 0; k < 32; k++) ASSERT_EQ(r->bulk[i].slots[k].busy, 0);
}

/* Read rate over buckets [from, to), MiB/s. */
static double rate_mibps(const run_t* r, size_t from, size_t to) {
  uint64_t n = 0;
  size_t k;
  for (k = from; k < to; k++) n += r->buckets[k];
  return (double)n / MIB / ((double)(to - from) * (double)r->bucket_ns / 1e9);
}

/* Seconds from the start until the read rate over a 0.5 s window first
 * reaches 80 % of the rate over the last half (W8's ramp_secs). */
static double ramp_secs(const run_t* r) {
  double steady = rate_mibps(r, NBUCKETS / 2, NBUCKETS);
  size_t win = (size_t)(0.5e9 / (double)r->bucket_ns), k;
  if (win == 0) win = 1;
  for (k = 0; k + win <= NBUCKETS; k++)
    if (rate_mibps(r, k, k + win) >= 0.8 * steady)
      return (double)(k + win) * (double)r->bucket_ns / 1e9;
  return 1e9;
}

static int cmp_u64(const void* a, const void* b) {
  uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
  return x < y ? -1 : x > y;
}

static double b_p99_ms(run_t* r) {
  size_t m = r->b_count < 2048 ? (size_t)r->b_count : 2048;
  if (m == 0) return 0;
  qsort(r->b_rtt, m, sizeof(uint64_t), cmp_u64);
  return (double)r->b_rtt[m * 99 / 100] / 1e6;
}

static void report(run_t* r) {
  size_t k;
  int i;
  if (getenv("YAMUX_TUNING_REPORT") == NULL) return;
  fprintf(stderr, "%s: steady %.1f MiB/s, ramp %.2f s, windows", r->name,
          rate_mibps(r, NBUCKETS / 2, NBUCKETS), ramp_secs(r));
  for (i = 0; i < r->nbulk; i++)
    fprintf(stderr, " %u/%u KiB", r->bulk[i].window_now / KIB,
            r->bulk[i].window_max / KIB);
  if (r->b_count > 0)
    fprintf(stderr, ", B %d round trips p99 %.2f ms", r->b_count, b_p99_ms(r));
  fprintf(stderr, "\n  timeline (MiB/s):");
  for (k = 0; k < NBUCKETS; k++)
    fprintf(stderr, " %.0f", rate_mibps(r, k, k + 1));
  fprintf(stderr, "\n");
}

/* One bulk stream over a path of `rtt_ns` with a bottleneck of `rate`:
 * the stream gets the path's rate, its window stays within bounds of the
 * bandwidth-delay product, and (with B) a small round trip beside it
 * waits at most `max_queue` times the base RTT. */
static void check_path(const char* name, uint64_t rtt_ns, uint64_t rate,
                       size_t sndbuf, double secs, double max_ramp,
                       uint32_t max_window_seen, double max_queue) {
  setup_t su;
  run_t* r = calloc(1, sizeof(*r));
  double link_mibps = (double)rate / MIB;

  ASSERT_NOT_NULL(r);
  setup_init(&su, rtt_ns, rate, secs);
  su.sndbuf = sndbuf;
  su.use_b = max_queue > 0;
  run_start(r, name, &su);
  run_for(r, secs);
  report(r);
  ASSERT_GE(rate_mibps(r, NBUCKETS / 2, NBUCKETS), 0.9 * link_mibps);
  if (max_ramp > 0) ASSERT_LE(ramp_secs(r), max_ramp);
  ASSERT_LE(r->bulk[0].window_max, max_window_seen);
  if (max_queue > 0) {
    ASSERT_GE(r->b_count, 10);
    ASSERT_LE(b_p99_ms(r), max_queue * (double)rtt_ns / 1e6);
  }
  run_finish(r);
  free(r);
}

/* Loopback-like: the window stays near the initial one (a larger window
 * would only queue), the round trip beside the bulk stays short. */
TEST(tuning_rtt_50us) {
  check_path("rtt 50us, 2.5 GB/s", 50 * US, 2500ull * MIB, 256 * KIB, 0.2, 0,
             2 * MIB, 4.0);
}

TEST(tuning_rtt_1ms) {
  check_path("rtt 1ms, 100 MiB/s", 1 * MS, 100ull * MIB, 0, 2.0, 0.1, 2 * MIB,
             3.0);
}

/* A WAN: the window grows to the bandwidth-delay product (15 MiB) within a
 * second, with the default max_window. */
TEST(tuning_rtt_50ms) {
  check_path("rtt 50ms, 300 MiB/s", 50 * MS, 300ull * MIB, 0, 3.0, 1.0,
             64 * MIB, 0);
}

TEST(tuning_rtt_100ms) {
  check_path("rtt 100ms, 300 MiB/s", 100 * MS, 300ull * MIB, 0, 4.0, 2.0,
             64 * MIB, 0);
}

/* W8lat's shape: a 100 Mbit/s bottleneck that queues whatever is in
 * flight. The window settles near the bandwidth-delay product (625 KB), so
 * the round trip beside the bulk stream stays under 1.6x the base RTT. */
TEST(tuning_bottleneck_latency) {
  /* The decision before the rate stops rising may reach 8x the product
   * (two doublings per round trip on a WAN, tune.c); it shrinks again. */
  check_path("rtt 50ms, 12.5 MB/s bottleneck", 50 * MS, 12500000, 0, 10.0, 1.0,
             6 * MIB, 1.6);
}

/* max_window caps the window however fast the path. */
TEST(tuning_stops_at_max_window) {
  setup_t su;
  run_t* r = calloc(1, sizeof(*r));

  setup_init(&su, 50 * MS, 300ull * MIB, 2.0);
  su.cfg.max_window = 2 * MIB;
  run_start(r, "max_window 2 MiB at 50 ms", &su);
  run_for(r, 2.0);
  report(r);
  ASSERT_EQ(r->bulk[0].window_max, 2 * MIB);
  /* 2 MiB per 50 ms round trip caps the stream near 40 MiB/s. */
  ASSERT_LE(rate_mibps(r, NBUCKETS / 2, NBUCKETS), 45.0);
  ASSERT_GE(rate_mibps(r, NBUCKETS / 2, NBUCKETS), 25.0);
  run_finish(r);
  free(r);
}

/* window_budget bounds the growth summed over the session's streams. */
TEST(tuning_stops_at_budget) {
  setup_t su;
  run_t* r = calloc(1, sizeof(*r));

  setup_init(&su, 50 * MS, 300ull * MIB, 2.0);
  su.nbulk = 3;
  su.cfg.window_budget = 4 * MIB;
  run_start(r, "3 streams, budget 4 MiB at 50 ms", &su);
  run_for(r, 2.0);
  report(r);
  ASSERT_LE(r->grown_max, 4 * MIB);
  ASSERT_GE(r->grown_max, 3 * MIB); /* the budget was the limit */
  run_finish(r);
  free(r);
}

/* A reader that slows down gets a smaller window: the peer's credit (and
 * what we may be made to buffer) follows what the reader takes. */
TEST(tuning_shrinks_for_slow_reader) {
  setup_t su;
  run_t* r = calloc(1, sizeof(*r));
  uint32_t fast;

  setup_init(&su, 50 * MS, 300ull * MIB, 6.0);
  run_start(r, "reader slows to 8 MiB/s at 50 ms", &su);
  run_for(r, 2.0);
  fast = r->bulk[0].window_now;
  ASSERT_GE(fast, 8 * MIB);
  r->reader_rate = 8 * MIB;
  r->reader_from = r->sim.pair.now_ns;
  r->bulk[0].read_budget_at = r->bulk[0].read;
  r->bulk[0].read_base = r->bulk[0].read;
  run_for(r, 4.0);
  report(r);
  /* 8 MiB/s x 50 ms is 400 KiB: the window comes down near that, and so
   * does the credit the peer holds. */
  ASSERT_LE(r->bulk[0].window_now, 1 * MIB);
  {
    yamux_stream_stats_t st;
    ASSERT_OK(yamux_stream_get_stats(&r->bulk[0].rx, &st));
    ASSERT_LE(st.recv_window + st.buffered_bytes, 1 * MIB);
  }
  run_finish(r);
  free(r);
}
