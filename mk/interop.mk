# Interop with real yamux peers (interop/). Included by the Makefile.
#
#   make interop            build every peer (Go: hashicorp/yamux and
#                           libp2p/go-yamux in one program; rust-yamux and the
#                           JS yamux when their mk/interop-*.mk exist), the C
#                           driver, and run the whole matrix: one table, exit
#                           status non-zero if any cell failed
#   make interop-echo       build/examples/echo against hashicorp/yamux only
#   make interop-goyamux    build/examples/echo against libp2p/go-yamux only
#   make interop-cdrive     the C-side-opener scenarios (build/interop/yxdrive)
#                           against both Go libraries
#   make interop-selftest   the library scenarios against hashicorp/yamux's
#                           own echo (checks the checker)
#   make interop-go-peer    just build interop/bin/go-peer
#
# INTEROP_SCENARIOS=open_echo,ping (default all), INTEROP_TIMEOUT=120s,
# INTEROP_PEERS="hashicorp goyamux rust js cdrive-hashicorp cdrive-goyamux"
# (default: all that are available). The Go peer (interop/gopeer, both Go
# libraries) is built in the repository's one Go module (go.mod, go.sum
# committed) and needs `go` and the module proxy; GOTOOLCHAIN=local: the
# installed go is used.

GO ?= go
INTEROP_SCENARIOS ?= all
INTEROP_TIMEOUT ?= 120s
INTEROP_GO := interop/bin/go-peer
INTEROP_GO_SRCS := $(wildcard interop/gopeer/*.go) go.mod go.sum
INTEROP_DRIVE := $(O)/interop/yxdrive
# Scenarios hashicorp/yamux itself passes (the raw hostile ones need a peer
# that follows PROTOCOL.md's policy table; hashicorp does not).
INTEROP_SELFTEST_SCENARIOS ?= open_echo,concurrent_1000,bulk_256m,big_window,$\
halfclose_client_first,halfclose_data_flowing,reset,ping,keepalive,goaway,$\
close_with_open_streams,close_abrupt

# The other peers, when their fragments are there.
INTEROP_PEERS ?= hashicorp goyamux \
  $(if $(wildcard mk/interop-rust.mk),rust) \
  $(if $(wildcard mk/interop-js.mk),js) \
  cdrive-hashicorp cdrive-goyamux
INTEROP_PEER_DEPS := $(INTEROP_GO) $(INTEROP_DRIVE) $(O)/examples/echo \
  $(if $(filter rust,$(INTEROP_PEERS)),interop-rust-peer) \
  $(if $(filter js,$(INTEROP_PEERS)),interop-js-deps)

.PHONY: interop interop-echo interop-goyamux interop-cdrive interop-selftest \
        interop-go-peer

interop-go-peer: $(INTEROP_GO)

# go build fetches the modules through GOPROXY on a fresh machine.
$(INTEROP_GO): $(INTEROP_GO_SRCS)
	@mkdir -p $(@D)
	GOTOOLCHAIN=local $(GO) build -buildvcs=false -o $@ ./interop/gopeer

$(O)/interop/yxdrive.o: interop/c/yxdrive.c include/yamux.h | $(LIBUV_OK)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(INTEROP_DRIVE): $(O)/interop/yxdrive.o $(STATIC_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(STATIC_LIB) $(UV_LIBS) -lm -lpthread

interop: $(INTEROP_PEER_DEPS)
	INTEROP_TIMEOUT=$(INTEROP_TIMEOUT) INTEROP_SCENARIOS=$(INTEROP_SCENARIOS) \
	  INTEROP_DRIVE=$(INTEROP_DRIVE) INTEROP_ECHO=$(O)/examples/echo \
	  interop/run-all.sh $(INTEROP_PEERS)

interop-echo: $(INTEROP_GO) $(O)/examples/echo
	INTEROP_TIMEOUT=$(INTEROP_TIMEOUT) INTEROP_SCENARIOS=$(INTEROP_SCENARIOS) \
	  INTEROP_ECHO=$(O)/examples/echo interop/run-all.sh hashicorp

interop-goyamux: $(INTEROP_GO) $(O)/examples/echo
	INTEROP_TIMEOUT=$(INTEROP_TIMEOUT) INTEROP_SCENARIOS=$(INTEROP_SCENARIOS) \
	  INTEROP_ECHO=$(O)/examples/echo interop/run-all.sh goyamux

interop-cdrive: $(INTEROP_GO) $(INTEROP_DRIVE)
	INTEROP_TIMEOUT=$(INTEROP_TIMEOUT) INTEROP_DRIVE=$(INTEROP_DRIVE) \
	  interop/run-all.sh cdrive-hashicorp cdrive-goyamux

interop-selftest: $(INTEROP_GO)
	INTEROP_TIMEOUT=$(INTEROP_TIMEOUT) \
	  INTEROP_SCENARIOS=$(INTEROP_SELFTEST_SCENARIOS) \
	  INTEROP_ECHO="$(INTEROP_GO) --serve-echo" interop/run-all.sh hashicorp
