module github.com/libyamux/interop/soak

go 1.23

require github.com/hashicorp/yamux v0.1.2
