package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dockerbank/dockerbank/internal/schedule"
	"github.com/dockerbank/dockerbank/internal/site"
)

// fakeJobs records what the scheduler ran and writes the results a real
// job writes (lastBackup, the drill file), at the fake clock's time.
type fakeJobs struct {
	s       *site.Site
	now     *time.Time
	ran     []string
	failing map[string]bool // job -> fail
}

func (f *fakeJobs) Backup(_ context.Context, name string) error {
	f.ran = append(f.ran, "backup "+name)
	if f.failing[JobBackup] {
		return errors.New("repository unreachable")
	}
	in, err := f.s.Instance(name)
	if err != nil {
		return err
	}
	in.LastBackup, in.LastBackupBytes = *f.now, 1234
	return f.s.Save(in)
}

func (f *fakeJobs) Drill(_ context.Context, name string) error {
	f.ran = append(f.ran, "drill "+name)
	if f.failing[JobDrill] {
		if err := f.s.SaveDrill(name, site.Drill{Time: *f.now, OK: false}); err != nil {
			return err
		}
		return errors.New("table records differs")
	}
	return f.s.SaveDrill(name, site.Drill{Time: *f.now, OK: true})
}

func (f *fakeJobs) Forget(_ context.Context, name string, k schedule.Keep) error {
	f.ran = append(f.ran, fmt.Sprintf("forget %s daily=%d", name, k.Daily))
	return nil
}

