#!/bin/sh
# Builds the demo's services into bin/ (static, for FROM scratch images).
set -eu
cd "$(dirname "$0")"
mkdir -p bin
for name in front back; do
	CGO_ENABLED=0 go build -trimpath -o "bin/$name" "./$name"
done
