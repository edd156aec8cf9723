// Tests of http_malformed: each mode on Content-Length and chunked replies,
// and that the connection stays usable where the mode says it does.

package httptoxics_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"
)

func TestHTTPMalformedTruncate(t *testing.T) {
	proxy := startProxy(t, upstream(t))
	addToxic(t, proxy, "http_malformed", `{"mode":"truncate"}`)
	full := jsonBody("7")
	for _, path := range []string{"/json?n=7", "/chunked?n=7"} {
		c := dial(t, proxy)
		rep := c.do("GET", path)
		if rep.status != http.StatusOK || rep.header.Get("Content-Length") != strconv.Itoa(len(full)) {
			t.Fatalf("%s: %d, Content-Length %q", path, rep.status, rep.header.Get("Content-Length"))
		}
		if !errors.Is(rep.bodyErr, io.ErrUnexpectedEOF) || rep.body != full[:len(full)/2] {
			t.Fatalf("%s: body %q, error %v", path, rep.body, rep.bodyErr)
		}
		if _, err := c.try("GET", path); err == nil {
			t.Fatalf("%s: connection still open after truncation", path)
		}
	}
}

func TestHTTPMalformedGarbage(t *testing.T) {
	proxy := startProxy(t, upstream(t))
	addToxic(t, proxy, "http_malformed", `{"mode":"garbage"}`)
	c := dial(t, proxy)
	for _, path := range []string{"/json?n=1", "/chunked?n=2", "/json?n=3"} {
		rep := c.do("GET", path)
		if rep.status != http.StatusOK || rep.bodyErr != nil {
			t.Fatalf("%s: %d %v", path, rep.status, rep.bodyErr)
		}
		if json.Valid([]byte(rep.body)) || len(rep.body) != len(jsonBody("1")) {
			t.Fatalf("%s: body %q is JSON or has the wrong length", path, rep.body)
		}
		if rep.injected() != "http_malformed; mode=garbage" {
			t.Fatalf("%s: marker %q", path, rep.injected())
		}
	}
	// 204 cannot carry a body: it passes unchanged and the connection goes on.
	if rep := c.do("GET", "/empty"); rep.status != http.StatusNoContent || rep.body != "" {
		t.Fatalf("/empty: %d %q", rep.status, rep.body)
	}
	if rep := c.do("GET", "/json?n=4"); rep.status != http.StatusOK {
		t.Fatalf("after 204: %d", rep.status)
	}
}

func TestHTTPMalformedWrongType(t *testing.T) {
	proxy := startProxy(t, upstream(t))
	addToxic(t, proxy, "http_malformed", `{"mode":"wrong_type"}`)
	c := dial(t, proxy)
	want := `{"id":null,"stock":"5","ok":"true","n":"9"}`
	for _, path := range []string{"/json?n=9", "/chunked?n=9", "/json?n=9"} {
		rep := c.do("GET", path)
		if rep.status != http.StatusOK || rep.body != want {
			t.Fatalf("%s: %d %q, want %q", path, rep.status, rep.body, want)
		}
	}
}
