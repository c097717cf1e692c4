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
var recordScenarios = []*scenario{scGetSmall, scGetQuery, scPostJSON, scError401, scPost1MiB}

// TestRecordRun measures, for every scenario of recordScenarios and every
// contestant (the peers included): allocations and B/op in memory (exact,
// testing.AllocsPerRun and MemStats.TotalAlloc over 500 calls) and CPU time
// per call in both modes (getrusage, interleaved rounds, median ratio to
// raw), then writes testdata/run.txt and the README table. It only runs
// with -record (about two minutes on 2 cores):
//
//	go test -run '^TestRecordRun$' -record -count=1 .
func TestRecordRun(t *testing.T) {
	if !*recordRun {
		t.Skip("measures for about two minutes; run with -record")
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
		for _, mode := range []string{inmem, loopback} {
			cpu := measureCPU(t, sc, mode, cts, plan)
			for _, ct := range cts {
				x := runRow{scenario: sc.name, mode: mode, contestant: ct.name, allocs: -1, bytes: -1,
					cpuNS: float64(cpu[ct.name].perCall), ratio: cpu[ct.name].ratio}
				if mode == inmem {
					x.allocs, x.bytes = measureAllocs(t, sc, ct)
				}
				t.Logf("%s/%s/%s: %.0f allocs/op %.0f B/op %.0f ns CPU/op %.2f× raw", x.scenario, x.mode, x.contestant, x.allocs, x.bytes, x.cpuNS, x.ratio)
				r.rows = append(r.rows, x)
			}
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

// measureAllocs is one call's allocations and bytes in memory.
func measureAllocs(t *testing.T, sc *scenario, ct contestant) (allocs, bytes float64) {
	t.Helper()
	f := newFixture(t, inmem, sc.respond)
	c := ct.new(t, f, sc)
	ctx := context.Background()
	op := func() {
		if err := sc.op(ctx, c); err != nil {
			t.Fatalf("%s/%s: %v", sc.name, ct.name, err)
		}
	}
	const runs = 500
	allocs = testing.AllocsPerRun(runs, op)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	op()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for range runs {
		op()
	}
	runtime.ReadMemStats(&m1)
	return allocs, float64(m1.TotalAlloc-m0.TotalAlloc) / runs
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
