package authtest

import (
	"sync"
	"time"
)

// Clock is a time source for the fakes. A Clock made with a zero start time
// follows the wall clock, shifted by whatever [Clock.Advance] added; one made
// with a non-zero start time is frozen at that time until advanced. Its
// methods are safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	frozen bool
	t      time.Time
	offset time.Duration
}

// NewClock returns a clock frozen at start, or following the wall clock when
// start is the zero time.
func NewClock(start time.Time) *Clock {
	return &Clock{frozen: !start.IsZero(), t: start}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		return c.t
	}
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		c.t = c.t.Add(d)
	} else {
		c.offset += d
	}
}
