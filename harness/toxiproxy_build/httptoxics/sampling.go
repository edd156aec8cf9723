// Sampling and attribute handling shared by every HTTP toxic: which responses
// are affected (rate + seed + response index) and how attributes are validated.

package httptoxics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sync/atomic"
)

// Sampling holds the attributes every HTTP toxic has. The n-th response a toxic
// sees (n = 0, 1, 2, ... counted across all connections of its proxy, restarting
// whenever its attributes are set) is affected iff Affects(n). Being a pure
// function of (seed, n), the same seed gives the same pattern for the same
// sequence of requests; that is why toxicity must stay 1.
type Sampling struct {
	Rate float64 `json:"rate"` // fraction of responses affected, 0..1
	Seed int64   `json:"seed"`
}

var defaultSampling = Sampling{Rate: 1}

// Affects reports whether the n-th response is affected:
//
//	u = splitmix64(splitmix64(uint64(seed)) + n); affected iff (u >> 11) / 2^53 < rate
//
// so that a client (the harness) can predict the pattern.
func (s Sampling) Affects(n uint64) bool {
	u := splitmix64(splitmix64(uint64(s.Seed)) + n)
	return float64(u>>11)/(1<<53) < s.Rate
}

func (s Sampling) validate() error {
	if math.IsNaN(s.Rate) || s.Rate < 0 || s.Rate > 1 {
		return fmt.Errorf("rate must be between 0 and 1, got %v", s.Rate)
	}
	return nil
}

// splitmix64 is the finaliser of Steele et al.'s SplitMix64: a cheap, well
// mixed, stateless 64-bit hash that is easy to reproduce in any language.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// settings is the attribute store of one toxic instance. Toxiproxy shares one
// toxic value between all connections of a proxy and decodes API updates into
// it while those connections run, so the attributes sit behind an atomic
// pointer and the response counter is atomic.
type settings[A any] struct {
	cur  atomic.Pointer[A]
	seen atomic.Uint64
}

// load returns the current attributes, or the defaults if none were set.
func (s *settings[A]) load(def A) A {
	if p := s.cur.Load(); p != nil {
		return *p
	}
	return def
}

// next claims the index of the next response this toxic sees.
func (s *settings[A]) next() uint64 { return s.seen.Add(1) - 1 }

// set decodes b over the current attributes (so a partial update keeps the
// other values, as Toxiproxy does for its own toxics), validates the result
// and only then stores it. Unknown names and wrong types are rejected too: a
// typo must not silently become a default. The API answers 400 with the error.
func (s *settings[A]) set(b []byte, def A, validate func(A) error) error {
	a := s.load(def)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return fmt.Errorf("attributes: %w", err)
	}
	if err := validate(a); err != nil {
		return fmt.Errorf("attributes: %w", err)
	}
	s.cur.Store(&a)
	s.seen.Store(0) // new attributes, new pattern: n restarts at 0
	return nil
}
