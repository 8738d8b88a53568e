package deploy

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/dockerbank/dockerbank/internal/engine"
)

// diagnose describes the containers of an instance that are not running
// healthy: their state, the output of their last health probe and the end
// of their log. A failed deploy may remove the instance afterwards (restore
// does), so what the user needs to see must travel in the error.
func (m *Manager) diagnose(ctx context.Context, instance string) string {
	ctrs, err := m.Engine.Containers(ctx, map[string]string{engine.LabelProject: instance})
	if err != nil {
		return ""
	}
	var b strings.Builder
	for _, c := range ctrs {
		if c.State == "running" && (c.Health == "healthy" || c.Health == "") {
			continue
		}
		fmt.Fprintf(&b, "\n  %s: %s, health %s", c.Name, c.State, orNone(c.Health))
		if h, err := m.Engine.Health(ctx, c.ID); err == nil && len(h.Probes) > 0 {
			last := h.Probes[len(h.Probes)-1]
			fmt.Fprintf(&b, "\n    last health probe: exit %d: %s", last.ExitCode, strings.TrimSpace(last.Output))
		}
		var out bytes.Buffer
		if err := m.Engine.Logs(ctx, c.ID, engine.LogsOptions{Tail: "15"}, &out, &out); err == nil {
			for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
				if line != "" {
					fmt.Fprintf(&b, "\n    | %s", line)
				}
			}
		}
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
