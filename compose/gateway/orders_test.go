// Tests for the orders path: idempotency, audit events, keyed retries, the errgroup
// fan-out, recovery, the audit drain, and the seeded bugs on this path.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"chaosharness/compose/internal/platform"
)

var orderBody = map[string]int{"item": 1, "quantity": 2}

func (tg *testGateway) order(t *testing.T, key, requestID string) answer {
	h := map[string]string{}
	if key != "" {
		h["Idempotency-Key"] = key
	}
	if requestID != "" {
		h[platform.HeaderRequestID] = requestID
	}
	return tg.do(t, http.MethodPost, "/orders", h, orderBody)
}

// auditEvents waits until n audit events are stored and returns them.
func (tg *testGateway) auditEvents(t *testing.T, n int) []AuditEvent {
	t.Helper()
	var events []AuditEvent
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		events = nil
		if err := json.Unmarshal([]byte(tg.get(t, "/audit").body), &events); err != nil {
			t.Fatal(err)
		}
		if len(events) >= n {
			return events
		}
	}
	t.Fatalf("%d audit events after 5s, want %d", len(events), n)
	return nil
}

func TestOrderCreatedOnceAndAudited(t *testing.T) {
	pay := newFakePayment()
	g := newTestGateway(t, nil, &fakeInventory{}, pay)
	first := g.order(t, "k1", "req-1")
	if first.code != http.StatusCreated {
		t.Fatalf("%d %s", first.code, first.body)
	}
	again := g.order(t, "k1", "req-2")
	if again.code != http.StatusOK || again.body != first.body {
		t.Fatalf("replay: %d %s", again.code, again.body)
	}
	var o Order
	json.Unmarshal([]byte(first.body), &o)
	if a := g.get(t, "/orders/"+o.ID); a.code != 200 || a.body != first.body {
		t.Fatalf("GET /orders/:id: %d %s", a.code, a.body)
	}
	if ev := g.auditEvents(t, 1)[0]; ev.OrderID != o.ID || ev.RequestID != "req-1" || ev.StockAfter == nil {
		t.Fatalf("audit event %+v", ev)
	}
	if pay.chargesFor("k1") != 1 {
		t.Fatalf("charged %d times", pay.chargesFor("k1"))
	}
	if line := metricLine(t, g, "gateway_orders_handled_total"); line != "gateway_orders_handled_total 1" {
		t.Fatalf("metric: %q", line)
	}
}

