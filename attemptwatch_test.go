package authclient

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testWatch is an attemptWatch on a clock the test sets, whose timer the
// test fires; arms records what it was armed for.
type testWatch struct {
	*attemptWatch
	now  atomic.Int64
	mu   sync.Mutex
	arms []time.Duration
}

func newTestWatch(timeout time.Duration) *testWatch {
	tw := &testWatch{attemptWatch: &attemptWatch{timeout: timeout}}
	tw.now.Store(1)
	tw.clock = tw.now.Load
	tw.arm = func(d time.Duration) {
		tw.mu.Lock()
		tw.arms = append(tw.arms, d)
		tw.mu.Unlock()
	}
	return tw
}

func (tw *testWatch) armed() []time.Duration {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	a := tw.arms
	tw.arms = nil
	return a
}

// cancelRecorder is an attempt's cancel function that counts its calls.
type cancelRecorder struct {
	calls atomic.Int32
	cause atomic.Value
}

func (c *cancelRecorder) cancel(cause error) {
	c.calls.Add(1)
	c.cause.Store(cause)
}

// TestAttemptWatchCancelsOnlyPastDeadline: the timer is armed once for the
// earliest deadline, cancels exactly the attempts past theirs with the
// per-attempt timeout, is armed again for the earliest left, and not at
// all once none is left; an attempt whose headers came is never cancelled.
func TestAttemptWatchCancelsOnlyPastDeadline(t *testing.T) {
	tw := newTestWatch(100)
	var a, b, c cancelRecorder
	ka, ga := tw.watch(a.cancel)
	tw.now.Add(10)
	kb, gb := tw.watch(b.cancel)
	tw.now.Add(10)
	kc, gc := tw.watch(c.cancel)
	require.GreaterOrEqual(t, min(ka, kb, kc), 0)
	assert.Equal(t, []time.Duration{100}, tw.armed(), "armed once, for the first deadline")

	tw.now.Store(101) // a's deadline
	tw.fire()
	assert.Equal(t, int32(1), a.calls.Load())
	assert.Equal(t, errAttemptTimeout, a.cause.Load())
	assert.Zero(t, b.calls.Load()+c.calls.Load())
	assert.Equal(t, []time.Duration{10}, tw.armed(), "armed again for b's deadline")

	assert.True(t, tw.done(kb, gb), "b's headers came in time")
	tw.now.Store(121)
	tw.fire() // b's deadline: b is gone, c is past its own
	assert.Zero(t, b.calls.Load())
	assert.Equal(t, int32(1), c.calls.Load())
	assert.Empty(t, tw.armed(), "nothing left to arm for")
	assert.Zero(t, tw.fireAt.Load())

	assert.False(t, tw.done(ka, ga), "a timed out")
	assert.False(t, tw.done(kc, gc), "c timed out")
	tw.fire()
	assert.Equal(t, []int32{1, 0, 1}, []int32{a.calls.Load(), b.calls.Load(), c.calls.Load()}, "no attempt cancelled twice")

	// Idle again: the next attempt arms the timer itself.
	var d cancelRecorder
	kd, gd := tw.watch(d.cancel)
	assert.Equal(t, []time.Duration{100}, tw.armed())
	assert.True(t, tw.done(kd, gd))
}

// TestAttemptWatchGenerations: a slot freed and taken by the next attempt
// is that attempt's: the last one's late done neither frees it nor
// reports a timeout, and the slot keeps no context of a finished attempt.
func TestAttemptWatchGenerations(t *testing.T) {
	tw := newTestWatch(100)
	var a, b cancelRecorder
	seen := map[int]bool{}
	var ka int
	var ga uint64
	// Take and free slots until one is taken a second time.
	for {
		ka, ga = tw.watch(a.cancel)
		require.GreaterOrEqual(t, ka, 0)
		require.True(t, tw.done(ka, ga))
		assert.Nil(t, tw.slots[ka].cancel, "a freed slot keeps no cancel function")
		if seen[ka] {
			break
		}
		seen[ka] = true
	}
	kb, gb := tw.watch(b.cancel)
	for kb != ka {
		require.True(t, tw.done(kb, gb))
		kb, gb = tw.watch(b.cancel)
	}
	assert.NotEqual(t, ga, gb)
	assert.False(t, tw.done(ka, ga), "a stale done is refused")
	tw.now.Store(1 + 100)
	tw.fire()
	assert.Equal(t, int32(1), b.calls.Load(), "the slot's attempt is b's, and b timed out")
	assert.Zero(t, a.calls.Load())
}

