#!/bin/sh
# Builds the demo's one static binary into bin/ for the FROM scratch image; the harness
# runs this (x-chaos.prebuild) before it builds images. A binary is replaced only when its
# bytes change, so an unchanged build leaves bin/ as it was.
set -eu
cd "$(dirname "$0")"
mkdir -p bin
CGO_ENABLED=0 go build -trimpath -o bin/demo.new .
if cmp -s bin/demo.new bin/demo; then rm -f bin/demo.new; else mv -f bin/demo.new bin/demo; fi
