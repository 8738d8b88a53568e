package kube

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/dockerbank/dockerbank/internal/bank"
)

// EntryProject loads the compose project of an entry version as a deploy
// renders it: parameters at their defaults (or set), images pinned to the
// version, services built locally by dockerbank without their build. The
// entry's files (fsys, dir) are copied into workDir, which the caller
// removes after Convert (bind-mounted files are read from it).
func EntryProject(ctx context.Context, fsys fs.FS, dir, workDir string, e *bank.Entry, version, variant string, set map[string]string) (*types.Project, bank.Version, error) {
	ver, ok := e.Version(version)
	if !ok {
		return nil, bank.Version{}, fmt.Errorf("entry %s has no version %q; versions: %s", e.ID, version, strings.Join(e.VersionNames(), ", "))
	}
	v, ok := e.Variant(variant)
	if !ok {
		return nil, bank.Version{}, fmt.Errorf("entry %s has no variant %q", e.ID, variant)
	}
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		return nil, bank.Version{}, fmt.Errorf("read entry %s: %w", e.ID, err)
	}
	if err := os.CopyFS(workDir, sub); err != nil {
		return nil, bank.Version{}, fmt.Errorf("copy entry %s: %w", e.ID, err)
	}
	p, err := bank.LoadProject(ctx, bank.LoadOptions{Dir: workDir, Files: e.ComposeFilesOf(ver, v), Name: e.ID,
		Env: e.ParamEnv(set), Profiles: v.Profiles})
	if err != nil {
		return nil, bank.Version{}, fmt.Errorf("load entry %s: %w", e.ID, err)
	}
	for name, s := range p.Services {
		if img, ok := ver.Images[name]; ok {
			s.Image = img
			if d, ok := ver.Digests[name]; ok {
				s.Image = img + "@" + d
			}
		}
		if _, ok := ver.Build[name]; ok {
			s.Build = nil
		}
		p.Services[name] = s
	}
	return p, ver, nil
}
