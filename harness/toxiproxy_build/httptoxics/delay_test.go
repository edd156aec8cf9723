// Tests of http_delay: affected responses are late by the delay, the others
// are not, on one keep-alive connection; HEAD and 204 replies keep the
// response count in step.

package httptoxics_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"chaosharness/toxiproxy/httptoxics"
)

func TestHTTPDelayAffectsOnlySampledResponses(t *testing.T) {
	proxy := startProxy(t, upstream(t))
	const delay = 150 * time.Millisecond
	addToxic(t, proxy, "http_delay", `{"rate":0.4,"seed":3,"delay":150}`)

	c := dial(t, proxy)
	delayed := 0
	for i := range 20 {
		path := fmt.Sprintf("/json?n=%d", i)
		if i%2 == 1 {
			path = fmt.Sprintf("/chunked?n=%d", i)
		}
		rep := c.do("GET", path)
		if rep.status != http.StatusOK || rep.body != jsonBody(fmt.Sprint(i)) {
			t.Fatalf("request %d: %d %q", i, rep.status, rep.body)
		}
		want := (httptoxics.Sampling{Rate: 0.4, Seed: 3}).Affects(uint64(i))
		if got := rep.injected() == "http_delay"; got != want {
			t.Fatalf("request %d: marked %v, want %v", i, got, want)
		}
		if want {
			delayed++
			if rep.elapsed < delay {
				t.Fatalf("request %d: affected but took %v", i, rep.elapsed)
			}
		} else if rep.elapsed >= delay {
			t.Fatalf("request %d: not affected but took %v", i, rep.elapsed)
		}
	}
	if delayed == 0 || delayed == 20 {
		t.Fatalf("rate 0.4 delayed %d of 20", delayed)
	}
}

// With delay 0 and rate 1 every response is only marked, which shows the
// toxic followed each one: a lost step would leave later ones unmarked.
func TestHTTPDelayFollowsHeadAndBodilessReplies(t *testing.T) {
	proxy := startProxy(t, upstream(t))
	addToxic(t, proxy, "http_delay", `{"delay":0}`)
	c := dial(t, proxy)
	for i, step := range []struct{ method, path string }{
		{"GET", "/json?n=1"}, {"HEAD", "/json?n=2"}, {"GET", "/json?n=3"},
		{"GET", "/empty"}, {"HEAD", "/chunked?n=4"}, {"GET", "/chunked?n=5"},
		{"HEAD", "/json?n=6"}, {"GET", "/json?n=7"},
	} {
		rep := c.do(step.method, step.path)
		if rep.injected() != "http_delay" {
			t.Fatalf("step %d %s %s: not followed (status %d)", i, step.method, step.path, rep.status)
		}
	}
}
