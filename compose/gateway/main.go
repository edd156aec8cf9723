// Command gateway is the reference system's orders API. It reads and reserves stock at
// inventory and charges payment, both through Toxiproxy, and shows the article's
// patterns for calling downstreams from Gin handlers and goroutines.
package main

import (
	"context"
	"time"

	"chaosharness/compose/internal/platform"
)

// config is every gateway setting; compose/README.md lists the variables.
type config struct {
	InventoryURL            string
	PaymentURL              string
	DBPath                  string
	RequestTimeout          time.Duration // a POST /orders request's whole budget
	DownstreamTimeout       time.Duration // one downstream attempt; also the product read's budget
	BreakerFailures         int           // consecutive failures that open a breaker
	BreakerTimeout          time.Duration // open → half-open after this long
	BreakerHalfOpenRequests int           // successful probes needed to close again
	BulkheadSize            int           // concurrent calls per downstream; more are shed
	RetryAttempts           int           // attempts per keyed call, the first included
	RetryBackoff            time.Duration // base of the exponential backoff
	AuditQueue              int           // audit events buffered for the writer
	AuditTimeout            time.Duration // budget of an audit event's async enrichment
	SlowRequest             time.Duration // the watchdog logs requests running longer
	UnitPrice               int           // cents charged per unit
}

func loadConfig(env *platform.Env) config {
	return config{
		InventoryURL:            env.String("INVENTORY_URL", "http://127.0.0.1:8081"),
		PaymentURL:              env.String("PAYMENT_URL", "http://127.0.0.1:8082"),
		DBPath:                  env.String("DB_PATH", ":memory:"),
		RequestTimeout:          env.Duration("REQUEST_TIMEOUT", 2*time.Second),
		DownstreamTimeout:       env.Duration("DOWNSTREAM_TIMEOUT", time.Second),
		BreakerFailures:         max(env.Int("BREAKER_FAILURES", 5), 1),
		BreakerTimeout:          env.Duration("BREAKER_TIMEOUT", time.Second),
		BreakerHalfOpenRequests: max(env.Int("BREAKER_HALF_OPEN_REQUESTS", 1), 1),
		BulkheadSize:            max(env.Int("BULKHEAD_SIZE", 16), 1),
		RetryAttempts:           max(env.Int("RETRY_ATTEMPTS", 3), 1),
		RetryBackoff:            env.Duration("RETRY_BACKOFF", 50*time.Millisecond),
		AuditQueue:              env.Int("AUDIT_QUEUE", 1024),
		AuditTimeout:            env.Duration("AUDIT_TIMEOUT", time.Second),
		SlowRequest:             env.Duration("SLOW_REQUEST", 500*time.Millisecond),
		UnitPrice:               max(env.Int("UNIT_PRICE", 100), 1),
	}
}

func main() {
	svc := platform.Main("gateway")
	g, err := newGateway(svc, loadConfig(svc.Env))
	if err != nil {
		svc.Fatal("cannot start", err)
	}
	g.routes(svc.Router)
	svc.SafeGo("warm product cache", g.warmCache)
	svc.OnShutdown(func(ctx context.Context) { g.close(ctx) })
	svc.Run()
}
