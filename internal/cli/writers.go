package cli

import "github.com/dockerbank/dockerbank/internal/conformance"

// writers are the built-in test write kinds besides exec.
func writers() map[string]conformance.Writer {
	return map[string]conformance.Writer{}
}
