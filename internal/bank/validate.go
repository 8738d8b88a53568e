package bank

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dockerbank/dockerbank/internal/lint"
	"github.com/dockerbank/dockerbank/internal/schedule"
)

var (
	idRE    = regexp.MustCompile(`^[a-z][a-z0-9-]{1,40}$`)
	paramRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	spdxRE  = regexp.MustCompile(`^[A-Za-z0-9.+-]+( (AND|OR|WITH) [A-Za-z0-9.+-]+)*$`)
)

func validateEntry(e *Entry, doc *yamlDoc, file string) Problems {
	var ps Problems
	add := func(msg, fix string, keys ...string) {
		ps = append(ps, Problem{File: file, Line: doc.line(keys...), Message: msg, Fix: fix})
	}
	if e.APIVersion != APIVersion {
		add(fmt.Sprintf("apiVersion is %q", e.APIVersion), "set apiVersion: "+APIVersion, "apiVersion")
	}
	if !idRE.MatchString(e.ID) {
		add(fmt.Sprintf("id %q is not a short lower-case name", e.ID), "use lower-case letters, digits and '-', like orthanc or hapi-fhir", "id")
	}
	switch e.Kind {
	case "", KindApplication, KindInfrastructure:
	default:
		add(fmt.Sprintf("kind %q is unknown", e.Kind), "use kind: application (the default) or infrastructure", "kind")
	}
	for i, sh := range e.Shareable {
		at := []string{"shareable", strconv.Itoa(i)}
		if e.IsInfrastructure() {
			add("an infrastructure entry declares a shareable service", "remove shareable: infrastructure is what other instances use", at...)
		}
		if sh.Service == "" || sh.PasswordSecret == "" || sh.DatabaseEnv == "" || sh.UserEnv == "" {
			add("a shareable service lacks service, passwordSecret, databaseEnv or userEnv", "name the database service, its password secret and the variables naming database and user (docs/shared.md)", at...)
		}
		if sh.Engine != EnginePostgres && sh.Engine != EngineMariaDB {
			add(fmt.Sprintf("shareable service %s: engine %q cannot be shared", sh.Service, sh.Engine), "use engine: postgres or mariadb", append(at, "engine")...)
		}
	}
	if e.Title == "" {
		add("title is missing", "add a one-line title", "title")
	}
	if e.Licence == "" || !spdxRE.MatchString(e.Licence) {
		add(fmt.Sprintf("licence %q is not an SPDX expression", e.Licence), "use an SPDX identifier such as Apache-2.0 or GPL-3.0-or-later, or LicenseRef-<name>", "licence")
	}
	switch e.Distribution.Mode {
	case Redistributable, Unavailable:
	case BuildLocally:
		if e.Distribution.Source == "" {
			add("distribution build-locally does not say what source the user must supply", "set distribution.source", "distribution", "mode")
		}
		if c := e.Distribution.SourceCheck; c != "" && !slices.Contains(SourceChecks, c) {
			add(fmt.Sprintf("distribution.sourceCheck %q is unknown", c), "use one of "+strings.Join(SourceChecks, ", ")+" or leave it out", "distribution", "sourceCheck")
		}
	default:
		add(fmt.Sprintf("distribution.mode %q is unknown", e.Distribution.Mode), "use redistributable, build-locally or unavailable", "distribution", "mode")
	}
	if len(e.Versions) == 0 {
		add("no versions", "add at least one entry under versions with an image per service", "versions")
	}
	seen := map[string]bool{}
	for i, v := range e.Versions {
		at := []string{"versions", strconv.Itoa(i)}
		if v.Version == "" {
			add("a version has no version name", "set version: to the upstream release", at...)
		}
		if seen[v.Version] {
			add(fmt.Sprintf("version %q appears twice", v.Version), "remove the duplicate", at...)
		}
		seen[v.Version] = true
		for _, svc := range slices.Sorted(maps.Keys(v.Images)) {
			if !HasTag(v.Images[svc]) {
				add(fmt.Sprintf("version %s: image %q of service %s has no tag", v.Version, v.Images[svc], svc),
					"pin the image to a release tag such as :16.4 (never :latest)", append(at, "images", svc)...)
			}
		}
		for svc, d := range v.Digests {
			if !strings.HasPrefix(d, "sha256:") {
				add(fmt.Sprintf("version %s: digest of %s is not sha256:...", v.Version, svc), "write the digest as sha256:<64 hex>", append(at, "digests", svc)...)
			}
		}
	}
	if _, ok := e.Version(""); !ok {
		add(fmt.Sprintf("defaultVersion %q is not one of the versions %v", e.DefaultVersion, e.VersionNames()), "set defaultVersion to one of the versions", "defaultVersion")
	}
	for i, p := range e.Parameters {
		if !paramRE.MatchString(p.Name) {
			add(fmt.Sprintf("parameter name %q is not an upper-case variable name", p.Name), "use names like HTTP_PORT", "parameters", strconv.Itoa(i), "name")
		}
	}
	if e.Protect != nil {
		for _, pr := range e.Protect.Validate() {
			add(pr.Message, "write protect."+pr.Field+" as in docs/watch.md (Scheduler)", append([]string{"protect"}, strings.Split(pr.Field, ".")...)...)
		}
	}
	for i, r := range e.Curation.Images {
		if r.Image == "" || r.Source == "" {
			add("a curation.images record lacks its image or its source", "name the image and the upstream files (repository, path, commit or tag) the facts come from", "curation", "images", strconv.Itoa(i))
		}
	}
	for _, svc := range slices.Sorted(maps.Keys(e.Startup)) {
		if time.Duration(e.Startup[svc]) > 24*time.Hour {
			add(fmt.Sprintf("start-up budget of %s is over a day", svc), "write a duration such as 15m", "startup", svc)
		}
	}
	if e.Heal != "" {
		if _, err := schedule.ParseHealMode(e.Heal); err != nil {
			add(err.Error(), "write heal: off, restart or recreate (docs/watch.md, Self-healing)", "heal")
		}
	}
	if e.Curation.ReviewedBy == "" || e.Curation.ReviewedOn.IsZero() {
		add("curation record is incomplete", "set curation.reviewedBy and curation.reviewedOn (YYYY-MM-DD)", "curation")
	}
	return ps
}

