// Command demo is the purpose-built faulty demo of chaos-harness's generic exploration
// invariants: one binary, three roles (ROLE=front, back or side). front answers GET /item
// by calling back and GET /note by calling side, by their compose names; back and side
// answer fixed JSON. Standard library only.
//
// The correct build keeps every invariant; DEMO_MUTATIONS (comma-separated) switches on
// one mistake per invariant (see mutations), each in front:
//
//	sticky-failure  the client to a downstream latches its first transport error and
//	                never calls it again (liveness after heal)
//	shared-breaker  one circuit breaker for both downstreams, so back's failures refuse
//	                calls to a healthy side (fault isolation)
//	status-500      downstream failures answered 500 (honest error contract)
//	error-in-200    downstream failures answered 200 {"error": ...} (honest error contract)
//	no-timeout      downstream calls with no deadline, detached from the caller (no
//	                request without an end)
//	health-lies     GET /healthz answers 200 whatever happens (honest health)
package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof" // goroutine dumps: the invariants read requests still in handlers
	"os"
	"strings"
	"time"
)

var known = []string{"sticky-failure", "shared-breaker", "status-500", "error-in-200", "no-timeout", "health-lies"}

type mutations map[string]bool

func parseMutations(text string) (mutations, error) {
	on := mutations{}
	for _, name := range strings.Split(text, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		found := false
		for _, k := range known {
			found = found || k == name
		}
		if !found {
			return nil, fmt.Errorf("unknown mutation %q; known: %s", name, strings.Join(known, ", "))
		}
		on[name] = true
	}
	return on, nil
}

func duration(name string, fallback time.Duration) time.Duration {
	if text := os.Getenv(name); text != "" {
		d, err := time.ParseDuration(text)
		if err != nil {
			log.Fatalf("%s=%q: %v", name, text, err)
		}
		return d
	}
	return fallback
}

func main() {
	on, err := parseMutations(os.Getenv("DEMO_MUTATIONS"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(2)
	}
	// http.DefaultServeMux already holds net/http/pprof's handlers.
	mux := http.DefaultServeMux
	switch role := os.Getenv("ROLE"); role {
	case "front":
		newFront(on, frontConfig{
			backURL:     os.Getenv("BACK_URL"),
			sideURL:     os.Getenv("SIDE_URL"),
			callTimeout: duration("CALL_TIMEOUT", 500*time.Millisecond),
			breakerOpen: duration("BREAKER_OPEN", time.Second),
			failures:    3,
		}).routes(mux)
	case "back", "side":
		leafRoutes(mux)
	default:
		fmt.Fprintf(os.Stderr, "demo: ROLE must be front, back or side, got %q\n", role)
		os.Exit(2)
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("demo %s listening on %s, mutations %v", os.Getenv("ROLE"), ln.Addr(), on)
	log.Fatal(http.Serve(ln, mux))
}

// leafRoutes: back and side answer fixed JSON, whichever path is asked.
func leafRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /item", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"id": 1, "name": "widget", "price": 3})
	})
	mux.HandleFunc("GET /note", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"text": "hello", "length": 5})
	})
}
