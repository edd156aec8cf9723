// Seeded-bug switches: the CHAOS_BUGS variable names which of the catalogued mistakes
// (shared/PITFALLS.md) a service should make. No bug code path runs unless it is named.
package platform

import (
	"fmt"
	"slices"
	"strings"
)

// The names of the seeded bugs, one per row of the pitfall catalog.
const (
	BugLeakOnTimeout          = "leak-on-timeout"
	BugPanicInGoroutine       = "panic-in-goroutine"
	BugNoRecovery             = "no-recovery"
	BugNoDeadline             = "no-deadline"
	BugNoBreaker              = "no-breaker"
	BugBreakerStuckOpen       = "breaker-stuck-open"
	BugUnboundedConcurrency   = "unbounded-concurrency"
	BugContextNotCopied       = "context-not-copied"
	BugResponseFromGoroutine  = "response-from-goroutine"
	BugSharedCounterRace      = "shared-counter-race"
	BugWaitGroupMisuse        = "waitgroup-misuse"
	BugCtxIgnoredInMiddleware = "ctx-ignored-in-middleware"
	BugNoGracefulShutdown     = "no-graceful-shutdown"
	BugUnsafeRetry            = "unsafe-retry"
	BugNoFallback             = "no-fallback"
)

// KnownBugs lists every seeded bug name in catalog order.
var KnownBugs = []string{
	BugLeakOnTimeout, BugPanicInGoroutine, BugNoRecovery, BugNoDeadline, BugNoBreaker,
	BugBreakerStuckOpen, BugUnboundedConcurrency, BugContextNotCopied,
	BugResponseFromGoroutine, BugSharedCounterRace, BugWaitGroupMisuse,
	BugCtxIgnoredInMiddleware, BugNoGracefulShutdown, BugUnsafeRetry, BugNoFallback,
}

// Bugs is the set of seeded bugs switched on for this process.
type Bugs map[string]bool

// ParseBugs reads a comma-separated CHAOS_BUGS value. Blank entries are ignored; an
// unknown name is an error that lists every known name, so a typo never silently
// runs the correct build.
func ParseBugs(value string) (Bugs, error) {
	bugs := Bugs{}
	for _, name := range strings.Split(value, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(KnownBugs, name) {
			return nil, fmt.Errorf("CHAOS_BUGS: unknown bug %q; known bugs: %s",
				name, strings.Join(KnownBugs, ", "))
		}
		bugs[name] = true
	}
	return bugs, nil
}

// On reports whether the named bug is switched on. Asking for a name that is not in the
// catalog is a programming error, so it panics instead of quietly answering false.
func (b Bugs) On(name string) bool {
	if !slices.Contains(KnownBugs, name) {
		panic("platform: unknown bug name " + name)
	}
	return b[name]
}

// Names returns the switched-on bugs in catalog order (for the start-up log line).
func (b Bugs) Names() []string {
	names := []string{}
	for _, name := range KnownBugs {
		if b[name] {
			names = append(names, name)
		}
	}
	return names
}
