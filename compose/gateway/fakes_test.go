// Fake downstreams for the gateway tests: an inventory and a payment that count what
// reached them and can be made slow, failing or rude.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeInventory struct {
	delay    atomic.Int64 // nanoseconds before product reads answer
	status   atomic.Int64 // non-zero: answer every request with this status
	calls    atomic.Int64
	inFlight atomic.Int64
	peak     atomic.Int64 // highest inFlight seen
	seq      atomic.Int64
}

func (f *fakeInventory) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
	}
	if s := f.status.Load(); s != 0 {
		w.WriteHeader(int(s))
		return
	}
	if r.Method == http.MethodPost {
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"seq":%d}`, f.seq.Add(1))
		return
	}
	select {
	case <-time.After(time.Duration(f.delay.Load())):
		io.WriteString(w, `{"id":1,"stock":5}`)
	case <-r.Context().Done():
	}
}

// fakePayment dedupes by Idempotency-Key like the real one. With resetFirst set, it
// applies the first charge and then breaks the connection instead of answering.
type fakePayment struct {
	mu         sync.Mutex
	byKey      map[string]int
	charges    map[string]int // order_ref -> charges applied
	resetFirst bool
	status     int
}

func newFakePayment() *fakePayment {
	return &fakePayment{byKey: map[string]int{}, charges: map[string]int{}}
}

func (f *fakePayment) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		OrderRef string `json:"order_ref"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	if f.status != 0 {
		f.mu.Unlock()
		w.WriteHeader(f.status)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	id, seen := f.byKey[key]
	if key == "" || !seen {
		f.charges[body.OrderRef]++
		id = len(f.byKey) + 1
		if key != "" {
			f.byKey[key] = id
		}
	}
	reset := f.resetFirst
	f.resetFirst = false
	f.mu.Unlock()
	if reset {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close() // applied, but the caller never hears so
		return
	}
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"id":%d}`, id)
}

func (f *fakePayment) chargesFor(ref string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.charges[ref]
}

// inChild reports whether this test is running as the child of runChild.
func inChild() bool { return os.Getenv("GATEWAY_TEST_CHILD") == "1" }

// runChild runs test name alone in a child copy of the test binary and returns its
// output and error: for mistakes that crash the process or trip the race detector.
func runChild(t *testing.T, name string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.v")
	cmd.Env = append(os.Environ(), "GATEWAY_TEST_CHILD=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func metricLine(t *testing.T, g *testGateway, prefix string) string {
	t.Helper()
	for _, line := range strings.Split(g.get(t, "/metrics").body, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}
