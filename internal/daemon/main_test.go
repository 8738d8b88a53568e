package daemon

import (
	"testing"

	"github.com/dockerbank/dockerbank/internal/testenv"
)

// TestMain checks that the containers running before the tests are as
// healthy after them, and prints the prerequisites that were missing.
func TestMain(m *testing.M) { testenv.Main(m) }
