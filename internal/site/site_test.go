package site

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestInstanceRoundTripAndRemove(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	in := &Instance{Name: "orthanc-a", Entry: "orthanc", Version: "1.0", State: StateUp, Created: now, Changed: now, Params: map[string]string{"HTTP_PORT": "8042"}}
	if err := s.Save(in); err != nil {
		t.Fatal(err)
	}
	got, err := s.Instance("orthanc-a")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("record changed on the round trip (-want +got):\n%s", diff)
	}
	secret, err := s.Secret("orthanc-a", "db_password", 32)
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 32 {
		t.Errorf("secret has %d characters", len(secret))
	}
	again, _ := s.Secret("orthanc-a", "db_password", 32)
	if again != secret {
		t.Error("an existing secret was replaced")
	}
	st, err := os.Stat(filepath.Join(s.InstanceDir("orthanc-a"), "secrets", "db_password"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("secret file: %v, mode %v", err, st.Mode().Perm())
	}
	dst, err := s.Remove("orthanc-a", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst, "secrets", "db_password")); err != nil {
		t.Errorf("the removed instance's secret is not kept: %v", err)
	}
	if _, err := s.Instance("orthanc-a"); !errors.Is(err, ErrNoInstance) {
		t.Errorf("removed instance still readable: %v", err)
	}
}

func TestJournalSkipsTornLine(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(Record{Command: "dockerbank deploy demo", Instance: "demo", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	// a crash in the middle of an append leaves half a line
	f, _ := os.OpenFile(filepath.Join(s.Dir, "journal.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"time":"2026-11-26T10:00:00Z","comm`)
	f.Close()
	recs, err := s.Journal()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Instance != "demo" || recs[0].User == "" {
		t.Errorf("journal = %+v", recs)
	}
}

func TestLockIsExclusive(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Lock(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(t.Context(), 300*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	l.Unlock()
	l2, err := s.Lock(t.Context(), 0)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	l2.Unlock()
}

func TestValidName(t *testing.T) {
	for name, ok := range map[string]bool{"demo": true, "redcap-prod_2": true, "Demo": false, "-x": false, "a b": false, "": false} {
		if err := ValidName(name); (err == nil) != ok {
			t.Errorf("ValidName(%q) = %v", name, err)
		}
	}
}

func TestDrillRoundTrip(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if d, err := s.LastDrill("x"); d != nil || err != nil {
		t.Fatalf("LastDrill of an undrilled instance = %v, %v; want nil, nil", d, err)
	}
	if err := s.SaveDrill("x", Drill{Time: time.Now()}); err == nil {
		t.Error("SaveDrill recorded a drill of an instance that does not exist")
	}
	if err := s.Save(&Instance{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	want := Drill{Time: time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC), OK: false, Group: "g1", Detail: "table records differs"}
	if err := s.SaveDrill("x", want); err != nil {
		t.Fatal(err)
	}
	got, err := s.LastDrill("x")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(&want, got); d != "" {
		t.Errorf("drill changed on the round trip (-want +got):\n%s", d)
	}
}

func TestConfigProtect(t *testing.T) {
	tests := []struct {
		name, yaml string
		wantErr    []string // fragments; none means valid
	}{
		{"valid", "apiVersion: dockerbank/v1\nprotect:\n  default: {backup: daily 01:30}\n  instances:\n    redcap: {backup: every 6h, drill: 'off', keep: {daily: 3}}\n", nil},
		{"bad schedule at its line", "apiVersion: dockerbank/v1\nprotect:\n  default:\n    backup: hourly\n  instances:\n    a:\n      drill: weekly xyz\n",
			[]string{"site.yaml:4: protect.default.backup:", `schedule "hourly"`, "site.yaml:7: protect.instances.a.drill:"}},
		{"bad heal mode at its line", "apiVersion: dockerbank/v1\nheal:\n  default: restart\n  instances:\n    a: always\n",
			[]string{"site.yaml:5: heal.instances.a:", `heal "always": write off, restart or recreate`}},
		{"unknown key", "apiVersion: dockerbank/v1\nprotect:\n  default: {bakup: daily}\n", []string{"field bakup not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			c, err := s.Config()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if c.Protect.Instances["redcap"].Backup != "every 6h" {
					t.Errorf("protect.instances.redcap.backup = %q", c.Protect.Instances["redcap"].Backup)
				}
				return
			}
			if err == nil {
				t.Fatal("Config accepted a bad protect policy")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestConfigRefusesUnknownCompression(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		yaml string
		ok   bool
	}{
		{"apiVersion: dockerbank/v1\nbackup:\n  compression: off\n", true},
		{"apiVersion: dockerbank/v1\nbackup:\n  compression: fast\n", false},
	} {
		if err := os.WriteFile(filepath.Join(s.Dir, ConfigFile), []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := s.Config()
		if tc.ok && (err != nil || c.Backup.Compression != "off") {
			t.Errorf("%q: %v", tc.yaml, err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "write auto, off or max")) {
			t.Errorf("%q: err %v, want a clear refusal", tc.yaml, err)
		}
	}
}

func TestCopyCheckEvery(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        time.Duration
		problem     bool
	}{
		{"default", "", DefaultCopyCheckEvery, false},
		{"weekly", "168h", 168 * time.Hour, false},
		{"after-every-copy", "0s", 0, false},
		{"not-a-duration", "weekly", 0, true},
		{"negative", "-1h", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pass := filepath.Join(dir, "copy.pass")
			if err := os.WriteFile(pass, []byte("secret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			yaml := "apiVersion: dockerbank/v1\nbackup:\n  copies:\n    - repository: sftp:offsite:/srv/clinic\n      passwordFile: " + pass + "\n"
			if tc.value != "" {
				yaml += "      checkEvery: " + tc.value + "\n"
			}
			if err := os.WriteFile(filepath.Join(dir, "site.yaml"), []byte(yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			c, err := s.Config()
			if tc.problem {
				if err == nil || !strings.Contains(err.Error(), "site.yaml:6: backup.copies.0.checkEvery") {
					t.Errorf("checkEvery %q: %v, want a problem at site.yaml:6", tc.value, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Backup.Copies[0].CheckInterval(); got != tc.want {
				t.Errorf("checkEvery %q: %s, want %s", tc.value, got, tc.want)
			}
		})
	}
}