// HasTag reports whether an image reference pins a tag other than latest, or
// a digest.
func HasTag(ref string) bool {
	if strings.Contains(ref, "@sha256:") {
		return true
	}
	name := ref[strings.LastIndex(ref, "/")+1:]
	i := strings.LastIndex(name, ":")
	return i > 0 && i < len(name)-1 && name[i+1:] != "latest" && !strings.Contains(name[i+1:], "$")
}

// composeSet is one list of compose files and the versions that use it:
// the entry's files, or a version's own (versions[].compose).
type composeSet struct {
	base     Version // a version of the set, for ComposeFilesOf
	versions []Version
}

// composeSets groups the versions by the compose files they use, in the
// order of entry.yaml.
func composeSets(e *Entry) []*composeSet {
	var sets []*composeSet
	byKey := map[string]*composeSet{}
	for _, v := range e.Versions {
		key := strings.Join(e.ComposeFilesOf(v, Variant{}), "\x00")
		s, ok := byKey[key]
		if !ok {
			s = &composeSet{base: v}
			byKey[key] = s
			sets = append(sets, s)
		}
		s.versions = append(s.versions, v)
	}
	if len(sets) == 0 { // no versions: still check the entry's files
		sets = append(sets, &composeSet{})
	}
	return sets
}

// checkCompose loads the compose files of every version and variant and
// checks the x-dockerbank extensions against the entry. The model returned
// is the default version's without a variant.
func checkCompose(ctx context.Context, e *Entry, entryDoc *yamlDoc, dir string, where func(string) string, opts LintOptions) (*ComposeModel, Problems) {
	var ps Problems
	factsOf := e.factLookup(ctx, opts, &ps, where)
	def, _ := e.Version("")
	var model *ComposeModel
	models := map[string]*ComposeModel{} // version -> model without variant
	for _, set := range composeSets(e) {
		m, sps := checkComposeSet(ctx, e, set, entryDoc, dir, where, factsOf)
		ps = append(ps, sps...)
		if m == nil {
			continue
		}
		for _, v := range set.versions {
			models[v.Version] = m
		}
		if model == nil || slices.ContainsFunc(set.versions, func(v Version) bool { return v.Version == def.Version }) {
			model = m
		}
	}
	if model != nil && models[def.Version] == model {
		ps = append(ps, checkSameVolumes(e, model, models, where)...)
	}
	ps = ps.unique()
	if len(ps) > 0 {
		return nil, ps
	}
	return model, ps
}

