package cli

import (
	"testing"

	"github.com/dockerbank/dockerbank/internal/testenv"
)

// TestPodmanDemo runs the demo lifecycle of the Docker test against a
// Podman service that the test starts (docs/podman.md).
func TestPodmanDemo(t *testing.T) {
	testenv.Podman(t, "dockerbank/postgres:15", "dockerbank/busybox:1.36")
	demoLifecycle(t, newHarness(t))
}

// TestPodmanUpgradeRollsBack runs the Docker test of an upgrade to a
// version that never becomes healthy against Podman.
func TestPodmanUpgradeRollsBack(t *testing.T) {
	testenv.Podman(t, "dockerbank/postgres:15", "dockerbank/busybox:1.36")
	upgradeRollsBack(t)
}
