package lint

import (
	"fmt"
	"github.com/compose-spec/compose-go/v2/types"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v4"
)

// entry is one KEY=value item of environment, build args or labels as written.
type entry struct {
	name, value string
	hasValue    bool
	pos         Position
}

// entries lists the raw KEY=value items at path under a service, from every
// file that defines them; the first definition of a key (the winning
// override) is kept.
func (p *project) entries(service string, path ...string) []entry {
	var out []entry
	seen := map[string]bool{}
	add := func(e entry) {
		if !seen[e.name] {
			seen[e.name] = true
			out = append(out, e)
		}
	}
	p.visit(service, func(f *composeFile, s *yaml.Node) bool {
		_, n := nodeAt(s, path...)
		n = deref(n)
		if n == nil {
			return false
		}
		switch n.Kind {
		case yaml.MappingNode:
			for _, k := range mapKeys(n) {
				kn, vn := mapGet(n, k)
				vn = deref(vn)
				has := vn != nil && !(vn.Kind == yaml.ScalarNode && vn.Tag == "!!null")
				add(entry{name: k, value: scalar(vn), hasValue: has, pos: posOf(f, kn)})
			}
		case yaml.SequenceNode:
			for _, it := range n.Content {
				it = deref(it)
				if it.Kind != yaml.ScalarNode {
					continue
				}
				k, v, has := strings.Cut(it.Value, "=")
				add(entry{name: strings.TrimSpace(k), value: v, hasValue: has, pos: posOf(f, it)})
			}
		}
		return false
	})
	return out
}

var nameSplitRE = regexp.MustCompile(`[^A-Z0-9]+`)

var secretTokens = map[string]bool{
	"PASSWORD": true, "PASSWD": true, "PASS": true, "PWD": true, "SECRET": true, "SECRETS": true,
	"TOKEN": true, "APIKEY": true, "PASSPHRASE": true, "CREDENTIALS": true, "PRIVATEKEY": true,
}

var keyQualifiers = map[string]bool{"API": true, "ACCESS": true, "SECRET": true, "PRIVATE": true, "MASTER": true, "AUTH": true, "ENCRYPTION": true, "SIGNING": true}

var notSecretSuffix = map[string]bool{
	"FILE": true, "PATH": true, "DIR": true, "LENGTH": true, "LEN": true, "MIN": true, "MAX": true,
	"POLICY": true, "ENABLED": true, "ENABLE": true, "DISABLED": true, "DISABLE": true, "EXPIRY": true,
	"EXPIRATION": true, "TTL": true, "TIMEOUT": true, "HASH": true, "ALGORITHM": true, "ALGO": true,
	"TYPE": true, "METHOD": true, "RESET": true, "FORMAT": true, "NAME": true, "USER": true,
	"USERNAME": true, "ID": true, "URL": true, "URI": true, "HOST": true, "PORT": true, "REQUIRED": true,
	"MODE": true, "COMMAND": true, "CMD": true, "SIZE": true,
}

// isSecretName says whether an environment or arg name holds a secret.
func isSecretName(name string) bool {
	n := strings.ToUpper(name)
	if n == "PWD" || n == "OLDPWD" {
		return false
	}
	toks := slices.DeleteFunc(nameSplitRE.Split(n, -1), func(s string) bool { return s == "" })
	if len(toks) == 0 || notSecretSuffix[toks[len(toks)-1]] {
		return false
	}
	for i, t := range toks {
		if secretTokens[t] {
			return true
		}
		if t == "KEY" && i > 0 && keyQualifiers[toks[i-1]] {
			return true
		}
	}
	return strings.Contains(n, "PASSWORD") || strings.Contains(n, "SECRET")
}

// isLiteral says a raw value is a literal: non-empty and with no variable reference.
func isLiteral(v string) bool {
	v = strings.TrimSpace(v)
	if v == "" || len(varRefs(v)) > 0 {
		return false
	}
	switch strings.ToLower(v) {
	case "true", "false", "yes", "no", "on", "off", "null", "none", `""`, "''":
		return false
	}
	return true
}

func checkLiteralSecrets(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		for _, e := range p.entries(s.Name, "environment") {
			if !isSecretName(e.name) || !e.hasValue || !isLiteral(e.value) || urlCredRE.MatchString(e.value) || namesMountedSecret(s, e.value) {
				continue
			}
			out = append(out, Finding{Service: s.Name, Position: e.pos,
				Message: fmt.Sprintf("environment %s holds a literal secret: it is readable in the compose file, in version control and through `docker inspect`", e.name)})
		}
	}
	return out
}

var (
	urlCredRE   = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*)://([^:/@\s'"]+):([^@\s'"]+)@`)
	paramCredRE = regexp.MustCompile(`(?i)[?&;](?:password|pwd|pass)=([^&;\s'"]+)`)
)

// literalURLCredential finds a connection string with a literal password in a raw value.
func literalURLCredential(v string) (scheme string, ok bool) {
	for _, m := range urlCredRE.FindAllStringSubmatch(v, -1) {
		if isLiteral(m[3]) {
			return m[1], true
		}
	}
	for _, m := range paramCredRE.FindAllStringSubmatch(v, -1) {
		if isLiteral(m[1]) {
			return "password parameter", true
		}
	}
	return "", false
}

