// The gateway's wiring: its downstreams, database, metrics and routes, the request budget,
// and how downstream failures become HTTP answers.
package main

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"chaosharness/compose/internal/platform"
)

const schema = `
CREATE TABLE IF NOT EXISTS orders (
	id              TEXT PRIMARY KEY,
	idem_key        TEXT NOT NULL UNIQUE,
	item            INTEGER NOT NULL,
	quantity        INTEGER NOT NULL,
	amount          INTEGER NOT NULL,
	reservation_seq INTEGER NOT NULL,
	charge_id       INTEGER NOT NULL,
	request_id      TEXT NOT NULL,
	created_at      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	kind        TEXT NOT NULL,
	order_id    TEXT NOT NULL,
	request_id  TEXT NOT NULL,
	stock_after INTEGER,
	created_at  TEXT NOT NULL
);`

type gateway struct {
	svc       *platform.Service
	cfg       config
	db        *sql.DB
	inventory *downstream
	payment   *downstream
	cache     *productCache
	audit     *auditLog

	handled      atomic.Int64 // acknowledged orders
	handledPlain int64        // the same count, unsynchronised: only under shared-counter-race

	fallbacks prometheus.Counter
}

func newGateway(svc *platform.Service, cfg config) (*gateway, error) {
	db, err := platform.OpenSQLite(cfg.DBPath, schema)
	if err != nil {
		return nil, err
	}
	m := newDownstreamMetrics(svc)
	g := &gateway{
		svc:       svc,
		cfg:       cfg,
		db:        db,
		inventory: newDownstream(svc, cfg, m, "inventory", cfg.InventoryURL),
		payment:   newDownstream(svc, cfg, m, "payment", cfg.PaymentURL),
		cache:     newProductCache(),
		fallbacks: svc.Metrics.NewCounter(prometheus.CounterOpts{
			Name: "gateway_product_fallbacks_total",
			Help: "Product reads answered from the cache, marked degraded, because inventory could not be reached.",
		}),
	}
	g.audit = newAuditLog(svc, db, cfg.AuditQueue)
	svc.Metrics.NewCounterFunc(prometheus.CounterOpts{
		Name: "gateway_orders_handled_total",
		Help: "Orders acknowledged with 201 since start.",
	}, g.ordersHandled)
	// Scrapes let the breakers move from open to half-open on time even without traffic.
	svc.Registry.MustRegister(prometheus.CollectorFunc(func(chan<- prometheus.Metric) {
		g.inventory.refreshState()
		g.payment.refreshState()
	}))
	return g, nil
}

func (g *gateway) routes(r gin.IRouter) {
	api := r.Group("/", g.watchdog())
	api.GET("/products/:id", g.getProduct)
	api.POST("/orders", g.createOrder)
	api.GET("/orders", g.listOrders)
	api.GET("/orders/:id", g.getOrder)
	api.GET("/audit", g.listAudit)
}

// close finishes the audit queue and closes the database, within the drain budget.
func (g *gateway) close(ctx context.Context) {
	if g.audit.drain(ctx) {
		g.db.Close()
	}
}

// requestContext is where a request's downstream work gets its budget: the request's own
// context (a client that gives up cancels the work; it also carries the request ID) with
// a deadline budget from now.
func (g *gateway) requestContext(c *gin.Context, budget time.Duration) (context.Context, context.CancelFunc) {
	if g.svc.Bugs.On(platform.BugNoDeadline) {
		// Seeded bug no-deadline: no deadline and no link to the client; the work runs
		// as long as the downstream takes.
		return platform.WithRequestID(context.Background(), platform.RequestID(c.Request.Context())), func() {}
	}
	return context.WithTimeout(c.Request.Context(), budget)
}

// fail answers a request whose downstream call failed, with a status that tells the client
// what happened: 503 + Retry-After for shed and fast-failed calls, 504 when the deadline
// passed, the downstream's own 4xx, and 502 for anything else.
func (g *gateway) fail(c *gin.Context, err error) {
	id := platform.RequestID(c.Request.Context())
	var se *statusError
	status := http.StatusBadGateway
	switch {
	case errors.Is(err, errShed):
		status = http.StatusServiceUnavailable
		c.Header("Retry-After", "1")
	case errors.Is(err, errBreakerOpen):
		status = http.StatusServiceUnavailable
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(g.cfg.BreakerTimeout.Seconds()))))
	case errors.Is(err, context.DeadlineExceeded):
		status = http.StatusGatewayTimeout
	case errors.Is(err, context.Canceled):
		status = http.StatusServiceUnavailable // the client has gone; nobody reads this
	case errors.As(err, &se) && se.status/100 == 4:
		status = se.status
	}
	g.svc.Log.Warn("downstream call failed", "err", err.Error(), "status", status, "request_id", id)
	c.JSON(status, gin.H{"error": err.Error(), "request_id": id})
}

// countHandled counts one acknowledged order.
func (g *gateway) countHandled() {
	if g.svc.Bugs.On(platform.BugSharedCounterRace) {
		// Seeded bug shared-counter-race: a plain increment from many handler goroutines
		// at once loses updates (and the race detector reports it).
		g.handledPlain++
		return
	}
	g.handled.Add(1)
}

func (g *gateway) ordersHandled() float64 {
	if g.svc.Bugs.On(platform.BugSharedCounterRace) {
		return float64(g.handledPlain)
	}
	return float64(g.handled.Load())
}
