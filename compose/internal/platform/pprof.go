// net/http/pprof handlers mounted on gin under /debug/pprof, so the harness can read
// goroutine dumps (goroutine?debug=2) and profiles from outside.
package platform

import (
	"net/http/pprof"

	"github.com/gin-gonic/gin"
)

func mountPprof(r *gin.Engine) {
	g := r.Group("/debug/pprof")
	g.GET("/", gin.WrapF(pprof.Index))
	g.GET("/cmdline", gin.WrapF(pprof.Cmdline))
	g.GET("/profile", gin.WrapF(pprof.Profile))
	g.GET("/symbol", gin.WrapF(pprof.Symbol))
	g.POST("/symbol", gin.WrapF(pprof.Symbol))
	g.GET("/trace", gin.WrapF(pprof.Trace))
	// goroutine, heap, allocs, block, mutex, threadcreate
	g.GET("/:name", func(c *gin.Context) { pprof.Handler(c.Param("name")).ServeHTTP(c.Writer, c.Request) })
}
