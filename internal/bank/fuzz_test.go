package bank

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeEntry feeds arbitrary bytes to the entry.yaml decoder and
// validator: they must report problems, never panic.
func FuzzDecodeEntry(f *testing.F) {
	for _, p := range []string{"testdata/good/minimal/entry.yaml", "testdata/bad/unknown-key/entry.yaml", "testdata/bad/yaml-error/entry.yaml", "../../bank/entries/demo/entry.yaml"} {
		if data, err := os.ReadFile(filepath.FromSlash(p)); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("versions: [{images: {a: ':'}}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, doc, probs := decodeEntry(data, "entry.yaml")
		if e == nil {
			if len(probs) == 0 {
				t.Fatal("no entry and no problem")
			}
			return
		}
		_ = validateEntry(e, doc, "entry.yaml")
	})
}
