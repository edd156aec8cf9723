// Tests of http_error over real keep-alive connections through Toxiproxy,
// including the determinism of rate + seed.

package httptoxics_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"chaosharness/toxiproxy/httptoxics"
)

const injectedErrorBody = `{"error":"injected by chaos-harness http_error"}`

// affectedIndices sends n requests on one connection, alternating
// Content-Length and chunked replies, checks every reply is either the
// original or the injected error, and returns the indices of the injected ones.
func affectedIndices(t *testing.T, c *client, n int) []int {
	t.Helper()
	var affected []int
	for i := range n {
		path := fmt.Sprintf("/json?n=%d", i)
		if i%2 == 1 {
			path = fmt.Sprintf("/chunked?n=%d", i)
		}
		rep := c.do("GET", path)
		switch {
		case rep.status == http.StatusServiceUnavailable && rep.body == injectedErrorBody && rep.injected() == "http_error":
			affected = append(affected, i)
		case rep.status == http.StatusOK && rep.body == jsonBody(fmt.Sprint(i)) && rep.injected() == "":
		default:
			t.Fatalf("request %d: unexpected reply %d %q (injected %q)", i, rep.status, rep.body, rep.injected())
		}
	}
	return affected
}

func expectedIndices(rate float64, seed int64, n int) []int {
	var want []int
	for i := range n {
		if (httptoxics.Sampling{Rate: rate, Seed: seed}).Affects(uint64(i)) {
			want = append(want, i)
		}
	}
	return want
}

func TestHTTPErrorRateAndSeedOnKeepAlive(t *testing.T) {
	proxy := startProxy(t, upstream(t))
	addToxic(t, proxy, "http_error", `{"rate":0.5,"seed":42,"status":503}`)

	const n = 200
	got := affectedIndices(t, dial(t, proxy), n)
	if want := expectedIndices(0.5, 42, n); !slices.Equal(got, want) {
		t.Fatalf("affected %v, want %v", got, want)
	}
	if len(got) < 70 || len(got) > 130 {
		t.Fatalf("rate 0.5 affected %d of %d responses", len(got), n)
	}

	// Same seed on a fresh toxic and a fresh connection: same pattern.
	if err := proxy.Toxics.RemoveToxic(context.Background(), "t"); err != nil {
		t.Fatal(err)
	}
	addToxic(t, proxy, "http_error", `{"rate":0.5,"seed":42,"status":503}`)
	if again := affectedIndices(t, dial(t, proxy), n); !slices.Equal(again, got) {
		t.Fatalf("same seed gave %v, then %v", got, again)
	}

	// Another seed: another pattern.
	if err := proxy.Toxics.RemoveToxic(context.Background(), "t"); err != nil {
		t.Fatal(err)
	}
	addToxic(t, proxy, "http_error", `{"rate":0.5,"seed":7,"status":503}`)
	if other := affectedIndices(t, dial(t, proxy), n); slices.Equal(other, got) {
		t.Fatal("seeds 42 and 7 gave the same pattern")
	}
}

func TestHTTPErrorCountsAcrossConnections(t *testing.T) {
	proxy := startProxy(t, upstream(t))
	addToxic(t, proxy, "http_error", `{"rate":0.3,"seed":1}`)

	// Two connections used in turn: indices run on across them.
	a, b := dial(t, proxy), dial(t, proxy)
	var got []int
	for i := range 40 {
		c := a
		if i%2 == 1 {
			c = b
		}
		if rep := c.do("GET", "/json?n=1"); rep.status == http.StatusServiceUnavailable {
			got = append(got, i)
		}
	}
	if want := expectedIndices(0.3, 1, 40); !slices.Equal(got, want) {
		t.Fatalf("affected %v, want %v", got, want)
	}
}

func TestHTTPErrorStatusAndBodilessReplies(t *testing.T) {
	proxy := startProxy(t, upstream(t))
	addToxic(t, proxy, "http_error", `{"status":429}`) // rate defaults to 1
	c := dial(t, proxy)
	for _, path := range []string{"/empty", "/json?n=1", "/chunked?n=2", "/empty"} {
		rep := c.do("GET", path)
		if rep.status != http.StatusTooManyRequests || rep.body != injectedErrorBody {
			t.Fatalf("%s: got %d %q", path, rep.status, rep.body)
		}
		if ct := rep.header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s: Content-Type %q", path, ct)
		}
	}
}

// Concurrent connections claim indices 0..n-1 in some order, so which request
// is hit varies, but how many are hit does not.
func TestHTTPErrorConcurrentConnectionsHitExactCount(t *testing.T) {
	proxy := startProxy(t, upstream(t))
	addToxic(t, proxy, "http_error", `{"rate":0.5,"seed":99}`)
	const conns, each = 8, 25
	hits := make(chan int, conns)
	for range conns {
		c := dial(t, proxy)
		go func() {
			n := 0
			for range each {
				rep, err := c.try("GET", "/chunked?n=1")
				if err != nil {
					n = -1000 // reported below; t.Fatal is not for other goroutines
					break
				}
				if rep.status == http.StatusServiceUnavailable {
					n++
				}
			}
			hits <- n
		}()
	}
	total := 0
	for range conns {
		total += <-hits
	}
	if want := len(expectedIndices(0.5, 99, conns*each)); total != want {
		t.Fatalf("%d responses hit, want %d", total, want)
	}
}
