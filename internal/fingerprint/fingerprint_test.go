package fingerprint

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dockerbank/dockerbank/internal/bank"
)

func TestMain(m *testing.M) {
	// gotest.tools registers -update in packages that link the compose
	// engine; this one does not.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files")
	}
	flag.Parse()
	os.Exit(m.Run())
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

// captured is a fingerprint as a backup of the demo records it.
func captured() *Fingerprint {
	return &Fingerprint{Format: Format, Parts: []Part{
		{Name: "postgres db/demo", Kind: bank.FingerprintPostgres, Items: []Item{
			{ID: "public.records", Rows: 6, Digest: "md5sum64:111", Upto: "6"},
			{ID: "public.settings", Rows: 2, Digest: "md5sum64:222"},
		}},
		{Name: "files files", Kind: bank.FingerprintFiles, Items: []Item{
			{ID: "files/record-1.txt", Size: 44, Digest: "sha256:aa"},
			{ID: "files/record-2.txt", Size: 44, Digest: "sha256:bb"},
		}},
		{Name: "files audit", Kind: bank.FingerprintFiles, Items: []Item{{ID: "audit.log", Size: 204, Digest: "sha256:cc"}}},
		{Name: "orthanc orthanc", Kind: bank.FingerprintOrthanc, Items: []Item{
			{ID: "0a1b-instance", Digest: "md5:0f"},
			{ID: "9z8y-instance", Digest: "md5:1e"},
		}},
	}}
}

// clone deep-copies a fingerprint so that cases change their own copy.
func clone(f *Fingerprint) *Fingerprint {
	c := *f
	c.Parts = make([]Part, len(f.Parts))
	for i, p := range f.Parts {
		p.Items = append([]Item(nil), p.Items...)
		c.Parts[i] = p
	}
	return &c
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name    string
		capture func(*Fingerprint) // damage at the capture
		change  func(*Fingerprint)
		diffs   []string
		added   int64
		damaged []string
	}{
		{name: "identical", change: func(*Fingerprint) {}},
		{name: "rows added past the key, files and instances added, log grown", change: func(f *Fingerprint) {
			f.Parts[0].Items[0].Later = 3
			f.Parts[1].Items = append(f.Parts[1].Items, Item{ID: "files/record-3.txt", Size: 44, Digest: "sha256:dd"})
			f.Parts[2].Items[0].Later = 120
			f.Parts[3].Items = append(f.Parts[3].Items, Item{ID: "7c7c-instance", Digest: "md5:2d"})
		}, added: 3 + 1 + 1 + 1},
		{name: "row changed", change: func(f *Fingerprint) { f.Parts[0].Items[0].Digest = "md5sum64:999" },
			diffs: []string{"postgres db/demo: table public.records: now 6 rows, checksum md5sum64:999 (rows up to key 6); at the capture 6 rows, checksum md5sum64:111 (rows up to key 6)"}},
		{name: "row lost", change: func(f *Fingerprint) { f.Parts[0].Items[1].Rows = 1 },
			diffs: []string{"postgres db/demo: table public.settings: now 1 rows, checksum md5sum64:222; at the capture 2 rows, checksum md5sum64:222"}},
		{name: "table missing", change: func(f *Fingerprint) { f.Parts[0].Items = f.Parts[0].Items[:1] },
			diffs: []string{"postgres db/demo: table public.settings: missing (at the capture: 2 rows, checksum md5sum64:222)"}},
		{name: "file changed and file missing", change: func(f *Fingerprint) {
			f.Parts[1].Items = []Item{{ID: "files/record-1.txt", Size: 45, Digest: "sha256:ee"}}
		}, diffs: []string{
			"files files: file files/record-1.txt: now 45 bytes, sha256:ee; at the capture 44 bytes, sha256:aa",
			"files files: file files/record-2.txt: missing (at the capture: 44 bytes, sha256:bb)"}},
		{name: "instance missing, stored file corrupt", change: func(f *Fingerprint) {
			f.Parts[3].Items = []Item{{ID: "0a1b-instance", Digest: "md5:0f", Damage: "the stored file does not match the MD5 Orthanc recorded (verify-md5: HTTP 400 Bad file format)"}}
		}, diffs: []string{
			"orthanc orthanc: instance 0a1b-instance: damaged now (the stored file does not match the MD5 Orthanc recorded (verify-md5: HTTP 400 Bad file format)); sound at the capture",
			"orthanc orthanc: instance 9z8y-instance: missing (at the capture: md5:1e)"}},
		{name: "damaged at the capture, reproduced", capture: func(f *Fingerprint) {
			f.Parts[3].Items[1].Damage = "the stored file does not match the MD5 Orthanc recorded (verify-md5: HTTP 400 Bad file format)"
		}, change: func(*Fingerprint) {}, damaged: []string{
			"orthanc orthanc: instance 9z8y-instance: damaged already at the capture: the stored file does not match the MD5 Orthanc recorded (verify-md5: HTTP 400 Bad file format)"}},
		{name: "damaged at the capture, missing now", capture: func(f *Fingerprint) {
			f.Parts[3].Items[1].Damage = "the stored file does not match the MD5 Orthanc recorded"
		}, change: func(f *Fingerprint) { f.Parts[3].Items = f.Parts[3].Items[:1] },
			diffs: []string{"orthanc orthanc: instance 9z8y-instance: missing (at the capture: md5:1e)"}},
		{name: "part not computed", change: func(f *Fingerprint) { f.Parts = f.Parts[:3] },
			diffs: []string{"orthanc orthanc: not computed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := captured()
			if tt.capture != nil {
				tt.capture(want)
			}
			got := clone(want)
			tt.change(got)
			r := Compare(want, got)
			var diffs, damaged []string
			for _, d := range r.Diffs {
				diffs = append(diffs, d.String())
			}
			for _, d := range r.Damaged {
				damaged = append(damaged, d.String())
			}
			if d := cmp.Diff(tt.diffs, diffs); d != "" {
				t.Errorf("diffs (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.damaged, damaged); d != "" {
				t.Errorf("damaged (-want +got):\n%s", d)
			}
			if r.Added != tt.added {
				t.Errorf("added = %d, want %d", r.Added, tt.added)
			}
			if r.Items != 7 && len(got.Parts) == 4 {
				t.Errorf("items compared = %d, want 7", r.Items)
			}
			_, err := Check("demo-b", "backup group G of demo", want, got)
			if (err == nil) != (len(tt.diffs) == 0) {
				t.Fatalf("Check error = %v, want one only with differences", err)
			}
			if err != nil && !errors.Is(err, ErrMismatch) {
				t.Errorf("Check error %v is not ErrMismatch", err)
			}
		})
	}
}

