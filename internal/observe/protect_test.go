package observe

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dockerbank/dockerbank/internal/audit"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/site"
)

// The protect and audit results the jobs record become metrics and alerts.
func TestProtectMetricsAndAlerts(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	in := &site.Instance{Name: "redcap", Created: t0.Add(-time.Hour), LastBackup: t0.Add(-30 * time.Minute), LastBackupBytes: 52428800, LastBackupSeconds: 12.5}
	snap := func(drillOK bool, high int) Snapshot {
		return Snapshot{Engine: "local", Up: true, Time: t0,
			Instances: []InstanceStat{{Instance: in, Health: "healthy", Drill: &site.Drill{Time: t0.Add(-10 * time.Minute), OK: drillOK, Detail: "table records differs"}}},
			Findings:  []Findings{{Instance: "redcap", ImageAudit: ImageAudit{Image: "redcap:14.5", Counts: map[string]int{"high": high, "low": 3}}}},
		}
	}
	c := &Collector{}
	c.snap = snap(false, 2)
	text := gather(t, c)
	for _, want := range []string{
		`dockerbank_backup_last_size_bytes{instance="redcap"} 5.24288e+07`,
		`dockerbank_backup_last_duration_seconds{instance="redcap"} 12.5`,
		`dockerbank_drill_last_success{instance="redcap"} 0`,
		`dockerbank_drill_last_timestamp_seconds{instance="redcap"} 1.7956938e+09`,
		`dockerbank_audit_findings{image="redcap:14.5",instance="redcap",severity="high"} 2`,
		`dockerbank_audit_findings{image="redcap:14.5",instance="redcap",severity="low"} 3`,
		`dockerbank_audit_findings{image="redcap:14.5",instance="redcap",severity="critical"} 0`,
		`dockerbank_engine_up{engine="local"} 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(text, "dockerbank_"))
		}
	}
	ev := &Evaluator{}
	changes := func(s Snapshot) []string {
		var out []string
		for _, a := range ev.Eval(t.Context(), s) {
			out = append(out, a.Rule+"/"+a.Subject+"/"+a.State)
		}
		return out
	}
	if d := cmp.Diff([]string{"RestoreDrillFailed/redcap/firing", "ImageHighFindings/redcap:14.5@redcap/firing"}, changes(snap(false, 2))); d != "" {
		t.Errorf("failed drill and high findings (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"RestoreDrillFailed/redcap/resolved", "ImageHighFindings/redcap:14.5@redcap/resolved"}, changes(snap(true, 0)), sortStrings); d != "" {
		t.Errorf("drill ok and no high findings (-want +got):\n%s", d)
	}
	// An engine that is down reports engine_up 0 and no container series.
	c.snap = Snapshot{Engine: "local", Time: t0}
	if text := gather(t, c); !strings.Contains(text, `dockerbank_engine_up{engine="local"} 0`) {
		t.Errorf("metrics of a down engine lack engine_up 0:\n%s", text)
	}
}

var sortStrings = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})

// The auditor's cached counts are those of the audit job on the same image.
func TestAuditorCountsFindings(t *testing.T) {
	e := connect(t)
	a := &Auditor{Saver: e}
	a.AuditDue(t.Context(), []string{testImage})
	got, ok := a.Result(testImage)
	if !ok || got.Err != "" {
		t.Fatalf("no audit result for %s: %+v", testImage, got)
	}
	rep, err := audit.Image(t.Context(), audit.FromEngine(e, testImage), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, f := range rep.Findings {
		want[f.Severity.String()]++
	}
	if d := cmp.Diff(want, got.Counts); d != "" {
		t.Errorf("cached counts (-audit job +auditor):\n%s", d)
	}
	t.Logf("%s: %v", testImage, got.Counts)
	before := got.Time
	a.AuditDue(t.Context(), []string{testImage})
	if again, _ := a.Result(testImage); !again.Time.Equal(before) {
		t.Error("the image was audited again within Every")
	}
}

// A start event that arrives after the collection that already counted the
// restart (by its new start time) is not counted again.
func TestLateStartEventNotCountedTwice(t *testing.T) {
	started := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	c := &Collector{runtimes: map[string]*runtimeState{"c1": {restarts: 1}}}
	c.runtimes["c1"].rt.StartedAt = started
	c.onEvent(engine.ContainerEvent{ID: "c1", Action: "start", Time: started.Add(15 * time.Millisecond)})
	if n := c.runtimes["c1"].starts; n != 0 {
		t.Errorf("the late event of the start already seen counted %v starts, want 0", n)
	}
	c.onEvent(engine.ContainerEvent{ID: "c1", Action: "start", Time: started.Add(30 * time.Second)})
	if n := c.runtimes["c1"].starts; n != 1 {
		t.Errorf("a later start counted %v starts, want 1", n)
	}
}

// An off-site copy that lags longer than its maxAge (or has nothing
// verified while the instance's backups are older than that) fires
// OffsiteCopyTooOld; the copy's age is a metric.
func TestOffsiteCopyAgeMetricAndAlert(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	in := &site.Instance{Name: "orthanc", Created: t0.Add(-72 * time.Hour), LastBackup: t0.Add(-time.Hour)}
	snap := func(copies ...CopyStat) Snapshot {
		return Snapshot{Engine: "local", Up: true, Time: t0, Instances: []InstanceStat{{Instance: in, Health: "healthy", Copies: copies}}}
	}
	c := &Collector{}
	c.snap = snap(CopyStat{Copy: "offsite", Verified: t0.Add(-30 * time.Hour), MaxAge: 26 * time.Hour}, CopyStat{Copy: "s3", MaxAge: time.Hour})
	text := gather(t, c)
	for _, want := range []string{
		`dockerbank_backup_copy_age_seconds{copy="offsite",instance="orthanc"} 108000`,
		`dockerbank_backup_copy_max_age_seconds{copy="offsite",instance="orthanc"} 93600`,
		`dockerbank_backup_copy_max_age_seconds{copy="s3",instance="orthanc"} 3600`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(text, "copy"))
		}
	}
	if strings.Contains(text, `dockerbank_backup_copy_age_seconds{copy="s3"`) {
		t.Errorf("a copy with nothing verified has an age:\n%s", grepLines(text, "copy"))
	}
	ev := &Evaluator{}
	var got []string
	for _, a := range ev.Eval(t.Context(), c.snap) {
		got = append(got, a.Rule+"/"+a.Subject+"/"+a.State)
	}
	// s3: nothing verified, last backup 1h old, maxAge 1h: not yet.
	if d := cmp.Diff([]string{"OffsiteCopyTooOld/orthanc/offsite/firing"}, got); d != "" {
		t.Errorf("lagging copy (-want +got):\n%s", d)
	}
	got = nil
	for _, a := range ev.Eval(t.Context(), snap(CopyStat{Copy: "offsite", Verified: t0.Add(-time.Hour), MaxAge: 26 * time.Hour}, CopyStat{Copy: "s3", MaxAge: 30 * time.Minute})) {
		got = append(got, a.Rule+"/"+a.Subject+"/"+a.State)
	}
	if d := cmp.Diff([]string{"OffsiteCopyTooOld/orthanc/offsite/resolved", "OffsiteCopyTooOld/orthanc/s3/firing"}, got, sortStrings); d != "" {
		t.Errorf("copy caught up, other never verified (-want +got):\n%s", d)
	}
}
