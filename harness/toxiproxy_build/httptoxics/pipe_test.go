// Stub-level tests of the response follower: a stream of every response shape
// the toxics know, cut into pieces of every small size and with the toxic
// interrupted and re-run between pieces, must come out byte for byte when
// nothing is affected, and fully replaced when everything is.

package httptoxics

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/Shopify/toxiproxy/v2/toxics"
)

// shapes is a keep-alive stream of responses of every framing, ending with a
// close-delimited HTTP/1.0 one.
var shapes = strings.Join([]string{
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n",
	"HTTP/1.1 204 No Content\r\n\r\n",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}",
	"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
	"HTTP/1.0 200 OK\r\n\r\nclose-delimited body",
}, "")

// runPipe feeds input in pieces of size piece through toxic, interrupting
// and re-running it after every piece if interrupt is set, and returns
// everything it wrote downstream.
func runPipe(t *testing.T, toxic toxics.Toxic, input string, piece int, interrupt bool) string {
	t.Helper()
	in := make(chan *stream.StreamChunk)
	out := make(chan *stream.StreamChunk)
	stub := toxics.NewToxicStub(in, out)
	stub.State = toxic.(toxics.StatefulToxic).NewState()
	wrapper := &toxics.ToxicWrapper{Toxic: toxic, Toxicity: 1}
	go stub.Run(wrapper)

	got := make(chan string)
	go func() {
		var b bytes.Buffer
		for c := range out {
			b.Write(c.Data)
		}
		got <- b.String()
	}()

	for i := 0; i < len(input); i += piece {
		in <- &stream.StreamChunk{Data: []byte(input[i:min(i+piece, len(input))]), Timestamp: time.Now()}
		if interrupt && stub.InterruptToxic() {
			go stub.Run(wrapper)
		}
	}
	close(in)
	select {
	case s := <-got:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("pipe did not finish")
		return ""
	}
}

func newToxic(t *testing.T, toxic interface{ UnmarshalJSON([]byte) error }, attrs string) toxics.Toxic {
	t.Helper()
	if err := toxic.UnmarshalJSON([]byte(attrs)); err != nil {
		t.Fatal(err)
	}
	return toxic.(toxics.Toxic)
}

func TestUnaffectedStreamPassesByteForByte(t *testing.T) {
	for _, interrupt := range []bool{false, true} {
		for _, piece := range []int{1, 2, 3, 5, 7, 11, len(shapes)} {
			toxic := newToxic(t, new(HTTPErrorToxic), `{"rate":0}`)
			if got := runPipe(t, toxic, shapes, piece, interrupt); got != shapes {
				t.Fatalf("piece %d, interrupt %v: got\n%q\nwant\n%q", piece, interrupt, got, shapes)
			}
		}
	}
}

func TestEveryFinalResponseReplaced(t *testing.T) {
	for _, interrupt := range []bool{false, true} {
		for _, piece := range []int{1, 3, 7, len(shapes)} {
			toxic := newToxic(t, new(HTTPErrorToxic), `{"rate":1,"status":502}`)
			got := runPipe(t, toxic, shapes, piece, interrupt)
			br := bufio.NewReader(strings.NewReader(got))
			var statuses []int
			for {
				if _, err := br.Peek(1); err == io.EOF {
					break
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("piece %d: unreadable output %q: %v", piece, got, err)
				}
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode == 502 && string(body) != errorBody {
					t.Fatalf("piece %d: body %q", piece, body)
				}
				statuses = append(statuses, resp.StatusCode)
			}
			want := []int{502, 502, 502, 100, 502, 502, 502}
			if !equalInts(statuses, want) {
				t.Fatalf("piece %d, interrupt %v: statuses %v, want %v", piece, interrupt, statuses, want)
			}
		}
	}
}

// Input that is not HTTP (or joins mid-response) passes untouched.
func TestNotHTTPPassesThrough(t *testing.T) {
	input := "ello\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"
	toxic := newToxic(t, new(HTTPErrorToxic), `{"rate":1}`)
	if got := runPipe(t, toxic, input, 3, true); got != input {
		t.Fatalf("got %q", got)
	}
}

func TestCleanupHandsOnHeldBytes(t *testing.T) {
	in := make(chan *stream.StreamChunk, 1)
	out := make(chan *stream.StreamChunk, 10)
	toxic := newToxic(t, new(HTTPErrorToxic), `{"rate":1}`)
	stub := toxics.NewToxicStub(in, out)
	stub.State = toxic.(toxics.StatefulToxic).NewState()
	go stub.Run(&toxics.ToxicWrapper{Toxic: toxic, Toxicity: 1})

	// Half a response: the toxic collects it and sends nothing yet.
	half := "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234"
	in <- &stream.StreamChunk{Data: []byte(half)}
	time.Sleep(50 * time.Millisecond)
	if len(out) != 0 {
		t.Fatal("collected response leaked out early")
	}
	if !stub.InterruptToxic() {
		t.Fatal("stub closed")
	}
	toxic.(toxics.CleanupToxic).Cleanup(stub)
	if c := <-out; string(c.Data) != half {
		t.Fatalf("cleanup handed on %q", c.Data)
	}
}

func TestWrongType(t *testing.T) {
	for in, want := range map[string]string{
		`{"id":"x","stock":5,"ok":true,"none":null}`: `{"id":null,"stock":"5","ok":"true","none":"null"}`,
		` [1, "a", {"b": [false]}] `:                 `["1",null,{"b":["false"]}]`,
		`{}`:                                         `{}`,
		`3.5e2`:                                      `"3.5e2"`,
	} {
		got, err := wrongType([]byte(in))
		if err != nil || string(got) != want {
			t.Errorf("wrongType(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{``, `{"a":`, `{} {}`, `<html>`, strings.Repeat("[", 2000) + strings.Repeat("]", 2000)} {
		if _, err := wrongType([]byte(bad)); err == nil {
			t.Errorf("wrongType(%.20q) accepted", bad)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
