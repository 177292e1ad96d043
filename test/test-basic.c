/* End-to-end basics over the in-memory pair: open, 0-RTT data, accept, echo
 * both ways, half-close in both directions, close, no leaks. */
#include "helpers.h"
#include "task.h"

static tstream_t* accepted;
static void on_conn(yamux_session_t* s, int status) {
  ASSERT_EQ(status, 0);
  ASSERT_EQ(tstream_accept(accepted, s), 0);
  ASSERT_EQ(tstream_read_start(accepted), 0);
}

TEST(basic_open_write_read_close) {
  tpair_t pair;
  tstream_t a, b;
  tpair_init(&pair, NULL, NULL);
  accepted = &b;
  ASSERT_EQ(yamux_session_listen(&pair.s.session, on_conn), 0);
  tstream_init(&a, &pair.c.session);
  ASSERT_EQ(tstream_open(&a), 0);
  ASSERT_EQ(tstream_write(&a, "hello", 5), 0);
  ASSERT_EQ(tstream_read_start(&a), 0);
  tpair_pump_all(&pair);
  ASSERT_EQ(a.connect_count, 1);
  ASSERT_EQ(a.connect_status, 0);
  ASSERT_EQ(a.writes_done, 1);
  ASSERT_EQ(b.rx.len, 5);
  ASSERT_MEM_EQ(b.rx.data, "hello", 5);
  ASSERT_EQ(tstream_write(&b, NULL, 300000), 0);
  ASSERT_EQ(tstream_shutdown(&b), 0);
  tpair_pump_all(&pair);
  ASSERT_EQ(a.rx.len, 300000);
  ASSERT_EQ(a.eof, 1);
  ASSERT_EQ(b.shutdown_count, 1);
  ASSERT_EQ(tstream_shutdown(&a), 0);
  tpair_pump_all(&pair);
  ASSERT_EQ(b.eof, 1);
  tstream_close(&a);
  tstream_close(&b);
  tpair_pump_all(&pair);
  ASSERT_EQ(a.close_count, 1);
  ASSERT_EQ(b.close_count, 1);
  tpair_close(&pair);
}
