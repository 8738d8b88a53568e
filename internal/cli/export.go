package cli

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/spf13/cobra"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/instance"
	"github.com/dockerbank/dockerbank/internal/kube"
	"github.com/dockerbank/dockerbank/internal/site"
)

func (a *app) exportCommand() *cobra.Command {
	c := &cobra.Command{
		Use:     "export",
		Short:   "Export an instance or an entry to another engine",
		GroupID: "instances",
	}
	c.AddCommand(a.exportK8sCommand())
	return c
}

type exportK8sOptions struct {
	version        string
	namespace      string
	helm           bool
	out            string
	lossy          bool
	includeSecrets bool
	toolImage      string
	volumeSize     string
	schedule       string
}

func (a *app) exportK8sCommand() *cobra.Command {
	var o exportK8sOptions
	c := &cobra.Command{
		Use:   "k8s INSTANCE|ENTRY",
		Short: "Write Kubernetes manifests or a Helm chart for an instance or an entry",
		Long: `export k8s renders an instance of the site (or, when no instance has that name,
an entry of the bank) as Kubernetes objects: a StatefulSet with
volumeClaimTemplates per database, a Deployment per other service, headless
Services that keep the compose service names resolvable, Secrets (never
ConfigMaps) for secrets, claims labelled with their class, a NetworkPolicy per
compose network, and a CronJob per userdata volume that runs its backup method.

Every compose key without a faithful Kubernetes form is an error naming the
service and the key (exit code 6); --allow-lossy exports without them and
lists them in README.md. docs/kube.md has the table of every key.

Secret values: an entry export writes each Secret empty, with the command to
fill it. An instance export references Secrets you create from the site's
files, unless --include-secrets writes the site's values into the Secrets
(the files are then mode 0600).`,
		Example: `  dockerbank export k8s demo --out demo-k8s
  dockerbank export k8s my-redcap --namespace research --helm --out chart/
  dockerbank export k8s demo --include-secrets --out - | kubectl apply -f -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.exportK8s(cmd, args[0], o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.version, "version", "", "entry version (entry export; default: the entry's default version)")
	f.StringVar(&o.namespace, "namespace", "", "namespace of every object (default: the instance or entry name)")
	f.BoolVar(&o.helm, "helm", false, "write a Helm chart (Chart.yaml, values.yaml, templates/) instead of plain manifests")
	f.StringVar(&o.out, "out", "", "output directory (default: NAME-k8s, or NAME-chart with --helm); - prints one multi-document YAML stream")
	f.BoolVar(&o.lossy, "allow-lossy", false, "export even when compose keys cannot be expressed; they are listed as warnings")
	f.BoolVar(&o.includeSecrets, "include-secrets", false, "instance export: write the site's secret values into the Secrets")
	f.StringVar(&o.toolImage, "tool-image", "busybox:1.36", "image of the init containers and file backups (sh, nslookup, tar)")
	f.StringVar(&o.volumeSize, "volume-size", "10Gi", "storage requested by every claim")
	f.StringVar(&o.schedule, "backup-schedule", "30 2 * * *", "cron schedule of the backup jobs")
	return c
}

func (a *app) exportK8s(cmd *cobra.Command, name string, eo exportK8sOptions) error {
	ctx := cmd.Context()
	b, err := a.openBank(ctx)
	if err != nil {
		return err
	}
	opts := kube.Options{Instance: name, Namespace: eo.namespace, Lossy: eo.lossy,
		ToolImage: eo.toolImage, VolumeSize: eo.volumeSize, BackupSchedule: eo.schedule}
	var man *kube.Manifests
	in, s, err := a.findInstance(name)
	switch {
	case err != nil:
		return err
	case in != nil:
		if eo.version != "" && eo.version != in.Version {
			return usageError{fmt.Errorf("instance %s runs version %s; --version applies to entry exports", name, in.Version)}
		}
		opts.Entry, opts.Version, opts.Secrets = in.Entry, in.Version, kube.SecretsExisting
		if e, err := b.Get(in.Entry); err == nil {
			opts.Distribution = e.Distribution.Mode
		}
		r, err := instance.Rendered(s, name)
		if err != nil {
			return err
		}
		var env []string // without --include-secrets no value is loaded
		if eo.includeSecrets {
			opts.Secrets = kube.SecretsInclude
			if opts.SecretValues, err = s.Secrets(name); err != nil {
				return err
			}
			env = r.EnvList()
		}
		p, err := bank.LoadProject(ctx, bank.LoadOptions{Dir: r.Dir, Files: []string{r.File}, Name: name, Env: env})
		if err != nil {
			return fmt.Errorf("load instance %s: %w", name, err)
		}
		if opts.Shared, err = sharedForKube(b, s, in, p); err != nil {
			return err
		}
		m, err := bank.Model(p)
		if err != nil {
			return err
		}
		if man, err = kube.Convert(p, m, opts); err != nil {
			return err
		}
	default:
		if eo.includeSecrets {
			return usageError{errors.New("--include-secrets needs an instance: an entry has no secret values")}
		}
		e, err := b.Get(name)
		if err != nil {
			return fmt.Errorf("%w; and no instance of the site is named %s", err, name)
		}
		fsys, dir, err := b.Files(e.ID)
		if err != nil {
			return err
		}
		work, err := os.MkdirTemp("", "dockerbank-export-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(work)
		p, ver, err := kube.EntryProject(ctx, fsys, dir, work, e, eo.version, "", nil)
		if err != nil {
			return err
		}
		m, err := bank.Model(p)
		if err != nil {
			return err
		}
		opts.Entry, opts.Version, opts.Secrets = e.ID, ver.Version, kube.SecretsEmpty
		opts.Distribution = e.Distribution.Mode
		if man, err = kube.Convert(p, m, opts); err != nil {
			return err
		}
	}
	return a.writeExport(man, name, eo)
}

// findInstance returns the instance of that name, or nil when the site has
// none (or no site exists).
func (a *app) findInstance(name string) (*site.Instance, *site.Site, error) {
	s, err := a.openSite()
	if err != nil {
		return nil, nil, nil
	}
	in, err := s.Instance(name)
	if errors.Is(err, site.ErrNoInstance) {
		return nil, s, nil
	}
	return in, s, err
}

func (a *app) writeExport(man *kube.Manifests, name string, eo exportK8sOptions) error {
	var files []kube.File
	var err error
	if eo.helm {
		files, err = man.Helm()
	} else {
		files, err = man.Files()
	}
	if err != nil {
		return err
	}
	for _, w := range man.Warnings {
		fmt.Fprintf(a.streams.Err, "warning: not exported: %s\n", w)
	}
	if eo.out == "-" {
		for _, f := range files {
			if strings.HasSuffix(f.Path, ".yaml") && !eo.helm {
				fmt.Fprintf(a.streams.Out, "---\n%s", f.Data)
			}
		}
		return nil
	}
	dir := eo.out
	if dir == "" {
		dir = name + "-k8s"
		if eo.helm {
			dir = name + "-chart"
		}
	}
	if err := kube.WriteFiles(dir, files); err != nil {
		return err
	}
	if a.json {
		paths := make([]string, len(files))
		for i, f := range files {
			paths[i] = filepath.Join(dir, f.Path)
		}
		return a.printJSON(map[string]any{"dir": dir, "files": paths, "warnings": man.Warnings, "notes": man.Notes})
	}
	fmt.Fprintf(a.streams.Out, "wrote %d files to %s (namespace %s)\n", len(files), dir, man.Options.Namespace)
	for _, n := range man.Notes {
		fmt.Fprintf(a.streams.Out, "note: %s\n", n)
	}
	return nil
}

// sharedForKube describes the shared servers an instance uses for the
// export and takes the link network (a Docker artefact) out of its
// project: in the cluster the service name resolves through an
// ExternalName Service instead.
func sharedForKube(b *bank.Bank, s *site.Site, in *site.Instance, p *types.Project) ([]kube.Shared, error) {
	var out []kube.Shared
	for _, svc := range slices.Sorted(maps.Keys(in.Uses)) {
		srv := in.Uses[svc]
		rec, err := s.Instance(srv)
		if err != nil {
			return nil, fmt.Errorf("instance %s uses %s: %w", in.Name, srv, err)
		}
		e, err := b.Get(rec.Entry)
		if err != nil {
			return nil, err
		}
		ssvc, _, ok := deploy.ServerService(e)
		if !ok {
			return nil, fmt.Errorf("instance %s uses %s, which is no infrastructure instance", in.Name, srv)
		}
		db, err := deploy.TenantIdent(in.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, kube.Shared{Service: svc, Server: srv, ServerService: ssvc, Database: db})
	}
	if len(out) > 0 {
		link := deploy.LinkNetworkKey
		delete(p.Networks, link)
		for name, sv := range p.Services {
			delete(sv.Networks, link)
			p.Services[name] = sv
		}
	}
	return out, nil
}
