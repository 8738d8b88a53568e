package audit

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// maxJSONBlob bounds the JSON files (manifests, configs) read into memory
// from a save tarball.
const maxJSONBlob = 16 << 20

// imageData is an image as the walker saw it: its config and one scan per
// layer, in layer order.
type imageData struct {
	ref       string
	id        string // sha256 of the config blob
	digest    string // registry manifest digest, when known
	config    *v1.ConfigFile
	layers    []*layerScan
	layerRefs []string // digest of each layer as the source names it
}

// readSave reads a `docker save` tarball in one pass: Docker's format
// (manifest.json, <id>/layer.tar) and the OCI layout that Docker 25 and
// later write (index.json, blobs/sha256/...). Layers are walked as they
// stream past, in whatever order the tarball has them, and put in order
// from the manifest at the end. ref picks one image when the tarball holds
// several ("" takes the first).
func readSave(ctx context.Context, r io.Reader, w *walker, ref string) (*imageData, error) {
	sc, err := scanSave(ctx, r, w)
	if err != nil {
		return nil, err
	}
	return assemble(sc.blobs, sc.scans, sc.walkErrs, sc.links, ref)
}

// saveScan is one pass over a save tarball: its JSON blobs, the walk of
// every layer, and its links.
type saveScan struct {
	blobs    map[string][]byte
	scans    map[string]*layerScan
	walkErrs map[string]error
	links    map[string]string
}

// scanSave reads a save tarball once, walking every layer as it streams by.
func scanSave(ctx context.Context, r io.Reader, w *walker) (*saveScan, error) {
	tr := tar.NewReader(r)
	blobs := map[string][]byte{}
	scans := map[string]*layerScan{}
	walkErrs := map[string]error{}
	links := map[string]string{}
	var peek [512]byte
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read image tarball: %w", err)
		}
		name := cleanPath(hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeSymlink:
			links[name] = cleanPath(path.Join(path.Dir(name), hdr.Linkname))
			continue
		case tar.TypeLink:
			links[name] = cleanPath(hdr.Linkname)
			continue
		case tar.TypeReg, tar.TypeRegA:
		default:
			continue
		}
		n, err := io.ReadFull(tr, peek[:min(int64(len(peek)), hdr.Size)])
		if err != nil {
			return nil, fmt.Errorf("read %s in image tarball: %w", name, err)
		}
		head := peek[:n]
		if first := firstNonSpace(head); (first == '{' || first == '[') && hdr.Size <= maxJSONBlob {
			var b bytes.Buffer
			b.Write(head)
			if _, err := b.ReadFrom(tr); err != nil {
				return nil, fmt.Errorf("read %s in image tarball: %w", name, err)
			}
			blobs[name] = b.Bytes()
			continue
		}
		gz := len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b
		if !gz && hdr.Size < 512 && !allZero(head) {
			continue // VERSION files and the like
		}
		scan, err := w.walk(io.MultiReader(bytes.NewReader(head), tr))
		if err != nil {
			walkErrs[name] = err
			continue
		}
		scans[name] = scan
	}
	return &saveScan{blobs: blobs, scans: scans, walkErrs: walkErrs, links: links}, nil
}

func firstNonSpace(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// saveManifest is one entry of a docker save manifest.json.
type saveManifest struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

func assemble(blobs map[string][]byte, scans map[string]*layerScan, walkErrs map[string]error, links map[string]string, ref string) (*imageData, error) {
	resolve := func(name string) string {
		name = cleanPath(name)
		for range 8 {
			t, ok := links[name]
			if !ok {
				break
			}
			name = t
		}
		return name
	}
	var cfgName string
	var layerNames []string
	var tags []string
	digest := ""
	if raw, ok := blobs["manifest.json"]; ok {
		var ms []saveManifest
		if err := json.Unmarshal(raw, &ms); err != nil {
			return nil, fmt.Errorf("decode manifest.json in image tarball: %w", err)
		}
		if len(ms) == 0 {
			return nil, errors.New("decode manifest.json in image tarball: no images")
		}
		m := ms[0]
		if ref != "" {
			for _, c := range ms {
				for _, t := range c.RepoTags {
					if t == ref || strings.TrimPrefix(t, "docker.io/library/") == ref {
						m = c
					}
				}
			}
		}
		cfgName, layerNames, tags = m.Config, m.Layers, m.RepoTags
	} else if raw, ok := blobs["index.json"]; ok {
		var err error
		cfgName, layerNames, digest, err = ociManifest(blobs, raw)
		if err != nil {
			return nil, err
		}
	} else {
		return nil, errors.New("read image tarball: no manifest.json or index.json: not a docker save or OCI layout tarball")
	}
	cfgRaw, ok := blobs[resolve(cfgName)]
	if !ok {
		return nil, fmt.Errorf("read image tarball: config %s named in the manifest is missing", cfgName)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(cfgRaw))
	if err != nil {
		return nil, fmt.Errorf("decode image config %s: %w", cfgName, err)
	}
	sum := sha256.Sum256(cfgRaw)
	d := &imageData{id: "sha256:" + hex.EncodeToString(sum[:]), digest: digest, config: cfg}
	if ref != "" {
		d.ref = ref
	} else if len(tags) > 0 {
		d.ref = tags[0]
	}
	for i, ln := range layerNames {
		name := resolve(ln)
		scan, ok := scans[name]
		if !ok {
			if err := walkErrs[name]; err != nil {
				return nil, fmt.Errorf("walk layer %d (%s): %w", i, ln, err)
			}
			return nil, fmt.Errorf("read image tarball: layer %d (%s) named in the manifest is missing", i, ln)
		}
		d.layers = append(d.layers, scan)
		if i < len(cfg.RootFS.DiffIDs) {
			d.layerRefs = append(d.layerRefs, cfg.RootFS.DiffIDs[i].String())
		} else {
			d.layerRefs = append(d.layerRefs, ln)
		}
	}
	return d, nil
}

// ociManifest follows index.json to the first image manifest of an OCI
// layout and returns the blob names of its config and layers.
func ociManifest(blobs map[string][]byte, index []byte) (cfg string, layers []string, digest string, err error) {
	blobName := func(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }
	raw := index
	for range 4 {
		var idx v1.IndexManifest
		if err := json.Unmarshal(raw, &idx); err != nil {
			return "", nil, "", fmt.Errorf("decode OCI index: %w", err)
		}
		if len(idx.Manifests) == 0 {
			break
		}
		desc := idx.Manifests[0]
		b, ok := blobs[blobName(desc.Digest)]
		if !ok {
			return "", nil, "", fmt.Errorf("read OCI layout: manifest %s missing", desc.Digest)
		}
		if desc.MediaType.IsIndex() {
			raw = b
			continue
		}
		var m v1.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return "", nil, "", fmt.Errorf("decode OCI manifest %s: %w", desc.Digest, err)
		}
		for _, l := range m.Layers {
			layers = append(layers, blobName(l.Digest))
		}
		return blobName(m.Config.Digest), layers, desc.Digest.String(), nil
	}
	return "", nil, "", errors.New("read OCI layout: no image manifest in index.json")
}
