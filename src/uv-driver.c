/* The libuv driver: runs a session over libuv stream handles (or, for a
 * process's stdio, over regular files through the thread pool).
 *
 * It uses only the public custom-transport functions of yamux.h, so it is
 * also the reference for how to drive the engine from any event loop:
 *
 *  - read: every chunk the transport delivers is fed at once; reading never
 *    stops because writes are pending (memory is bounded by the windows).
 *    The 64 KiB read buffer is taken from the session's allocator for each
 *    read and given back after it, so that an idle session holds none (ten
 *    thousand sessions on a server share what the allocator keeps).
 *  - write: at most one transport write in flight. After every dispatch the
 *    driver gathers what the engine has (headers beside slices of the
 *    callers' buffers), tries uv_try_write() and hands the rest to one
 *    vectored uv_write().
 *  - wake: a uv_prepare_t runs yamux_session_run() before the loop blocks.
 *  - time: one uv_timer_t armed at yamux_session_expiry().
 *  - memory: the driver's state (its handles included) is private, from the
 *    session's allocator (yamux_session_get_allocator()), as libuv's
 *    fs-poll keeps its timer in a private context.
 *  - close: the transport is half-closed (so the peer reads EOF after our Go
 *    Away), read until the peer's EOF for a short while, then every handle is
 *    closed; the last close callback calls yamux_session_transport_closed().
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "yamux.h"

#define DRIVER_RX_SIZE 65536
/* Gather-list entries per transport write (Linux's IOV_MAX). */
#define DRIVER_MAX_BUFS 1024
/* Rounds of gather + uv_try_write per dispatch before falling back to a
 * queued uv_write, so that one busy session cannot starve the loop. */
#define DRIVER_TRY_ROUNDS 16
/* Rounds of yamux_session_run() per dispatch while callbacks keep waking the
 * session; past that the next loop turn continues. */
#define DRIVER_RUN_ROUNDS 8
/* A TCP transport's kernel queue of unsent bytes is kept this short
 * (TCP_NOTSENT_LOWAT): what the socket will not take yet waits in the
 * session, where a ping reply or another stream's frame can still go
 * first, not in the kernel behind our own backlog. Bytes in flight (sent,
 * not yet acknowledged) are not limited, so throughput is not. */
#define DRIVER_NOTSENT_LOWAT (128 * 1024)
/* After our half-close, how long to keep reading (and discarding) while
 * waiting for the peer's EOF. Closing a socket with unread data makes the
 * kernel send RST, which could destroy our Go Away in flight. */
#define DRIVER_LINGER_MS 1000

#define CONTAINER_OF(ptr, type, member) \
  ((type*)((char*)(ptr)-offsetof(type, member)))

/* Only for regular files (stdio redirected to or from a file): reads and
 * writes on the thread pool. */
typedef struct driver_fs_s {
  uv_fs_t rfs;
  uv_fs_t wfs;
} driver_fs_t;

typedef struct driver_s {
  yamux_session_t* session;
  const yamux_allocator_t* mem; /* the session's */
  uv_loop_t* loop;
  /* Reading side: a stream, or a file descriptor read with uv_fs_read(). */
  uv_stream_t* rx;
  uv_stream_t* tx;
  int rx_fd;
  int tx_fd;
  int rx_tty; /* io[0] is a TTY in raw mode: restore it on close */
  int duplex;
  /* State bits. */
  unsigned int ready : 1;        /* timer, prepare and idle are initialized */
  unsigned int wake : 1;         /* the engine asked for yamux_session_run() */
  unsigned int in_dispatch : 1;  /* inside one of our libuv callbacks */
  unsigned int writing : 1;      /* a transport write is in flight */
  unsigned int reading_fs : 1;   /* a uv_fs_read() is in flight */
  unsigned int rx_done : 1;      /* EOF or error seen on the read side */
  unsigned int tx_dead : 1;      /* a write failed: write no more */
  unsigned int closing : 1;      /* the close hook ran */
  unsigned int closing_all : 1;  /* handles are being closed */
  unsigned int shutting : 1;     /* a uv_shutdown() is in flight */
  unsigned int rx_is_stdin : 1;  /* rx is this process's fd 0 */
  unsigned int tx_is_stdout : 1; /* tx is this process's fd 1 */
  size_t inflight;               /* bytes of the uv_write() in flight */
  uint64_t armed;                /* expiry the timer is armed for */
  unsigned int pending;          /* close callbacks and fs requests to wait */
  uv_timer_t timer;
  uv_prepare_t prepare;
  /* Makes the next poll non-blocking while the prepare handle has work:
   * a prepare handle started from another handle's prepare callback would
   * otherwise only run after the loop blocked for I/O. */
  uv_idle_t idle;
  uv_write_t wreq;
  uv_shutdown_t* sreq; /* the half-close at the end, while it runs */
  driver_fs_t* fs;     /* regular files only */
  char* rx_buf;        /* during a read (DRIVER_RX_SIZE bytes), else NULL */
} driver_t;

