package bank_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/dockerbank/dockerbank"
	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/lint"
)

// wantEntries are the entries the embedded bank must ship.
var wantEntries = []string{"blaze", "demo", "hapi-fhir", "keycloak", "ohdsi", "orthanc", "redcap"}

// databasePorts are the container ports of the database engines.
var databasePorts = map[uint32]string{5432: "postgres", 3306: "mariadb/mysql", 27017: "mongo"}

func openEmbedded(t *testing.T) *bank.Bank {
	t.Helper()
	b, err := bank.Open(t.Context(), bank.Source{Name: "embedded", FS: dockerbank.Bank, Root: dockerbank.BankRoot})
	if err != nil {
		t.Fatalf("open embedded bank: %v", err)
	}
	b.List() // loads every entry
	for _, p := range b.Problems {
		t.Errorf("embedded entry has a problem: %s", p)
	}
	return b
}

// TestEmbeddedBankLoads opens the bank as the binary does and expects every
// entry to load without a problem.
func TestEmbeddedBankLoads(t *testing.T) {
	b := openEmbedded(t)
	var ids []string
	for _, e := range b.List() {
		ids = append(ids, e.ID)
	}
	for _, id := range wantEntries {
		if !slices.Contains(ids, id) {
			t.Errorf("embedded bank lacks entry %s (has %v)", id, ids)
		}
	}
	dirs, err := fs.ReadDir(dockerbank.Bank, dockerbank.BankRoot)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != len(ids) {
		t.Errorf("%d entry directories but %d entries loaded", len(dirs), len(ids))
	}
}

// TestEmbeddedBankRules checks operating rules the validator leaves to
// curation: health checks, unpublished databases, backups, limits, secrets.
func TestEmbeddedBankRules(t *testing.T) {
	b := openEmbedded(t)
	for _, e := range b.List() {
		t.Run(e.ID, func(t *testing.T) {
			fsys, dir, err := b.Files(e.ID)
			if err != nil {
				t.Fatal(err)
			}
			checkEntryMetadata(t, e, fsys, dir)
			// Every entry says how its data is fingerprinted as the
			// application sees it, also where it cannot run here.
			// Not infrastructure: its data is its tenants', fingerprinted in
			// their groups.
			if len(e.Fingerprint) == 0 && !e.IsInfrastructure() {
				t.Errorf("entry declares no fingerprint (entry.yaml fingerprint:, docs/bank-format.md)")
			}
			for _, r := range e.Requires {
				if _, err := b.Get(r); err != nil {
					t.Errorf("requires %s, which the bank lacks", r)
				}
			}
			for _, c := range e.Checks.PostDeploy {
				if len(c.Exec) == 0 || c.Exec[0] == "" {
					t.Errorf("check %s runs no command", c.Name)
				}
			}
			tmp := t.TempDir()
			sub, err := fs.Sub(fsys, dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.CopyFS(tmp, sub); err != nil {
				t.Fatal(err)
			}
			// Every version that names its own compose files is checked
			// with them; versions sharing files are checked once.
			seen := map[string]bool{}
			for _, ver := range e.Versions {
				for _, v := range append([]bank.Variant{{}}, e.Variants...) {
					files := e.ComposeFilesOf(ver, v)
					key := strings.Join(files, ",") + "|" + strings.Join(v.Profiles, ",")
					if seen[key] {
						continue
					}
					seen[key] = true
					p, err := bank.LoadProject(t.Context(), bank.LoadOptions{
						Dir: tmp, Files: files, Name: e.ID, Env: e.ParamEnv(nil), Profiles: v.Profiles,
					})
					if err != nil {
						t.Fatalf("version %s variant %q: load project: %v", ver.Version, v.Name, err)
					}
					m, err := bank.Model(p)
					if err != nil {
						t.Fatal(err)
					}
					checkServices(t, p, m)
					checkShellScripts(t, p)
					checkVolumes(t, m)
					checkSecrets(t, p, m)
				}
				files := e.ComposeFilesOf(ver, bank.Variant{})
				if seen[strings.Join(files, ",")] {
					continue
				}
				seen[strings.Join(files, ",")] = true
				checkLint(t, e, tmp, files)
				for _, f := range files {
					data, err := fs.ReadFile(fsys, path.Join(dir, f))
					if err != nil {
						t.Fatal(err)
					}
					checkComposeText(t, e, f, string(data))
				}
			}
		})
	}
}

func checkEntryMetadata(t *testing.T, e *bank.Entry, fsys fs.FS, dir string) {
	t.Helper()
	// Infrastructure entries (a database server for tenants) run the
	// locally built server image only.
	if e.ID != "demo" && !e.IsInfrastructure() && len(e.Versions) < 2 {
		t.Errorf("entry has %d version(s); keep at least two upstream releases", len(e.Versions))
	}
	if strings.TrimSpace(e.Curation.Notes) == "" {
		t.Errorf("curation notes are empty; name the upstream pages the entry was checked against")
	}
	for _, v := range e.Versions {
		for svc, ref := range v.Images {
			if strings.HasSuffix(ref, ":latest") || !bank.HasTag(ref) {
				t.Errorf("version %s: service %s image %q is not pinned", v.Version, svc, ref)
			}
		}
		for svc, bld := range v.Build {
			df := bld.Dockerfile
			if df == "" {
				df = "Dockerfile"
			}
			if _, err := fs.Stat(fsys, path.Join(dir, bld.Context, df)); err != nil {
				t.Errorf("version %s: service %s builds from %s/%s, which the entry lacks", v.Version, svc, bld.Context, df)
			}
		}
	}
	if e.Distribution.Mode == bank.BuildLocally {
		for _, v := range e.Versions {
			if len(v.Build) == 0 {
				t.Errorf("build-locally entry: version %s builds no image", v.Version)
			}
		}
	}
}

func checkServices(t *testing.T, p *types.Project, m *bank.ComposeModel) {
	t.Helper()
	for name, s := range p.Services {
		meta := m.Services[name]
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
			t.Errorf("service %s (%s) has no health check", name, meta.Role)
		}
		if s.Restart == "" || s.Restart == "no" {
			t.Errorf("service %s has no restart policy", name)
		}
		if s.Logging == nil || s.Logging.Driver != "json-file" || s.Logging.Options["max-size"] == "" || s.Logging.Options["max-file"] == "" {
			t.Errorf("service %s does not rotate its json-file log (max-size, max-file)", name)
		}
		if s.Deploy == nil || s.Deploy.Resources.Limits == nil || s.Deploy.Resources.Limits.MemoryBytes <= 0 {
			t.Errorf("service %s has no memory limit", name)
		}
		for _, port := range s.Ports {
			if meta.Role == bank.RoleDatabase {
				t.Errorf("database service %s publishes port %d", name, port.Target)
			}
			if engine, ok := databasePorts[port.Target]; ok {
				t.Errorf("service %s publishes the %s port %d", name, engine, port.Target)
			}
			if port.HostIP != "127.0.0.1" {
				t.Errorf("service %s publishes port %d on %q by default; bind to 127.0.0.1 through a parameter", name, port.Target, port.HostIP)
			}
		}
		for dep, d := range s.DependsOn {
			if m.Services[dep].Role == bank.RoleDatabase && d.Condition != types.ServiceConditionHealthy {
				t.Errorf("service %s depends on database %s without condition service_healthy", name, dep)
			}
		}
	}
}

