package instance

import (
	"path/filepath"
	"sort"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/site"
)

// RenderedFile is the compose file of an instance in its directory, written
// by deploy and read by every later operation. It holds no secret values:
// they come from the site's secrets as environment (Rendered).
const RenderedFile = "compose.yaml"

// Project is what loads an instance's rendered project: its name, its
// directory and compose file, and the environment that fills in its
// secrets. Its loaders differ (the engine's for up, bank's for lint and
// export); what they load is this.
type Project struct {
	Name string
	Dir  string
	// File is the absolute path of the rendered compose file.
	File string
	// Env holds the secrets by environment variable (bank.SecretEnv).
	Env map[string]string
}

// Rendered returns the rendered project of the site's instance, with its
// secrets read from the site.
func Rendered(s *site.Site, name string) (Project, error) {
	secrets, err := s.Secrets(name)
	if err != nil {
		return Project{}, err
	}
	env := make(map[string]string, len(secrets))
	for k, v := range secrets {
		env[bank.SecretEnv(k)] = v
	}
	dir := s.InstanceDir(name)
	return Project{Name: name, Dir: dir, File: filepath.Join(dir, RenderedFile), Env: env}, nil
}

// EnvList is Env as KEY=VALUE, sorted.
func (p Project) EnvList() []string {
	out := make([]string, 0, len(p.Env))
	for k, v := range p.Env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
