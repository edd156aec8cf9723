// Stock and reservations. A reservation is keyed by the caller's Idempotency-Key, so a
// retried reservation is answered from the first one instead of taking stock twice.
package main

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"chaosharness/compose/internal/platform"
)

const schema = `
CREATE TABLE IF NOT EXISTS products (
	id    INTEGER PRIMARY KEY,
	stock INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reservations (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	idem_key   TEXT UNIQUE,          -- NULL when the caller sent no Idempotency-Key
	item       INTEGER NOT NULL,
	quantity   INTEGER NOT NULL,
	request_id TEXT NOT NULL,
	created_at TEXT NOT NULL
);`

// Product is the wire shape of one product's stock.
type Product struct {
	ID    int `json:"id"`
	Stock int `json:"stock"`
}

// Reservation is the wire shape of one reservation.
type Reservation struct {
	Seq       int64  `json:"seq"`
	Key       string `json:"idempotency_key"`
	Item      int    `json:"item"`
	Quantity  int    `json:"quantity"`
	StockLeft int    `json:"stock_left"`
	RequestID string `json:"request_id"`
	CreatedAt string `json:"created_at"`
	Replayed  bool   `json:"replayed,omitempty"`
}

type store struct{ db *sql.DB }

var errOutOfStock = errors.New("not enough stock")

// openStore opens the database and, the first time only, stocks products 1..products.
func openStore(path string, products, initialStock int) (*store, error) {
	db, err := platform.OpenSQLite(path, schema)
	if err != nil {
		return nil, err
	}
	for id := 1; id <= products; id++ {
		if _, err := db.Exec(`INSERT OR IGNORE INTO products (id, stock) VALUES (?, ?)`, id, initialStock); err != nil {
			db.Close()
			return nil, err
		}
	}
	return &store{db: db}, nil
}

func (s *store) routes(r gin.IRouter) {
	r.GET("/products", s.listProducts)
	r.GET("/products/:id", s.getProduct)
	r.POST("/reservations", s.reserve)
	r.GET("/reservations", s.listReservations)
}

func (s *store) getProduct(c *gin.Context) {
	id, err := strconv.Atoi(c.Param("id"))
	if err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": "product id must be an integer"})
		return
	}
	p := Product{ID: id}
	err = s.db.QueryRowContext(c.Request.Context(), `SELECT stock FROM products WHERE id = ?`, id).Scan(&p.Stock)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		c.JSON(http.StatusNotFound, gin.H{"error": "no such product"})
	case err != nil:
		c.JSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
	default:
		c.JSON(http.StatusOK, p)
	}
}

func (s *store) listProducts(c *gin.Context) {
	rows, err := s.db.QueryContext(c.Request.Context(), `SELECT id, stock FROM products ORDER BY id`)
	if err != nil {
		c.JSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
		return
	}
	defer rows.Close()
	products := []Product{}
	for rows.Next() {
		var p Product
		if err := rows.Scan(&p.ID, &p.Stock); err != nil {
			c.JSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
			return
		}
		products = append(products, p)
	}
	c.JSON(http.StatusOK, products)
}

// reserve takes quantity units of item. With an Idempotency-Key already seen it answers
// the first reservation again (200) and takes nothing; otherwise it takes the stock and
// records the reservation in one transaction (201), or answers 409 when stock is short.
func (s *store) reserve(c *gin.Context) {
	var body struct {
		Item     int `json:"item" binding:"required"`
		Quantity int `json:"quantity" binding:"required,min=1"`
	}
	if err := c.ShouldBindJSON(&body); err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": "want JSON {item, quantity>=1}: " + err.Error()})
		return
	}
	key := c.GetHeader("Idempotency-Key")
	r, err := s.reserveTx(c.Request.Context(), key, body.Item, body.Quantity, platform.RequestID(c.Request.Context()))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		c.JSON(http.StatusNotFound, gin.H{"error": "no such product"})
	case errors.Is(err, errOutOfStock):
		c.JSON(http.StatusConflict, gin.H{"error": err.Error()})
	case err != nil:
		c.JSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
	case r.Replayed:
		c.JSON(http.StatusOK, r)
	default:
		c.JSON(http.StatusCreated, r)
	}
}

func (s *store) reserveTx(ctx context.Context, key string, item, quantity int, requestID string) (Reservation, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Reservation{}, err
	}
	defer tx.Rollback()
	r := Reservation{Key: key, Item: item, Quantity: quantity, RequestID: requestID}
	if key != "" {
		err := tx.QueryRow(`SELECT r.seq, r.item, r.quantity, r.request_id, r.created_at, p.stock
			FROM reservations r JOIN products p ON p.id = r.item WHERE r.idem_key = ?`, key).
			Scan(&r.Seq, &r.Item, &r.Quantity, &r.RequestID, &r.CreatedAt, &r.StockLeft)
		if err == nil {
			r.Replayed = true
			return r, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return Reservation{}, err
		}
	}
	if err := tx.QueryRow(`SELECT stock FROM products WHERE id = ?`, item).Scan(&r.StockLeft); err != nil {
		return Reservation{}, err
	}
	if r.StockLeft < quantity {
		return Reservation{}, errOutOfStock
	}
	r.StockLeft -= quantity
	r.CreatedAt = time.Now().UTC().Format(time.RFC3339Nano)
	if _, err := tx.Exec(`UPDATE products SET stock = ? WHERE id = ?`, r.StockLeft, item); err != nil {
		return Reservation{}, err
	}
	res, err := tx.Exec(`INSERT INTO reservations (idem_key, item, quantity, request_id, created_at)
		VALUES (NULLIF(?, ''), ?, ?, ?, ?)`, key, item, quantity, requestID, r.CreatedAt)
	if err != nil {
		return Reservation{}, err
	}
	if r.Seq, err = res.LastInsertId(); err != nil {
		return Reservation{}, err
	}
	return r, tx.Commit()
}

func (s *store) listReservations(c *gin.Context) {
	rows, err := s.db.QueryContext(c.Request.Context(), `SELECT seq, COALESCE(idem_key, ''), item, quantity, request_id, created_at
		FROM reservations ORDER BY seq`)
	if err != nil {
		c.JSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
		return
	}
	defer rows.Close()
	list := []Reservation{}
	for rows.Next() {
		var r Reservation
		if err := rows.Scan(&r.Seq, &r.Key, &r.Item, &r.Quantity, &r.RequestID, &r.CreatedAt); err != nil {
			c.JSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
			return
		}
		list = append(list, r)
	}
	c.JSON(http.StatusOK, list)
}
