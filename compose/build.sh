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

# --- toxiproxy (owned by the toxiproxy module's engineer; edit this block there) ---
# Toxiproxy as pinned in toxiproxy/go.mod plus our fixes in toxiproxy/patches/ (each says
# why): the module is copied out of Go's module cache into bin/toxiproxy-src, patched, and
# built through a copy of go.mod that replaces the module with the patched copy.
if [ -f toxiproxy/go.mod ]; then
	(
		cd toxiproxy
		command -v patch >/dev/null || {
			echo "build.sh: 'patch' is needed to build Toxiproxy (apt-get install patch)" >&2
			exit 1
		}
		go mod download github.com/Shopify/toxiproxy/v2
		upstream=$(go list -m -f '{{.Dir}}' github.com/Shopify/toxiproxy/v2)
		src=../bin/toxiproxy-src
		rm -rf "$src" && mkdir -p "$src" && cp -R "$upstream" "$src/module" && chmod -R u+w "$src"
		for fix in patches/*.patch; do
			patch -s -p1 -d "$src/module" <"$fix"
		done
		cp go.mod "$src/go.mod" && cp go.sum "$src/go.sum"
		go mod edit -modfile="$src/go.mod" -replace="github.com/Shopify/toxiproxy/v2=$src/module"
		CGO_ENABLED=0 build ../bin/toxiproxy -modfile="$src/go.mod" .
	)
fi
# --- end toxiproxy ---

# The harness's race variant (CHAOS_VARIANT=race) applies to every image. Toxiproxy is not
# under test, so its race slot holds a copy of the plain build. A copy,
# not a hard link: Docker's build cache checksums a hard-linked file in the context by its
# link, not its content, so the images kept a stale binary after it changed.
if [ -f bin/toxiproxy ] && ! cmp -s bin/toxiproxy bin/race/toxiproxy; then
	rm -f bin/race/toxiproxy
	cp bin/toxiproxy bin/race/toxiproxy
fi
