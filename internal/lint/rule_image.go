package lint

import (
	"fmt"
	"regexp"
	"strings"
)

// varRE matches $VAR, ${VAR} and ${VAR<op>default} where op is :-, -, :?, ?, :+, +.
var varRE = regexp.MustCompile(`\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\})`)

type varRef struct {
	name, op, def string
}

// varRefs lists the variable references in a raw string, skipping $$ escapes.
func varRefs(s string) []varRef {
	s = strings.ReplaceAll(s, "$$", "")
	var out []varRef
	for _, m := range varRE.FindAllStringSubmatch(s, -1) {
		r := varRef{name: m[1], op: m[3], def: m[4]}
		if r.name == "" {
			r.name = m[2]
		}
		out = append(out, r)
	}
	return out
}

var floatingTags = map[string]bool{
	"latest": true, "nightly": true, "dev": true, "develop": true, "development": true, "edge": true,
	"master": true, "main": true, "stable": true, "alpine": true, "slim": true, "lts": true, "current": true,
	"snapshot": true, "beta": true, "alpha": true, "rc": true, "release": true, "mainline": true, "next": true,
	"unstable": true, "testing": true, "canary": true,
}

var majorOnlyRE = regexp.MustCompile(`^v?\d+(-[A-Za-z][A-Za-z0-9.]*)?$`)

func isFloatingTag(tag string) bool {
	t := strings.ToLower(tag)
	if floatingTags[t] {
		return true
	}
	for _, suf := range []string{"-latest", "-nightly", "-snapshot", "-master", "-main", "-dev", "-edge", "-alpha", "-beta"} {
		if strings.HasSuffix(t, suf) {
			return true
		}
	}
	return strings.HasPrefix(t, "latest-") || strings.HasPrefix(t, "nightly-")
}

func checkImagePin(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		if s.Build != nil {
			continue // the image names what is built here
		}
		raw, ok := p.rawString(s.Name, "image")
		if !ok {
			raw = s.Image
		}
		pos := p.locate(s.Name, "image")
		unresolved := false
		for _, r := range varRefs(raw) {
			if _, set := p.env[r.name]; set {
				continue
			}
			if r.op == "" || r.op == "+" || r.op == ":+" {
				unresolved = true
				out = append(out, Finding{Service: s.Name, Severity: SeverityHigh, Position: pos,
					Message: fmt.Sprintf("image %q depends on ${%s}, which has no default and is not set: compose pulls %q", raw, r.name, p.interpolate(raw)),
					Fix:     fmt.Sprintf("set %s in .env to an exact version, or give a pinned default: ${%s:-1.2.3}", r.name, r.name)})
			}
		}
		if unresolved || s.Image == "" {
			continue
		}
		repo, tag, digest := imageRef(s.Image)
		pin := fmt.Sprintf("pin an exact version, ideally with its digest: image: %s:<version>@sha256:<digest>", repo)
		via := ""
		if raw != s.Image {
			via = fmt.Sprintf(" (from %q)", raw)
		}
		switch {
		case digest != "":
		case tag == "":
			out = append(out, Finding{Service: s.Name, Severity: SeverityHigh, Position: pos,
				Message: fmt.Sprintf("image %s%s has no tag, so it pulls whatever latest is on the day of the pull", repo, via),
				Fix:     pin})
		case tag == "latest":
			out = append(out, Finding{Service: s.Name, Severity: SeverityHigh, Position: pos,
				Message: fmt.Sprintf("image %s%s uses the latest tag: each pull may bring another version", s.Image, via),
				Fix:     pin})
		case isFloatingTag(tag):
			out = append(out, Finding{Service: s.Name, Severity: SeverityMedium, Position: pos,
				Message: fmt.Sprintf("image %s%s uses the floating tag %q, which moves with every release", s.Image, via, tag),
				Fix:     pin})
		case majorOnlyRE.MatchString(tag):
			out = append(out, Finding{Service: s.Name, Severity: SeverityInfo, Position: pos,
				Message: fmt.Sprintf("image %s%s pins only a major version: minor updates arrive with the next pull, and no digest fixes the bytes", s.Image, via),
				Fix:     pin})
		default:
			out = append(out, Finding{Service: s.Name, Severity: SeverityInfo, Position: pos,
				Message: fmt.Sprintf("image %s%s is pinned by tag but not by digest: a re-pushed tag changes what runs", s.Image, via),
				Fix:     "add the digest: image: " + s.Image + "@sha256:..."})
		}
	}
	return out
}

