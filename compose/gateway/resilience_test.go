// Tests for the downstream guards (breaker, bulkhead, deadlines), the slow-request
// watchdog and the single-writer rule, with the seeded bug of each.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chaosharness/compose/internal/platform"
)

func breakerGateway(t *testing.T, bugs string) (*testGateway, *fakeInventory) {
	inv := &fakeInventory{}
	inv.status.Store(http.StatusInternalServerError)
	g := newTestGateway(t, map[string]string{"CHAOS_BUGS": bugs, "BREAKER_FAILURES": "3", "BREAKER_TIMEOUT": "100ms"}, inv, nil)
	return g, inv
}

// readN makes n product reads and returns their status codes.
func readN(t *testing.T, g *testGateway, n int) []int {
	var codes []int
	for range n {
		codes = append(codes, g.get(t, "/products/1").code)
	}
	return codes
}

func TestBreakerTripsAndRecovers(t *testing.T) {
	g, inv := breakerGateway(t, "")
	readN(t, g, 3)
	start := time.Now()
	a := g.get(t, "/products/1")
	if a.code != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("open breaker: %d %q after %v", a.code, a.header.Get("Retry-After"), time.Since(start))
	}
	readN(t, g, 5)
	if n := inv.calls.Load(); n != 3 {
		t.Fatalf("inventory got %d calls; the open breaker should stop them at 3", n)
	}
	if line := metricLine(t, g, `gateway_breaker_state{downstream="inventory"}`); !strings.HasSuffix(line, " 2") {
		t.Fatalf("state metric %q", line)
	}

	inv.status.Store(0) // heal
	time.Sleep(150 * time.Millisecond)
	if a := g.get(t, "/products/1"); a.code != http.StatusOK {
		t.Fatalf("after healing: %d %s", a.code, a.body)
	}
	if line := metricLine(t, g, `gateway_breaker_state{downstream="inventory"}`); !strings.HasSuffix(line, " 0") {
		t.Fatalf("state metric %q", line)
	}
	for _, path := range []string{`from="closed",to="open"`, `from="open",to="half-open"`, `from="half-open",to="closed"`} {
		if line := metricLine(t, g, `gateway_breaker_transitions_total{downstream="inventory",`+path); !strings.HasSuffix(line, " 1") {
			t.Errorf("transition %s: %q", path, line)
		}
	}
}

// Seeded bug no-breaker: every call reaches the failing downstream.
func TestBugNoBreakerKeepsCalling(t *testing.T) {
	g, inv := breakerGateway(t, platform.BugNoBreaker)
	readN(t, g, 10)
	if n := inv.calls.Load(); n != 10 {
		t.Fatalf("inventory got %d calls, want all 10", n)
	}
}

// Seeded bug breaker-stuck-open: healing does not close the breaker.
func TestBugBreakerStuckOpen(t *testing.T) {
	g, inv := breakerGateway(t, platform.BugBreakerStuckOpen)
	readN(t, g, 3)
	inv.status.Store(0)
	time.Sleep(150 * time.Millisecond)
	if a := g.get(t, "/products/1"); a.code != http.StatusServiceUnavailable {
		t.Fatalf("after healing: %d; want the breaker still open", a.code)
	}
}