static void after_dispatch(yamux_session_t* s, driver_t* d);
static void close_all(driver_t* d);
static int fs_read_start(driver_t* d);
static void kick(yamux_session_t* s, driver_t* d);

static driver_t* driver_of(const yamux_session_t* s) {
  return yamux_session_get_transport_data(s);
}

static void* mem_alloc(const driver_t* d, size_t n) {
  return d->mem->malloc(n, d->mem->user_data);
}

static void mem_free(const driver_t* d, void* p) {
  if (p != NULL) d->mem->free(p, d->mem->user_data);
}

/* ---- time ---------------------------------------------------------------- */

static void on_timer(uv_timer_t* timer) {
  yamux_session_t* s;
  driver_t* d;

  d = CONTAINER_OF(timer, driver_t, timer);
  s = d->session;
  if (d->closing) {
    /* The linger time after our half-close is over. */
    close_all(d);
    return;
  }
  /* Re-arm from scratch: the loop's clock may lag uv_hrtime(), so the timer
   * can fire a little early; the engine then does nothing and we re-arm. */
  d->armed = UINT64_MAX;
  d->in_dispatch = 1;
  yamux_session_handle_expiry(s, uv_hrtime());
  after_dispatch(s, d);
}

static void arm_timer(yamux_session_t* s, driver_t* d) {
  uint64_t expiry;
  uint64_t now;
  uint64_t ms;

  expiry = yamux_session_expiry(s);
  if (expiry == d->armed) return;
  d->armed = expiry;
  if (expiry == UINT64_MAX) {
    uv_timer_stop(&d->timer);
    return;
  }
  now = uv_hrtime();
  ms = expiry > now ? (expiry - now + 999999) / 1000000 : 0;
  uv_timer_start(&d->timer, on_timer, ms, 0);
}

/* ---- write path ---------------------------------------------------------- */

static void on_write(uv_write_t* req, int status) {
  driver_t* d;
  yamux_session_t* s;

  d = CONTAINER_OF(req, driver_t, wreq);
  s = d->session;
  d->writing = 0;
  if (d->closing)
    return; /* cancelled by close: the engine no longer needs to know */
  d->in_dispatch = 1;
  if (status < 0) {
    d->tx_dead = 1;
    yamux_session_send_done(s, 0, status, uv_hrtime());
  } else {
    yamux_session_send_done(s, d->inflight, 0, uv_hrtime());
  }
  after_dispatch(s, d);
}

/* The start of a file request's completion: its result in *result.
 * Returns non-zero if the driver is closing (then the request only counted
 * towards the close, which it may finish). */
static int fs_completed(driver_t* d, uv_fs_t* req, ssize_t* result) {
  *result = req->result;
  uv_fs_req_cleanup(req);
  if (!d->closing) return 0;
  if (d->closing_all && --d->pending == 0) close_all(d); /* finishes */
  return 1;
}

static void on_fs_write(uv_fs_t* req) {
  driver_t* d;
  yamux_session_t* s;
  ssize_t result;

  d = req->data;
  s = d->session;
  d->writing = 0;
  if (fs_completed(d, req, &result)) return;
  d->in_dispatch = 1;
  if (result < 0) {
    d->tx_dead = 1;
    yamux_session_send_done(s, 0, (int)result, uv_hrtime());
  } else {
    yamux_session_send_done(s, (size_t)result, 0, uv_hrtime());
  }
  after_dispatch(s, d);
}

static size_t bufs_total(const uv_buf_t* bufs, unsigned int n) {
  size_t total;
  unsigned int i;

  total = 0;
  for (i = 0; i < n; i++) total += bufs[i].len;
  return total;
}

