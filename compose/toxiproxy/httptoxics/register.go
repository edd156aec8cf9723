// Package httptoxics holds chaos-harness's HTTP-level Toxiproxy toxics. They
// are registered by the server's main (see Register), not from init, so that
// importing the package has no side effects.
package httptoxics

import "github.com/Shopify/toxiproxy/v2/toxics"

// registry lists every toxic type this package provides, by API type name.
var registry = map[string]toxics.Toxic{}

// Register adds this package's toxics to Toxiproxy's registry. Call it before
// toxiproxy.NewServer.
func Register() {
	for name, t := range registry {
		toxics.Register(name, t)
	}
}

// Names returns the registered toxic type names, for the start-up log.
func Names() []string {
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	return names
}
