package audit

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Source is where an image comes from: a docker save tarball (FromTarball,
// FromReader), an engine (FromEngine) or a registry (FromRegistry).
type Source interface {
	// String names the source for messages.
	String() string
	load(ctx context.Context, w *walker) (*imageData, error)
}

// ImageSaver streams an image as a `docker save` tarball. internal/engine
// implements it with the Engine API's image save endpoint.
type ImageSaver interface {
	SaveImage(ctx context.Context, ref string) (io.ReadCloser, error)
}

// FromTarball reads a `docker save` tarball (or an OCI layout tarball) from
// a file. ref selects one image when the tarball holds several.
func FromTarball(file, ref string) Source { return tarballSource{file: file, ref: ref} }

type tarballSource struct{ file, ref string }

func (s tarballSource) String() string { return s.file }

func (s tarballSource) load(ctx context.Context, w *walker) (*imageData, error) {
	f, err := os.Open(s.file)
	if err != nil {
		return nil, fmt.Errorf("open image tarball: %w", err)
	}
	defer f.Close()
	d, err := readSave(ctx, f, w, s.ref)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.file, err)
	}
	return d, nil
}

// FromReader reads a `docker save` stream, such as standard input.
func FromReader(label string, r io.Reader) Source { return readerSource{label: label, r: r} }

type readerSource struct {
	label string
	r     io.Reader
}

func (s readerSource) String() string { return s.label }

func (s readerSource) load(ctx context.Context, w *walker) (*imageData, error) {
	return readSave(ctx, s.r, w, "")
}

// FromEngine streams the image ref out of an engine through saver.
func FromEngine(saver ImageSaver, ref string) Source { return engineSource{saver: saver, ref: ref} }

type engineSource struct {
	saver ImageSaver
	ref   string
}

func (s engineSource) String() string { return s.ref }

func (s engineSource) load(ctx context.Context, w *walker) (*imageData, error) {
	rc, err := s.saver.SaveImage(ctx, s.ref)
	if err != nil {
		return nil, fmt.Errorf("save image %s: %w", s.ref, err)
	}
	defer rc.Close()
	d, err := readSave(ctx, rc, w, s.ref)
	if err != nil {
		return nil, fmt.Errorf("read saved image %s: %w", s.ref, err)
	}
	d.ref = s.ref
	return d, nil
}

// FromRegistry reads ref from a registry, anonymously unless opts say
// otherwise.
func FromRegistry(ref string, opts ...remote.Option) Source {
	return registrySource{ref: ref, opts: opts}
}

type registrySource struct {
	ref  string
	opts []remote.Option
}

func (s registrySource) String() string { return s.ref }

func (s registrySource) load(ctx context.Context, w *walker) (*imageData, error) {
	r, err := name.ParseReference(s.ref)
	if err != nil {
		return nil, fmt.Errorf("parse image reference %q: %w", s.ref, err)
	}
	img, err := remote.Image(r, append([]remote.Option{remote.WithContext(ctx)}, s.opts...)...)
	if err != nil {
		return nil, fmt.Errorf("fetch image %s: %w", s.ref, err)
	}
	d, err := loadImage(ctx, img, w)
	if err != nil {
		return nil, fmt.Errorf("read image %s: %w", s.ref, err)
	}
	d.ref = s.ref
	return d, nil
}

// FromImage audits an image that go-containerregistry already opened (an
// OCI layout, a registry image with custom options).
func FromImage(label string, img v1.Image) Source { return imageSource{label: label, img: img} }

type imageSource struct {
	label string
	img   v1.Image
}

func (s imageSource) String() string { return s.label }

func (s imageSource) load(ctx context.Context, w *walker) (*imageData, error) {
	d, err := loadImage(ctx, s.img, w)
	if err != nil {
		return nil, err
	}
	d.ref = s.label
	return d, nil
}

// loadImage walks each layer of a go-containerregistry image in order.
func loadImage(ctx context.Context, img v1.Image, w *walker) (*imageData, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	id, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("read config digest: %w", err)
	}
	d := &imageData{id: id.String(), config: cfg}
	if dg, err := img.Digest(); err == nil {
		d.digest = dg.String()
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("list layers: %w", err)
	}
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		diffID, err := l.DiffID()
		if err != nil {
			return nil, fmt.Errorf("layer %d diff ID: %w", i, err)
		}
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, fmt.Errorf("open layer %d: %w", i, err)
		}
		scan, err := w.walk(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("walk layer %d (%s): %w", i, diffID, err)
		}
		d.layers = append(d.layers, scan)
		d.layerRefs = append(d.layerRefs, diffID.String())
	}
	return d, nil
}