// TestAttemptWatchFull: with every slot taken, watch says so (the
// transport then gives the attempt a timer of its own).
func TestAttemptWatchFull(t *testing.T) {
	tw := newTestWatch(100)
	var r cancelRecorder
	for range watchSlots {
		k, _ := tw.watch(r.cancel)
		require.GreaterOrEqual(t, k, 0)
	}
	k, _ := tw.watch(r.cancel)
	assert.Equal(t, -1, k)
	var none *attemptWatch
	k, _ = none.watch(r.cancel)
	assert.Equal(t, -1, k)
}

// TestAttemptWatchConcurrent: attempts come and go on many goroutines
// while the timer fires over and over before any deadline: none is
// cancelled. Then, past every deadline, one firing cancels exactly the
// attempts still in flight, each once, and exactly their done reports it.
func TestAttemptWatchConcurrent(t *testing.T) {
	tw := newTestWatch(1000)
	const workers, rounds = 8, 300
	var cancelled atomic.Int32
	stop := make(chan struct{})
	var firing sync.WaitGroup
	firing.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				tw.fire()
			}
		}
	})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var r cancelRecorder
			for range rounds {
				k, g := tw.watch(r.cancel)
				if k >= 0 && !tw.done(k, g) {
					cancelled.Add(1)
				}
			}
			if r.calls.Load() != 0 {
				cancelled.Add(1)
			}
		})
	}
	wg.Wait()
	close(stop)
	firing.Wait()
	assert.Zero(t, cancelled.Load(), "an attempt was cancelled before its deadline")

	// Some attempts stay in flight, past their deadline.
	held := make([]*cancelRecorder, 10)
	ks := make([]int, len(held))
	gs := make([]uint64, len(held))
	for i := range held {
		held[i] = new(cancelRecorder)
		ks[i], gs[i] = tw.watch(held[i].cancel)
	}
	tw.now.Add(1000)
	var fires sync.WaitGroup
	for range 4 {
		fires.Go(tw.fire)
	}
	fires.Wait()
	for i, r := range held {
		assert.Equal(t, int32(1), r.calls.Load(), "attempt %d", i)
		assert.False(t, tw.done(ks[i], gs[i]))
	}
}

// blockingTransport answers no request: each waits for its context.
type blockingTransport struct{ started chan struct{} }

func (b blockingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	b.started <- struct{}{}
	<-r.Context().Done()
	return nil, context.Cause(r.Context())
}

// TestAttemptTimeoutBeyondTheWatchSlots: more attempts in flight than
// the watch has slots all time out, the ones past the slots on timers of
// their own, with the same error.
func TestAttemptTimeoutBeyondTheWatchSlots(t *testing.T) {
	t.Parallel()
	const n = watchSlots + 6
	base := blockingTransport{started: make(chan struct{}, n)}
	c, err := New(Komga, "http://komga.test/", WithAPIKey("WATCH-KEY-1"), WithTimeout(time.Second/5), // the only way out: the attempts block until it ends
		WithMaxRetries(0), WithHTTPClient(&http.Client{Transport: base}))
	require.NoError(t, err)
	errs := make(chan error, n)
	for range n {
		go func() { errs <- c.Do(t.Context(), http.MethodGet, "api/v1/series", nil, nil) }()
	}
	for range n {
		err := <-errs
		var te *TransportError
		require.True(t, errors.As(err, &te), "got %v", err)
		assert.True(t, te.Timeout(), "got %v", err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	}
	assert.Len(t, base.started, n)
}
