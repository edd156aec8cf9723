// Tests for stock and reservations: idempotent reservations, short stock, persistence.
package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"chaosharness/compose/internal/platform"
)

func newTestStore(t *testing.T, path string) *platform.Service {
	t.Helper()
	svc, err := platform.New("inventory", platform.MapEnv(map[string]string{"LOG_LEVEL": "error"}))
	if err != nil {
		t.Fatal(err)
	}
	s, err := openStore(path, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.db.Close() })
	s.routes(svc.Router)
	return svc
}

func call(svc *platform.Service, method, path, key, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	rec := httptest.NewRecorder()
	svc.Router.ServeHTTP(rec, req)
	return rec
}

func stock(t *testing.T, svc *platform.Service, id string) int {
	var p Product
	json.Unmarshal(call(svc, http.MethodGet, "/products/"+id, "", "").Body.Bytes(), &p)
	return p.Stock
}

func TestReservationIsIdempotent(t *testing.T) {
	svc := newTestStore(t, ":memory:")
	if rec := call(svc, http.MethodPost, "/reservations", "k1", `{"item":1,"quantity":2}`); rec.Code != http.StatusCreated {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	rec := call(svc, http.MethodPost, "/reservations", "k1", `{"item":1,"quantity":2}`)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"replayed":true`) {
		t.Fatalf("replay: %d %s", rec.Code, rec.Body)
	}
	if got := stock(t, svc, "1"); got != 3 {
		t.Fatalf("stock %d, want 3", got)
	}
	// Without a key every call takes stock.
	call(svc, http.MethodPost, "/reservations", "", `{"item":1,"quantity":1}`)
	call(svc, http.MethodPost, "/reservations", "", `{"item":1,"quantity":1}`)
	if got := stock(t, svc, "1"); got != 1 {
		t.Fatalf("stock %d, want 1", got)
	}
}

func TestReservationRefusals(t *testing.T) {
	svc := newTestStore(t, ":memory:")
	for body, want := range map[string]int{
		`{"item":1,"quantity":6}`: http.StatusConflict,
		`{"item":9,"quantity":1}`: http.StatusNotFound,
		`{"item":1}`:              http.StatusBadRequest,
	} {
		if rec := call(svc, http.MethodPost, "/reservations", "", body); rec.Code != want {
			t.Errorf("%s: %d, want %d", body, rec.Code, want)
		}
	}
}

func TestStockSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "inventory.db")
	svc := newTestStore(t, path)
	call(svc, http.MethodPost, "/reservations", "k1", `{"item":2,"quantity":4}`)
	svc = newTestStore(t, path) // a second process on the same file; stock is not re-seeded
	if got := stock(t, svc, "2"); got != 1 {
		t.Fatalf("stock %d after reopen, want 1", got)
	}
}
