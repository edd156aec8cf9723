// The http_delay toxic: affected responses are held back before their first
// byte is passed on; the others pass at once.

package httptoxics

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/Shopify/toxiproxy/v2/toxics"
)

// maxDelay bounds http_delay's delay (10 minutes, in milliseconds).
const maxDelay = 600000

// HTTPDelayToxic delays affected responses by Delay milliseconds, counted from
// when their head reaches the toxic. Attributes: rate (0..1, default 1), seed
// (default 0), delay (milliseconds, 0..600000, default 1000).
type HTTPDelayToxic struct{ attrs settings[delayAttrs] }

type delayAttrs struct {
	Sampling
	Delay int64 `json:"delay"` // milliseconds
}

var defaultDelayAttrs = delayAttrs{Sampling: defaultSampling, Delay: 1000}

func (a delayAttrs) validate() error {
	if err := a.Sampling.validate(); err != nil {
		return err
	}
	if a.Delay < 0 || a.Delay > maxDelay {
		return fmt.Errorf("delay must be between 0 and %d milliseconds, got %d", maxDelay, a.Delay)
	}
	return nil
}

func (t *HTTPDelayToxic) UnmarshalJSON(b []byte) error {
	return t.attrs.set(b, defaultDelayAttrs, delayAttrs.validate)
}

func (t *HTTPDelayToxic) MarshalJSON() ([]byte, error) {
	return json.Marshal(t.attrs.load(defaultDelayAttrs))
}

func (t *HTTPDelayToxic) NewState() interface{} { return new(conn) }

func (t *HTTPDelayToxic) Cleanup(stub *toxics.ToxicStub) { cleanup(stub) }

func (t *HTTPDelayToxic) Pipe(stub *toxics.ToxicStub) {
	a := t.attrs.load(defaultDelayAttrs)
	pipe(stub, effect{
		affects: func() bool { return a.Affects(t.attrs.next()) },
		marker:  "http_delay",
		delay:   time.Duration(a.Delay) * time.Millisecond,
	})
}
