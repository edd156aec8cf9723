// The gateway's client for one downstream service. Every call goes through the same
// layers, outermost first: a bulkhead slot (shed at once when full), retries with
// exponential backoff and jitter (only for calls that carry an idempotency key), the
// circuit breaker, and a per-attempt deadline derived from the request's budget.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"chaosharness/compose/internal/platform"
)

var (
	// errShed: the bulkhead is full; the caller answers 503 with Retry-After at once.
	errShed = errors.New("too many calls in flight (bulkhead full)")
	// errBreakerOpen: the breaker fast-failed the call; answered 503 with Retry-After.
	errBreakerOpen = errors.New("circuit breaker open")
)

// statusError is a downstream reply that was not 2xx.
type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string { return fmt.Sprintf("answered %d: %s", e.status, e.body) }

// reply is a downstream's 2xx answer.
type reply struct {
	status int
	body   []byte
}

// downstreamMetrics are shared by all downstreams, labelled by downstream name.
type downstreamMetrics struct {
	state       *prometheus.GaugeVec
	transitions *prometheus.CounterVec
	shed        *prometheus.CounterVec
	retries     *prometheus.CounterVec
}

func newDownstreamMetrics(svc *platform.Service) *downstreamMetrics {
	f := svc.Metrics
	return &downstreamMetrics{
		state: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_breaker_state",
			Help: "Circuit breaker state per downstream: 0 closed, 1 half-open, 2 open.",
		}, []string{"downstream"}),
		transitions: f.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_breaker_transitions_total",
			Help: "Circuit breaker state changes per downstream.",
		}, []string{"downstream", "from", "to"}),
		shed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_bulkhead_shed_total",
			Help: "Calls refused at once because the downstream's bulkhead was full.",
		}, []string{"downstream"}),
		retries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_downstream_retries_total",
			Help: "Retried downstream calls (attempts after the first).",
		}, []string{"downstream"}),
	}
}

type downstream struct {
	name    string
	baseURL string
	svc     *platform.Service
	cfg     config
	client  *http.Client
	bulk    chan struct{}                    // bulkhead slots; nil means no limit
	breaker *gobreaker.CircuitBreaker[reply] // nil means calls go straight through
	m       *downstreamMetrics
}

func newDownstream(svc *platform.Service, cfg config, m *downstreamMetrics, name, baseURL string) *downstream {
	d := &downstream{name: name, baseURL: baseURL, svc: svc, cfg: cfg, m: m}
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: cfg.DownstreamTimeout}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
	// The client timeout is a backstop behind the per-attempt context deadline.
	d.client = &http.Client{Transport: transport, Timeout: cfg.DownstreamTimeout}
	if svc.Bugs.On(platform.BugNoDeadline) {
		// Seeded bug no-deadline: a client with no timeout at all.
		d.client = &http.Client{Transport: &http.Transport{}}
	}

	if !svc.Bugs.On(platform.BugUnboundedConcurrency) {
		d.bulk = make(chan struct{}, cfg.BulkheadSize)
	} // Seeded bug unbounded-concurrency: no bulkhead, every call goes ahead.

	m.state.WithLabelValues(name).Set(float64(gobreaker.StateClosed))
	if !svc.Bugs.On(platform.BugNoBreaker) {
		d.breaker = gobreaker.NewCircuitBreaker[reply](d.breakerSettings())
	} // Seeded bug no-breaker: calls go straight through, however often they fail.
	return d
}

func (d *downstream) breakerSettings() gobreaker.Settings {
	timeout := d.cfg.BreakerTimeout
	if d.svc.Bugs.On(platform.BugBreakerStuckOpen) {
		// Seeded bug breaker-stuck-open: the open state never expires, so the breaker
		// never sends a half-open probe and never closes again.
		timeout = 100 * 365 * 24 * time.Hour
	}
	return gobreaker.Settings{
		Name:        d.name,
		MaxRequests: uint32(d.cfg.BreakerHalfOpenRequests),
		Timeout:     timeout,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= uint32(d.cfg.BreakerFailures)
		},
		// A 4xx is the downstream working correctly; only 5xx, transport errors and
		// deadlines count against it.
		IsSuccessful: func(err error) bool {
			var se *statusError
			return err == nil || (errors.As(err, &se) && se.status < 500)
		},
		// A caller that gave up says nothing about the downstream's health.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			d.m.state.WithLabelValues(name).Set(float64(to))
			d.m.transitions.WithLabelValues(name, from.String(), to.String()).Inc()
			d.svc.Log.Warn("circuit breaker state change", "downstream", name, "from", from.String(), "to", to.String())
		},
	}
}

// refreshState lets gobreaker move open→half-open when its Timeout has passed even if
// no call arrives, so the exported state is never stale. Scrapes call it.
func (d *downstream) refreshState() {
	if d.breaker != nil {
		d.breaker.State()
	}
}

