/* Receive-window tuning: how much credit a stream gives its peer.
 *
 * A window smaller than the path's bandwidth-delay product caps a stream at
 * window / RTT; a larger one only queues data somewhere on the path (in a
 * proxy, in the kernel's buffers), and every other stream's frames wait
 * behind that queue. So the receiver sizes each stream's window from what
 * it measures: the rate at which the application reads the stream, over
 * epochs of at least one round trip, times the minimum round-trip time.
 *
 *  - While the rate keeps rising (each epoch at least 5/4 of the one
 *    before), the window is what limits the sender: a decision (every
 *    other epoch, as a change shows a round trip later) grows it to 4x
 *    rate x RTT, at most 4x itself: a doubling per round trip, as TCP's
 *    slow start, rust-yamux and QUIC stacks grow theirs. From 10 ms RTT on
 *    it is 8x: three doublings in two round trips. Below 1 ms it grows
 *    only as the rate demands.
 *  - Once the rate stops rising, the window settles at 5/4 of rate x RTT:
 *    enough to keep the path busy while credit is in transit (see
 *    yamux__tune_credit_threshold()), little enough that a bottleneck's queue
 *    stays short. It shrinks (by withholding credit as it is read) when that
 *    target falls below 4/5 of it: a slower reader or a slower path.
 *  - Windows never go below initial_window nor above max_window, and their
 *    growth over initial_window, summed over the session, stays within
 *    window_budget: the bound on memory a peer can make us hold.
 *
 * The RTT is the minimum over the session's ping samples (queueing behind
 * bulk data cannot inflate a minimum, and a window sized from an inflated
 * RTT would queue more, which inflates the next sample). Tuning asks for a
 * ping when it has no sample, or none for a second; keepalive pings count
 * too. Below YAMUX__TUNE_RTT_FLOOR_NS the round trip the window must cover
 * is the operating system's, not the path's: a reader process that misses
 * a wakeup stalls the sender unless the window holds that long at the
 * current rate. */
#include "internal.h"

/* The shortest round trip a window is sized for (see above): on loopback
 * and pipes, about what scheduling two processes on a busy machine costs.
 * Chosen by measurement (bench/RESULTS.md: W1, W7, W7p). */
#define YAMUX__TUNE_RTT_FLOOR_NS 100000u
/* Rate epochs last at least this long: over a shorter one, a read rate on
 * loopback (gigabytes per second, wakeups every few microseconds) is mostly
 * noise. */
#define YAMUX__TUNE_EPOCH_MIN_NS 1000000u
/* Below this RTT the window grows only as the rate demands (no doubling per
 * round trip): the path's product is small and reached at once, and a jump
 * in the window would only queue data. */
#define YAMUX__TUNE_GROWTH_RTT_NS 1000000u
/* From this RTT on (a WAN) a decision may grow the window 8x, not 4x:
 * three doublings in two round trips, since a round trip is long enough to
 * waste (the W8 rows of bench/RESULTS.md; test-tuning.c checks what it
 * costs on a bottleneck). */
#define YAMUX__TUNE_WAN_RTT_NS 10000000u
/* Below that RTT (loopback, pipes, a LAN) the window stays at most this
 * big: on such paths a larger window only queues data in the kernel's
 * buffers, ahead of every other stream's frames, and costs cache misses
 * (bench/RESULTS.md: W1, W7, W7p). It still carries 500 MiB/s at 1 ms. */
#define YAMUX__TUNE_LAN_WINDOW (512u * 1024u)
/* Ask for a fresh RTT sample when the last is older than this. */
#define YAMUX__TUNE_RTT_REFRESH_NS 1000000000u
/* Credit goes back in pieces of at most this much for small windows (fewer
 * Window Updates per MiB), and a quarter of the window for larger ones. */
#define YAMUX__CREDIT_STEP (256u * 1024u)

