#!/bin/sh
# Builds every reference-service binary into bin/ (static, CGO_ENABLED=0) so the
# FROM scratch Dockerfile can copy them. The harness runs this with cwd=compose/ before it
# builds images; re-running is cheap because Go caches builds.
set -eu
cd "$(dirname "$0")"

SERVICES="gateway inventory"

mkdir -p bin
for name in $SERVICES; do
	CGO_ENABLED=0 go build -trimpath -o "bin/$name" "./$name"
done

# --- toxiproxy (owned by the toxiproxy module's engineer; edit this block there) ---
if [ -f toxiproxy/go.mod ]; then
	(cd toxiproxy && CGO_ENABLED=0 go build -trimpath -o ../bin/toxiproxy .)
fi
# --- end toxiproxy ---
