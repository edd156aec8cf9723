// Tests of toxics changed while responses are in flight: removing, updating
// or adding a toxic after ours must neither lose nor duplicate bytes.

package httptoxics_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// inFlight sends one request and returns a channel with its reply.
func inFlight(c *client, path string) <-chan reply {
	ch := make(chan reply, 1)
	go func() {
		rep, err := c.try("GET", path)
		if err != nil {
			rep.status, rep.body = -1, err.Error()
		}
		ch <- rep
	}()
	return ch
}

func TestRemoveDelayWhileHeld(t *testing.T) {
	proxy := startProxy(t, upstream(t))
	addToxic(t, proxy, "http_delay", `{"delay":5000}`)
	c := dial(t, proxy)
	replies := inFlight(c, "/json?n=1")
	time.Sleep(200 * time.Millisecond)
	if err := proxy.Toxics.RemoveToxic(context.Background(), "t"); err != nil {
		t.Fatal(err)
	}
	rep := <-replies
	if rep.status != http.StatusOK || rep.body != jsonBody("1") || rep.elapsed > 2*time.Second {
		t.Fatalf("held reply after removal: %d %q after %v", rep.status, rep.body, rep.elapsed)
	}
	if rep := c.do("GET", "/chunked?n=2"); rep.body != jsonBody("2") || rep.elapsed > time.Second {
		t.Fatalf("next reply: %q after %v", rep.body, rep.elapsed)
	}
}

func TestRemoveErrorWhileCollecting(t *testing.T) {
	proxy := startProxy(t, upstream(t))
	addToxic(t, proxy, "http_error", `{}`)
	c := dial(t, proxy)
	replies := inFlight(c, "/slow?n=1") // the body's second half comes after 400ms
	time.Sleep(150 * time.Millisecond)
	if err := proxy.Toxics.RemoveToxic(context.Background(), "t"); err != nil {
		t.Fatal(err)
	}
	// The toxic had collected part of the original; it goes on unchanged.
	if rep := <-replies; rep.status != http.StatusOK || rep.body != jsonBody("1") {
		t.Fatalf("reply after removal: %d %q", rep.status, rep.body)
	}
	if rep := c.do("GET", "/json?n=2"); rep.status != http.StatusOK || rep.body != jsonBody("2") {
		t.Fatalf("next reply: %d %q", rep.status, rep.body)
	}
}

func TestAddingAnotherToxicDoesNotDisturbOurs(t *testing.T) {
	proxy := startProxy(t, upstream(t))
	addToxic(t, proxy, "http_error", `{}`)
	c := dial(t, proxy)
	replies := inFlight(c, "/slow?n=1")
	time.Sleep(150 * time.Millisecond)
	// Adding a toxic after ours interrupts and re-runs ours mid-response.
	if _, err := proxy.Toxics.AddToxicJson(strings.NewReader(
		`{"name":"lat","type":"latency","stream":"downstream","attributes":{"latency":1}}`)); err != nil {
		t.Fatal(err)
	}
	if rep := <-replies; rep.status != http.StatusServiceUnavailable || rep.body != injectedErrorBody {
		t.Fatalf("reply: %d %q", rep.status, rep.body)
	}
	if rep := c.do("GET", "/json?n=2"); rep.status != http.StatusServiceUnavailable {
		t.Fatalf("next reply: %d %q", rep.status, rep.body)
	}
}

func TestUpdateKeepsUnnamedAttributesAndRestartsCount(t *testing.T) {
	proxy := startProxy(t, upstream(t))
	addToxic(t, proxy, "http_error", `{"rate":0.5,"seed":42,"status":502}`)
	c := dial(t, proxy)
	first := affectedIndices502(t, c, 30)

	if _, err := proxy.Toxics.UpdateToxicJson("t", strings.NewReader(`{"attributes":{"seed":42},"toxicity":1}`)); err != nil {
		t.Fatal(err)
	}
	wrapper := proxy.Toxics.GetToxic("t")
	attrs, _ := json.Marshal(wrapper.Toxic)
	if string(attrs) != `{"rate":0.5,"seed":42,"status":502}` {
		t.Fatalf("attributes after a partial update: %s", attrs)
	}
	if again := affectedIndices502(t, c, 30); !slices.Equal(first, again) {
		t.Fatalf("after update the pattern did not restart: %v then %v", first, again)
	}
}

func affectedIndices502(t *testing.T, c *client, n int) []int {
	t.Helper()
	var got []int
	for i := range n {
		if rep := c.do("GET", "/json?n=0"); rep.status == http.StatusBadGateway {
			got = append(got, i)
		}
	}
	return got
}
