/* A simulated link between two sessions on virtual time: each direction
 * has a one-way delay, an optional rate (a bottleneck whose queue holds
 * whatever the sender puts in flight, as a proxy's buffers do) and an
 * optional limit on the bytes the sending transport takes while its queue
 * is full (a socket buffer). Used to test window tuning and send
 * scheduling at RTTs from microseconds to a WAN's hundred milliseconds
 * without real time passing. */
#ifndef YAMUX_TEST_LINKSIM_H
#define YAMUX_TEST_LINKSIM_H

#include "helpers.h"

typedef struct {
  uint64_t delay_ns; /* one-way propagation delay */
  uint64_t rate_bps; /* bottleneck, bytes per second; 0: none */
  size_t sndbuf;     /* the sender's transport takes bytes only while fewer
                        than this are queued before the bottleneck; 0: no
                        limit */
  size_t segment;    /* bytes per delivered segment; 0: 16 KiB */
} lsim_link_t;

typedef struct lsim_seg_s {
  struct lsim_seg_s* next;
  uint64_t depart; /* leaves the bottleneck */
  uint64_t arrive; /* reaches the receiver */
  size_t len;
  uint8_t data[];
} lsim_seg_t;

typedef struct {
  lsim_link_t cfg;
  uint64_t busy_until; /* the bottleneck is busy until then */
  lsim_seg_t* head;
  lsim_seg_t* tail;
  lsim_seg_t* next_depart; /* first segment still in the bottleneck */
  size_t in_flight;        /* bytes taken from the sender, not yet delivered */
  size_t backlog;          /* of those, bytes not yet through the bottleneck */
  uint64_t delivered;
} lsim_dir_t;

typedef struct lsim_s lsim_t;
/* Called after every step; may write, read, open; returns the next time it
 * wants to be called (UINT64_MAX: only after the next event). */
typedef uint64_t (*lsim_app_fn)(lsim_t* sim, void* arg);

struct lsim_s {
  tpair_t pair; /* pair.c, pair.s and the clock pair.now_ns */
  lsim_dir_t c2s;
  lsim_dir_t s2c;
  lsim_app_fn app;
  void* app_arg;
};

/* Starts both sessions (cfg as for tpair_init) over the link (the same
 * settings both ways). */
void lsim_init(lsim_t* sim, const yamux_config_t* ccfg,
               const yamux_config_t* scfg, const lsim_link_t* link);
/* Runs events in time order until the clock reaches `until` (ns, absolute)
 * or nothing at all is pending. */
void lsim_run_until(lsim_t* sim, uint64_t until);
/* Closes both sessions (delivering instantly) and frees the link. */
void lsim_close(lsim_t* sim);

#endif
