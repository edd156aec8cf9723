// Audit events: after an order is acknowledged, a goroutine reads the stock left at
// inventory and queues an event carrying the request's ID; one writer goroutine stores
// the queue in SQLite, and shutdown drains the queue. GET /audit lists the events.
package main

import (
	"context"
	"database/sql"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"chaosharness/compose/internal/platform"
)

// AuditEvent records an async side effect and the request that caused it.
type AuditEvent struct {
	Seq        int64  `json:"seq"`
	Kind       string `json:"kind"`
	OrderID    string `json:"order_id"`
	RequestID  string `json:"request_id"`
	StockAfter *int   `json:"stock_after"` // null when inventory could not say
	CreatedAt  string `json:"created_at"`
}

type auditLog struct {
	svc     *platform.Service
	db      *sql.DB
	queue   chan AuditEvent
	pending sync.WaitGroup // goroutines still building an event
	written chan struct{}  // closed when the writer has stored the whole queue
	dropped prometheus.Counter
}

func newAuditLog(svc *platform.Service, db *sql.DB, size int) *auditLog {
	a := &auditLog{
		svc:     svc,
		db:      db,
		queue:   make(chan AuditEvent, size),
		written: make(chan struct{}),
		dropped: svc.Metrics.NewCounter(prometheus.CounterOpts{
			Name: "gateway_audit_dropped_total",
			Help: "Audit events dropped because the queue was full.",
		}),
	}
	svc.SafeGo("audit writer", a.write)
	return a
}

// write stores queued events until the queue is closed and empty.
func (a *auditLog) write() {
	defer close(a.written)
	for ev := range a.queue {
		if _, err := a.db.Exec(`INSERT INTO audit (kind, order_id, request_id, stock_after, created_at) VALUES (?, ?, ?, ?, ?)`,
			ev.Kind, ev.OrderID, ev.RequestID, ev.StockAfter, ev.CreatedAt); err != nil {
			a.svc.Log.Error("cannot store audit event", "err", err, "order_id", ev.OrderID, "request_id", ev.RequestID)
		}
	}
}

func (a *auditLog) enqueue(ev AuditEvent) {
	select {
	case a.queue <- ev:
	default: // never block a request's goroutine on the audit trail
		a.dropped.Inc()
		a.svc.Log.Error("audit queue full; event dropped", "order_id", ev.OrderID, "request_id", ev.RequestID)
	}
}

// drain waits for the event builders, then lets the writer empty the queue. It reports
// whether everything was stored within ctx's budget.
func (a *auditLog) drain(ctx context.Context) bool {
	built := make(chan struct{})
	a.svc.SafeGo("audit drain", func() { a.pending.Wait(); close(built) })
	select {
	case <-built:
	case <-ctx.Done():
		a.svc.Log.Error("drain budget spent before audit events were built")
		return false
	}
	close(a.queue) // safe now: the server has stopped and every builder is done
	select {
	case <-a.written:
		return true
	case <-ctx.Done():
		a.svc.Log.Error("drain budget spent before the audit queue was stored", "left", len(a.queue))
		return false
	}
}

// emitAudit builds the order's audit event on its own goroutine, after the reply.
func (g *gateway) emitAudit(c *gin.Context, o Order) {
	// The article's rule: a goroutine that outlives the handler gets a copy of the
	// gin.Context, never the Context itself, which gin recycles for the next request.
	snapshot := c.Copy()
	if g.svc.Bugs.On(platform.BugContextNotCopied) {
		// Seeded bug context-not-copied: the goroutine keeps the live Context, so the
		// request ID it reads later may belong to another request (or be gone).
		snapshot = c
	}
	// Outlives the request (no cancel) but keeps its values (the request ID for logs and
	// downstream headers), with a budget of its own.
	base := context.WithoutCancel(c.Request.Context())
	g.audit.pending.Add(1)
	g.svc.SafeGo("audit event", func() {
		defer g.audit.pending.Done()
		ctx, cancel := context.WithTimeout(base, g.cfg.AuditTimeout)
		defer cancel()
		ev := AuditEvent{Kind: "order_created", OrderID: o.ID, StockAfter: g.stockLeft(ctx, o.Item)}
		ev.RequestID = snapshot.GetString("request_id")
		ev.CreatedAt = time.Now().UTC().Format(time.RFC3339Nano)
		g.audit.enqueue(ev)
	})
}

// stockLeft asks inventory for the stock now; nil when it cannot say in time or says
// something unreadable. Guarded: a reply of the wrong shape panics in decodeProduct, and
// the event must still be stored (found by the exploration: the panic, recovered by
// SafeGo, used to take the whole event with it).
func (g *gateway) stockLeft(ctx context.Context, item int) *int {
	var p Product
	read := g.svc.Guard("audit stock read", func() (err error) {
		p, err = g.fetchProduct(ctx, item)
		return err
	})
	if read() != nil {
		return nil
	}
	return &p.Stock
}

func (g *gateway) listAudit(c *gin.Context) {
	rows, err := g.db.QueryContext(c.Request.Context(),
		`SELECT seq, kind, order_id, request_id, stock_after, created_at FROM audit ORDER BY seq`)
	if err != nil {
		c.JSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
		return
	}
	defer rows.Close()
	events := []AuditEvent{}
	for rows.Next() {
		var ev AuditEvent
		var stock sql.NullInt64
		if err := rows.Scan(&ev.Seq, &ev.Kind, &ev.OrderID, &ev.RequestID, &stock, &ev.CreatedAt); err != nil {
			c.JSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
			return
		}
		if stock.Valid {
			n := int(stock.Int64)
			ev.StockAfter = &n
		}
		events = append(events, ev)
	}
	c.JSON(http.StatusOK, events)
}