// checkSameVolumes holds every version to the volumes of the default one:
// an upgrade keeps the instance's volumes, and backups and restores across
// versions depend on their classes and backup methods.
func checkSameVolumes(e *Entry, model *ComposeModel, models map[string]*ComposeModel, where func(string) string) Problems {
	var ps Problems
	def, _ := e.Version("")
	describe := func(m *ComposeModel) string {
		var parts []string
		for _, name := range slices.Sorted(maps.Keys(m.Volumes)) {
			v := m.Volumes[name]
			parts = append(parts, fmt.Sprintf("%s(%s,%s)", name, v.Class, v.Backup))
		}
		return strings.Join(parts, " ")
	}
	want := describe(model)
	for _, v := range e.Versions {
		m, ok := models[v.Version]
		if !ok || m == model {
			continue
		}
		if got := describe(m); got != want {
			ps = append(ps, Problem{File: where(EntryFile),
				Message: fmt.Sprintf("version %s declares the volumes %s, but the default version %s declares %s", v.Version, got, def.Version, want),
				Fix:     "declare the same volumes with the same class and backup method in the compose files of every version: upgrades keep an instance's volumes"})
		}
	}
	return ps
}

// checkComposeSet checks one set of compose files with every variant.
func checkComposeSet(ctx context.Context, e *Entry, set *composeSet, entryDoc *yamlDoc, dir string, where func(string) string, factsOf func(version, svc, image string) *ImageFacts) (*ComposeModel, Problems) {
	var ps Problems
	variants := append([]Variant{{}}, e.Variants...)
	var model *ComposeModel
	for _, variant := range variants {
		files := e.ComposeFilesOf(set.base, variant)
		docs := map[string]*yamlDoc{}
		for _, f := range files {
			if !filepath.IsLocal(f) {
				ps = append(ps, Problem{File: where(EntryFile), Message: fmt.Sprintf("compose file %q is not a path inside the entry", f),
					Fix: "name compose files relative to the entry directory, without .."})
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				ps = append(ps, Problem{File: where(f), Message: "cannot read compose file", Fix: "add the file or fix the compose: list in entry.yaml"})
				continue
			}
			doc, err := parseYAMLDoc(data)
			if err != nil {
				ps = append(ps, Problem{File: where(f), Line: lineOf(err.Error()), Message: "YAML error: " + err.Error(), Fix: "correct the YAML syntax"})
				continue
			}
			docs[f] = doc
		}
		if len(docs) != len(files) {
			return nil, ps
		}
		env := e.ParamEnv(nil)
		p, err := LoadProject(ctx, LoadOptions{Dir: dir, Files: files, Name: e.ID, Env: env, Profiles: variant.Profiles})
		if err != nil {
			ps = append(ps, Problem{File: where(files[0]), Line: lineOf(err.Error()), Message: "compose: " + err.Error(), Fix: "make the file valid compose-spec"})
			return nil, ps
		}
		m, err := Model(p)
		if err != nil {
			ps = append(ps, Problem{File: where(files[0]), Message: err.Error()})
			return nil, ps
		}
		// locate finds the compose file (last wins, as overrides do) and line of a key.
		locate := func(keys ...string) (string, int) {
			for i := len(files) - 1; i >= 0; i-- {
				if l := docs[files[i]].line(keys...); l > 1 || len(files) == 1 {
					return where(files[i]), l
				}
			}
			return where(files[0]), 1
		}
		add := func(msg, fix string, keys ...string) {
			f, l := locate(keys...)
			ps = append(ps, Problem{File: f, Line: l, Message: msg, Fix: fix})
		}
		ps = append(ps, hostExposure(ctx, dir, files, env, variant.Profiles, where)...)
		for _, name := range slices.Sorted(maps.Keys(m.Services)) {
			s := m.Services[name]
			if !oneOf(s.Role, roles) {
				add(fmt.Sprintf("service %s has no valid x-dockerbank role (%q)", name, s.Role),
					"add x-dockerbank: {role: app|database|proxy|job} to the service", "services", name)
			}
			if s.Role == RoleDatabase && !oneOf(s.Engine, engines) {
				add(fmt.Sprintf("database service %s has no valid engine (%q)", name, s.Engine),
					"add engine: postgres|mariadb|mysql|mongo to its x-dockerbank", "services", name, Extension)
			}
			if s.Scale != nil {
				checkScale(name, s, m, add)
			}
			if s.Image != "" && !HasTag(s.Image) {
				add(fmt.Sprintf("service %s: image %q has no tag", name, s.Image),
					"pin the image to a release tag such as :16.4 (never :latest)", "services", name, "image")
			}
			for _, v := range set.versions {
				_, hasImage := v.Images[name]
				_, hasBuild := v.Build[name]
				if !hasImage && !hasBuild {
					ps = append(ps, Problem{File: where(EntryFile), Message: fmt.Sprintf("version %s names no image for service %s", v.Version, name),
						Fix: "add the service under versions[].images"})
				}
			}
		}
		for i, sh := range e.Shareable {
			if s, ok := m.Services[sh.Service]; !ok || s.Role != RoleDatabase || s.Engine != sh.Engine {
				ps = append(ps, Problem{File: where(EntryFile), Line: entryDoc.line("shareable", strconv.Itoa(i)),
					Message: fmt.Sprintf("shareable service %s is not a %s database service of the compose files", sh.Service, sh.Engine),
					Fix:     "name a service with x-dockerbank {role: database, engine: " + sh.Engine + "}"})
			}
			if _, ok := m.Secrets[sh.PasswordSecret]; !ok {
				ps = append(ps, Problem{File: where(EntryFile), Line: entryDoc.line("shareable", strconv.Itoa(i)),
					Message: fmt.Sprintf("shareable service %s: secret %s is not a generated secret of the compose files", sh.Service, sh.PasswordSecret),
					Fix:     "name the generated secret the application reads the database password from"})
			}
		}
		if e.IsInfrastructure() {
			n := 0
			for _, s := range m.Services {
				if s.Role == RoleDatabase && (s.Engine == EnginePostgres || s.Engine == EngineMariaDB) {
					n++
				}
			}
			if n != 1 {
				ps = append(ps, Problem{File: where(EntryFile), Line: entryDoc.line("kind"),
					Message: fmt.Sprintf("infrastructure entry %s has %d postgres or mariadb database services, not one", e.ID, n),
					Fix:     "an infrastructure entry runs exactly one database server (docs/shared.md)"})
			}
		}
		for _, name := range slices.Sorted(maps.Keys(m.Volumes)) {
			v := m.Volumes[name]
			at := []string{"volumes", name}
			if !oneOf(v.Class, classes) {
				add(fmt.Sprintf("volume %s has no valid x-dockerbank class (%q)", name, v.Class),
					"add x-dockerbank: {class: userdata|config|cache|temp} to the volume", at...)
				continue
			}
			if v.Class == ClassUserdata && (v.Backup == "" || v.Backup == BackupNone) {
				add(fmt.Sprintf("userdata volume %s has no backup method", name),
					"add backup: postgres-dump|mysql-dump|mongo-dump|files to its x-dockerbank", at...)
			} else if v.Backup != "" && !oneOf(v.Backup, backups) {
				add(fmt.Sprintf("volume %s: backup method %q is unknown", name, v.Backup),
					"use postgres-dump, mysql-dump, mongo-dump, files or none", append(at, Extension)...)
			}
			if v.Quiesce != "" && !oneOf(v.Quiesce, quiesces) {
				add(fmt.Sprintf("volume %s: quiesce mode %q is unknown", name, v.Quiesce),
					"use none, readonly, pause or stop", append(at, Extension)...)
			}
			if strings.HasSuffix(v.Backup, "-dump") {
				if _, ok := m.DatabaseFor(name); !ok {
					add(fmt.Sprintf("volume %s is backed up with %s but no database service mounts it", name, v.Backup),
						"mount it in the database service (role: database) or use backup: files", at...)
				}
			}
		}
		for _, v := range set.versions {
			for svc := range v.Images {
				if _, ok := m.Services[svc]; !ok && variant.Name == "" && !serviceInAnyVariant(ctx, e, set.base, dir, svc) {
					ps = append(ps, Problem{File: where(EntryFile), Message: fmt.Sprintf("version %s names an image for unknown service %s", v.Version, svc),
						Fix: "remove it or fix the service name"})
				}
			}
		}
		for _, c := range e.Checks.PostDeploy {
			if _, ok := m.Services[c.Service]; !ok && variant.Name == "" {
				ps = append(ps, Problem{File: where(EntryFile), Message: fmt.Sprintf("check %s runs in unknown service %s", c.Name, c.Service)})
			}
		}
		// Render every version as deploy does and apply the rules that
		// need the rendered project (and, where known, the image facts).
		addAny := func(msg, fix string, keys ...string) {
			if len(keys) > 0 && keys[0] == EntryFile {
				ps = append(ps, Problem{File: where(EntryFile), Line: entryDoc.line(keys[1:]...), Message: msg, Fix: fix})
				return
			}
			add(msg, fix, keys...)
		}
		for _, ver := range set.versions {
			vp, err := LoadProject(ctx, LoadOptions{Dir: dir, Files: files, Name: e.ID, Env: env, Profiles: variant.Profiles})
			if err != nil {
				continue
			}
			Render(vp, ver, m)
			checkRefusals(vp, add)
			checkProbes(e, vp, ver, addAny)
			checkFacts(e, vp, ver, func(svc, image string) *ImageFacts { return factsOf(ver.Version, svc, image) }, addAny)
		}
		if variant.Name == "" {
			model = m
		}
	}
	return model, ps.unique()
}

