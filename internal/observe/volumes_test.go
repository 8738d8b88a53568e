package observe

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/site"
)

// TestSiteVolumesAreOnlyOurs: /metrics and the dashboard list the volumes
// of this site's instances, not those of another site on the same engine
// (even with the same instance name), nor unlabelled ones.
func TestSiteVolumesAreOnlyOurs(t *testing.T) {
	lab := func(site, inst string) map[string]string {
		return map[string]string{label.Site: site, label.Instance: inst, label.Class: "userdata"}
	}
	vols := []engine.Volume{
		{Name: "demo_files", Labels: lab("ours", "demo")},
		{Name: "other_files", Labels: lab("theirs", "other")},
		{Name: "demo2_files", Labels: lab("theirs", "demo")},
		{Name: "3f2a", Labels: nil},
	}
	var got []string
	for _, v := range siteVolumes("ours", vols) {
		got = append(got, v.Name+" "+v.Instance)
	}
	if diff := cmp.Diff([]string{"demo_files demo"}, got); diff != "" {
		t.Errorf("volumes (-want +got):\n%s", diff)
	}
}

func TestSiteContainersAreOnlyOurs(t *testing.T) {
	s, err := site.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id, _ := s.ID()
	if err := s.Save(&site.Instance{Name: "demo", Entry: "demo", Version: "1", State: site.StateUp}); err != nil {
		t.Fatal(err)
	}
	cs := []engine.Container{
		{Name: "demo-app-1", Labels: map[string]string{label.Site: id, label.Instance: "demo"}},
		{Name: "demo-app-1-other-site", Labels: map[string]string{label.Site: "theirs", label.Instance: "demo"}},
		{Name: "x", Labels: map[string]string{label.Site: id, label.Instance: "removed"}},
	}
	got, err := siteContainers(s, cs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "demo-app-1" {
		t.Errorf("containers %v", got)
	}
}
