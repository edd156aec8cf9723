// Test helpers: a gateway wired to fake downstreams and served over real HTTP (so request
// contexts end the way they do in production).
package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"chaosharness/compose/internal/platform"
)

type testGateway struct {
	*gateway
	url string
}

// newTestGateway returns a gateway whose inventory and payment are the given handlers
// (nil: a handler answering 500).
func newTestGateway(t *testing.T, vars map[string]string, inventory, payment http.Handler) *testGateway {
	t.Helper()
	failing := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	for _, h := range []*http.Handler{&inventory, &payment} {
		if *h == nil {
			*h = failing
		}
	}
	inv, pay := httptest.NewServer(inventory), httptest.NewServer(payment)
	t.Cleanup(inv.Close)
	t.Cleanup(pay.Close)
	all := map[string]string{
		"INVENTORY_URL": inv.URL, "PAYMENT_URL": pay.URL,
		"LOG_LEVEL": "error", "BREAKER_FAILURES": "1000", // quiet; no breaker unless asked
		"RETRY_BACKOFF": "1ms",
	}
	for k, v := range vars {
		all[k] = v
	}
	env := platform.MapEnv(all)
	svc, err := platform.New("gateway", env)
	if err != nil {
		t.Fatal(err)
	}
	g, err := newGateway(svc, loadConfig(env))
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	g.routes(svc.Router)
	srv := httptest.NewServer(svc.Router)
	t.Cleanup(srv.Close)
	return &testGateway{gateway: g, url: srv.URL}
}

type answer struct {
	code   int
	header http.Header
	body   string
}

func (tg *testGateway) do(t *testing.T, method, path string, header map[string]string, body any) answer {
	t.Helper()
	var payload io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		payload = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, tg.url+path, payload)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return answer{code: 0, body: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{code: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (tg *testGateway) get(t *testing.T, path string) answer {
	return tg.do(t, http.MethodGet, path, nil, nil)
}

// settledGoroutines waits for the goroutine count to stop falling and returns it.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 20 {
		time.Sleep(25 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n {
			return m
		}
		n = m
	}
	return n
}

// jsonHandler answers every request with status and body.
func jsonHandler(status int, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
}

// slowInventory answers {"id":1,"stock":5} after delay, or gives up with its caller.
func slowInventory(delay time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(delay):
			io.WriteString(w, `{"id":1,"stock":5}`)
		case <-r.Context().Done():
		}
	})
}
