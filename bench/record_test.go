//go:build unix

package bench

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

var (
	recordRun   = flag.Bool("record", false, "TestRecordRun: measure every contestant and rewrite testdata/run.txt and README.md's table")
	recordRound = flag.Int("record-rounds", 21, "TestRecordRun: interleaved rounds per scenario and mode")
)

// recordScenarios are the scenarios of the run file and the README table.
var recordScenarios = []*scenario{scGetSmall, scGetQuery, scPostJSON, scError401, scError403, scError404, scError429, scPost1MiB}

// recordStreams are the streamed bodies of the run file and the table, by
// raw, raw-again and sdk (stream_test.go): 16 MiB, so that a 40 ms batch
// holds several calls over loopback too.
var recordStreams = []struct {
	name     string
	download bool
}{{"Download16MiB", true}, {"Upload16MiB", false}}

const recordStreamSize = 16 << 20

// TestRecordRun measures, for every scenario of recordScenarios and every
// contestant (the peers included), and for the streams of recordStreams:
// allocations and B/op in memory (exact, testing.AllocsPerRun and
// MemStats.TotalAlloc over 500 calls, 20 for a stream) and CPU time per
// call in both modes (getrusage, interleaved rounds, median ratio to raw),
// then writes testdata/run.txt and the README table. It only runs with
// -record (about five minutes on 2 cores):
//
//	go test -run '^TestRecordRun$' -record -count=1 .
func TestRecordRun(t *testing.T) {
	if !*recordRun {
		t.Skip("measures for about five minutes; run with -record")
	}
	if raceEnabled {
		t.Skip("allocation counts and CPU time are not meaningful under -race")
	}
	// raw-again is raw a second time, on its own fixture like every
	// contestant: what it shows against raw is the run's noise floor.
	all := allContestants()
	again := all[0]
	again.name = "raw-again"
	cts := append([]contestant{all[0], again}, all[1:]...)
	// Batches of 40 ms: one GC cycle comes every 1,000 to 2,000 calls
	// here, and a batch of a few hundred calls that gets one and a batch
	// that does not would differ by more than the contestants do.
	plan := cpuPlan{rounds: *recordRound, batch: time.Second / 25}
	r := &run{comments: []string{
		"authclient bench run, written by: go test -run '^TestRecordRun$' -record -count=1 .",
		fmt.Sprintf("%s, %s/%s, %d CPUs, %s", time.Now().UTC().Format("2006-01-02"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel()),
		runtime.Version(),
		fmt.Sprintf("CPU: getrusage user+sys per call at GOMAXPROCS=1, %d interleaved rounds of ~%v per contestant, median of the per-round ratios to raw", plan.rounds, plan.batch),
		"allocs/op and B/op: inmem only, 500 calls (- for loopback)",
	}}
	for _, sc := range recordScenarios {
		var in []contestant // those that can run sc
		for _, ct := range cts {
			if !(sc.retry && !ct.retries) {
				in = append(in, ct)
			}
		}
		for _, mode := range []string{inmem, loopback} {
			record(t, r, sc.name, mode, plan, scenarioOps(t, sc, mode, in), 500)
		}
	}
	for _, st := range recordStreams {
		for _, mode := range []string{inmem, loopback} {
			record(t, r, st.name, mode, plan, streamOps(t, st.download, mode, recordStreamSize), 20)
		}
	}
	data := formatRun(r)
	if err := os.WriteFile(runFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// Render from the file as written (rounded), as TestREADMETable does.
	r, err := parseRun(data)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	readme, err = replaceTable(readme, renderTable(r))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(readmeFile, readme, 0o644); err != nil {
		t.Fatal(err)
	}
}

// record measures ops in mode and adds their rows to r: CPU always,
// allocations and B/op (over runs calls) in memory only.
func record(t *testing.T, r *run, name, mode string, plan cpuPlan, ops []cpuOp, runs int) {
	t.Helper()
	cpu := measureCPU(t, name+"/"+mode, ops, plan)
	for _, o := range ops {
		x := runRow{scenario: name, mode: mode, contestant: o.name, allocs: -1, bytes: -1,
			cpuNS: float64(cpu[o.name].perCall), ratio: cpu[o.name].ratio}
		if mode == inmem {
			x.allocs, x.bytes = measureAllocs(t, name+"/"+o.name, o.op, runs)
		}
		t.Logf("%s/%s/%s: %.0f allocs/op %.0f B/op %.0f ns CPU/op %.2f× raw", x.scenario, x.mode, x.contestant, x.allocs, x.bytes, x.cpuNS, x.ratio)
		r.rows = append(r.rows, x)
	}
}

// streamOps are a streamed download or upload of size bytes in mode by
// raw, raw-again and sdk, each on a fixture of its own.
func streamOps(tb testing.TB, download bool, mode string, size int64) []cpuOp {
	op := streamOp(download, size)
	again := streamContestants[0]
	again.name = "raw-again"
	var ops []cpuOp
	for _, ct := range append([]streamContestant{streamContestants[0], again}, streamContestants[1:]...) {
		f := newStreamFixture(tb, mode, size)
		s := ct.new(tb, f)
		ops = append(ops, cpuOp{name: ct.name, op: func(ctx context.Context) error {
			if err := op(ctx, s); err != nil {
				return err
			}
			if !download && f.got.Load() != size {
				return fmt.Errorf("the server got %d bytes, want %d", f.got.Load(), size)
			}
			return nil
		}})
	}
	return ops
}

// measureAllocs is one call's allocations and bytes, over runs calls.
func measureAllocs(t *testing.T, label string, op func(context.Context) error, runs int) (allocs, bytes float64) {
	t.Helper()
	ctx := context.Background()
	call := func() {
		if err := op(ctx); err != nil {
			t.Fatalf("%s: %v", label, err)
		}
	}
	allocs = testing.AllocsPerRun(runs, call)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	call()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for range runs {
		call()
	}
	runtime.ReadMemStats(&m1)
	return allocs, float64(m1.TotalAlloc-m0.TotalAlloc) / float64(runs)
}

// cpuModel is the first "model name" of /proc/cpuinfo, "" if none.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
