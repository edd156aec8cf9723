// Test fixtures: an upstream HTTP server with the response shapes the toxics
// must follow, an in-process Toxiproxy proxy in front of it, and a client
// that drives one keep-alive connection by hand.

package httptoxics_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"chaosharness/toxiproxy/httptoxics"
)

func init() { httptoxics.Register() }

// jsonBody is what /json?n=N answers; chunked answers the same, in pieces.
func jsonBody(n string) string { return `{"id":"x","stock":5,"ok":true,"n":` + n + `}` }

// upstream serves:
//
//	/json     JSON with Content-Length
//	/chunked  the same JSON, chunked (flushed in three writes)
//	/empty    204 No Content
//	/slow     JSON whose second half comes 400ms after the first
func upstream(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, jsonBody(r.URL.Query().Get("n")))
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		body := jsonBody(r.URL.Query().Get("n"))
		for _, part := range []string{body[:5], body[5:12], body[12:]} {
			io.WriteString(w, part)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		body := jsonBody(r.URL.Query().Get("n"))
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		io.WriteString(w, body[:10])
		w.(http.Flusher).Flush()
		time.Sleep(400 * time.Millisecond)
		io.WriteString(w, body[10:])
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// startProxy runs a Toxiproxy proxy on 127.0.0.1 in front of srv.
func startProxy(t *testing.T, srv *httptest.Server) *toxiproxy.Proxy {
	t.Helper()
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	proxy := toxiproxy.NewProxy(server, "under-test", "127.0.0.1:0", srv.Listener.Addr().String())
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Stop)
	return proxy
}

// addToxic adds a downstream toxic through the same JSON the API accepts.
func addToxic(t *testing.T, proxy *toxiproxy.Proxy, typ, attributes string) {
	t.Helper()
	body := fmt.Sprintf(`{"name":"t","type":%q,"stream":"downstream","attributes":%s}`, typ, attributes)
	if _, err := proxy.Toxics.AddToxicJson(strings.NewReader(body)); err != nil {
		t.Fatalf("adding %s: %v", body, err)
	}
}

// client is one keep-alive connection driven request by request.
type client struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func dial(t *testing.T, proxy *toxiproxy.Proxy) *client {
	t.Helper()
	conn, err := net.Dial("tcp", proxy.Listen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn, br: bufio.NewReader(conn)}
}

// reply is what a client saw for one request.
type reply struct {
	status  int
	header  http.Header
	body    string
	bodyErr error // error while reading the body (truncation)
	elapsed time.Duration
}

func (r reply) injected() string { return r.header.Get("X-Chaos-Injected") }

// do sends one request on the connection and reads its whole reply; a reply
// that cannot be read at all fails the test.
func (c *client) do(method, path string) reply {
	c.t.Helper()
	rep, err := c.try(method, path)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return rep
}

func (c *client) try(method, path string) (reply, error) {
	req, _ := http.NewRequest(method, "http://upstream"+path, nil)
	start := time.Now()
	c.conn.SetDeadline(start.Add(10 * time.Second)) // no test waits forever
	if err := req.Write(c.conn); err != nil {
		return reply{}, err
	}
	resp, err := http.ReadResponse(c.br, req)
	if err != nil {
		return reply{}, err
	}
	body, bodyErr := io.ReadAll(resp.Body)
	resp.Body.Close()
	return reply{resp.StatusCode, resp.Header, string(body), bodyErr, time.Since(start)}, nil
}
