/* The simulated link of linksim.h. */
#include "linksim.h"

#include <stdlib.h>
#include <string.h>

void lsim_init(lsim_t* sim, const yamux_config_t* ccfg,
               const yamux_config_t* scfg, const lsim_link_t* link) {
  memset(sim, 0, sizeof(*sim));
  tpair_init(&sim->pair, ccfg, scfg);
  sim->c2s.cfg = *link;
  sim->s2c.cfg = *link;
  if (sim->c2s.cfg.segment == 0) sim->c2s.cfg.segment = 16384;
  if (sim->s2c.cfg.segment == 0) sim->s2c.cfg.segment = 16384;
}

static void dir_push(lsim_dir_t* d, uint64_t now, const uint8_t* p,
                     size_t len) {
  while (len > 0) {
    size_t n = len < d->cfg.segment ? len : d->cfg.segment;
    lsim_seg_t* seg = malloc(sizeof(*seg) + n);
    uint64_t start = d->busy_until > now ? d->busy_until : now;
    ASSERT_NOT_NULL(seg);
    memcpy(seg->data, p, n);
    seg->len = n;
    seg->next = NULL;
    seg->depart = d->cfg.rate_bps
                      ? start + (uint64_t)n * 1000000000u / d->cfg.rate_bps
                      : now;
    if (d->cfg.rate_bps) d->busy_until = seg->depart;
    seg->arrive = seg->depart + d->cfg.delay_ns;
    if (d->tail != NULL)
      d->tail->next = seg;
    else
      d->head = seg;
    d->tail = seg;
    d->in_flight += n;
    d->backlog += n;
    if (d->next_depart == NULL) d->next_depart = seg;
    p += n;
    len -= n;
  }
}

/* Moves the bottleneck's clock to `now`: what left it is off the backlog. */
static void dir_advance(lsim_dir_t* d, uint64_t now) {
  while (d->next_depart != NULL && d->next_depart->depart <= now) {
    d->backlog -= d->next_depart->len;
    d->next_depart = d->next_depart->next;
  }
}

/* Takes what the sending session has, as far as its transport accepts. */
static int dir_take(lsim_dir_t* d, tside_t* from, uint64_t now) {
  const uv_buf_t* bufs;
  unsigned int n, i;
  size_t room = SIZE_MAX, took = 0;

  if (from->transport_close_requested) return 0;
  dir_advance(d, now);
  if (d->cfg.sndbuf) {
    if (d->backlog >= d->cfg.sndbuf) return 0;
    room = d->cfg.sndbuf - d->backlog;
  }
  n = yamux_session_send_buffers(&from->session, &bufs, 1024, now);
  for (i = 0; i < n && took < room; i++) {
    size_t len = bufs[i].len;
    if (len > room - took) len = room - took;
    dir_push(d, now, (const uint8_t*)bufs[i].base, len);
    took += len;
  }
  if (n > 0) yamux_session_send_done(&from->session, took, 0, now);
  return took > 0;
}

static int dir_deliver(lsim_dir_t* d, tside_t* to, uint64_t now) {
  int did = 0;
  dir_advance(d, now);
  while (d->head != NULL && d->head->arrive <= now) {
    lsim_seg_t* seg = d->head;
    d->head = seg->next;
    if (d->head == NULL) d->tail = NULL;
    d->in_flight -= seg->len;
    d->delivered += seg->len;
    if (!to->transport_close_requested)
      yamux_session_feed(&to->session, seg->data, seg->len, now);
    free(seg);
    did = 1;
  }
  return did;
}

static int side_run(tside_t* sd, uint64_t now) {
  if (sd->transport_close_requested && !sd->transport_closed) {
    sd->transport_closed = 1;
    yamux_session_transport_closed(&sd->session);
    return 1;
  }
  if (sd->woken) {
    sd->woken = 0;
    yamux_session_run(&sd->session, now);
    return 1;
  }
  return 0;
}

static uint64_t min64(uint64_t a, uint64_t b) {
  return a < b ? a : b;
}

void lsim_run_until(lsim_t* sim, uint64_t until) {
  tpair_t* pr = &sim->pair;
  for (;;) {
    uint64_t next = UINT64_MAX, app_next = UINT64_MAX;
    int progress, rounds = 0;
    do {
      progress = 0;
      progress |= side_run(&pr->c, pr->now_ns);
      progress |= side_run(&pr->s, pr->now_ns);
      progress |= dir_take(&sim->c2s, &pr->c, pr->now_ns);
      progress |= dir_take(&sim->s2c, &pr->s, pr->now_ns);
      progress |= dir_deliver(&sim->c2s, &pr->s, pr->now_ns);
      progress |= dir_deliver(&sim->s2c, &pr->c, pr->now_ns);
      if (sim->app != NULL) {
        app_next = sim->app(sim, sim->app_arg);
        if (app_next <= pr->now_ns) progress = 1;
      }
      ASSERT_LT(++rounds, 1000000);
    } while (progress);
    if (sim->c2s.head) next = min64(next, sim->c2s.head->arrive);
    if (sim->s2c.head) next = min64(next, sim->s2c.head->arrive);
    /* A full transport takes more once the bottleneck drains. */
    if (sim->c2s.cfg.sndbuf && sim->c2s.next_depart)
      next = min64(next, sim->c2s.next_depart->depart);
    if (sim->s2c.cfg.sndbuf && sim->s2c.next_depart)
      next = min64(next, sim->s2c.next_depart->depart);
    if (!pr->c.transport_closed)
      next = min64(next, yamux_session_expiry(&pr->c.session));
    if (!pr->s.transport_closed)
      next = min64(next, yamux_session_expiry(&pr->s.session));
    next = min64(next, app_next);
    if (next <= pr->now_ns) next = pr->now_ns + 1;
    if (next > until) {
      if (until != UINT64_MAX) pr->now_ns = until;
      return;
    }
    pr->now_ns = next;
    if (!pr->c.transport_closed &&
        yamux_session_expiry(&pr->c.session) <= pr->now_ns)
      yamux_session_handle_expiry(&pr->c.session, pr->now_ns);
    if (!pr->s.transport_closed &&
        yamux_session_expiry(&pr->s.session) <= pr->now_ns)
      yamux_session_handle_expiry(&pr->s.session, pr->now_ns);
  }
}

static void dir_free(lsim_dir_t* d) {
  while (d->head != NULL) {
    lsim_seg_t* seg = d->head;
    d->head = seg->next;
    free(seg);
  }
  d->tail = NULL;
}

void lsim_close(lsim_t* sim) {
  dir_free(&sim->c2s);
  dir_free(&sim->s2c);
  tpair_close(&sim->pair);
}
