// The response follower and pipe loop shared by the HTTP toxics. It tracks the
// HTTP/1.x responses in a downstream byte stream (keep-alive, Content-Length,
// chunked, bodiless and close-delimited bodies), lets a toxic delay or rewrite
// the affected ones, and keeps everything it has not yet passed on in the
// per-connection state, so that interrupting, updating or removing the toxic
// mid-stream neither loses nor duplicates bytes.

package httptoxics

import (
	"bufio"
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/Shopify/toxiproxy/v2/toxics"
)

const (
	maxHead    = 64 << 10 // a longer head is not something we can follow: pass through
	maxLine    = 4 << 10  // chunk-size and trailer lines
	maxCollect = 4 << 20  // an affected response larger than this passes through unchanged

	// flushTimeout bounds how long removing a toxic waits to hand on the
	// bytes it held, as Toxiproxy's own toxics do.
	flushTimeout = 5 * time.Second
)

var httpPrefix = []byte("HTTP/1.")

type phase int

const (
	inHead      phase = iota // waiting for a complete response head
	inFixed                  // Content-Length body
	inChunkSize              // chunked body: a chunk-size line
	inChunkData              // chunked body: a chunk's data
	inChunkEnd               // chunked body: the line end after a chunk's data
	inTrailer                // chunked body: trailer lines up to an empty one
	inUntilEOF               // no framing: the body ends when the server closes
	inRaw                    // not (or no longer) HTTP we can follow: pass everything
)

// effect is what one toxic does to the responses it affects.
type effect struct {
	// affects claims the next response index and says whether it is affected.
	affects func() bool
	// marker is the value of the X-Chaos-Injected header put on affected responses.
	marker string
	// delay holds an affected response this long before its first byte goes out.
	delay time.Duration
	// rewrite, if set, receives the whole affected response and returns what
	// to send instead, and whether to close the connection after it.
	rewrite func(r *response) (out []byte, closeConn bool)
}

// injectedHeader marks affected responses so that clients and logs can tell
// an injected fault from a real one.
const injectedHeader = "X-Chaos-Injected"

// response is the response being followed.
type response struct {
	head     []byte         // raw head, blank line included
	msg      *http.Response // parsed head; its Body is never read
	affected bool
	collect  bool   // buffering the whole response for rewrite
	raw      []byte // collected bytes: head then the body as framed on the wire
}

// conn is one connection's state (stub.State). It outlives a Pipe call, so a
// toxic that is interrupted and run again resumes exactly where it stopped.
type conn struct {
	fx        effect
	in        []byte // received, not yet followed
	pending   []byte // followed, not yet written downstream
	phase     phase
	remaining int64 // bytes left in a Content-Length body or a chunk
	probe     bool  // at the start of a body: see stepProbe
	resp      *response
	holdUntil time.Time // an affected response waits until then (http_delay)
	closing   bool      // close the connection once pending is written
	eof       bool      // the server closed its side
}

// pipe is the Pipe of every HTTP toxic.
func pipe(stub *toxics.ToxicStub, fx effect) {
	c := stub.State.(*conn)
	c.fx = fx
	for {
		now := time.Now()
		c.advance(now)

		var (
			out   chan<- *stream.StreamChunk
			chunk *stream.StreamChunk
			in    <-chan *stream.StreamChunk
			wake  <-chan time.Time
		)
		switch {
		case len(c.pending) > 0:
			out, chunk = stub.Output, &stream.StreamChunk{Data: c.pending, Timestamp: now}
		case c.eof:
			stub.Close()
			return
		case c.closing:
			stub.Close()
			// Keep reading so the link's reader is never stuck on us; the
			// input ends once Toxiproxy has torn the connection down.
			for range stub.Input {
			}
			return
		case c.holding(now):
			wake = time.After(c.holdUntil.Sub(now))
		default:
			in = stub.Input
		}

		select {
		case <-stub.Interrupt:
			return // all state stays in c: a re-run resumes, Cleanup flushes
		case out <- chunk:
			c.pending = nil
		case <-wake:
		case chunk := <-in:
			if chunk == nil {
				c.endOfInput()
			} else {
				c.in = append(c.in, chunk.Data...)
			}
		}
	}
}

