//go:build !race

package authclient

// raceEnabled reports that the tests run under the race detector.
const raceEnabled = false
