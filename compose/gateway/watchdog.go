// The slow-request watchdog: a middleware that starts a goroutine per request to log
// requests still running after SLOW_REQUEST, and how long they took in the end. The
// goroutine must watch the request's context, or it outlives the request.
package main

import (
	"context"
	"time"

	"github.com/gin-gonic/gin"

	"chaosharness/compose/internal/platform"
)

func (g *gateway) watchdog() gin.HandlerFunc {
	return func(c *gin.Context) {
		// net/http cancels the request context when the handler returns or the client
		// goes away, which is what ends the watchdog.
		ctx := c.Request.Context()
		if g.svc.Bugs.On(platform.BugCtxIgnoredInMiddleware) {
			// Seeded bug ctx-ignored-in-middleware: a context that is never done, so every
			// watchdog waits forever once its timer has fired.
			ctx = context.Background()
		}
		id, path, start := platform.RequestID(c.Request.Context()), c.Request.URL.Path, time.Now()
		g.svc.SafeGo("slow-request watchdog", func() {
			timer := time.NewTimer(g.cfg.SlowRequest)
			defer timer.Stop()
			select {
			case <-ctx.Done():
				return // finished in time
			case <-timer.C:
			}
			g.svc.Log.Warn("slow request still running", "path", path, "request_id", id, "after", time.Since(start).String())
			<-ctx.Done()
			g.svc.Log.Info("slow request ended", "path", path, "request_id", id, "took", time.Since(start).String(),
				"cause", context.Cause(ctx).Error())
		})
		c.Next()
	}
}
