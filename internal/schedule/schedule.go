package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kinds of schedule.
const (
	Off    = "off"
	Daily  = "daily"
	Weekly = "weekly"
	Every  = "every"
)

// MinEvery is the shortest interval an "every" schedule accepts.
const MinEvery = time.Minute

// RetryAfter is how long a failed attempt waits before the next one (or the
// interval of an "every" schedule, when shorter).
const RetryAfter = time.Hour

// Spec is a parsed schedule.
type Spec struct {
	Kind    string
	Weekday time.Weekday  // weekly
	Hour    int           // daily, weekly
	Minute  int           // daily, weekly
	Every   time.Duration // every
}

// Syntax is the one-line description of the schedule syntax, for messages.
const Syntax = `"daily [HH:MM]" (default 02:00), "weekly [mon..sun] [HH:MM]" (default sun 03:00), "every DURATION" (Go duration of at least 1m, e.g. 6h or 90m) or "off"`

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// Parse reads a schedule. Times are in the local time zone of the host
// running `dockerbank serve`.
func Parse(s string) (Spec, error) {
	f := strings.Fields(strings.ToLower(s))
	bad := func(why string) (Spec, error) {
		return Spec{}, fmt.Errorf("schedule %q: %s; write %s", s, why, Syntax)
	}
	if len(f) == 0 {
		return bad("empty")
	}
	switch f[0] {
	case Off, "never":
		if len(f) > 1 {
			return bad("off takes nothing after it")
		}
		return Spec{Kind: Off}, nil
	case Every:
		if len(f) != 2 {
			return bad("every needs one duration")
		}
		d, err := time.ParseDuration(f[1])
		if err != nil {
			return bad("the duration is not valid")
		}
		if d < MinEvery {
			return bad("the interval is shorter than 1m")
		}
		return Spec{Kind: Every, Every: d}, nil
	case Daily:
		sp := Spec{Kind: Daily, Hour: 2}
		switch len(f) {
		case 1:
		case 2:
			h, m, ok := clock(f[1])
			if !ok {
				return bad("the time is not HH:MM")
			}
			sp.Hour, sp.Minute = h, m
		default:
			return bad("daily takes at most a time")
		}
		return sp, nil
	case Weekly:
		sp := Spec{Kind: Weekly, Weekday: time.Sunday, Hour: 3}
		rest := f[1:]
		if len(rest) > 0 {
			if wd, ok := weekdays[trimDay(rest[0])]; ok {
				sp.Weekday = wd
				rest = rest[1:]
			}
		}
		switch len(rest) {
		case 0:
		case 1:
			h, m, ok := clock(rest[0])
			if !ok {
				return bad("expected a day (mon..sun) and/or a time HH:MM")
			}
			sp.Hour, sp.Minute = h, m
		default:
			return bad("weekly takes at most a day and a time")
		}
		return sp, nil
	}
	return bad("unknown kind " + strconv.Quote(f[0]))
}

// trimDay accepts monday as well as mon.
func trimDay(s string) string {
	for k, wd := range weekdays {
		if s == strings.ToLower(wd.String()) {
			return k
		}
	}
	return s
}

func clock(s string) (h, m int, ok bool) {
	hs, ms, found := strings.Cut(s, ":")
	if !found || len(ms) != 2 || len(hs) < 1 || len(hs) > 2 {
		return 0, 0, false
	}
	h, err1 := strconv.Atoi(hs)
	m, err2 := strconv.Atoi(ms)
	if err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, 0, false
	}
	return h, m, true
}

// String writes the spec in its canonical form.
func (s Spec) String() string {
	switch s.Kind {
	case Daily:
		return fmt.Sprintf("daily %02d:%02d", s.Hour, s.Minute)
	case Weekly:
		return fmt.Sprintf("weekly %s %02d:%02d", strings.ToLower(s.Weekday.String()[:3]), s.Hour, s.Minute)
	case Every:
		return "every " + s.Every.String()
	}
	return Off
}

// Run is what is known of a job's past runs.
type Run struct {
	// Last is the newest completed run; zero when there is none.
	Last time.Time
	// Since stands in for Last when there is none: the instance's creation,
	// so that a new instance waits for its first slot.
	Since time.Time
	// Failed is the newest failed attempt; it delays the next attempt by
	// RetryAfter when newer than Last.
	Failed time.Time
}

// Next returns when the job is due: a time at or before now means it is
// due now; the zero time means never (off). A job missed while nothing ran
// (the host was down) is due once, not once per missed slot: the next slot
// is the first one after the last run.
func (s Spec) Next(r Run) time.Time {
	ref := r.Last
	if ref.IsZero() {
		ref = r.Since
	}
	var next time.Time
	switch s.Kind {
	case Every:
		next = ref.Add(s.Every)
	case Daily, Weekly:
		next = s.slotAfter(ref)
	default:
		return time.Time{}
	}
	if r.Failed.After(ref) {
		retry := RetryAfter
		if s.Kind == Every && s.Every < retry {
			retry = s.Every
		}
		if t := r.Failed.Add(retry); t.After(next) {
			next = t
		}
	}
	return next
}

// slotAfter is the first slot strictly after t, in t's time zone.
func (s Spec) slotAfter(t time.Time) time.Time {
	y, mo, d := t.Date()
	c := time.Date(y, mo, d, s.Hour, s.Minute, 0, 0, t.Location())
	step := 1
	if s.Kind == Weekly {
		step = 7
		c = time.Date(y, mo, d+(int(s.Weekday)-int(t.Weekday())+7)%7, s.Hour, s.Minute, 0, 0, t.Location())
	}
	for !c.After(t) {
		y, mo, d = c.Date()
		c = time.Date(y, mo, d+step, s.Hour, s.Minute, 0, 0, t.Location())
	}
	return c
}
