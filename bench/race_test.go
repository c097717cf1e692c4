//go:build race

package bench

// raceEnabled: the race detector changes allocation counts, so the
// allocation gates are skipped under -race.
const raceEnabled = true
