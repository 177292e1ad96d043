# toxiproxy (github.com/Shopify/toxiproxy/v2 v2.5.0), the link and fault
# emulator of the W8 benchmarks and of `make test-faults`, built from the
# repository's Go module (go.mod requires it through tools/toxiproxy/tools.go;
# go.sum pins it). Needs `go` and the module proxy on a fresh machine.
#
#   make toxiproxy        build $(TOXIPROXY_BIN)

GO ?= go
TOXIPROXY_BIN := $(O)/toxiproxy/toxiproxy-server

.PHONY: toxiproxy

toxiproxy: $(TOXIPROXY_BIN)

$(TOXIPROXY_BIN): go.mod go.sum tools/toxiproxy/tools.go
	@mkdir -p $(@D)
	GOTOOLCHAIN=local $(GO) build -buildvcs=false -o $@ \
	  github.com/Shopify/toxiproxy/v2/cmd/server
