/* Private: the 12-byte yamux frame header (hashicorp spec.md, version 0). */
#ifndef YAMUX_FRAME_H
#define YAMUX_FRAME_H

#include <stdint.h>

#define YAMUX__HDR_LEN 12
#define YAMUX__PROTO_VERSION 0
#define YAMUX__DEFAULT_WINDOW 262144u
#define YAMUX__MAX_FRAME_BODY 1048576u

enum {
  YAMUX__TYPE_DATA = 0,
  YAMUX__TYPE_WINDOW_UPDATE = 1,
  YAMUX__TYPE_PING = 2,
  YAMUX__TYPE_GO_AWAY = 3
};

enum {
  YAMUX__FLAG_SYN = 0x1,
  YAMUX__FLAG_ACK = 0x2,
  YAMUX__FLAG_FIN = 0x4,
  YAMUX__FLAG_RST = 0x8
};

typedef struct {
  uint8_t version;
  uint8_t type;
  uint16_t flags;
  uint32_t stream_id;
  uint32_t length;
} yamux__frame_hdr_t;

/* Writes the header big-endian into out[12]. */
void yamux__frame_encode(uint8_t* out, uint8_t type, uint16_t flags,
                         uint32_t stream_id, uint32_t length);
/* Reads a header from in[12]; never fails (validation is the caller's). */
void yamux__frame_decode(const uint8_t* in, yamux__frame_hdr_t* hdr);
/* 0 if version and type are valid, else YAMUX_EPROTO. */
int yamux__frame_validate(const yamux__frame_hdr_t* hdr);

#endif
