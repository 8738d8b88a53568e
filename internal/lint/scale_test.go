package lint

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// manyServices writes a compose file with n services, each with the
// attributes the rules look at (env_file, ports, volumes, depends_on).
func manyServices(t testing.TB, n int) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("services:\n")
	for i := range n {
		fmt.Fprintf(&b, "  s%d:\n    image: nginx:1.25.3\n    env_file: [.env]\n    environment:\n      A: b\n    ports: ['127.0.0.1:%d:80']\n    volumes: ['data%d:/data']\n", i, 10000+i, i)
		if i > 0 {
			fmt.Fprintf(&b, "    depends_on:\n      s%d: {condition: service_completed_successfully}\n", i-1)
		}
	}
	b.WriteString("volumes:\n")
	for i := range n {
		fmt.Fprintf(&b, "  data%d: {}\n", i)
	}
	os.WriteFile(filepath.Join(dir, ".env"), nil, 0o644)
	f := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestLookupsStayLinear: the rules look services and volumes up by name;
// the number of keys compared must grow with the number of services, not
// with its square (5000 services took 17 s, 20000 more than 300 s).
func TestLookupsStayLinear(t *testing.T) {
	steps := func(n int) int64 {
		f := manyServices(t, n)
		before := mapSteps.Load()
		if _, err := Check(t.Context(), Options{Files: []string{f}, Now: testNow}); err != nil {
			t.Fatal(err)
		}
		return mapSteps.Load() - before
	}
	small, large := steps(200), steps(800)
	t.Logf("key comparisons: %d for 200 services, %d for 800", small, large)
	if ratio := float64(large) / float64(small); ratio > 6 {
		t.Errorf("4x the services took %.1fx the key comparisons (%d vs %d): lookups are not linear", ratio, large, small)
	}
}

// aliasBomb is a "billion laughs": each level refers to the one below
// width times.
func aliasBomb(levels, width int) string {
	var b strings.Builder
	b.WriteString("x-l0: &l0 [lol]\n")
	for l := 1; l <= levels; l++ {
		fmt.Fprintf(&b, "x-l%d: &l%d [", l, l)
		for i := range width {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", l-1)
		}
		b.WriteString("]\n")
	}
	fmt.Fprintf(&b, "services:\n  app:\n    image: nginx:1.25.3\n    labels:\n      bomb: *l%d\n", levels)
	return b.String()
}

// TestAliasBombIsRefused: aliases that expand beyond the bound give a
// clear error before compose-go expands them (which ran out of memory).
func TestAliasBombIsRefused(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yaml")
	os.WriteFile(f, []byte(aliasBomb(12, 4)), 0o644) // 4^12 = 16.7M nodes
	_, err := Check(t.Context(), Options{Files: []string{f}, Now: testNow})
	var ae *AnalysisError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "alias") {
		t.Fatalf("error %v, want an analysis error about aliases", err)
	}
	// Ordinary anchors and merges stay fine.
	os.WriteFile(f, []byte("x-base: &base\n  image: nginx:1.25.3\n  restart: unless-stopped\nservices:\n  a: *base\n  b:\n    <<: *base\n"), 0o644)
	if _, err := Check(t.Context(), Options{Files: []string{f}, Now: testNow}); err != nil {
		t.Errorf("ordinary anchors: %v", err)
	}
}

// TestHugeFileIsRefused: a compose file past the size bound is refused
// with a clear error before it is parsed.
func TestHugeFileIsRefused(t *testing.T) {
	f := filepath.Join(t.TempDir(), "compose.yaml")
	data := "services:\n  a:\n    image: nginx:1.25.3\n" + "# " + strings.Repeat("x", maxComposeBytes) + "\n"
	os.WriteFile(f, []byte(data), 0o644)
	_, err := Check(t.Context(), Options{Files: []string{f}, Now: testNow})
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("error %v, want the size bound", err)
	}
}

// TestCheckStopsWhenCancelled: a signal (cancelled context) stops lint.
func TestCheckStopsWhenCancelled(t *testing.T) {
	f := manyServices(t, 300)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Check(ctx, Options{Files: []string{f}, Now: testNow}); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}