func checkURLCredentials(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		for _, e := range p.entries(s.Name, "environment") {
			if scheme, ok := literalURLCredential(e.value); ok {
				out = append(out, Finding{Service: s.Name, Position: e.pos,
					Message: fmt.Sprintf("environment %s holds a connection string (%s) with a literal password", e.name, scheme)})
			}
		}
		for _, key := range []string{"command", "entrypoint"} {
			f, n := p.raw(s.Name, key)
			if n == nil {
				continue
			}
			var items []*yaml.Node
			if n.Kind == yaml.SequenceNode {
				items = n.Content
			} else {
				items = []*yaml.Node{n}
			}
			for _, it := range items {
				if scheme, ok := literalURLCredential(scalar(it)); ok {
					out = append(out, Finding{Service: s.Name, Position: posOf(f, deref(it)),
						Message: fmt.Sprintf("%s holds a connection string (%s) with a literal password, visible in `docker inspect` and `ps`", key, scheme)})
				}
			}
		}
	}
	return out
}

func checkBuildArgs(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		if s.Build == nil {
			continue
		}
		for _, e := range p.entries(s.Name, "build", "args") {
			if !isSecretName(e.name) {
				continue
			}
			if e.hasValue && isLiteral(e.value) {
				out = append(out, Finding{Service: s.Name, Severity: SeverityHigh, Position: e.pos,
					Message: fmt.Sprintf("build arg %s holds a literal secret, which is also stored in the image history (`docker history`)", e.name)})
				continue
			}
			out = append(out, Finding{Service: s.Name, Severity: SeverityMedium, Position: e.pos,
				Message: fmt.Sprintf("build arg %s passes a secret into the build: its value is stored in the image history (`docker history`) of every copy of the image", e.name)})
		}
	}
	return out
}

func checkWeakDefaults(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		for _, e := range p.entries(s.Name, "environment") {
			secretName := isSecretName(e.name)
			for _, r := range varRefs(e.value) {
				if r.def == "" || (r.op != "-" && r.op != ":-") {
					continue
				}
				inURL := urlCredRE.MatchString(strings.ReplaceAll(e.value, "${"+r.name+r.op+r.def+"}", "x"))
				if !secretName && !isSecretName(r.name) && !inURL {
					continue
				}
				sev, state := SeverityMedium, "if "+r.name+" is ever unset"
				if _, set := p.env[r.name]; !set {
					sev, state = SeverityHigh, "now, because "+r.name+" is not set"
				}
				out = append(out, Finding{Service: s.Name, Severity: sev, Position: e.pos,
					Message: fmt.Sprintf("environment %s falls back to a literal default secret %s: everyone who has the compose file knows it", e.name, state),
					Fix:     fmt.Sprintf("require the variable: ${%s:?set %s in .env}", r.name, r.name)})
			}
		}
	}
	return out
}

func checkAuthDisabled(p *project) []Finding {
	var out []Finding
	truthy := func(v string) bool {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "yes", "true", "1", "on":
			return true
		}
		return false
	}
	for _, s := range p.services() {
		env := map[string]string{}
		for k, v := range s.Environment {
			if v != nil {
				env[strings.ToUpper(k)] = *v
			}
		}
		flag := func(key string, sev Severity, msg string) {
			out = append(out, Finding{Service: s.Name, Severity: sev, Position: p.locate(s.Name, "environment", key), Message: msg})
		}
		keys := make([]string, 0, len(s.Environment))
		for k := range s.Environment {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := env[strings.ToUpper(k)]
			switch u := strings.ToUpper(k); {
			case u == "POSTGRES_HOST_AUTH_METHOD" && strings.EqualFold(strings.TrimSpace(v), "trust"):
				flag(k, SeverityHigh, "POSTGRES_HOST_AUTH_METHOD=trust lets every client connect as any user without a password")
			case (u == "MYSQL_ALLOW_EMPTY_PASSWORD" || u == "MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" || u == "MARIADB_ALLOW_EMPTY_PASSWORD") && truthy(v):
				flag(k, SeverityHigh, k+" leaves the database root account without a password")
			case strings.HasSuffix(u, "AUTHENTICATION_ENABLED") && strings.EqualFold(strings.TrimSpace(v), "false"):
				flag(k, SeverityMedium, k+"=false switches authentication off")
			case u == "XPACK.SECURITY.ENABLED" && strings.EqualFold(strings.TrimSpace(v), "false"):
				flag(k, SeverityMedium, "xpack.security.enabled=false leaves Elasticsearch without authentication")
			}
		}
		cmd := strings.Join(s.Command, " ")
		for _, opt := range []string{"--authenticate=false", "--skip-grant-tables", "--noauth"} {
			if strings.Contains(cmd, opt) {
				out = append(out, Finding{Service: s.Name, Severity: SeverityMedium, Position: p.locate(s.Name, "command"),
					Message: fmt.Sprintf("command passes %s, which switches authentication off", opt)})
			}
		}
	}
	return out
}

// namesMountedSecret reports whether a value is the name (or target) of a
// secret the service mounts: images such as Orthanc's read
// FOO_SECRET=name from /run/secrets/name, so the value is a reference.
func namesMountedSecret(s types.ServiceConfig, v string) bool {
	v = strings.TrimPrefix(strings.TrimSpace(v), "/run/secrets/")
	for _, sec := range s.Secrets {
		if v == sec.Source || v == sec.Target {
			return true
		}
	}
	return false
}
