/* Reproducer (not part of make test-faults): when a session ends while the
 * transport still holds a stream's earlier write (gathered, no send_done
 * yet), the stream's later writes complete first. libuv completes a
 * stream's writes in order; test-faults' reset_peer/stalled cells see the
 * same through the libuv driver about once in fifty runs.
 *
 *   make O=build-asan SAN=asan build-asan/faults/repro-write-order && \
 *     build-asan/faults/repro-write-order
 *
 * The same happens when the application closes the session while the
 * transport holds a write (bandwidth/stuck_close). Prints the order the
 * two write callbacks ran in, for both; exits 1 if the second write
 * completed before the first in either. */
#include <stdio.h>
#include <string.h>

#include "yamux.h"

static int order[2], ncb;

static void on_write(yamux_write_t* req, int status) {
  int which = (int)(size_t)req->data;
  printf("write %d: callback #%d, %s\n", which, ncb + 1,
         status ? yamux_err_name(status) : "0");
  if (ncb < 2) order[ncb] = which;
  ncb++;
}

static void wake(yamux_session_t* s) {
  (void)s;
}

static void tclose(yamux_session_t* s) {
  (void)s;
}

static void on_end(yamux_session_t* s, int status) {
  (void)s;
  printf("session ended: %s\n", yamux_err_name(status));
}

/* One case: the transport takes the SYN and write 1 and starts writing;
 * write 2 is queued behind; then `how` ends the session (the connection is
 * reset, or the application closes it) and the transport's write finishes
 * (failed, or cancelled). Returns 1 if write 2's callback ran first. */
static int run_case(const char* how) {
  static char a[1000], b[1000];
  yamux_session_t session;
  yamux_stream_t stream;
  yamux_write_t w1, w2;
  yamux_transport_t t = {wake, tclose};
  const uv_buf_t* bufs;
  uv_buf_t ba = uv_buf_init(a, sizeof(a)), bb = uv_buf_init(b, sizeof(b));
  uint64_t now = 1000000000;
  int reset = strcmp(how, "reset") == 0;

  printf("-- %s\n", how);
  ncb = 0;
  if (yamux_session_init(&session, YAMUX_CLIENT, NULL) != 0 ||
      yamux_session_start_custom(&session, &t, on_end, now) != 0 ||
      yamux_stream_init(&session, &stream) != 0 ||
      yamux_stream_open(NULL, &stream, NULL) != 0)
    return 2;
  w1.data = (void*)1;
  w2.data = (void*)2;
  if (yamux_write(&w1, &stream, &ba, 1, on_write) != 0) return 2;
  yamux_session_run(&session, now);
  printf("transport holds %u buffers\n",
         yamux_session_send_buffers(&session, &bufs, 64, now));
  if (yamux_write(&w2, &stream, &bb, 1, on_write) != 0) return 2;
  if (reset) {
    yamux_session_feed_error(&session, UV_ECONNRESET, now);
    yamux_session_run(&session, now);
    yamux_session_send_done(&session, 0, UV_ECONNRESET, now);
    yamux_session_run(&session, now);
    yamux_session_close(&session, NULL);
  } else {
    yamux_session_close(&session, NULL);
    yamux_session_run(&session, now);
    yamux_session_send_done(&session, 0, UV_ECANCELED, now);
  }
  yamux_session_run(&session, now);
  yamux_session_transport_closed(&session);
  if (ncb != 2) {
    printf("%d write callbacks, want 2\n", ncb);
    return 1;
  }
  if (order[0] != 1) {
    printf("write 2 completed before write 1\n");
    return 1;
  }
  return 0;
}

int main(void) {
  int r1 = run_case("reset");
  int r2 = run_case("close");
  return r1 || r2;
}
