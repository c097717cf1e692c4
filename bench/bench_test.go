package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"testing"
)

// scenario is one kind of call, run by every contestant in every mode it
// lists, as BenchmarkX/<mode>/<contestant>.
type scenario struct {
	name    string
	modes   []string
	respond func(n int64) *canned
	retry   bool // every call needs one retry: the SDK gets WithRetryWait(0, 0), non-retrying contestants sit out
	// controls are extra contestants that show what the scenario catches.
	controls []contestant
	op       func(ctx context.Context, c client) error
}

var errWrongResult = errors.New("decoded result is not what the server sent")

func getPage(ctx context.Context, c client, want int) error {
	var p Page
	if err := c.Get(ctx, seriesPath, &p); err != nil {
		return err
	}
	if len(p.Content) != want {
		return errWrongResult
	}
	return nil
}

func always(a **canned) func(int64) *canned {
	return func(int64) *canned { return *a }
}

var (
	scGetSmall = &scenario{
		name:     "GetSmall",
		modes:    []string{inmem, loopback},
		respond:  always(&answerSmall),
		controls: []contestant{sdkOwned},
		op:       func(ctx context.Context, c client) error { return getPage(ctx, c, smallLen) },
	}
	scGetChunked = &scenario{
		name:    "GetChunked",
		modes:   []string{loopback}, // chunking is a wire matter
		respond: always(&answerList),
		op:      func(ctx context.Context, c client) error { return getPage(ctx, c, listLen) },
		// raw-nodrain decodes and closes without draining: the terminating
		// chunk stays unread and net/http drops the connection.
		controls: []contestant{{name: "raw-nodrain", new: func(_ testing.TB, f *fixture, _ *scenario) client {
			return &rawClient{hc: &http.Client{Transport: f.tr}, base: f.baseURL, noDrain: true}
		}}},
	}
	scGetQuery = &scenario{
		name:    "GetQuery",
		modes:   []string{inmem, loopback},
		respond: always(&answerSmall),
		op: func(ctx context.Context, c client) error {
			var p Page
			if err := c.GetQuery(ctx, seriesPath, benchQuery, &p); err != nil {
				return err
			}
			if len(p.Content) != smallLen {
				return errWrongResult
			}
			return nil
		},
	}
	scPostJSON = &scenario{
		name:    "PostJSON",
		modes:   []string{inmem, loopback},
		respond: always(&answerColl),
		op: func(ctx context.Context, c client) error {
			var out Collection
			if err := c.PostJSON(ctx, collectionsPath, collReq, &out); err != nil {
				return err
			}
			if len(out.SeriesIDs) != len(collReq.SeriesIDs) {
				return errWrongResult
			}
			return nil
		},
	}
	scPost1MiB = &scenario{
		name:     "Post1MiB",
		modes:    []string{inmem, loopback},
		respond:  always(&answerAccepted),
		controls: []contestant{sdkOwned},
		op:       func(ctx context.Context, c client) error { return c.PostBytes(ctx, importPath, bigBody, nil) },
	}
	scError401 = &scenario{
		name:     "Error401",
		modes:    []string{inmem, loopback},
		respond:  always(&answer401),
		controls: []contestant{sdkOwned},
		op: func(ctx context.Context, c client) error {
			var p Page
			err := c.Get(ctx, seriesPath, &p)
			if !c.IsUnauthorized(err) {
				return fmt.Errorf("want an unauthorized error, got %v", err)
			}
			return nil
		},
	}
	scRetry503 = &scenario{
		name:  "Retry503",
		modes: []string{inmem, loopback},
		// Even requests get 503 with Retry-After: 0, odd ones the page, so
		// every sequential call makes exactly one retry.
		respond: func(n int64) *canned {
			if n%2 == 0 {
				return answer503
			}
			return answerSmall
		},
		retry: true,
		op:    func(ctx context.Context, c client) error { return getPage(ctx, c, smallLen) },
	}

	scenarios = []*scenario{scGetSmall, scGetChunked, scGetQuery, scPostJSON, scPost1MiB, scError401, scRetry503}

	// The other typed errors, in the allocation gates and the CPU table
	// (not benchmarked: they take the path Error401 takes).
	scError403 = errorScenario(http.StatusForbidden, "Forbidden")
	scError404 = errorScenario(http.StatusNotFound, "Not Found")
	scError429 = errorScenario(http.StatusTooManyRequests, "Too Many Requests")
)

