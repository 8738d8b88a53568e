package dicom

import (
	"archive/tar"
	"fmt"
	"io"
	"path"
	"strconv"
)

// WriteTar writes the instances as a tar stream: the directory dir (a
// relative path) holding one file <index>.dcm per instance. Extracted into
// a container through the engine's archive API, the files are where dcmtk's
// storescu inside it can send them from.
func WriteTar(w io.Writer, dir string, insts []Instance) error {
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: dir + "/", Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
		return fmt.Errorf("write tar header of %s: %w", dir, err)
	}
	for _, in := range insts {
		hdr := &tar.Header{Name: path.Join(dir, TarName(in)), Mode: 0o644, Size: int64(len(in.Data)), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write tar header of instance %d: %w", in.Index, err)
		}
		if _, err := tw.Write(in.Data); err != nil {
			return fmt.Errorf("write instance %d into tar: %w", in.Index, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finish tar of instances: %w", err)
	}
	return nil
}

// TarName is the file name WriteTar gives an instance in its directory.
func TarName(in Instance) string { return strconv.Itoa(in.Index) + ".dcm" }

// StoreSCU returns the dcmtk storescu command that sends files to a DICOM
// listener with C-STORE: calledAET at host:port, calling as "DOCKERBANK".
func StoreSCU(host string, port int, calledAET string, files ...string) []string {
	cmd := []string{"storescu", "-aet", "DOCKERBANK", "-aec", calledAET, host, strconv.Itoa(port)}
	return append(cmd, files...)
}