/* Sends what the engine has. Called at the end of every dispatch, never from
 * inside an engine callback. */
static void flush(yamux_session_t* s, driver_t* d) {
  const uv_buf_t* bufs;
  unsigned int n;
  unsigned int round;
  size_t total;
  uint64_t now;
  int can_try;
  int r;

  can_try = 1;
  for (round = 0; round < DRIVER_TRY_ROUNDS; round++) {
    if (d->closing || d->writing || d->tx_dead) return;
    now = uv_hrtime();
    n = yamux_session_send_buffers(s, &bufs, DRIVER_MAX_BUFS, now);
    if (n == 0) return;
    total = bufs_total(bufs, n);

    if (d->tx == NULL) {
      /* A regular file: write on the thread pool. */
      d->fs->wfs.data = d;
      r = uv_fs_write(d->loop, &d->fs->wfs, d->tx_fd, bufs, n, -1, on_fs_write);
      if (r < 0) {
        d->tx_dead = 1;
        yamux_session_send_done(s, 0, r, now);
        return;
      }
      d->writing = 1;
      return;
    }

    if (can_try) {
      r = uv_try_write(d->tx, bufs, n);
      if (r == UV_EAGAIN || r == UV_ENOSYS) r = 0;
      if (r < 0) {
        d->tx_dead = 1;
        yamux_session_send_done(s, 0, r, now);
        return;
      }
      if (r > 0) {
        /* Write callbacks of completed requests run from here; the
         * remainder (if any) is gathered again from its new start. */
        yamux_session_send_done(s, (size_t)r, 0, now);
        if ((size_t)r == total) continue;
      }
      /* Short or no write: the kernel buffer is full, queue the rest. */
      can_try = 0;
      if (r > 0) continue;
    }

    d->inflight = total;
    r = uv_write(&d->wreq, d->tx, bufs, n, on_write);
    if (r < 0) {
      d->tx_dead = 1;
      yamux_session_send_done(s, 0, r, now);
      return;
    }
    d->writing = 1;
    return;
  }

  /* Still busy after many rounds: let the next loop turn go on. */
  if (!d->closing && !d->writing && !d->tx_dead) d->wake = 1;
}

/* ---- dispatch ------------------------------------------------------------ */

static void on_idle(uv_idle_t* idle) {
  uv_idle_stop(idle);
}

/* Runs deferred callbacks, flushes, re-arms the timer, and keeps the prepare
 * handle active only while the engine still wants to run. */
static void after_dispatch(yamux_session_t* s, driver_t* d) {
  unsigned int round;

  for (round = 0; round < DRIVER_RUN_ROUNDS; round++) {
    if (d->closing) break;
    if (d->wake) {
      d->wake = 0;
      yamux_session_run(s, uv_hrtime());
      if (d->closing) break;
    }
    flush(s, d);
    if (!d->wake) break;
  }
  d->in_dispatch = 0;
  if (d->closing) return;
  arm_timer(s, d);
  if (d->wake) kick(s, d);
}

static void on_prepare(uv_prepare_t* prepare) {
  yamux_session_t* s;
  driver_t* d;

  d = CONTAINER_OF(prepare, driver_t, prepare);
  s = d->session;
  d->in_dispatch = 1;
  /* A file is read from the first dispatch on, so that a failure to queue
   * the read is reported from a callback, not from the start call. */
  if (d->rx == NULL && !d->reading_fs && !d->rx_done) fs_read_start(d);
  after_dispatch(s, d);
  if (!d->closing && !d->wake) uv_prepare_stop(prepare);
}

static void kick(yamux_session_t* s, driver_t* d) {
  (void)s;
  uv_prepare_start(&d->prepare, on_prepare);
  uv_idle_start(&d->idle, on_idle);
}

/* The engine's wake hook. */
static void on_wake(yamux_session_t* s) {
  driver_t* d;

  d = driver_of(s);
  if (d == NULL) return; /* not started by us, or already released */
  d->wake = 1;
  if (d->in_dispatch || !d->ready || d->closing)
    return; /* the running dispatch (or the start) takes care of it */
  kick(s, d);
}

/* ---- read path ----------------------------------------------------------- */

/* The read buffer lives for one read (see the top of the file). */
static char* rx_buf_get(driver_t* d) {
  if (d->rx_buf == NULL) d->rx_buf = mem_alloc(d, DRIVER_RX_SIZE);
  return d->rx_buf;
}