func TestSchedulerDueRunsCatchUpAndRestart(t *testing.T) {
	loc := time.FixedZone("CET", 3600)
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("Mon 2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := "apiVersion: dockerbank/v1\nprotect:\n  instances:\n    b: {drill: 'off'}\n"
	if err := os.WriteFile(filepath.Join(s.Dir, site.ConfigFile), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	created := at("Thu 2026-11-26 10:00")
	for _, name := range []string{"a", "b"} {
		if err := s.Save(&site.Instance{Name: name, Entry: "demo", Created: created, Changed: created}); err != nil {
			t.Fatal(err)
		}
	}
	now := created
	jobs := &fakeJobs{s: s, now: &now, failing: map[string]bool{}}
	entry := &schedule.Policy{Backup: "daily 02:00", Drill: "weekly sun 03:00", Keep: &schedule.Keep{Daily: 7}}
	newScheduler := func() *Scheduler {
		return &Scheduler{Site: s, Jobs: jobs, Now: func() time.Time { return now },
			EntryPolicy: func(context.Context, *site.Instance) (*schedule.Policy, error) { return entry, nil }}
	}
	sch := newScheduler()
	steps := []struct {
		now     string
		restart bool // a new Scheduler: nothing carried over in memory
		fail    string
		want    []string
	}{
		{now: "Thu 2026-11-26 12:00", want: nil},
		{now: "Fri 2026-11-27 01:59", want: nil},
		{now: "Fri 2026-11-27 02:00", want: []string{"backup a", "forget a daily=7", "backup b", "forget b daily=7"}},
		{now: "Fri 2026-11-27 02:01", want: nil},
		// serve was down from Friday to Monday: one catch-up backup per
		// instance (not three) and the missed Sunday drill of a, once.
		{now: "Mon 2026-11-30 09:00", restart: true, want: []string{"backup a", "forget a daily=7", "drill a", "backup b", "forget b daily=7"}},
		{now: "Mon 2026-11-30 09:01", want: nil},
		// A failed backup is retried after an hour, not at every check,
		// also across a restart (the failure is read from the journal).
		{now: "Tue 2026-12-01 02:00", fail: JobBackup, want: []string{"backup a", "backup b"}},
		{now: "Tue 2026-12-01 02:30", restart: true, want: nil},
		{now: "Tue 2026-12-01 03:00", want: []string{"backup a", "forget a daily=7", "backup b", "forget b daily=7"}},
		// A drill that ran and failed is a result: not repeated.
		{now: "Sun 2026-12-06 03:00", fail: JobDrill, want: []string{"backup a", "forget a daily=7", "drill a", "backup b", "forget b daily=7"}},
		{now: "Sun 2026-12-06 04:30", restart: true, want: nil},
	}
	for _, st := range steps {
		now = at(st.now)
		if st.restart {
			sch = newScheduler()
		}
		jobs.failing = map[string]bool{st.fail: st.fail != ""}
		jobs.ran = nil
		if _, err := sch.RunDue(t.Context()); err != nil {
			t.Fatalf("%s: RunDue: %v", st.now, err)
		}
		if d := cmp.Diff(st.want, jobs.ran); d != "" {
			t.Errorf("%s: jobs run (-want +got):\n%s", st.now, d)
		}
	}
	plans, err := newScheduler().Plans(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ Instance, Source, Backup, Drill, NextBackup, NextDrill string }
	var got []row
	for _, p := range plans {
		r := row{p.Instance, p.Source, p.Backup, p.Drill, p.NextBackup.In(loc).Format("Mon 01-02 15:04"), "-"}
		if !p.NextDrill.IsZero() {
			r.NextDrill = p.NextDrill.In(loc).Format("Mon 01-02 15:04")
		}
		got = append(got, r)
	}
	want := []row{
		{"a", "entry", "daily 02:00", "weekly sun 03:00", "Mon 12-07 02:00", "Sun 12-13 03:00"},
		{"b", "entry+site instance", "daily 02:00", "off", "Mon 12-07 02:00", "-"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("plans (-want +got):\n%s", d)
	}
	if plans[0].LastDrill == nil || plans[0].LastDrill.OK {
		t.Errorf("plan of a: last drill %+v, want the failed one", plans[0].LastDrill)
	}
	recs, _ := s.Journal()
	var failed int
	for _, r := range recs {
		if r.Command == SchedulerCommand && r.Outcome == "failed" {
			failed++
		}
	}
	if failed != 3 { // two backups, one drill
		t.Errorf("journal holds %d failed scheduler records, want 3", failed)
	}
}

func TestSchedulerBadPolicyIsNotRun(t *testing.T) {
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-72 * time.Hour)
	if err := s.Save(&site.Instance{Name: "a", Created: old, Changed: old}); err != nil {
		t.Fatal(err)
	}
	jobs := &fakeJobs{s: s, now: new(time.Time)}
	sch := &Scheduler{Site: s, Jobs: jobs, EntryPolicy: func(context.Context, *site.Instance) (*schedule.Policy, error) {
		return &schedule.Policy{Backup: "hourly"}, nil
	}}
	if _, err := sch.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	plans, _ := sch.Plans(t.Context())
	if len(jobs.ran) != 0 || len(plans) != 1 || plans[0].Error == "" {
		t.Errorf("ran %v, plans %+v; want nothing run and the policy error shown", jobs.ran, plans)
	}
}

// copyJobs adds scheduled off-site copies to fakeJobs.
type copyJobs struct {
	*fakeJobs
}

func (c copyJobs) Copy(_ context.Context, name, copy string) error {
	c.ran = append(c.ran, "copy "+copy+" "+name)
	return c.s.UpdateCopies([]site.CopyRecord{{Instance: name, Group: "g", Copy: copy, Copied: *c.now, Verified: *c.now}}, name, copy, nil)
}

// A copy with a schedule of its own runs when due after the instance's
// first backup, then by its schedule; copies without one are the
// backup job's.
func TestSchedulerRunsScheduledCopies(t *testing.T) {
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pass := filepath.Join(t.TempDir(), "p")
	os.WriteFile(pass, []byte("x"), 0o600)
	cfg := "apiVersion: dockerbank/v1\nbackup:\n  copies:\n    - {name: night, repository: 'sftp:offsite:/srv/r', passwordFile: " + pass + ", schedule: 'daily 04:00'}\n    - {name: each, repository: 'sftp:offsite:/srv/e', passwordFile: " + pass + "}\n"
	if err := os.WriteFile(filepath.Join(s.Dir, site.ConfigFile), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	if err := s.Save(&site.Instance{Name: "a", Entry: "demo", Created: t0, Changed: t0, LastBackup: t0}); err != nil {
		t.Fatal(err)
	}
	now := t0
	jobs := copyJobs{&fakeJobs{s: s, now: &now}}
	sch := &Scheduler{Site: s, Jobs: jobs, Now: func() time.Time { return now }}
	var got []string
	for _, h := range []int{2, 5, 6, 29} {
		now = t0.Add(time.Duration(h) * time.Hour)
		ran, err := sch.RunDue(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range ran {
			if r.Job == JobCopy {
				got = append(got, fmt.Sprintf("%dh %s %v", h, r.Instance, r.Err))
			}
		}
	}
	// 04:00 passes between 02:00 and 05:00, and again before 29h (05:00 next day).
	if d := cmp.Diff([]string{"5h a <nil>", "29h a <nil>"}, got); d != "" {
		t.Errorf("scheduled copies (-want +got):\n%s", d)
	}
}
