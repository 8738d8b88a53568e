package fingerprint

import (
	"archive/tar"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
)

// orthancIndexSQL lists the DICOM attachment (file type 1) of every
// instance in Orthanc's PostgreSQL index: the instance's Orthanc ID, the
// storage UUID, the MD5 of the stored bytes and of the DICOM file (equal
// unless Orthanc compresses its storage).
const orthancIndexSQL = `select r.publicid, a.uuid, a.compressedhash, a.uncompressedhash from resources r join attachedfiles a on a.id = r.internalid where a.filetype = 1`

// storageUUID is the form of the names of Orthanc's storage files.
var storageUUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

type attachment struct{ id, stored, md5 string }

// orthancIndexed returns the items of the instances in Orthanc's index by
// their ID: the recorded MD5, with Damage when the stored file (under
// Orthanc's layout uu/id/uuid of the storage volume) is missing or its
// MD5 is not the one recorded. index is the running index container.
// cache, if set, is the path of a hash cache (hashcache.go) of the
// storage files.
func orthancIndexed(ctx context.Context, e Engine, t Target, index string, s bank.FingerprintSpec, cache string) (map[string]Item, error) {
	user, err := envOf(ctx, e, index, "POSTGRES_USER", "postgres")
	if err != nil {
		return nil, err
	}
	var out strings.Builder
	cmd := []string{"psql", "-X", "-q", "-t", "-A", "-F", "|", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", s.Database, "-c", orthancIndexSQL}
	if err := e.Exec(ctx, index, cmd, engine.ExecOptions{Stdout: &out}); err != nil {
		return nil, fmt.Errorf("read the attachments of Orthanc's index: %w", err)
	}
	atts, err := parseOrthancIndex(out.String())
	if err != nil {
		return nil, err
	}
	sums, err := storageMD5s(ctx, e, t, s.Volume, atts, cache)
	if err != nil {
		return nil, err
	}
	items := make(map[string]Item, len(atts))
	for u, a := range atts {
		it := Item{ID: a.id, Digest: "md5:" + a.md5}
		switch sum, ok := sums[u]; {
		case !ok:
			it.Damage = "the stored file is missing"
		case sum != a.stored:
			it.Damage = "the stored file does not match the MD5 Orthanc recorded"
		}
		items[a.id] = it
	}
	return items, nil
}

// parseOrthancIndex reads the output of orthancIndexSQL into attachments
// by storage UUID; rows whose UUID is not of Orthanc's form are left out
// (their instances are asked for through the REST API).
func parseOrthancIndex(out string) (map[string]attachment, error) {
	atts := map[string]attachment{}
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) != 4 {
			return nil, fmt.Errorf("unexpected line of Orthanc's index: %q", line)
		}
		if storageUUID.MatchString(f[1]) {
			atts[f[1]] = attachment{id: f[0], stored: f[2], md5: f[3]}
		}
	}
	return atts, nil
}

// storageMD5s returns the MD5 of the stored file of each attachment that
// is there: from the volume's host mountpoint where dockerbank runs on the
// engine's host, else from the archive API of a helper container. On the
// host, a file whose key is in the hash cache unchanged is not read again.
func storageMD5s(ctx context.Context, e Engine, t Target, volume string, atts map[string]attachment, cache string) (map[string]string, error) {
	vname := t.volume(volume)
	vol, err := e.InspectVolume(ctx, vname)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(vol.HostDir()); err == nil && st.IsDir() && vol.HostDir() != "" {
		uuids := make([]string, 0, len(atts))
		for u := range atts {
			uuids = append(uuids, u)
		}
		got := make([]string, len(uuids))
		prev := loadHashCache(cache)
		next := make([]hashEntry, len(uuids))
		err := parallel(len(uuids), func(i int) error {
			u := uuids[i]
			p := filepath.Join(vol.HostDir(), u[0:2], u[2:4], u)
			fi, err := os.Lstat(p)
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			k, keyed := hashKey(u, fi)
			if old, ok := prev[u]; keyed && ok && old.sameFile(k) {
				got[i], next[i] = old.MD5, old
				return nil
			}
			sum, err := md5File(p)
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			if keyed && fi.Mode().IsRegular() {
				k.MD5 = sum
				next[i] = k
			}
			got[i] = sum
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("read the storage volume %s: %w", vname, err)
		}
		if err := saveHashCache(cache, next); err != nil {
			return nil, err
		}
		sums := make(map[string]string, len(uuids))
		for i, u := range uuids {
			if got[i] != "" {
				sums[u] = got[i]
			}
		}
		return sums, nil
	}
	rc, err := volumeTar(ctx, e, t, vname)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	sums := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return sums, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read the storage volume %s: %w", vname, err)
		}
		u := path.Base(h.Name)
		if _, ok := atts[u]; !ok || h.Typeflag != tar.TypeReg {
			continue
		}
		m := md5.New()
		if _, err := io.Copy(m, tr); err != nil {
			return nil, fmt.Errorf("read the storage volume %s: %w", vname, err)
		}
		sums[u] = hex.EncodeToString(m.Sum(nil))
	}
}

func md5File(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	m := md5.New()
	if _, err := io.Copy(m, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(m.Sum(nil)), nil
}