static void rx_buf_put(driver_t* d) {
  mem_free(d, d->rx_buf);
  d->rx_buf = NULL;
}

static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) {
  yamux_session_t* s;
  driver_t* d;

  (void)suggested;
  s = CONTAINER_OF(handle, yamux_session_t, io);
  d = driver_of(s);
  /* Out of memory: libuv reports UV_ENOBUFS and tries again next turn. */
  buf->base = rx_buf_get(d);
  buf->len = buf->base != NULL ? DRIVER_RX_SIZE : 0;
}

static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  yamux_session_t* s;
  driver_t* d;

  s = CONTAINER_OF(stream, yamux_session_t, io);
  d = driver_of(s);
  (void)buf; /* d->rx_buf */
  if (nread == 0 || nread == UV_ENOBUFS) {
    rx_buf_put(d);
    return;
  }
  if (nread < 0) {
    uv_read_stop(stream);
    d->rx_done = 1;
  }
  if (d->closing) {
    /* Lingering after our half-close: discard, and finish on EOF. */
    rx_buf_put(d);
    if (nread < 0) close_all(d);
    return;
  }
  d->in_dispatch = 1;
  if (nread > 0)
    yamux_session_feed(s, d->rx_buf, (size_t)nread, uv_hrtime());
  else
    yamux_session_feed_error(s, (int)nread, uv_hrtime());
  /* Closing from a callback inside feed() closes handles asynchronously:
   * the driver is still here. */
  rx_buf_put(d);
  after_dispatch(s, d);
}

static void on_fs_read(uv_fs_t* req) {
  driver_t* d;
  yamux_session_t* s;
  ssize_t result;

  d = req->data;
  s = d->session;
  d->reading_fs = 0;
  if (d->closing) rx_buf_put(d);
  if (fs_completed(d, req, &result)) return;
  d->in_dispatch = 1;
  if (result > 0) {
    yamux_session_feed(s, d->rx_buf, (size_t)result, uv_hrtime());
    rx_buf_put(d);
  } else {
    rx_buf_put(d);
    d->rx_done = 1;
    yamux_session_feed_error(s, result == 0 ? UV_EOF : (int)result,
                             uv_hrtime());
  }
  if (!d->closing && !d->rx_done) fs_read_start(d);
  after_dispatch(s, d);
}

/* Queues the next read of a file. Called inside a dispatch only. */
static int fs_read_start(driver_t* d) {
  uv_buf_t buf;
  int r;

  if (rx_buf_get(d) == NULL) {
    r = UV_ENOMEM;
  } else {
    buf = uv_buf_init(d->rx_buf, DRIVER_RX_SIZE);
    d->fs->rfs.data = d;
    r = uv_fs_read(d->loop, &d->fs->rfs, d->rx_fd, &buf, 1, -1, on_fs_read);
  }
  if (r == 0) {
    d->reading_fs = 1;
    return 0;
  }
  rx_buf_put(d);
  d->rx_done = 1;
  yamux_session_feed_error(d->session, r, uv_hrtime());
  return r;
}

/* ---- close --------------------------------------------------------------- */

static void finish(driver_t* d) {
  yamux_session_t* s;

  s = d->session;
  rx_buf_put(d);
  mem_free(d, d->fs);
  mem_free(d, d);
  yamux_session_transport_closed(s);
}

static void closed(driver_t* d) {
  if (--d->pending == 0 && d->closing_all) finish(d);
}

/* One close callback per embedded handle: each finds the session from its
 * own address (the handles' data fields belong to the user). */
static void on_io0_closed(uv_handle_t* handle) {
  closed(driver_of(CONTAINER_OF(handle, yamux_session_t, io[0])));
}

static void on_io1_closed(uv_handle_t* handle) {
  closed(driver_of(CONTAINER_OF(handle, yamux_session_t, io[1])));
}

static void on_timer_closed(uv_handle_t* handle) {
  closed(CONTAINER_OF(handle, driver_t, timer));
}

static void on_prepare_closed(uv_handle_t* handle) {
  closed(CONTAINER_OF(handle, driver_t, prepare));
}

static void on_idle_closed(uv_handle_t* handle) {
  closed(CONTAINER_OF(handle, driver_t, idle));
}

