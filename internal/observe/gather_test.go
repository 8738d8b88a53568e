package observe

import (
	"bytes"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
)

// gather renders the collector's metrics in the text exposition format.
func gather(t *testing.T, c *Collector) string {
	t.Helper()
	mfs, err := Registry(c).Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
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
