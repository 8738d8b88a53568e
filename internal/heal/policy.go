package heal

import (
	"context"

	"github.com/dockerbank/dockerbank/internal/schedule"
	"github.com/dockerbank/dockerbank/internal/site"
)

// SiteModes resolves an instance's heal mode from its entry's (entryMode)
// and the site's settings (site.yaml heal.default, heal.instances), read
// at every call so that an edit applies without restarting serve.
func SiteModes(s *site.Site, entryMode func(ctx context.Context, in *site.Instance) (string, error)) func(context.Context, *site.Instance) (Mode, error) {
	return func(ctx context.Context, in *site.Instance) (Mode, error) {
		cfg, err := s.Config()
		if err != nil {
			return "", err
		}
		var entry string
		if entryMode != nil {
			if entry, err = entryMode(ctx, in); err != nil {
				return "", err
			}
		}
		m, _, err := schedule.ResolveHeal(
			schedule.HealLayer{Name: "entry", Mode: entry},
			schedule.HealLayer{Name: "site default", Mode: cfg.Heal.Default},
			schedule.HealLayer{Name: "site instance", Mode: cfg.Heal.Instances[in.Name]})
		return m, err
	}
}
