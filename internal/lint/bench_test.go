package lint

import (
	"errors"
	"testing"
)

// BenchmarkCheckCorpus lints every file of shared/corpus/compose (staged
// under their upstream names) once per iteration, in-process.
func BenchmarkCheckCorpus(b *testing.B) {
	dir := corpusDir(b)
	all := readSources(b, dir)
	files := make([]string, 0, len(all))
	for _, cf := range all {
		files = append(files, stage(b, dir, all, cf))
	}
	b.ResetTimer()
	for b.Loop() {
		for _, f := range files {
			_, err := Check(b.Context(), Options{Files: []string{f}, Now: testNow})
			var ae *AnalysisError
			if err != nil && !errors.As(err, &ae) {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(files)), "files/op")
}
