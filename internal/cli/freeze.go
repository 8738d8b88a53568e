package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dockerbank/dockerbank/internal/freeze"
	"github.com/dockerbank/dockerbank/internal/instance/label"
	"github.com/dockerbank/dockerbank/internal/observe"
)

func (a *app) freezeCommand() *cobra.Command {
	var o freeze.Options
	c := &cobra.Command{
		Use:   "freeze INSTANCE SERVICE --to FILE",
		Short: "Commit a service container to an image and write it to a docker save archive, unless its writable layer holds data",
		Long: `freeze commits the container of SERVICE (paused for the commit only) to an
image tagged dockerbank-frozen/INSTANCE-SERVICE:TIMESTAMP, audits the new top
layer (the container's writable layer: everything written outside volumes
since it was created) with the image audit's data and secret detectors, and
writes a ` + "`docker save`" + ` archive of the image to FILE (through FILE.partial, so a
half archive is never left). The image carries labels saying what it was
frozen from and when (` + label.FrozenInstance + `, ...).

Patient data, database files, dumps, credentials or secret tokens in the top
layer refuse the freeze (exit 6): the paths are listed, no file is written
and the image is removed again. --allow-data --reason TEXT writes it anyway
and the journal records who, what, the reason and the paths. Every freeze is
journaled, refused or done. The written image stays in the engine, where
` + "`dockerbank push`" + ` still refuses it when its top layer holds data.`,
		Example: `  dockerbank freeze demo app --to demo-app.tar
  dockerbank freeze demo app --to case-42.tar --allow-data --reason "ticket 42: vendor needs the failing state"`,
		GroupID: "watch",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			o.Instance, o.Service = args[0], args[1]
			if err := o.Validate(); err != nil {
				return usageError{err}
			}
			s, err := a.openSite()
			if err != nil {
				return err
			}
			e, err := a.openEngine(ctx)
			if err != nil {
				return err
			}
			cs, err := observe.Containers(ctx, e, s, o.Instance, o.Service)
			if err != nil {
				return err
			}
			ct, err := e.Inspect(ctx, cs[0].ID)
			if err != nil {
				return err
			}
			src := freeze.Source{ContainerID: ct.ID, ImageID: ct.Image}
			if ct.Config != nil {
				src.Labels, src.Image = ct.Config.Labels, ct.Config.Image
			}
			if src.ImageLabels, err = e.ImageLabels(ctx, ct.Image); err != nil {
				return err
			}
			res, err := freeze.Run(ctx, e, s, a, src, o)
			if a.json && res != nil {
				if jerr := a.printJSON(res); jerr != nil && err == nil {
					err = jerr
				}
			}
			if err != nil {
				return err
			}
			if !a.json {
				fmt.Fprintf(a.streams.Out, "froze %s/%s to %s (%s, image %s, %s)\n", o.Instance, o.Service, res.File, bytesIEC(uint64(res.Size)), res.Image, res.ImageID)
				if res.AllowedBy != "" {
					fmt.Fprintf(a.streams.Out, "data in its top layer, allowed (reason %q, journaled):\n", res.AllowedBy)
					for _, p := range freeze.Paths(res.Findings) {
						fmt.Fprintf(a.streams.Out, "  %s\n", p)
					}
				}
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&o.To, "to", "", "archive file to write (docker save format)")
	f.BoolVar(&o.Force, "force", false, "replace FILE if it exists")
	f.BoolVar(&o.AllowData, "allow-data", false, "write the archive although the top layer holds data or secrets (needs --reason)")
	f.StringVar(&o.Reason, "reason", "", "why data may leave in the archive (recorded in the journal and on the image)")
	return c
}

// errNoShell means the container has no /bin/sh for `dockerbank shell`.
var errNoShell = errors.New("no shell in the container")