func checkContainerName(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		if s.ContainerName == "" {
			continue
		}
		out = append(out, Finding{Service: s.Name, Position: p.locate(s.Name, "container_name"),
			Message: fmt.Sprintf("fixed container_name %q: a second instance of this project on the host fails with a name conflict, and the service cannot scale", s.ContainerName)})
	}
	return out
}

var supervisors = []string{"supervisord", "supervisorctl", "s6-svscan", "s6-overlay", "s6-rc", "runsvdir", "runit", "my_init", "/sbin/init", "systemd", "tini -s --"}

func checkMultiProcess(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		found := func(key, text string) bool {
			lt := strings.ToLower(text)
			for _, w := range supervisors {
				if strings.Contains(lt, w) && w != "tini -s --" {
					out = append(out, Finding{Service: s.Name, Position: p.locate(s.Name, key),
						Message: fmt.Sprintf("%s starts a process supervisor (%s): several processes share the container, compose cannot restart or health-check them one by one, and their logs mix", key, w)})
					return true
				}
			}
			return false
		}
		if found("entrypoint", strings.Join(s.Entrypoint, " ")) || found("command", strings.Join(s.Command, " ")) {
			continue
		}
		repo, _, _ := imageRef(s.Image)
		lr := strings.ToLower(repo)
		for _, w := range []string{"supervisor", "baseimage", "s6-overlay"} {
			if strings.Contains(lr, w) {
				out = append(out, Finding{Service: s.Name, Position: p.locate(s.Name, "image"),
					Message: fmt.Sprintf("image %s suggests a process supervisor (%s): several processes in one container", s.Image, w)})
				break
			}
		}
	}
	return out
}

var upgradeFix = map[string]string{
	"postgres":      "upgrade to a supported major version: dump with the new pg_dump and restore, or pg_upgrade; keep the old volume until the new one is verified",
	"mysql":         "upgrade to a supported version (8.4 LTS): dump and restore, or an in-place upgrade after a backup",
	"mariadb":       "upgrade to a supported LTS (10.11 or 11.4): take a dump first; the image runs mariadb-upgrade with MARIADB_AUTO_UPGRADE=1",
	"mongo":         "upgrade one major version at a time (featureCompatibilityVersion), after a mongodump",
	"elasticsearch": "upgrade through the supported path and reindex; snapshot first",
	"redis":         "upgrade to a supported version; the RDB/AOF files are read by newer versions",
}

func checkEOL(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		e, ok := p.engineOf(s)
		if !ok || s.Image == "" {
			continue
		}
		_, tag, _ := imageRef(s.Image)
		if date, past := eol(e.name, tag, p.now); past {
			out = append(out, Finding{Service: s.Name, Position: p.locate(s.Name, "image"),
				Message: fmt.Sprintf("%s %s reached end of life on %s and gets no security fixes", e.name, tag, date),
				Fix:     upgradeFix[e.name]})
		}
	}
	return out
}

var deprecatedImages = map[string]string{
	"osimis/orthanc":          "orthancteam/orthanc",
	"jboss/keycloak":          "quay.io/keycloak/keycloak",
	"mdillon/postgis":         "postgis/postgis",
	"liferesearch/blaze":      "samply/blaze",
	"jodogne/orthanc":         "orthancteam/orthanc",
	"jodogne/orthanc-plugins": "orthancteam/orthanc",
	"osimis/ohif-v2":          "ohif/app",
	"mysql/mysql-server":      "mysql",
}

func checkDeprecated(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		repo, _, _ := imageRef(s.Image)
		repo = strings.TrimPrefix(strings.TrimPrefix(repo, "docker.io/"), "library/")
		if repl, ok := deprecatedImages[repo]; ok {
			out = append(out, Finding{Service: s.Name, Position: p.locate(s.Name, "image"),
				Message: fmt.Sprintf("image %s is deprecated by its publisher; the maintained image is %s", repo, repl),
				Fix:     "switch to " + repl + " (check its configuration changes first)"})
		}
	}
	return out
}
