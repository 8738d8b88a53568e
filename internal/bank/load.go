package bank

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"

	"gopkg.in/yaml.v3"
)

// EntryFile is the metadata file of every entry.
const EntryFile = "entry.yaml"

// Load reads and validates the entry in directory dir of fsys. source names
// where fsys comes from (a directory path, or "embedded:") and prefixes the
// file names of problems. A failed validation returns Problems.
func Load(ctx context.Context, fsys fs.FS, dir, source string) (*Entry, error) {
	return Lint(ctx, fsys, dir, source, LintOptions{})
}

// Lint is Load with what `bank lint` knows beyond the entry's files: the
// facts of images available here.
func Lint(ctx context.Context, fsys fs.FS, dir, source string, opts LintOptions) (*Entry, error) {
	where := func(name string) string { return path.Join(source, dir, name) }
	data, err := fs.ReadFile(fsys, path.Join(dir, EntryFile))
	if err != nil {
		return nil, Problems{{File: where(EntryFile), Message: "cannot read entry file: " + err.Error(),
			Fix: "every entry directory needs an entry.yaml"}}
	}
	e, doc, probs := decodeEntry(data, where(EntryFile))
	if e == nil {
		return nil, probs
	}
	e.Source = path.Join(source, dir)
	probs = append(probs, validateEntry(e, doc, where(EntryFile))...)

	tmp, err := os.MkdirTemp("", "dockerbank-entry-")
	if err != nil {
		return nil, fmt.Errorf("load entry %s: %w", dir, err)
	}
	defer os.RemoveAll(tmp)
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("load entry %s: %w", dir, err)
	}
	if err := os.CopyFS(tmp, sub); err != nil {
		return nil, fmt.Errorf("copy entry %s: %w", dir, err)
	}
	model, cprobs := checkCompose(ctx, e, doc, tmp, where, opts)
	probs = append(probs, cprobs...)
	if model != nil {
		probs = append(probs, validateFingerprint(e, model, doc, where(EntryFile))...)
	}
	if len(probs) > 0 {
		return nil, probs.sorted()
	}
	e.Model = model
	return e, nil
}

func decodeEntry(data []byte, file string) (*Entry, *yamlDoc, Problems) {
	doc, err := parseYAMLDoc(data)
	if err != nil {
		return nil, nil, Problems{{File: file, Line: lineOf(err.Error()), Message: "YAML error: " + err.Error(),
			Fix: "correct the YAML syntax (indentation, quotes, colons)"}}
	}
	var e Entry
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&e); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, nil, Problems{{File: file, Line: lineOf(err.Error()), Message: err.Error()}}
		}
		var probs Problems
		for _, msg := range te.Errors {
			probs = append(probs, Problem{File: file, Line: lineOf(msg), Message: lineRE.ReplaceAllString(msg, "")[2:],
				Fix: "remove or rename the key; see docs/bank-format.md for the keys an entry may have"})
		}
		return &e, doc, probs
	}
	return &e, doc, nil
}

// ComposeFilesOf lists the compose files of one version of the entry with a
// variant: the version's own files (versions[].compose) or else the entry's
// (compose, default compose.yaml), then the variant's.
func (e *Entry) ComposeFilesOf(ver Version, v Variant) []string {
	files := ver.Compose
	if len(files) == 0 {
		files = e.Compose
	}
	if len(files) == 0 {
		files = []string{"compose.yaml"}
	}
	return append(append([]string{}, files...), v.Compose...)
}

// ComposeFiles lists the compose files of a version (empty: the default
// one) and a variant of the entry.
func (e *Entry) ComposeFiles(version, variant string) ([]string, error) {
	r, err := e.Resolve(version, variant, nil)
	if err != nil {
		return nil, err
	}
	return r.ComposeFiles(), nil
}

func (e *Entry) variantNames() []string {
	var names []string
	for _, v := range e.Variants {
		names = append(names, v.Name)
	}
	return names
}

// ParamEnv returns the interpolation variables: defaults overridden by set.
func (e *Entry) ParamEnv(set map[string]string) []string {
	var env []string
	for _, p := range e.Parameters {
		v := p.Default
		if s, ok := set[p.Name]; ok {
			v = s
		}
		env = append(env, p.Name+"="+v)
	}
	return env
}

// LoadDir loads the entry in a directory on disk.
func LoadDir(ctx context.Context, dir string) (*Entry, error) {
	return LintDir(ctx, dir, LintOptions{})
}

// LintDir lints the entry in a directory on disk.
func LintDir(ctx context.Context, dir string, opts LintOptions) (*Entry, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	return Lint(ctx, os.DirFS(filepath.Dir(abs)), filepath.Base(abs), filepath.Dir(dir), opts)
}

// ImagesOf lists the images the versions of the entries in dirs name, read
// from their entry.yaml files without validating them (lint does that):
// what `bank lint` reads facts of in one go.
func ImagesOf(dirs []string) []string {
	var refs []string
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, EntryFile))
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
