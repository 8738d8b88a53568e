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

// checkCompose loads the entry's compose files for every variant and checks
// the x-dockerbank extensions against the entry.
func checkCompose(ctx context.Context, e *Entry, dir string, where func(string) string) (*ComposeModel, Problems) {
	var ps Problems
	variants := append([]Variant{{}}, e.Variants...)
	var model *ComposeModel
	for _, variant := range variants {
		files := e.ComposeFilesOf(variant)
		docs := map[string]*yamlDoc{}
		for _, f := range files {
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
			if s.Image != "" && !HasTag(s.Image) {
				add(fmt.Sprintf("service %s: image %q has no tag", name, s.Image),
					"pin the image to a release tag such as :16.4 (never :latest)", "services", name, "image")
			}
			for _, v := range e.Versions {
				_, hasImage := v.Images[name]
				_, hasBuild := v.Build[name]
				if !hasImage && !hasBuild {
					ps = append(ps, Problem{File: where(EntryFile), Message: fmt.Sprintf("version %s names no image for service %s", v.Version, name),
						Fix: "add the service under versions[].images"})
				}
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
		for _, v := range e.Versions {
			for svc := range v.Images {
				if _, ok := m.Services[svc]; !ok && variant.Name == "" && !serviceInAnyVariant(ctx, e, dir, svc) {
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
		if variant.Name == "" {
			model = m
		}
	}
	return model, ps
}

func serviceInAnyVariant(ctx context.Context, e *Entry, dir, svc string) bool {
	for _, v := range e.Variants {
		p, err := LoadProject(ctx, LoadOptions{Dir: dir, Files: e.ComposeFilesOf(v), Name: e.ID, Env: e.ParamEnv(nil), Profiles: v.Profiles})
		if err == nil {
			if _, ok := p.Services[svc]; ok {
				return true
			}
		}
	}
	return false
}
