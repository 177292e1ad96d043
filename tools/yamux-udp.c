/* The yamux command's UDP flows: one stream per flow, each datagram on it
 * as a 4-byte big-endian length and the payload (yamux-cli's framing).
 * Listening, the flows are keyed by source address and share the listener's
 * socket; dialing, each has its own connected socket. A flow idle for
 * --udp-timeout is closed. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Largest UDP record accepted from a stream (a UDP payload is < 64 KiB). */
#define UDP_MAX 65536
#define UDP_HASH_SIZE 1024

uint64_t udp_timeout_ms = 60000;

static flow_t* udp_hash[UDP_HASH_SIZE];
static unsigned int udp_paused_count;
static uv_timer_t udp_timer;
static int udp_timer_live;
static char udp_rxbuf[UDP_MAX];

/* ---- source addresses ---------------------------------------------------
 */

static unsigned int addr_hash(const struct sockaddr* sa) {
  const unsigned char* p = (const unsigned char*)sa;
  size_t n = addr_len(sa);
  uint32_t h = 2166136261u;
  size_t i;

  for (i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h % UDP_HASH_SIZE;
}

/* Equal family, address and port (sockaddr padding is ignored). */
static int addr_equal(const struct sockaddr* a, const struct sockaddr* b) {
  if (a->sa_family != b->sa_family) return 0;
  if (a->sa_family == AF_INET) {
    const struct sockaddr_in* x = (const struct sockaddr_in*)a;
    const struct sockaddr_in* y = (const struct sockaddr_in*)b;
    return x->sin_port == y->sin_port &&
           x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a->sa_family == AF_INET6) {
    const struct sockaddr_in6* x = (const struct sockaddr_in6*)a;
    const struct sockaddr_in6* y = (const struct sockaddr_in6*)b;
    return x->sin6_port == y->sin6_port &&
           x->sin6_scope_id == y->sin6_scope_id &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
  }
  return 0;
}

void udp_flow_unhash(flow_t* f) {
  flow_t** pp;

  if (!f->hashed) return;
  for (pp = &udp_hash[addr_hash((struct sockaddr*)&f->peer)]; *pp != NULL;
       pp = &(*pp)->hnext) {
    if (*pp == f) {
      *pp = f->hnext;
      break;
    }
  }
  f->hashed = 0;
}

void udp_flow_released(flow_t* f) {
  if (f->udp_paused) udp_paused_count--;
  f->udp_paused = 0;
}

/* ---- datagrams <-> records ----------------------------------------------
 */

void on_udp_alloc(uv_handle_t* handle, size_t size, uv_buf_t* buf) {
  (void)handle;
  (void)size;
  buf->base = udp_rxbuf;
  buf->len = sizeof(udp_rxbuf);
}

/* One datagram from the local side becomes one record on the stream. */
static void udp_forward(flow_t* f, const char* data, size_t n) {
  block_t* b;
  uv_buf_t out;
  unsigned char* p;
  int r;

  f->last_active = uv_now(loop);
  st.udp_in++;
  if (f->closing || f->fin_done ||
      yamux_stream_get_write_queue_size(&f->stream) > HIGH_WATER) {
    st.udp_dropped++; /* UDP may drop; the stream must not grow without end */
    return;
  }
  b = block_new(4 + n);
  if (b == NULL) {
    st.udp_dropped++;
    return;
  }
  b->flow = f;
  p = (unsigned char*)BLOCK_DATA(b);
  p[0] = (unsigned char)(n >> 24);
  p[1] = (unsigned char)(n >> 16);
  p[2] = (unsigned char)(n >> 8);
  p[3] = (unsigned char)n;
  memcpy(p + 4, data, n);
  out = uv_buf_init(BLOCK_DATA(b), (unsigned int)(4 + n));
  r = yamux_write(&b->req.y, &f->stream, &out, 1, on_stream_write);
  if (r < 0) {
    free(b);
    st.udp_dropped++;
    if (session_state != S_RUNNING)
      flow_close(f, CLOSE_CLEAN);
    else
      flow_close(f, CLOSE_RESET_STREAM);
    return;
  }
  f->pending++;
  st.up_bytes += n;
}

static uv_udp_t* flow_udp_handle(flow_t* f) {
  return opt_listen ? &listener.udp : &f->sock.udp;
}

static void udp_resume(flow_t* f) {
  if (!f->udp_paused) return;
  f->udp_paused = 0;
  udp_paused_count--;
  if (!f->closing && !f->stream_eof) start_copy(f);
}

static void on_udp_sent(uv_udp_send_t* req, int status) {
  block_t* b = (block_t*)req;
  flow_t* f = b->flow;
  uv_udp_t* h = req->handle;
  flow_t* g;
  flow_t* next;

  free(b);
  f->pending--;
  if (status < 0 && status != UV_ECANCELED)
    say(2, "flow %lu: udp send: %s", f->id, errstr(status));
  if (udp_paused_count > 0 && uv_udp_get_send_queue_size(h) <= LOW_WATER) {
    if (opt_listen) {
      for (g = flows.next; g != &flows; g = next) {
        next = g->next;
        udp_resume(g);
      }
    } else {
      udp_resume(f);
    }
  }
  flow_maybe_free(f);
}

static void udp_send_record(flow_t* f, block_t* b, uint32_t len) {
  uv_udp_t* h = flow_udp_handle(f);
  uv_buf_t out;
  int r;

  f->last_active = uv_now(loop);
  if (opt_listen && listener_closed) {
    free(b);
    st.udp_dropped++;
    return;
  }
  b->flow = f;
  out = uv_buf_init(BLOCK_DATA(b), len);
  r = uv_udp_send(&b->req.d, h, &out, 1,
                  opt_listen ? (const struct sockaddr*)&f->peer : NULL,
                  on_udp_sent);
  if (r < 0) {
    free(b);
    st.udp_dropped++;
    say(2, "flow %lu: udp send: %s", f->id, errstr(r));
    return;
  }
  f->pending++;
  st.udp_out++;
  st.down_bytes += len;
  if (uv_udp_get_send_queue_size(h) > HIGH_WATER && !f->udp_paused) {
    yamux_read_stop(&f->stream);
    f->stream_reading = 0;
    f->udp_paused = 1;
    udp_paused_count++;
  }
}

/* Splits the stream's bytes into records and sends each as a datagram. */
void on_udp_stream_read(yamux_stream_t* stream, ssize_t nread,
                        const uv_buf_t* buf) {
  flow_t* f = stream->data;
  const unsigned char* p = (const unsigned char*)buf->base;
  size_t n = nread > 0 ? (size_t)nread : 0;
  size_t take;

  while (n > 0 && !f->closing) {
    if (f->hdr_have < 4) {
      take = 4 - f->hdr_have;
      if (take > n) take = n;
      memcpy(f->hdr + f->hdr_have, p, take);
      f->hdr_have += (unsigned int)take;
      p += take;
      n -= take;
      if (f->hdr_have < 4) break;
      f->rec_len = (uint32_t)f->hdr[0] << 24 | (uint32_t)f->hdr[1] << 16 |
                   (uint32_t)f->hdr[2] << 8 | f->hdr[3];
      if (f->rec_len > UDP_MAX) {
        say(0, "flow %lu: UDP record of %lu bytes is too large", f->id,
            (unsigned long)f->rec_len);
        flow_close(f, CLOSE_RESET_STREAM);
        break;
      }
      f->rec = block_new(f->rec_len);
      f->rec_have = 0;
      if (f->rec == NULL) {
        say(0, "out of memory");
        flow_close(f, CLOSE_RESET_STREAM);
        break;
      }
    }
    take = f->rec_len - f->rec_have;
    if (take > n) take = n;
    memcpy(BLOCK_DATA(f->rec) + f->rec_have, p, take);
    f->rec_have += (uint32_t)take;
    p += take;
    n -= take;
    if (f->rec_have == f->rec_len) {
      block_t* rec = f->rec;
      f->rec = NULL;
      f->hdr_have = 0;
      udp_send_record(f, rec, f->rec_len);
    }
  }
  if (buf->base != NULL) free(BLOCK_OF(buf->base));
  if (nread < 0) {
    f->stream_reading = 0;
    f->stream_eof = 1;
    if (nread == UV_EOF) say(2, "flow %lu: stream EOF", f->id);
    flow_close(f, nread == UV_ENOBUFS ? CLOSE_RESET_STREAM : CLOSE_CLEAN);
  }
}

void on_udp_flow_read(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf,
                      const struct sockaddr* addr, unsigned flags) {
  flow_t* f = handle->data;

  if (nread < 0) {
    /* A connected UDP socket reports ICMP errors; the flow goes on. */
    say(2, "flow %lu: udp receive: %s", f->id, errstr((int)nread));
    return;
  }
  if (addr == NULL) return;
  if (flags & UV_UDP_PARTIAL) {
    st.udp_dropped++;
    return;
  }
  udp_forward(f, buf->base, (size_t)nread);
}

static void on_udp_open(yamux_connect_t* req, int status);

void on_udp_listener_read(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf,
                          const struct sockaddr* addr, unsigned flags) {
  unsigned int h;
  flow_t* f;
  int r;

  (void)handle;
  if (nread < 0) {
    say(1, "udp receive: %s", errstr((int)nread));
    return;
  }
  if (addr == NULL) return;
  if (flags & UV_UDP_PARTIAL) {
    st.udp_dropped++;
    return;
  }
  h = addr_hash(addr);
  for (f = udp_hash[h]; f != NULL; f = f->hnext)
    if (addr_equal((const struct sockaddr*)&f->peer, addr)) break;
  if (f == NULL) {
    if (session_state != S_RUNNING) {
      st.udp_dropped++;
      return;
    }
    f = flow_new();
    if (f == NULL) {
      st.udp_dropped++;
      return;
    }
    memcpy(&f->peer, addr, addr_len(addr));
    addr_name(addr, f->name, sizeof(f->name));
    yamux_stream_init(&session, &f->stream);
    r = yamux_stream_open(&f->open_req, &f->stream, on_udp_open);
    if (r < 0) {
      say(0, "open stream for %s: %s", f->name, errstr(r));
      st.open_failures++;
      st.udp_dropped++;
      flow_close(f, CLOSE_CLEAN);
      return;
    }
    f->stream_live = 1;
    f->pending++;
    f->hnext = udp_hash[h];
    udp_hash[h] = f;
    f->hashed = 1;
    say(1, "flow %lu: udp %s -> stream %u", f->id, f->name, f->stream.id);
    start_copy(f);
  }
  udp_forward(f, buf->base, (size_t)nread);
}

static void on_udp_open(yamux_connect_t* req, int status) {
  flow_t* f = req->stream->data;

  f->pending--;
  if (status < 0 && status != UV_ECANCELED && !f->closing) {
    say(0, "open stream for %s: %s", f->name, errstr(status));
    st.open_failures++;
    flow_close(f, CLOSE_CLEAN);
  }
  flow_maybe_free(f);
}

/* ---- expiry ---------------------------------------------------------------
 */

static void on_udp_timer(uv_timer_t* timer) {
  uint64_t now = uv_now(loop);
  flow_t* f;
  flow_t* next;

  (void)timer;
  for (f = flows.next; f != &flows; f = next) {
    next = f->next;
    if (!f->closing && now - f->last_active >= udp_timeout_ms) {
      say(1, "flow %lu: idle, expired", f->id);
      st.udp_expired++;
      flow_close(f, CLOSE_CLEAN);
    }
  }
}

void udp_expiry_start(void) {
  uint64_t tick = udp_timeout_ms / 4;

  if (udp_timeout_ms == 0) return;
  if (tick < 10) tick = 10;
  if (tick > 1000) tick = 1000;
  uv_timer_init(loop, &udp_timer);
  uv_timer_start(&udp_timer, on_udp_timer, tick, tick);
  uv_unref((uv_handle_t*)&udp_timer);
  udp_timer_live = 1;
}

void udp_expiry_stop(void) {
  if (!udp_timer_live) return;
  udp_timer_live = 0;
  uv_close((uv_handle_t*)&udp_timer, NULL);
}