/* Time in units of 2^14 ns (16 us, fine enough for epochs of at least a
 * millisecond): 32 bits wrap after 19.5 hours. A stream that reads nothing
 * for that long and then reads again may see one epoch mis-measured; the
 * growth it can cause is bounded (8x a decision, max_window, the budget). 0
 * means none, so bit 0 is set. */
static uint32_t units_now(const yamux__sess_t* s) {
  return (uint32_t)(s->now >> 14) | 1u;
}

uint32_t yamux__tune_credit_threshold(const yamux__strm_t* st) {
  uint32_t w = st->recv_window_max;
  /* Half the window, as every yamux does, up to a step; a quarter beyond:
   * the sender then always holds at least 3/4 of a large window, so a
   * window of 3/2 of the path's bandwidth-delay product keeps it busy. */
  uint32_t half = w / 2 < YAMUX__CREDIT_STEP ? w / 2 : YAMUX__CREDIT_STEP;
  return half > w / 4 ? half : w / 4;
}

static void want_rtt(yamux__sess_t* s) {
  if ((s->flags & YAMUX__SESS_KEEPALIVE_INFLIGHT) ||
      (s->flags & YAMUX__SESS_KEEPALIVE_DUE))
    return;
  if (s->rtt_probed_at != 0 &&
      s->now - s->rtt_probed_at < YAMUX__TUNE_RTT_REFRESH_NS)
    return;
  if (s->rtt_min_ns != 0 &&
      s->now - s->rtt_sampled_at < YAMUX__TUNE_RTT_REFRESH_NS)
    return;
  s->rtt_probed_at = s->now;
  s->flags |= YAMUX__SESS_KEEPALIVE_DUE; /* a ping; its pong is a sample */
}

/* Ends the rate epoch if it lasted a round trip and returns the window
 * the stream should have from now on (the current one if no decision is
 * due). */
static uint32_t tuned_window(yamux__strm_t* st) {
  yamux__sess_t* s = st->sess;
  uint32_t w = st->recv_window_max;
  uint32_t now_u, rate;
  uint64_t rtt, elapsed_ns, target, room;
  uint32_t growth;
  int rising;

  now_u = units_now(s);
  /* Without an RTT nothing can be decided: worth a ping once the stream
   * reads enough to return credit. */
  if (s->rtt_min_ns == 0 &&
      st->credit_pending >= yamux__tune_credit_threshold(st))
    want_rtt(s);
  if (st->t.epoch.start == 0) { /* the first read starts the first epoch */
    st->t.epoch.start = now_u;
    st->t.epoch.bytes = 0;
    return w;
  }
  if (s->rtt_min_ns == 0) return w;
  rtt = YAMUX__MAX(s->rtt_min_ns, (uint64_t)YAMUX__TUNE_RTT_FLOOR_NS);
  growth = rtt >= YAMUX__TUNE_WAN_RTT_NS      ? 8
           : rtt >= YAMUX__TUNE_GROWTH_RTT_NS ? 4
                                              : 2;
  elapsed_ns = (uint64_t)(uint32_t)(now_u - st->t.epoch.start) << 14;
  if (elapsed_ns < YAMUX__MAX(rtt, (uint64_t)YAMUX__TUNE_EPOCH_MIN_NS))
    return w;
  want_rtt(s);

  /* Bytes per 2^20 ns: 32 bits hold 4 TB/s. */
  rate = (uint32_t)YAMUX__MIN(((uint64_t)st->t.epoch.bytes << 20) / elapsed_ns,
                              (uint64_t)UINT32_MAX);
  st->t.epoch.start = now_u;
  st->t.epoch.bytes = 0;
  if (st->state & YAMUX__S_TUNE_SETTLE) {
    /* The epoch after a change still ran on the old window (new credit
     * takes a round trip to bring data): measure, do not judge. */
    st->state &= ~YAMUX__S_TUNE_SETTLE;
    return w;
  }
  rising = (uint64_t)rate * 4 > (uint64_t)st->rate_ref * 5;
  st->rate_ref =
      rising ? rate : YAMUX__MAX(rate, st->rate_ref - st->rate_ref / 8);

  /* Settled: 5/4 of the product; on a WAN at least the product plus what
   * the sender may be missing while credit waits to reach a step
   * (yamux__tune_credit_threshold(): at most the product, at most a step):
   * without it a 12.5 MB/s path at 50 ms ran at 0.9x its rate
   * (test-tuning.c). */
  target = (uint64_t)st->rate_ref * rtt >> 20;
  if (growth == 8)
    target = YAMUX__MAX(target * 5 / 4,
                        target + YAMUX__MIN(target, YAMUX__CREDIT_STEP));
  else
    target = target * 5 / 4;
  if (rising && rtt >= YAMUX__TUNE_GROWTH_RTT_NS) {
    /* The window holds the sender back. A change shows a round trip later,
     * so decisions come every other epoch: growing 4x then matches a
     * doubling per round trip (TCP's slow start), 8x on a WAN three
     * doublings in two. */
    target = YAMUX__MAX(target, ((uint64_t)rate * rtt >> 20) * growth);
  }
  if (rtt < YAMUX__TUNE_GROWTH_RTT_NS)
    target = YAMUX__MIN(target, (uint64_t)YAMUX__TUNE_LAN_WINDOW);
  target = YAMUX__MIN(target, (uint64_t)s->cfg.max_window);
  target = YAMUX__MAX(target, (uint64_t)s->cfg.initial_window);
  if (target > w) {
    room = s->cfg.window_budget > s->grown_bytes
               ? s->cfg.window_budget - s->grown_bytes
               : 0;
    target = YAMUX__MIN(target, (uint64_t)w * growth);
    target = YAMUX__MIN(target, (uint64_t)w + room);
    return (uint32_t)target;
  }
  if (target * 5 < (uint64_t)w * 4) return (uint32_t)target;
  return w;
}

