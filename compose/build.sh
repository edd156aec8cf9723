#!/bin/sh
# Builds every reference-service binary into bin/ so the FROM scratch Dockerfile can copy
# them: bin/<name> (static, CGO_ENABLED=0) and bin/race/<name> (the race detector needs
# cgo, so these are linked statically against libc). The harness runs this with
# cwd=compose/ before it builds images; re-running is cheap because Go caches builds.
# Set SKIP_RACE=1 to build only the plain binaries.
set -eu
cd "$(dirname "$0")"

SERVICES="gateway inventory payment"

# bin/data is copied into every image as /data, owned by the service user, so a fresh
# named volume mounted there is writable (Docker seeds a new volume from the image). Its
# .keep file lets the harness see it among the prebuild outputs.
mkdir -p bin/data bin/race
[ -f bin/data/.keep ] || : >bin/data/.keep
for name in $SERVICES; do
	CGO_ENABLED=0 go build -trimpath -o "bin/$name" "./$name"
done
if [ "${SKIP_RACE:-0}" != 1 ]; then
	for name in $SERVICES; do
		# netgo/osusergo: pure-Go DNS and user lookups; glibc's need shared libraries
		# that a static binary in a scratch image does not have.
		CGO_ENABLED=1 go build -race -trimpath -tags netgo,osusergo \
			-ldflags '-linkmode external -extldflags -static' -o "bin/race/$name" "./$name"
	done
fi

# --- toxiproxy (owned by the toxiproxy module's engineer; edit this block there) ---
if [ -f toxiproxy/go.mod ]; then
	(cd toxiproxy && CGO_ENABLED=0 go build -trimpath -o ../bin/toxiproxy .)
fi
# --- end toxiproxy ---

# The harness's race variant (CHAOS_VARIANT=race) applies to every image. Toxiproxy is not
# under test, so unless a race build of it exists its race slot is the plain build.
if [ -f bin/toxiproxy ] && [ ! bin/race/toxiproxy -nt bin/toxiproxy ]; then
	ln -f bin/toxiproxy bin/race/toxiproxy
fi
