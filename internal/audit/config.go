package audit

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/dockerbank/dockerbank/internal/instance/label"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

type v1History = v1.History

// ociLabels are the org.opencontainers.image.* labels a provenance record
// needs.
var ociLabels = []string{"source", "revision", "version", "created", "vendor", "licenses"}

// debugPorts are ports that should never be exposed by an image.
var debugPorts = map[int]string{
	22: "SSH", 23: "telnet", 2375: "Docker API without TLS", 2376: "Docker API",
	5005: "Java debug (JDWP)", 9003: "Xdebug", 9229: "Node.js inspector", 5678: "Python debugpy",
}

var (
	urlCredentialRe = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@'"]+:([^/\s@'"]+)@`)
	assignmentRe    = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|[^\s"';&|]+)`)
)

// configFindings checks the image configuration and build history.
func (a *analysis) configFindings() {
	c := a.d.config.Config
	if rootUser(c.User) {
		user := c.User
		if user == "" {
			user = "(unset, so root)"
		}
		a.add(Finding{Rule: RuleRootUser, Severity: SeverityMedium, Layer: -1, DeletedInLayer: -1,
			Message: "container runs as root: User " + user})
	}
	if c.Healthcheck == nil || len(c.Healthcheck.Test) == 0 || c.Healthcheck.Test[0] == "NONE" {
		a.add(Finding{Rule: RuleNoHealthcheck, Severity: SeverityLow, Layer: -1, DeletedInLayer: -1,
			Message: "image defines no HEALTHCHECK"})
	}
	ports := make([]string, 0, len(c.ExposedPorts))
	for p := range c.ExposedPorts {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	for _, p := range ports {
		num, _, _ := strings.Cut(p, "/")
		n, _ := strconv.Atoi(num)
		if what, ok := debugPorts[n]; ok && what != "" {
			a.add(Finding{Rule: RuleExposedPort, Severity: SeverityMedium, Layer: -1, DeletedInLayer: -1,
				Message: fmt.Sprintf("exposes %s port %s", what, p)})
		} else {
			a.add(Finding{Rule: RuleExposedPort, Severity: SeverityInfo, Layer: -1, DeletedInLayer: -1,
				Message: "exposes port " + p})
		}
	}
	a.secretsInConfig()
	a.engineVersionsFromEnv()
	if c.Labels[label.Redistributable] == "false" {
		a.add(Finding{Rule: RuleNotRedistrib, Severity: SeverityMedium, Layer: -1, DeletedInLayer: -1,
			Message: "image is labelled " + label.Redistributable + "=false: it holds a product that may not be redistributed"})
	}
}

// rootUser reports users that run as UID 0: empty, root, 0, 0:0, root:grp.
func rootUser(u string) bool {
	name, _, _ := strings.Cut(strings.TrimSpace(u), ":")
	return name == "" || name == "root" || name == "0"
}

// secretsInConfig finds password-like ENV and ARG values, credentials in
// URLs and tokens in the config's Env and in every history line.
func (a *analysis) secretsInConfig() {
	seen := map[string]bool{}
	// History first: it names the build step.
	for hi, h := range a.d.config.History {
		layer := -1
		for li, e := range a.history {
			if e != nil && e.index == hi {
				layer = li
			}
		}
		for _, s := range secretsInText(h.CreatedBy) {
			if seen[s.key] {
				continue
			}
			seen[s.key] = true
			a.add(Finding{Rule: RuleSecret, Severity: s.severity, Layer: layer, DeletedInLayer: -1,
				History: redactLine(h.CreatedBy), Message: fmt.Sprintf("%s in build history line %d", s.message, hi)})
		}
	}
	c := a.d.config.Config
	other := map[string]string{
		"CMD":        strings.Join(c.Cmd, " "),
		"ENTRYPOINT": strings.Join(c.Entrypoint, " "),
	}
	for k, v := range c.Labels {
		other["LABEL "+k] = k + "=" + v
	}
	keys := make([]string, 0, len(other))
	for k := range other {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, s := range secretsInText(other[k]) {
			if seen[s.key] {
				continue
			}
			seen[s.key] = true
			a.add(Finding{Rule: RuleSecret, Severity: s.severity, Layer: -1, DeletedInLayer: -1,
				Message: s.message + " in " + k})
		}
	}
	for _, env := range a.d.config.Config.Env {
		name, _, _ := strings.Cut(env, "=")
		for _, s := range secretsInText(env) {
			if seen[s.key] {
				continue
			}
			seen[s.key] = true
			a.add(Finding{Rule: RuleSecret, Severity: s.severity, Layer: -1, DeletedInLayer: -1,
				Message: s.message + " in ENV " + name})
		}
	}
}

type configSecret struct {
	key      string // dedupe key: name and value
	message  string // redacted
	severity Severity
}

// secretsInText finds secrets in an ENV entry or a history line. Messages
// are redacted.
func secretsInText(text string) []configSecret {
	var out []configSecret
	// KEY=VALUE assignments: ENV, ARG and "|N KEY=VALUE /bin/sh -c" lines.
	for _, m := range assignmentRe.FindAllStringSubmatch(text, -1) {
		k, v := m[1], strings.Trim(m[2], `"'`)
		if !secretName(k) || strings.HasSuffix(strings.ToUpper(k), "_FILE") || placeholder(v) {
			continue
		}
		out = append(out, configSecret{key: k + "=" + v, severity: SeverityHigh,
			message: fmt.Sprintf("password-like variable %s=%s", k, redact(v))})
	}
	for _, m := range urlCredentialRe.FindAllStringSubmatch(text, -1) {
		if placeholder(m[1]) {
			continue
		}
		out = append(out, configSecret{key: "url\x00" + m[0], severity: SeverityHigh,
			message: "URL with embedded password " + redactURL(m[0], m[1])})
	}
	for _, t := range findTokens([]byte(text)) {
		out = append(out, configSecret{key: "tok\x00" + t.value, severity: SeverityCritical,
			message: t.name + " " + redact(t.value)})
	}
	return out
}

// redactLine replaces every secret secretsInText would report in a line
// (history, ENV) by its redacted form, so the line can be shown.
func redactLine(text string) string {
	text = assignmentRe.ReplaceAllStringFunc(text, func(m string) string {
		sm := assignmentRe.FindStringSubmatch(m)
		k, v := sm[1], strings.Trim(sm[2], `"'`)
		if !secretName(k) || strings.HasSuffix(strings.ToUpper(k), "_FILE") || placeholder(v) {
			return m
		}
		return k + "=" + redact(v)
	})
	text = urlCredentialRe.ReplaceAllStringFunc(text, func(m string) string {
		sm := urlCredentialRe.FindStringSubmatch(m)
		return redactURL(m, sm[1])
	})
	for _, t := range findTokens([]byte(text)) {
		text = strings.ReplaceAll(text, t.value, redact(t.value))
	}
	return text
}

// placeholder reports values that are not secrets: empty, references to
// other variables, or obvious placeholders.
func placeholder(v string) bool {
	v = strings.TrimSpace(v)
	if v == "" || strings.HasPrefix(v, "$") || strings.HasPrefix(v, "/") {
		return true
	}
	switch strings.ToLower(v) {
	case "changeme", "change-me", "xxx", "none", "null", "true", "false", "yes", "no", "required", "example":
		return true
	}
	return false
}

func redactURL(u, pass string) string {
	return strings.Replace(u, ":"+pass+"@", ":"+redact(pass)+"@", 1)
}

// engineEnv maps ENV names that official database images set to engines.
var engineEnv = []struct{ env, engine, label string }{
	{"PG_MAJOR", "postgresql", "PostgreSQL"},
	{"PG_VERSION", "postgresql", "PostgreSQL"},
	{"MYSQL_MAJOR", "mysql", "MySQL"},
	{"MYSQL_VERSION", "mysql", "MySQL"},
	{"MARIADB_MAJOR", "mariadb", "MariaDB"},
	{"MARIADB_VERSION", "mariadb", "MariaDB"},
	{"MONGO_MAJOR", "mongodb", "MongoDB"},
	{"MONGO_VERSION", "mongodb", "MongoDB"},
	{"REDIS_VERSION", "redis", "Redis"},
}

// engineVersionsFromEnv reports database engines past end of life whose
// version the image's ENV states (as the official images do).
func (a *analysis) engineVersionsFromEnv() {
	env := map[string]string{}
	for _, e := range a.d.config.Config.Env {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
	}
	reported := map[string]bool{}
	for _, ev := range engineEnv {
		v, ok := env[ev.env]
		if !ok || reported[ev.engine] {
			continue
		}
		cycle := engineCycle(ev.engine, v)
		if cycle == "" {
			continue
		}
		reported[ev.engine] = true
		a.engineCurrency(ev.engine, ev.label, cycle, -1, "ENV "+ev.env+"="+v)
	}
}

// provenance reports the identity record, the base image guess and
// missing OCI labels.
func (a *analysis) provenance() {
	cfg := a.d.config
	created := "unknown date"
	if !cfg.Created.IsZero() {
		created = cfg.Created.UTC().Format("2006-01-02 15:04 UTC")
	}
	msg := fmt.Sprintf("image %s created %s, %d layers", a.info.digest(), created, len(a.d.layers))
	if cfg.Author != "" {
		msg += ", author " + cfg.Author
	}
	if cfg.OS != "" {
		msg += ", platform " + cfg.OS + "/" + cfg.Architecture
	}
	a.add(Finding{Rule: RuleIdentity, Severity: SeverityInfo, Layer: -1, DeletedInLayer: -1, Message: msg})
	if a.info.BaseGuess != "" {
		a.add(Finding{Rule: RuleBaseImage, Severity: SeverityInfo, Layer: -1, DeletedInLayer: -1,
			Message: "base image guess: " + a.info.BaseGuess})
	}
	nonEmpty := 0
	for _, h := range cfg.History {
		if !h.EmptyLayer {
			nonEmpty++
		}
	}
	if nonEmpty != len(a.d.layers) {
		a.add(Finding{Rule: RuleNoHistory, Severity: SeverityInfo, Layer: -1, DeletedInLayer: -1,
			Message: fmt.Sprintf("history has %d layer entries for %d layers: history lines may not match layers", nonEmpty, len(a.d.layers))})
	}
	var missing []string
	for _, l := range ociLabels {
		if cfg.Config.Labels["org.opencontainers.image."+l] == "" {
			missing = append(missing, "org.opencontainers.image."+l)
		}
	}
	if len(missing) > 0 {
		a.add(Finding{Rule: RuleMissingLabels, Severity: SeverityInfo, Layer: -1, DeletedInLayer: -1,
			Message: "missing provenance labels: " + strings.Join(missing, ", ")})
	}
}