void yamux__tune_on_read(yamux__strm_t* st, uint32_t n) {
  yamux__sess_t* s = st->sess;
  uint32_t w = st->recv_window_max, target;

  st->credit_pending += n;
  /* Tuning runs while the stream is open both ways for reading: not while
   * a timer (open, linger) holds the epoch's storage, not once reset. */
  if (s->cfg.max_window > s->cfg.initial_window &&
      !(st->state & (YAMUX__S_ON_TIMER | YAMUX__S_RESET | YAMUX__S_FAILED))) {
    /* Saturating: an epoch of more than 4 GiB only needs "a lot". */
    st->t.epoch.bytes += YAMUX__MIN(n, UINT32_MAX - st->t.epoch.bytes);
    target = tuned_window(st);
    if (target > w) {
      /* Grown: the extra credit goes out with the next update. */
      s->grown_bytes += target - w;
      st->credit_pending += target - w;
    } else if (target < w) {
      /* Shrunk by withholding credit for bytes read; what cannot be
       * withheld yet is, at a later decision. */
      uint32_t cut = YAMUX__MIN(w - target, st->credit_pending);
      s->grown_bytes -= cut;
      st->credit_pending -= cut;
      target = w - cut;
    }
    if (target != w) {
      st->state |= YAMUX__S_TUNE_SETTLE;
      yamux__sess_log(s, YAMUX_LOG_DEBUG,
                      "stream %u: window %u -> %u (rate %u B/ms, rtt %llu us)",
                      st->id, w, target, st->rate_ref,
                      (unsigned long long)(s->rtt_min_ns / 1000));
      st->recv_window_max = target;
    }
  }
  if (st->credit_pending >= yamux__tune_credit_threshold(st))
    yamux__strm_queue_ctrl(st);
}

/* Credit to return now (0: nothing due yet). */
uint32_t yamux__tune_take_credit(yamux__strm_t* st) {
  uint32_t delta = st->credit_pending;
  if (delta == 0 || delta < yamux__tune_credit_threshold(st)) return 0;
  st->credit_pending = 0;
  st->recv_window += delta;
  return delta;
}
