#!/bin/sh
# The prebuild of this example (x-chaos.prebuild runs it in this folder): builds the two
# public programs it runs from their Go modules, at pinned versions, as static binaries in
# bin/ (never committed). No source of theirs lives in this repository; the Go module proxy
# serves it.
set -eu
cd "$(dirname "$0")"

HTTPBIN=github.com/mccutchen/go-httpbin/v2/cmd/go-httpbin@v2.18.2
BLACKBOX=github.com/prometheus/blackbox_exporter
BLACKBOX_VERSION=v0.25.0

# CGO_ENABLED=0: static binaries, because the images are FROM scratch (no libc in them).
export GOBIN="$PWD/bin" CGO_ENABLED=0
go install -trimpath "$HTTPBIN"

# `go install MODULE@VERSION` cannot build blackbox_exporter here: it asks the proxy for the
# module's version list (to look for a deprecation notice), which this machine's proxy
# refuses for that module, although it serves the version itself. So the same build goes
# through a throwaway module in bin/ that requires exactly that version and nothing else:
# minimal version selection then picks the dependency versions blackbox_exporter's own
# go.mod names, as `go install` would.
mod=bin/blackbox-build
rm -rf "$mod" && mkdir -p "$mod"
(
	cd "$mod"
	go mod init blackbox-build >/dev/null 2>&1
	go get "$BLACKBOX@$BLACKBOX_VERSION"
	# What upstream's release builds stamp in, so /metrics and --version name the version.
	go build -trimpath -o ../blackbox_exporter \
		-ldflags "-X github.com/prometheus/common/version.Version=${BLACKBOX_VERSION#v}" \
		"$BLACKBOX"
)
rm -rf "$mod"
