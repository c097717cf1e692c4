//go:build unix

package bench

import (
	"context"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"
)

// CPU time, not wall time, decides the time comparisons: the process's
// user+sys time from getrusage counts what the calls cost (the garbage
// collector's work on other threads included) and not the time spent
// waiting for a core another job holds. Rounds are interleaved, each
// contestant's batch between two of raw's (raw, sdk, raw, go-github, raw,
// …, oauth2, raw, then the other way round), and each batch gives its
// per-call CPU as a ratio to the mean of the raw batches on either side,
// so a load that comes and goes hits both alike; the median over the
// rounds is kept.
//
// The calls run with GOMAXPROCS=1. They are sequential, so one P is all
// they need; with a second, idle one, the runtime spends CPU on it that the
// calls did not ask for, in amounts that depend on when things happen
// rather than on the contestant: idle-priority GC mark workers take the
// idle P for every GC cycle (so a contestant that allocates less looks
// cheaper than the work it saves), and over loopback each network wake-up
// starts a thread spinning for work. On this project's 2-core VM, raw's
// GetSmall costs 9.9 µs in memory and 38 µs over loopback at GOMAXPROCS=2,
// against 9.1 µs and 26 µs on one P.
//
// In loopback mode the in-process httptest server's CPU is counted too: it
// does the same work for every contestant, so it dilutes the ratios towards
// 1 but does not change their order.

// cpuNow is the process's user+sys CPU time so far.
func cpuNow(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuResult is one contestant's CPU time in one scenario and mode.
type cpuResult struct {
	perCall time.Duration // total CPU over total calls
	ratio   float64       // median over the rounds of per-call CPU / raw's
}

// cpuPlan is how long to measure.
type cpuPlan struct {
	rounds int
	batch  time.Duration // CPU time aimed at per contestant and round
}

// cpuOp is one contestant's call, as measureCPU runs it.
type cpuOp struct {
	name string
	op   func(ctx context.Context) error
}

// scenarioOps are sc's calls in mode by every contestant in cts, each on a
// fixture of its own.
func scenarioOps(tb testing.TB, sc *scenario, mode string, cts []contestant) []cpuOp {
	ops := make([]cpuOp, len(cts))
	for i, ct := range cts {
		c := ct.new(tb, newFixture(tb, mode, sc.respond), sc)
		ops[i] = cpuOp{name: ct.name, op: func(ctx context.Context) error { return sc.op(ctx, c) }}
	}
	return ops
}

// measureCPU runs ops (the first must be raw's) in interleaved rounds and
// returns each one's CPU per call and ratio to raw, by name; label names
// the measurement in errors.
func measureCPU(tb testing.TB, label string, ops []cpuOp, plan cpuPlan) map[string]cpuResult {
	tb.Helper()
	if ops[0].name != "raw" {
		tb.Fatalf("measureCPU: the first contestant is %q, want raw", ops[0].name)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ctx := context.Background()
	type runner struct {
		cpuOp
		calls int // per batch
		cpu   time.Duration
		n     int
	}
	rs := make([]*runner, len(ops))
	for i, o := range ops {
		r := &runner{cpuOp: o}
		// Warm up, and size the batch from a first timing.
		const probe = 20
		start := cpuNow(tb)
		for range probe {
			if err := r.op(ctx); err != nil {
				tb.Fatalf("%s/%s: %v", label, r.name, err)
			}
		}
		per := max((cpuNow(tb)-start)/probe, time.Microsecond)
		r.calls = max(1, int(plan.batch/per))
		rs[i] = r
	}
	raw := rs[0]
	batch := func(r *runner) float64 {
		start := cpuNow(tb)
		for range r.calls {
			if err := r.op(ctx); err != nil {
				tb.Fatalf("%s/%s: %v", label, r.name, err)
			}
		}
		d := cpuNow(tb) - start
		r.cpu += d
		r.n += r.calls
		return float64(d) / float64(r.calls)
	}
	// Every batch of a contestant runs between two batches of raw, and
	// its ratio is to their mean: the machine's speed drifts (other
	// jobs, frequency), and a reference taken a whole round away would
	// add that drift to the ratio.
	others := slices.Clone(rs[1:])
	ratios := make(map[*runner][]float64, len(rs))
	for range plan.rounds {
		before := batch(raw)
		for _, r := range others {
			p := batch(r)
			after := batch(raw)
			if before+after > 0 {
				ratios[r] = append(ratios[r], 2*p/(before+after))
			}
			before = after
		}
		// Alternate the order (A…Z, Z…A, …) so that whatever one batch
		// leaves to the next (garbage to collect, cold caches) does not
		// always fall on the same contestant.
		slices.Reverse(others)
	}
	out := make(map[string]cpuResult, len(rs))
	out[raw.name] = cpuResult{perCall: raw.cpu / time.Duration(max(raw.n, 1)), ratio: 1}
	for _, r := range others {
		out[r.name] = cpuResult{perCall: r.cpu / time.Duration(max(r.n, 1)), ratio: median(ratios[r])}
	}
	return out
}

// median of xs; 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// TestCPUTimeSmoke keeps the CPU-time measurement working under a plain go
// test (CI): two short rounds of GetSmall in memory, every contestant. It
// logs the ratios; it never passes or fails on them (that would be a timed
// test). The real measurement is TestRecordRun (run.go's -record).
func TestCPUTimeSmoke(t *testing.T) {
	res := measureCPU(t, "GetSmall/inmem", scenarioOps(t, scGetSmall, inmem, allContestants()), cpuPlan{rounds: 2, batch: 200 * time.Microsecond})
	for _, ct := range allContestants() {
		r, ok := res[ct.name]
		if !ok {
			t.Fatalf("no result for %s", ct.name)
		}
		t.Logf("GetSmall/inmem %-14s %8v CPU/call, %.2f× raw", ct.name, r.perCall, r.ratio)
	}
}
