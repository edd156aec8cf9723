// Request-scoped middleware: X-Request-ID propagation, the duration histogram and
// in-flight gauge, and the access log.
package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// HeaderRequestID carries the request ID into downstream calls and back to the client.
const HeaderRequestID = "X-Request-ID"

type requestIDKey struct{}

// WithRequestID returns ctx carrying the request ID id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request ID carried by ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// SetRequestID copies the request ID from req's context into its X-Request-ID header, so
// a downstream service logs and records the same ID.
func SetRequestID(req *http.Request) {
	if id := RequestID(req.Context()); id != "" {
		req.Header.Set(HeaderRequestID, id)
	}
}

// NewRequestID returns a random 16-hex-digit ID.
func NewRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// requestID takes the caller's X-Request-ID (or makes one), echoes it in the response and
// stores it in both the gin keys ("request_id") and the request's context.Context.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader(HeaderRequestID)
		if id == "" {
			id = NewRequestID()
		}
		c.Set("request_id", id)
		c.Header(HeaderRequestID, id)
		c.Request = c.Request.WithContext(WithRequestID(c.Request.Context(), id))
		c.Next()
	}
}

// observe feeds http_requests_in_flight and http_request_duration_seconds. The deferred
// half runs even when a panic unwinds through it, so the gauge never drifts.
func (s *Service) observe() gin.HandlerFunc {
	return func(c *gin.Context) {
		s.inFlight.Inc()
		start := time.Now()
		defer func() {
			s.inFlight.Dec()
			route := c.FullPath()
			if route == "" {
				route = "unmatched"
			}
			s.duration.WithLabelValues(c.Request.Method, route, strconv.Itoa(c.Writer.Status())).
				Observe(time.Since(start).Seconds())
		}()
		c.Next()
	}
}

// accessLog writes one line per request with its ID; scrapes of /metrics and pprof are
// logged at debug level only, so they don't drown the lines that matter.
func (s *Service) accessLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		level := s.accessLevel(c.FullPath(), c.Writer.Status())
		s.Log.Log(c.Request.Context(), level, "request",
			"method", c.Request.Method, "path", c.Request.URL.Path, "status", c.Writer.Status(),
			"duration_ms", time.Since(start).Milliseconds(), "request_id", RequestID(c.Request.Context()))
	}
}

func (s *Service) accessLevel(route string, status int) slog.Level {
	switch {
	case status >= 500:
		return slog.LevelWarn
	case route == "/metrics" || route == "/healthz" || strings.HasPrefix(route, "/debug/pprof"):
		return slog.LevelDebug
	default:
		return slog.LevelInfo
	}
}
