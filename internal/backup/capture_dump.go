package backup

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/dockerbank/dockerbank/internal/progress"
)

// dump stores one database dump as one or more streams; ready is called
// once the dump's snapshot is fixed.
func (j *Job) dump(ctx context.Context, repo *Restic, m *Manifest, d DumpStep, ready func(), atSnapshot SnapshotFunc) (Member, error) {
	ctr := d.Container
	dumper, err := NewDumper(ctx, j.engine(), ctr.ID, d.Engine)
	if err != nil {
		return Member{}, fmt.Errorf("volume %s: %w", d.Volume, err)
	}
	if pg, ok := dumper.(*Postgres); ok {
		pg.atSnapshot = atSnapshot
		pg.only, pg.exclude = d.Database, d.Exclude
	} else if d.Database != "" || len(d.Exclude) > 0 {
		return Member{}, fmt.Errorf("volume %s: databases of a shared %s server cannot be dumped alone yet", d.Volume, d.Engine)
	}
	mb := Member{Volume: d.Volume, Kind: KindDump, Method: d.Method, Service: d.Service, Engine: d.Engine, Server: d.Server}
	snapOf := map[string]string{} // stream name -> snapshot
	start := time.Now()
	var mu sync.Mutex // dumpers may store several streams at once
	store := func(ctx context.Context, name string, r io.Reader) error {
		cr := &cancelReader{r: r}
		sum, err := repo.backupStdinCancel(ctx, cr, streamFile(d.Volume, name), groupTags(m, d.Volume, KindDump))
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		snapOf[name] = sum.SnapshotID
		mb.Added += sum.DataAdded
		crashPoint("dump-stream-stored")
		return nil
	}
	j.step("dump %s (%s in service %s)", d.Volume, d.Engine, d.Service)
	streams, err := dumper.Dump(ctx, store, ready)
	if err != nil {
		return Member{}, fmt.Errorf("volume %s: %w", d.Volume, err)
	}
	mb.Streams = streams
	snaps := make([]string, len(streams)) // in the order of Streams
	for i, st := range streams {
		snaps[i] = snapOf[st.Name]
	}
	mb.Snapshot = strings.Join(snaps, ",")
	for _, s := range streams {
		mb.Bytes += s.Size
		mb.Count++
	}
	j.report(progress.Event{Phase: progress.Dumped, Instance: m.Instance, Volume: d.Volume, Service: d.Service,
		Items: int64(len(streams)), Done: mb.Bytes, Added: mb.Added, Seconds: time.Since(start).Seconds()})
	return mb, nil
}
