package observe

import "time"

// Point is one value of a chart.
type Point struct {
	Time time.Time
	// CPU is the average number of cores used since the previous point.
	CPU float64
	// Mem is the working set in bytes.
	Mem uint64
}

// ring keeps the last n points of one container.
type ring struct {
	pts  []Point
	next int
	full bool
	last struct {
		t   time.Time
		cpu time.Duration
	}
}

func (r *ring) add(p Point) {
	if r.full {
		r.pts[r.next] = p
	} else {
		r.pts = append(r.pts, p)
	}
	r.next = (r.next + 1) % cap(r.pts)
	if len(r.pts) == cap(r.pts) {
		r.full = true
	}
}

func (r *ring) points() []Point {
	if !r.full {
		return append([]Point(nil), r.pts...)
	}
	return append(append([]Point(nil), r.pts[r.next:]...), r.pts[:r.next]...)
}

func (c *Collector) historyLen() int {
	if c.Keep > 0 {
		return c.Keep
	}
	return 240
}

// record adds a snapshot's readings to the history; c.mu is held.
func (c *Collector) record(s Snapshot) {
	if c.history == nil {
		c.history = map[string]*ring{}
	}
	seen := map[string]bool{}
	for _, ct := range s.Containers {
		if !ct.Sampled {
			continue
		}
		seen[ct.Name] = true
		r := c.history[ct.Name]
		if r == nil {
			r = &ring{pts: make([]Point, 0, c.historyLen())}
			c.history[ct.Name] = r
		}
		p := Point{Time: ct.Sample.Time, Mem: ct.Sample.MemWorkingSet}
		if dt := ct.Sample.Time.Sub(r.last.t); !r.last.t.IsZero() && dt > 0 && ct.Sample.CPUUsage >= r.last.cpu {
			p.CPU = float64(ct.Sample.CPUUsage-r.last.cpu) / float64(dt)
		}
		r.last.t, r.last.cpu = ct.Sample.Time, ct.Sample.CPUUsage
		r.add(p)
	}
	for name := range c.history {
		if !seen[name] {
			delete(c.history, name)
		}
	}
}

// History returns the recorded points of one container, oldest first.
func (c *Collector) History(name string) []Point {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.history[name]; r != nil {
		return r.points()
	}
	return nil
}
