// The gateway's handlers and its client for inventory.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"chaosharness/compose/internal/platform"
)

type gateway struct {
	svc  *platform.Service
	cfg  config
	http *http.Client
}

func newGateway(svc *platform.Service, cfg config) *gateway {
	return &gateway{svc: svc, cfg: cfg, http: &http.Client{}}
}

func (g *gateway) routes(r gin.IRouter) {
	r.GET("/products/:id", g.getProduct)
}

// Product is inventory's answer for one product.
type Product struct {
	ID    int `json:"id"`
	Stock int `json:"stock"`
}

// errDownstream wraps a downstream reply that was not 2xx.
type errDownstream struct{ status int }

func (e errDownstream) Error() string { return fmt.Sprintf("downstream answered %d", e.status) }

// fetchProduct asks inventory for one product; ctx carries both the deadline and the
// request ID that goes out as X-Request-ID.
func (g *gateway) fetchProduct(ctx context.Context, id int) (Product, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.cfg.InventoryURL+"/products/"+strconv.Itoa(id), nil)
	if err != nil {
		return Product{}, err
	}
	platform.SetRequestID(req)
	resp, err := g.http.Do(req)
	if err != nil {
		return Product{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return Product{}, errDownstream{resp.StatusCode}
	}
	var p Product
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		return Product{}, fmt.Errorf("decode inventory reply: %w", err)
	}
	return p, nil
}

type productResult struct {
	product Product
	err     error
}

// getProduct is the article's timeout pattern: the downstream call runs on its own
// goroutine (through SafeGo) and the handler waits for whichever comes first, the result
// or the deadline.
func (g *gateway) getProduct(c *gin.Context) {
	id, err := strconv.Atoi(c.Param("id"))
	if err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": "product id must be an integer"})
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), g.cfg.DownstreamTimeout)
	defer cancel()

	// Capacity 1: the worker's send always succeeds, even after the handler stopped
	// listening, so the worker can exit.
	results := make(chan productResult, 1)
	if g.svc.Bugs.On(platform.BugLeakOnTimeout) {
		// Seeded bug leak-on-timeout: an unbuffered channel. Once the handler has given up
		// nobody will ever receive, and the worker blocks on its send forever.
		results = make(chan productResult)
	}
	g.svc.SafeGo("fetch product", func() {
		p, err := g.fetchProduct(ctx, id)
		results <- productResult{p, err}
	})

	select {
	case r := <-results:
		if r.err != nil {
			g.downstreamFailed(c, "inventory", r.err)
			return
		}
		c.JSON(http.StatusOK, r.product)
	case <-ctx.Done():
		g.downstreamFailed(c, "inventory", ctx.Err())
	}
}

// downstreamFailed answers 504 when the deadline passed and 502 for any other failure.
func (g *gateway) downstreamFailed(c *gin.Context, downstream string, err error) {
	status := http.StatusBadGateway
	if errors.Is(err, context.DeadlineExceeded) {
		status = http.StatusGatewayTimeout
	}
	g.svc.Log.Warn("downstream call failed", "downstream", downstream, "err", err.Error(),
		"request_id", platform.RequestID(c.Request.Context()))
	c.JSON(status, gin.H{"error": fmt.Sprintf("%s: %v", downstream, err),
		"request_id": platform.RequestID(c.Request.Context())})
}
