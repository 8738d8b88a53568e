package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/site"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// journalOf returns the site's journal records of one command.
func journalOf(t *testing.T, h *harness, command string) []site.Record {
	t.Helper()
	s, err := site.Open(h.site)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := s.Journal()
	if err != nil {
		t.Fatal(err)
	}
	var out []site.Record
	for _, r := range recs {
		if r.Command == command {
			out = append(out, r)
		}
	}
	return out
}

// freezeResult is freeze's --json output.
type freezeResult struct {
	File      string  `json:"file"`
	Image     string  `json:"image"`
	ImageID   string  `json:"imageId"`
	Size      int64   `json:"size"`
	AllowedBy string  `json:"allowedBy"`
	Commit    float64 `json:"commitSeconds"`
	Findings  []struct {
		Rule string `json:"rule"`
		Path string `json:"path"`
	} `json:"findings"`
}

// frozenImages lists the images freeze made for an instance.
func frozenImages(t *testing.T, instance string) []string {
	t.Helper()
	out, _ := exec.Command("docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "dockerbank-frozen/"+instance+"-app").Output()
	return strings.Fields(string(out))
}

// TestFreezeRefusesPatientDataThenWritesALoadableArchive writes a patient
// CSV into the demo app's writable layer (not a volume) and freezes it:
// refused with the path, journaled, no file left; --allow-data writes it and
// push still refuses the image; once the CSV is removed (a whiteout-free
// layer: the file never was in the image) the archive loads into the engine
// and runs, with its labels.
func TestFreezeRefusesPatientDataThenWritesALoadableArchive(t *testing.T) {
	h := newHarness(t)
	testenv.RequireImages(t, "dockerbank/demo-app:2.0")
	name := uniqueName("frz")
	h.cleanup(name)
	t.Cleanup(func() {
		for _, img := range frozenImages(t, name) {
			exec.Command("docker", "image", "rm", img).Run()
		}
	})
	h.ok("deploy", "demo", "--name", name)
	app := docker(t, "ps", "-q", "--no-trunc", "--filter", "label=com.docker.compose.project="+name, "--filter", "label=com.docker.compose.service=app")
	srcImageID := docker(t, "inspect", "--format", "{{.Image}}", app)
	// shell still works where the image has /bin/sh.
	var sh, sherr strings.Builder
	if code := Main([]string{"--site", h.site, "--quiet", "shell", name, "app"}, Streams{In: strings.NewReader("echo shell-ok\n"), Out: &sh, Err: &sherr}); code != 0 || sh.String() != "shell-ok\n" {
		t.Errorf("shell on the demo app: exit %d, output %q %s", code, sh.String(), sherr.String())
	}
	dir := t.TempDir()
	docker(t, "exec", app, "sh", "-c", "mkdir -p /tmp/export && printf 'patient_id,name,birth_date,diagnosis\\nP-0001,Erika Mustermann,1964-08-12,C50.9\\n' > /tmp/export/patients.csv && echo frozen-marker > /tmp/export/notes.txt")

	// Refused: exit 6, the path named, nothing written, journaled.
	to := filepath.Join(dir, "app.tar")
	start := time.Now()
	r := h.run("freeze", name, "app", "--to", to)
	t.Logf("refused freeze took %s", time.Since(start).Round(time.Millisecond))
	if r.code != ExitRefused || !strings.Contains(r.err, "/tmp/export/patients.csv") {
		t.Fatalf("freeze with a patient CSV: exit %d, want %d naming the path\nstderr:\n%s", r.code, ExitRefused, r.err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused freeze left files: %v", entries)
	}
	if imgs := frozenImages(t, name); len(imgs) != 0 {
		t.Errorf("refused freeze left images: %v", imgs)
	}
	recs := journalOf(t, h, "freeze")
	if len(recs) != 1 || recs[0].Outcome != "refused" || !strings.Contains(recs[0].Detail, "tmp/export/patients.csv") || recs[0].Instance != name {
		t.Errorf("journal after the refusal: %+v", recs)
	}
	if docker(t, "inspect", "--format", "{{.State.Status}}", app) != "running" {
		t.Errorf("app not running after the freeze (it must be paused for the commit only)")
	}

	// --allow-data needs a reason.
	if r := h.run("freeze", name, "app", "--to", to, "--allow-data"); r.code != ExitUsage || !strings.Contains(r.err, "--reason") {
		t.Errorf("--allow-data without --reason: exit %d %s", r.code, r.err)
	}

	// Allowed with a reason: written, journaled, and push still refuses.
	allowed := filepath.Join(dir, "allowed.tar")
	var res freezeResult
	if err := json.Unmarshal([]byte(h.ok("--json", "freeze", name, "app", "--to", allowed, "--allow-data", "--reason", "ticket 42: vendor analysis")), &res); err != nil {
		t.Fatal(err)
	}
	stAllowed, err := os.Stat(allowed)
	if err != nil || res.File != allowed || stAllowed.Size() != res.Size || res.AllowedBy != "ticket 42: vendor analysis" || len(res.Findings) != 1 || res.Findings[0].Path != "tmp/export/patients.csv" {
		t.Errorf("--allow-data result %+v, file %v %v", res, stAllowed, err)
	}
	recs = journalOf(t, h, "freeze")
	if last := recs[len(recs)-1]; last.Outcome != "ok" || !strings.Contains(last.Detail, "ticket 42: vendor analysis") || !strings.Contains(last.Detail, "patients.csv") || last.User == "" {
		t.Errorf("journal of the allowed freeze: %+v", last)
	}
	r = h.run("push", res.Image)
	if r.code != ExitRefused || !strings.Contains(r.err, "patients.csv") || !strings.Contains(r.err, "--allow-data") {
		t.Errorf("push of the frozen image with data: exit %d, want %d naming the CSV and --allow-data\n%s", r.code, ExitRefused, r.err)
	}
	docker(t, "image", "rm", res.Image)

	// The file removed: its deletion leaves nothing in the layer (it never
	// was in the image), so the freeze passes.
	docker(t, "exec", app, "rm", "/tmp/export/patients.csv")
	if r := h.run("freeze", name, "app", "--to", allowed); r.code != ExitRefused || !strings.Contains(r.err, "--force") {
		t.Errorf("freeze onto an existing file: exit %d %s", r.code, r.err)
	}
	start = time.Now()
	res = freezeResult{}
	if err := json.Unmarshal([]byte(h.ok("--json", "freeze", name, "app", "--to", to)), &res); err != nil {
		t.Fatal(err)
	}
	t.Logf("clean freeze took %s (commit, the pause, %.2fs), archive %d bytes", time.Since(start).Round(time.Millisecond), res.Commit, res.Size)
	if len(res.Findings) != 0 || res.AllowedBy != "" {
		t.Errorf("clean freeze: %+v", res)
	}
	if _, err := os.Stat(to + ".partial"); !os.IsNotExist(err) {
		t.Errorf("partial file left: %v", err)
	}

	// The archive alone brings the image back: remove it from the engine,
	// docker load the file, run a container of it.
	docker(t, "image", "rm", res.Image)
	if out := docker(t, "load", "-i", to); !strings.Contains(out, res.Image) {
		t.Fatalf("docker load: %s, want %s", out, res.Image)
	}
	if id := docker(t, "image", "inspect", "--format", "{{.Id}}", res.Image); id != res.ImageID {
		t.Errorf("loaded image %s, frozen %s", id, res.ImageID)
	}
	ctr := "frz-run-" + strings.ToLower(name)
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", ctr).Run() })
	out := docker(t, "run", "--name", ctr, "--entrypoint", "/bin/sh", res.Image, "-c", "cat /tmp/export/notes.txt; test -e /tmp/export/patients.csv && echo csv-present || echo csv-absent")
	if out != "frozen-marker\ncsv-absent" {
		t.Errorf("container of the loaded image printed %q, want the marker written before the freeze and no CSV", out)
	}
	var labels map[string]string
	if err := json.Unmarshal([]byte(docker(t, "inspect", "--format", "{{json .Config.Labels}}", ctr)), &labels); err != nil {
		t.Fatal(err)
	}
	at, err := time.Parse(time.RFC3339, labels[label.FrozenAt])
	if err != nil || time.Since(at) > 10*time.Minute {
		t.Errorf("%s = %q (%v)", label.FrozenAt, labels[label.FrozenAt], err)
	}
	for k, want := range map[string]string{
		label.FrozenInstance: name, label.FrozenService: "app", label.FrozenImage: "dockerbank/demo-app:2.0",
		label.FrozenImageID: srcImageID, label.FrozenContainer: app,
		// The deployment's labels are blanked: a container of the frozen
		// image is no container of the instance.
		label.Instance: "", "com.docker.compose.project": "",
	} {
		if labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, labels[k], want)
		}
	}
	if _, ok := labels[label.FrozenAllowData]; ok {
		t.Errorf("clean freeze labelled %s", label.FrozenAllowData)
	}
	if ps := h.ok("ps", name); strings.Contains(ps, ctr) {
		t.Errorf("ps %s lists the container of the frozen image:\n%s", name, ps)
	}
}
