// The http_count toxic: counts the HTTP/1.x requests that cross a link, as
// they cross it, and changes nothing. On the upstream stream (client to
// server) it follows request framing (keep-alive, pipelining, Content-Length
// and chunked bodies) and counts every complete request head; its count is
// its only attribute, so GET /proxies/NAME/toxics shows it.
//
// Why not Toxiproxy's -proxy-metrics: those add a connection's bytes once the
// connection closes, and pooled keep-alive connections to a service stay open
// for minutes, so a reading taken around some traffic shows nothing.

package httptoxics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/Shopify/toxiproxy/v2/toxics"
)

// HTTPCountToxic counts request heads. It has no settable attributes: the
// JSON it shows, {"requests": N}, is what it counted since it was added.
// Add it on the upstream stream; on the downstream one it sees responses,
// which it never takes for requests, and counts nothing.
type HTTPCountToxic struct{ requests atomic.Uint64 }

type countAttrs struct {
	Requests uint64 `json:"requests"`
}

// UnmarshalJSON accepts only an empty object: the count is read-only, and a
// typo must not pass for a setting.
func (t *HTTPCountToxic) UnmarshalJSON(b []byte) error {
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(b, &attrs); err != nil {
		return fmt.Errorf("attributes: %w", err)
	}
	if len(attrs) > 0 {
		return fmt.Errorf("attributes: http_count takes none (requests is what it counted, read-only)")
	}
	return nil
}

func (t *HTTPCountToxic) MarshalJSON() ([]byte, error) {
	return json.Marshal(countAttrs{Requests: t.requests.Load()})
}

// Requests is how many request heads the toxic has seen, on every connection.
func (t *HTTPCountToxic) Requests() uint64 { return t.requests.Load() }

func (t *HTTPCountToxic) NewState() interface{} { return new(requestFollower) }

// Cleanup hands on a chunk that was counted but not yet passed on when the
// toxic was interrupted for good.
func (t *HTTPCountToxic) Cleanup(stub *toxics.ToxicStub) {
	f, ok := stub.State.(*requestFollower)
	if !ok || f.pending == nil {
		return
	}
	chunk := f.pending
	f.pending = nil
	_ = stub.WriteOutput(chunk, flushTimeout)
}

// Pipe passes every chunk on as it came, after reading it. A chunk read but
// not yet passed on when the toxic is interrupted stays in the connection's
// state, so a re-run passes it on without reading (and counting) it twice.
func (t *HTTPCountToxic) Pipe(stub *toxics.ToxicStub) {
	f := stub.State.(*requestFollower)
	for {
		if f.pending != nil {
			select {
			case <-stub.Interrupt:
				return
			case stub.Output <- f.pending:
				f.pending = nil
			}
			continue
		}
		select {
		case <-stub.Interrupt:
			return
		case chunk := <-stub.Input:
			if chunk == nil {
				stub.Close()
				return
			}
			t.requests.Add(uint64(f.feed(chunk.Data)))
			f.pending = chunk
		}
	}
}

// Phases of a request stream.
const (
	reqUnsynced  = iota // not at a request start we know of: wait for a chunk that begins one
	reqHead             // reading a request head
	reqFixed            // Content-Length body
	reqChunkSize        // chunked body: a chunk-size line
	reqChunkData        // chunked body: a chunk's data
	reqChunkEnd         // chunked body: the line end after a chunk's data
	reqTrailer          // chunked body: trailer lines up to an empty one
)

// maxMethod bounds the method token of a request line we recognise.
const maxMethod = 20

// requestFollower is one connection's position in its request stream. It
// keeps only a partial head or framing line, never a body.
type requestFollower struct {
	phase     int
	head      []byte
	line      []byte
	remaining int64
	pending   *stream.StreamChunk
}