// errorScenario is a GET answered with status and a Komga-shaped error
// body, which every contestant must turn into its typed error for that
// status. A retried status (429) gets its retries, by every contestant
// that retries alike, with Retry-After: 0; the others sit it out.
func errorScenario(status int, reason string) *scenario {
	body := []byte(`{"timestamp":"2025-11-23T02:27:00.000+00:00","status":` + strconv.Itoa(status) +
		`,"error":"` + reason + `","message":"` + reason + `","path":"/api/v1/series"}`)
	answer := jsonAnswer(status, body, "Retry-After", "0")
	return &scenario{
		name:    "Error" + strconv.Itoa(status),
		modes:   []string{inmem, loopback},
		respond: always(&answer),
		retry:   retryableStatus(status),
		op: func(ctx context.Context, c client) error {
			var p Page
			if err := c.Get(ctx, seriesPath, &p); c.ErrorStatus(err) != status {
				return fmt.Errorf("want a typed %d error, got %v", status, err)
			}
			return nil
		},
	}
}

func BenchmarkGetSmall(b *testing.B)   { runScenario(b, scGetSmall) }
func BenchmarkGetChunked(b *testing.B) { runScenario(b, scGetChunked) }
func BenchmarkGetQuery(b *testing.B)   { runScenario(b, scGetQuery) }
func BenchmarkPostJSON(b *testing.B)   { runScenario(b, scPostJSON) }
func BenchmarkPost1MiB(b *testing.B)   { runScenario(b, scPost1MiB) }
func BenchmarkError401(b *testing.B)   { runScenario(b, scError401) }
func BenchmarkRetry503(b *testing.B)   { runScenario(b, scRetry503) }

// BenchmarkParallel is GetSmall over loopback from 8×GOMAXPROCS goroutines
// sharing one client and one connection pool.
func BenchmarkParallel(b *testing.B) {
	b.Run(loopback, func(b *testing.B) {
		for _, ct := range allContestants() {
			b.Run(ct.name, func(b *testing.B) { runParallel(b, scGetSmall, ct) })
		}
	})
}

func runScenario(b *testing.B, sc *scenario) {
	for _, mode := range sc.modes {
		b.Run(mode, func(b *testing.B) {
			for _, ct := range append(allContestants(), sc.controls...) {
				if sc.retry && !ct.retries || ct.loopbackOnly && mode != loopback {
					continue
				}
				b.Run(ct.name, func(b *testing.B) { runSequential(b, sc, mode, ct) })
			}
		})
	}
}

// setup starts a fixture and a client, and makes one warm-up call so that
// the first dial is not counted.
func setup(b *testing.B, sc *scenario, mode string, ct contestant) (*fixture, client) {
	b.Helper()
	f := newFixture(b, mode, sc.respond)
	c := ct.new(b, f, sc)
	if err := sc.op(context.Background(), c); err != nil {
		b.Fatalf("warm-up call: %v", err)
	}
	f.dials.Store(0)
	return f, c
}

func runSequential(b *testing.B, sc *scenario, mode string, ct contestant) {
	b.ReportAllocs()
	before := runtime.NumGoroutine()
	f, c := setup(b, sc, mode, ct)
	ctx := context.Background()
	for b.Loop() {
		if err := sc.op(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	report(b, f, before)
}

func runParallel(b *testing.B, sc *scenario, ct contestant) {
	b.ReportAllocs()
	before := runtime.NumGoroutine()
	f, c := setup(b, sc, loopback, ct)
	ctx := context.Background()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := sc.op(ctx, c); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	report(b, f, before)
}

// report adds dials/op (loopback), closes the fixture and checks that no
// goroutine outlives it.
func report(b *testing.B, f *fixture, before int) {
	if f.mode == loopback && b.N > 0 {
		b.ReportMetric(float64(f.dials.Load())/float64(b.N), "dials/op")
	}
	f.close()
	checkGoroutines(b, before)
}
