#!/bin/sh
# The prebuild of this example (x-chaos.prebuild runs it in this folder): builds the two
# public programs it runs from their Go modules, at pinned versions, as static binaries in
# bin/ (never committed). No source of theirs lives in this repository: `go install
# MODULE/cmd@VERSION` fetches each module through the Go module proxy, with the module's
# own go.mod and go.sum, exactly as its authors pinned its dependencies.
set -eu
cd "$(dirname "$0")"

CADDY=github.com/caddyserver/caddy/v2/cmd/caddy@v2.10.2
HTTPBIN=github.com/mccutchen/go-httpbin/v2/cmd/go-httpbin@v2.18.2

# CGO_ENABLED=0: static binaries, because the images are FROM scratch (no libc in them).
export GOBIN="$PWD/bin" CGO_ENABLED=0
go install -trimpath "$HTTPBIN"
go install -trimpath "$CADDY"
