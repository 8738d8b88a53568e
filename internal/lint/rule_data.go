package lint

import (
	"fmt"
	"path"
	"strings"

	"github.com/compose-spec/compose-go/v2/format"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// covering returns the mount that holds dir: the most specific mount whose
// target is dir or one of its parents.
func covering(s types.ServiceConfig, dir string) (types.ServiceVolumeConfig, bool) {
	var best types.ServiceVolumeConfig
	found := false
	for _, v := range s.Volumes {
		t := path.Clean(v.Target)
		if t == dir || strings.HasPrefix(dir, strings.TrimSuffix(t, "/")+"/") {
			if !found || len(t) > len(path.Clean(best.Target)) {
				best, found = v, true
			}
		}
	}
	return best, found
}

// volumeMatch matches a raw volumes item (short or long syntax) by target.
func (p *project) volumeMatch(target string) func(*yaml.Node) bool {
	return func(n *yaml.Node) bool {
		switch n.Kind {
		case yaml.ScalarNode:
			v, err := format.ParseVolume(p.interpolate(n.Value))
			return err == nil && path.Clean(v.Target) == path.Clean(target)
		case yaml.MappingNode:
			_, t := mapGet(n, "target")
			return path.Clean(p.interpolate(scalar(t))) == path.Clean(target)
		}
		return false
	}
}

// hostPath shows a bind source as written when it uses variables, else
// relative to the project directory.
func (p *project) hostPath(service string, m types.ServiceVolumeConfig) string {
	var raw string
	p.visit(service, func(f *composeFile, s *yaml.Node) bool {
		_, seq := mapGet(s, "volumes")
		seq = deref(seq)
		if seq == nil || seq.Kind != yaml.SequenceNode {
			return false
		}
		match := p.volumeMatch(m.Target)
		for _, it := range seq.Content {
			it = deref(it)
			if !match(it) {
				continue
			}
			if it.Kind == yaml.ScalarNode {
				raw, _, _ = strings.Cut(it.Value, ":"+m.Target)
			} else {
				_, src := mapGet(it, "source")
				raw = scalar(src)
			}
			return true
		}
		return false
	})
	if strings.Contains(raw, "$") {
		return raw
	}
	d := p.displayPath(m.Source)
	if !strings.HasPrefix(d, "/") {
		d = "./" + d
	}
	return d
}

// dataDirs narrows an engine's candidate directories by image flavour.
func dataDirs(e engine, image string) []string {
	bitnami := strings.Contains(image, "bitnami/")
	var out []string
	for _, d := range e.dataDirs {
		if strings.HasPrefix(d, "/bitnami/") == bitnami {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return e.dataDirs
	}
	return out
}

func checkDataVolume(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		e, ok := p.engineOf(s)
		if !ok || len(e.dataDirs) == 0 {
			continue
		}
		dirs := dataDirs(e, s.Image)
		var mount types.ServiceVolumeConfig
		dir, covered := dirs[0], false
		for _, d := range dirs {
			if m, ok := covering(s, d); ok {
				mount, dir, covered = m, d, true
				break
			}
		}
		sev := func(v Severity) Severity {
			if e.cache {
				return milder(v)
			}
			return v
		}
		switch {
		case !covered:
			out = append(out, Finding{Service: s.Name, Severity: sev(SeverityHigh), Position: p.locate(s.Name, "image"),
				Message: fmt.Sprintf("%s keeps its data in %s, which is on no volume: the data lives in the container layer or in an anonymous volume the image declares, and is orphaned when the container is recreated", e.name, dir),
				Fix:     fmt.Sprintf("mount a named volume: volumes: [\"%s-data:%s\"], declared under top-level volumes with x-dockerbank class userdata", s.Name, dir)})
		case mount.Type == types.VolumeTypeVolume && mount.Source == "":
			out = append(out, Finding{Service: s.Name, Severity: sev(SeverityHigh), Position: p.locateItem(s.Name, "volumes", p.volumeMatch(mount.Target)),
				Message: fmt.Sprintf("%s data in %s is on an anonymous volume: `docker compose down` orphans it, the next start gets an empty one, and backups cannot name it", e.name, dir),
				Fix:     fmt.Sprintf("name the volume: \"%s-data:%s\" and declare it under top-level volumes", s.Name, mount.Target)})
		case mount.Type == types.VolumeTypeTmpfs:
			out = append(out, Finding{Service: s.Name, Severity: sev(SeverityHigh), Position: p.locateItem(s.Name, "volumes", p.volumeMatch(mount.Target)),
				Message: fmt.Sprintf("%s data in %s is on tmpfs and is lost at every restart", e.name, dir)})
		case mount.Type == types.VolumeTypeBind:
			out = append(out, Finding{Service: s.Name, Severity: sev(SeverityLow), Position: p.locateItem(s.Name, "volumes", p.volumeMatch(mount.Target)),
				Message: fmt.Sprintf("%s data in %s is a bind mount of host path %s: it is tied to that path and its ownership, and volume-based backup and migration do not see it", e.name, dir, p.hostPath(s.Name, mount)),
				Fix:     "use a named volume for database data; keep bind mounts for configuration"})
		}
	}
	return out
}

// expectedDump is the dump method fitting an engine.
var expectedDump = map[string]string{
	"postgres": "postgres-dump",
	"mariadb":  "mysql-dump",
	"mysql":    "mysql-dump",
	"mongo":    "mongo-dump",
}

func checkBackupPolicy(p *project) []Finding {
	var out []Finding
	seen := map[string]bool{}
	for _, s := range p.services() {
		e, ok := p.engineOf(s)
		if !ok || e.cache {
			continue
		}
		for _, d := range dataDirs(e, s.Image) {
			m, ok := covering(s, d)
			if !ok || m.Type != types.VolumeTypeVolume || m.Source == "" || seen[m.Source] {
				continue
			}
			seen[m.Source] = true
			x := p.volumeExt(m.Source)
			pos, ok := p.locateTop("volumes", m.Source)
			if !ok {
				pos = p.locateItem(s.Name, "volumes", p.volumeMatch(m.Target))
			}
			if x.present {
				pos, _ = p.locateTop("volumes", m.Source, extKey)
			}
			switch {
			case x.Class == "" || x.Backup == "":
				out = append(out, Finding{Service: s.Name, Position: pos,
					Message: fmt.Sprintf("volume %s holds %s data (%s) but has no backup policy: x-dockerbank class and backup are missing", m.Source, e.name, d),
					Fix:     fmt.Sprintf("declare it: volumes: {%s: {x-dockerbank: {class: userdata, backup: %s}}}", m.Source, orDefault(expectedDump[e.name], "files"))})
			case x.Backup == "none" && x.Class == "userdata":
				out = append(out, Finding{Service: s.Name, Position: pos,
					Message: fmt.Sprintf("volume %s holds %s user data but its backup policy is none", m.Source, e.name),
					Fix:     fmt.Sprintf("set backup: %s", orDefault(expectedDump[e.name], "files"))})
			case strings.HasSuffix(x.Backup, "-dump") && expectedDump[e.name] != "" && x.Backup != expectedDump[e.name]:
				out = append(out, Finding{Service: s.Name, Position: pos,
					Message: fmt.Sprintf("volume %s holds %s data but its backup method is %s", m.Source, e.name, x.Backup),
					Fix:     fmt.Sprintf("set backup: %s", expectedDump[e.name])})
			}
		}
	}
	// Volumes declared as user data anywhere still need a backup method.
	for name := range p.model.Volumes {
		if seen[name] {
			continue
		}
		x := p.volumeExt(name)
		if x.Class == "userdata" && x.Backup == "" {
			pos, _ := p.locateTop("volumes", name, extKey)
			out = append(out, Finding{Position: pos,
				Message: fmt.Sprintf("volume %s is class userdata but has no backup method", name),
				Fix:     "add backup: postgres-dump, mysql-dump, mongo-dump or files"})
		}
	}
	return out
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}
