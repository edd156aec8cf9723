// Stub-level tests of http_count: a request stream of every framing, cut into
// pieces of every small size and interrupted between them, passes byte for
// byte and is counted exactly; what is not a request start is never counted.

package httptoxics

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/Shopify/toxiproxy/v2/toxics"
)

// requests is a keep-alive stream of requests of every framing: no body,
// Content-Length, chunked with an extension and a trailer, blank lines
// between requests, an Expect header, and a body that holds a request line.
var requests = []string{
	"GET /products/1 HTTP/1.1\r\nHost: back\r\n\r\n",
	"POST /orders HTTP/1.1\r\nHost: back\r\nContent-Length: 27\r\n\r\n{\"item\":1,\"quantity\":2}\r\n\r\n",
	"\r\nPOST /charges HTTP/1.1\r\nHost: back\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nGET \r\n11\r\n/ HTTP/1.1\r\n\r\nxx\r\n0\r\nX-T: 1\r\n\r\n",
	"PUT /x HTTP/1.1\r\nHost: back\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
	"DELETE /x HTTP/1.0\n\n",
	"GET /last HTTP/1.1\r\nHost: back\r\nConnection: close\r\n\r\n",
}

// countPipe feeds input through a fresh http_count in pieces of size piece,
// interrupting and re-running it after every piece if interrupt is set; it
// returns what came out and the count.
func countPipe(t *testing.T, input string, piece int, interrupt bool) (string, uint64) {
	t.Helper()
	toxic := new(HTTPCountToxic)
	got := runPipe(t, toxic, input, piece, interrupt)
	return got, toxic.Requests()
}

func TestEveryRequestCountedOnceAndPassedUnchanged(t *testing.T) {
	input := strings.Join(requests, "")
	for _, interrupt := range []bool{false, true} {
		for _, piece := range []int{1, 2, 3, 5, 7, 11, 64, len(input)} {
			got, n := countPipe(t, input, piece, interrupt)
			if got != input {
				t.Fatalf("piece %d, interrupt %v: the stream changed:\n%q\nwant\n%q", piece, interrupt, got, input)
			}
			if n != uint64(len(requests)) {
				t.Fatalf("piece %d, interrupt %v: counted %d requests, want %d", piece, interrupt, n, len(requests))
			}
		}
	}
}

// A counter added while a request body is on its way starts counting at the
// next request that begins a chunk; the body it joined is not a request.
func TestJoinedMidBodyCountsFromTheNextRequest(t *testing.T) {
	f := new(requestFollower)
	if n := f.feed([]byte("ost: back\r\nContent-Length: 9\r\n\r\n")); n != 0 {
		t.Fatalf("the tail of a request head counted %d", n)
	}
	if n := f.feed([]byte("\"item\":1}")); n != 0 {
		t.Fatalf("a body counted %d", n)
	}
	if n := f.feed([]byte("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")); n != 2 {
		t.Fatalf("counted %d of the 2 requests after synchronising", n)
	}
}

func TestWhatIsNotHTTP1IsNotCounted(t *testing.T) {
	for _, input := range []string{
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",                        // HTTP/2 prior knowledge
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",            // a TLS client hello
		"SELECT 1;\r\n\r\n",                                       // not a request line
		"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\nGET x\r\n", // counted, then another protocol
	} {
		got, n := countPipe(t, input, 3, true)
		want := uint64(0)
		if strings.Contains(input, "Upgrade") {
			want = 1
		}
		if got != input || n != want {
			t.Errorf("%q: counted %d (want %d), passed %q", input, n, want, got)
		}
	}
}

func TestCleanupHandsOnTheChunkItHeld(t *testing.T) {
	in := make(chan *stream.StreamChunk, 1)
	out := make(chan *stream.StreamChunk) // nobody reads: the toxic holds its chunk
	toxic := new(HTTPCountToxic)
	stub := toxics.NewToxicStub(in, out)
	stub.State = toxic.NewState()
	go stub.Run(&toxics.ToxicWrapper{Toxic: toxic, Toxicity: 1})
	in <- &stream.StreamChunk{Data: []byte(requests[0])}
	time.Sleep(50 * time.Millisecond)
	if !stub.InterruptToxic() {
		t.Fatal("stub closed")
	}
	done := make(chan string, 1)
	go func() { done <- string((<-out).Data) }()
	toxic.Cleanup(stub)
	if got := <-done; got != requests[0] || toxic.Requests() != 1 {
		t.Fatalf("cleanup handed on %q, count %d", got, toxic.Requests())
	}
}

func TestCountIsItsOnlyAttribute(t *testing.T) {
	toxic := new(HTTPCountToxic)
	if err := toxic.UnmarshalJSON([]byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	toxic.requests.Add(7)
	shown, _ := json.Marshal(toxic)
	if string(shown) != `{"requests":7}` {
		t.Fatalf("shown as %s", shown)
	}
	for _, bad := range []string{`{"requests":0}`, `{"rate":1}`, `[]`, `3`} {
		if err := toxic.UnmarshalJSON([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
