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
	"sync"

	"gopkg.in/yaml.v3"
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
//
// Open reads only each entry's id; an entry is loaded and validated (its
// compose files rendered, which takes tens of milliseconds each) the first
// time it is asked for, so that a command about one instance does not
// validate the whole bank. List and Search load every entry.
type Bank struct {
	mu      sync.Mutex
	entries map[string]*Entry // loaded and valid
	files   map[string]location
	// Problems lists invalid entries that were left out, as far as they
	// have been loaded (after List or Search: all of them).
	Problems Problems
}

type location struct {
	fsys   fs.FS
	dir    string
	source string
	err    error // loaded and invalid: why (its problems are in Problems)
}

// Open finds the entries of every source.
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
			data, err := fs.ReadFile(src.FS, path.Join(dir, EntryFile))
			if err != nil {
				continue
			}
			var head struct {
				ID string `yaml:"id"`
			}
			if yaml.Unmarshal(data, &head) != nil || head.ID == "" {
				// Not even an id: load it now for its problems.
				if _, err := b.load(ctx, location{fsys: src.FS, dir: dir, source: src.Name}); err != nil && !isProblems(err) {
					return nil, err
				}
				continue
			}
			if _, dup := b.files[head.ID]; dup {
				continue
			}
			b.files[head.ID] = location{fsys: src.FS, dir: dir, source: src.Name}
		}
	}
	return b, nil
}

func isProblems(err error) bool {
	var ps Problems
	return errors.As(err, &ps)
}

// load loads and validates the entry at loc; an invalid one adds its
// problems to b.Problems and returns them.
func (b *Bank) load(ctx context.Context, loc location) (*Entry, error) {
	e, err := Load(ctx, loc.fsys, loc.dir, loc.source)
	var ps Problems
	if errors.As(err, &ps) {
		b.Problems = append(b.Problems, ps...)
	}
	return e, err
}

// entry returns the loaded entry of id, loading it on first use; nil
// (with the error) for an id no source has or an invalid entry.
func (b *Bank) entry(ctx context.Context, id string) (*Entry, error) {
	if e, ok := b.entries[id]; ok {
		return e, nil
	}
	loc, ok := b.files[id]
	if !ok {
		return nil, nil
	}
	if loc.err != nil {
		return nil, loc.err
	}
	e, err := b.load(ctx, loc)
	if err == nil && e.ID != id {
		// entry.yaml's id read alone and decoded whole disagree.
		err = fmt.Errorf("its id is read as both %q and %q; fix %s", id, e.ID, path.Join(loc.dir, EntryFile))
	}
	if err != nil {
		loc.err = fmt.Errorf("entry %s in %s is invalid: %w", id, loc.source, err)
		b.files[id] = loc
		return nil, loc.err
	}
	b.entries[id] = e
	return e, nil
}

// List returns the valid entries sorted by id (loading every entry).
func (b *Bank) List() []*Entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*Entry, 0, len(b.files))
	for _, id := range slices.Sorted(maps.Keys(b.files)) {
		if e, _ := b.entry(context.Background(), id); e != nil {
			out = append(out, e)
		}
	}
	return out
}

// Get returns one entry, loading it on first use.
func (b *Bank) Get(id string) (*Entry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, err := b.entry(context.Background(), id)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, fmt.Errorf("%w %q; `dockerbank bank list` shows the entries (%s)", ErrNoEntry, id, strings.Join(slices.Sorted(maps.Keys(b.files)), ", "))
	}
	return e, nil
}

// Files returns the file system and directory of an entry, to copy it.
func (b *Bank) Files(id string) (fs.FS, string, error) {
	b.mu.Lock()
	loc, ok := b.files[id]
	b.mu.Unlock()
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
