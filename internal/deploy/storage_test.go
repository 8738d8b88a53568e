package deploy_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/enginetest"
	"github.com/dockerbank/dockerbank/internal/instance"
	"github.com/dockerbank/dockerbank/internal/site"
)

// The storage decisions on the in-memory engine: a mapped class becomes
// the volume's driver options and the record's mapping; a base directory
// that does not exist stops the deploy before anything is created. The
// same paths run on the real engine in internal/cli's storage tests.
func TestDeployStorageDecisions(t *testing.T) {
	newEnv := func(t *testing.T, base string) (*deploy.Manager, *enginetest.Engine, *site.Site) {
		b, err := enginetest.Bank(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		s, err := site.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SaveConfig(&site.Config{Storage: site.StorageConfig{Classes: map[string]site.Storage{"userdata": {HostPath: base}}}}); err != nil {
			t.Fatal(err)
		}
		fake := &enginetest.Engine{}
		return &deploy.Manager{Bank: b, Site: s, Engine: fake, Command: "test"}, fake, s
	}
	t.Run("mapped class", func(t *testing.T) {
		base := t.TempDir()
		m, fake, s := newEnv(t, base)
		if _, err := m.Deploy(t.Context(), deploy.DeployOptions{Entry: "decide", Name: "st1"}); err != nil {
			t.Fatal(err)
		}
		vols, _ := fake.Volumes(t.Context(), false)
		if len(vols) != 1 {
			t.Fatalf("volumes %v", vols)
		}
		dir := filepath.Join(base, "st1", "data")
		if got := vols[0].Options["device"]; got != dir || vols[0].Options["o"] != "bind" {
			t.Errorf("volume %s created with options %v, want a bind of %s", vols[0].Name, vols[0].Options, dir)
		}
		in, err := s.Instance("st1")
		if err != nil {
			t.Fatal(err)
		}
		if vs := in.Storage["data"]; vs.Dir != dir || vs.Key != "storage.classes.userdata" {
			t.Errorf("record's storage %+v", in.Storage)
		}
		// A later site.yaml does not move the volume of an existing instance.
		if err := s.SaveConfig(&site.Config{}); err != nil {
			t.Fatal(err)
		}
		if err := m.Upgrade(t.Context(), "st1", deploy.UpgradeOptions{To: "2.0", NoBackup: true}); err != nil {
			t.Fatal(err)
		}
		r, err := instance.Rendered(s, "st1")
		if err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(r.File)
		if !strings.Contains(string(data), dir) {
			t.Errorf("the file rendered by the upgrade lost the mapping:\n%s", data)
		}
	})
	t.Run("missing base directory", func(t *testing.T) {
		base := filepath.Join(t.TempDir(), "not-there")
		m, fake, s := newEnv(t, base)
		_, err := m.Deploy(t.Context(), deploy.DeployOptions{Entry: "decide", Name: "st2"})
		if !errors.Is(err, deploy.ErrStorage) {
			t.Fatalf("deploy with a missing base directory: %v", err)
		}
		for _, want := range []string{"volumes data of st2", filepath.Join(base, "st2", "data"), "storage.classes.userdata.hostPath", "mkdir -p " + base} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error does not say %q: %v", want, err)
			}
		}
		if v := fake.VolumeNames(); len(v) != 0 {
			t.Errorf("volumes created: %v", v)
		}
		if r := fake.Running("st2"); len(r) != 0 {
			t.Errorf("containers started: %v", r)
		}
		if _, err := os.Stat(s.InstanceDir("st2")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the site keeps a half instance: %v", err)
		}
	})
}
