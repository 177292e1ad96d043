module github.com/libyamux/interop/yamux-cli-go

go 1.23

require github.com/hashicorp/yamux v0.1.2