func checkVolumes(t *testing.T, m *bank.ComposeModel) {
	t.Helper()
	for name, v := range m.Volumes {
		if v.Class == bank.ClassUserdata && (v.Backup == "" || v.Backup == bank.BackupNone) {
			t.Errorf("userdata volume %s has no backup method", name)
		}
		if v.Class == bank.ClassUserdata && v.Quiesce == "" {
			t.Errorf("userdata volume %s does not say how to quiesce (none, readonly, pause, stop)", name)
		}
		if len(v.Mounts) == 0 {
			t.Errorf("volume %s is mounted by no service", name)
		}
	}
}

// secretish matches environment variables that carry credentials.
var secretish = regexp.MustCompile(`(?i)(password|passwd|secret|salt|token|api_?key)`)

func checkSecrets(t *testing.T, p *types.Project, m *bank.ComposeModel) {
	t.Helper()
	for name, s := range p.Secrets {
		meta, ok := m.Secrets[name]
		if !ok || meta.Length < 16 {
			t.Errorf("secret %s is not generated with at least 16 characters", name)
		}
		if s.Environment != bank.SecretEnv(name) {
			t.Errorf("secret %s comes from %q, want environment %s", name, s.Environment, bank.SecretEnv(name))
		}
	}
	for name, s := range p.Services {
		for key, val := range s.Environment {
			if !secretish.MatchString(key) || val == nil {
				continue
			}
			// *_FILE and Orthanc's *_SECRET name a file under /run/secrets.
			if strings.HasSuffix(key, "_FILE") || strings.HasSuffix(key, "_SECRET") {
				if _, ok := p.Secrets[path.Base(*val)]; !ok {
					t.Errorf("service %s: %s=%s names no secret of the entry", name, key, *val)
				}
				continue
			}
			t.Errorf("service %s: %s has a literal value; pass it as a secret file", name, key)
		}
	}
}

