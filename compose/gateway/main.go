// Command gateway is the reference system's orders API: it reads and reserves stock at
// inventory through Toxiproxy and shows the article's patterns for calling a downstream.
package main

import (
	"time"

	"chaosharness/compose/internal/platform"
)

// config is every gateway setting; see compose/README.md for the variables.
type config struct {
	InventoryURL      string
	DownstreamTimeout time.Duration
}

func loadConfig(env *platform.Env) config {
	return config{
		InventoryURL:      env.String("INVENTORY_URL", "http://127.0.0.1:8081"),
		DownstreamTimeout: env.Duration("DOWNSTREAM_TIMEOUT", time.Second),
	}
}

func main() {
	svc := platform.Main("gateway")
	g := newGateway(svc, loadConfig(svc.Env))
	g.routes(svc.Router)
	svc.Run()
}
