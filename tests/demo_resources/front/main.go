// Command front is the demo's caller: it reads items from back and reserves
// stock there, each request within BUDGET (default 1s). A failed item read is
// retried at most three times in all, with exponential backoff, while the
// budget lasts.
//
// Its mutations, each the mistake one invariant is there to catch:
//
//	retry-storm  a failed read is retried at once, again and again until the
//	             budget is spent: tens of attempts per request
//	leak-conn    every read builds its own HTTP client and transport and never
//	             closes it: each leaves a pooled connection open (a descriptor
//	             and two goroutines) for good
//	leak-heap    every read keeps 256 KiB in a global list, for good
//	linger       after answering a read, the handler tells back about it with
//	             no deadline, so a slow back keeps the request running long
//	             after its client was answered
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"time"

	"chaosharness/demo/internal/chassis"
)

var (
	backURL = env("BACK_URL", "http://back:8080")
	budget  = duration("BUDGET", time.Second)
	client  = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second}}

	keptMu sync.Mutex
	kept   [][]byte // leak-heap
)

const attempts = 3

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func duration(name string, def time.Duration) time.Duration {
	d, err := time.ParseDuration(os.Getenv(name))
	if err != nil {
		return def
	}
	return d
}

// call sends one request to back and reads its reply.
func call(ctx context.Context, c *http.Client, method, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, backURL+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// readItem reads an item from back, retrying failures while ctx lasts.
func readItem(ctx context.Context, id string) (int, []byte, error) {
	c := client
	if chassis.Mutation("leak-conn") {
		c = &http.Client{Transport: &http.Transport{}} // never closed: its connection stays
	}
	var (
		status int
		body   []byte
		err    error
	)
	for attempt := 0; ; attempt++ {
		status, body, err = call(ctx, c, http.MethodGet, "/items/"+id)
		if err == nil && status < 500 {
			return status, body, nil
		}
		if ctx.Err() != nil {
			return status, body, ctx.Err()
		}
		if chassis.Mutation("retry-storm") {
			continue // at once, until the budget is spent
		}
		if attempt+1 >= attempts {
			return status, body, err
		}
		// Full jitter over 50ms, 100ms: two retries fit well inside the budget.
		backoff := time.Duration(rand.Int64N(int64(50*time.Millisecond) << attempt))
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return status, body, ctx.Err()
		}
	}
}

func getItem(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), budget)
	defer cancel()
	if chassis.Mutation("leak-heap") {
		keptMu.Lock()
		kept = append(kept, make([]byte, 256<<10))
		keptMu.Unlock()
	}
	status, body, err := readItem(ctx, r.PathValue("id"))
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		chassis.JSON(w, http.StatusGatewayTimeout, map[string]string{"error": "back too slow"})
	case err != nil:
		chassis.JSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
	case status >= 500:
		chassis.JSON(w, http.StatusBadGateway, map[string]string{"error": fmt.Sprintf("back answered %d", status)})
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	}
	if chassis.Mutation("linger") {
		w.(http.Flusher).Flush() // the client has its whole answer
		call(context.Background(), client, http.MethodPost, "/audit")
	}
}

func reserve(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), budget)
	defer cancel()
	// Not retried: a reservation is not idempotent.
	status, body, err := call(ctx, client, http.MethodPost, "/reserve")
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		chassis.JSON(w, http.StatusGatewayTimeout, map[string]string{"error": "back too slow"})
	case err != nil:
		chassis.JSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	}
}

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", getItem)
	mux.HandleFunc("POST /reserve", reserve)
	chassis.Serve(mux)
}