// TestMismatchMessage pins what a user reads when data differs: the
// instance, the reference, every difference (at most 20 lines).
func TestMismatchMessage(t *testing.T) {
	want := captured()
	got := clone(want)
	got.Parts[0].Items[0].Rows, got.Parts[0].Items[0].Digest = 5, "md5sum64:555"
	got.Parts[1].Items = got.Parts[1].Items[1:]
	got.Parts[3].Items[1].Damage = "the stored file does not match the MD5 Orthanc recorded (verify-md5: HTTP 400 Bad file format)"
	_, err := Check("demo-b", "backup group 20261207T022734Z-63bc7e of demo", want, got)
	many := &Fingerprint{Parts: []Part{{Name: "orthanc orthanc", Kind: bank.FingerprintOrthanc}}}
	for i := range 25 {
		many.Parts[0].Items = append(many.Parts[0].Items, Item{ID: fmt.Sprintf("instance-%02d", i), Digest: "md5:x"})
	}
	_, err2 := Check("orthanc-b", "its fingerprint before the upgrade", many, &Fingerprint{Parts: []Part{{Name: "orthanc orthanc"}}})
	golden(t, "mismatch.golden", err.Error()+"\n\n"+err2.Error()+"\n\nsummary: "+want.Summary()+"\n")
}

// TestDamageMessage pins what a user reads when a backup captured data the
// application reports as damaged: the instance, where, every item.
func TestDamageMessage(t *testing.T) {
	fp := captured()
	if len(fp.Damaged()) != 0 {
		t.Fatalf("a sound fingerprint lists damage: %v", fp.Damaged())
	}
	fp.Parts[3].Items[0].Damage = "the stored file does not match the MD5 Orthanc recorded (verify-md5: HTTP 400 Bad file format)"
	err := error(&DamageError{Instance: "orthanc-a", Where: "its data at the capture of backup group 20261207T060000Z-0a0b0c (stored as it was)",
		Damaged: fp.Damaged(), Advice: "restore those instances from an older group, or store them again"})
	if !errors.Is(err, ErrDamaged) {
		t.Errorf("%v is not ErrDamaged", err)
	}
	golden(t, "damage.golden", err.Error()+"\n")
}

