package audit

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
)

// Options tune an audit. The zero value audits with the embedded knowledge
// base, the current time and no suppressions.
type Options struct {
	// Now is the day end-of-life dates and suppression expiries are judged
	// against; zero means time.Now().
	Now time.Time
	// Suppressions hide matching findings (see LoadSuppressions).
	Suppressions []Suppression
	// Licences are rules added to the embedded licence knowledge base,
	// e.g. from the bank's entries.
	Licences []LicenceRule
	// MaxScanBytes is how many leading bytes of each file content rules
	// see; zero means 256 KiB.
	MaxScanBytes int
}

// Image audits the image src yields. An error means the image could not be
// analysed (exit code ExitError); findings are never errors.
func Image(ctx context.Context, src Source, opts Options) (*Report, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	w := newWalker(opts.MaxScanBytes, append(DefaultLicenceRules(), opts.Licences...))
	d, err := src.load(ctx, w)
	if err != nil {
		return nil, fmt.Errorf("audit image %s: %w", src, err)
	}
	r := analyse(d, opts.Now)
	r.Findings, r.Suppressed = applySuppressions(r.Findings, opts.Suppressions, opts.Now)
	sortFindings(r.Findings)
	sortFindings(r.Suppressed)
	return r, nil
}

// analyse turns what the walker saw into a report. It is pure.
func analyse(d *imageData, now time.Time) *Report {
	cfg := d.config
	info := ImageInfo{
		Ref: d.ref, ID: d.id, Digest: d.digest,
		Created: cfg.Created.Time, Author: cfg.Author, OS: cfg.OS, Architecture: cfg.Architecture,
		User: cfg.Config.User, Labels: redactLabels(cfg.Config.Labels),
	}
	a := &analysis{d: d, info: &info, now: now}
	a.history = layerHistory(d, cfg.History)
	for i, scan := range d.layers {
		li := LayerInfo{Index: i, Digest: d.layerRefs[i], Files: scan.files, Whiteouts: scan.whiteoutN, Bytes: scan.bytes}
		if h := a.history[i]; h != nil {
			li.CreatedBy, li.Created = h.CreatedBy, h.Created
		}
		info.Layers = append(info.Layers, li)
	}
	a.layerFindings()
	a.configFindings()
	a.provenance()
	return &Report{Image: info, Findings: a.findings}
}

// redactLabels copies labels with secret values redacted, for output.
func redactLabels(labels map[string]string) map[string]string {
	if labels == nil {
		return nil
	}
	out := make(map[string]string, len(labels))
	for k, v := range labels {
		_, red, _ := strings.Cut(redactLine(k+"="+v), "=")
		out[k] = red
	}
	return out
}

type analysis struct {
	d        *imageData
	info     *ImageInfo
	now      time.Time
	history  []*historyEntry
	findings []Finding
	engines  map[string]bool // "engine cycle" already judged
}

type historyEntry struct {
	CreatedBy string
	Created   time.Time
	index     int
}

// layerHistory pairs each layer with its history entry: the entries that
// are not empty_layer, in order. Missing entries stay nil.
func layerHistory(d *imageData, hist []v1History) []*historyEntry {
	out := make([]*historyEntry, len(d.layers))
	li := 0
	for hi, h := range hist {
		if h.EmptyLayer {
			continue
		}
		if li >= len(out) {
			break
		}
		out[li] = &historyEntry{CreatedBy: redactLine(h.CreatedBy), Created: h.Created.Time, index: hi}
		li++
	}
	return out
}

func (a *analysis) add(f Finding) {
	f.ImageDigest = a.info.digest()
	if f.Fix == "" {
		f.Fix = ruleFix(f.Rule)
	}
	if f.Layer >= 0 && f.Layer < len(a.d.layerRefs) {
		f.LayerDigest = a.d.layerRefs[f.Layer]
		if h := a.history[f.Layer]; h != nil && f.History == "" {
			f.History = h.CreatedBy
		}
	} else if f.Layer < 0 {
		f.Layer = -1
	}
	a.findings = append(a.findings, f)
}

// deletedIn returns the first layer after layer i that deletes p (a
// whiteout of p or of a directory above it, or an opaque directory above
// it), or -1.
func (a *analysis) deletedIn(i int, p string) int {
	for j := i + 1; j < len(a.d.layers); j++ {
		s := a.d.layers[j]
		if len(s.whiteouts) == 0 && len(s.opaque) == 0 {
			continue
		}
		for q := p; q != "." && q != "/" && q != ""; q = path.Dir(q) {
			if _, ok := s.whiteouts[q]; ok {
				return j
			}
			if q != p {
				if _, ok := s.opaque[q]; ok {
					return j
				}
			}
		}
		if _, ok := s.opaque[""]; ok {
			return j
		}
	}
	return -1
}

