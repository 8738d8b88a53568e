package audit

import (
	"context"
	"fmt"
)

// TopLayerReport is the audit of an image's last layer only: for an image
// committed from a container (`dockerbank freeze`), the container's
// writable layer, which is all the commit added to the image it ran.
type TopLayerReport struct {
	ImageID   string `json:"imageId"`
	Layer     int    `json:"layer"`
	Digest    string `json:"digest"`
	Files     int    `json:"files"`
	Whiteouts int    `json:"whiteouts"` // files the container deleted: no data, only their names
	Bytes     int64  `json:"bytes"`
	// Findings are the data and secret findings in the layer, every
	// severity; Blocking picks those that refuse a freeze or push.
	Findings []Finding `json:"findings"`
}

// TopLayer audits the image src yields and keeps what its last layer holds.
func TopLayer(ctx context.Context, src Source, opts Options) (*TopLayerReport, error) {
	r, err := Image(ctx, src, opts)
	if err != nil {
		return nil, err
	}
	t, err := TopLayerOf(r)
	if err != nil {
		return nil, fmt.Errorf("audit top layer of %s: %w", src, err)
	}
	return t, nil
}

// TopLayerOf picks the last layer's data and secret findings from a full
// report, and those of the image configuration (Layer -1: ENV, CMD,
// labels), which a commit writes from the container's configuration, the
// deployment's environment included. It is pure. A file the top layer
// deletes (a whiteout) is no finding of the top layer: only its name is
// there, and the data stays in the layer below, which the source image owns.
func TopLayerOf(r *Report) (*TopLayerReport, error) {
	n := len(r.Image.Layers)
	if n == 0 {
		return nil, fmt.Errorf("image %s has no layers", r.Image.ID)
	}
	top := r.Image.Layers[n-1]
	t := &TopLayerReport{ImageID: r.Image.ID, Layer: top.Index, Digest: top.Digest,
		Files: top.Files, Whiteouts: top.Whiteouts, Bytes: top.Bytes, Findings: []Finding{}}
	for _, f := range r.Findings {
		if (f.Layer == top.Index || f.Layer < 0) && isDataRule(f.Rule) {
			t.Findings = append(t.Findings, f)
		}
	}
	return t, nil
}

// Blocking returns the findings that keep an image from leaving the site:
// data and secret findings of medium severity or more (low ones are schema
// files and test keys that packages ship). Push and freeze decide with it.
func Blocking(findings []Finding) []Finding {
	var out []Finding
	for _, f := range findings {
		if blocks(f) {
			out = append(out, f)
		}
	}
	return out
}

func blocks(f Finding) bool { return isDataRule(f.Rule) && f.Severity >= SeverityMedium }