func TestPostgresQueries(t *testing.T) {
	records := bank.FingerprintTable{Name: "public.records", Key: "id", Columns: []string{"id", "created", "version", "payload"}}
	var b strings.Builder
	for _, c := range []struct {
		name   string
		t      bank.FingerprintTable
		ref    Item
		guided bool
	}{
		{"whole rows", bank.FingerprintTable{Name: "public.settings"}, Item{}, false},
		{"listed by pg_tables", bank.FingerprintTable{Name: `public."Odd Name"`}, Item{}, false},
		{"keyed, at a capture", records, Item{}, false},
		{"keyed, against a reference", records, Item{Upto: "6"}, true},
		{"keyed, reference was empty", records, Item{}, true},
		{"quote in the reference key", bank.FingerprintTable{Name: "s.t", Key: "k", Columns: []string{"k"}}, Item{Upto: "o'brien"}, true},
	} {
		fmt.Fprintf(&b, "-- %s\n%s\n", c.name, postgresQuery(c.t, c.ref, c.guided))
	}
	for _, c := range []struct {
		name   string
		t      bank.FingerprintTable
		ref    Item
		guided bool
	}{
		{"mariadb whole table", bank.FingerprintTable{Name: "redcap_data"}, Item{}, false},
		{"mariadb keyed, at a capture", bank.FingerprintTable{Name: "redcap_projects", Key: "project_id", Columns: []string{"project_id", "project_name"}}, Item{}, false},
		{"mariadb keyed, against a reference", bank.FingerprintTable{Name: "redcap_projects", Key: "project_id", Columns: []string{"project_id", "project_name"}}, Item{Upto: "12"}, true},
	} {
		fmt.Fprintf(&b, "-- %s\n%s", c.name, mariadbQuery("redcap", c.t, c.ref, c.guided))
	}
	golden(t, "queries.golden", b.String())
}

func TestPostgresItems(t *testing.T) {
	spec := bank.FingerprintSpec{Kind: bank.FingerprintPostgres, Service: "db", Database: "demo"}
	// Every user table, as pg_tables lists them.
	run := func(stmts []string) ([][]string, error) {
		if len(stmts) == 1 && stmts[0] == pgTables {
			return [][]string{{"public.records", "public.settings"}}, nil
		}
		return [][]string{{"6|111|"}, {"0|0|"}}, nil
	}
	items, err := PostgresItems(spec, nil, run)
	if err != nil {
		t.Fatal(err)
	}
	want := []Item{{ID: "public.records", Rows: 6, Digest: "md5sum64:111"}, {ID: "public.settings", Digest: "md5sum64:0"}}
	if d := cmp.Diff(want, items); d != "" {
		t.Errorf("items (-want +got):\n%s", d)
	}
	// A keyed table at a capture records its largest key; against a
	// reference it keeps the reference's and counts the rows past it.
	spec.Tables = []bank.FingerprintTable{{Name: "public.records", Key: "id", Columns: []string{"id"}}}
	items, err = PostgresItems(spec, nil, func([]string) ([][]string, error) { return [][]string{{"6|111|6"}}, nil })
	if err != nil || items[0].Upto != "6" || items[0].Later != 0 {
		t.Fatalf("capture: %+v, %v", items, err)
	}
	ref := &Part{Items: items}
	items, err = PostgresItems(spec, ref, func([]string) ([][]string, error) { return [][]string{{"6|111|4"}}, nil })
	if err != nil || items[0].Upto != "6" || items[0].Later != 4 || items[0].Rows != 6 {
		t.Fatalf("against the reference: %+v, %v", items, err)
	}
	if _, err := PostgresItems(spec, nil, func([]string) ([][]string, error) { return [][]string{{"six|1|"}}, nil }); err == nil {
		t.Error("unparsable output accepted")
	}
	if _, err := PostgresItems(spec, nil, func([]string) ([][]string, error) { return nil, errors.New("column \"note\" does not exist") }); err == nil {
		t.Error("a failing query was not an error")
	}
}

func TestSplitMarked(t *testing.T) {
	out := "noise\n" + pgMarker + "\n6|1|6\n" + pgMarker + "\n" + pgMarker + "\na\nb\n"
	got, err := splitMarked(out, pgMarker, 3)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([][]string{{"6|1|6"}, {}, {"a", "b"}}, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if _, err := splitMarked(out, pgMarker, 4); err == nil {
		t.Error("a missing statement output was not an error")
	}
}

func TestFileItemAppendOnly(t *testing.T) {
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return "sha256:" + hex.EncodeToString(h[:]) }
	first := "line 1\nline 2\n"
	it, err := fileItem("audit.log", strings.NewReader(first), nil)
	if err != nil || it.Size != int64(len(first)) || it.Digest != sum(first) {
		t.Fatalf("capture: %+v %v", it, err)
	}
	refs := map[string]Item{"audit.log": it}
	grown, _ := fileItem("audit.log", strings.NewReader(first+"line 3\n"), refs)
	if d := cmp.Diff(Item{ID: "audit.log", Size: it.Size, Digest: it.Digest, Later: 7}, grown); d != "" {
		t.Errorf("grown log (-want +got):\n%s", d)
	}
	rewritten, _ := fileItem("audit.log", strings.NewReader("LINE 1\nline 2\nline 3\n"), refs)
	if rewritten.Digest == it.Digest {
		t.Error("a log rewritten at its start matched its capture")
	}
	shrunk, _ := fileItem("audit.log", strings.NewReader("line 1\n"), refs)
	if shrunk.Size == it.Size {
		t.Error("a truncated log matched its capture")
	}
}
