package bank

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"mvdan.cc/sh/v3/syntax"
)

// addFunc reports a problem at the compose key path (or, with the first key
// "entry.yaml", at a key of the entry file).
type addFunc func(msg, fix string, keys ...string)

// checkRefusals applies the checks compose v5 makes when it creates
// containers and needs no engine for (pkg/compose secrets.go and create.go),
// to the project as deploy renders it, so that what `deploy` would refuse is
// reported at file:line first.
func checkRefusals(p *types.Project, add addFunc) {
	generated := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(p.Secrets)) {
		s := p.Secrets[name]
		if strings.HasPrefix(s.Environment, "DOCKERBANK_SECRET_") {
			generated[name] = true
		}
		at := []string{"secrets", name}
		switch {
		case bool(s.External):
			add(fmt.Sprintf("compose refuses external secret %s (\"unsupported external secret\"): external secrets exist only in Swarm", name),
				"generate it (x-dockerbank: {generate: {length: 32}}) or give it a file", at...)
		case s.Driver != "" || s.TemplateDriver != "":
			add(fmt.Sprintf("compose refuses secret %s: Docker Compose does not support secrets.*.driver or template_driver", name),
				"remove driver and template_driver", at...)
		case s.Environment != "" && !generated[name]:
			add(fmt.Sprintf("secret %s comes from environment variable %s, which deploy never sets: compose fails with \"environment variable %q required by secret %q is not set\"", name, s.Environment, s.Environment, name),
				"let dockerbank generate it (x-dockerbank: {generate: {length: 32}}) or give it a file of the entry", at...)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.Configs)) {
		c := p.Configs[name]
		if bool(c.External) || c.Driver != "" || c.TemplateDriver != "" {
			add(fmt.Sprintf("compose refuses config %s: external configs, configs.*.driver and template_driver are not supported", name),
				"give the config a file or content", "configs", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		if s.ReadOnly {
			for _, ref := range s.Secrets {
				sec := p.Secrets[ref.Source]
				if sec.Environment == "" && sec.Content == "" {
					continue
				}
				how := "generated secret"
				if !generated[ref.Source] {
					how = "secret from the environment or inline content"
				}
				add(fmt.Sprintf("service %s is read_only and uses %s %s: compose v5 refuses it at deploy (cannot create secret %q in read-only service %s: `file` is the sole supported option)", name, how, ref.Source, ref.Source, name),
					"drop read_only: true (keep tmpfs for the paths the app writes), or have the application read the secret from a file the site provides", "services", name, "read_only")
			}
			for _, ref := range s.Configs {
				c := p.Configs[ref.Source]
				if c.Environment != "" || c.Content != "" {
					add(fmt.Sprintf("service %s is read_only and uses config %s from the environment or inline content: compose refuses it (`file` is the sole supported option)", name, ref.Source),
						"give the config a file, or drop read_only", "services", name, "read_only")
				}
			}
		}
		if s.MacAddress != "" && len(s.Networks) == 1 {
			for nw, cfg := range s.Networks {
				if cfg != nil && cfg.MacAddress != "" && cfg.MacAddress != s.MacAddress {
					add(fmt.Sprintf("service %s: mac_address %s differs from the one of network %s (%s); compose refuses it", name, s.MacAddress, nw, cfg.MacAddress),
						"set the MAC address in one place", "services", name, "mac_address")
				}
			}
		}
		for _, opt := range s.SecurityOpt {
			if opt == "systempaths=unconfined" || opt == "no-new-privileges" || strings.ContainsAny(opt, "=:") {
				continue
			}
			add(fmt.Sprintf("service %s: compose refuses security_opt %q (invalid security-opt)", name, opt),
				"write it as key=value, e.g. no-new-privileges:true or seccomp=profile.json", "services", name, "security_opt")
		}
	}
}

// probes lists the commands an entry runs in the containers of a service.
func probes(e *Entry, name string, s types.ServiceConfig) []probe {
	var out []probe
	if hc := s.HealthCheck; hc != nil && !hc.Disable && len(hc.Test) > 0 {
		switch hc.Test[0] {
		case "CMD":
			out = append(out, probe{kind: "healthcheck", argv: hc.Test[1:]})
		case "CMD-SHELL":
			out = append(out, probe{kind: "healthcheck", argv: []string{"/bin/sh", "-c", strings.Join(hc.Test[1:], " ")}})
		}
	}
	for i, c := range e.Checks.PostDeploy {
		if c.Service == name {
			out = append(out, probe{kind: "check " + c.Name + "#" + strconv.Itoa(i), argv: c.Exec})
		}
	}
	if len(s.Entrypoint) > 0 {
		out = append(out, probe{kind: "entrypoint", argv: s.Entrypoint})
	}
	return out
}

// probeAt returns where a probe is written: the service's healthcheck or
// entrypoint in a compose file, or the check in entry.yaml.
func probeAt(name string, p probe) []string {
	if rest, ok := strings.CutPrefix(p.kind, "check "); ok {
		_, idx, _ := strings.Cut(rest, "#")
		return []string{EntryFile, "checks", "postDeploy", idx}
	}
	return []string{"services", name, p.kind}
}

func probeName(p probe) string {
	if rest, ok := strings.CutPrefix(p.kind, "check "); ok {
		n, _, _ := strings.Cut(rest, "#")
		return "check " + n
	}
	return p.kind
}

// alwaysPasses says why a probe's exit status does not depend on the
// service being healthy, or "" when it can fail.
func alwaysPasses(p probe) string {
	if len(p.argv) == 0 {
		return ""
	}
	switch path.Base(p.argv[0]) {
	case "true", ":":
		return "it runs " + p.argv[0] + ", which always succeeds"
	}
	calls := [][]string{p.argv}
	if s, ok := p.script(); ok {
		if st := lastStatement(s); st != nil {
			if why := alwaysTrueStmt(st); why != "" {
				return why
			}
		}
		calls = append(calls, scriptCalls(s)...)
	}
	for _, c := range calls {
		switch path.Base(c[0]) {
		case "grep", "egrep":
			for _, a := range c[1:] {
				if strings.HasPrefix(a, "-") {
					continue
				}
				norm := strings.ToUpper(strings.NewReplacer(`"`, "", " ", "", "'", "", `\`, "").Replace(a))
				if norm == "UP" || norm == "STATUS:UP" {
					return fmt.Sprintf("grep %s matches anywhere in the answer: a health document that is DOWN overall lists checks that are UP, so it passes", a)
				}
				break
			}
		case "curl":
			if !curlFails(c[1:]) {
				return "curl without -f (--fail) exits 0 on HTTP errors such as 404 and 503"
			}
		}
	}
	return ""
}

// alwaysTrueStmt reports a last statement that succeeds whatever came before.
func alwaysTrueStmt(st *syntax.Stmt) string {
	isTrue := func(c syntax.Command) bool {
		call, ok := c.(*syntax.CallExpr)
		if !ok || len(call.Args) == 0 {
			return false
		}
		w, ok := wordText(call.Args[0])
		if !ok {
			return false
		}
		if w == "true" || w == ":" {
			return len(call.Args) == 1 || w == ":"
		}
		if w == "exit" && len(call.Args) == 2 {
			n, _ := wordText(call.Args[1])
			return n == "0"
		}
		return false
	}
	if st.Negated {
		return ""
	}
	if isTrue(st.Cmd) {
		return "its last command always succeeds (true, : or exit 0)"
	}
	if b, ok := st.Cmd.(*syntax.BinaryCmd); ok && b.Op == syntax.OrStmt && b.Y != nil && isTrue(b.Y.Cmd) {
		return "it ends in \"|| true\" or \"|| exit 0\", so a failure still passes"
	}
	return ""
}

// curlFails reports whether curl arguments make it fail on HTTP errors.
func curlFails(args []string) bool {
	for _, a := range args {
		switch {
		case a == "--fail" || a == "--fail-with-body" || a == "--fail-early":
			return true
		case strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.ContainsRune(a[1:], 'f'):
			return true
		}
	}
	return false
}

// healthBudget is how long a container may take to become healthy before
// Docker marks it unhealthy: start_period + interval * retries.
func healthBudget(hc *types.HealthCheckConfig) time.Duration {
	interval, retries, start := 30*time.Second, uint64(3), time.Duration(0)
	if hc.Interval != nil {
		interval = time.Duration(*hc.Interval)
	}
	if hc.Retries != nil {
		retries = *hc.Retries
	}
	if hc.StartPeriod != nil {
		start = time.Duration(*hc.StartPeriod)
	}
	return start + interval*time.Duration(retries)
}

// checkProbes applies the rules that need no image: checks that always pass
// and health budgets shorter than the declared start-up.
func checkProbes(e *Entry, p *types.Project, ver Version, add addFunc) {
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		for _, pr := range probes(e, name, s) {
			if pr.kind == "entrypoint" {
				continue
			}
			if why := alwaysPasses(pr); why != "" {
				add(fmt.Sprintf("the %s of service %s always passes: %s", probeName(pr), name, why),
					"make it fail when the service is not serving: check the HTTP status (curl -f, wget, or the status line \"HTTP/1.x 200\")", probeAt(name, pr)...)
			}
		}
	}
	budgets := e.StartupBudgets(ver)
	for _, name := range slices.Sorted(maps.Keys(budgets)) {
		want := budgets[name]
		s, ok := p.Services[name]
		if !ok {
			continue
		}
		hc := s.HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
			add(fmt.Sprintf("version %s: service %s declares a start-up budget of %s but has no health check, so deploy cannot tell when it is up", ver.Version, name, want),
				"add a healthcheck to the service", "services", name)
			continue
		}
		if got := healthBudget(hc); got < want {
			add(fmt.Sprintf("version %s: the health check of service %s gives up after %s (start_period + interval x retries), shorter than its declared start-up of %s: Docker marks it unhealthy and deploy fails while it is still starting", ver.Version, name, got, want),
				fmt.Sprintf("raise start_period (or retries) so that start_period + interval x retries is at least %s", want), "services", name, "healthcheck")
		}
	}
}

// checkFacts checks a rendered version against what its images contain.
func checkFacts(e *Entry, p *types.Project, ver Version, factsOf func(svc, image string) *ImageFacts, add addFunc) {
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		img := ver.Images[name]
		if img == "" {
			img = s.Image
		}
		f := factsOf(name, img)
		if f == nil {
			continue
		}
		from := "read from the image"
		if !f.FromImage {
			from = "recorded in curation.images"
		}
		for _, pr := range probes(e, name, s) {
			for _, prog := range pr.programs() {
				where, ok := f.Executable(prog)
				if !ok {
					add(fmt.Sprintf("version %s: the %s of service %s calls %s, which image %s does not contain (facts %s)", ver.Version, probeName(pr), name, prog, img, from),
						"call a program the image has, or record the program under curation.images with its upstream source", probeAt(name, pr)...)
					continue
				}
				interp := strings.Fields(f.Interpreter(where))
				if len(interp) == 0 {
					continue
				}
				need := interp[0]
				if path.Base(need) == "env" && len(interp) > 1 {
					need = interp[1]
				}
				if _, ok := f.Executable(need); !ok {
					add(fmt.Sprintf("version %s: the %s of service %s runs %s, a script for %s, which image %s does not contain", ver.Version, probeName(pr), name, where, need, img),
						"install the interpreter in the image or change the script's #! line", probeAt(name, pr)...)
				}
			}
		}
		user := s.User
		if user == "" {
			user = f.User
		}
		mounted := map[string]bool{}
		for _, v := range s.Volumes {
			target := path.Clean(v.Target)
			switch v.Type {
			case types.VolumeTypeTmpfs:
				mounted[target] = true
			case types.VolumeTypeVolume:
				if _, named := p.Volumes[v.Source]; !named || v.Source == "" {
					continue
				}
				mounted[target] = true
				if v.ReadOnly {
					continue
				}
				if ok, why := f.Writable(user, target); !ok {
					add(fmt.Sprintf("version %s: service %s cannot write volume %s at %s: %s", ver.Version, name, v.Source, target, why),
						"create and chown the directory in the image, or run the service as a user that owns it (user:)", "services", name, "volumes")
				}
			}
		}
		for _, t := range s.Tmpfs {
			mounted[path.Clean(strings.SplitN(t, ":", 2)[0])] = true
		}
		for _, vol := range f.Volumes {
			if !mounted[path.Clean(vol)] {
				add(fmt.Sprintf("version %s: image %s declares VOLUME %s, which service %s does not map to a named volume: Docker gives every container an anonymous volume there, which is never backed up and is left behind", ver.Version, img, vol, name),
					fmt.Sprintf("mount a named volume with an x-dockerbank class at %s (class temp when its contents do not matter)", vol), "services", name)
			}
		}
	}
}
