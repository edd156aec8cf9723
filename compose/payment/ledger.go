// The charge ledger. A charge with an Idempotency-Key already seen is answered from the
// first one (200) and charges nothing; a charge without a key is always a new charge,
// which is why a caller may only retry a charge that carries a key.
package main

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"chaosharness/compose/internal/platform"
)

const schema = `
CREATE TABLE IF NOT EXISTS charges (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	idem_key   TEXT UNIQUE,          -- NULL when the caller sent no Idempotency-Key
	order_ref  TEXT NOT NULL,
	amount     INTEGER NOT NULL,
	request_id TEXT NOT NULL,
	created_at TEXT NOT NULL
);`

// Charge is the wire shape of one charge.
type Charge struct {
	ID        int64  `json:"id"`
	Key       string `json:"idempotency_key"`
	OrderRef  string `json:"order_ref"`
	Amount    int    `json:"amount"`
	RequestID string `json:"request_id"`
	CreatedAt string `json:"created_at"`
	Replayed  bool   `json:"replayed,omitempty"`
}

type ledger struct{ db *sql.DB }

func openLedger(path string) (*ledger, error) {
	db, err := platform.OpenSQLite(path, schema)
	if err != nil {
		return nil, err
	}
	return &ledger{db: db}, nil
}

func (l *ledger) routes(r gin.IRouter) {
	r.POST("/charges", l.charge)
	r.GET("/charges", l.list)
}

func (l *ledger) charge(c *gin.Context) {
	var body struct {
		OrderRef string `json:"order_ref" binding:"required"`
		Amount   int    `json:"amount" binding:"required,min=1"`
	}
	if err := c.ShouldBindJSON(&body); err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": "want JSON {order_ref, amount>=1}: " + err.Error()})
		return
	}
	ch, err := l.chargeTx(c.Request.Context(), Charge{
		Key: c.GetHeader("Idempotency-Key"), OrderRef: body.OrderRef, Amount: body.Amount,
		RequestID: platform.RequestID(c.Request.Context()),
	})
	switch {
	case err != nil:
		c.JSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
	case ch.Replayed:
		c.JSON(http.StatusOK, ch)
	default:
		c.JSON(http.StatusCreated, ch)
	}
}

func (l *ledger) chargeTx(ctx context.Context, ch Charge) (Charge, error) {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return Charge{}, err
	}
	defer tx.Rollback()
	if ch.Key != "" {
		first := Charge{Key: ch.Key, Replayed: true}
		err := tx.QueryRow(`SELECT id, order_ref, amount, request_id, created_at FROM charges WHERE idem_key = ?`, ch.Key).
			Scan(&first.ID, &first.OrderRef, &first.Amount, &first.RequestID, &first.CreatedAt)
		if err == nil {
			return first, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return Charge{}, err
		}
	}
	ch.CreatedAt = time.Now().UTC().Format(time.RFC3339Nano)
	res, err := tx.Exec(`INSERT INTO charges (idem_key, order_ref, amount, request_id, created_at)
		VALUES (NULLIF(?, ''), ?, ?, ?, ?)`, ch.Key, ch.OrderRef, ch.Amount, ch.RequestID, ch.CreatedAt)
	if err != nil {
		return Charge{}, err
	}
	if ch.ID, err = res.LastInsertId(); err != nil {
		return Charge{}, err
	}
	return ch, tx.Commit()
}

func (l *ledger) list(c *gin.Context) {
	rows, err := l.db.QueryContext(c.Request.Context(),
		`SELECT id, COALESCE(idem_key, ''), order_ref, amount, request_id, created_at FROM charges ORDER BY id`)
	if err != nil {
		c.JSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
		return
	}
	defer rows.Close()
	list := []Charge{}
	for rows.Next() {
		var ch Charge
		if err := rows.Scan(&ch.ID, &ch.Key, &ch.OrderRef, &ch.Amount, &ch.RequestID, &ch.CreatedAt); err != nil {
			c.JSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
			return
		}
		list = append(list, ch)
	}
	c.JSON(http.StatusOK, list)
}
