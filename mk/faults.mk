# Real network faults (test/faults/, interop/gopeer/faults*.go): toxiproxy
# between a libyamux session (test/faults/yxfault.c, built with ASan, UBSan
# and LeakSanitizer in build-asan/) and the Go yamux libraries, both roles,
# over TCP. Included by the Makefile.
#
#   make test-faults      the whole matrix: one table, exit status non-zero
#                         if any cell failed (test/faults/README.md)
#   test/faults/mutants.sh  plants defects in a copy of the library and
#                         checks that the cells catch them
#
# FAULTS_CELLS=timeout,limit_data (substrings of row/lib/role; default all),
# FAULTS_JOBS=2 (cells at once). Needs `go` (modules through GOPROXY, go.sum
# committed at the top) for the Go peer and toxiproxy.

FAULTS_CELLS ?=
FAULTS_JOBS ?= 2
FAULTS_BIN := build-asan/faults/yxfault

.PHONY: test-faults

$(O)/faults/yxfault.o: test/faults/yxfault.c include/yamux.h | $(LIBUV_OK)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(O)/faults/yxfault: $(O)/faults/yxfault.o $(STATIC_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(STATIC_LIB) $(UV_LIBS) -lm -lpthread

# mk/interop.mk and mk/toxiproxy.mk are included after this file: their
# variables are not set yet when these prerequisites are read.
test-faults: interop/bin/go-peer $(O)/toxiproxy/toxiproxy-server
	@$(MAKE) --no-print-directory O=build-asan SAN=asan $(FAULTS_BIN)
	$(ASAN_ENV) $(INTEROP_GO) --faults --toxiproxy $(TOXIPROXY_BIN) \
	  --cside $(FAULTS_BIN) --jobs $(FAULTS_JOBS) \
	  $(if $(FAULTS_CELLS),--cells $(FAULTS_CELLS))

# A reproducer for the lead (see its comment); not run by test-faults.
$(O)/faults/repro-write-order.o: test/faults/repro-write-order.c \
                                 include/yamux.h | $(LIBUV_OK)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(O)/faults/repro-write-order: $(O)/faults/repro-write-order.o $(STATIC_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(STATIC_LIB) $(UV_LIBS) -lm -lpthread