// cleanup runs when the toxic is removed: whatever the connection still holds
// goes downstream untouched, in order. A connection that was to be closed
// (a truncated response is half sent) is closed.
func cleanup(stub *toxics.ToxicStub) {
	c, ok := stub.State.(*conn)
	if !ok {
		return
	}
	data := c.pending
	if c.resp != nil && c.resp.collect {
		data = append(data, c.resp.raw...)
	}
	data = append(data, c.in...)
	c.pending, c.in, c.resp = nil, nil, nil
	if len(data) > 0 {
		_ = stub.WriteOutput(&stream.StreamChunk{Data: data, Timestamp: time.Now()}, flushTimeout)
	}
	if c.closing {
		stub.Close()
	}
}

func (c *conn) holding(now time.Time) bool { return now.Before(c.holdUntil) }

// advance follows as much of c.in as it can. It stops while an affected
// response is held and once the connection is to be closed.
func (c *conn) advance(now time.Time) {
	for !c.closing && !c.holding(now) && c.step(now) {
	}
}

// step makes one move and reports whether it made progress.
func (c *conn) step(now time.Time) bool {
	switch c.phase {
	case inHead:
		return c.stepHead(now)
	case inFixed:
		return c.stepFixed()
	case inChunkSize:
		if c.probe {
			return c.stepProbe()
		}
		return c.stepLine(func(line string) bool {
			size, _, _ := strings.Cut(line, ";") // chunk extensions are ignored
			n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
			if err != nil || n < 0 {
				return false
			}
			if n == 0 {
				c.phase = inTrailer
			} else {
				c.phase, c.remaining = inChunkData, n
			}
			return true
		})
	case inChunkData:
		n := min(int64(len(c.in)), c.remaining)
		if n == 0 {
			return false
		}
		c.consume(int(n))
		if c.remaining -= n; c.remaining == 0 {
			c.phase = inChunkEnd
		}
		return true
	case inChunkEnd:
		return c.stepLine(func(line string) bool {
			c.phase = inChunkSize
			return line == ""
		})
	case inTrailer:
		return c.stepLine(func(line string) bool {
			if line == "" {
				c.finish()
			}
			return true
		})
	case inUntilEOF, inRaw:
		if c.probe {
			return c.stepProbe()
		}
		if len(c.in) == 0 {
			return false
		}
		c.consume(len(c.in))
		return true
	}
	return false
}

func (c *conn) stepHead(now time.Time) bool {
	if c.resp != nil { // parsed and decided earlier, then held: send it on now
		c.sendHead()
		return true
	}
	if len(c.in) == 0 {
		return false
	}
	if k := min(len(c.in), len(httpPrefix)); !bytes.Equal(c.in[:k], httpPrefix[:k]) {
		// Not a response start: the toxic was added mid-response, or this is
		// not HTTP/1.x. Stay out of the way for the rest of the connection.
		c.giveUp()
		return true
	}
	end := headEnd(c.in)
	if end < 0 {
		if len(c.in) > maxHead {
			c.giveUp()
			return true
		}
		return false
	}
	msg, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(c.in[:end])), nil)
	if err != nil {
		c.giveUp()
		return true
	}
	r := &response{head: bytes.Clone(c.in[:end]), msg: msg}
	c.resp = r
	// Interim 1xx responses belong to the exchange whose final response
	// follows; only final responses are counted and possibly affected.
	if msg.StatusCode >= 200 && c.fx.affects() {
		r.affected = true
		r.collect = c.fx.rewrite != nil
		if c.fx.delay > 0 {
			c.holdUntil = now.Add(c.fx.delay)
			return true // advance stops until the hold ends; stepHead resumes above
		}
	}
	c.sendHead()
	return true
}

// sendHead passes on (or collects) the parsed head and sets up its body.
func (c *conn) sendHead() {
	r := c.resp
	switch {
	case r.collect:
		c.consume(len(r.head))
	case r.affected:
		c.in = c.in[len(r.head):]
		c.pending = append(c.pending, markHead(r.head, c.fx.marker)...)
	default:
		c.consume(len(r.head))
	}

	code := r.msg.StatusCode
	switch {
	case code == http.StatusSwitchingProtocols:
		c.finish()
		c.phase = inRaw // what follows is another protocol
	case code < 200, code == http.StatusNoContent, code == http.StatusNotModified:
		c.finish()
	case chunked(r.msg):
		c.phase, c.probe = inChunkSize, true
	case r.msg.ContentLength > 0:
		// A body shorter than the probe cannot be told from a next response.
		c.phase, c.remaining = inFixed, r.msg.ContentLength
		c.probe = c.remaining >= int64(len(httpPrefix))
	case r.msg.ContentLength == 0:
		c.finish()
	default:
		c.phase, c.probe = inUntilEOF, true
	}
}

