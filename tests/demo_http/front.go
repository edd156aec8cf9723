// front: two routes, each calling one downstream under a deadline and a circuit breaker of
// its own; a cached, degraded answer for /item when back cannot be reached; 502/503/504
// for every other downstream failure; and a health endpoint that reports requests stuck
// in front itself.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

var (
	errOpen   = errors.New("circuit breaker open")
	errBroken = errors.New("connection marked broken earlier") // sticky-failure's latch
)

type statusError struct{ status int }

func (e *statusError) Error() string { return fmt.Sprintf("answered %d", e.status) }

type frontConfig struct {
	backURL, sideURL string
	callTimeout      time.Duration
	breakerOpen      time.Duration
	failures         int
}

// breaker opens after `failures` consecutive failures, refuses calls while open, and lets
// calls through again after `open` (one success closes it, one failure reopens it).
type breaker struct {
	mu       sync.Mutex
	failures int
	limit    int
	openedAt time.Time
	open     time.Duration
}

func (b *breaker) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failures < b.limit || time.Since(b.openedAt) >= b.open
}

func (b *breaker) record(ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok {
		b.failures = 0
		return
	}
	b.failures++
	if b.failures >= b.limit {
		b.openedAt = time.Now()
	}
}

type downstream struct {
	name    string
	url     string
	breaker *breaker
	broken  atomic.Bool // sticky-failure: set once, never cleared
}

type front struct {
	on       mutations
	cfg      frontConfig
	client   *http.Client
	back     *downstream
	side     *downstream
	mu       sync.Mutex
	cached   []byte              // back's last good /item answer
	inFlight map[int64]time.Time // request -> when it started
	next     int64
}

func newFront(on mutations, cfg frontConfig) *front {
	f := &front{on: on, cfg: cfg, client: &http.Client{}, inFlight: map[int64]time.Time{}}
	backBreaker := &breaker{limit: cfg.failures, open: cfg.breakerOpen}
	sideBreaker := &breaker{limit: cfg.failures, open: cfg.breakerOpen}
	if on["shared-breaker"] {
		sideBreaker = backBreaker // the mistake: one breaker for two downstreams
	}
	f.back = &downstream{name: "back", url: cfg.backURL, breaker: backBreaker}
	f.side = &downstream{name: "side", url: cfg.sideURL, breaker: sideBreaker}
	return f
}

func (f *front) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", f.healthz)
	mux.HandleFunc("GET /item", f.tracked(f.item))
	mux.HandleFunc("GET /note", f.tracked(f.note))
}

// tracked records when each request started, for the health endpoint.
func (f *front) tracked(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.next++
		id := f.next
		f.inFlight[id] = time.Now()
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			delete(f.inFlight, id)
			f.mu.Unlock()
		}()
		h(w, r)
	}
}

// healthz: unhealthy while a request has been in front for longer than any call may take
// (twice the call timeout): front itself is stuck then, whatever its downstreams do.
func (f *front) healthz(w http.ResponseWriter, r *http.Request) {
	if f.on["health-lies"] {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
		return
	}
	f.mu.Lock()
	var oldest time.Duration
	for _, started := range f.inFlight {
		oldest = max(oldest, time.Since(started))
	}
	f.mu.Unlock()
	if oldest > 2*f.cfg.callTimeout {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{
			"status": "stuck", "oldest_request_s": oldest.Seconds()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
}

func (f *front) item(w http.ResponseWriter, r *http.Request) {
	body, err := f.call(r.Context(), f.back, "/item")
	if err == nil {
		f.mu.Lock()
		f.cached = body
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"item": json.RawMessage(body), "via": "front"})
		return
	}
	if !f.mutated() && unreachable(err) {
		f.mu.Lock()
		cached := f.cached
		f.mu.Unlock()
		if cached != nil {
			writeJSON(w, http.StatusOK, map[string]any{
				"item": json.RawMessage(cached), "via": "front", "degraded": true})
			return
		}
	}
	f.fail(w, err)
}

func (f *front) note(w http.ResponseWriter, r *http.Request) {
	body, err := f.call(r.Context(), f.side, "/note")
	if err != nil {
		f.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"note": json.RawMessage(body), "via": "front"})
}

// mutated: an error-mapping mutation replaces the whole failure path, fallback included.
func (f *front) mutated() bool { return f.on["status-500"] || f.on["error-in-200"] }

// fail tells the client what happened downstream: 503 for a refused call, 504 for one
// out of time, 502 for anything else.
func (f *front) fail(w http.ResponseWriter, err error) {
	switch {
	case f.on["status-500"]:
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
	case f.on["error-in-200"]:
		writeJSON(w, http.StatusOK, map[string]any{"error": err.Error()})
	case errors.Is(err, errOpen):
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": err.Error()})
	case errors.Is(err, context.DeadlineExceeded):
		writeJSON(w, http.StatusGatewayTimeout, map[string]any{"error": err.Error()})
	default:
		writeJSON(w, http.StatusBadGateway, map[string]any{"error": err.Error()})
	}
}

// unreachable: the downstream cannot be reached at all (refused, reset, breaker open),
// as opposed to slow or answering an error.
func unreachable(err error) bool {
	var se *statusError
	return !errors.As(err, &se) && !errors.Is(err, context.DeadlineExceeded)
}

// call GETs path from d under a deadline and d's breaker; the body of a 2xx, or why not.
func (f *front) call(parent context.Context, d *downstream, path string) ([]byte, error) {
	if d.broken.Load() {
		return nil, fmt.Errorf("%s: %w", d.name, errBroken)
	}
	if !d.breaker.allow() {
		return nil, fmt.Errorf("%s: %w", d.name, errOpen)
	}
	ctx, cancel := context.WithTimeout(parent, f.cfg.callTimeout)
	defer cancel()
	if f.on["no-timeout"] {
		ctx = context.Background() // the mistake: no deadline, and the caller's end ignored
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		d.breaker.record(false)
		if f.on["sticky-failure"] {
			d.broken.Store(true) // the mistake: never cleared, not even when d is back
		}
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err == nil && resp.StatusCode/100 != 2 {
		err = &statusError{resp.StatusCode}
	}
	if err == nil && !json.Valid(body) {
		err = fmt.Errorf("unreadable reply %q", body)
	}
	d.breaker.record(err == nil || resp.StatusCode < 500 && resp.StatusCode/100 == 4)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.name, err)
	}
	return body, nil
}

func writeJSON(w http.ResponseWriter, status int, value any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(value)
}
