// drain: a tiny HTTP service for the exploration's SIGTERM invariant (tests/exploration).
//
// GET /work answers {"done": true} after WORK_MS milliseconds (default 400), so a burst of
// it always has requests in flight. GET /healthz answers 200, or 503 once POST /sick was
// called (for as long as the process lives: an unhealthy system to start from). On
// SIGTERM it drains: the server stops accepting, finishes every request it accepted, then
// exits. With DEMO_BUGS naming no-drain it exits at once instead, and the requests in
// flight lose their connection without a reply. An unknown name in DEMO_BUGS makes it
// exit 2 at start.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	noDrain := false
	for _, name := range strings.Split(os.Getenv("DEMO_BUGS"), ",") {
		switch strings.TrimSpace(name) {
		case "":
		case "no-drain":
			noDrain = true
		default:
			fmt.Fprintf(os.Stderr, "drain: unknown bug %q; the known one is no-drain\n", name)
			os.Exit(2)
		}
	}
	workMS, err := strconv.Atoi(getenv("WORK_MS", "400"))
	if err != nil || workMS < 0 {
		fmt.Fprintf(os.Stderr, "drain: WORK_MS must be milliseconds, got %q\n", os.Getenv("WORK_MS"))
		os.Exit(2)
	}
	work := time.Duration(workMS) * time.Millisecond

	var sick atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if sick.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"status":"sick"}`)
			return
		}
		fmt.Fprint(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("POST /sick", func(w http.ResponseWriter, r *http.Request) {
		sick.Store(true)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(work):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"done":true}`)
	})
	srv := &http.Server{Addr: ":" + getenv("PORT", "8080"), Handler: mux}
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	log.Printf("listening on %s, work %s, no-drain %v", srv.Addr, work, noDrain)

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-served:
		log.Printf("server stopped: %v", err)
		os.Exit(1)
	case sig := <-signals:
		log.Printf("%s: shutting down", sig)
	}
	if noDrain {
		log.Print("no-drain: exiting at once")
		os.Exit(0)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Printf("drain incomplete: %v", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		log.Printf("server stopped: %v", err)
	}
	log.Print("drained")
}

func getenv(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}
