// Configuration from environment variables with defaults. Parse errors are collected so
// that a service reports all of them at once and exits 2 before it listens.
package platform

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// Env reads typed settings from environment variables.
type Env struct {
	lookup func(string) (string, bool)
	errs   []error
}

// OSEnv reads the process environment.
func OSEnv() *Env { return &Env{lookup: os.LookupEnv} }

// MapEnv reads a fixed map; tests use it instead of mutating the process environment.
func MapEnv(m map[string]string) *Env {
	return &Env{lookup: func(k string) (string, bool) { v, ok := m[k]; return v, ok }}
}

// String returns the variable's value, or def when it is unset or empty.
func (e *Env) String(key, def string) string {
	if v, ok := e.lookup(key); ok && v != "" {
		return v
	}
	return def
}

// Duration parses a Go duration such as "1s" or "250ms".
func (e *Env) Duration(key string, def time.Duration) time.Duration {
	v := e.String(key, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want a non-negative Go duration such as 1s or 250ms", key, v))
		return def
	}
	return d
}

// Int parses a non-negative integer.
func (e *Env) Int(key string, def int) int {
	v := e.String(key, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		e.errs = append(e.errs, fmt.Errorf("%s=%q: want a non-negative integer", key, v))
		return def
	}
	return n
}

// Err returns the first parse error, if any; Errs returns them all.
func (e *Env) Err() error {
	if len(e.errs) == 0 {
		return nil
	}
	return e.errs[0]
}

// Errs returns every parse error seen so far.
func (e *Env) Errs() []error { return e.errs }