static void close_handle(driver_t* d, uv_handle_t* handle, uv_close_cb cb) {
  if (uv_is_closing(handle)) return;
  d->pending++;
  uv_close(handle, cb);
}

/* libuv never closes descriptors 0-2, so closing the handle over our stdin
 * or stdout would leave the pipe or socket open: the peer would never read
 * EOF (or get EPIPE) while this process lives. Put /dev/null in its place:
 * that releases the transport and leaves the descriptor valid for whatever
 * the program does with it later. */
static void release_stdio_fd(int fd, int flags) {
  int null_fd;

  null_fd = open("/dev/null", flags | O_CLOEXEC);
  if (null_fd < 0) return;
  if (null_fd != fd) {
    dup2(null_fd, fd);
    close(null_fd);
  }
}

static void close_io(driver_t* d, uv_stream_t* stream) {
  yamux_session_t* s;
  int is_rx;
  int is_tx;

  s = d->session;
  is_rx = stream == d->rx;
  is_tx = stream == d->tx;
  /* Another descriptor (fd 2, a parent) may share a socket: a shutdown
   * tells the peer we are done whoever else holds it (a pipe ignores it). */
  if (is_tx && d->tx_is_stdout) shutdown(d->duplex ? 0 : 1, SHUT_WR);
  if (stream == &s->io[0].stream)
    close_handle(d, &s->io[0].handle, on_io0_closed);
  else
    close_handle(d, &s->io[1].handle, on_io1_closed);
  /* uv_close() took the descriptor out of the poller already. */
  if (is_rx && d->rx_is_stdin) {
    d->rx_is_stdin = 0;
    release_stdio_fd(0, O_RDONLY);
  }
  if (is_tx && d->tx_is_stdout) {
    d->tx_is_stdout = 0;
    release_stdio_fd(1, O_WRONLY);
  }
}

/* Closes everything still open; finish() runs when the last close callback
 * (or fs request) completes. Safe to call more than once. */
static void close_all(driver_t* d) {
  if (d->closing_all) {
    if (d->pending == 0) finish(d);
    return;
  }
  d->closing_all = 1;
  d->pending++; /* held until every close below is issued */
  uv_timer_stop(&d->timer);
  close_handle(d, (uv_handle_t*)&d->timer, on_timer_closed);
  close_handle(d, (uv_handle_t*)&d->prepare, on_prepare_closed);
  close_handle(d, (uv_handle_t*)&d->idle, on_idle_closed);
  if (d->rx != NULL) close_io(d, d->rx);
  if (d->tx != NULL && d->tx != d->rx) close_io(d, d->tx);
  if (d->reading_fs) {
    d->pending++;
    uv_cancel((uv_req_t*)&d->fs->rfs);
  }
  if (d->writing && d->tx == NULL) {
    d->pending++;
    uv_cancel((uv_req_t*)&d->fs->wfs);
  }
  if (--d->pending == 0) finish(d);
}

static void on_shutdown(uv_shutdown_t* req, int status) {
  driver_t* d;

  d = req->data;
  mem_free(d, req); /* runs before the handle's close callback */
  d->sreq = NULL;
  d->shutting = 0;
  if (d->closing_all) return;
  if (status < 0)
    close_all(d); /* cannot half-close: the peer reads EOF on close */
}

/* The engine's close hook: it no longer needs the transport. */
static void on_transport_close(yamux_session_t* s) {
  driver_t* d;
  int linger;

  d = driver_of(s);
  d->closing = 1;
  d->wake = 0;
  uv_prepare_stop(&d->prepare);
  uv_idle_stop(&d->idle);
  uv_timer_stop(&d->timer);
  if (d->rx_tty) uv_tty_set_mode(&s->io[0].tty, UV_TTY_MODE_NORMAL);

  /* Half-close first when that tells the peer we are done and the write
   * side is idle; then wait for its EOF so that our close sends no RST. */
  linger = d->rx != NULL && !d->rx_done && !d->writing && !d->tx_dead &&
           d->tx != NULL && !d->rx_tty && d->tx->type != UV_TTY;
  if (linger && d->tx == d->rx) {
    d->sreq = mem_alloc(d, sizeof(*d->sreq));
    if (d->sreq != NULL) d->sreq->data = d;
    if (d->sreq != NULL && uv_shutdown(d->sreq, d->tx, on_shutdown) == 0) {
      d->shutting = 1;
    } else {
      mem_free(d, d->sreq);
      d->sreq = NULL;
      linger = 0;
    }
  } else if (linger) {
    close_io(d, d->tx);
  }
  if (!linger) {
    close_all(d);
    return;
  }
  uv_timer_start(&d->timer, on_timer, DRIVER_LINGER_MS, 0);
}

