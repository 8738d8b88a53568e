package dr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/progress"
	"github.com/dockerbank/dockerbank/internal/site"
)

// DefaultDrillPrefix is put before the names of drill instances.
const DefaultDrillPrefix = "drill-"

// DrillOptions controls Drill.
type DrillOptions struct {
	// Site is the production site: it is read, and its journal records
	// the drill; nothing else in it changes.
	Site   *site.Site
	Engine *engine.Engine
	// Bundle is an exported bundle to drill with its key; nil exports
	// the site now (with a one-time key) and drills that.
	Bundle *Bundle
	Key    Key
	Prefix string
	// Keep leaves the drill instances and their site running.
	Keep bool

	Dockerbank    string
	Report        progress.Reporter
	Command       string
	HealthTimeout time.Duration
	// Restore fills the backup parts of the restore (see BackupDefaults).
	Restore func(*RestoreOptions)
}

// DrillResult says what a drill proved.
type DrillResult struct {
	RestoreResult
	// Site is the throwaway site the drill instances were recovered into.
	Site    string   `json:"site"`
	Removed []string `json:"removed,omitempty"`
}

// Drill recovers the site's instances into throwaway instances (Prefix +
// name) of a throwaway site on the same engine, exactly as Restore would
// on a new host, then removes them with their volumes. Production
// instances are only read. The outcome is recorded in the site's journal.
func Drill(ctx context.Context, o DrillOptions) (*DrillResult, error) {
	if o.Prefix == "" {
		o.Prefix = DefaultDrillPrefix
	}
	start := time.Now()
	op := fmt.Sprintf("drill-%d", start.UnixNano())
	journal := func(outcome, detail string) error {
		return o.Site.Append(site.Record{Command: o.Command, Outcome: outcome, Detail: detail, Op: op})
	}
	res := &DrillResult{}
	err := func() error {
		b, key := o.Bundle, o.Key
		if b == nil {
			id, err := age.GenerateX25519Identity()
			if err != nil {
				return err
			}
			repo, err := RepositoryOf(o.Site)
			if err != nil {
				return err
			}
			data, _, err := Export(ctx, o.Site, o.Engine, ExportOptions{Key: Key{Recipient: id.Recipient().String()}, Repository: repo, Copies: CopiesOf(o.Site), Dockerbank: o.Dockerbank})
			if err != nil {
				return fmt.Errorf("export the site for the drill: %w", err)
			}
			if b, err = ReadBundle(bytes.NewReader(data)); err != nil {
				return fmt.Errorf("read back the drill's bundle: %w", err)
			}
			key = Key{Identities: []age.Identity{id}}
		}
		if err := journal("started", fmt.Sprintf("drill %d instance(s) as %s*", len(b.Manifest.Instances), o.Prefix)); err != nil {
			return err
		}
		dir, err := os.MkdirTemp("", "dockerbank-drill-")
		if err != nil {
			return fmt.Errorf("make drill site: %w", err)
		}
		res.Site = dir
		ds, err := site.Open(dir)
		if err != nil {
			return err
		}
		ro := RestoreOptions{Site: ds, Engine: o.Engine, Key: key, Prefix: o.Prefix, MarkVerified: true, FailOnDamage: true, EphemeralPorts: true,
			Report: o.Report, Command: o.Command, HealthTimeout: o.HealthTimeout}
		if o.Restore != nil {
			o.Restore(&ro)
		}
		if p := filepath.Join(o.Site.Dir, ro.KeyFileName); ro.KeyFileName != "" {
			if _, err := os.Stat(p); err == nil {
				ro.BackupKeyFile = p
			}
		}
		rr, rerr := Restore(ctx, b, ro)
		if rr != nil {
			res.RestoreResult = *rr
		}
		if !o.Keep {
			res.Removed, err = teardown(ctx, ds, o)
			rerr = errors.Join(rerr, err)
			if err == nil {
				os.RemoveAll(dir)
			}
		}
		return rerr
	}()
	res.Seconds = time.Since(start).Seconds()
	if err != nil {
		if jerr := journal("failed", err.Error()); jerr != nil {
			err = errors.Join(err, jerr)
		}
		return res, err
	}
	var parts []string
	for _, st := range res.Plan.Steps {
		g := "no data"
		if st.Group != "" {
			g = "group " + st.Group + " " + st.GroupState
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", st.Name, g))
	}
	return res, journal("ok", fmt.Sprintf("drill recovered %s in %.1fs; their groups are marked verified; drill instances removed", strings.Join(parts, ", "), res.Seconds))
}

// teardown removes the drill instances with their volumes.
func teardown(ctx context.Context, ds *site.Site, o DrillOptions) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	m := &deploy.Manager{Site: ds, Engine: o.Engine, Report: o.Report, Command: o.Command}
	ins, err := ds.Instances()
	if err != nil {
		return nil, err
	}
	// Instances that use a shared server go before it (rm refuses a
	// server in use).
	sort.SliceStable(ins, func(i, j int) bool { return len(ins[i].Uses) > 0 && len(ins[j].Uses) == 0 })
	var removed []string
	var errs []error
	for _, in := range ins {
		if !strings.HasPrefix(in.Name, o.Prefix) {
			continue
		}
		if _, err := m.Remove(ctx, in.Name, deploy.RemoveOptions{PurgeData: true, Confirm: in.Name, Force: true, Throwaway: true}); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, in.Name)
	}
	return removed, errors.Join(errs...)
}