// interpolation finds ${NAME...} (not $${...}, which compose leaves to the shell).
var interpolation = regexp.MustCompile(`(^|[^$])\$\{([A-Za-z_][A-Za-z0-9_]*)`)

func checkComposeText(t *testing.T, e *bank.Entry, file, text string) {
	t.Helper()
	params := map[string]bool{}
	for _, p := range e.Parameters {
		params[p.Name] = true
	}
	for _, m := range interpolation.FindAllStringSubmatch(text, -1) {
		name := m[2]
		if strings.HasPrefix(name, "DOCKERBANK_SECRET_") {
			t.Errorf("%s interpolates the secret %s; use the secret's file instead", file, name)
			continue
		}
		if !params[name] {
			t.Errorf("%s interpolates ${%s}, which entry.yaml does not declare as a parameter", file, name)
		}
	}
	if strings.Contains(text, "version:") && regexp.MustCompile(`(?m)^version:`).MatchString(text) {
		t.Errorf("%s has the obsolete top-level version key", file)
	}
	if regexp.MustCompile(`(?m)^\s+container_name:`).MatchString(text) {
		t.Errorf("%s fixes a container_name, which blocks a second instance", file)
	}
}

// checkLint runs dockerbank's compose linter over the entry with its
// parameter defaults: the embedded bank has no high finding.
func checkLint(t *testing.T, e *bank.Entry, dir string, composeFiles []string) {
	t.Helper()
	env := map[string]string{}
	for _, kv := range e.ParamEnv(nil) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	var files []string
	for _, f := range composeFiles {
		files = append(files, path.Join(dir, f))
	}
	r, err := lint.Check(t.Context(), lint.Options{Files: files, ProjectDir: dir, Environment: env})
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, f := range r.Findings {
		if f.Severity >= lint.SeverityHigh && f.Suppression == nil {
			t.Errorf("lint finding %s (%s) %s: %s", f.Rule, f.Severity, f.Service, f.Message)
		}
	}
}

// checkShellScripts parses (sh -n / bash -n) every script an entry hands to
// a shell: entrypoint wrappers, commands and health checks.
func checkShellScripts(t *testing.T, p *types.Project) {
	t.Helper()
	for name, s := range p.Services {
		var argvs [][]string
		argvs = append(argvs, s.Entrypoint, s.Command)
		if s.HealthCheck != nil && len(s.HealthCheck.Test) > 1 {
			switch s.HealthCheck.Test[0] {
			case "CMD-SHELL":
				argvs = append(argvs, []string{"/bin/sh", "-c", s.HealthCheck.Test[1]})
			case "CMD":
				argvs = append(argvs, s.HealthCheck.Test[1:])
			}
		}
		for _, argv := range argvs {
			if len(argv) < 3 || argv[1] != "-c" {
				continue
			}
			shell := path.Base(argv[0])
			if shell != "sh" && shell != "bash" {
				continue
			}
			bin, err := exec.LookPath(shell)
			if err != nil {
				t.Logf("%s not installed; script of service %s not parsed", shell, name)
				continue
			}
			if out, err := exec.Command(bin, "-n", "-c", argv[2]).CombinedOutput(); err != nil {
				t.Errorf("service %s: %s script does not parse: %v: %s\n%s", name, shell, err, out, argv[2])
			}
		}
	}
}

// upstreamEntries are the embedded entries whose images cannot be pulled or
// built here: their image facts must be recorded with upstream sources.
var upstreamEntries = []string{"blaze", "hapi-fhir", "keycloak", "ohdsi", "redcap"}

// TestEmbeddedUpstreamEntriesRecordFacts: every image of every version of
// the upstream entries has recorded facts with a source, and the entries
// were checked against them (the bank loaded, so they passed).
func TestEmbeddedUpstreamEntriesRecordFacts(t *testing.T) {
	b := openEmbedded(t)
	for _, id := range upstreamEntries {
		t.Run(id, func(t *testing.T) {
			e, err := b.Get(id)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range e.Versions {
				for svc, img := range v.Images {
					r, ok := e.Record(img)
					if !ok {
						t.Errorf("version %s service %s: image %s has no curation.images record", v.Version, svc, img)
						continue
					}
					if len(strings.Fields(r.Source)) < 3 || len(r.Executables) == 0 {
						t.Errorf("record of %s lacks a source naming files, or executables: %+v", img, r)
					}
				}
			}
			if len(e.Facts) == 0 {
				t.Fatal("no image facts were checked")
			}
			for _, f := range e.Facts {
				if f.From != "record" {
					t.Errorf("version %s service %s: facts from %q, want the record", f.Version, f.Service, f.From)
				}
			}
		})
	}
}
