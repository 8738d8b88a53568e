package observe

import (
	"context"

	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/site"
)

// ServiceView is what `inspect` shows of one container: its description
// with secrets redacted, each mount with the class of its volume.
type ServiceView struct {
	Service string `json:"service"`
	Role    string `json:"role,omitempty"`
	engine.Description
	Mounts []MountView `json:"mounts"`
}

// MountView is a mount with its volume's dockerbank class and backup method.
type MountView struct {
	engine.Mount
	Class  string `json:"class,omitempty"`  // userdata, config, cache, temp
	Backup string `json:"backup,omitempty"` // how the volume is backed up
}

// Inspect describes the containers of an instance (or of one service),
// redacting secrets: values of secret-like keys and any value holding one
// of the instance's generated secrets.
func Inspect(ctx context.Context, e *engine.Engine, s *site.Site, instance, service string) ([]ServiceView, error) {
	cs, err := Containers(ctx, e, s, instance, service)
	if err != nil {
		return nil, err
	}
	secrets, err := s.Secrets(instance)
	if err != nil {
		return nil, err
	}
	vols, err := e.Volumes(ctx, false)
	if err != nil {
		return nil, err
	}
	byName := map[string]engine.Volume{}
	for _, v := range vols {
		byName[v.Name] = v
	}
	var out []ServiceView
	for _, c := range cs {
		d, err := e.Describe(ctx, c.ID)
		if err != nil {
			return nil, err
		}
		d.Env = RedactEnv(d.Env, secrets)
		if d.Health != nil {
			d.Health.LastOutput = RedactText(d.Health.LastOutput, secrets)
		}
		d.Cmd = redactArgs(d.Cmd, secrets)
		d.Entrypoint = redactArgs(d.Entrypoint, secrets)
		v := ServiceView{Service: c.Service, Role: c.Labels[label.Role], Description: d}
		for _, m := range d.Mounts {
			mv := MountView{Mount: m}
			if vol, ok := byName[m.Name]; ok {
				mv.Class, mv.Backup = vol.Labels[label.Class], vol.Labels[label.Backup]
			}
			v.Mounts = append(v.Mounts, mv)
		}
		out = append(out, v)
	}
	return out, nil
}

func redactArgs(args []string, secrets map[string]string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = RedactText(a, secrets)
	}
	return out
}
