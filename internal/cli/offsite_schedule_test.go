package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dockerbank/dockerbank/internal/daemon"
	"github.com/dockerbank/dockerbank/internal/site"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// TestServeSchedulerCopiesOffsite drives serve's scheduler, wired as
// serve wires it, on the real engine with a real off-site server (rclone
// serve restic over TLS): a copy with a schedule of its own is not made
// by the backup, and is made, checked there and recorded when its
// schedule comes due; the scheduled retention skips the copy until it
// exists.
func TestServeSchedulerCopiesOffsite(t *testing.T) {
	testenv.RequireCommand(t, "restic")
	h := newHarness(t)
	rest := testenv.StartREST(t)
	pass := filepath.Join(t.TempDir(), "offsite.pass")
	if err := os.WriteFile(pass, []byte(rand.Text()+rand.Text()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := site.Config{APIVersion: "dockerbank/v1"}
	cfg.Backup.Copies = []site.CopyConfig{{Name: "offsite", Repository: rest.Repository("clinic"), PasswordFile: pass, Schedule: "daily 04:00",
		Access: site.Access{CredentialsFile: rest.CredentialsFile, CACertFile: rest.CACert}}}
	data, _ := yaml.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(h.site, "site.yaml"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	name := uniqueName("sch-copy")
	h.cleanup(name)
	h.ok("deploy", "demo", "--name", name, "--set", "DEMO_INTERVAL=3600")
	// The backup does not copy to a copy with a schedule of its own.
	var res []struct {
		Group  string            `json:"group"`
		Copies []json.RawMessage `json:"copies"`
	}
	if err := json.Unmarshal([]byte(h.ok("backup", name, "--json")), &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Copies) != 0 {
		t.Fatalf("backup copied to a scheduled copy: %+v", res)
	}
	if _, err := os.Stat(filepath.Join(rest.Root, "clinic", "config")); err == nil {
		t.Fatal("the scheduled copy's repository exists after the backup alone")
	}

	a := &app{streams: Streams{In: strings.NewReader(""), Out: new(bytes.Buffer), Err: new(bytes.Buffer)}, siteDir: h.site, quiet: true}
	ctx := t.Context()
	sch := serveDaemon(t, a).Scheduler()
	fake := time.Now().Add(8 * 24 * time.Hour)
	sch.Now = func() time.Time { return fake }
	ran, err := sch.RunDue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	copied := false
	for _, r := range ran {
		got = append(got, fmt.Sprintf("%s %s %v", r.Job, r.Instance, r.Err))
		if r.Err != nil {
			t.Errorf("scheduled %s of %s: %v", r.Job, r.Instance, r.Err)
		}
		copied = copied || r.Job == daemon.JobCopy && r.Instance == name && r.Err == nil
	}
	if !copied {
		t.Fatalf("the scheduler did not copy %s when its copy's schedule came due; it ran:\n%s", name, strings.Join(got, "\n"))
	}

	// Every complete group is on the copy, verified there, and the
	// copy's own listing shows it.
	s, _ := a.openSite()
	recs, err := s.Copies()
	if err != nil {
		t.Fatal(err)
	}
	verified := map[string]bool{}
	for _, r := range recs {
		if r.Instance == name && r.Copy == "offsite" && !r.Verified.IsZero() {
			verified[r.Group] = true
		}
	}
	var onCopy []struct {
		ID       string `json:"id"`
		Complete bool   `json:"complete"`
	}
	if err := json.Unmarshal([]byte(h.ok("snapshots", name, "--from", "offsite", "--json")), &onCopy); err != nil {
		t.Fatal(err)
	}
	if len(onCopy) == 0 {
		t.Fatal("the copy holds no group after the scheduled copy")
	}
	for _, g := range onCopy {
		if !g.Complete || !verified[g.ID] {
			t.Errorf("group %s on the copy: complete %v, recorded verified %v", g.ID, g.Complete, verified[g.ID])
		}
	}
	// Every complete group of the primary (the scheduled retention may
	// have removed the first one) is verified on the copy.
	var primary []struct {
		ID       string `json:"id"`
		Complete bool   `json:"complete"`
	}
	if err := json.Unmarshal([]byte(h.ok("snapshots", name, "--json")), &primary); err != nil {
		t.Fatal(err)
	}
	for _, g := range primary {
		if g.Complete && !verified[g.ID] {
			t.Errorf("group %s of the primary is not verified on the copy: %v", g.ID, verified)
		}
	}
	journal, _ := s.Journal()
	found := false
	for _, r := range journal {
		found = found || r.Command == daemon.SchedulerCommand && r.Instance == name && r.Outcome == "ok" && strings.HasPrefix(r.Detail, "copy offsite ok")
	}
	if !found {
		t.Error("no journal record of the scheduled copy")
	}
}
