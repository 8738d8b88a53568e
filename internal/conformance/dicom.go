package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/dicom"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/fingerprint"
)

// DICOM listener of the Orthanc entries inside the container.
const (
	dicomPort = 4242
	dicomAET  = "ORTHANC"
)

// writeDICOM stores w.Count generated DICOM instances over the REST API
// and w.Count more over DICOM C-STORE (dcmtk's storescu in the service's
// container, the files fed through the engine's archive API), then checks
// that Orthanc lists every one under the ID it derives from its UIDs. The
// REST access is the one the entry's orthanc fingerprint declares.
func (r *run) writeDICOM(ctx context.Context, name string, w bank.TestWrite) (string, error) {
	var spec *bank.FingerprintSpec
	for i, s := range r.e.Fingerprint {
		if s.Kind == bank.FingerprintOrthanc && s.Service == w.Service {
			spec = &r.e.Fingerprint[i]
		}
	}
	if spec == nil {
		return "", fmt.Errorf("entry %s declares no orthanc fingerprint of service %s, whose REST access the dicom writer uses", r.e.ID, w.Service)
	}
	id, err := r.container(ctx, name, w.Service)
	if err != nil {
		return "", err
	}
	t, err := r.m.FingerprintTarget(ctx, name)
	if err != nil {
		return "", err
	}
	api, err := fingerprint.OrthancClient(ctx, r.o.Engine, t, id, *spec)
	if err != nil {
		return "", err
	}
	var seed [8]byte
	rand.Read(seed[:])
	set := dicom.Set{Seed: int64(binary.LittleEndian.Uint64(seed[:]) >> 1), InstancesPerSeries: w.Count}
	var rest, cstore []dicom.Instance
	for i := range 2 * w.Count {
		in := set.Instance(i)
		if i < w.Count {
			rest = append(rest, in)
		} else {
			cstore = append(cstore, in)
		}
	}
	for _, in := range rest {
		st, err := api.Store(ctx, in.Data)
		if err != nil {
			return "", fmt.Errorf("store instance %d over REST: %w", in.Index, err)
		}
		if st.ID != in.OrthancID() {
			return "", fmt.Errorf("Orthanc stored instance %d as %s, expected %s", in.Index, st.ID, in.OrthancID())
		}
	}
	dir := "dockerbank-banktest-" + r.suffix
	var tarBuf bytes.Buffer
	if err := dicom.WriteTar(&tarBuf, dir, cstore); err != nil {
		return "", err
	}
	if err := r.o.Engine.CopyTo(ctx, id, "/tmp", &tarBuf); err != nil {
		return "", fmt.Errorf("copy DICOM files into %s: %w", name, err)
	}
	files := make([]string, len(cstore))
	for i, in := range cstore {
		files[i] = "/tmp/" + dir + "/" + dicom.TarName(in)
	}
	var out bytes.Buffer
	if err := r.o.Engine.Exec(ctx, id, dicom.StoreSCU("127.0.0.1", dicomPort, dicomAET, files...), engine.ExecOptions{Stdout: &out, Stderr: &out}); err != nil {
		return "", fmt.Errorf("C-STORE with storescu in %s: %w: %s", name, err, strings.TrimSpace(out.String()))
	}
	_ = r.o.Engine.Exec(ctx, id, []string{"rm", "-rf", "/tmp/" + dir}, engine.ExecOptions{})
	ids, err := api.Instances(ctx)
	if err != nil {
		return "", err
	}
	have := map[string]bool{}
	for _, i := range ids {
		have[i] = true
	}
	for _, in := range append(rest, cstore...) {
		if !have[in.OrthancID()] {
			return "", fmt.Errorf("Orthanc does not list instance %d (%s) after storing it", in.Index, in.OrthancID())
		}
	}
	return fmt.Sprintf("%d DICOM instances over REST and %d over C-STORE; Orthanc lists %d", len(rest), len(cstore), len(ids)), nil
}

func (r *run) container(ctx context.Context, name, service string) (string, error) {
	ctrs, err := r.o.Engine.Containers(ctx, map[string]string{engine.LabelProject: name, engine.LabelService: service})
	if err != nil {
		return "", err
	}
	for _, c := range ctrs {
		if c.State == "running" {
			return c.ID, nil
		}
	}
	return "", fmt.Errorf("no running container of service %s in %s", service, name)
}
