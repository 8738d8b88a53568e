package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/dockerbank/dockerbank/internal/audit"
	"github.com/dockerbank/dockerbank/internal/bank"
)

// imageStore is what the image facts need of an engine.
type imageStore interface {
	ImageExists(ctx context.Context, ref string) (bool, error)
	SaveImage(ctx context.Context, ref string) (io.ReadCloser, error)
	SaveImages(ctx context.Context, refs []string) (io.ReadCloser, error)
}

// imageFacts reads the facts of images for `bank lint` and `bank show`:
// from a docker save archive first, then from the engine, with the image
// audit's layer reader. It implements bank.FactSource.
type imageFacts struct {
	archive     map[string]*audit.Facts
	archiveName string
	engine      imageStore // nil: no engine answered
	cache       map[string]*bank.ImageFacts
}

var _ bank.FactSource = (*imageFacts)(nil)

// ImageFacts returns the facts of ref, or nil when neither the archive nor
// the engine has the image.
func (s *imageFacts) ImageFacts(ctx context.Context, ref string) (*bank.ImageFacts, error) {
	if f, ok := s.cache[ref]; ok {
		return f, nil
	}
	if s.cache == nil {
		s.cache = map[string]*bank.ImageFacts{}
	}
	var out *bank.ImageFacts
	if f, ok := s.archive[ref]; ok {
		out = convertFacts(ref, f, s.archiveName)
	} else if s.engine != nil {
		ok, err := s.engine.ImageExists(ctx, ref)
		if err != nil {
			return nil, err
		}
		if ok {
			f, err := audit.ReadFacts(ctx, audit.FromEngine(s.engine, ref))
			if err != nil {
				return nil, err
			}
			out = convertFacts(ref, f, "engine")
		}
	}
	s.cache[ref] = out
	return out, nil
}

// prefetch reads the facts of every image of refs the engine has in one
// `docker save`, so that layers shared by several images (a common base)
// stream once.
func (s *imageFacts) prefetch(ctx context.Context, refs []string) error {
	if s.engine == nil {
		return nil
	}
	if s.cache == nil {
		s.cache = map[string]*bank.ImageFacts{}
	}
	var have []string
	for _, ref := range refs {
		if _, done := s.cache[ref]; done || s.archive[ref] != nil || slices.Contains(have, ref) {
			continue
		}
		ok, err := s.engine.ImageExists(ctx, ref)
		if err != nil {
			return err
		}
		if ok {
			have = append(have, ref)
		}
	}
	if len(have) == 0 {
		return nil
	}
	rc, err := s.engine.SaveImages(ctx, have)
	if err != nil {
		return err
	}
	defer rc.Close()
	all, err := audit.ReadSaveFacts(ctx, rc)
	if err != nil {
		return fmt.Errorf("read image facts of %s: %w", strings.Join(have, ", "), err)
	}
	for _, ref := range have {
		if f, ok := all[ref]; ok {
			s.cache[ref] = convertFacts(ref, f, "engine")
		}
	}
	return nil
}

// entryImages lists the images the versions of the entries in dirs name,
// read from their entry.yaml files (no validation: lint does that).
func entryImages(dirs []string) []string {
	var refs []string
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, bank.EntryFile))
		if err != nil {
			continue
		}
		var e struct {
			Versions []struct {
				Images map[string]string `yaml:"images"`
			} `yaml:"versions"`
		}
		if yaml.Unmarshal(data, &e) != nil {
			continue
		}
		for _, v := range e.Versions {
			for _, ref := range v.Images {
				if !slices.Contains(refs, ref) {
					refs = append(refs, ref)
				}
			}
		}
	}
	slices.Sort(refs)
	return refs
}

func convertFacts(ref string, f *audit.Facts, origin string) *bank.ImageFacts {
	out := &bank.ImageFacts{Image: ref, FromImage: true, Origin: origin, User: f.User, Path: f.Path,
		Volumes: f.Volumes, Passwd: f.Passwd, Group: f.Group, Files: make(map[string]bank.FileFact, len(f.Files))}
	for p, ff := range f.Files {
		out.Files[p] = bank.FileFact{Dir: ff.Dir, Link: ff.Link, Mode: ff.Mode, UID: ff.UID, GID: ff.GID, Shebang: ff.Shebang}
	}
	return out
}

// factSource opens what `bank lint` and `bank show` read images from: the
// archive when given, and the engine unless noEngine or none answers.
func (a *app) factSource(ctx context.Context, archive string, noEngine bool) (*imageFacts, error) {
	s := &imageFacts{}
	if archive != "" {
		facts, err := audit.ReadArchiveFacts(ctx, archive)
		if err != nil {
			return nil, usageError{fmt.Errorf("--image-archive: %w", err)}
		}
		s.archive, s.archiveName = facts, archive
	}
	if !noEngine {
		e, err := a.openEngine(ctx)
		if err == nil {
			if _, err = e.ImageExists(ctx, "dockerbank-probe/none:0"); err == nil {
				s.engine = e
			}
		}
		if s.engine == nil {
			fmt.Fprintf(a.streams.Err, "note: no container engine answered (%v); images are checked against their curation records only\n", err)
		}
	}
	return s, nil
}