// feed reads one chunk and returns how many request heads it completed.
//
// A follower starts unsynchronised: it may have been added to a connection
// in the middle of a request. At the start of each chunk (a read from the
// socket) it looks for the start of a request line and follows from there;
// a chunk that begins mid-body does not look like one. Whatever it cannot
// follow (a head that does not parse, HTTP/2, bytes after an Upgrade) puts it
// back to unsynchronised: it never blocks or alters the stream.
func (f *requestFollower) feed(b []byte) int {
	counted := 0
	if f.phase == reqUnsynced {
		if !startsRequest(b) {
			return 0
		}
		f.phase, f.head = reqHead, f.head[:0]
	}
	for len(b) > 0 && f.phase != reqUnsynced {
		switch f.phase {
		case reqHead:
			var done bool
			b, done = f.readHead(b)
			if done {
				counted++
			}
		case reqFixed:
			n := min(int64(len(b)), f.remaining)
			b, f.remaining = b[n:], f.remaining-n
			if f.remaining == 0 {
				f.phase = reqHead
			}
		case reqChunkData:
			n := min(int64(len(b)), f.remaining)
			b, f.remaining = b[n:], f.remaining-n
			if f.remaining == 0 {
				f.phase = reqChunkEnd
			}
		case reqChunkSize, reqChunkEnd, reqTrailer:
			var line string
			var ok bool
			b, line, ok = f.readLine(b)
			if ok {
				f.framingLine(line)
			}
		}
	}
	return counted
}

// readHead adds bytes to the head until its blank line; it reports whether a
// request head was completed (and counted).
func (f *requestFollower) readHead(b []byte) ([]byte, bool) {
	if len(f.head) == 0 {
		// Blank lines between requests are allowed (RFC 9112, 2.2).
		for len(b) > 0 && (b[0] == '\r' || b[0] == '\n') {
			b = b[1:]
		}
		if len(b) == 0 {
			return b, false
		}
	}
	before := len(f.head)
	f.head = append(f.head, b...)
	if !startsRequest(f.head) {
		f.unsync()
		return nil, false
	}
	end := headEnd(f.head)
	if end < 0 {
		if len(f.head) > maxHead {
			f.unsync()
		}
		return nil, false
	}
	rest := b[end-before:]
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(f.head[:end])))
	f.head = f.head[:0]
	if err != nil || req.ProtoMajor != 1 {
		f.unsync()
		return nil, false
	}
	switch {
	case req.Method == http.MethodConnect || req.Header.Get("Upgrade") != "":
		// Another protocol may follow; should the server refuse the upgrade,
		// the next request starts a chunk of its own and is found again.
		f.unsync()
	case len(req.TransferEncoding) > 0 && req.TransferEncoding[0] == "chunked":
		f.phase = reqChunkSize
	case req.ContentLength > 0:
		f.phase, f.remaining = reqFixed, req.ContentLength
	default:
		f.phase = reqHead
	}
	return rest, true
}

// readLine collects one line of chunked framing, without its line end.
func (f *requestFollower) readLine(b []byte) ([]byte, string, bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		f.line = append(f.line, b...)
		if len(f.line) > maxLine {
			f.unsync()
		}
		return nil, "", false
	}
	f.line = append(f.line, b[:i]...)
	line := strings.TrimSuffix(string(f.line), "\r")
	f.line = f.line[:0]
	return b[i+1:], line, true
}

func (f *requestFollower) framingLine(line string) {
	switch f.phase {
	case reqChunkSize:
		size, _, _ := strings.Cut(line, ";") // chunk extensions are ignored
		n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
		switch {
		case err != nil || n < 0:
			f.unsync()
		case n == 0:
			f.phase = reqTrailer
		default:
			f.phase, f.remaining = reqChunkData, n
		}
	case reqChunkEnd:
		if line != "" {
			f.unsync()
			return
		}
		f.phase = reqChunkSize
	case reqTrailer:
		if line == "" {
			f.phase = reqHead
		}
	}
}

func (f *requestFollower) unsync() {
	f.phase, f.head, f.line, f.remaining = reqUnsynced, f.head[:0], f.line[:0], 0
}

// startsRequest reports whether b could be the start of a request line: a
// method token of capital letters and a space (all of it, if b is shorter).
func startsRequest(b []byte) bool {
	for i, c := range b {
		switch {
		case c == ' ':
			return i > 0
		case c < 'A' || c > 'Z' || i >= maxMethod:
			return false
		}
	}
	return true
}

// The interface assertions: a missing method would silently turn the toxic
// into one Toxiproxy drives differently (no state, no cleanup).
var (
	_ toxics.StatefulToxic = (*HTTPCountToxic)(nil)
	_ toxics.CleanupToxic  = (*HTTPCountToxic)(nil)
)
