// POST /orders, GET /orders, GET /orders/:id: an order reserves stock and charges payment
// in parallel (an errgroup fan-out), is stored in SQLite, and emits an audit event.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/sync/errgroup"

	"chaosharness/compose/internal/platform"
)

// Order is an acknowledged order.
type Order struct {
	ID             string `json:"id"`
	IdempotencyKey string `json:"idempotency_key"`
	Item           int    `json:"item"`
	Quantity       int    `json:"quantity"`
	Amount         int    `json:"amount"`
	ReservationSeq int64  `json:"reservation_seq"`
	ChargeID       int64  `json:"charge_id"`
	RequestID      string `json:"request_id"`
	CreatedAt      string `json:"created_at"`
}

type orderRequest struct {
	Item     int `json:"item" binding:"required"`
	Quantity int `json:"quantity" binding:"required,min=1"`
}

// createOrder answers 201 with the new order, or 200 with the order already made under
// the same Idempotency-Key, so a client may retry a POST safely.
func (g *gateway) createOrder(c *gin.Context) {
	var req orderRequest
	if err := c.ShouldBindJSON(&req); err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": "want JSON {item, quantity>=1}: " + err.Error()})
		return
	}
	key := c.GetHeader("Idempotency-Key")
	if key != "" {
		if o, err := g.orderByKey(c.Request.Context(), key); err == nil {
			c.JSON(http.StatusOK, o)
			return
		}
	}
	o := Order{ID: platform.NewRequestID(), IdempotencyKey: key, Item: req.Item, Quantity: req.Quantity,
		Amount: req.Quantity * g.cfg.UnitPrice, RequestID: platform.RequestID(c.Request.Context())}
	if o.IdempotencyKey == "" {
		// Keyed anyway, so the gateway's own retries downstream stay safe.
		o.IdempotencyKey = "gw-" + o.ID
	}

	ctx, cancel := g.requestContext(c, g.cfg.RequestTimeout)
	defer cancel()
	reservation, charge, err := g.reserveAndCharge(ctx, o)
	if err != nil {
		g.fail(c, err)
		return
	}
	// Decoded here, on the handler goroutine: a reply of an unexpected shape panics in the
	// handler, where gin.Recovery turns it into a 500 (see decodeProduct).
	o.ReservationSeq = decodeID(reservation.body, "seq")
	o.ChargeID = decodeID(charge.body, "id")
	o.CreatedAt = time.Now().UTC().Format(time.RFC3339Nano)

	stored, created, err := g.storeOrder(c.Request.Context(), o)
	if err != nil {
		g.svc.Log.Error("cannot store order", "err", err, "request_id", o.RequestID)
		c.JSON(http.StatusInternalServerError, gin.H{"error": "cannot store order", "request_id": o.RequestID})
		return
	}
	if !created { // a concurrent request with the same key won
		c.JSON(http.StatusOK, stored)
		return
	}
	g.countHandled()
	g.emitAudit(c, stored)
	c.JSON(http.StatusCreated, stored)
}

// reserveAndCharge calls inventory and payment at the same time; both calls carry keys
// derived from the order's idempotency key, so retries (the gateway's or the client's)
// never take stock or money twice.
func (g *gateway) reserveAndCharge(ctx context.Context, o Order) (reservation, charge reply, err error) {
	reserve := func(ctx context.Context) (err error) {
		reservation, err = g.inventory.call(ctx, http.MethodPost, "/reservations", "reserve-"+o.IdempotencyKey,
			map[string]int{"item": o.Item, "quantity": o.Quantity})
		return err
	}
	pay := func(ctx context.Context) (err error) {
		charge, err = g.payment.call(ctx, http.MethodPost, "/charges", "charge-"+o.IdempotencyKey,
			map[string]any{"order_ref": o.IdempotencyKey, "amount": o.Amount})
		return err
	}
	if g.svc.Bugs.On(platform.BugWaitGroupMisuse) {
		err = g.fanOutWithWaitGroupBug(ctx, reserve, pay)
		return reservation, charge, err
	}
	// errgroup: wait for both, keep the first error, and cancel the other call once one
	// has failed. Guard recovers a panic inside a call (errgroup starts bare goroutines).
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(g.svc.Guard("reserve stock", func() error { return reserve(ctx) }))
	eg.Go(g.svc.Guard("charge payment", func() error { return pay(ctx) }))
	return reservation, charge, eg.Wait()
}

// fanOutWithWaitGroupBug: Seeded bug waitgroup-misuse: a hand-rolled WaitGroup fan-out
// whose error path returns before Done, so Wait blocks forever once either call fails.
func (g *gateway) fanOutWithWaitGroupBug(ctx context.Context, calls ...func(context.Context) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	wg.Add(len(calls))
	for _, call := range calls {
		g.svc.SafeGo("fan-out call", func() {
			if err := call(ctx); err != nil {
				mu.Lock()
				first = errors.Join(first, err)
				mu.Unlock()
				return // the bug: wg.Done() is skipped on this path
			}
			wg.Done()
		})
	}
	wg.Wait()
	return first
}

// decodeID reads a numeric field from a downstream's 2xx JSON reply. Like decodeProduct it
// trusts the documented shape and treats any other reply as impossible: it panics, here
// on the handler goroutine, where gin.Recovery turns the panic into a 500.
func decodeID(body []byte, field string) int64 {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		panic(fmt.Sprintf("unreadable reply %q: %v", body, err))
	}
	return int64(m[field].(float64))
}

const orderColumns = `id, idem_key, item, quantity, amount, reservation_seq, charge_id, request_id, created_at`

func scanOrder(row interface{ Scan(...any) error }) (Order, error) {
	var o Order
	err := row.Scan(&o.ID, &o.IdempotencyKey, &o.Item, &o.Quantity, &o.Amount, &o.ReservationSeq,
		&o.ChargeID, &o.RequestID, &o.CreatedAt)
	return o, err
}

func (g *gateway) orderByKey(ctx context.Context, key string) (Order, error) {
	return scanOrder(g.db.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE idem_key = ?`, key))
}

// storeOrder inserts o unless an order with its key exists; it returns the stored order
// and whether it was created now.
func (g *gateway) storeOrder(ctx context.Context, o Order) (Order, bool, error) {
	res, err := g.db.ExecContext(ctx, `INSERT INTO orders (`+orderColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (idem_key) DO NOTHING`,
		o.ID, o.IdempotencyKey, o.Item, o.Quantity, o.Amount, o.ReservationSeq, o.ChargeID, o.RequestID, o.CreatedAt)
	if err != nil {
		return Order{}, false, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return o, true, nil
	}
	existing, err := g.orderByKey(ctx, o.IdempotencyKey)
	return existing, false, err
}

func (g *gateway) listOrders(c *gin.Context) {
	rows, err := g.db.QueryContext(c.Request.Context(), `SELECT `+orderColumns+` FROM orders ORDER BY created_at, id`)
	if err != nil {
		c.JSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
		return
	}
	defer rows.Close()
	orders := []Order{}
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			c.JSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
			return
		}
		orders = append(orders, o)
	}
	c.JSON(http.StatusOK, orders)
}

func (g *gateway) getOrder(c *gin.Context) {
	o, err := scanOrder(g.db.QueryRowContext(c.Request.Context(), `SELECT `+orderColumns+` FROM orders WHERE id = ?`, c.Param("id")))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		c.JSON(http.StatusNotFound, gin.H{"error": "no such order"})
	case err != nil:
		c.JSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
	default:
		c.JSON(http.StatusOK, o)
	}
}
