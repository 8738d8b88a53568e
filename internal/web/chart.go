package web

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/dockerbank/dockerbank/internal/observe"
)

const chartW, chartH = 480, 90

// cpuChart draws CPU use (cores) over time as an inline SVG.
func cpuChart(pts []observe.Point) template.HTML {
	vals := make([]float64, len(pts))
	for i, p := range pts {
		vals[i] = p.CPU * 100
	}
	return svgLine(vals, "#2b7bb9", "CPU %", func(v float64) string { return fmt.Sprintf("%.1f%%", v) })
}

// memChart draws the memory working set over time.
func memChart(pts []observe.Point) template.HTML {
	vals := make([]float64, len(pts))
	for i, p := range pts {
		vals[i] = float64(p.Mem) / (1 << 20)
	}
	return svgLine(vals, "#5a9e3a", "memory MiB", func(v float64) string { return fmt.Sprintf("%.1f MiB", v) })
}

// svgLine renders values as a polyline scaled to the chart. Values are
// numbers formatted here, so the SVG holds no user input.
func svgLine(vals []float64, color, title string, format func(float64) string) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`, chartW, chartH+16, chartW, chartH+16, title)
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" fill="#f7f7f7" stroke="#ddd"/>`, chartW, chartH)
	if len(vals) < 2 {
		fmt.Fprintf(&b, `<text x="8" y="%d" font-size="12" fill="#777">%s: collecting…</text></svg>`, chartH/2, title)
		return template.HTML(b.String())
	}
	hi := 0.0
	for _, v := range vals {
		hi = max(hi, v)
	}
	if hi == 0 {
		hi = 1
	}
	hi *= 1.1
	b.WriteString(`<polyline fill="none" stroke-width="1.5" stroke="` + color + `" points="`)
	for i, v := range vals {
		x := float64(i) * float64(chartW-1) / float64(len(vals)-1)
		y := float64(chartH) - v/hi*float64(chartH-4)
		fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
	}
	b.WriteString(`"/>`)
	fmt.Fprintf(&b, `<text x="4" y="%d" font-size="11" fill="#333">%s now %s, max %s</text></svg>`, chartH+13, title, format(vals[len(vals)-1]), format(hi/1.1))
	return template.HTML(b.String())
}
