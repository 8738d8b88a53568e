package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/instance/label"
)

func (a *app) buildCommand() *cobra.Command {
	var o deploy.BuildSourceOptions
	var buildArgs []string
	c := &cobra.Command{
		Use:   "build ENTRY --source FILE [--version V]",
		Short: "Build the images of a build-locally entry from your own licensed copy",
		Long: `Build the images of an entry whose software may not be redistributed
(distribution: build-locally, e.g. REDCap) from the file you downloaded under
your own licence. The entry's build directory and your file (as source.zip,
source.tar.gz, ...) form the build context. The images are labelled
` + label.Redistributable + `=false with the entry, version, licence and the
sha256 of your file; dockerbank push refuses them. Never push them to a
public registry.`,
		Example: `  dockerbank build redcap --source ~/Downloads/redcap15.5.3.zip --version 15
  dockerbank build redcap --source redcap16.0.2.zip --build-arg BASE_IMAGE=registry.local/php:8.3-apache`,
		GroupID: "bank",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Entry = args[0]
			o.BuildArgs = map[string]string{}
			for _, kv := range buildArgs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageError{fmt.Errorf("--build-arg %q is not KEY=VALUE", kv)}
				}
				o.BuildArgs[k] = v
			}
			if abs, err := filepath.Abs(o.Source); err == nil {
				o.Source = abs
			}
			m, err := a.manager(cmd, args)
			if err != nil {
				return err
			}
			res, err := m.BuildSource(cmd.Context(), o)
			if err != nil {
				return err
			}
			const warning = "contains licensed code that may not be redistributed: keep it on this host or in a private registry of licensees; never push it to a public registry"
			if a.json {
				return a.printJSON(struct {
					*deploy.BuildSourceResult
					Warning string `json:"warning"`
				}{res, warning})
			}
			out := a.streams.Out
			for _, im := range res.Images {
				fmt.Fprintf(out, "built %s for %s of %s %s\n", im.Image, strings.Join(im.Services, ", "), res.Entry, res.Version)
			}
			src := filepath.Base(res.Source)
			if res.SourceVersion != "" {
				src += " (" + res.Entry + " " + res.SourceVersion + ")"
			}
			fmt.Fprintf(out, "source   %s sha256 %s\n", src, res.SourceSHA256)
			fmt.Fprintf(out, "labels   %s=false, %s=%s\n", label.Redistributable, label.Licence, res.Licence)
			fmt.Fprintf(out, "WARNING: the image %s.\n", warning)
			fmt.Fprintf(out, "next:    dockerbank deploy %s --version %s\n", res.Entry, res.Version)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&o.Source, "source", "", "your copy of the software (for REDCap: the zip from the consortium site)")
	f.StringVar(&o.Version, "version", "", "entry version to build (default: the entry's default version)")
	f.StringArrayVar(&buildArgs, "build-arg", nil, "KEY=VALUE build argument, e.g. BASE_IMAGE from a site mirror (repeatable)")
	f.StringVar(&o.Tag, "tag", "", "image reference instead of the entry's (e.g. a private registry name)")
	_ = c.MarkFlagRequired("source")
	return c
}
