package deploy_test

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// TestComposeRefusesReadOnlySecret reproduces, on the real engine, what
// `bank lint` predicts: an entry with a read-only service and a generated
// secret, rendered as deploy renders it, is refused by the compose engine
// ("`file` is the sole supported option"), and lint reports it at
// compose.yaml:5 first.
func TestComposeRefusesReadOnlySecret(t *testing.T) {
	dir := filepath.Join("..", "bank", "testdata", "bad", "readonly-secret")
	_, err := bank.LoadDir(t.Context(), dir)
	var ps bank.Problems
	if !errors.As(err, &ps) || !strings.Contains(ps.Error(), "readonly-secret/compose.yaml:5: service app is read_only and uses generated secret token") {
		t.Fatalf("bank lint did not report the read-only service at compose.yaml:5: %v", err)
	}

	testenv.RequireImages(t, "dockerbank/busybox:1.36")
	e, err := engine.Connect(t.Context(), engine.Options{})
	if err != nil {
		testenv.Missing(t, "engine: %v", err)
	}
	defer e.Close()
	name := "rosecret-" + strings.ToLower(rand.Text()[:6])
	p, err := bank.LoadProject(t.Context(), bank.LoadOptions{Dir: dir, Files: []string{"compose.yaml"}, Name: name,
		Env: []string{bank.SecretEnv("token") + "=abcdefghijklmnopqrst"}})
	if err != nil {
		t.Fatal(err)
	}
	model, err := bank.Model(p)
	if err != nil {
		t.Fatal(err)
	}
	bank.Render(p, bank.Version{Version: "1.0", Images: map[string]string{"app": "dockerbank/busybox:1.36"}}, model)
	// Hand it to compose as deploy does: the rendered file, loaded by the
	// engine with the secret in the environment.
	data, err := p.MarshalYAML()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "compose.yaml"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err = e.LoadProject(t.Context(), engine.LoadOptions{Dir: work, Files: []string{"compose.yaml"}, Name: name,
		Env: []string{bank.SecretEnv("token") + "=abcdefghijklmnopqrst"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Down(context.Background(), name, 5*time.Second); err != nil {
			t.Errorf("down %s: %v", name, err)
		}
	})
	err = e.Up(t.Context(), p, engine.UpOptions{Wait: true, WaitTimeout: 2 * time.Minute})
	if err == nil || !strings.Contains(err.Error(), "`file` is the sole supported option") {
		t.Fatalf("compose up = %v, want the read-only secret refusal", err)
	}
	t.Logf("compose refused as lint predicted: %v", err)
}
