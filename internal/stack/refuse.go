package stack

import (
	"errors"
	"fmt"
	"strings"
)

// ErrRefused means the project cannot run as a swarm stack; Render's error
// is then a Problems that lists why.
var ErrRefused = errors.New("the project cannot run as a swarm stack")

// Problem is one reason a project cannot run on swarm.
type Problem struct {
	Subject string // "service NAME" or "secret NAME"
	Message string
}

func (p Problem) String() string { return p.Subject + ": " + p.Message }

// Problems lists every refusal of a project; it is the error of Render.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = "  " + p.String()
	}
	return fmt.Sprintf("%s (%d):\n%s\nchange the entry, or deploy it with `dockerbank deploy` instead of `dockerbank swarm deploy`", ErrRefused, len(ps), strings.Join(lines, "\n"))
}

// Unwrap makes errors.Is(err, ErrRefused) true.
func (ps Problems) Unwrap() error { return ErrRefused }
