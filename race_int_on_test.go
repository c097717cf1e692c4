//go:build race

package authclient

// raceEnabled reports that the tests run under the race detector, which
// makes encoding and moving bytes many times slower: the tests that prove
// a size (10,000 paged items) use less then; .ci/run runs them at full size
// without -race.
const raceEnabled = true
