package dicom

import (
	"archive/tar"
	"fmt"
	"io"
	"strconv"
)

// WriteTar writes the instances as a tar stream of files named
// <index>.dcm, to be unpacked where dcmtk's storescu can read them (for
// example by `tar -x` in an exec'd shell inside the archive's container).
func WriteTar(w io.Writer, insts []Instance) error {
	tw := tar.NewWriter(w)
	for _, in := range insts {
		hdr := &tar.Header{Name: TarName(in), Mode: 0o644, Size: int64(len(in.Data)), Typeflag: tar.TypeReg}
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

// TarName is the file name WriteTar gives an instance.
func TarName(in Instance) string { return strconv.Itoa(in.Index) + ".dcm" }

// StoreSCU returns the dcmtk storescu command that sends files to a DICOM
// listener with C-STORE: calledAET at host:port, calling as "DOCKERBANK".
// storescu exits non-zero when any file is refused.
func StoreSCU(host string, port int, calledAET string, files ...string) []string {
	cmd := []string{"storescu", "-aet", "DOCKERBANK", "-aec", calledAET, host, strconv.Itoa(port)}
	return append(cmd, files...)
}
