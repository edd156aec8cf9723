// Package httptoxics holds chaos-harness's HTTP-level Toxiproxy toxics:
// http_error, http_delay and http_malformed act on the downstream stream of
// any HTTP/1.1 server, keep-alive included; http_count counts the requests on
// the upstream stream. They are registered by the server's main (see
// Register), not from init, so that importing the package has no side effects.
package httptoxics

import (
	"sort"

	"github.com/Shopify/toxiproxy/v2/toxics"
)

// registry lists every toxic type this package provides, by API type name.
var registry = map[string]toxics.Toxic{
	"http_error":     new(HTTPErrorToxic),
	"http_delay":     new(HTTPDelayToxic),
	"http_malformed": new(HTTPMalformedToxic),
	"http_count":     new(HTTPCountToxic),
}

// Register adds this package's toxics to Toxiproxy's registry. Call it before
// toxiproxy.NewServer.
func Register() {
	for name, t := range registry {
		toxics.Register(name, t)
	}
}

// Names returns the registered toxic type names, sorted, for the start-up log.
func Names() []string {
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
