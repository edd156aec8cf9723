// The service chassis: logger, metrics registry, gin router with the standard middleware
// and endpoints (/healthz, /metrics, /debug/pprof), safeGo, and the HTTP server lifecycle
// with graceful shutdown on SIGTERM.
package platform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Service holds what every reference service shares.
type Service struct {
	Name     string
	Log      *slog.Logger
	Bugs     Bugs
	Env      *Env
	Registry *prometheus.Registry
	Metrics  *promauto.Factory // registers service metrics on Registry
	Router   *gin.Engine

	addr     string
	drain    time.Duration
	panics   *prometheus.CounterVec
	inFlight prometheus.Gauge
	duration *prometheus.HistogramVec
	ready    atomic.Bool
	draining atomic.Bool
	hooksMu  sync.Mutex
	hooks    []func(context.Context)
}

// New builds a service named name from env. It reads LISTEN_HOST, PORT, SHUTDOWN_TIMEOUT,
// LOG_LEVEL and CHAOS_BUGS; a bad CHAOS_BUGS is returned as an error (Main turns it into exit 2).
func New(name string, env *Env) (*Service, error) {
	bugs, err := ParseBugs(env.String("CHAOS_BUGS", ""))
	if err != nil {
		return nil, err
	}
	level := slog.LevelInfo
	if err := level.UnmarshalText([]byte(env.String("LOG_LEVEL", "info"))); err != nil {
		return nil, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("service", name)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := promauto.With(reg)

	s := &Service{
		Name:     name,
		Log:      log,
		Bugs:     bugs,
		Env:      env,
		Registry: reg,
		Metrics:  &f,
		addr:     net.JoinHostPort(env.String("LISTEN_HOST", ""), env.String("PORT", "8080")),
		drain:    env.Duration("SHUTDOWN_TIMEOUT", 8*time.Second),
		panics: f.NewCounterVec(prometheus.CounterOpts{
			Name: "panics_recovered_total",
			Help: "Panics recovered instead of crashing the process, by where they happened (handler or goroutine).",
		}, []string{"where"}),
		inFlight: f.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight",
			Help: "HTTP requests being served right now.",
		}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by method, route and status code.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 5, 10, 30},
		}, []string{"method", "route", "code"}),
	}
	s.panics.WithLabelValues("handler")
	s.panics.WithLabelValues("goroutine")
	s.Router = s.newRouter()
	return s, nil
}

// Main is New for a main function: a configuration error is printed to stderr and the
// process exits 2 before it listens.
func Main(name string) *Service {
	s, err := New(name, OSEnv())
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(2)
	}
	return s
}

func (s *Service) newRouter() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(requestID(), s.observe(), s.accessLog())
	if s.Bugs.On(BugNoRecovery) {
		// Seeded bug no-recovery: without the Recovery middleware a handler panic unwinds
		// into net/http, which logs it and drops the connection without a reply.
	} else {
		r.Use(gin.CustomRecoveryWithWriter(io.Discard, s.recovered))
	}
	r.GET("/healthz", s.healthz)
	metrics := promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{Registry: s.Registry})
	r.GET("/metrics", gin.WrapH(metrics))
	mountPprof(r)
	return r
}

// recovered is gin's recovery callback: log the panic with its stack, count it, answer 500.
func (s *Service) recovered(c *gin.Context, err any) {
	s.panics.WithLabelValues("handler").Inc()
	s.Log.Error("panic recovered in handler", "panic", fmt.Sprint(err),
		"request_id", RequestID(c.Request.Context()), "path", c.Request.URL.Path, "stack", string(debug.Stack()))
	c.AbortWithStatusJSON(http.StatusInternalServerError,
		gin.H{"error": "internal error", "request_id": RequestID(c.Request.Context())})
}

// SafeGo is the only way the services start a goroutine: fn runs on its own goroutine and
// a panic in it is recovered, logged with its stack and counted, so one malformed
// downstream reply cannot take the whole process down (a bare go statement would).
func (s *Service) SafeGo(what string, fn func()) {
	go func() {
		defer s.Recover(what)
		fn()
	}()
}

// Guard adapts fn for runners that start goroutines themselves (errgroup.Go): a panic in
// fn is recovered, logged and counted like in SafeGo, and returned as an error so the
// group fails cleanly instead of the process.
func (s *Service) Guard(what string, fn func() error) func() error {
	return func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				s.panics.WithLabelValues("goroutine").Inc()
				s.Log.Error("panic recovered in goroutine", "goroutine", what, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				err = fmt.Errorf("%s: recovered panic: %v", what, p)
			}
		}()
		return fn()
	}
}

// Fatal logs a start-up failure and exits 1.
func (s *Service) Fatal(msg string, err error) {
	s.Log.Error(msg, "err", err)
	os.Exit(1)
}

// Recover is the deferred half of SafeGo, for goroutines that must be started by hand.
func (s *Service) Recover(what string) {
	if p := recover(); p != nil {
		s.panics.WithLabelValues("goroutine").Inc()
		s.Log.Error("panic recovered in goroutine", "goroutine", what, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	}
}

// OnShutdown registers work to finish after the HTTP server has drained its in-flight
// requests (for example flushing the audit queue); it shares the drain budget.
func (s *Service) OnShutdown(hook func(ctx context.Context)) {
	s.hooksMu.Lock()
	defer s.hooksMu.Unlock()
	s.hooks = append(s.hooks, hook)
}

func (s *Service) healthz(c *gin.Context) {
	if !s.ready.Load() || s.draining.Load() {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable"})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok", "service": s.Name})
}

// Run listens on $LISTEN_HOST:$PORT (every interface when LISTEN_HOST is empty, as in a
// container) and serves until SIGTERM or SIGINT, then shuts down gracefully:
// http.Server.Shutdown waits for in-flight requests, then the OnShutdown hooks run, all
// within SHUTDOWN_TIMEOUT. Configuration errors found so far make it exit 2 first.
func (s *Service) Run() {
	if errs := s.Env.Errs(); len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintf(os.Stderr, "%s: %v\n", s.Name, err)
		}
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.Log.Error("listen failed", "addr", s.addr, "err", err)
		os.Exit(1)
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	code := s.Serve(ln, signals)
	os.Exit(code)
}

// Serve serves on ln until a signal arrives on stop, then drains. It returns the exit code.
func (s *Service) Serve(ln net.Listener, stop <-chan os.Signal) int {
	srv := &http.Server{Handler: s.Router, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	s.SafeGo("http server", func() { served <- srv.Serve(ln) })
	s.ready.Store(true)
	s.Log.Info("listening", "addr", ln.Addr().String(), "bugs", s.Bugs.Names(), "pid", os.Getpid())

	select {
	case err := <-served:
		s.Log.Error("server stopped", "err", err)
		return 1
	case sig := <-stop:
		s.Log.Info("shutting down", "signal", sig.String(), "drain_budget", s.drain.String())
	}
	if s.Bugs.On(BugNoGracefulShutdown) {
		// Seeded bug no-graceful-shutdown: exit at once; in-flight requests lose their
		// connection and queued async work (audit events) is dropped.
		s.Log.Warn("exiting immediately without draining")
		return 0
	}
	s.draining.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), s.drain)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		s.Log.Error("drain budget exceeded; closing open connections", "err", err)
		_ = srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		s.Log.Error("server stopped", "err", err)
	}
	s.hooksMu.Lock()
	hooks := s.hooks
	s.hooksMu.Unlock()
	for _, hook := range hooks {
		hook(ctx)
	}
	s.Log.Info("stopped")
	return 0
}
