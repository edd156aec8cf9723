// The http_error toxic: affected responses are replaced by a small JSON error
// response with the configured status, on the same keep-alive connection.

package httptoxics

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/Shopify/toxiproxy/v2/toxics"
)

// errorBody is what every injected error response carries.
const errorBody = `{"error":"injected by chaos-harness http_error"}`

// HTTPErrorToxic replaces affected responses with Status and errorBody.
// Attributes: rate (0..1, default 1), seed (default 0), status (400..599,
// default 503).
type HTTPErrorToxic struct{ attrs settings[errorAttrs] }

type errorAttrs struct {
	Sampling
	Status int `json:"status"`
}

var defaultErrorAttrs = errorAttrs{Sampling: defaultSampling, Status: http.StatusServiceUnavailable}

func (a errorAttrs) validate() error {
	if err := a.Sampling.validate(); err != nil {
		return err
	}
	if a.Status < 400 || a.Status > 599 {
		return fmt.Errorf("status must be between 400 and 599, got %d", a.Status)
	}
	return nil
}

func (t *HTTPErrorToxic) UnmarshalJSON(b []byte) error {
	return t.attrs.set(b, defaultErrorAttrs, errorAttrs.validate)
}

func (t *HTTPErrorToxic) MarshalJSON() ([]byte, error) {
	return json.Marshal(t.attrs.load(defaultErrorAttrs))
}

func (t *HTTPErrorToxic) NewState() interface{} { return new(conn) }

func (t *HTTPErrorToxic) Cleanup(stub *toxics.ToxicStub) { cleanup(stub) }

func (t *HTTPErrorToxic) Pipe(stub *toxics.ToxicStub) {
	a := t.attrs.load(defaultErrorAttrs)
	pipe(stub, effect{
		affects: func() bool { return a.Affects(t.attrs.next()) },
		marker:  "http_error",
		rewrite: func(r *response) ([]byte, bool) { return errorResponse(r, a.Status), false },
	})
}

// errorResponse builds the replacement for r. The original response was read
// in full, so the connection stays usable; it is closed afterwards only if
// the server meant to close it anyway.
func errorResponse(r *response, status int) []byte {
	reason := http.StatusText(status)
	if reason == "" {
		reason = "Injected Error"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d %s\r\n", r.msg.Proto, status, reason)
	b.WriteString("Content-Type: application/json\r\n")
	b.WriteString("Content-Length: " + strconv.Itoa(len(errorBody)) + "\r\n")
	b.WriteString(injectedHeader + ": http_error\r\n")
	b.WriteString(connectionHeader(r.msg))
	b.WriteString("\r\n")
	b.WriteString(errorBody)
	return []byte(b.String())
}

// connectionHeader keeps the original response's persistence: net/http strips
// the "close" token while parsing, so it is rebuilt from msg.Close.
func connectionHeader(msg *http.Response) string {
	switch {
	case msg.Close:
		return "Connection: close\r\n"
	case msg.ProtoMajor == 1 && msg.ProtoMinor == 0:
		return "Connection: keep-alive\r\n"
	}
	return ""
}
