package deploy

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/site"
)

// VolumeInfo is a volume as dockerbank sees it.
type VolumeInfo struct {
	engine.Volume
	Instance   string `json:"instance,omitempty"`
	Class      string `json:"class,omitempty"`
	Backup     string `json:"backup,omitempty"`
	LastBackup string `json:"lastBackup,omitempty"`
	// Orphaned is why the volume has no owner: "removed instance" for a
	// dockerbank volume whose instance is gone, "anonymous" for an unnamed
	// volume no container uses; empty for owned volumes.
	Orphaned string `json:"orphaned,omitempty"`
	// Where says where the volume's data lives: "engine default", "bind
	// DIR", "nfs ADDR:/EXPORT", "cifs //SERVER/SHARE" or the driver and its
	// options (never a password).
	Where string `json:"where"`
}

var anonymousRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Volumes lists dockerbank's volumes with their instance, class, size and
// last backup, plus anonymous volumes that no container uses.
func (m *Manager) Volumes(ctx context.Context, orphanedOnly bool) ([]VolumeInfo, error) {
	vols, err := m.Engine.Volumes(ctx, true)
	if err != nil {
		return nil, err
	}
	ins, err := m.Site.Instances()
	if err != nil {
		return nil, err
	}
	siteID, err := m.Site.ID()
	if err != nil {
		return nil, err
	}
	byName := map[string]*site.Instance{}
	for _, in := range ins {
		byName[in.Name] = in
	}
	var out []VolumeInfo
	for _, v := range vols {
		vi := VolumeInfo{Volume: v, Instance: v.Labels[label.Instance], Class: v.Labels[label.Class], Backup: v.Labels[label.Backup]}
		switch {
		case vi.Instance != "" && v.Labels[label.Site] != siteID:
			continue // another site's volume
		case vi.Instance != "":
			if in, ok := byName[vi.Instance]; ok {
				if !in.LastBackup.IsZero() {
					vi.LastBackup = in.LastBackup.Format("2006-01-02 15:04Z")
				}
			} else {
				vi.Orphaned = "removed instance"
			}
		case anonymousRE.MatchString(v.Name) && v.Labels[engine.LabelVolume] == "" && v.RefCount == 0:
			vi.Orphaned = "anonymous"
		default:
			continue // not dockerbank's
		}
		if orphanedOnly && vi.Orphaned == "" {
			continue
		}
		vi.Where = site.DescribeDriver(v.Driver, v.Options)
		if len(v.Options) > 0 {
			vi.Options = make(map[string]string, len(v.Options))
			for k, o := range v.Options {
				vi.Options[k] = site.MaskPassword(o)
			}
		}
		out = append(out, vi)
	}
	return out, nil
}

// GC removes the temp and cache volumes of removed instances, and the
// anonymous volumes earlier versions left that provably hold nothing
// written by anyone (see pristineAnonymous). It never removes userdata or
// config volumes, nor other anonymous ones.
func (m *Manager) GC(ctx context.Context) ([]string, error) {
	var removed []string
	err := m.locked(ctx, func() error {
		vols, err := m.Volumes(ctx, true)
		if err != nil {
			return err
		}
		for _, v := range vols {
			if v.Orphaned != "removed instance" || (v.Class != bank.ClassTemp && v.Class != bank.ClassCache) || v.RefCount != 0 {
				continue
			}
			m.step("remove %s volume %s of removed instance %s", v.Class, v.Name, v.Instance)
			if err := m.Engine.RemoveVolume(ctx, v.Name); err != nil {
				return m.finish("", err, "")
			}
			removed = append(removed, v.Name)
		}
		var images []string
		if m.Bank != nil {
			for _, e := range m.Bank.List() {
				for _, v := range e.Versions {
					for _, img := range v.Images {
						if !slices.Contains(images, img) {
							images = append(images, img)
						}
					}
				}
			}
		}
		anon, err := m.pristineAnonymous(ctx, vols, images)
		if err != nil {
			return m.finish("", err, "")
		}
		for _, v := range anon {
			m.step("remove anonymous volume %s: unused, and holds only what an image of the bank put there", v)
			if err := m.Engine.RemoveVolume(ctx, v); err != nil {
				return m.finish("", err, "")
			}
			removed = append(removed, v)
		}
		return m.finish("", nil, "gc removed "+joinOrNone(removed))
	})
	return removed, err
}

func joinOrNone(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, ", ")
}