// call performs one logical call and decodes nothing: it returns the 2xx body, or an
// error naming the downstream and wrapping errShed, errBreakerOpen, a *statusError, a
// context error or a transport error. key is the Idempotency-Key; only a call with a
// key is retried.
func (d *downstream) call(ctx context.Context, method, path, key string, body any) (reply, error) {
	r, err := d.guardedCall(ctx, method, path, key, body)
	if err != nil {
		err = fmt.Errorf("%s: %w", d.name, err)
	}
	return r, err
}

// guardedCall is call without the downstream's name on its errors: bulkhead, then
// retries of attempts through the breaker.
func (d *downstream) guardedCall(ctx context.Context, method, path, key string, body any) (reply, error) {
	if d.bulk != nil {
		select {
		case d.bulk <- struct{}{}:
			defer func() { <-d.bulk }()
		default:
			d.m.shed.WithLabelValues(d.name).Inc()
			return reply{}, errShed
		}
	}

	attempts := 1
	if key != "" {
		attempts = d.cfg.RetryAttempts
	}
	if d.svc.Bugs.On(platform.BugUnsafeRetry) {
		// Seeded bug unsafe-retry: the key is dropped but the call is retried anyway, so
		// an attempt the downstream applied before the connection broke is applied again.
		key, attempts = "", d.cfg.RetryAttempts
	}

	var (
		r   reply
		err error
	)
	for attempt := range attempts {
		if attempt > 0 {
			d.m.retries.WithLabelValues(d.name).Inc()
			if werr := sleepBackoff(ctx, attempt, d.cfg.RetryBackoff); werr != nil {
				return reply{}, err // the budget ran out while backing off: report the last failure
			}
		}
		r, err = d.attemptThroughBreaker(ctx, method, path, key, body)
		if !retryable(ctx, err) {
			return r, err
		}
		d.svc.Log.Info("downstream attempt failed", "downstream", d.name, "attempt", attempt+1,
			"err", err.Error(), "request_id", platform.RequestID(ctx))
	}
	return r, err
}

func (d *downstream) attemptThroughBreaker(ctx context.Context, method, path, key string, body any) (reply, error) {
	if d.breaker == nil {
		return d.attempt(ctx, method, path, key, body)
	}
	r, err := d.breaker.Execute(func() (reply, error) { return d.attempt(ctx, method, path, key, body) })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return reply{}, errBreakerOpen
	}
	return r, err
}

// attempt is one HTTP exchange under its own deadline: DOWNSTREAM_TIMEOUT, or less when
// the request's budget (ctx) ends sooner.
func (d *downstream) attempt(ctx context.Context, method, path, key string, body any) (reply, error) {
	if !d.svc.Bugs.On(platform.BugNoDeadline) { // (no-deadline: no per-attempt deadline)
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.cfg.DownstreamTimeout)
		defer cancel()
	}
	var payload io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return reply{}, err
		}
		payload = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.baseURL+path, payload)
	if err != nil {
		return reply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	platform.SetRequestID(req)
	resp, err := d.client.Do(req)
	if err != nil {
		return reply{}, contextError(ctx, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return reply{}, contextError(ctx, err)
	}
	if resp.StatusCode/100 != 2 {
		return reply{}, &statusError{status: resp.StatusCode, body: string(bytes.TrimSpace(b))}
	}
	return reply{status: resp.StatusCode, body: b}, nil
}

// contextError is err, unless the attempt's context has ended: then the context's own
// error (context.Canceled or context.DeadlineExceeded) with err's text. A context cancelled
// with a cause makes net/http return the cause itself: the errgroup of an order cancels
// the reservation with payment's error, which would count against inventory's breaker
// (and, wrapped in full, pass for payment's errBreakerOpen). A call its caller gave up on
// says nothing about the downstream's health.
func contextError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("%w (%v)", ctxErr, err)
	}
	return err
}

// retryable: transport failures, a timed-out attempt and 502/503/504 are worth another
// attempt while the request's own budget lasts; fast-fails and 4xx are not.
func retryable(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil || errors.Is(err, errShed) || errors.Is(err, errBreakerOpen) {
		return false
	}
	var se *statusError
	if errors.As(err, &se) {
		return se.status == http.StatusBadGateway || se.status == http.StatusServiceUnavailable ||
			se.status == http.StatusGatewayTimeout
	}
	return true
}

// sleepBackoff waits base·2^(attempt-1) with full jitter (a random fraction of it), so
// many gateways retrying at once don't hit the downstream in lockstep.
func sleepBackoff(ctx context.Context, attempt int, base time.Duration) error {
	ceiling := base << (attempt - 1)
	t := time.NewTimer(rand.N(ceiling + 1))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
