package observe

import (
	"strings"
	"testing"
)

// gather renders the collector's metrics in the text exposition format.
func gather(t *testing.T, c *Collector) string {
	t.Helper()
	return gatherAll(t, Collectors{c})
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
