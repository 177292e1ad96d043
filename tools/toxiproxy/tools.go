//go:build tools

// Package tools pins toxiproxy (the link and fault emulator the benchmarks
// and the fault tests put between two yamux sessions) so that its server is
// built from the repository's go.sum: go build github.com/Shopify/toxiproxy/v2/cmd/server
package tools

import _ "github.com/Shopify/toxiproxy/v2/cmd/server"
