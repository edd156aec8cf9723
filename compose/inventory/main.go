// Command inventory is the reference system's stock service: it answers product stock
// reads for the gateway.
package main

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/gin-gonic/gin"

	"chaosharness/compose/internal/platform"
)

func main() {
	svc := platform.Main("inventory")
	newStore().routes(svc.Router)
	svc.Run()
}

// Product is the wire shape of one product's stock.
type Product struct {
	ID    int `json:"id"`
	Stock int `json:"stock"`
}

// store is an in-memory catalog of products 1..10 with 100 units each.
type store struct {
	mu    sync.Mutex
	stock map[int]int
}

func newStore() *store {
	s := &store{stock: map[int]int{}}
	for id := 1; id <= 10; id++ {
		s.stock[id] = 100
	}
	return s
}

func (s *store) routes(r gin.IRouter) {
	r.GET("/products/:id", s.getProduct)
}

func (s *store) getProduct(c *gin.Context) {
	id, err := strconv.Atoi(c.Param("id"))
	if err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": "product id must be an integer"})
		return
	}
	s.mu.Lock()
	stock, ok := s.stock[id]
	s.mu.Unlock()
	if !ok {
		c.JSON(http.StatusNotFound, gin.H{"error": "no such product"})
		return
	}
	c.JSON(http.StatusOK, Product{ID: id, Stock: stock})
}
