package cli

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dockerbank/dockerbank/internal/dicom"
	"github.com/dockerbank/dockerbank/internal/site"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// TestOffsiteDisasterDrill is the disaster 3-2-1 exists for: the demo and
// an Orthanc instance with data are backed up and copied off site (a real
// SFTP server; a real S3 server); then the site directory, the local
// repository and every container and volume are removed, and `dr restore
// BUNDLE --repository offsite` brings both back healthy from the copy
// alone, every fingerprint identical, every DICOM file byte for byte.
func TestOffsiteDisasterDrill(t *testing.T) {
	testenv.RequireImages(t, "dockerbank/orthanc:"+orthancVersion, "dockerbank/postgres:15", "dockerbank/busybox:1.36")
	testenv.RequireCommand(t, "restic")
	for _, kind := range []string{"sftp", "s3"} {
		t.Run(kind, func(t *testing.T) {
			escrow := t.TempDir() // what the team keeps off the host
			pass := filepath.Join(escrow, "offsite.pass")
			if err := os.WriteFile(pass, []byte(rand.Text()+rand.Text()+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cc := site.CopyConfig{Name: "offsite", PasswordFile: pass}
			switch kind {
			case "sftp":
				srv := testenv.StartSFTP(t, "")
				cc.Repository, cc.SSHConfigFile = srv.Repository("clinic"), srv.ClientConfig
			case "s3":
				srv := testenv.StartS3(t)
				cc.Repository, cc.CredentialsFile = srv.Repository("clinic"), srv.CredentialsFile
			}
			h := newHarness(t)
			cfg := site.Config{APIVersion: "dockerbank/v1"}
			cfg.Backup.Copies = []site.CopyConfig{cc}
			data, _ := yaml.Marshal(cfg)
			if err := os.WriteFile(filepath.Join(h.site, "site.yaml"), data, 0o600); err != nil {
				t.Fatal(err)
			}
			demo, orth := uniqueName("offd"), uniqueName("offo")
			t.Cleanup(func() { removeProjects(t, demo, orth) })
			h.ok("deploy", "demo", "--name", demo, "--set", "DEMO_INTERVAL=3600")
			o := deployOrthanc(t, h, orth)
			set := dicom.Set{Seed: time.Now().UnixNano(), StudiesPerPatient: 2, SeriesPerStudy: 2, InstancesPerSeries: 3}
			var insts []dicom.Instance
			for i := 0; i < 12; i++ {
				insts = append(insts, set.Instance(i))
			}
			o.storeREST(t, insts)
			wantDICOM := o.contents(t)

			out := h.ok("backup", demo, orth)
			if strings.Count(out, "copy offsite") != 2 || strings.Count(out, ", verified") != 2 {
				t.Fatalf("backup did not copy both groups off site and verify them:\n%s", out)
			}
			maxID := strings.TrimSpace(docker(t, "exec", demo+"-db-1", "psql", "-U", "demo", "-tAc", "select max(id) from records"))
			rows := func(ctr string) string {
				return docker(t, "exec", ctr, "psql", "-U", "demo", "-tAc",
					"select count(*) || ' ' || md5(string_agg(t::text, '|' order by id)) from records t where id <= "+maxID)
			}
			wantRows := rows(demo + "-db-1")
			phrase := filepath.Join(escrow, "dr.pass")
			os.WriteFile(phrase, []byte("correct horse battery staple "+rand.Text()+"\n"), 0o600)
			bundle := filepath.Join(escrow, "site.tar.zst")
			h.ok("dr", "export", "--to", bundle, "--passphrase-file", phrase)
			if rb := h.ok("dr", "runbook", bundle); !strings.Contains(rb, pass) || !strings.Contains(rb, cc.Repository) {
				t.Errorf("the runbook does not name the off-site copy and its password file:\n%s", rb)
			}

			// The host is lost: its site (with the local repository), every
			// container and every volume.
			removeProjects(t, demo, orth)
			if err := os.RemoveAll(h.site); err != nil {
				t.Fatal(err)
			}
			if left := projectObjects(t, demo, orth); len(left) > 0 {
				t.Fatalf("not everything is gone: %v", left)
			}
			h2 := &harness{t: t, site: t.TempDir()}
			start := time.Now()
			out = h2.ok("dr", "restore", bundle, "--passphrase-file", phrase, "--repository", "offsite")
			t.Logf("dr restore from the %s copy in %s:\n%s", kind, time.Since(start).Round(time.Second), out)
			if n := strings.Count(out, "items match"); n != 2 {
				t.Errorf("dr restore compared %d fingerprints as matching, want 2:\n%s", n, out)
			}
			if strings.Contains(out, "differ") {
				t.Errorf("a fingerprint differs after the recovery:\n%s", out)
			}
			ps := h2.ok("ls")
			for _, n := range []string{demo, orth} {
				if !strings.Contains(ps, n) {
					t.Errorf("%s is not back: %s", n, ps)
				}
			}
			if got := rows(demo + "-db-1"); got != wantRows {
				t.Errorf("demo records after the recovery: %s, want %s", got, wantRows)
			}
			pw, err := os.ReadFile(filepath.Join(h2.site, "instances", orth, "secrets", "admin_password"))
			if err != nil {
				t.Fatal(err)
			}
			o.api.Password = strings.TrimSpace(string(pw))
			o.waitREST(t)
			got := o.contents(t)
			if len(got) != len(wantDICOM) {
				t.Errorf("Orthanc holds %d instances after the recovery, want %d", len(got), len(wantDICOM))
			}
			for id, sum := range wantDICOM {
				if got[id] != sum {
					t.Errorf("DICOM instance %s missing or different after the recovery", id)
				}
			}
		})
	}
}
