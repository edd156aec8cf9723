// Command payment is the reference system's charging service: charges deduplicated by
// Idempotency-Key, kept in SQLite ($DB_PATH), and listed at GET /charges for checkers.
package main

import (
	"context"

	"chaosharness/compose/internal/platform"
)

func main() {
	svc := platform.Main("payment")
	l, err := openLedger(svc.Env.String("DB_PATH", ":memory:"))
	if err != nil {
		svc.Fatal("cannot open the database", err)
	}
	svc.OnShutdown(func(context.Context) { l.db.Close() })
	l.routes(svc.Router)
	svc.Run()
}
