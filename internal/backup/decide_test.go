package backup

import (
	"strings"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/enginetest"
	"github.com/dockerbank/dockerbank/internal/site"
)

// TestRestoreSwapsOnlyAfterHealth: a restore in place first brings the
// group up as a staging instance; when that does not become healthy, the
// live instance is not touched (same containers, same version, no
// pre-restore backup) and the staging instance is gone. On the in-memory
// engine: the group's version 3.0 starts unhealthy there. (That a healthy
// staging instance is swapped in, data compared, is proven on the real
// engine by TestOrthancEndToEnd in internal/cli and TestSwarmBackupRestore, which restore in place.)
func TestRestoreSwapsOnlyAfterHealth(t *testing.T) {
	b, err := enginetest.Bank(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fake := &enginetest.Engine{Unhealthy: map[string]bool{"example/app:3.0": true}}
	m := &deploy.Manager{Bank: b, Site: s, Engine: fake, Command: "test", HealthTimeout: time.Second}
	if _, err := m.Deploy(t.Context(), deploy.DeployOptions{Entry: "decide", Name: "trial"}); err != nil {
		t.Fatal(err)
	}
	before, err := fake.Containers(t.Context(), map[string]string{"com.docker.compose.project": "trial"})
	if err != nil || len(before) != 2 {
		t.Fatalf("live containers %v, %v", before, err)
	}
	man := &Manifest{Format: ManifestVersion, Group: "g1", Instance: "trial", Entry: "decide", Version: "3.0"}
	j := &Job{M: m}
	res, err := j.restoreManifest(t.Context(), nil, man, "trial", RestoreOptions{}, time.Now())
	if err == nil || !strings.Contains(err.Error(), "the live instance trial was not touched") {
		t.Fatalf("restore from a group whose version is unhealthy: %v, want the live instance untouched", err)
	}
	if res.PreBackup != "" {
		t.Errorf("a pre-restore backup %s was taken before the staging instance was healthy", res.PreBackup)
	}
	after, _ := fake.Containers(t.Context(), map[string]string{"com.docker.compose.project": "trial"})
	if len(after) != len(before) || after[0].ID != before[0].ID || after[1].ID != before[1].ID {
		t.Errorf("live containers changed: %v -> %v", before, after)
	}
	if in, err := s.Instance("trial"); err != nil || in.Version != "1.0" {
		t.Errorf("live instance record %+v, %v: want version 1.0", in, err)
	}
	ins, _ := s.Instances()
	for _, in := range ins {
		if in.Name != "trial" {
			t.Errorf("instance %s left behind (the staging instance must be removed)", in.Name)
		}
	}
	for _, v := range fake.VolumeNames() {
		if !strings.HasPrefix(v, "trial_") {
			t.Errorf("volume %s left behind", v)
		}
	}
}
