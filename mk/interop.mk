# Interop with real yamux peers (interop/). Included by the Makefile.
#
#   make interop-echo       build/examples/echo against hashicorp/yamux,
#                           both roles, over child stdio and TCP
#   make interop-selftest   the same scenarios against hashicorp/yamux's own
#                           echo (checks the checker)
#   make interop-hashicorp-peer   just build interop/bin/hashicorp-peer
#
# INTEROP_SCENARIOS=open_echo,ping (default all), INTEROP_TIMEOUT=120s.
# The Go peer needs only `go` and the module proxy (go.sum is committed).

GO ?= go
INTEROP_SCENARIOS ?= all
INTEROP_TIMEOUT ?= 120s
INTEROP_HASHICORP := interop/bin/hashicorp-peer
INTEROP_HASHICORP_SRCS := $(wildcard interop/hashicorp/*.go) \
                          interop/hashicorp/go.mod interop/hashicorp/go.sum
# Scenarios hashicorp/yamux itself passes (the raw hostile ones need a peer
# that follows PROTOCOL.md's policy table; hashicorp does not).
INTEROP_SELFTEST_SCENARIOS ?= open_echo,concurrent_1000,bulk_256m,big_window,$\
halfclose_client_first,halfclose_data_flowing,reset,ping,keepalive,goaway,$\
close_with_open_streams,close_abrupt

.PHONY: interop-echo interop-selftest interop-hashicorp-peer

interop-hashicorp-peer: $(INTEROP_HASHICORP)

$(INTEROP_HASHICORP): $(INTEROP_HASHICORP_SRCS)
	@mkdir -p $(@D)
	cd interop/hashicorp && GOTOOLCHAIN=local $(GO) build -o ../bin/hashicorp-peer .

interop-echo: $(INTEROP_HASHICORP) build/examples/echo
	INTEROP_TIMEOUT=$(INTEROP_TIMEOUT) interop/run-hashicorp.sh \
	  build/examples/echo $(INTEROP_SCENARIOS)

interop-selftest: $(INTEROP_HASHICORP)
	INTEROP_TIMEOUT=$(INTEROP_TIMEOUT) interop/run-hashicorp.sh \
	  "$(INTEROP_HASHICORP) --serve-echo" $(INTEROP_SELFTEST_SCENARIOS)
