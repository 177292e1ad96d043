/* The frame header codec. Byte by byte with explicit shifts: never cast a
 * struct onto the wire. */
#include "frame.h"

#include "yamux.h"

static void put32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t* p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

void yamux__frame_encode(uint8_t* out, uint8_t type, uint16_t flags,
                         uint32_t stream_id, uint32_t length) {
  out[0] = YAMUX__PROTO_VERSION;
  out[1] = type;
  out[2] = (uint8_t)(flags >> 8);
  out[3] = (uint8_t)flags;
  put32(out + 4, stream_id);
  put32(out + 8, length);
}

void yamux__frame_decode(const uint8_t* in, yamux__frame_hdr_t* hdr) {
  hdr->version = in[0];
  hdr->type = in[1];
  hdr->flags = (uint16_t)(((unsigned)in[2] << 8) | in[3]);
  hdr->stream_id = get32(in + 4);
  hdr->length = get32(in + 8);
}

int yamux__frame_validate(const yamux__frame_hdr_t* hdr) {
  if (hdr->version != YAMUX__PROTO_VERSION) return YAMUX_EPROTO;
  if (hdr->type > YAMUX__TYPE_GO_AWAY) return YAMUX_EPROTO;
  return 0;
}