// A payment outage is payment's alone. When the charge fails, the errgroup cancels the
// reservation still in flight with payment's error as the cause, and net/http returns that
// cause rather than context.Canceled; the cancelled call must still not count against
// inventory, whose breaker stays closed, so product reads stay fresh.
func TestPaymentOutageLeavesInventoryBreakerClosed(t *testing.T) {
	inventory := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			io.WriteString(w, `{"id":1,"stock":5}`)
			return
		}
		select { // a reservation takes a while: still in flight when the charge fails
		case <-time.After(200 * time.Millisecond):
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"seq":1}`)
		case <-r.Context().Done():
		}
	})
	pay := newFakePayment()
	pay.status = http.StatusInternalServerError
	g := newTestGateway(t, map[string]string{"BREAKER_FAILURES": "3", "RETRY_ATTEMPTS": "1"}, inventory, pay)
	for i := range 6 {
		if a := g.order(t, fmt.Sprintf("outage-%d", i), ""); a.code/100 != 5 {
			t.Fatalf("order %d with payment failing: %d %s", i, a.code, a.body)
		}
	}
	if line := metricLine(t, g, `gateway_breaker_state{downstream="inventory"}`); !strings.HasSuffix(line, " 0") {
		t.Fatalf("payment's outage moved inventory's breaker: %q", line)
	}
	if a := g.get(t, "/products/1"); a.code != http.StatusOK || strings.Contains(a.body, "degraded") {
		t.Fatalf("product read during payment's outage: %d %s; want a fresh 200", a.code, a.body)
	}
}

// burst sends n product reads at once against a slow inventory and returns the codes.
func burst(t *testing.T, bugs string, n int) ([]int, *testGateway, *fakeInventory) {
	inv := &fakeInventory{}
	inv.delay.Store(int64(200 * time.Millisecond))
	g := newTestGateway(t, map[string]string{"CHAOS_BUGS": bugs, "BULKHEAD_SIZE": "3"}, inv, nil)
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = g.get(t, "/products/1").code
		}()
	}
	wg.Wait()
	return codes, g, inv
}

func TestBulkheadShedsExcess(t *testing.T) {
	codes, g, inv := burst(t, "", 12)
	shed := 0
	for _, c := range codes {
		if c == http.StatusServiceUnavailable {
			shed++
		}
	}
	if shed == 0 || inv.peak.Load() > 3 {
		t.Fatalf("codes %v, inventory peak concurrency %d (limit 3)", codes, inv.peak.Load())
	}
	if line := metricLine(t, g, `gateway_bulkhead_shed_total{downstream="inventory"}`); strings.HasSuffix(line, " 0") {
		t.Fatalf("shed metric %q", line)
	}
}

// Seeded bug unbounded-concurrency: all calls go ahead at once.
func TestBugUnboundedConcurrency(t *testing.T) {
	codes, _, inv := burst(t, platform.BugUnboundedConcurrency, 12)
	if inv.peak.Load() <= 3 {
		t.Fatalf("codes %v, inventory peak concurrency %d; want above the limit", codes, inv.peak.Load())
	}
}

// Seeded bug no-deadline: a slow inventory holds the request as long as it takes.
func TestBugNoDeadlineWaitsForTheDownstream(t *testing.T) {
	inv := &fakeInventory{}
	inv.delay.Store(int64(400 * time.Millisecond))
	g := newTestGateway(t, map[string]string{"CHAOS_BUGS": platform.BugNoDeadline, "DOWNSTREAM_TIMEOUT": "50ms"}, inv, nil)
	start := time.Now()
	if a := g.get(t, "/products/1"); a.code != http.StatusOK || time.Since(start) < 350*time.Millisecond {
		t.Fatalf("%d after %v; want 200 after the full 400ms", a.code, time.Since(start))
	}
}

// watchdogGrowth serves quick requests and returns how much the goroutine count grew
// once the watchdog's threshold has passed.
func watchdogGrowth(t *testing.T, bugs string) int {
	g := newTestGateway(t, map[string]string{"CHAOS_BUGS": bugs, "SLOW_REQUEST": "20ms"}, &fakeInventory{}, nil)
	g.get(t, "/products/1")
	time.Sleep(50 * time.Millisecond)
	before := settledGoroutines()
	readN(t, g, 20)
	time.Sleep(50 * time.Millisecond)
	return settledGoroutines() - before
}

func TestWatchdogEndsWithTheRequest(t *testing.T) {
	if grew := watchdogGrowth(t, ""); grew > 3 {
		t.Fatalf("goroutines grew by %d", grew)
	}
}

// Seeded bug ctx-ignored-in-middleware: every watchdog waits forever.
func TestBugCtxIgnoredInMiddlewareLeaks(t *testing.T) {
	if grew := watchdogGrowth(t, platform.BugCtxIgnoredInMiddleware); grew < 20 {
		t.Fatalf("goroutines grew by %d; want one leaked watchdog per request", grew)
	}
}

// wellFormed reports whether a product reply is one JSON object that agrees with its status.
func wellFormed(a answer) bool {
	dec := json.NewDecoder(strings.NewReader(a.body))
	var v map[string]any
	if dec.Decode(&v) != nil || dec.Decode(&v) != io.EOF {
		return false // not JSON, or two documents written into one reply
	}
	_, isError := v["error"]
	return (a.code == http.StatusOK) != isError
}

// Seeded bug response-from-goroutine: with the answer arriving right at the deadline the
// worker's reply races the handler's 504. Run in a child: the race detector reports it,
// or replies come out malformed (two writers), or the process dies.
func TestBugResponseFromGoroutine(t *testing.T) {
	if inChild() {
		inv := &fakeInventory{}
		inv.delay.Store(int64(20 * time.Millisecond))
		g := newTestGateway(t, map[string]string{"CHAOS_BUGS": platform.BugResponseFromGoroutine,
			"DOWNSTREAM_TIMEOUT": "20ms", "BULKHEAD_SIZE": "100"}, inv, nil)
		var bad atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 50 {
					if a := g.get(t, "/products/1"); !wellFormed(a) {
						bad.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if bad.Load() > 0 {
			fmt.Printf("MALFORMED REPLIES: %d\n", bad.Load())
		}
		return
	}
	out, _ := runChild(t, t.Name())
	for _, sign := range []string{"WARNING: DATA RACE", "MALFORMED REPLIES", "superfluous", "fatal error", "panic:"} {
		if strings.Contains(out, sign) {
			t.Logf("the bug showed: %s", sign)
			return
		}
	}
	t.Fatalf("no sign of the second writer; output:\n%s", out)
}

func TestRepliesWellFormedAtTheDeadline(t *testing.T) {
	inv := &fakeInventory{}
	inv.delay.Store(int64(20 * time.Millisecond))
	g := newTestGateway(t, map[string]string{"DOWNSTREAM_TIMEOUT": "20ms", "BULKHEAD_SIZE": "100"}, inv, nil)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if a := g.get(t, "/products/1"); !wellFormed(a) {
					t.Errorf("malformed reply %d %q", a.code, a.body)
				}
			}
		}()
	}
	wg.Wait()
}

func TestRequestIDGoesDownstream(t *testing.T) {
	seen := make(chan string, 1)
	inv := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get(platform.HeaderRequestID)
		io.WriteString(w, `{"id":1,"stock":5}`)
	})
	g := newTestGateway(t, nil, inv, nil)
	a := g.do(t, http.MethodGet, "/products/1", map[string]string{platform.HeaderRequestID: "trace-me"}, nil)
	if a.code != 200 || a.header.Get(platform.HeaderRequestID) != "trace-me" {
		t.Fatalf("%d, echoed %q", a.code, a.header.Get(platform.HeaderRequestID))
	}
	if got := <-seen; got != "trace-me" {
		t.Fatalf("inventory saw request ID %q", got)
	}
}

func TestBackoffIsBoundedAndJittered(t *testing.T) {
	ctx := context.Background()
	distinct := map[time.Duration]bool{}
	for range 20 {
		start := time.Now()
		if err := sleepBackoff(ctx, 3, time.Millisecond); err != nil { // ceiling 4ms
			t.Fatal(err)
		}
		took := time.Since(start)
		if took > 50*time.Millisecond {
			t.Fatalf("slept %v, ceiling is 4ms", took)
		}
		distinct[took.Round(500*time.Microsecond)] = true
	}
	if len(distinct) < 2 {
		t.Fatal("no jitter: every backoff took the same time")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := sleepBackoff(cancelled, 10, time.Second); err == nil {
		t.Fatal("a spent budget must end the backoff at once")
	}
}