// layerFindings turns candidates into findings and facts into the
// findings they imply.
func (a *analysis) layerFindings() {
	pgBase := map[string]bool{}
	type located struct {
		layer int
		c     candidate
	}
	var pgVersions, mysql, engines []located
	var osRel *located
	pgMajors := map[string]located{}
	for i, scan := range a.d.layers {
		for _, c := range scan.candidates {
			switch c.fact {
			case factNone:
				msg := c.message
				if c.count > 1 {
					msg += fmt.Sprintf(" (and %d more files in this layer)", c.count-1)
				}
				a.add(Finding{Rule: c.rule, Severity: c.severity, Message: msg, Layer: i, Path: c.path,
					DeletedInLayer: a.deletedIn(i, c.path)})
			case factPGBase:
				pgBase[c.path] = true
			case factPGVersion:
				pgVersions = append(pgVersions, located{i, c})
			case factMySQLFile:
				mysql = append(mysql, located{i, c})
			case factOSRelease:
				if a.deletedIn(i, c.path) < 0 {
					osRel = &located{i, c}
				}
			case factPGMajor:
				if a.deletedIn(i, c.path) < 0 {
					pgMajors[c.value] = located{i, c}
				}
			case factEngine:
				engines = append(engines, located{i, c})
			}
		}
	}
	for _, v := range pgVersions {
		dir := path.Dir(v.c.path)
		if !pgBase[dir] {
			continue
		}
		a.add(Finding{Rule: RuleDatabaseFile, Severity: SeverityHigh, Layer: v.layer, Path: dir,
			Message:        fmt.Sprintf("PostgreSQL data directory (PG_VERSION %s, base/): a database cluster baked into the image", v.c.value),
			DeletedInLayer: a.deletedIn(v.layer, v.c.path)})
	}
	for _, m := range mysql {
		msg := fmt.Sprintf("MySQL/MariaDB data files (%s", m.c.value)
		if m.c.count > 1 {
			msg += fmt.Sprintf(" and %d more", m.c.count-1)
		}
		a.add(Finding{Rule: RuleDatabaseFile, Severity: SeverityHigh, Layer: m.layer, Path: m.c.path,
			Message: msg + "): a database baked into the image", DeletedInLayer: a.deletedIn(m.layer, path.Join(m.c.path, m.c.value))})
	}
	if osRel != nil {
		a.osCurrency(osRel.layer, osRel.c)
	}
	majors := make([]string, 0, len(pgMajors))
	for m := range pgMajors {
		majors = append(majors, m)
	}
	slices.Sort(majors)
	for _, m := range majors {
		l := pgMajors[m]
		a.engineCurrency("postgresql", "PostgreSQL", m, l.layer, l.c.path)
	}
	// The package database of the last layer that has one is the image's.
	last := -1
	for _, e := range engines {
		last = max(last, e.layer)
	}
	for _, e := range engines {
		if e.layer != last {
			continue
		}
		engine, cycle, _ := strings.Cut(e.c.value, " ")
		a.engineCurrency(engine, engineLabels[engine], cycle, e.layer, e.c.path)
	}
}

var engineLabels = map[string]string{
	"postgresql": "PostgreSQL", "mysql": "MySQL", "mariadb": "MariaDB", "mongodb": "MongoDB", "redis": "Redis",
}

func (a *analysis) osCurrency(layer int, c candidate) {
	rel := parseOSRelease(c.value)
	a.info.OSRelease = cmp.Or(rel.Pretty, strings.TrimSpace(rel.Name+" "+rel.VersionID))
	if rel.ID != "" {
		guess := rel.ID
		if rel.VersionID != "" {
			guess += ":" + rel.VersionID
		}
		if h := a.history[layer]; h != nil && h.CreatedBy != "" {
			guess += fmt.Sprintf(" (os-release from layer %d)", layer)
		}
		a.info.BaseGuess = guess
	}
	product, cycle := rel.cycle()
	if product == "" || cycle == "" {
		return
	}
	name := cmp.Or(rel.Pretty, rel.Name+" "+rel.VersionID)
	switch st, date := lookupEOL(product, cycle, a.now); st {
	case eolPast:
		a.add(Finding{Rule: RuleOSEOL, Severity: SeverityHigh, Layer: layer, Path: c.path, DeletedInLayer: -1,
			Message: fmt.Sprintf("%s reached end of life on %s: no more security updates", name, date)})
	case eolNear:
		a.add(Finding{Rule: RuleOSEOL, Severity: SeverityMedium, Layer: layer, Path: c.path, DeletedInLayer: -1,
			Message: fmt.Sprintf("%s reaches end of life on %s", name, date)})
	case eolUnknown:
		a.add(Finding{Rule: RuleOSEOL, Severity: SeverityInfo, Layer: layer, Path: c.path, DeletedInLayer: -1,
			Message: fmt.Sprintf("%s is not in the end-of-life table; check its support status", name)})
	}
}

// engineCurrency reports a database engine release past or near its end of
// life. layer is -1 when the version comes from the config (ENV).
func (a *analysis) engineCurrency(engine, label, cycle string, layer int, where string) {
	if a.engines == nil {
		a.engines = map[string]bool{}
	}
	if a.engines[engine+" "+cycle] {
		return
	}
	a.engines[engine+" "+cycle] = true
	f := Finding{Rule: RuleDatabaseEOL, Layer: layer, DeletedInLayer: -1}
	if layer >= 0 {
		f.Path = where
	} else {
		f.Message = " (from " + where + ")"
	}
	switch st, date := lookupEOL(engine, cycle, a.now); st {
	case eolPast:
		f.Severity = SeverityHigh
		f.Message = fmt.Sprintf("%s %s reached end of life on %s", label, cycle, date) + f.Message
	case eolNear:
		f.Severity = SeverityMedium
		f.Message = fmt.Sprintf("%s %s reaches end of life on %s", label, cycle, date) + f.Message
	default:
		return
	}
	a.add(f)
}

// sortFindings orders by severity (highest first), then layer, path, rule.
func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(x, y Finding) int {
		return cmp.Or(
			cmp.Compare(y.Severity, x.Severity),
			cmp.Compare(x.Layer, y.Layer),
			cmp.Compare(x.Path, y.Path),
			cmp.Compare(x.Rule, y.Rule),
			cmp.Compare(x.Message, y.Message),
		)
	})
}
