package lint

import (
	"fmt"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

func hasHealthcheck(s types.ServiceConfig) bool {
	h := s.HealthCheck
	if h == nil || h.Disable {
		return false
	}
	return !(len(h.Test) > 0 && strings.EqualFold(h.Test[0], "NONE"))
}

var healthTests = map[string]string{
	"postgres":      `["CMD-SHELL", "pg_isready -U $${POSTGRES_USER:-postgres}"]`,
	"mariadb":       `["CMD", "healthcheck.sh", "--connect", "--innodb_initialized"]`,
	"mysql":         `["CMD-SHELL", "mysqladmin ping -h localhost -p$${MYSQL_ROOT_PASSWORD}"]`,
	"mongo":         `["CMD", "mongosh", "--quiet", "--eval", "db.adminCommand('ping')"]`,
	"redis":         `["CMD", "redis-cli", "ping"]`,
	"elasticsearch": `["CMD-SHELL", "curl -fsS localhost:9200/_cluster/health"]`,
}

func checkHealthcheck(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		if hasHealthcheck(s) || p.isJob(s) {
			continue
		}
		sev, what := SeverityLow, "the service"
		if e, ok := p.engineOf(s); ok {
			sev, what = SeverityMedium, e.name
			if e.isDatabase() {
				sev = SeverityHigh
			}
		}
		fix := "add a healthcheck that proves the service answers, e.g. test: [\"CMD\", \"curl\", \"-fsS\", \"http://localhost:8080/\"]"
		if e, ok := p.engineOf(s); ok && healthTests[e.name] != "" {
			fix = "add a healthcheck: test: " + healthTests[e.name]
		}
		pos := p.locate(s.Name)
		if s.HealthCheck != nil {
			pos = p.locate(s.Name, "healthcheck")
		}
		out = append(out, Finding{Service: s.Name, Severity: sev, Position: pos,
			Message: fmt.Sprintf("no healthcheck (unless the image defines one): nothing tells when %s is ready or hung, so dependants and backups cannot wait for it", what), Fix: fix})
	}
	return out
}

func checkDependsOn(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		for dep, d := range s.DependsOn {
			target, ok := p.model.Services[dep]
			if !ok {
				continue
			}
			e, ok := p.engineOf(target)
			if !ok || !e.isDatabase() || (d.Condition != "" && d.Condition != types.ServiceConditionStarted) {
				continue
			}
			cond := d.Condition
			if cond == "" {
				cond = types.ServiceConditionStarted
			}
			fix := ""
			if !hasHealthcheck(target) {
				fix = fmt.Sprintf("give %s a healthcheck, then use depends_on: {%s: {condition: service_healthy}}", dep, dep)
			}
			pos := p.locate(s.Name, "depends_on", dep)
			if _, ok := p.find(s.Name, []string{"depends_on"}); !ok {
				pos = p.locate(s.Name, "links") // links imply depends_on
			}
			out = append(out, Finding{Service: s.Name, Position: pos,
				Message: fmt.Sprintf("depends on database %s with condition %s: the service starts before %s accepts connections", dep, cond, dep),
				Fix:     fix})
		}
	}
	sortFindings(out)
	return out
}

func checkRestart(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		if s.Restart != "" || (s.Deploy != nil && s.Deploy.RestartPolicy != nil) || p.isJob(s) {
			continue
		}
		out = append(out, Finding{Service: s.Name, Position: p.locate(s.Name),
			Message: "no restart policy: the service stays down after a crash or a host reboot"})
	}
	return out
}

func checkLogging(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		driver, opts := "json-file", map[string]string{}
		if s.Logging != nil {
			if s.Logging.Driver != "" {
				driver = s.Logging.Driver
			}
			for k, v := range s.Logging.Options {
				opts[k] = v
			}
		}
		if s.LogDriver != "" {
			driver = s.LogDriver
		}
		for k, v := range s.LogOpt {
			opts[k] = v
		}
		switch driver {
		case "json-file":
			if opts["max-size"] == "" {
				out = append(out, Finding{Service: s.Name, Position: p.locate(s.Name, "logging"),
					Message: "json-file logs without max-size grow without bound until the disk is full (unless the daemon sets log-opts)"})
			}
		case "none":
			out = append(out, Finding{Service: s.Name, Severity: SeverityInfo, Position: p.locate(s.Name, "logging", "driver"),
				Message: "logging driver none discards the service's logs: nothing is left for debugging or audit"})
		}
	}
	return out
}