/* ---- start --------------------------------------------------------------- */

static int check_session(uv_loop_t* loop, yamux_session_t* s) {
  if (loop == NULL || s == NULL || s->internal_ == NULL) return UV_EINVAL;
  if (yamux_session_get_transport_data(s) != NULL ||
      yamux_session_is_closing(s))
    return UV_EINVAL;
  return 0;
}

static int check_stream(uv_loop_t* loop, uv_handle_t* h, int want_read,
                        int want_write) {
  if (h->loop != loop || uv_is_closing(h)) return UV_EINVAL;
  if (h->type != UV_TCP && h->type != UV_NAMED_PIPE && h->type != UV_TTY)
    return UV_EINVAL;
  if (want_read && !uv_is_readable((uv_stream_t*)h)) return UV_EINVAL;
  if (want_write && !uv_is_writable((uv_stream_t*)h)) return UV_EINVAL;
  return 0;
}

static driver_t* driver_new(yamux_session_t* session) {
  const yamux_allocator_t* mem;
  driver_t* d;

  mem = yamux_session_get_allocator(session);
  if (mem == NULL) return NULL;
  d = mem->calloc(1, sizeof(*d), mem->user_data);
  if (d == NULL) return NULL;
  d->mem = mem;
  d->rx_fd = -1;
  d->tx_fd = -1;
  return d;
}

/* Frees a driver whose handles were never initialized (a failed start). */
static void driver_free(driver_t* d) {
  if (d == NULL) return;
  mem_free(d, d->fs);
  mem_free(d, d);
}

/* Starts the engine over a driver whose rx/tx are set; reading starts. On
 * error nothing was initialized in the loop and d is freed. */
static int start(uv_loop_t* loop, yamux_session_t* s, driver_t* d,
                 yamux_session_end_cb end_cb) {
  yamux_transport_t transport;
  int r;

  d->session = s;
  d->loop = loop;
  d->armed = UINT64_MAX;

  if (d->rx != NULL) {
    r = uv_read_start(d->rx, on_alloc, on_read);
    if (r < 0) goto fail;
  }

  transport.wake = on_wake;
  transport.close = on_transport_close;
  transport.data = d;
  s->loop = loop;
  r = yamux_session_start_custom(s, &transport, end_cb, uv_hrtime());
  if (r < 0) {
    s->loop = NULL;
    if (d->rx != NULL) uv_read_stop(d->rx);
    goto fail;
  }

#ifdef TCP_NOTSENT_LOWAT
  if (d->tx != NULL && d->tx->type == UV_TCP) {
    uv_os_fd_t fd;
    int lowat = DRIVER_NOTSENT_LOWAT;
    if (uv_fileno((uv_handle_t*)d->tx, &fd) == 0)
      setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
  }
#endif
  uv_timer_init(loop, &d->timer);
  uv_prepare_init(loop, &d->prepare);
  uv_idle_init(loop, &d->idle);
  d->ready = 1;
  /* The first dispatch flushes what start queued and arms the timer. */
  d->wake = 1;
  kick(s, d);
  return 0;

fail:
  driver_free(d);
  return r;
}

int yamux_session_start_uv(uv_loop_t* loop, yamux_session_t* session,
                           int duplex, yamux_session_end_cb end_cb) {
  driver_t* d;
  int r;

  r = check_session(loop, session);
  if (r < 0) return r;
  if (duplex) {
    r = check_stream(loop, &session->io[0].handle, 1, 1);
  } else {
    r = check_stream(loop, &session->io[0].handle, 1, 0);
    if (r == 0) r = check_stream(loop, &session->io[1].handle, 0, 1);
  }
  if (r < 0) return r;

  d = driver_new(session);
  if (d == NULL) return UV_ENOMEM;
  d->duplex = duplex != 0;
  d->rx = &session->io[0].stream;
  d->tx = duplex ? &session->io[0].stream : &session->io[1].stream;
  return start(loop, session, d, end_cb);
}

