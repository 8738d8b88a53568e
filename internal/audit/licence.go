package audit

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed licences.yaml
var embeddedLicences []byte

// LicenceRule recognises a product that may not be redistributed. A file in
// a layer matches when a directory in its path matches one of Dirs, its name
// matches one of Files, its whole path matches one of Paths (where "**"
// spans directories), or it is a text file named like Content.Files that
// contains every string of Content.All.
type LicenceRule struct {
	ID      string         `yaml:"id"`
	Product string         `yaml:"product"`
	Reason  string         `yaml:"reason"`
	Dirs    []string       `yaml:"dirs,omitempty"`
	Files   []string       `yaml:"files,omitempty"`
	Paths   []string       `yaml:"paths,omitempty"`
	Content LicenceContent `yaml:"content,omitempty"`
}

// LicenceContent matches file content.
type LicenceContent struct {
	Files string   `yaml:"files,omitempty"`
	All   []string `yaml:"all,omitempty"`
}

type licenceFile struct {
	Version int           `yaml:"version"`
	Rules   []LicenceRule `yaml:"rules"`
}

// DefaultLicenceRules returns the embedded knowledge base.
func DefaultLicenceRules() []LicenceRule {
	rules, err := ParseLicenceRules(bytes.NewReader(embeddedLicences))
	if err != nil {
		panic(fmt.Sprintf("embedded licences.yaml: %v", err)) // a build defect, caught by tests
	}
	return rules
}

// ParseLicenceRules reads rules in the format of the embedded
// licences.yaml, so a bank can add its own.
func ParseLicenceRules(r io.Reader) ([]LicenceRule, error) {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	var f licenceFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode licence rules: %w", err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("decode licence rules: version %d, want 1", f.Version)
	}
	var errs []error
	for i, r := range f.Rules {
		if r.ID == "" || r.Product == "" {
			errs = append(errs, fmt.Errorf("rule %d: id and product are required", i+1))
		}
		if len(r.Dirs)+len(r.Files)+len(r.Paths) == 0 && len(r.Content.All) == 0 {
			errs = append(errs, fmt.Errorf("rule %s: needs dirs, files, paths or content", r.ID))
		}
		for _, g := range append(append(append([]string{}, r.Dirs...), r.Files...), r.Content.Files) {
			if _, err := path.Match(g, ""); err != nil {
				errs = append(errs, fmt.Errorf("rule %s: pattern %q: %w", r.ID, g, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("validate licence rules: %w", err)
	}
	return f.Rules, nil
}

// literalPrefix is the part of a glob before its first wildcard: a cheap
// filter before matching.
func literalPrefix(g string) string {
	if i := strings.IndexAny(g, "*?[\\"); i >= 0 {
		return g[:i]
	}
	return g
}

// checkLicencePath matches a path (directories end in "/") against the
// path-based licence rules.
func (w *walker) checkLicencePath(scan *layerScan, p string) {
	isDir := strings.HasSuffix(p, "/")
	p = strings.TrimSuffix(p, "/")
	base := path.Base(p)
	for _, r := range w.licences {
		if !licencePathMatch(r, p, base, isDir) {
			continue
		}
		scan.addOnce("lic\x00"+r.ID, candidate{rule: RuleProduct, severity: SeverityHigh, path: p,
			message: fmt.Sprintf("%s found: %s", r.Product, strings.TrimSpace(r.Reason))})
	}
}

func licencePathMatch(r LicenceRule, p, base string, isDir bool) bool {
	for _, g := range r.Dirs {
		if !strings.Contains(p, literalPrefix(g)) {
			continue
		}
		segs := strings.Split(p, "/")
		if !isDir {
			segs = segs[:len(segs)-1]
		}
		for _, s := range segs {
			if ok, _ := path.Match(g, s); ok {
				return true
			}
		}
	}
	if !isDir {
		for _, g := range r.Files {
			if ok, _ := path.Match(g, base); ok {
				return true
			}
		}
	}
	for _, g := range r.Paths {
		if strings.HasPrefix(p, literalPrefix(g)) && matchGlob(g, p) {
			return true
		}
	}
	return false
}

func (w *walker) checkLicenceContent(scan *layerScan, p string, text []byte) {
	base := path.Base(p)
	for _, r := range w.licences {
		if len(r.Content.All) == 0 {
			continue
		}
		if ok, _ := path.Match(r.Content.Files, base); r.Content.Files != "" && !ok {
			continue
		}
		all := true
		for _, s := range r.Content.All {
			if !bytes.Contains(text, []byte(s)) {
				all = false
				break
			}
		}
		if all {
			scan.addOnce("lic\x00"+r.ID, candidate{rule: RuleProduct, severity: SeverityHigh, path: p,
				message: fmt.Sprintf("%s found: %s", r.Product, strings.TrimSpace(r.Reason))})
		}
	}
}

// matchGlob matches a slash-separated path against a glob whose "**"
// segments match any number of segments.
func matchGlob(pattern, p string) bool {
	return matchSegs(strings.Split(pattern, "/"), strings.Split(p, "/"))
}

func matchSegs(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			if len(pat) == 1 {
				return true
			}
			for i := 0; i <= len(segs); i++ {
				if matchSegs(pat[1:], segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], segs[0]); !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}
