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
