package observe

// StatsRow is one line of the `stats` table.
type StatsRow struct {
	Name       string  `json:"name"`
	Service    string  `json:"service"`
	Replica    int     `json:"replica,omitempty"` // of a scaled service
	State      string  `json:"state"`
	CPUPercent float64 `json:"cpuPercent"` // of one core, like docker stats
	Mem        uint64  `json:"memWorkingSet"`
	MemLimit   uint64  `json:"memLimit,omitempty"`
	NetRx      uint64  `json:"netRx"`
	NetTx      uint64  `json:"netTx"`
	BlockRead  uint64  `json:"blockRead"`
	BlockWrite uint64  `json:"blockWrite"`
	Pids       uint64  `json:"pids"`
}

// StatsTable computes the rows of `stats` from two snapshots: CPU is the
// rate between them.
func StatsTable(prev, cur Snapshot) []StatsRow {
	before := map[string]ContainerStat{}
	for _, c := range prev.Containers {
		before[c.ID] = c
	}
	rows := make([]StatsRow, 0, len(cur.Containers))
	for _, c := range cur.Containers {
		r := StatsRow{Name: c.Name, Service: c.Service, Replica: c.Replica, State: c.State}
		if c.Sampled {
			s := c.Sample
			r.Mem, r.MemLimit, r.Pids = s.MemWorkingSet, s.MemLimit, s.Pids
			r.NetRx, r.NetTx = s.RxTx()
			r.BlockRead, r.BlockWrite = s.FSReadBytes, s.FSWriteBytes
			if p, ok := before[c.ID]; ok && p.Sampled {
				dt := s.Time.Sub(p.Sample.Time)
				if dt > 0 && s.CPUUsage >= p.Sample.CPUUsage {
					r.CPUPercent = 100 * float64(s.CPUUsage-p.Sample.CPUUsage) / float64(dt)
				}
			}
		}
		rows = append(rows, r)
	}
	return rows
}
