package backup_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashPoints are the places of a backup where the crash test kills
// dockerbank with SIGKILL (see crashPoint in quiesce.go).
var crashPoints = []string{
	"locked", "meta-stored", "dump-stream-stored", "dump-stored",
	"quiesce-journaled", "quiesce-first-stopped", "quiesce-all-stopped",
	"files-walked", "files-stored", "resumed-before-journal",
	"before-manifest", "manifest-stored", "saved-instance",
}

// TestCrashDuringBackup kills dockerbank with SIGKILL at every crash point
// of a backup that stops a container, and at a few moments chosen by time;
// after each kill one further dockerbank command must have every container
// running again, restic check must pass, and no interrupted group may be
// listed as complete.
func TestCrashDuringBackup(t *testing.T) {
	needEngine(t)
	s := newSite(t)
	inst := uniq("bk-crash")
	s.deploy("bktest", inst, "HEARTBEAT=1")
	fillDatabases(t, inst)
	fillVolume(t, mountpoint(t, inst+"_files"))
	s.must("backup", inst) // the repository exists; later groups are incremental

	check := func(t *testing.T, label string, before []map[string]any) {
		t.Helper()
		// One further command: resumes what the killed backup stopped.
		s.must("ps", inst)
		for n, st := range containerStates(t, inst) {
			if st != "running" {
				t.Errorf("%s: container %s is %s after one further command", label, n, st)
			}
		}
		// restic children die with dockerbank (PDEATHSIG); wait until the
		// kernel has reaped them before checking their locks are stale.
		waitNoRestic(t, filepath.Join(s.dir, "backups"))
		// dockerbank removes the locks of its killed restic children (also
		// zombies that this host's init does not reap); then plain restic
		// check must pass.
		s.must("verify", inst, "--no-drill", "--read-data-subset", "")
		key := filepath.Join(s.dir, "backup-key")
		for _, args := range [][]string{{"check"}} {
			cmd := exec.Command("restic", args...)
			cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+filepath.Join(s.dir, "backups"), "RESTIC_PASSWORD_FILE="+key)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s: restic %s: %v\n%s", label, args[0], err, out)
			}
		}
		complete := 0
		for _, g := range s.groups(inst) {
			if g["complete"] == true {
				complete++
			}
		}
		// Every complete group must restore as a whole: its manifest and
		// members are there (checked by LoadManifest through verify
		// --no-drill on the newest group).
		if complete > 0 {
			s.must("verify", inst, "--no-drill", "--read-data-subset", "")
		}
	}

	for _, point := range crashPoints {
		t.Run(point, func(t *testing.T) {
			before := s.groups(inst)
			r := s.run([]string{"DOCKERBANK_CRASH_AT=" + point}, "backup", inst)
			if r.signal != syscall.SIGKILL {
				t.Fatalf("backup was not killed at %s: exit %d signal %v\n%s", point, r.code, r.signal, tail(r.err, 2000))
			}
			after := s.groups(inst)
			newGroups := after[len(before):]
			for _, g := range newGroups {
				manifestStored := point == "manifest-stored" || point == "saved-instance"
				if g["complete"] == true && !manifestStored {
					t.Errorf("group %v interrupted at %s is listed as complete", g["id"], point)
				}
				if g["complete"] != true && manifestStored {
					t.Errorf("group %v has its manifest but is not complete", g["id"])
				}
			}
			check(t, point, before)
		})
	}
	for _, delay := range []time.Duration{300 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second, 5 * time.Second} {
		t.Run("after-"+delay.String(), func(t *testing.T) {
			cmd := exec.Command(binPath, "backup", inst, "-q")
			cmd.Env = append(os.Environ(), s.env...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// The kill is timed on purpose: it lands wherever the backup is.
			timer := time.AfterFunc(delay, func() { cmd.Process.Kill() })
			err := cmd.Wait()
			timer.Stop()
			t.Logf("backup after %s: %v", delay, err)
			check(t, "after "+delay.String(), nil)
		})
	}
	// The journal shows every stop resolved.
	j := s.must("journal", inst)
	if strings.Count(j, "quiesce-stop") > strings.Count(j, "resumed") {
		t.Errorf("journal has unresolved stops:\n%s", j)
	}
}

// waitNoRestic polls until no process runs on the repository.
func waitNoRestic(t *testing.T, repo string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		busy := ""
		procs, _ := filepath.Glob("/proc/[0-9]*/environ")
		for _, p := range procs {
			env, err := os.ReadFile(p)
			if err == nil && strings.Contains(string(env), "RESTIC_REPOSITORY="+repo+"\x00") {
				busy = p
			}
		}
		if busy == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a restic process (%s) still runs on %s 15s after dockerbank was killed", busy, repo)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
