/* Error names and messages, generated from YAMUX_ERRNO_MAP so the enum and
 * the strings cannot drift apart; anything else is libuv's. */
#include "common.h"

const char* yamux_strerror(int err) {
  switch (err) {
#define XX(name, val, msg) \
  case YAMUX_##name:       \
    return msg;
    YAMUX_ERRNO_MAP(XX)
#undef XX
#define UVXX(name, _) case UV_##name:
    UV_ERRNO_MAP(UVXX)
#undef UVXX
    return uv_strerror(err);
    default:
      /* libuv allocates (and never frees) a string for codes it does not
       * know: keep the promise of a static string. */
      return "unknown error";
  }
}

const char* yamux_err_name(int err) {
  switch (err) {
#define XX(name, val, msg) \
  case YAMUX_##name:       \
    return "YAMUX_" #name;
    YAMUX_ERRNO_MAP(XX)
#undef XX
#define UVXX(name, _) case UV_##name:
    UV_ERRNO_MAP(UVXX)
#undef UVXX
    return uv_err_name(err);
    default:
      return "UNKNOWN";
  }
}

unsigned int yamux_version(void) {
  return YAMUX_VERSION_HEX;
}

const char* yamux_version_string(void) {
  return YAMUX_VERSION_STRING;
}
