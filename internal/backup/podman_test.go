package backup_test

import (
	"testing"

	"github.com/dockerbank/dockerbank/internal/testenv"
)

// The round trips of the Docker tests, against a Podman service that the
// test starts (docs/podman.md), with the same fixtures and comparisons.

func TestPodmanRoundTripDemo(t *testing.T) {
	testenv.Podman(t, "dockerbank/postgres:15", "dockerbank/busybox:1.36")
	needEngine(t)
	roundTripDemo(t)
}

func TestPodmanRoundTripDatabasesAndFiles(t *testing.T) {
	testenv.Podman(t, "dockerbank/postgres:15", "dockerbank/mariadb:10.11", "dockerbank/busybox:1.36")
	needEngine(t)
	// Both ways of reading file volumes; the archive store adds nothing
	// engine-specific.
	roundTripDatabasesAndFiles(t, []roundTripPath{{"dir", "repo"}, {"tar", "repo"}})
}
