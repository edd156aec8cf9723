// Tests for the chassis: bug parsing, env parsing, SafeGo, the standard endpoints and
// graceful shutdown.
package platform

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestParseBugs(t *testing.T) {
	bugs, err := ParseBugs(" leak-on-timeout, ,no-fallback ")
	if err != nil {
		t.Fatal(err)
	}
	if !bugs.On(BugLeakOnTimeout) || !bugs.On(BugNoFallback) || bugs.On(BugNoBreaker) {
		t.Fatalf("wrong set: %v", bugs)
	}
	if len(KnownBugs) != 15 {
		t.Fatalf("the catalog has 15 rows, KnownBugs has %d", len(KnownBugs))
	}
}

func TestParseBugsUnknownListsKnownNames(t *testing.T) {
	_, err := ParseBugs("leak-on-timeout,leak-on-timout")
	if err == nil {
		t.Fatal("want an error for a misspelt name")
	}
	for _, name := range KnownBugs {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("message does not list %q: %v", name, err)
		}
	}
}

func TestEnvCollectsErrors(t *testing.T) {
	env := MapEnv(map[string]string{"A": "2s", "B": "soon", "C": "-1"})
	if got := env.Duration("A", time.Second); got != 2*time.Second {
		t.Errorf("A = %v", got)
	}
	if got := env.Duration("MISSING", time.Second); got != time.Second {
		t.Errorf("default = %v", got)
	}
	env.Duration("B", time.Second)
	env.Int("C", 1)
	if len(env.Errs()) != 2 {
		t.Fatalf("want 2 errors, got %v", env.Errs())
	}
}

func newTestService(t *testing.T, vars map[string]string) *Service {
	t.Helper()
	s, err := New("test", MapEnv(vars))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSafeGoRecoversAndCounts(t *testing.T) {
	s := newTestService(t, nil)
	done := make(chan struct{})
	s.SafeGo("boom", func() {
		defer close(done)
		var m map[string]int
		m["x"] = 1 // nil map write panics
	})
	<-done
	deadline := time.Now().Add(time.Second)
	for testutil.ToFloat64(s.panics.WithLabelValues("goroutine")) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("panic was not counted")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStandardEndpoints(t *testing.T) {
	s := newTestService(t, nil)
	s.ready.Store(true)
	for path, want := range map[string]string{
		"/healthz":                       `"status":"ok"`,
		"/metrics":                       "go_goroutines",
		"/debug/pprof/goroutine?debug=2": "goroutine",
		"/debug/pprof/":                  "Types of profiles available",
	} {
		rec := httptest.NewRecorder()
		s.Router.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%s: %d, body lacks %q", path, rec.Code, want)
		}
	}
}

func TestRecoveryAnswers500(t *testing.T) {
	s := newTestService(t, nil)
	s.Router.GET("/panic", func(c *gin.Context) { panic("bad reply") })
	rec := httptest.NewRecorder()
	s.Router.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/panic", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("code %d", rec.Code)
	}
	if got := testutil.ToFloat64(s.panics.WithLabelValues("handler")); got != 1 {
		t.Fatalf("handler panics = %v", got)
	}
}

// Seeded bug no-recovery: the panic escapes the router (net/http would drop the connection).
func TestBugNoRecoveryLetsPanicEscape(t *testing.T) {
	s := newTestService(t, map[string]string{"CHAOS_BUGS": BugNoRecovery})
	s.Router.GET("/panic", func(c *gin.Context) { panic("bad reply") })
	defer func() {
		if recover() == nil {
			t.Fatal("want the panic to escape the router")
		}
	}()
	s.Router.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/panic", nil))
}

func TestRequestIDEchoed(t *testing.T) {
	s := newTestService(t, nil)
	s.Router.GET("/id", func(c *gin.Context) { c.String(200, RequestID(c.Request.Context())) })
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/id", nil)
	req.Header.Set(HeaderRequestID, "abc")
	s.Router.ServeHTTP(rec, req)
	if rec.Body.String() != "abc" || rec.Header().Get(HeaderRequestID) != "abc" {
		t.Fatalf("body %q header %q", rec.Body.String(), rec.Header().Get(HeaderRequestID))
	}
}

// serveSlow starts s with a 300ms handler, sends one request and, while it is in flight,
// the stop signal. It returns how long Serve took to return after the signal and the
// in-flight request's status (0 if it failed).
func serveSlow(t *testing.T, s *Service) (time.Duration, int) {
	t.Helper()
	s.Router.GET("/slow", func(c *gin.Context) { time.Sleep(300 * time.Millisecond); c.String(200, "done") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() // with no-graceful-shutdown Serve leaves it open; os.Exit would close it
	stop := make(chan os.Signal, 1)
	exited := make(chan int, 1)
	go func() { exited <- s.Serve(ln, stop) }()
	status := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			status <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	stop <- syscall.SIGTERM
	<-exited
	return time.Since(start), <-status
}

func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	s := newTestService(t, map[string]string{"SHUTDOWN_TIMEOUT": "2s"})
	hookRan := make(chan struct{})
	s.OnShutdown(func(context.Context) { close(hookRan) })
	took, status := serveSlow(t, s)
	if status != 200 {
		t.Fatalf("in-flight request got status %d", status)
	}
	if took < 150*time.Millisecond {
		t.Fatalf("Serve returned after %v, before the in-flight request finished", took)
	}
	select {
	case <-hookRan:
	default:
		t.Fatal("shutdown hook did not run")
	}
}

// Seeded bug no-graceful-shutdown: Serve returns (the process exits) at once, while the
// request is still being handled.
func TestBugNoGracefulShutdownExitsAtOnce(t *testing.T) {
	s := newTestService(t, map[string]string{"CHAOS_BUGS": BugNoGracefulShutdown})
	took, _ := serveSlow(t, s)
	if took > 100*time.Millisecond {
		t.Fatalf("Serve took %v; the seeded bug should exit without draining", took)
	}
}

// Main exits 2 with the known names when CHAOS_BUGS has an unknown one (run in a child).
func TestMainExits2OnUnknownBug(t *testing.T) {
	if os.Getenv("PLATFORM_TEST_CHILD") == "1" {
		Main("test")
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainExits2OnUnknownBug$")
	cmd.Env = append(os.Environ(), "PLATFORM_TEST_CHILD=1", "CHAOS_BUGS=no-such-bug")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), BugNoFallback) {
		t.Fatalf("want exit 2 listing the known bugs; err=%v output:\n%s", err, out)
	}
}