/* Opens fd as a libuv stream in io (pipe, TCP socket or TTY). */
static int open_stdio(uv_loop_t* loop, yamux_uv_io_t* io, int fd,
                      uv_handle_type type, int readable) {
  int r;

  switch (type) {
    case UV_TTY:
      return uv_tty_init(loop, &io->tty, fd, readable);
    case UV_NAMED_PIPE:
      uv_pipe_init(loop, &io->pipe, 0);
      r = uv_pipe_open(&io->pipe, fd);
      break;
    case UV_TCP:
      uv_tcp_init(loop, &io->tcp);
      r = uv_tcp_open(&io->tcp, fd);
      break;
    default:
      return UV_EINVAL;
  }
  if (r < 0) uv_close(&io->handle, NULL);
  return r;
}

/* Whether fd was opened for `access` (O_RDONLY: reading, O_WRONLY:
 * writing). Checked before any handle is made, so that the usual way to
 * get stdio wrong (fd 0 the write end of a pipe) fails with nothing left
 * to close: libuv would only refuse it at uv_read_start(). */
static int fd_allows(int fd, int access) {
  int mode = fcntl(fd, F_GETFL);
  if (mode < 0) return 0;
  mode &= O_ACCMODE;
  return mode == O_RDWR || mode == access;
}

