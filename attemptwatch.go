package authclient

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// attemptWatch bounds the attempts of one transport that need a context
// timer (on a transport the caller brought) with one runtime timer for all
// of them, instead of one armed and stopped per attempt. Arming a timer
// that is the earliest of its P's wakes the network poller, a system call
// and a thread woken on another core: on a call in memory (Post1MiB) that was
// a microsecond of CPU time, most of what the timer cost.
//
// Every attempt of a transport has the same timeout, so an attempt that
// starts later ends later: the watch's timer only ever has to be armed
// for the earliest deadline in flight. An attempt takes a free slot and
// gives it back when its headers came (a compare-and-swap each); the
// timer, when it fires, cancels the attempts past their deadline and is
// armed again for the earliest of the rest, if any. So a steady stream of
// attempts arms the timer once per timeout period, not once per attempt;
// nothing locks and nothing is allocated on an attempt's way. A timer left
// armed after the last attempt fires once, finds nothing and stays idle;
// there is no goroutine to leak. With every slot taken, an attempt falls
// back to a timer of its own (transport.RoundTrip).
type attemptWatch struct {
	timeout time.Duration
	slots   [watchSlots]watchSlot
	next    atomic.Uint32 // where an attempt starts looking for a free slot
	fireAt  atomic.Int64  // when the timer fires (clock ns); 0: not armed

	mu    sync.Mutex // arms and disarms the timer; not taken while it is armed
	timer *time.Timer

	// clock is monotonic time in ns and arm arms the timer; tests replace
	// both to fire the timer themselves.
	clock func() int64
	arm   func(d time.Duration)
}

// watchSlots bounds the attempts in flight one watch keeps; more fall back
// to a timer each.
const watchSlots = 64

// watchSlot holds one attempt in flight. Its state is a generation and a
// phase; every change of hands is a compare-and-swap of the state, and the
// generation, counted up each time the slot is freed, keeps a late
// compare-and-swap from taking the slot's next attempt for its last.
type watchSlot struct {
	state    atomic.Uint64 // generation<<2 | phase
	deadline atomic.Int64
	cancel   context.CancelCauseFunc // set while claiming, read while firing or freeing: never by two at once
}

// The phases of a watchSlot.
const (
	slotIdle     = 0
	slotClaiming = 1 // an attempt fills it in, or empties it
	slotBusy     = 2 // an attempt in flight
	slotFiring   = 3 // the timer cancels its attempt
)

var watchEpoch = time.Now()

func newAttemptWatch(timeout time.Duration) *attemptWatch {
	w := &attemptWatch{timeout: timeout, clock: func() int64 { return int64(time.Since(watchEpoch)) + 1 }}
	w.arm = func(d time.Duration) {
		if w.timer == nil {
			w.timer = time.AfterFunc(d, w.fire)
			return
		}
		w.timer.Reset(d)
	}
	return w
}

// watch registers an attempt that cancel cancels; it returns its slot
// and the slot's generation, or -1 if every slot is taken (or there is no
// watch).
func (w *attemptWatch) watch(cancel context.CancelCauseFunc) (int, uint64) {
	if w == nil {
		return -1, 0
	}
	deadline := w.clock() + int64(w.timeout)
	start := w.next.Add(1)
	for i := range uint32(watchSlots) {
		k := int((start + i) % watchSlots)
		s := &w.slots[k]
		st := s.state.Load()
		if st&3 != slotIdle || !s.state.CompareAndSwap(st, st|slotClaiming) {
			continue
		}
		gen := st >> 2
		s.cancel = cancel
		s.deadline.Store(deadline)
		s.state.Store(gen<<2 | slotBusy)
		if w.fireAt.Load() == 0 {
			w.armFor(deadline)
		}
		return k, gen
	}
	return -1, 0
}

// done frees slot k of generation gen, the attempt's; it reports false if
// the timer took the attempt first, to cancel it: the attempt timed out.
func (w *attemptWatch) done(k int, gen uint64) bool {
	s := &w.slots[k]
	if !s.state.CompareAndSwap(gen<<2|slotBusy, gen<<2|slotClaiming) {
		return false
	}
	s.cancel = nil // the attempt's context is not kept alive by an idle slot
	s.state.Store((gen + 1) << 2)
	return true
}

// armFor arms the timer for deadline unless it fires earlier already.
func (w *attemptWatch) armFor(deadline int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if at := w.fireAt.Load(); at != 0 && at <= deadline {
		return
	}
	w.fireAt.Store(deadline)
	w.arm(time.Duration(max(deadline-w.clock(), 0)))
}

// fire cancels the attempts past their deadline and arms the timer for
// the earliest of the others. It disarms first, so that an attempt that
// registers during the scan and is not seen by it arms the timer itself.
func (w *attemptWatch) fire() {
	w.mu.Lock()
	w.fireAt.Store(0)
	w.mu.Unlock()
	now := w.clock()
	earliest := int64(0)
	for k := range w.slots {
		s := &w.slots[k]
		st := s.state.Load()
		if st&3 != slotBusy {
			continue
		}
		// A deadline read after the slot changed hands belongs to a newer
		// attempt: still ahead, or the swap below fails.
		if d := s.deadline.Load(); d > now {
			if earliest == 0 || d < earliest {
				earliest = d
			}
			continue
		}
		if !s.state.CompareAndSwap(st, st&^3|slotFiring) {
			continue // its headers came meanwhile
		}
		cancel := s.cancel
		s.cancel = nil
		s.state.Store((st>>2 + 1) << 2)
		cancel(errAttemptTimeout)
	}
	if earliest != 0 {
		w.armFor(earliest)
	}
}
