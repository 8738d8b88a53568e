package kube

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/dockerbank/dockerbank"
	"github.com/dockerbank/dockerbank/internal/bank"
)

// TestSharedServerIsExternalName: an instance whose db is a shared server
// (deploy --use db=pg1, so no db service) gets a Service db of type
// ExternalName pointing at the server's own export, and a note saying the
// database and role must exist there.
func TestSharedServerIsExternalName(t *testing.T) {
	b, err := bank.Open(t.Context(), bank.Source{Name: "embedded", FS: dockerbank.Bank, Root: dockerbank.BankRoot})
	if err != nil {
		t.Fatal(err)
	}
	e, err := b.Get("orthanc")
	if err != nil {
		t.Fatal(err)
	}
	fsys, dir, err := b.Files(e.ID)
	if err != nil {
		t.Fatal(err)
	}
	p, ver, err := EntryProject(t.Context(), fsys, dir, t.TempDir(), e, "1.10.1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	delete(p.Services, "db")
	delete(p.Volumes, "index")
	o := p.Services["orthanc"]
	delete(o.DependsOn, "db")
	p.Services["orthanc"] = o
	m, err := bank.Model(p)
	if err != nil {
		t.Fatal(err)
	}
	man, err := Convert(p, m, Options{Instance: "o1", Entry: e.ID, Version: ver.Version, Secrets: SecretsEmpty,
		Shared: []Shared{{Service: "db", Server: "pg1", ServerService: "server", Database: "o1"}}})
	if err != nil {
		t.Fatal(err)
	}
	var found *corev1.Service
	for _, obj := range man.Objects {
		if s, ok := obj.Object.(*corev1.Service); ok && s.Name == "db" {
			found = s
		}
	}
	if found == nil {
		t.Fatal("no Service db")
	}
	if found.Spec.Type != corev1.ServiceTypeExternalName || found.Spec.ExternalName != "server.pg1.svc.cluster.local" {
		t.Errorf("Service db: type %s externalName %q, want ExternalName server.pg1.svc.cluster.local", found.Spec.Type, found.Spec.ExternalName)
	}
	if !strings.Contains(strings.Join(man.Notes, "\n"), "create database and role o1 there") {
		t.Errorf("notes do not say the database must exist in the server: %q", man.Notes)
	}
}
