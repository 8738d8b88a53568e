package freeze

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/dockerbank/dockerbank/internal/audit"
	"github.com/dockerbank/dockerbank/internal/instance/label"
)

// Options are what the user asked for.
type Options struct {
	Instance, Service string
	// To is the archive file to write; it must not exist unless Force.
	To    string
	Force bool
	// AllowData writes the archive although the top layer holds data or
	// secrets; Reason is then required and journaled.
	AllowData bool
	Reason    string
	// Now is the freeze time; zero means time.Now().
	Now time.Time
}

// Validate returns every problem of the options at once.
func (o Options) Validate() error {
	var errs []error
	if o.Instance == "" || o.Service == "" {
		errs = append(errs, errors.New("name the instance and the service to freeze"))
	}
	if strings.TrimSpace(o.To) == "" {
		errs = append(errs, errors.New("--to FILE is required: the archive to write"))
	}
	if o.AllowData && strings.TrimSpace(o.Reason) == "" {
		errs = append(errs, errors.New("--allow-data needs --reason TEXT: the journal records why data may leave in the archive"))
	}
	if !o.AllowData && o.Reason != "" {
		errs = append(errs, errors.New("--reason is only for --allow-data"))
	}
	return errors.Join(errs...)
}

// Source is the container being frozen, as observed.
type Source struct {
	ContainerID string
	Labels      map[string]string // the container's labels
	Image       string            // the image reference it runs
	ImageID     string
	ImageLabels map[string]string
}

// Tag is the reference the committed image gets:
// dockerbank-frozen/INSTANCE-SERVICE:20261207T083000Z.
func Tag(instance, service string, at time.Time) string {
	return fmt.Sprintf("dockerbank-frozen/%s-%s:%s", strings.ToLower(instance), strings.ToLower(service), at.UTC().Format("20060102T150405Z"))
}

// Labels are the labels of the frozen image. The engine's commit copies
// every label of the container into the image and cannot drop one, so the
// labels the deployment put on the container (compose's project and
// service, dockerbank's instance, ...) are overridden with empty values: a
// container run from the frozen image must not pass for a container of the
// instance (compose down, ps and backups select by them). The source
// image's own labels stay, and the frozen.* labels say where from and when.
func Labels(src Source, o Options, at time.Time) map[string]string {
	out := map[string]string{}
	for k, v := range src.Labels {
		if iv, ok := src.ImageLabels[k]; !ok || iv != v {
			out[k] = ""
		}
	}
	maps.Copy(out, src.ImageLabels)
	out[label.FrozenInstance] = o.Instance
	out[label.FrozenService] = o.Service
	out[label.FrozenImage] = src.Image
	out[label.FrozenImageID] = src.ImageID
	out[label.FrozenContainer] = src.ContainerID
	out[label.FrozenAt] = at.UTC().Format(time.RFC3339)
	if o.AllowData {
		out[label.FrozenAllowData] = o.Reason
	}
	return out
}

// Decision is what the audit of the top layer means for the freeze.
type Decision struct {
	// Blocking are the data and secret findings that refuse the freeze
	// (or that --allow-data let through).
	Blocking []audit.Finding
	// Write is whether the archive is written.
	Write bool
}

// Decide is the pure decision on the top layer's findings.
func Decide(top *audit.TopLayerReport, o Options) Decision {
	b := audit.Blocking(top.Findings)
	return Decision{Blocking: b, Write: len(b) == 0 || o.AllowData}
}

// Paths lists the places of findings for messages and the journal:
// "/tmp/export/patients.csv (DBK-DATA-006 high: CSV with ...)", "image
// config (DBK-DATA-002 ...: ... in ENV DB_PASSWORD)".
func Paths(fs []audit.Finding) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		where := "/" + f.Path
		if f.Path == "" {
			where = "image config"
		}
		out = append(out, fmt.Sprintf("%s (%s %s: %s)", where, f.Rule, f.Severity, f.Message))
	}
	return out
}