// LintOptions add what `bank lint` knows beyond the entry's files.
type LintOptions struct {
	// Facts reads images available here (an engine, a docker save
	// archive); images it lacks are checked against the curation record.
	Facts FactSource
}

// FactOrigin says where the image facts of one service of a version came
// from: "image" (read from it), "record" (curation.images) or "none".
type FactOrigin struct {
	Version string `json:"version"`
	Service string `json:"service"`
	Image   string `json:"image"`
	From    string `json:"from"`
	Origin  string `json:"origin,omitempty"`
}

// factLookup returns the facts of an image for a version's service,
// remembering in e.Facts where they came from.
func (e *Entry) factLookup(ctx context.Context, opts LintOptions, ps *Problems, where func(string) string) func(version, svc, image string) *ImageFacts {
	read := map[string]*ImageFacts{}
	seen := map[string]bool{}
	e.Facts = nil
	return func(version, svc, image string) *ImageFacts {
		f, done := read[image]
		if !done && opts.Facts != nil {
			var err error
			f, err = opts.Facts.ImageFacts(ctx, image)
			if err != nil {
				*ps = append(*ps, Problem{File: where(EntryFile), Message: fmt.Sprintf("cannot read the facts of image %s: %v", image, err),
					Fix: "check the image or archive, or lint without it to use the curation record"})
				f = nil
			}
		}
		if f == nil {
			if r, ok := e.Record(image); ok {
				f = RecordedFacts(r)
			}
		}
		read[image] = f
		key := version + "\x00" + svc
		if !seen[key] {
			seen[key] = true
			o := FactOrigin{Version: version, Service: svc, Image: image, From: "none"}
			if f != nil {
				o.From, o.Origin = "record", f.Origin
				if f.FromImage {
					o.From = "image"
				}
			}
			e.Facts = append(e.Facts, o)
		}
		return f
	}
}

