package audit

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/dockerbank/dockerbank/internal/bank"
)

// ImageStore is what BankFacts needs of an engine.
type ImageStore interface {
	ImageSaver
	ImageExists(ctx context.Context, ref string) (bool, error)
	SaveImages(ctx context.Context, refs []string) (io.ReadCloser, error)
}

// BankFacts reads the facts of images for `bank lint` and `bank show`
// with the audit's layer reader: from a `docker save` archive first, then
// from an engine. It implements bank.FactSource and caches what it read.
type BankFacts struct {
	archive     map[string]*Facts
	archiveName string
	engine      ImageStore // nil: images are read from the archive only
	cache       map[string]*bank.ImageFacts
}

var _ bank.FactSource = (*BankFacts)(nil)

// NewBankFacts reads the images of archive (a `docker save` file; "" for
// none) and falls back to engine (nil for none).
func NewBankFacts(ctx context.Context, archive string, engine ImageStore) (*BankFacts, error) {
	s := &BankFacts{engine: engine, cache: map[string]*bank.ImageFacts{}}
	if archive != "" {
		facts, err := ReadArchiveFacts(ctx, archive)
		if err != nil {
			return nil, err
		}
		s.archive, s.archiveName = facts, archive
	}
	return s, nil
}

// ImageFacts returns the facts of ref, or nil when neither the archive nor
// the engine has the image.
func (s *BankFacts) ImageFacts(ctx context.Context, ref string) (*bank.ImageFacts, error) {
	if f, ok := s.cache[ref]; ok {
		return f, nil
	}
	var out *bank.ImageFacts
	if f, ok := s.archive[ref]; ok {
		out = bankFacts(ref, f, s.archiveName)
	} else if s.engine != nil {
		ok, err := s.engine.ImageExists(ctx, ref)
		if err != nil {
			return nil, err
		}
		if ok {
			f, err := ReadFacts(ctx, FromEngine(s.engine, ref))
			if err != nil {
				return nil, err
			}
			out = bankFacts(ref, f, "engine")
		}
	}
	s.cache[ref] = out
	return out, nil
}

// Prefetch reads the facts of every image of refs the engine has in one
// `docker save`, so that layers shared by several images (a common base)
// stream once.
func (s *BankFacts) Prefetch(ctx context.Context, refs []string) error {
	if s.engine == nil {
		return nil
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
	all, err := ReadSaveFacts(ctx, rc)
	if err != nil {
		return fmt.Errorf("read image facts of %s: %w", strings.Join(have, ", "), err)
	}
	for _, ref := range have {
		if f, ok := all[ref]; ok {
			s.cache[ref] = bankFacts(ref, f, "engine")
		}
	}
	return nil
}

func bankFacts(ref string, f *Facts, origin string) *bank.ImageFacts {
	out := &bank.ImageFacts{Image: ref, FromImage: true, Origin: origin, User: f.User, Path: f.Path,
		Volumes: f.Volumes, Passwd: f.Passwd, Group: f.Group, Files: make(map[string]bank.FileFact, len(f.Files))}
	for p, ff := range f.Files {
		out.Files[p] = bank.FileFact{Dir: ff.Dir, Link: ff.Link, Mode: ff.Mode, UID: ff.UID, GID: ff.GID, Shebang: ff.Shebang}
	}
	return out
}
