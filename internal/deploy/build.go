package deploy

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
)

// ensureImages builds the images of a version that the entry builds locally
// and the engine does not have yet. Other images are left to compose, which
// pulls them when a registry is reachable.
func (m *Manager) ensureImages(ctx context.Context, instance string, e *bank.Entry, ver bank.Version) error {
	for _, svc := range slices.Sorted(maps.Keys(ver.Build)) {
		b := ver.Build[svc]
		ref := ver.Images[svc]
		ctxDir := filepath.Join(m.Site.InstanceDir(instance), "entry", b.Context)
		sum, err := contextSum(ctxDir, b)
		if err != nil {
			return err
		}
		ok, err := m.Engine.ImageExists(ctx, ref)
		if err != nil {
			return err
		}
		if ok && e.Distribution.Mode == bank.BuildLocally {
			continue // built by `dockerbank build` from the user's source
		}
		if ok {
			labels, err := m.Engine.ImageLabels(ctx, ref)
			if err != nil {
				return err
			}
			if labels[label.ContextSHA256] == sum {
				continue
			}
			m.step("image %s was built from another version of the entry's files: building it again", ref)
		}
		if e.Distribution.Mode == bank.BuildLocally {
			return needsSource(e, ver, ref)
		}
		m.step("build image %s for service %s", ref, svc)
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(tarDir(pw, ctxDir)) }()
		labels := map[string]string{
			label.Entry: e.ID, label.Version: ver.Version,
			label.Redistributable: fmt.Sprint(e.Distribution.Mode == bank.Redistributable),
			label.ContextSHA256:   sum,
		}
		err = m.Engine.BuildImage(ctx, pr, engine.BuildOptions{
			Tag: ref, Dockerfile: b.Dockerfile, Args: b.Args, Labels: labels,
			Report: m.Report,
		})
		pr.Close()
		if err != nil {
			return fmt.Errorf("%w; the entry builds this image from %s", err, ctxDir)
		}
	}
	return nil
}

// The label.ContextSHA256 of an image records the checksum of the build
// context it was built from, so that a changed entry rebuilds its image
// instead of reusing a stale one of the same tag.

// contextSum hashes the paths, modes and contents of a build context and the
// build's arguments (not modification times, which copying changes).
func contextSum(dir string, b bank.Build) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%o\x00", rel, info.Mode())
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(h, f)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("hash build context %s: %w", dir, err)
	}
	fmt.Fprintf(h, "dockerfile=%s\x00", b.Dockerfile)
	for _, k := range slices.Sorted(maps.Keys(b.Args)) {
		fmt.Fprintf(h, "%s=%s\x00", k, b.Args[k])
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// tarDir writes the regular files and directories under dir as a tar stream.
func tarDir(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		return fmt.Errorf("pack build context %s: %w", dir, err)
	}
	return tw.Close()
}
