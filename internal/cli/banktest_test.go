package cli

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dockerbank/dockerbank/internal/conformance"
	"github.com/dockerbank/dockerbank/internal/site"
)

func goldenFile(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, d)
	}
}

// TestRenderBankTest pins the text of a passed and of a failed run: every
// step with its instance and time, the first line of a failure, the
// verdict; and bank show's line for a recorded result.
func TestRenderBankTest(t *testing.T) {
	when := time.Date(2026, 12, 7, 2, 35, 50, 0, time.UTC)
	passed := &conformance.Result{Entry: "demo", Version: "2.0", OK: true, Seconds: 208.9, Time: when, Steps: []conformance.Step{
		{Name: "deploy 2.0", Instance: "bt-demo-d242-a", Seconds: 35.3, Result: "ok", Detail: "healthy, ports published on host ports the engine picked"},
		{Name: "write", Instance: "bt-demo-d242-a", Seconds: 1.4, Result: "ok", Detail: "exec in db"},
		{Name: "backup", Instance: "bt-demo-d242-a", Seconds: 9.7, Result: "ok", Detail: "group 20261207T023302Z-7ff2fc, 4 members; fingerprint postgres db/demo: 1 table; files files: 7 files; files audit: 1 file"},
		{Name: "restore", Instance: "bt-demo-d242-b", Seconds: 58.3, Result: "ok", Detail: "group 20261207T023302Z-7ff2fc of bt-demo-d242-a: 1 tables and 11 files match the manifest"},
		{Name: "compare", Instance: "bt-demo-d242-b", Seconds: 1.4, Result: "ok", Detail: "9 items of bt-demo-d242-b as at the capture, 12 added since by the running application"},
		{Name: "upgrade", Result: "skipped", Detail: "1.10.1 is the oldest version of orthanc: no upgrade to test"},
		{Name: "clean up", Seconds: 21.2, Result: "ok", Detail: "removed bt-demo-d242-b (4 volumes), bt-demo-d242-a (4 volumes) and the throwaway site with its backups"},
	}}
	failed := &conformance.Result{Entry: "demo", Version: "2.0", Seconds: 80.2, Time: when, Steps: []conformance.Step{
		{Name: "restore", Instance: "bt-demo-9f1c-b", Seconds: 50.1, Result: "failed",
			Detail: "fingerprint of instance bt-demo-9f1c-b differs from backup group G of bt-demo-9f1c-a (1 of 7 items):\n  postgres db/demo: table public.records: now 6 rows, checksum md5sum64:1 (rows up to key 6); at the capture 7 rows, checksum md5sum64:1 (rows up to key 6)"},
		{Name: "clean up", Seconds: 12, Result: "ok", Detail: "removed bt-demo-9f1c-a (4 volumes) and the throwaway site with its backups"},
	}}
	var b strings.Builder
	renderBankTest(&b, passed)
	b.WriteString("\n")
	renderBankTest(&b, failed)
	b.WriteString("\nbank show: " + conformanceLine(site.Conformance{Version: "2.0", Time: when, OK: true, Seconds: 208.9}) + "\n")
	b.WriteString("bank show: " + conformanceLine(site.Conformance{Version: "2.0", Time: when, Seconds: 80.2, Detail: failed.Steps[0].Detail}) + "\n")
	goldenFile(t, "banktest.golden", b.String())
}
