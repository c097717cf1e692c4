package bench

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The README's comparison table is rendered from a checked-in run file,
// testdata/run.txt, written by TestRecordRun (record_test.go):
//
//	go test -run '^TestRecordRun$' -record -count=1 .
//
// rewrites the run file and the README table; TestREADMETable checks, under
// a plain go test, that the README shows what the run file says.

var updateREADME = flag.Bool("update-readme", false, "rewrite README.md's table from testdata/run.txt")

const (
	runFile     = "testdata/run.txt"
	readmeFile  = "README.md"
	tableBegin  = "<!-- run-table:begin (generated from testdata/run.txt by TestREADMETable; do not edit) -->"
	tableEnd    = "<!-- run-table:end -->"
	runFileHead = "# scenario mode contestant allocs/op B/op cpu-ns/op cpu-ratio"
)

// runRow is one line of the run file: allocations and bytes (inmem only,
// -1 when not measured) and CPU time per call with its ratio to raw.
type runRow struct {
	scenario, mode, contestant string
	allocs, bytes              float64
	cpuNS                      float64
	ratio                      float64
}

// run is a parsed run file: its comment lines and its rows, in order.
type run struct {
	comments []string
	rows     []runRow
}

func (r *run) find(sc, mode, ct string) (runRow, bool) {
	for _, x := range r.rows {
		if x.scenario == sc && x.mode == mode && x.contestant == ct {
			return x, true
		}
	}
	return runRow{}, false
}

func formatRun(r *run) []byte {
	var b bytes.Buffer
	for _, c := range r.comments {
		fmt.Fprintf(&b, "# %s\n", c)
	}
	b.WriteString(runFileHead + "\n")
	num := func(v float64) string {
		if v < 0 {
			return "-"
		}
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	for _, x := range r.rows {
		fmt.Fprintf(&b, "%s %s %s %s %s %.0f %.3f\n", x.scenario, x.mode, x.contestant, num(x.allocs), num(x.bytes), x.cpuNS, x.ratio)
	}
	return b.Bytes()
}

func parseRun(data []byte) (*run, error) {
	r := &run{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		switch {
		case t == "" || t == runFileHead:
			continue
		case strings.HasPrefix(t, "#"):
			r.comments = append(r.comments, strings.TrimSpace(strings.TrimPrefix(t, "#")))
			continue
		}
		f := strings.Fields(t)
		if len(f) != 7 {
			return nil, fmt.Errorf("%s:%d: %d fields, want 7", runFile, line, len(f))
		}
		x := runRow{scenario: f[0], mode: f[1], contestant: f[2]}
		for i, dst := range []*float64{&x.allocs, &x.bytes, &x.cpuNS, &x.ratio} {
			if f[3+i] == "-" {
				*dst = -1
				continue
			}
			v, err := strconv.ParseFloat(f[3+i], 64)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: field %d: %v", runFile, line, 4+i, err)
			}
			*dst = v
		}
		r.rows = append(r.rows, x)
	}
	return r, sc.Err()
}

// renderTable is the README's table: per scenario and contestant, the
// allocations and bytes above raw (inmem) and the CPU-time ratio to raw in
// both modes; raw's own row shows its absolute numbers.
func renderTable(r *run) string {
	var b strings.Builder
	b.WriteString("| scenario | contestant | Δ allocs/op | Δ B/op | CPU × raw, inmem | CPU × raw, loopback |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|\n")
	var scenarios, names []string
	for _, x := range r.rows {
		if !slices.Contains(scenarios, x.scenario) {
			scenarios = append(scenarios, x.scenario)
		}
		if !slices.Contains(names, x.contestant) {
			names = append(names, x.contestant)
		}
	}
	for _, sc := range scenarios {
		raw, _ := r.find(sc, inmem, "raw")
		for _, name := range names {
			in, okIn := r.find(sc, inmem, name)
			lo, okLo := r.find(sc, loopback, name)
			if !okIn && !okLo {
				continue
			}
			cpu := func(x runRow, ok bool) string {
				if !ok {
					return "—"
				}
				if name == "raw" {
					return fmt.Sprintf("1.00 (%s µs)", strconv.FormatFloat(x.cpuNS/1e3, 'f', 1, 64))
				}
				return fmt.Sprintf("%.2f", x.ratio)
			}
			allocs, bytesOp := "—", "—"
			if okIn && in.allocs >= 0 {
				if name == "raw" {
					allocs, bytesOp = fmt.Sprintf("%.0f", in.allocs), thousands(in.bytes)
				} else {
					allocs, bytesOp = fmt.Sprintf("%+.0f", in.allocs-raw.allocs), signed(in.bytes-raw.bytes)
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", sc, name, allocs, bytesOp, cpu(in, okIn), cpu(lo, okLo))
		}
	}
	return b.String()
}

// thousands formats a whole number with commas.
func thousands(v float64) string {
	s := strconv.FormatFloat(v, 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func signed(v float64) string {
	if v >= 0 {
		return "+" + thousands(v)
	}
	return thousands(v)
}

// replaceTable puts table between the markers of readme.
func replaceTable(readme []byte, table string) ([]byte, error) {
	s := string(readme)
	i := strings.Index(s, tableBegin)
	j := strings.Index(s, tableEnd)
	if i < 0 || j < i {
		return nil, fmt.Errorf("%s has no %q … %q section", readmeFile, tableBegin, tableEnd)
	}
	return []byte(s[:i+len(tableBegin)] + "\n" + table + s[j:]), nil
}

// TestREADMETable checks that README.md's table is the one rendered from
// testdata/run.txt (with -update-readme: rewrites it).
func TestREADMETable(t *testing.T) {
	data, err := os.ReadFile(runFile)
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseRun(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.rows) == 0 {
		t.Fatalf("%s has no rows", runFile)
	}
	readme, err := os.ReadFile(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	want, err := replaceTable(readme, renderTable(r))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(readme, want) {
		return
	}
	if *updateREADME {
		if err := os.WriteFile(readmeFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s's table is not the one rendered from %s: run go test -run TestREADMETable -update-readme .", readmeFile, runFile)
}

// TestRunFileRoundTrip: formatting a parsed run file gives it back.
func TestRunFileRoundTrip(t *testing.T) {
	data, err := os.ReadFile(runFile)
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseRun(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := formatRun(r); !bytes.Equal(got, data) {
		t.Errorf("format(parse(%s)) differs from the file:\n%s", runFile, got)
	}
	for _, bad := range []string{"GetSmall inmem raw 1 2 3\n", "GetSmall inmem raw x 2 3 1.0\n"} {
		if _, err := parseRun([]byte(bad)); err == nil {
			t.Errorf("parseRun(%q): no error", bad)
		}
	}
}