// hostExposure runs the host-exposure rules of `dockerbank lint` (the same
// code) on an entry's compose files: a high finding (privileged, the host's
// root or engine socket mounted, host namespaces, ...) is a problem of the
// entry.
func hostExposure(ctx context.Context, dir string, files []string, envList []string, profiles []string, where func(string) string) Problems {
	env := map[string]string{}
	for _, kv := range envList {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	abs := make([]string, len(files))
	for i, f := range files {
		abs[i] = filepath.Join(dir, f)
	}
	rep, err := lint.CheckRules(ctx, lint.Options{Files: abs, ProjectDir: dir, Environment: env, Profiles: profiles}, lint.HostExposureRules)
	if err != nil {
		// The compose load above reports what is wrong with the files.
		return nil
	}
	var ps Problems
	for _, f := range rep.Findings {
		if f.Severity < lint.SeverityHigh {
			continue
		}
		file := f.File
		if filepath.IsAbs(file) {
			file, _ = filepath.Rel(dir, file)
		}
		ps = append(ps, Problem{File: where(filepath.ToSlash(file)), Line: f.Line,
			Message: fmt.Sprintf("service %s %s (%s, as `dockerbank lint` reports)", f.Service, f.Message, f.Rule), Fix: f.Fix})
	}
	return ps
}

func serviceInAnyVariant(ctx context.Context, e *Entry, ver Version, dir, svc string) bool {
	for _, v := range e.Variants {
		p, err := LoadProject(ctx, LoadOptions{Dir: dir, Files: e.ComposeFilesOf(ver, v), Name: e.ID, Env: e.ParamEnv(nil), Profiles: v.Profiles})
		if err == nil {
			if _, ok := p.Services[svc]; ok {
				return true
			}
		}
	}
	return false
}

// checkScale reports what makes a service's scale marking unusable: a
// maximum out of range, a role other than app, a single-writer volume it
// mounts.
func checkScale(name string, s ServiceMeta, m *ComposeModel, add func(msg, fix string, keys ...string)) {
	at := []string{"services", name, Extension, "scale"}
	if s.Scale.Max < 2 || s.Scale.Max > MaxScale {
		add(fmt.Sprintf("service %s: scale.max %d is out of range", name, s.Scale.Max),
			fmt.Sprintf("set scale.max between 2 and %d, or remove scale (one replica)", MaxScale), at...)
	}
	if s.Role != RoleApp {
		add(fmt.Sprintf("service %s: only app services can be scaled (role %q)", name, s.Role),
			"remove scale from the service", at...)
	}
	for _, vname := range slices.Sorted(maps.Keys(m.Volumes)) {
		v := m.Volumes[vname]
		if _, mounted := v.Mounts[name]; !mounted {
			continue
		}
		if why := v.SingleWriterReason(); why != "" {
			add(fmt.Sprintf("service %s is marked scalable but mounts volume %s, which admits one writer only (%s)", name, vname, why),
				"remove scale from the service, or singleWriter from the volume if the application shares it safely", at...)
		}
	}
}
