package observe

import (
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/site"
)

// updating says whether -update was given. The flag is registered by a
// dependency of the engine (gotest.tools' golden package); tests here
// read it rather than register it again.
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

type recorder struct{ got [][]Alert }

func (r *recorder) Notify(_ context.Context, a []Alert) error {
	r.got = append(r.got, a)
	return nil
}

func TestEvaluator(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	inst := &site.Instance{Name: "redcap", Created: t0.Add(-48 * time.Hour), LastBackup: t0.Add(-2 * time.Hour)}
	snap := func(at time.Duration, health string, restarts float64, avail uint64, lastBackup time.Time) Snapshot {
		in := *inst
		in.LastBackup = lastBackup
		return Snapshot{Time: t0.Add(at),
			Containers: []ContainerStat{{Container: engine.Container{ID: "c1", Name: "redcap-app-1", State: "running"}, Instance: "redcap", Restarts: restarts}},
			Instances:  []InstanceStat{{Instance: &in, Health: health}},
			Volumes:    []VolumeStat{{Name: "redcap_data", Instance: "redcap", FSSize: 100, FSAvail: avail}},
		}
	}
	ok := inst.LastBackup
	steps := []struct {
		name string
		snap Snapshot
		want []string // rule/subject/state of the changes
	}{
		{"all well", snap(0, "healthy", 0, 50, ok), nil},
		{"unhealthy, not yet for 2m", snap(time.Minute, "unhealthy", 0, 50, ok), nil},
		{"unhealthy for 2m fires", snap(3*time.Minute, "unhealthy", 0, 50, ok), []string{"InstanceUnhealthy/redcap/firing"}},
		{"three restarts fire", snap(4*time.Minute, "unhealthy", 3, 50, ok), []string{"ContainerRestarting/redcap-app-1/firing"}},
		{"healthy again resolves", snap(5*time.Minute, "healthy", 3, 50, ok), []string{"InstanceUnhealthy/redcap/resolved"}},
		{"restarts leave the window", snap(20*time.Minute, "healthy", 3, 50, ok), []string{"ContainerRestarting/redcap-app-1/resolved"}},
		{"disk filling waits 5m", snap(21*time.Minute, "healthy", 3, 10, ok), nil},
		{"disk filling fires", snap(27*time.Minute, "healthy", 3, 10, ok), []string{"VolumeDiskFilling/redcap_data/firing"}},
		{"old backup fires", snap(28*time.Minute, "healthy", 3, 10, t0.Add(-27*time.Hour)), []string{"BackupTooOld/redcap/firing"}},
	}
	r := &recorder{}
	ev := &Evaluator{Notifiers: []Notifier{r}}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var got []string
			for _, a := range ev.Eval(t.Context(), st.snap) {
				got = append(got, a.Rule+"/"+a.Subject+"/"+a.State)
			}
			if diff := cmp.Diff(st.want, got); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
	if len(r.got) != 6 {
		t.Errorf("notified %d times, want 6 (once per step with changes)", len(r.got))
	}
	if f := ev.Firing(); len(f) != 2 {
		t.Errorf("firing at the end: %v, want BackupTooOld and VolumeDiskFilling", f)
	}
}

func TestPrometheusRulesGolden(t *testing.T) {
	got := PrometheusRules(Policy{})
	path := filepath.Join("testdata", "rules.yml")
	if updating() {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
}

func TestWebhookPostsAlerts(t *testing.T) {
	got := make(chan map[string]any, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		got <- body
	}))
	defer srv.Close()
	wh := &Webhook{URL: srv.URL}
	err := wh.Notify(t.Context(), []Alert{{Rule: "BackupTooOld", Severity: "critical", Subject: "redcap", State: "firing"}})
	if err != nil {
		t.Fatal(err)
	}
	body := <-got
	alerts, _ := body["alerts"].([]any)
	if body["source"] != "dockerbank" || len(alerts) != 1 || alerts[0].(map[string]any)["rule"] != "BackupTooOld" {
		t.Errorf("webhook body = %v", body)
	}
}
