package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/dockerbank/dockerbank/internal/daemon"
	"github.com/dockerbank/dockerbank/internal/observe"
)

// TestServeSchedulerBacksUpAndDrillsDemo drives serve's scheduler, wired
// as serve wires it, with a clock eight days after the deploy of a demo
// instance: the demo entry's policy (daily backup, weekly drill, keep)
// makes one backup, one retention run and one restore drill due; they run
// on the real engine, and their results show in the site, in `dockerbank
// schedule` and in the metrics.
func TestServeSchedulerBacksUpAndDrillsDemo(t *testing.T) {
	h := newHarness(t)
	name := uniqueName("w6-sch")
	h.cleanup(name)
	h.ok("deploy", "demo", "--name", name)
	waitRecords(t, name, 1)

	a := &app{streams: Streams{In: strings.NewReader(""), Out: new(bytes.Buffer), Err: new(bytes.Buffer)}, siteDir: h.site, quiet: true}
	ctx := t.Context()
	sch := serveDaemon(t, a).Scheduler()
	fake := time.Now().Add(8 * 24 * time.Hour)
	sch.Now = func() time.Time { return fake }
	start := time.Now()
	ran, err := sch.RunDue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range ran {
		got = append(got, fmt.Sprintf("%s %s %v", r.Job, r.Instance, r.Err))
	}
	want := []string{"backup " + name + " <nil>", "forget " + name + " <nil>", "drill " + name + " <nil>"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("scheduler ran:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	t.Logf("backup, retention and drill took %.1fs", time.Since(start).Seconds())

	// The results are in the site.
	s, _ := a.openSite()
	in, err := s.Instance(name)
	if err != nil {
		t.Fatal(err)
	}
	if in.LastBackup.Before(start) || in.LastBackupBytes <= 0 || in.LastBackupSeconds <= 0 {
		t.Errorf("instance record after the scheduled backup: lastBackup %s, %d bytes, %.1fs", in.LastBackup, in.LastBackupBytes, in.LastBackupSeconds)
	}
	d, err := s.LastDrill(name)
	if err != nil || d == nil || !d.OK || d.Time.Before(start) {
		t.Fatalf("drill result after the scheduled drill: %+v, %v", d, err)
	}
	recs, _ := s.Journal()
	var sched []string
	for _, r := range recs {
		if r.Command == daemon.SchedulerCommand && r.Instance == name {
			sched = append(sched, r.Outcome+": "+r.Detail)
		}
	}
	if len(sched) != 3 || !strings.HasPrefix(sched[0], "ok: backup ok") || !strings.HasPrefix(sched[2], "ok: drill ok") {
		t.Errorf("journal records of the scheduler: %q", sched)
	}

	// `dockerbank schedule --json` shows the policy, the results and that
	// nothing is due at the real time.
	var plans []daemon.Plan
	if err := json.Unmarshal([]byte(h.ok("schedule", "--json")), &plans); err != nil {
		t.Fatal(err)
	}
	if len(plans) != 1 || plans[0].Source != "entry" || plans[0].Backup != "daily 02:00" || plans[0].LastDrill == nil || !plans[0].LastDrill.OK ||
		!plans[0].NextBackup.After(time.Now()) || !plans[0].NextDrill.After(time.Now()) {
		t.Errorf("schedule --json: %+v", plans)
	}

	// And in the metrics of one serve collection.
	e, err := a.openEngine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	col := &observe.Collector{Engine: e, Site: s}
	if err := col.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	mfs, err := observe.Registry(col).Gather()
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	for _, mf := range mfs {
		expfmt.MetricFamilyToText(&text, mf)
	}
	for _, w := range []string{
		fmt.Sprintf(`dockerbank_backup_last_size_bytes{instance="%s"} %v`, name, formatFloat(float64(in.LastBackupBytes))),
		fmt.Sprintf(`dockerbank_backup_last_success_timestamp_seconds{instance="%s"} %v`, name, formatFloat(float64(in.LastBackup.Unix()))),
		fmt.Sprintf(`dockerbank_drill_last_success{instance="%s"} 1`, name),
		fmt.Sprintf(`dockerbank_backup_last_duration_seconds{instance="%s"}`, name),
		fmt.Sprintf(`dockerbank_drill_last_timestamp_seconds{instance="%s"}`, name),
	} {
		if !strings.Contains(text.String(), w) {
			t.Errorf("metrics lack %s", w)
		}
	}
}

// serveDaemon wires the daemon of `dockerbank serve` as the serve command
// does, on the site, bank and engine of a.
func serveDaemon(t *testing.T, a *app) *daemon.Daemon {
	t.Helper()
	s, err := a.openSite()
	if err != nil {
		t.Fatal(err)
	}
	b, err := a.openBank(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	e, err := a.openEngine(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return &daemon.Daemon{Site: s, Bank: b, Engine: e, Log: a.logger(), Report: a}
}

// formatFloat writes a value as the Prometheus text format does.
func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func TestServeEngineFlags(t *testing.T) {
	tests := []struct {
		name          string
		engines, tls  []string
		wantNames     []string
		wantErrSubstr string
	}{
		{"two engines", []string{"lab2=tcp://lab2:2376", "lab3=ssh://ops@lab3"}, []string{"lab2=/etc/lab2"}, []string{"lab2", "lab3"}, ""},
		{"context name", []string{"old=old-host"}, nil, []string{"old"}, ""},
		{"no endpoint", []string{"lab2"}, nil, nil, "write NAME=ENDPOINT"},
		{"bad name", []string{"Lab 2=tcp://x:1"}, nil, nil, "write NAME=ENDPOINT"},
		{"local is taken", []string{"local=tcp://x:1"}, nil, nil, "is taken"},
		{"twice", []string{"a=tcp://x:1", "a=tcp://y:1"}, nil, nil, "is taken"},
		{"tls dir without engine", []string{"a=tcp://x:1"}, []string{"b=/etc/b"}, nil, "no --engine b=ENDPOINT"},
		{"tls dir without dir", []string{"a=tcp://x:1"}, []string{"a"}, nil, "write NAME=DIR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := parseEngines(tt.engines, tt.tls)
			if tt.wantErrSubstr != "" {
				var ue usageError
				if err == nil || !strings.Contains(err.Error(), tt.wantErrSubstr) || !errors.As(err, &ue) {
					t.Fatalf("error %v, want a usage error containing %q", err, tt.wantErrSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, c := range cs {
				names = append(names, c.Name)
			}
			if strings.Join(names, ",") != strings.Join(tt.wantNames, ",") {
				t.Errorf("engines %v, want %v", names, tt.wantNames)
			}
		})
	}
}

// TestServeRefusesEmptyMetricsToken: an empty --metrics-token-file is a
// usage error (exit 3) before anything is served, not /metrics without
// authentication.
func TestServeRefusesEmptyMetricsToken(t *testing.T) {
	dir := t.TempDir()
	for _, content := range []string{"", "\n  \n"} {
		tok := filepath.Join(dir, "token")
		if err := os.WriteFile(tok, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		var out, errb bytes.Buffer
		done := make(chan int, 1)
		go func() {
			done <- Main([]string{"--site", t.TempDir(), "serve", "--listen", addr, "--metrics-token-file", tok}, Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
		}()
		select {
		case code := <-done:
			if code != ExitUsage || !strings.Contains(errb.String(), "is empty") {
				t.Errorf("exit %d, stderr %q; want exit %d saying the file is empty", code, errb.String(), ExitUsage)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("serve started with an empty metrics token file")
			// Main is still serving: its signal handler stops it.
			syscall.Kill(os.Getpid(), syscall.SIGINT)
			<-done
			return
		}
	}
}
