// Command inventory is the reference system's stock service: product stock and
// reservations, kept in SQLite ($DB_PATH) so they survive a kill.
package main

import (
	"context"

	"chaosharness/compose/internal/platform"
)

func main() {
	svc := platform.Main("inventory")
	s, err := openStore(svc.Env.String("DB_PATH", ":memory:"), svc.Env.Int("PRODUCTS", 10), svc.Env.Int("INITIAL_STOCK", 1000000))
	if err != nil {
		svc.Fatal("cannot open the database", err)
	}
	svc.OnShutdown(func(ctx context.Context) { s.db.Close() })
	s.routes(svc.Router)
	svc.Run()
}
