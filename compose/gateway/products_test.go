// Tests for GET /products/:id: the deadline pattern and the leak-on-timeout bug.
package main

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"chaosharness/compose/internal/platform"
)

// newTestGateway returns a gateway whose inventory is the given handler.
func newTestGateway(t *testing.T, vars map[string]string, inventory http.Handler) *gateway {
	t.Helper()
	upstream := httptest.NewServer(inventory)
	t.Cleanup(upstream.Close)
	if vars == nil {
		vars = map[string]string{}
	}
	vars["INVENTORY_URL"] = upstream.URL
	env := platform.MapEnv(vars)
	svc, err := platform.New("gateway", env)
	if err != nil {
		t.Fatal(err)
	}
	g := newGateway(svc, loadConfig(env))
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	g.routes(svc.Router)
	return g
}

func get(g *gateway, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	g.svc.Router.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func slowInventory(delay time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(delay):
			w.Write([]byte(`{"id":1,"stock":5}`))
		case <-r.Context().Done():
		}
	})
}

func TestProductOK(t *testing.T) {
	g := newTestGateway(t, nil, slowInventory(0))
	rec := get(g, "/products/1")
	if rec.Code != 200 || rec.Body.String() != `{"id":1,"stock":5}` {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

func TestProductDeadlineGives504(t *testing.T) {
	g := newTestGateway(t, map[string]string{"DOWNSTREAM_TIMEOUT": "50ms"}, slowInventory(time.Second))
	start := time.Now()
	rec := get(g, "/products/1")
	if rec.Code != http.StatusGatewayTimeout {
		t.Fatalf("code %d", rec.Code)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Fatalf("answered after %v", took)
	}
}

// goroutinesAfter runs n timed-out product reads and returns the goroutine count growth
// once things have had time to settle.
func goroutinesAfter(t *testing.T, g *gateway, n int) int {
	t.Helper()
	before := runtime.NumGoroutine()
	for range n {
		if rec := get(g, "/products/1"); rec.Code != http.StatusGatewayTimeout {
			t.Fatalf("code %d", rec.Code)
		}
	}
	time.Sleep(200 * time.Millisecond)
	return runtime.NumGoroutine() - before
}

func TestProductTimeoutLeaksNothing(t *testing.T) {
	g := newTestGateway(t, map[string]string{"DOWNSTREAM_TIMEOUT": "10ms"}, slowInventory(time.Second))
	if grew := goroutinesAfter(t, g, 20); grew > 5 {
		t.Fatalf("goroutines grew by %d after timeouts", grew)
	}
}

// Seeded bug leak-on-timeout: every timed-out request leaves a worker blocked on its send.
func TestBugLeakOnTimeoutLeaks(t *testing.T) {
	g := newTestGateway(t, map[string]string{"DOWNSTREAM_TIMEOUT": "10ms", "CHAOS_BUGS": platform.BugLeakOnTimeout},
		slowInventory(time.Second))
	if grew := goroutinesAfter(t, g, 20); grew < 15 {
		t.Fatalf("goroutines grew by only %d; want a leaked worker per timed-out request", grew)
	}
}