// stepProbe looks at the first bytes of a body. A response to HEAD announces
// a length or chunked coding (or, from net/http, neither) but has no body,
// and a downstream toxic cannot see the request; so a body that would begin
// with "HTTP/1." is taken to be the next response instead (a chunk-size line
// never starts with 'H').
func (c *conn) stepProbe() bool {
	k := min(len(c.in), len(httpPrefix))
	if k == 0 {
		return false
	}
	if !bytes.Equal(c.in[:k], httpPrefix[:k]) {
		c.probe = false // a real body
		return true
	}
	if k < len(httpPrefix) {
		return false // cannot tell yet
	}
	c.finish()
	return true
}

func (c *conn) stepFixed() bool {
	if c.probe {
		return c.stepProbe()
	}
	if len(c.in) == 0 {
		return false
	}
	n := min(int64(len(c.in)), c.remaining)
	c.consume(int(n))
	if c.remaining -= n; c.remaining == 0 {
		c.finish()
	}
	return true
}

// stepLine consumes one line of chunked framing and hands it, without its
// line end, to handle; handle returns false if the line is not valid framing.
func (c *conn) stepLine(handle func(line string) bool) bool {
	i := bytes.IndexByte(c.in, '\n')
	if i < 0 {
		if len(c.in) > maxLine {
			c.giveUp()
			return true
		}
		return false
	}
	line := strings.TrimSuffix(string(c.in[:i]), "\r")
	c.consume(i + 1)
	if !handle(line) {
		c.giveUp()
	}
	return true
}

// consume moves the first n input bytes on: into the collected response if
// one is being collected, else to the output.
func (c *conn) consume(n int) {
	if r := c.resp; r != nil && r.collect {
		r.raw = append(r.raw, c.in[:n]...)
		if len(r.raw) > maxCollect {
			// Too big to hold: let this one through unchanged.
			c.pending = append(c.pending, r.raw...)
			r.raw, r.collect = nil, false
		}
	} else {
		c.pending = append(c.pending, c.in[:n]...)
	}
	c.in = c.in[n:]
	if len(c.in) == 0 {
		c.in = nil // let the backing array go
	}
}

// finish ends the current response: a collected one is rewritten now.
func (c *conn) finish() {
	r := c.resp
	c.resp, c.phase, c.probe = nil, inHead, false
	if r == nil || !r.collect {
		return
	}
	out, closeConn := c.fx.rewrite(r)
	c.pending = append(c.pending, out...)
	c.closing = closeConn
}

// giveUp stops following the stream; anything collected goes out unchanged.
func (c *conn) giveUp() {
	if r := c.resp; r != nil && r.collect {
		c.pending = append(c.pending, r.raw...)
	}
	c.resp, c.phase, c.probe = nil, inRaw, false
}

// endOfInput handles the server closing its side.
func (c *conn) endOfInput() {
	c.eof = true
	if c.phase == inUntilEOF && c.resp != nil {
		c.finish() // a close-delimited body is complete only now
	}
	c.giveUp() // an incomplete response goes out as it came
	c.pending = append(c.pending, c.in...)
	c.in = nil
}

// headEnd returns the length of the response head at the start of b (status
// line, header lines and the empty line), or -1 if it is not complete yet.
func headEnd(b []byte) int {
	// The caller has checked that b starts with a status line, so the first
	// empty line ends the head.
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		line := b[i : i+j]
		i += j + 1
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return i
		}
	}
}

func chunked(msg *http.Response) bool {
	return len(msg.TransferEncoding) > 0 && msg.TransferEncoding[0] == "chunked"
}

// markHead adds the X-Chaos-Injected header to a raw head.
func markHead(head []byte, marker string) []byte {
	return editHead(head, nil, injectedHeader+": "+marker)
}

// editHead returns a raw head with the headers named in drop removed (with
// their continuation lines) and the lines in add appended, line ends CRLF.
func editHead(head []byte, drop []string, add ...string) []byte {
	lines := strings.Split(strings.TrimRight(string(head), "\r\n"), "\n")
	var b strings.Builder
	dropping := false
	for i, line := range lines {
		line = strings.TrimSuffix(line, "\r")
		if i > 0 {
			if line != "" && (line[0] == ' ' || line[0] == '\t') { // obsolete folding
				if dropping {
					continue
				}
			} else {
				name, _, _ := strings.Cut(line, ":")
				dropping = false
				for _, d := range drop {
					if strings.EqualFold(strings.TrimSpace(name), d) {
						dropping = true
					}
				}
				if dropping {
					continue
				}
			}
		}
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	for _, line := range add {
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}
