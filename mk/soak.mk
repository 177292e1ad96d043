# Soak (interop/soak/): a long randomized workload against build/examples/echo
# driven by the real hashicorp/yamux v0.1.2, over stdio and TCP at once, every
# byte verified, the echo's RSS sampled. Not in CI. Included by the Makefile.
#
#   make soak                     10 minutes (SOAK_MINUTES=10)
#   make soak SOAK_MINUTES=1      a short one
#   make soak SOAK_SEED=N         replay a seed (printed on the first line)
#   make soak-build               just build interop/bin/soak
#
# SOAK_SAMPLE=10 (seconds between RSS samples), SOAK_TRANSPORTS=stdio,tcp,
# SOAK_MAX_LIVE=300 (live streams per session), SOAK_KEEPALIVE_MS=250 (the
# echo's keepalive). Exit status non-zero on a byte mismatch, a stream or
# session error, a crashed echo, or memory kept across the TCP echo's
# sessions: heap in use (end > start*1.1 + 1 MiB) or RSS after malloc_trim
# (end > start*1.1 + 2 MiB) at quiesced session ends, measured inside the
# echo by interop/bin/heapstat.so (interop/soak/heapstat/heapstat.c, an
# LD_PRELOAD shim; glibc).

GO ?= go
SOAK_MINUTES ?= 10
SOAK_BIN := interop/bin/soak
SOAK_HEAPSTAT := interop/bin/heapstat.so
SOAK_SRCS := $(wildcard interop/soak/*.go) go.mod go.sum

.PHONY: soak soak-build

soak-build: $(SOAK_BIN) $(SOAK_HEAPSTAT)

$(SOAK_BIN): $(SOAK_SRCS)
	@mkdir -p $(@D)
	GOTOOLCHAIN=local $(GO) build -buildvcs=false -o $@ ./interop/soak

$(SOAK_HEAPSTAT): interop/soak/heapstat/heapstat.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -shared -fPIC -pthread \
	  -o $@ $<

soak: $(SOAK_BIN) $(SOAK_HEAPSTAT) $(O)/examples/echo
	SOAK_MINUTES=$(SOAK_MINUTES) SOAK_ECHO=$(O)/examples/echo \
	  SOAK_HEAPSTAT=$(abspath $(SOAK_HEAPSTAT)) $(SOAK_BIN)
