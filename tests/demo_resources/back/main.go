// Command back is the demo's downstream: items to read and a stock to reserve
// from. Its state adds up: stock + reserved = INITIAL_STOCK at every moment.
//
// Mutation unlocked-counter: a reservation reads the stock, does its work and
// writes the stock back without a lock, so concurrent reservations lose each
// other's decrements while every one of them is counted as reserved.
package main

import (
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"chaosharness/demo/internal/chassis"
)

// work is what a reservation does besides counting (a check, a write elsewhere).
const work = 20 * time.Millisecond

type stock struct {
	mu       sync.Mutex
	initial  int64
	left     atomic.Int64
	reserved atomic.Int64
}

func (s *stock) reserve() (int64, bool) {
	if chassis.Mutation("unlocked-counter") {
		left := s.left.Load()
		if left <= 0 {
			return 0, false
		}
		time.Sleep(work)       // between the read and the write
		s.left.Store(left - 1) // another reservation's decrement is lost
		s.reserved.Add(1)
		return left - 1, true
	}
	time.Sleep(work) // before taking the lock: reservations still run side by side
	s.mu.Lock()
	defer s.mu.Unlock()
	left := s.left.Load()
	if left <= 0 {
		return 0, false
	}
	s.left.Store(left - 1)
	s.reserved.Add(1)
	return left - 1, true
}

func main() {
	initial, err := strconv.ParseInt(os.Getenv("INITIAL_STOCK"), 10, 64)
	if err != nil {
		initial = 1000000
	}
	s := &stock{initial: initial}
	s.left.Store(initial)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		chassis.JSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id"), "name": "item"})
	})
	mux.HandleFunc("POST /reserve", func(w http.ResponseWriter, r *http.Request) {
		left, ok := s.reserve()
		if !ok {
			chassis.JSON(w, http.StatusConflict, map[string]string{"error": "out of stock"})
			return
		}
		chassis.JSON(w, http.StatusCreated, map[string]int64{"stock_left": left})
	})
	mux.HandleFunc("POST /audit", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /state", func(w http.ResponseWriter, r *http.Request) {
		chassis.JSON(w, http.StatusOK, map[string]int64{
			"initial": s.initial, "stock": s.left.Load(), "reserved": s.reserved.Load(),
		})
	})
	chassis.Serve(mux)
}
