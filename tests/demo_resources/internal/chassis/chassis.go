// Package chassis is what both demo services share: the mutation switch, a
// Prometheus text endpoint written by hand (standard library only), pprof,
// JSON replies and the server's life cycle.
package chassis

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Mutations lists what DEMO_MUTATION may switch on; see the README.
var Mutations = []string{"retry-storm", "leak-conn", "leak-heap", "linger", "unlocked-counter"}

// Mutation reports whether DEMO_MUTATION names m. An unknown name stops the
// service before it listens, so a typo cannot pass for the correct build.
func Mutation(m string) bool {
	return slices.Contains(mutations, m)
}

var mutations = func() []string {
	var on []string
	for _, m := range strings.Split(os.Getenv("DEMO_MUTATION"), ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		if !slices.Contains(Mutations, m) {
			fmt.Fprintf(os.Stderr, "unknown DEMO_MUTATION %q; known: %s\n", m, strings.Join(Mutations, ", "))
			os.Exit(2)
		}
		on = append(on, m)
	}
	return on
}()

// JSON writes v with status.
func JSON(w http.ResponseWriter, status int, v any) {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// metrics writes the series the harness reads, in the Prometheus text format.
func metrics(w http.ResponseWriter, _ *http.Request) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fds, _ := os.ReadDir("/proc/self/fd")
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
	fmt.Fprintf(w, "# TYPE go_memstats_alloc_bytes gauge\ngo_memstats_alloc_bytes %d\n", m.HeapAlloc)
	fmt.Fprintf(w, "# TYPE go_memstats_heap_inuse_bytes gauge\ngo_memstats_heap_inuse_bytes %d\n", m.HeapInuse)
	fmt.Fprintf(w, "# TYPE process_open_fds gauge\nprocess_open_fds %d\n", len(fds))
}

// Serve adds /healthz and /metrics to mux, with pprof beside them, and serves
// on $PORT until SIGTERM.
func Serve(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /metrics", metrics)
	mux.Handle("/debug/pprof/", http.DefaultServeMux)
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	srv := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	log.Printf("listening on :%s, mutations %v", port, mutations)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
