package deploy

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
)

// ensureImages builds the images of a version that the entry builds locally
// and the engine does not have yet. Other images are left to compose, which
// pulls them when a registry is reachable.
func (m *Manager) ensureImages(ctx context.Context, instance string, e *bank.Entry, ver bank.Version) error {
	for _, svc := range sortedKeys(ver.Build) {
		b := ver.Build[svc]
		ref := ver.Images[svc]
		ok, err := m.Engine.ImageExists(ctx, ref)
		if err != nil {
			return err
		}
		if ok {
			continue
		}
		if e.Distribution.Mode == bank.BuildLocally {
			return needsSource(e, ver, ref)
		}
		m.step("build image %s for service %s", ref, svc)
		ctxDir := filepath.Join(m.Site.InstanceDir(instance), "entry", b.Context)
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(tarDir(pw, ctxDir)) }()
		labels := map[string]string{
			LabelEntry: e.ID, LabelVersion: ver.Version,
			"org.dockerbank.redistributable": fmt.Sprint(e.Distribution.Mode == bank.Redistributable),
		}
		err = m.Engine.BuildImage(ctx, pr, engine.BuildOptions{
			Tag: ref, Dockerfile: b.Dockerfile, Args: b.Args, Labels: labels,
			Progress: func(l string) { m.step("  %s", l) },
		})
		pr.Close()
		if err != nil {
			return fmt.Errorf("%w; the entry builds this image from %s", err, ctxDir)
		}
	}
	return nil
}

// tarDir writes the regular files and directories under dir as a tar stream.
func tarDir(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		return fmt.Errorf("pack build context %s: %w", dir, err)
	}
	return tw.Close()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