// Inventory takes the reservation but answers the stock read after it with a body of the
// wrong shape: the order's audit event is still stored, without the stock.
func TestAuditEventSurvivesAnUnreadableStockReply(t *testing.T) {
	rude := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"seq":1}`)
			return
		}
		io.WriteString(w, `{"id":1,"stock":"plenty"}`)
	})
	g := newTestGateway(t, nil, rude, newFakePayment())
	if a := g.order(t, "k1", "req-1"); a.code != http.StatusCreated {
		t.Fatalf("%d %s", a.code, a.body)
	}
	if ev := g.auditEvents(t, 1)[0]; ev.RequestID != "req-1" || ev.StockAfter != nil {
		t.Fatalf("audit event %+v", ev)
	}
}

// The payment applies the charge and then breaks the connection; the gateway retries
// with the same key and the payment answers from its first charge.
func TestRetryWithKeyChargesOnce(t *testing.T) {
	pay := newFakePayment()
	pay.resetFirst = true
	g := newTestGateway(t, nil, &fakeInventory{}, pay)
	if a := g.order(t, "k1", ""); a.code != http.StatusCreated {
		t.Fatalf("%d %s", a.code, a.body)
	}
	if n := pay.chargesFor("k1"); n != 1 {
		t.Fatalf("charged %d times", n)
	}
}

// Seeded bug unsafe-retry: the retry has no key, so the payment charges again.
func TestBugUnsafeRetryChargesTwice(t *testing.T) {
	pay := newFakePayment()
	pay.resetFirst = true
	g := newTestGateway(t, map[string]string{"CHAOS_BUGS": platform.BugUnsafeRetry}, &fakeInventory{}, pay)
	if a := g.order(t, "k1", ""); a.code != http.StatusCreated {
		t.Fatalf("%d %s", a.code, a.body)
	}
	if n := pay.chargesFor("k1"); n != 2 {
		t.Fatalf("charged %d times, want the duplicate (2)", n)
	}
}

func failingPaymentGateway(t *testing.T, bugs string) *testGateway {
	pay := newFakePayment()
	pay.status = http.StatusInternalServerError
	return newTestGateway(t, map[string]string{"CHAOS_BUGS": bugs, "RETRY_ATTEMPTS": "1"}, &fakeInventory{}, pay)
}

func TestFanOutFailsFast(t *testing.T) {
	g := failingPaymentGateway(t, "")
	if a := g.order(t, "k1", ""); a.code != http.StatusBadGateway {
		t.Fatalf("%d %s", a.code, a.body)
	}
}

// Seeded bug waitgroup-misuse: the failed call skips Done and the request never ends.
func TestBugWaitGroupMisuseHangs(t *testing.T) {
	g := failingPaymentGateway(t, platform.BugWaitGroupMisuse)
	// Served without the test server: its Close would wait for the hung handler forever.
	done := make(chan int, 1)
	go func() {
		rec := httptest.NewRecorder()
		b, _ := json.Marshal(orderBody)
		g.svc.Router.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/orders", bytes.NewReader(b)))
		done <- rec.Code
	}()
	select {
	case code := <-done:
		t.Fatalf("answered %d; want a hang", code)
	case <-time.After(500 * time.Millisecond):
	}
}

// A reservation reply of the wrong shape panics in the handler; gin.Recovery answers 500.
func TestMalformedReservationGets500(t *testing.T) {
	g := newTestGateway(t, nil, jsonHandler(201, `{"seq":"one"}`), newFakePayment())
	a := g.order(t, "k1", "")
	if a.code != http.StatusInternalServerError || !strings.Contains(a.body, `"error"`) {
		t.Fatalf("%d %s", a.code, a.body)
	}
}

// Seeded bug no-recovery: the same panic drops the connection without any reply.
func TestBugNoRecoveryDropsConnection(t *testing.T) {
	g := newTestGateway(t, map[string]string{"CHAOS_BUGS": platform.BugNoRecovery},
		jsonHandler(201, `{"seq":"one"}`), newFakePayment())
	if a := g.order(t, "k1", ""); a.code != 0 {
		t.Fatalf("got a reply %d %s; want a dropped connection", a.code, a.body)
	}
}

func TestShutdownDrainsAuditQueue(t *testing.T) {
	inv := &fakeInventory{}
	inv.delay.Store(int64(100 * time.Millisecond)) // events are still being built at shutdown
	g := newTestGateway(t, nil, inv, newFakePayment())
	for i := range 5 {
		if a := g.order(t, fmt.Sprint("k", i), ""); a.code != http.StatusCreated {
			t.Fatalf("%d %s", a.code, a.body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if !g.audit.drain(ctx) {
		t.Fatal("drain did not finish")
	}
	var n int
	g.db.QueryRow(`SELECT COUNT(*) FROM audit`).Scan(&n)
	if n != 5 {
		t.Fatalf("%d audit events stored, want 5", n)
	}
}

// concurrentOrders sends n orders from 4 clients at once, each order with its own key
// and request ID, and returns how many audit events carry another request's ID than
// their order's. Each client's next request arrives while the previous order's audit
// goroutine is still at work, so gin has recycled that request's Context by then.
func concurrentOrders(t *testing.T, g *testGateway, n int) (mismatched int) {
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				g.order(t, fmt.Sprint("k", i), fmt.Sprint("req-", i))
			}
		}()
	}
	wg.Wait()
	var orders []Order
	json.Unmarshal([]byte(g.get(t, "/orders").body), &orders)
	byID := map[string]string{}
	for _, o := range orders {
		byID[o.ID] = o.RequestID
	}
	for _, ev := range g.auditEvents(t, len(orders)) {
		if ev.RequestID != byID[ev.OrderID] {
			mismatched++
		}
	}
	return mismatched
}

func slowReadGateway(t *testing.T, bugs string) *testGateway {
	inv := &fakeInventory{}
	inv.delay.Store(int64(30 * time.Millisecond)) // the audit goroutine outlives the request
	return newTestGateway(t, map[string]string{"CHAOS_BUGS": bugs, "BULKHEAD_SIZE": "100"}, inv, newFakePayment())
}

func TestAuditEventsCarryTheirRequestID(t *testing.T) {
	if n := concurrentOrders(t, slowReadGateway(t, ""), 40); n != 0 {
		t.Fatalf("%d audit events carry the wrong request ID", n)
	}
}

// Seeded bug context-not-copied: audit goroutines read the recycled gin.Context. Run in
// a child: under -race the detector reports it; without, request IDs come out wrong.
func TestBugContextNotCopied(t *testing.T) {
	if inChild() {
		if n := concurrentOrders(t, slowReadGateway(t, platform.BugContextNotCopied), 40); n == 0 {
			t.Fatal("every audit event carried its own request ID")
		}
		return
	}
	out, err := runChild(t, t.Name())
	if raceEnabled && !strings.Contains(out, "WARNING: DATA RACE") {
		t.Fatalf("want a data race report; err=%v\n%s", err, out)
	}
	if !raceEnabled && err != nil {
		t.Fatalf("want mismatched request IDs; err=%v\n%s", err, out)
	}
}

// Seeded bug shared-counter-race: concurrent increments of a plain int. Under -race the
// child reports the race; without, updates are lost.
func TestBugSharedCounterRace(t *testing.T) {
	if inChild() {
		g := newTestGateway(t, map[string]string{"CHAOS_BUGS": platform.BugSharedCounterRace}, nil, nil)
		const workers, each = 4, 100000
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					g.countHandled()
				}
			}()
		}
		wg.Wait()
		if got := g.ordersHandled(); got == workers*each {
			t.Skip("no update was lost this time")
		} else {
			t.Logf("counted %v of %d", got, workers*each)
		}
		return
	}
	out, err := runChild(t, t.Name())
	if raceEnabled && !strings.Contains(out, "WARNING: DATA RACE") {
		t.Fatalf("want a data race report; err=%v\n%s", err, out)
	}
	if !raceEnabled && err != nil {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
}

func TestCounterIsExact(t *testing.T) {
	g := newTestGateway(t, nil, nil, nil)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10000 {
				g.countHandled()
			}
		}()
	}
	wg.Wait()
	if got := g.ordersHandled(); got != 40000 {
		t.Fatalf("counted %v", got)
	}
}
