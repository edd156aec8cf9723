// GET /products/:id: the article's timeout pattern (the downstream call on its own
// goroutine, the handler selecting on the result or the deadline) and a degraded answer
// from the cache when inventory cannot be reached.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"chaosharness/compose/internal/platform"
)

// Product is a product's stock as the gateway answers it.
type Product struct {
	ID       int    `json:"id"`
	Stock    int    `json:"stock"`
	Degraded bool   `json:"degraded,omitempty"`  // answered from the cache
	CachedAt string `json:"cached_at,omitempty"` // when the cached answer was fresh
}

// errBadReply: the downstream answered 2xx with a body the gateway cannot read.
var errBadReply = errors.New("unreadable reply")

type productResult struct {
	product Product
	err     error
}

func (g *gateway) getProduct(c *gin.Context) {
	id, err := strconv.Atoi(c.Param("id"))
	if err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": "product id must be an integer"})
		return
	}
	// A read is one attempt (it carries no idempotency key), so its budget is one
	// downstream deadline.
	ctx, cancel := g.requestContext(c, g.cfg.DownstreamTimeout)
	defer cancel()

	// Capacity 1: the worker's send always succeeds, even after the handler has stopped
	// listening, so the worker can always exit.
	results := make(chan productResult, 1)
	if g.svc.Bugs.On(platform.BugLeakOnTimeout) {
		// Seeded bug leak-on-timeout: an unbuffered channel. Once the handler has given
		// up nobody will ever receive, and the worker blocks on its send forever.
		results = make(chan productResult)
	}
	workerAnswers := g.svc.Bugs.On(platform.BugResponseFromGoroutine)

	worker := func() {
		// Deferred, so the handler hears back even when decoding the reply panics.
		r := productResult{err: fmt.Errorf("inventory: %w", errBadReply)}
		defer func() {
			if workerAnswers {
				// Seeded bug response-from-goroutine: the worker writes the reply itself.
				// When the deadline passes it races the handler's 504, or writes into a
				// gin.Context that has been recycled for another request.
				g.answerProduct(c, id, r)
			}
			results <- r
		}()
		r.product, r.err = g.fetchProduct(ctx, id)
	}
	if g.svc.Bugs.On(platform.BugPanicInGoroutine) {
		// Seeded bug panic-in-goroutine: a bare go statement. If the reply makes
		// decodeProduct panic, nothing recovers it and the whole process dies.
		go worker()
	} else {
		g.svc.SafeGo("fetch product", worker)
	}

	select {
	case r := <-results:
		if !workerAnswers {
			g.answerProduct(c, id, r)
		}
	case <-ctx.Done():
		g.answerProduct(c, id, productResult{err: fmt.Errorf("inventory: %w", ctx.Err())})
	}
}

// answerProduct writes the product, or when inventory cannot be reached the cached copy
// marked degraded, or the failure.
func (g *gateway) answerProduct(c *gin.Context, id int, r productResult) {
	if r.err == nil {
		g.cache.put(r.product)
		c.JSON(http.StatusOK, r.product)
		return
	}
	if unreachable(r.err) {
		if g.svc.Bugs.On(platform.BugNoFallback) {
			// Seeded bug no-fallback: no degraded answer, just an error.
			c.JSON(http.StatusInternalServerError, gin.H{"error": r.err.Error()})
			return
		}
		if p, ok := g.cache.get(id); ok {
			g.fallbacks.Inc()
			c.JSON(http.StatusOK, p)
			return
		}
	}
	g.fail(c, r.err)
}

// unreachable reports failures that mean inventory cannot be reached at all (refused or
// broken connections, a proxy that answers 502/503, or the breaker fast-failing) as
// opposed to a slow answer (504: the budget is the client's business) or a refusal.
func unreachable(err error) bool {
	var se *statusError
	switch {
	case errors.Is(err, errBreakerOpen):
		return true
	case errors.Is(err, errShed), errors.Is(err, errBadReply),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return false
	case errors.As(err, &se):
		return se.status == http.StatusBadGateway || se.status == http.StatusServiceUnavailable
	default:
		return true // transport errors: refused, reset, EOF, no such host
	}
}

func (g *gateway) fetchProduct(ctx context.Context, id int) (Product, error) {
	r, err := g.inventory.call(ctx, http.MethodGet, "/products/"+strconv.Itoa(id), "", nil)
	if err != nil {
		return Product{}, err
	}
	return decodeProduct(r.body)
}

// decodeProduct reads inventory's reply the way much real code does: it trusts the
// documented shape. A reply of another shape (null, a list, a string where a number
// belongs) makes the type assertions panic. The gateway keeps that latent mistake on
// purpose: it is what malformed-reply faults provoke and what the recover nets (SafeGo,
// gin.Recovery) exist for. Unparseable JSON (a truncated body) is an ordinary error.
func decodeProduct(body []byte) (Product, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return Product{}, fmt.Errorf("inventory: %w: %v", errBadReply, err)
	}
	return Product{ID: int(m["id"].(float64)), Stock: int(m["stock"].(float64))}, nil
}

// warmCache fills the product cache once at start-up, so that reads have a degraded
// answer to fall back on even for products nobody has read yet. It is a head start, not
// a dependency: it bypasses the bulkhead and breaker (so start-up failures never open
// it) and gives up after a few tries.
func (g *gateway) warmCache() {
	for try := 1; try <= 5; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), g.cfg.DownstreamTimeout)
		r, err := g.inventory.attempt(ctx, http.MethodGet, "/products", "", nil)
		cancel()
		var products []Product
		if err == nil && json.Unmarshal(r.body, &products) == nil {
			for _, p := range products {
				g.cache.put(p)
			}
			g.svc.Log.Info("product cache warmed", "products", len(products))
			return
		}
		time.Sleep(time.Duration(try) * 500 * time.Millisecond)
	}
	g.svc.Log.Warn("product cache not warmed: inventory did not answer; it fills as products are read")
}

// productCache keeps the last good answer per product for degraded reads.
type productCache struct {
	mu       sync.Mutex
	products map[int]Product
}

func newProductCache() *productCache { return &productCache{products: map[int]Product{}} }

func (pc *productCache) put(p Product) {
	p.Degraded, p.CachedAt = true, time.Now().UTC().Format(time.RFC3339Nano)
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.products[p.ID] = p
}

func (pc *productCache) get(id int) (Product, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	p, ok := pc.products[id]
	return p, ok
}
