// Tests for the charge ledger: deduplication by key, and keyless charges.
package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"chaosharness/compose/internal/platform"
)

func TestChargesDedupedByKey(t *testing.T) {
	svc, err := platform.New("payment", platform.MapEnv(map[string]string{"LOG_LEVEL": "error"}))
	if err != nil {
		t.Fatal(err)
	}
	l, err := openLedger(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer l.db.Close()
	l.routes(svc.Router)
	charge := func(key string) int {
		req := httptest.NewRequest(http.MethodPost, "/charges", strings.NewReader(`{"order_ref":"o1","amount":300}`))
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		rec := httptest.NewRecorder()
		svc.Router.ServeHTTP(rec, req)
		return rec.Code
	}
	if a, b := charge("k1"), charge("k1"); a != http.StatusCreated || b != http.StatusOK {
		t.Fatalf("first %d, replay %d", a, b)
	}
	charge("")
	charge("")
	rec := httptest.NewRecorder()
	svc.Router.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/charges", nil))
	var list []Charge
	json.Unmarshal(rec.Body.Bytes(), &list)
	if len(list) != 3 {
		t.Fatalf("%d charges, want 3 (one keyed, two keyless): %s", len(list), rec.Body)
	}
}
