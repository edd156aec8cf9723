// A trivial HTTP server for bench/load.py when the reference inventory binary is not built:
// GET /healthz answers 200 "ok" with keep-alive, nothing else. Standard library only, so it
// builds without fetching modules. Listens on 127.0.0.1:$PORT (loopback only).
package main

import (
	"log"
	"net/http"
	"os"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok"))
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:"+port, mux))
}
