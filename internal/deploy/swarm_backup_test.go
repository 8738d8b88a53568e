package deploy_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank"
	"github.com/dockerbank/dockerbank/internal/backup"
	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/progress"
	"github.com/dockerbank/dockerbank/internal/site"
)

// TestSwarmBackupRestore deploys demo as a swarm stack, backs it up,
// changes its data, restores the backup in place and checks the data is
// the backed-up data again, with the stack healthy and one task per service.
func TestSwarmBackupRestore(t *testing.T) {
	ctx := t.Context()
	eng := deploy.SwarmEngine(t)
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := bank.Open(ctx, bank.Source{Name: "embedded", FS: dockerbank.Bank, Root: dockerbank.BankRoot})
	if err != nil {
		t.Fatal(err)
	}
	m := &deploy.Manager{Bank: b, Site: s, Engine: eng, Command: "test swarm backup", HealthTimeout: 4 * time.Minute}
	name := fmt.Sprintf("k8-swb-%06d", rand.IntN(1_000_000))
	t.Cleanup(func() {
		if _, err := m.Remove(context.Background(), name, deploy.RemoveOptions{PurgeData: true, Confirm: name, Force: true}); err != nil {
			t.Errorf("remove instance and volumes: %v", err)
		}
	})
	if _, err := m.DeploySwarm(ctx, deploy.DeployOptions{Entry: "demo", Name: name}); err != nil {
		t.Fatal(err)
	}
	m.Report = progress.Func(func(e progress.Event) { t.Logf("%+v", e) })
	job := &backup.Job{M: m}
	man, err := job.Backup(ctx, name, backup.BackupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	db := deploy.RunningContainer(t, eng, name, "db")
	saved := query(t, eng, db, "select count(*) || ':' || coalesce(max(id), 0) from records")

	// Change the data: what the restore must undo.
	query(t, eng, db, "insert into records (version, payload) values ('x', 'written after the backup')")
	if err := eng.Exec(ctx, deploy.RunningContainer(t, eng, name, "app"), []string{"sh", "-c", "echo after-backup > /data/files/after.txt"}, engine.ExecOptions{}); err != nil {
		t.Fatal(err)
	}

	res, err := job.Restore(ctx, name, backup.RestoreOptions{Group: man.Group})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restored %s: %d tables, %d files compared in %.1fs", res.Group, res.Tables, res.Files, res.Seconds)
	db = deploy.RunningContainer(t, eng, name, "db")
	if got := query(t, eng, db, "select count(*) || ':' || coalesce(max(id), 0) from records where payload <> 'written after the backup' and id <= "+strings.Split(saved, ":")[1]); got != saved {
		t.Errorf("records after restore = %s, backed up %s", got, saved)
	}
	if got := query(t, eng, db, "select count(*) from records where payload = 'written after the backup'"); got != "0" {
		t.Errorf("the record written after the backup survived the restore")
	}
	if _, err := eng.ExecOutput(ctx, deploy.RunningContainer(t, eng, name, "app"), "test", "-e", "/data/files/after.txt"); err == nil {
		t.Error("the file written after the backup survived the restore")
	}
	for _, svc := range []string{"app", "db"} {
		if n := deploy.CountRunning(t, eng, name, svc); n != 1 {
			t.Errorf("%d %s containers run after the restore, want 1 (the swarm task)", n, svc)
		}
	}
}

func query(t *testing.T, eng *engine.Engine, db, sql string) string {
	t.Helper()
	out, err := eng.ExecOutput(t.Context(), db, "psql", "-U", "demo", "-d", "demo", "-tAc", sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return strings.TrimSpace(out)
}
