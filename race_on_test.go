//go:build race

package authclient_test

// raceEnabled reports that the tests run under the race detector, which
// makes moving bytes some thirty times slower: the 100 MiB streaming test
// then moves less (see streamTestSize); .ci/run runs it at full size
// without -race.
const raceEnabled = true
