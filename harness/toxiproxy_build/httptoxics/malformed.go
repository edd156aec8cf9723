// The http_malformed toxic: affected responses keep their status but their
// body is broken in one of three ways, to provoke services that trust the
// replies of their dependencies.

package httptoxics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"strconv"

	"github.com/Shopify/toxiproxy/v2/toxics"
)

// Modes of http_malformed.
const (
	// ModeTruncate announces the full body length (Content-Length N, even for
	// a chunked original) but sends only the first N/2 bytes, then closes the
	// connection. An empty body is "truncated" by cutting the head in half.
	ModeTruncate = "truncate"
	// ModeGarbage replaces the body by as many non-JSON bytes (at least 16)
	// with a correct Content-Length.
	ModeGarbage = "garbage"
	// ModeWrongType replaces the body by valid JSON of the wrong shape; see
	// wrongType.
	ModeWrongType = "wrong_type"
)

// notJSON is the body wrong_type sends when the original is not JSON it can
// reshape: still valid JSON, but a string where an object or array is expected.
const notJSON = `"injected by chaos-harness http_malformed"`

// garbage starts with '<', so no JSON parser gets past byte 0, and holds a
// NUL and an invalid UTF-8 byte for text decoders.
const garbage = "<chaos-harness garbage>\x00\xff"

// maxJSONDepth bounds the nesting wrong_type follows before giving up.
const maxJSONDepth = 1000

// HTTPMalformedToxic corrupts the body of affected responses. Attributes:
// rate (0..1, default 1), seed (default 0), mode ("truncate", "garbage" or
// "wrong_type", default "truncate").
type HTTPMalformedToxic struct{ attrs settings[malformedAttrs] }

type malformedAttrs struct {
	Sampling
	Mode string `json:"mode"`
}

var defaultMalformedAttrs = malformedAttrs{Sampling: defaultSampling, Mode: ModeTruncate}

func (a malformedAttrs) validate() error {
	if err := a.Sampling.validate(); err != nil {
		return err
	}
	switch a.Mode {
	case ModeTruncate, ModeGarbage, ModeWrongType:
		return nil
	}
	return fmt.Errorf("mode must be %q, %q or %q, got %q", ModeTruncate, ModeGarbage, ModeWrongType, a.Mode)
}

func (t *HTTPMalformedToxic) UnmarshalJSON(b []byte) error {
	return t.attrs.set(b, defaultMalformedAttrs, malformedAttrs.validate)
}

func (t *HTTPMalformedToxic) MarshalJSON() ([]byte, error) {
	return json.Marshal(t.attrs.load(defaultMalformedAttrs))
}

func (t *HTTPMalformedToxic) NewState() interface{} { return new(conn) }

func (t *HTTPMalformedToxic) Cleanup(stub *toxics.ToxicStub) { cleanup(stub) }

func (t *HTTPMalformedToxic) Pipe(stub *toxics.ToxicStub) {
	a := t.attrs.load(defaultMalformedAttrs)
	pipe(stub, effect{
		affects: func() bool { return a.Affects(t.attrs.next()) },
		marker:  "http_malformed; mode=" + a.Mode,
		rewrite: func(r *response) ([]byte, bool) { return malform(r, a.Mode) },
	})
}

// framing headers are rewritten whenever the body is re-sent.
var framing = []string{"Content-Length", "Transfer-Encoding", "Trailer"}

// malform returns the corrupted form of a whole response, and whether to
// close the connection after it.
func malform(r *response, mode string) ([]byte, bool) {
	marker := injectedHeader + ": http_malformed; mode=" + mode
	body, err := r.body()
	code := r.msg.StatusCode
	if mode == ModeTruncate {
		if err != nil || len(body) == 0 {
			return r.head[:len(r.head)/2], true
		}
		head := editHead(r.head, framing, "Content-Length: "+strconv.Itoa(len(body)), marker)
		return append(head, body[:len(body)/2]...), true
	}
	if code == http.StatusNoContent || code == http.StatusNotModified {
		// These never carry a body; adding one would desynchronise the
		// client's connection, so they go through unchanged (but marked).
		return markHead(r.head, "http_malformed; mode="+mode+"; unchanged"), false
	}
	var replacement []byte
	switch mode {
	case ModeGarbage:
		n := max(len(body), 16)
		replacement = bytes.Repeat([]byte(garbage), n/len(garbage)+1)[:n]
	case ModeWrongType:
		replacement = []byte(notJSON)
		if err == nil && r.msg.Header.Get("Content-Encoding") == "" {
			if reshaped, err := wrongType(body); err == nil {
				replacement = reshaped
			}
		}
	}
	// The new body is sent as is, so any Content-Encoding no longer applies.
	head := editHead(r.head, append([]string{"Content-Encoding"}, framing...), "Content-Length: "+strconv.Itoa(len(replacement)), marker)
	return append(head, replacement...), r.msg.Close
}

// body returns the body of a collected response, de-chunked.
func (r *response) body() ([]byte, error) {
	wire := r.raw[len(r.head):]
	if chunked(r.msg) {
		return io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(wire)))
	}
	return wire, nil
}

// wrongType keeps the structure of a JSON document (objects keep their keys,
// arrays their length) but swaps every scalar for the wrong type: strings
// become null, and numbers, booleans and null become strings of their JSON
// text. {"id":"x","stock":5,"ok":true} becomes {"id":null,"stock":"5","ok":"true"}.
func wrongType(doc []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var out bytes.Buffer
	if err := reshape(dec, &out, 0); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON document")
	}
	return out.Bytes(), nil
}

func reshape(dec *json.Decoder, out *bytes.Buffer, depth int) error {
	if depth > maxJSONDepth {
		return errors.New("JSON nested too deep")
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case json.Delim:
		out.WriteRune(rune(v))
		for i := 0; dec.More(); i++ {
			if i > 0 {
				out.WriteByte(',')
			}
			if v == '{' {
				key, err := dec.Token()
				if err != nil {
					return err
				}
				writeJSONString(out, key.(string))
				out.WriteByte(':')
			}
			if err := reshape(dec, out, depth+1); err != nil {
				return err
			}
		}
		end, err := dec.Token()
		if err != nil {
			return err
		}
		out.WriteRune(rune(end.(json.Delim)))
	case string:
		out.WriteString("null")
	case json.Number:
		writeJSONString(out, v.String())
	case bool:
		writeJSONString(out, strconv.FormatBool(v))
	case nil:
		writeJSONString(out, "null")
	}
	return nil
}

func writeJSONString(out *bytes.Buffer, s string) {
	b, _ := json.Marshal(s) // marshalling a string cannot fail
	out.Write(b)
}
