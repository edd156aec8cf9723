//go:build race

package main

// raceEnabled: the tests run under the race detector, which reports seeded data races.
const raceEnabled = true