func checkLimits(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		if s.MemLimit > 0 || p.isJob(s) {
			continue
		}
		if s.Deploy != nil && s.Deploy.Resources.Limits != nil && s.Deploy.Resources.Limits.MemoryBytes > 0 {
			continue
		}
		out = append(out, Finding{Service: s.Name, Position: p.locate(s.Name),
			Message: "no memory limit: a leak or load spike in this service can exhaust the host's memory for every other service"})
	}
	return out
}

func checkVersion(p *project) []Finding {
	var out []Finding
	for _, f := range p.files {
		if f.v1 {
			continue
		}
		if k, v := mapGet(f.root, "version"); k != nil {
			out = append(out, Finding{Position: posOf(f, k),
				Message: fmt.Sprintf("version %q is obsolete: Compose v2 ignores it and warns", scalar(v))})
		}
	}
	return out
}

func checkLegacy(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		for _, key := range []string{"links", "external_links", "volumes_from"} {
			var n int
			switch key {
			case "links":
				n = len(s.Links)
			case "external_links":
				n = len(s.ExternalLinks)
			case "volumes_from":
				n = len(s.VolumesFrom)
			}
			if n == 0 {
				continue
			}
			why := "services on the same network resolve each other by name"
			if key == "volumes_from" {
				why = "it couples the containers' lifecycles; share a named volume instead"
			}
			out = append(out, Finding{Service: s.Name, Position: p.locate(s.Name, key),
				Message: fmt.Sprintf("%s is legacy: %s", key, why)})
		}
	}
	return out
}

func checkV1(p *project) []Finding {
	var out []Finding
	for _, f := range p.files {
		if f.v1 {
			out = append(out, Finding{Position: Position{File: f.path, Line: f.root.Line, Col: f.root.Column},
				Message: "compose v1 format: services at top level without a services: key; Docker Compose v2 refuses the file (lint analysed it as if the services were under services:)"})
		}
	}
	return out
}

// checkUnsetVariables reports every ${VAR} without default whose VAR is
// not set, at the scalar that uses it (image references are DB002's).
func checkUnsetVariables(p *project) []Finding {
	var out []Finding
	seen := map[string]bool{}
	var walk func(f *composeFile, n *yaml.Node, key, service string, depth int)
	walk = func(f *composeFile, n *yaml.Node, key, service string, depth int) {
		if n == nil || depth > 64 || n.Kind == yaml.AliasNode {
			return
		}
		switch n.Kind {
		case yaml.ScalarNode:
			if key == "image" || !strings.Contains(n.Value, "$") {
				return
			}
			for _, r := range varRefs(n.Value) {
				if r.op != "" && r.op != "+" && r.op != ":+" {
					continue
				}
				if _, set := p.env[r.name]; set {
					continue
				}
				id := fmt.Sprintf("%s:%d:%d:%s", f.path, n.Line, n.Column, r.name)
				if seen[id] {
					continue
				}
				seen[id] = true
				out = append(out, Finding{Service: service, Position: posOf(f, n),
					Message: fmt.Sprintf("variable %s is not set and has no default: compose substitutes an empty string", r.name)})
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				svc := service
				if depth == 1 && key == "services" || (f.v1 && depth == 0) {
					svc = k
				}
				walk(f, n.Content[i+1], k, svc, depth+1)
			}
		default:
			for _, c := range n.Content {
				walk(f, c, key, service, depth+1)
			}
		}
	}
	for _, f := range p.files {
		walk(f, f.root, "", "", 0)
	}
	return out
}
