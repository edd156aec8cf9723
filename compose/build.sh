#!/bin/sh
# Builds every reference-service binary into bin/ so the FROM scratch Dockerfile can copy
# them: bin/<name> (static, CGO_ENABLED=0) and bin/race/<name> (the race detector needs
# cgo, so these are linked statically against libc). The harness runs this with
# cwd=compose/ before it builds images; re-running is cheap because Go caches builds.
# Set SKIP_RACE=1 to build only the plain binaries.
set -eu
cd "$(dirname "$0")"

# Go rewrites -o files even when nothing changed; a binary is replaced only when its bytes
# differ, so that an unchanged build leaves bin/ as it was (the harness's prebuild stamp
# records the outputs' modification times, and a needless rewrite would force a rebuild).
build() {
	out=$1
	shift
	go build -trimpath -o "$out.new" "$@"
	if cmp -s "$out.new" "$out"; then rm -f "$out.new"; else mv -f "$out.new" "$out"; fi
}

SERVICES="gateway inventory payment"

# bin/data is copied into every image as /data, owned by the service user, so a fresh
# named volume mounted there is writable (Docker seeds a new volume from the image). Its
# .keep file lets the harness see it among the prebuild outputs.
mkdir -p bin/data bin/race
[ -f bin/data/.keep ] || : >bin/data/.keep
for name in $SERVICES; do
	CGO_ENABLED=0 build "bin/$name" "./$name"
done
if [ "${SKIP_RACE:-0}" != 1 ]; then
	for name in $SERVICES; do
		# netgo/osusergo: pure-Go DNS and user lookups; glibc's need shared libraries
		# that a static binary in a scratch image does not have.
		CGO_ENABLED=1 build "bin/race/$name" -race -tags netgo,osusergo \
			-ldflags '-linkmode external -extldflags -static' "./$name"
	done
fi
