// http_count through Toxiproxy's own API and a real keep-alive client: the
// count is there, request by request, while the connection stays open.

package httptoxics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// api is a Toxiproxy API server (the real routes) with one proxy, "link", in
// front of an upstream that reads every request body.
type api struct {
	t    *testing.T
	url  string
	link string // the proxy's listen address
}

func startAPI(t *testing.T) *api {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, `{"read":%d}`, len(body))
	}))
	t.Cleanup(up.Close)
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	srv := httptest.NewServer(server.Routes())
	t.Cleanup(srv.Close)
	t.Cleanup(func() { server.Collection.Clear() })
	a := &api{t: t, url: srv.URL}
	var created struct{ Listen string }
	a.call("POST", "/proxies", fmt.Sprintf(`{"name":"link","listen":"127.0.0.1:0","upstream":%q}`, up.Listener.Addr()), &created)
	a.link = created.Listen
	return a
}

func (a *api) call(method, path, body string, into any) {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.url+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		a.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, text)
	}
	if into != nil {
		if err := json.Unmarshal(text, into); err != nil {
			a.t.Fatalf("%s %s: %s: %v", method, path, text, err)
		}
	}
}

// counted is what GET /proxies/link/toxics shows as the counter's attributes.
func (a *api) counted() uint64 {
	a.t.Helper()
	var list []struct {
		Name       string
		Attributes struct{ Requests *uint64 }
	}
	a.call("GET", "/proxies/link/toxics", "", &list)
	for _, toxic := range list {
		if toxic.Name == "count" && toxic.Attributes.Requests != nil {
			return *toxic.Attributes.Requests
		}
	}
	a.t.Fatalf("no count in %+v", list)
	return 0
}

func TestCountedWhileTheConnectionStaysOpen(t *testing.T) {
	a := startAPI(t)
	a.call("POST", "/proxies/link/toxics", `{"name":"count","type":"http_count","stream":"upstream","attributes":{}}`, nil)
	opened := 0
	client := &http.Client{Transport: &http.Transport{
		MaxConnsPerHost: 1, // one kept-alive connection for every request
		DialContext:     countingDial(&opened),
	}}
	t.Cleanup(client.CloseIdleConnections)
	send := []func() (*http.Response, error){
		func() (*http.Response, error) { return client.Get("http://" + a.link + "/a") },
		func() (*http.Response, error) {
			return client.Post("http://"+a.link+"/b", "application/json", strings.NewReader(`{"item":1}`))
		},
		func() (*http.Response, error) { // no length known: net/http sends it chunked
			return client.Post("http://"+a.link+"/c", "text/plain", io.MultiReader(strings.NewReader("GET / HTTP/1.1\r\n\r\n"), bytes.NewReader(make([]byte, 70000))))
		},
		func() (*http.Response, error) { return client.Head("http://" + a.link + "/d") },
		func() (*http.Response, error) { return client.Get("http://" + a.link + "/e") },
	}
	for i, do := range send {
		resp, err := do()
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got := a.counted(); got != uint64(i+1) {
			t.Fatalf("after %d requests on one open connection the count is %d", i+1, got)
		}
	}
	if opened != 1 {
		t.Fatalf("the client opened %d connections; the test needs one kept alive", opened)
	}
}

func TestCounterSurvivesOtherToxicsAndALinkDown(t *testing.T) {
	a := startAPI(t)
	a.call("POST", "/proxies/link/toxics", `{"name":"count","type":"http_count","stream":"upstream","attributes":{}}`, nil)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	t.Cleanup(client.CloseIdleConnections)
	get := func() int {
		resp, err := client.Get("http://" + a.link + "/x")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	get()
	// Toxics added after it and removed again re-run it mid-connection.
	a.call("POST", "/proxies/link/toxics", `{"name":"err","type":"http_error","stream":"downstream","attributes":{"status":503}}`, nil)
	a.call("POST", "/proxies/link/toxics", `{"name":"lat","type":"latency","stream":"upstream","attributes":{"latency":1}}`, nil)
	if status := get(); status != http.StatusServiceUnavailable {
		t.Fatalf("status %d under http_error", status)
	}
	get()
	a.call("DELETE", "/proxies/link/toxics/lat", "", nil)
	a.call("DELETE", "/proxies/link/toxics/err", "", nil)
	get()
	if got := a.counted(); got != 4 {
		t.Fatalf("count %d after 4 requests with toxics coming and going", got)
	}
	// A link taken down and up keeps its toxics, the counter and its count too.
	a.call("POST", "/proxies/link", `{"enabled":false}`, nil)
	a.call("POST", "/proxies/link", `{"enabled":true}`, nil)
	client.CloseIdleConnections()
	get()
	if got := a.counted(); got != 5 {
		t.Fatalf("count %d after the link went down and up and one more request", got)
	}
}

func TestCounterRejectsAttributes(t *testing.T) {
	proxy := startProxy(t, upstream(t))
	_, err := proxy.Toxics.AddToxicJson(strings.NewReader(`{"name":"c","type":"http_count","stream":"upstream","attributes":{"requests":5}}`))
	if err == nil || !strings.Contains(err.Error(), "bad request body: attributes: http_count takes none") {
		t.Fatalf("got error %v", err)
	}
}

func countingDial(opened *int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		*opened++
		return d.DialContext(ctx, network, addr)
	}
}
