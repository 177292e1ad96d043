# toxiproxy (github.com/Shopify/toxiproxy/v2 v2.5.0), the link and fault
# emulator of the W8 benchmarks and of `make test-faults`, built from its Go
# module (tools/toxiproxy/go.sum pins it). Needs `go` and the module proxy on
# a fresh machine.
#
#   make toxiproxy        build $(TOXIPROXY_BIN)

GO ?= go
TOXIPROXY_BIN := $(O)/toxiproxy/toxiproxy-server

.PHONY: toxiproxy

toxiproxy: $(TOXIPROXY_BIN)

$(TOXIPROXY_BIN): tools/toxiproxy/go.mod tools/toxiproxy/go.sum
	@mkdir -p $(@D)
	cd tools/toxiproxy && GOTOOLCHAIN=local $(GO) build -buildvcs=false \
	  -o $(abspath $@) github.com/Shopify/toxiproxy/v2/cmd/server
