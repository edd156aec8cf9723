// Tests for GET /products/:id: the deadline pattern, the degraded fallback, SafeGo, and
// the seeded bugs on this path (leak-on-timeout, no-fallback, panic-in-goroutine).
package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"chaosharness/compose/internal/platform"
)

func TestProductOK(t *testing.T) {
	g := newTestGateway(t, nil, slowInventory(0), nil)
	a := g.get(t, "/products/1")
	if a.code != 200 || a.body != `{"id":1,"stock":5}` {
		t.Fatalf("%d %s", a.code, a.body)
	}
}

func TestProductDeadlineGives504InTime(t *testing.T) {
	g := newTestGateway(t, map[string]string{"DOWNSTREAM_TIMEOUT": "50ms"}, slowInventory(time.Second), nil)
	start := time.Now()
	if a := g.get(t, "/products/1"); a.code != http.StatusGatewayTimeout {
		t.Fatalf("code %d", a.code)
	}
	if took := time.Since(start); took > 300*time.Millisecond {
		t.Fatalf("answered after %v", took)
	}
}

// leakAfter runs n timed-out product reads and returns how much the goroutine count grew.
func leakAfter(t *testing.T, g *testGateway, n int) int {
	t.Helper()
	g.get(t, "/metrics") // warm the client connection into the baseline
	before := settledGoroutines()
	for range n {
		if a := g.get(t, "/products/1"); a.code != http.StatusGatewayTimeout {
			t.Fatalf("code %d", a.code)
		}
	}
	return settledGoroutines() - before
}

func TestProductTimeoutLeaksNothing(t *testing.T) {
	g := newTestGateway(t, map[string]string{"DOWNSTREAM_TIMEOUT": "10ms"}, slowInventory(time.Second), nil)
	if grew := leakAfter(t, g, 20); grew > 5 {
		t.Fatalf("goroutines grew by %d after timeouts", grew)
	}
}

// Seeded bug leak-on-timeout: every timed-out request leaves a worker blocked on its send.
func TestBugLeakOnTimeoutLeaks(t *testing.T) {
	g := newTestGateway(t, map[string]string{"DOWNSTREAM_TIMEOUT": "10ms", "CHAOS_BUGS": platform.BugLeakOnTimeout},
		slowInventory(time.Second), nil)
	if grew := leakAfter(t, g, 20); grew < 15 {
		t.Fatalf("goroutines grew by only %d; want a leaked worker per timed-out request", grew)
	}
}

// cutInventory serves one good answer, then refuses every connection (a partition).
func cutInventory(t *testing.T, vars map[string]string) (*testGateway, func()) {
	inv := httptest.NewServer(slowInventory(0))
	vars["INVENTORY_URL"] = inv.URL
	g := newTestGateway(t, vars, nil, nil)
	if a := g.get(t, "/products/1"); a.code != 200 {
		t.Fatalf("warm-up read: %d %s", a.code, a.body)
	}
	return g, inv.Close
}

func TestProductFallbackWhenUnreachable(t *testing.T) {
	g, cut := cutInventory(t, map[string]string{})
	cut()
	a := g.get(t, "/products/1")
	if a.code != 200 || !strings.Contains(a.body, `"degraded":true`) || !strings.Contains(a.body, `"stock":5`) {
		t.Fatalf("%d %s", a.code, a.body)
	}
	// Never seen before: nothing to fall back on.
	if a := g.get(t, "/products/2"); a.code != http.StatusBadGateway {
		t.Fatalf("uncached product: %d %s", a.code, a.body)
	}
}

// Seeded bug no-fallback: the same partition gives a 500.
func TestBugNoFallbackAnswers500(t *testing.T) {
	g, cut := cutInventory(t, map[string]string{"CHAOS_BUGS": platform.BugNoFallback})
	cut()
	if a := g.get(t, "/products/1"); a.code != http.StatusInternalServerError {
		t.Fatalf("%d %s", a.code, a.body)
	}
}

func TestMalformedReplyIsRecovered(t *testing.T) {
	g := newTestGateway(t, nil, jsonHandler(200, `{"id":1,"stock":"plenty"}`), nil)
	if a := g.get(t, "/products/1"); a.code != http.StatusBadGateway {
		t.Fatalf("%d %s", a.code, a.body)
	}
	if a := g.get(t, "/metrics"); a.code != 200 || !strings.Contains(a.body, `panics_recovered_total{where="goroutine"} 1`) {
		t.Fatal("the recovered panic was not counted")
	}
}

// Seeded bug panic-in-goroutine: the worker runs on a bare goroutine, so the same reply
// kills the process. The crash runs in a child copy of the test binary.
func TestBugPanicInGoroutineCrashes(t *testing.T) {
	if os.Getenv("GATEWAY_CRASH_CHILD") == "1" {
		g := newTestGateway(t, map[string]string{"CHAOS_BUGS": platform.BugPanicInGoroutine},
			jsonHandler(200, `null`), nil)
		g.get(t, "/products/1")
		time.Sleep(time.Second)
		return // not reached: the process has died
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBugPanicInGoroutineCrashes$")
	cmd.Env = append(os.Environ(), "GATEWAY_CRASH_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "panic: interface conversion") {
		t.Fatalf("want the child to die of the panic; err=%v output:\n%s", err, out)
	}
}
