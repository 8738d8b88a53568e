package kube

import (
	"context"
	"fmt"
	"io/fs"
	"os"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/dockerbank/dockerbank/internal/bank"
)

// EntryProject loads the compose project of an entry version as a deploy
// renders it: parameters at their defaults (or set), images pinned to the
// version, services built locally by dockerbank without their build. The
// entry's files (fsys, dir) are copied into workDir, which the caller
// removes after Convert (bind-mounted files are read from it).
func EntryProject(ctx context.Context, fsys fs.FS, dir, workDir string, e *bank.Entry, version, variant string, set map[string]string) (*types.Project, bank.Version, error) {
	r, err := e.Resolve(version, variant, set)
	if err != nil {
		return nil, bank.Version{}, err
	}
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		return nil, bank.Version{}, fmt.Errorf("read entry %s: %w", e.ID, err)
	}
	if err := os.CopyFS(workDir, sub); err != nil {
		return nil, bank.Version{}, fmt.Errorf("copy entry %s: %w", e.ID, err)
	}
	p, err := bank.LoadProject(ctx, bank.LoadOptions{Dir: workDir, Files: r.ComposeFiles(), Name: e.ID,
		Env: r.Env(), Profiles: r.Variant.Profiles})
	if err != nil {
		return nil, bank.Version{}, fmt.Errorf("load entry %s: %w", e.ID, err)
	}
	bank.PinImages(p, r.Version)
	return p, r.Version, nil
}
