package bank

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"
)

// ErrNoEntry means no bank has an entry of that id.
var ErrNoEntry = errors.New("no such entry")

// Source is one place entries come from: a directory per entry under Root.
type Source struct {
	Name string // "embedded" or a directory path; used in messages
	FS   fs.FS
	Root string // directory of FS holding the entry directories
}

// Bank is every entry of its sources. An id found in several sources is
// taken from the first: a site's own banks come before the embedded one.
type Bank struct {
	entries map[string]*Entry
	files   map[string]location
	// Problems lists invalid entries that were left out.
	Problems Problems
}

type location struct {
	fsys fs.FS
	dir  string
}

// Open loads and validates the entries of every source.
func Open(ctx context.Context, sources ...Source) (*Bank, error) {
	b := &Bank{entries: map[string]*Entry{}, files: map[string]location{}}
	for _, src := range sources {
		dirs, err := fs.ReadDir(src.FS, src.Root)
		if err != nil {
			return nil, fmt.Errorf("read bank %s: %w", src.Name, err)
		}
		for _, d := range dirs {
			if !d.IsDir() || strings.HasPrefix(d.Name(), ".") {
				continue
			}
			dir := path.Join(src.Root, d.Name())
			if _, err := fs.Stat(src.FS, path.Join(dir, EntryFile)); err != nil {
				continue
			}
			e, err := Load(ctx, src.FS, dir, src.Name)
			var ps Problems
			if errors.As(err, &ps) {
				b.Problems = append(b.Problems, ps...)
				continue
			}
			if err != nil {
				return nil, err
			}
			if _, dup := b.entries[e.ID]; dup {
				continue
			}
			b.entries[e.ID] = e
			b.files[e.ID] = location{src.FS, dir}
		}
	}
	return b, nil
}

// List returns the entries sorted by id.
func (b *Bank) List() []*Entry {
	out := make([]*Entry, 0, len(b.entries))
	for _, id := range slices.Sorted(maps.Keys(b.entries)) {
		out = append(out, b.entries[id])
	}
	return out
}

// Get returns one entry.
func (b *Bank) Get(id string) (*Entry, error) {
	if e, ok := b.entries[id]; ok {
		return e, nil
	}
	return nil, fmt.Errorf("%w %q; `dockerbank bank list` shows the entries (%s)", ErrNoEntry, id, strings.Join(slices.Sorted(maps.Keys(b.entries)), ", "))
}

// Files returns the file system and directory of an entry, to copy it.
func (b *Bank) Files(id string) (fs.FS, string, error) {
	loc, ok := b.files[id]
	if !ok {
		return nil, "", fmt.Errorf("%w %q", ErrNoEntry, id)
	}
	return loc.fsys, loc.dir, nil
}

// Search returns the entries whose id, title, domain, description or
// licence contain every word of the query (case-insensitive), best first.
func (b *Bank) Search(query string) []*Entry {
	words := strings.Fields(strings.ToLower(query))
	type hit struct {
		e     *Entry
		score int
	}
	var hits []hit
	for _, e := range b.List() {
		score := 0
		ok := true
		for _, w := range words {
			s := 0
			switch {
			case strings.Contains(strings.ToLower(e.ID), w):
				s = 4
			case strings.Contains(strings.ToLower(e.Title), w):
				s = 3
			case strings.Contains(strings.ToLower(e.Domain), w):
				s = 2
			case strings.Contains(strings.ToLower(e.Description+" "+e.Licence+" "+e.Upstream), w):
				s = 1
			}
			if s == 0 {
				ok = false
				break
			}
			score += s
		}
		if ok {
			hits = append(hits, hit{e, score})
		}
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].score > hits[j].score })
	out := make([]*Entry, len(hits))
	for i, h := range hits {
		out[i] = h.e
	}
	return out
}
