package lint

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v4"
)

// The dockerbank extension `x-dockerbank`, on services and on top-level volumes:
//
//	services:
//	  db:
//	    x-dockerbank: {role: database, engine: postgres}
//	  app:
//	    x-dockerbank: {role: app, scale: {max: 4, http: [8080]}}
//	volumes:
//	  db-data:
//	    x-dockerbank: {class: userdata, backup: postgres-dump, quiesce: none}
const extKey = "x-dockerbank"

var extValues = map[string][]string{
	"role":    {"app", "database", "proxy", "job"},
	"engine":  {"postgres", "mariadb", "mysql", "mongo"},
	"class":   {"userdata", "config", "cache", "temp"},
	"backup":  {"postgres-dump", "mysql-dump", "mongo-dump", "files", "none"},
	"quiesce": {"none", "readonly", "pause", "stop"},
}

// serviceExtKeys and volumeExtKeys are the keys allowed in each place.
var (
	serviceExtKeys = []string{"role", "engine", "scale"}
	volumeExtKeys  = []string{"class", "backup", "quiesce", "singleWriter"}
)

type serviceExt struct {
	Role, Engine string
}

type volumeExt struct {
	Class, Backup, Quiesce string
	present                bool
}

func (p *project) extFields(n *yaml.Node) map[string]string {
	out := map[string]string{}
	for _, k := range mapKeys(n) {
		_, v := mapGet(n, k)
		out[k] = p.interpolate(scalar(v))
	}
	return out
}

func (p *project) serviceExt(service string) serviceExt {
	_, n := p.raw(service, extKey)
	f := p.extFields(n)
	return serviceExt{Role: f["role"], Engine: f["engine"]}
}

func (p *project) volumeExt(volume string) volumeExt {
	for i := len(p.files) - 1; i >= 0; i-- {
		if _, n := nodeAt(p.files[i].root, "volumes", volume, extKey); n != nil && !p.files[i].v1 {
			f := p.extFields(n)
			return volumeExt{Class: f["class"], Backup: f["backup"], Quiesce: f["quiesce"], present: true}
		}
	}
	return volumeExt{}
}

// checkExtension validates every x-dockerbank block as written.
func checkExtension(p *project) []Finding {
	var out []Finding
	check := func(f *composeFile, n *yaml.Node, allowed []string, service string) {
		n = deref(n)
		if n.Kind != yaml.MappingNode {
			out = append(out, Finding{Service: service, Position: posOf(f, n),
				Message: "x-dockerbank must be a mapping"})
			return
		}
		for _, k := range mapKeys(n) {
			kn, vn := mapGet(n, k)
			if !slices.Contains(allowed, k) {
				out = append(out, Finding{Service: service, Position: posOf(f, kn),
					Message: fmt.Sprintf("x-dockerbank has unknown key %q; allowed here: %s", k, strings.Join(allowed, ", "))})
				continue
			}
			allowedValues, closed := extValues[k]
			if !closed {
				continue // scale and singleWriter: checked by bank lint
			}
			v := p.interpolate(scalar(vn))
			if !slices.Contains(allowedValues, v) {
				out = append(out, Finding{Service: service, Position: posOf(f, vn),
					Message: fmt.Sprintf("x-dockerbank %s %q is not one of %s", k, v, strings.Join(extValues[k], ", "))})
			}
		}
	}
	for _, f := range p.files {
		for _, svc := range mapKeys(f.services) {
			_, s := mapGet(f.services, svc)
			if _, x := mapGet(s, extKey); x != nil {
				check(f, x, serviceExtKeys, svc)
			}
		}
		if f.v1 {
			continue
		}
		_, vols := mapGet(f.root, "volumes")
		for _, v := range mapKeys(vols) {
			_, vn := mapGet(vols, v)
			if _, x := mapGet(vn, extKey); x != nil {
				check(f, x, volumeExtKeys, "")
			}
		}
	}
	return out
}
