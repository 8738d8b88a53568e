package audit

import (
	"bytes"
	"testing"
)

// FuzzWalkLayer feeds arbitrary bytes to the layer walker as a layer tar
// (plain or gzip). It must return an error or a scan, never panic or hang.
func FuzzWalkLayer(f *testing.F) {
	img, _ := plantedImage(f)
	layers, err := img.Layers()
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range layers[:2] {
		rc, err := l.Uncompressed()
		if err != nil {
			f.Fatal(err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(rc)
		rc.Close()
		f.Add(buf.Bytes())
		f.Add(gzipped(f, buf.Bytes()))
	}
	f.Add([]byte{})
	f.Add(make([]byte, 1024))
	rules := DefaultLicenceRules()
	f.Fuzz(func(t *testing.T, data []byte) {
		scan, err := newWalker(4096, rules).walk(bytes.NewReader(data))
		if err == nil && scan == nil {
			t.Fatal("nil scan without error")
		}
	})
}

// FuzzReadSave feeds arbitrary bytes to the docker save reader.
func FuzzReadSave(f *testing.F) {
	f.Add([]byte{})
	f.Add(layerTar(f, []file{{name: "manifest.json", content: []byte(`[{"Config":"c.json","Layers":["l.tar"]}]`)}, {name: "c.json", content: []byte(`{"rootfs":{"diff_ids":[]}}`)}}))
	rules := DefaultLicenceRules()
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := readSave(t.Context(), bytes.NewReader(data), newWalker(4096, rules), "")
		if err == nil {
			analyse(d, testNow) // must not panic on whatever parsed
		}
	})
}