static int same_file(int a, int b) {
  struct stat sa;
  struct stat sb;

  if (fstat(a, &sa) != 0 || fstat(b, &sb) != 0) return 0;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int yamux_session_start_stdio(uv_loop_t* loop, yamux_session_t* session,
                              yamux_session_end_cb end_cb) {
  uv_handle_type t0;
  uv_handle_type t1;
  driver_t* d;
  int duplex;
  int r;

  r = check_session(loop, session);
  if (r < 0) return r;
  t0 = uv_guess_handle(0);
  t1 = uv_guess_handle(1);
  if (t0 != UV_FILE && t0 != UV_TTY && t0 != UV_NAMED_PIPE && t0 != UV_TCP)
    return UV_EINVAL;
  if (t1 != UV_FILE && t1 != UV_TTY && t1 != UV_NAMED_PIPE && t1 != UV_TCP)
    return UV_EINVAL;
  if (!fd_allows(0, O_RDONLY) || !fd_allows(1, O_WRONLY)) return UV_EBADF;
  /* One socket on both descriptors (inetd style): one duplex handle, since
   * two handles on one socket would each see the other's readiness. */
  duplex = (t0 == UV_TCP || t0 == UV_NAMED_PIPE) && t0 == t1 && same_file(0, 1);
  if (duplex) {
    struct stat st;
    /* A FIFO on both descriptors is not duplex: only sockets are. */
    if (fstat(0, &st) != 0 || !S_ISSOCK(st.st_mode)) duplex = 0;
  }

  d = driver_new(session);
  if (d == NULL) return UV_ENOMEM;
  d->duplex = duplex;
  if (t0 == UV_FILE || t1 == UV_FILE) {
    d->fs = mem_alloc(d, sizeof(*d->fs));
    if (d->fs == NULL) {
      driver_free(d);
      return UV_ENOMEM;
    }
    memset(d->fs, 0, sizeof(*d->fs));
  }

  if (t0 == UV_FILE) {
    d->rx_fd = 0;
  } else {
    r = open_stdio(loop, &session->io[0], 0, t0, 1);
    if (r < 0) goto fail;
    d->rx = &session->io[0].stream;
    d->rx_is_stdin = t0 != UV_TTY;
    if (t0 == UV_TTY) {
      r = uv_tty_set_mode(&session->io[0].tty, UV_TTY_MODE_RAW);
      if (r < 0) goto fail_rx;
      d->rx_tty = 1;
    }
  }

  if (duplex) {
    d->tx = d->rx;
    d->tx_is_stdout = 1; /* the same socket is on fd 1 too */
  } else if (t1 == UV_FILE) {
    d->tx_fd = 1;
  } else {
    r = open_stdio(loop, &session->io[1], 1, t1, 0);
    if (r < 0) goto fail_rx;
    d->tx = &session->io[1].stream;
    d->tx_is_stdout = t1 != UV_TTY;
  }

  r = start(loop, session, d, end_cb);
  if (r < 0) goto fail_handles;
  return 0;

fail_handles:
  /* start() freed d. */
  if (t1 != UV_FILE && !duplex) uv_close(&session->io[1].handle, NULL);
  if (t0 == UV_TTY) uv_tty_reset_mode();
  if (t0 != UV_FILE) uv_close(&session->io[0].handle, NULL);
  return r;

fail_rx:
  if (d->rx_tty) uv_tty_reset_mode();
  if (d->rx != NULL) uv_close(&session->io[0].handle, NULL);
fail:
  driver_free(d);
  return r;
}

int yamux_session_spawn(uv_loop_t* loop, yamux_session_t* session,
                        uv_process_t* process,
                        const uv_process_options_t* options,
                        yamux_session_end_cb end_cb) {
  uv_process_options_t opts;
  uv_stdio_container_t* stdio;
  uv_os_sock_t in[2];  /* child's stdin: [0] ours (write), [1] the child's */
  uv_os_sock_t out[2]; /* child's stdout: [0] ours (read), [1] the child's */
  driver_t* d;
  int count;
  int i;
  int r;

  r = check_session(loop, session);
  if (r < 0) return r;
  if (process == NULL || options == NULL || options->file == NULL)
    return UV_EINVAL;

  /* The socket pairs are made here rather than with UV_CREATE_PIPE so that
   * a failed uv_spawn() leaves no handle to close behind. */
  count = options->stdio_count > 3 ? options->stdio_count : 3;
  d = driver_new(session);
  if (d == NULL) return UV_ENOMEM;
  stdio = mem_alloc(d, sizeof(*stdio) * (size_t)count);
  if (stdio == NULL) {
    driver_free(d);
    return UV_ENOMEM;
  }
  r = uv_socketpair(SOCK_STREAM, 0, in, UV_NONBLOCK_PIPE, 0);
  if (r < 0) goto fail;
  r = uv_socketpair(SOCK_STREAM, 0, out, UV_NONBLOCK_PIPE, 0);
  if (r < 0) {
    close(in[0]);
    close(in[1]);
    goto fail;
  }

  for (i = 0; i < count; i++) {
    if (i < options->stdio_count) {
      stdio[i] = options->stdio[i];
    } else {
      stdio[i].flags = UV_INHERIT_FD;
      stdio[i].data.fd = i;
    }
  }
  stdio[0].flags = UV_INHERIT_FD;
  stdio[0].data.fd = in[1];
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = out[1];
  opts = *options;
  opts.stdio = stdio;
  opts.stdio_count = count;

  r = uv_spawn(loop, process, &opts);
  close(in[1]);
  close(out[1]);
  mem_free(d, stdio);
  stdio = NULL;
  if (r < 0) {
    close(in[0]);
    close(out[0]);
    /* uv_spawn() initialized the handle even so: close it here, so that
     * after any error the caller has nothing to close. */
    uv_close((uv_handle_t*)process, NULL);
    goto fail;
  }

  /* The child runs: from here on the pipes are the session's. */
  uv_pipe_init(loop, &session->io[0].pipe, 0);
  uv_pipe_init(loop, &session->io[1].pipe, 0);
  r = uv_pipe_open(&session->io[0].pipe, out[0]);
  if (r < 0) {
    close(out[0]);
    close(in[0]);
    goto fail_pipes;
  }
  r = uv_pipe_open(&session->io[1].pipe, in[0]);
  if (r < 0) {
    close(in[0]);
    goto fail_pipes;
  }
  d->rx = &session->io[0].stream;
  d->tx = &session->io[1].stream;
  r = start(loop, session, d, end_cb);
  if (r < 0) {
    d = NULL; /* start() freed it */
    goto fail_pipes;
  }
  return 0;

fail_pipes:
  /* Unlikely (the descriptors are fresh). The caller sees an error, so no
   * child may be left running nor a handle keeping the loop alive: kill it,
   * reap it, and close the process handle (its exit_cb never runs). */
  uv_close(&session->io[0].handle, NULL);
  uv_close(&session->io[1].handle, NULL);
  uv_process_kill(process, SIGKILL);
  while (waitpid(process->pid, NULL, 0) < 0 && errno == EINTR) {
  }
  uv_close((uv_handle_t*)process, NULL);
fail:
  if (d != NULL) mem_free(d, stdio);
  driver_free(d);
  return r;
}
