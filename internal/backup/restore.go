package backup

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/fingerprint"
	"github.com/dockerbank/dockerbank/internal/progress"
	"github.com/dockerbank/dockerbank/internal/site"
)

// ErrMismatch means restored data differs from the group's manifest.
var ErrMismatch = errors.New("restored data differs from the backup manifest")

// RestoreOptions controls Restore.
type RestoreOptions struct {
	Group string // default: the newest complete group
	As    string // restore into this new instance instead of in place
	// Keep keeps the staging instance of an in-place restore.
	Keep bool
	// Uses, for As, deploys the new instance on these shared servers
	// instead of the group's (service -> server instance).
	Uses map[string]string
}

// RestoreResult says what a restore did.
type RestoreResult struct {
	Group     string  `json:"group"`
	Instance  string  `json:"instance"`
	Staging   string  `json:"staging,omitempty"`
	PreBackup string  `json:"preRestoreGroup,omitempty"`
	Tables    int     `json:"tablesCompared"`
	Files     int     `json:"filesCompared"`
	Seconds   float64 `json:"seconds"`
	// Fingerprint says how the restored data compared with the group's
	// fingerprint, as the application sees it.
	Fingerprint string `json:"fingerprint"`
	// Damaged lists what the application reported as damaged at the
	// group's capture: restored as it was, and reported, not hidden.
	Damaged []fingerprint.Diff `json:"damaged,omitempty"`
	Notes   []string           `json:"notes,omitempty"`
}

// source gives the streams of a group: from the repository or from an
// archive file.
type source interface {
	// open returns the content of a dump stream or a tar member stream.
	open(ctx context.Context, mb Member, stream string) (io.ReadCloser, error)
	// restoreDir writes a dir-mode member into dir.
	restoreDir(ctx context.Context, mb Member, dir string) error
	// trusted says whether only dockerbank wrote the source.
	trusted() bool
}

type repoSource struct{ repo *Restic }

func (s repoSource) open(ctx context.Context, mb Member, stream string) (io.ReadCloser, error) {
	snaps := strings.Split(mb.Snapshot, ",")
	snap, file := snaps[0], stream
	if mb.Kind == KindDump {
		for i, st := range mb.Streams {
			if st.Name == stream && i < len(snaps) {
				snap = snaps[i]
			}
		}
		file = streamFile(mb.Volume, stream)
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(s.repo.Dump(ctx, snap, "/"+file, pw))
	}()
	return pr, nil
}

func (s repoSource) trusted() bool { return true }

func (s repoSource) restoreDir(ctx context.Context, mb Member, dir string) error {
	return s.repo.Restore(ctx, mb.Snapshot, dir)
}

// Restore restores a group of an instance. With As it deploys a new
// instance from the group. Without, it first restores into a staging
// instance and checks it, then takes a pre-restore backup of the live
// instance, and only then replaces the live data.
func (j *Job) Restore(ctx context.Context, name string, o RestoreOptions) (*RestoreResult, error) {
	start := time.Now()
	if err := validNames(name, o.As); err != nil {
		return nil, err
	}
	repo, err := j.openRepo(ctx, false)
	if err != nil {
		return nil, err
	}
	g, err := FindGroup(ctx, repo, name, o.Group)
	if err != nil {
		return nil, err
	}
	man, err := LoadManifest(ctx, repo, g)
	if err != nil {
		return nil, err
	}
	return j.restoreManifest(ctx, repoSource{repo}, man, name, o, start)
}

func (j *Job) restoreManifest(ctx context.Context, src source, man *Manifest, name string, o RestoreOptions, start time.Time) (*RestoreResult, error) {
	res := &RestoreResult{Group: man.Group}
	if o.As != "" && o.Uses != nil {
		with := *man
		with.Uses = o.Uses
		man = &with
	}
	// The old contents of replaced volumes are deleted in the background
	// (emptyDir); the command ends when that is done.
	if j.trash == nil {
		j.trash = &sync.WaitGroup{}
		defer func() { j.trash.Wait(); j.trash = nil }()
	}
	if o.As != "" {
		res.Instance = o.As
		_, existed := j.M.Site.Instance(o.As)
		err := j.restoreNew(ctx, src, man, o.As, false, res)
		res.Seconds = time.Since(start).Seconds()
		if err != nil && existed != nil {
			// Never leave a half-restored instance that looks usable.
			j.removeInstance(ctx, o.As)
			err = fmt.Errorf("%w; the partly restored instance %s was removed", err, o.As)
		}
		return res, err
	}
	res.Instance = name
	if _, err := j.M.Site.Instance(name); err != nil {
		return nil, fmt.Errorf("%w; to recreate a removed instance from its backup use `dockerbank restore %s --as NAME`", err, name)
	}
	staging := fmt.Sprintf("%s-rs%s", shortName(name, 50), randHex(2))
	res.Staging = staging
	j.step("restore group %s into staging instance %s first (the live instance is not touched)", man.Group, staging)
	if err := j.restoreNew(ctx, src, man, staging, true, &RestoreResult{}); err != nil {
		j.removeInstance(ctx, staging)
		return res, fmt.Errorf("restore into staging instance %s: %w; the live instance %s was not touched", staging, err, name)
	}
	j.step("staging instance %s is healthy and matches the manifest", staging)
	// Live data the application reports as damaged is kept in the
	// pre-restore group all the same: it may be why the restore runs.
	pre, err := j.Backup(ctx, name, BackupOptions{Tag: "pre-restore"})
	if errors.Is(err, fingerprint.ErrDamaged) && pre != nil {
		err = nil
	}
	if err != nil {
		j.removeInstance(ctx, staging)
		return res, fmt.Errorf("pre-restore backup of %s: %w; the live instance was not touched", name, err)
	}
	res.PreBackup = pre.Group
	j.step("pre-restore backup %s of the live data is stored; replacing the live data of %s", pre.Group, name)
	if err := j.restoreInto(ctx, src, man, name, res); err != nil {
		return res, fmt.Errorf("restore into %s: %w; its previous data is in group %s (`dockerbank restore %s --group %s`)", name, err, pre.Group, name, pre.Group)
	}
	if !o.Keep {
		j.removeInstance(ctx, staging)
		res.Staging = ""
	}
	in, err := j.M.Site.Instance(name)
	if err == nil {
		in.Changed = time.Now().UTC()
		err = j.M.Site.Save(in)
	}
	res.Seconds = time.Since(start).Seconds()
	return res, err
}

// validNames checks the instance names a restore was given, before
// anything is read.
func validNames(names ...string) error {
	for _, n := range names {
		if n == "" {
			continue
		}
		if err := site.ValidName(n); err != nil {
			return err
		}
	}
	return nil
}

func shortName(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (j *Job) removeInstance(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
	defer cancel()
	if _, err := j.M.Remove(ctx, name, deploy.RemoveOptions{PurgeData: true, Confirm: name, Force: true, Throwaway: true}); err != nil {
		j.step("warning: could not remove throwaway instance %s: %v", name, err)
	}
}

// restoreNew deploys a new instance of the group's entry version with the
// group's secrets and fills it.
// restoreNew deploys target from the group and restores into it. A
// throwaway target (staging, drill) runs beside the instance it copies, so
// its ports are published on host ports the engine picks.
func (j *Job) restoreNew(ctx context.Context, src source, man *Manifest, target string, throwaway bool, res *RestoreResult) error {
	if err := site.ValidName(target); err != nil {
		return err
	}
	if _, err := j.M.Site.Instance(target); err == nil {
		return fmt.Errorf("%w: instance %s exists; restore --as needs a new name", deploy.ErrNameTaken, target)
	}
	if err := j.seedSecrets(ctx, src, man, target); err != nil {
		return err
	}
	j.step("deploy %s %s as %s", man.Entry, man.Version, target)
	if _, err := j.M.Deploy(ctx, deploy.DeployOptions{Entry: man.Entry, Name: target, Version: man.Version, Variant: man.Variant, Set: man.Params, Scale: man.Scale, EphemeralPorts: throwaway, Uses: man.Uses}); err != nil {
		return fmt.Errorf("deploy %s for the restore: %w", target, err)
	}
	return j.restoreInto(ctx, src, man, target, res)
}

// seedSecrets writes the group's secrets for a new instance, so that the
// restored data (database roles, encrypted files) matches its secrets.
func (j *Job) seedSecrets(ctx context.Context, src source, man *Manifest, target string) error {
	var meta *Member
	for i := range man.Members {
		if man.Members[i].Kind == KindMeta {
			meta = &man.Members[i]
		}
	}
	if meta == nil {
		return nil
	}
	rc, err := src.open(ctx, *meta, "instance.tar")
	if err != nil {
		return err
	}
	defer rc.Close()
	dir := filepath.Join(j.M.Site.InstanceDir(target), "secrets")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("seed secrets of %s: %w", target, err)
	}
	if a, ok := src.(*archiveSource); ok {
		// Sealed in the archive, opened by its check.
		for base, data := range a.secrets {
			if err := site.WriteFileAtomic(filepath.Join(dir, base), data, 0o600); err != nil {
				return err
			}
		}
	}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read instance record of group %s: %w", man.Group, err)
		}
		d, base := path.Split(h.Name)
		if d != "secrets/" || base == "" || strings.HasPrefix(base, ".") || h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(tr, 1<<20))
		if err != nil {
			return err
		}
		if err := site.WriteFileAtomic(filepath.Join(dir, base), data, 0o600); err != nil {
			return err
		}
	}
}

// restoreInto replaces the data of an existing instance with the group:
// the containers that are not databases are stopped (journaled), file
// volumes emptied and refilled, dumps loaded, containers started, health
// waited for, and the result compared with the manifest.
func (j *Job) restoreInto(ctx context.Context, src source, man *Manifest, target string, res *RestoreResult) (err error) {
	p, err := j.M.Project(ctx, target)
	if err != nil {
		return err
	}
	model, err := bank.Model(p)
	if err != nil {
		return err
	}
	ctrs, err := j.engine().Containers(ctx, map[string]string{engine.LabelProject: target})
	if err != nil {
		return err
	}
	var stop []string
	dbByService := map[string]string{}
	for _, c := range ctrs {
		if model.Services[c.Service].Role == bank.RoleDatabase {
			if c.State == "running" {
				dbByService[c.Service] = c.ID
			}
			continue
		}
		if c.State == "running" {
			stop = append(stop, c.ID)
		}
	}
	q := &quiescer{e: j.engine(), s: j.M.Site, command: j.M.Command, inst: target, op: "restore-" + target + "-" + randHex(3), crash: crashPoint}
	defer func() {
		if _, rerr := q.resume(); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	if err := q.quiesce(ctx, stop, "stop", j.M.StopTimeout); err != nil {
		return err
	}
	for _, mb := range man.Members {
		switch mb.Kind {
		case KindFiles:
			vname := volumeName(p.Volumes[mb.Volume].Name, target, mb.Volume)
			if _, ok := p.Volumes[mb.Volume]; !ok {
				return fmt.Errorf("instance %s has no volume %s (group %s has it): entry versions differ", target, mb.Volume, man.Group)
			}
			j.report(progress.Event{Phase: progress.RestoreVolume, Instance: target, Volume: vname, Items: mb.Count, Total: mb.Bytes})
			if err := j.restoreFiles(ctx, src, mb, vname); err != nil {
				return fmt.Errorf("restore volume %s: %w", vname, err)
			}
		case KindDump:
			id, t, err := j.dumpContainer(ctx, target, mb, dbByService)
			if err != nil {
				return err
			}
			d, err := NewDumper(ctx, j.engine(), id, mb.Engine)
			if err != nil {
				return err
			}
			if t != nil {
				d.(*Postgres).only = t.Database
			}
			for _, st := range mb.Streams {
				if t != nil {
					// Into the target's own database, owned by its role
					// (a restore --as or a staging copy has its own).
					st.Database, st.Owner = t.Database, t.Role
				}
				j.report(progress.Event{Phase: progress.Load, Instance: target, Target: st.Name, Service: mb.Service, Total: st.Size})
				if err := j.loadStream(ctx, src, d, mb, st); err != nil {
					return err
				}
			}
		}
	}
	// Compared before the application runs again and writes.
	if err := j.compare(ctx, man, target, res); err != nil {
		return err
	}
	data, err := j.restoredFingerprint(ctx, man, target, false)
	if err != nil {
		return err
	}
	if _, err := q.resume(); err != nil {
		return err
	}
	j.step("start %s and wait for health", target)
	if err := j.M.Start(ctx, target); err != nil {
		return err
	}
	return j.checkFingerprint(ctx, man, target, data, res)
}

func (j *Job) loadStream(ctx context.Context, src source, d Dumper, mb Member, st Stream) error {
	rc, err := src.open(ctx, mb, st.Name)
	if err != nil {
		return err
	}
	defer rc.Close()
	dg := newDigest()
	if err := d.Restore(ctx, st, io.TeeReader(rc, dg)); err != nil {
		return err
	}
	if dg.n != st.Size || dg.Sum() != st.SHA256 {
		return fmt.Errorf("%w: stream %s read back with %d bytes sha256 %s, manifest says %d bytes %s", ErrMismatch, st.Name, dg.n, dg.Sum(), st.Size, st.SHA256)
	}
	return nil
}

func (j *Job) restoreFiles(ctx context.Context, src source, mb Member, vname string) error {
	vol, err := j.engine().InspectVolume(ctx, vname)
	if err != nil {
		return err
	}
	local := false
	if st, err := os.Stat(vol.HostDir()); err == nil && st.IsDir() && vol.HostDir() != "" {
		local = true
	}
	if local {
		if err := emptyDir(vol.HostDir(), j.trash); err != nil {
			return err
		}
	}
	// The engine's archive API leaves the volume root's owner and mode
	// alone: on the engine's host they are set here for both modes.
	applyRoot := func() error {
		if !local || mb.Root == nil {
			return nil
		}
		if err := os.Lchown(vol.HostDir(), mb.Root.UID, mb.Root.GID); err != nil {
			return err
		}
		if err := os.Chmod(vol.HostDir(), os.FileMode(mb.Root.Mode&0o777)); err != nil {
			return err
		}
		return os.Chtimes(vol.HostDir(), mb.Root.MTime, mb.Root.MTime)
	}
	switch {
	case mb.Mode == ModeDir && local && src.trusted():
		if err := src.restoreDir(ctx, mb, vol.HostDir()); err != nil {
			return err
		}
		return applyRoot()
	case mb.Mode == ModeDir && src.trusted():
		return fmt.Errorf("group member %s was read from the host mountpoint and restores only where dockerbank runs on the engine's host", mb.Volume)
	}
	rc, err := src.open(ctx, mb, mb.Volume+".tar")
	if err != nil {
		return err
	}
	defer rc.Close()
	id, err := j.engine().CreateHelper(ctx, engine.HelperOptions{Image: j.helperImage(),
		Mounts: []engine.VolumeMount{{Volume: vname, Target: "/volume"}}})
	if err != nil {
		return err
	}
	defer j.engine().RemoveContainer(context.WithoutCancel(ctx), id)
	pr, pw := io.Pipe()
	checkErr := make(chan error, 1)
	go func() {
		// Absolute symlinks are data a volume may hold (a backup of one
		// must restore); nothing is ever written through a link.
		err := safeCopyTar(pw, rc, true)
		pw.CloseWithError(err)
		checkErr <- err
	}()
	cerr := j.engine().CopyTo(ctx, id, "/volume", pr)
	pr.CloseWithError(errors.New("copy ended"))
	if err := <-checkErr; err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	return applyRoot()
}

// emptyDir removes everything inside dir, keeping dir. With trash set, the
// entries are first renamed into a new directory beside dir (same file
// system: the volume's own directory, which removing the volume removes
// too) and deleted there in the background, tracked by trash: an in-place
// restore no longer keeps the instance stopped while 20,000 stored files
// are unlinked one by one (84 s of a 141 s restore on a busy disk). Where
// the rename is impossible (a volume mounted from elsewhere), the entries
// are deleted in place.
func emptyDir(dir string, trash *sync.WaitGroup) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	parent := filepath.Dir(filepath.Clean(dir))
	sweepTrash(parent, trash)
	var bin string
	if trash != nil && len(ents) > 0 {
		if b, err := os.MkdirTemp(parent, trashPrefix); err == nil {
			bin = b
		}
	}
	moved := false
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if bin != "" && os.Rename(p, filepath.Join(bin, e.Name())) == nil {
			moved = true
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	if bin != "" {
		if !moved {
			return os.Remove(bin)
		}
		trash.Add(1)
		go func() { defer trash.Done(); os.RemoveAll(bin) }()
	}
	return nil
}

// trashPrefix names the directories emptyDir deletes in the background.
const trashPrefix = ".dockerbank-trash-"

// sweepTrash deletes, in the background, what an earlier emptyDir left
// beside a volume's directory when its process ended first.
func sweepTrash(parent string, trash *sync.WaitGroup) {
	if trash == nil {
		return
	}
	old, _ := filepath.Glob(filepath.Join(parent, trashPrefix+"*"))
	for _, o := range old {
		trash.Add(1)
		go func() { defer trash.Done(); os.RemoveAll(o) }()
	}
}

// compare checks the restored instance against the manifest: every table
// (row count and checksum) and every file (type, owner, mode, mtime, link,
// sha256).
func (j *Job) compare(ctx context.Context, man *Manifest, target string, res *RestoreResult) error {
	p, err := j.M.Project(ctx, target)
	if err != nil {
		return err
	}
	ctrs, err := j.engine().Containers(ctx, map[string]string{engine.LabelProject: target})
	if err != nil {
		return err
	}
	running := map[string]string{}
	for _, c := range ctrs {
		if c.State == "running" {
			running[c.Service] = c.ID
		}
	}
	var diffs []string
	for _, mb := range man.Members {
		switch mb.Kind {
		case KindDump:
			id, t, err := j.dumpContainer(ctx, target, mb, running)
			if err != nil {
				return err
			}
			d, err := NewDumper(ctx, j.engine(), id, mb.Engine)
			if err != nil {
				return err
			}
			for _, st := range mb.Streams {
				if len(st.Tables) == 0 {
					continue
				}
				db := st.Database
				if t != nil {
					db = t.Database
				}
				got, err := d.Tables(ctx, db)
				if err != nil {
					return fmt.Errorf("read tables of %s: %w", st.Name, err)
				}
				have := map[string]Table{}
				for _, t := range got {
					have[t.Name] = t
				}
				for _, t := range st.Tables {
					res.Tables++
					g, ok := have[t.Name]
					switch {
					case !ok:
						diffs = append(diffs, fmt.Sprintf("%s: table %s missing", mb.Volume, t.Name))
					case g.Rows != t.Rows || g.Checksum != t.Checksum:
						diffs = append(diffs, fmt.Sprintf("%s: table %s has %d rows (%s), manifest %d rows (%s)", mb.Volume, t.Name, g.Rows, g.Checksum, t.Rows, t.Checksum))
					}
				}
			}
		case KindFiles:
			vname := volumeName(p.Volumes[mb.Volume].Name, target, mb.Volume)
			got, err := j.readVolume(ctx, vname)
			if err != nil {
				return err
			}
			want, err := man.files(ctx, mb)
			if err != nil {
				return err
			}
			res.Files += len(want)
			for _, d := range compareFiles(want, got) {
				if mb.Live && strings.HasPrefix(d, "unexpected ") {
					continue // created during a live capture, after the walk
				}
				diffs = append(diffs, mb.Volume+": "+d)
			}
		}
	}
	if len(diffs) > 0 {
		if len(diffs) > 20 {
			diffs = append(diffs[:20], fmt.Sprintf("... and %d more", len(diffs)-20))
		}
		return fmt.Errorf("%w (group %s, instance %s):\n  %s", ErrMismatch, man.Group, target, strings.Join(diffs, "\n  "))
	}
	j.step("%s matches group %s: %d tables and %d files compared", target, man.Group, res.Tables, res.Files)
	return nil
}

// readVolume records the entries of a volume, from its mountpoint or
// through a helper container.
func (j *Job) readVolume(ctx context.Context, vname string) ([]FileRecord, error) {
	vol, err := j.engine().InspectVolume(ctx, vname)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(vol.HostDir()); err == nil && st.IsDir() && vol.HostDir() != "" {
		files, _, err := walkDir(vol.HostDir())
		return files, err
	}
	id, err := j.engine().CreateHelper(ctx, engine.HelperOptions{Image: j.helperImage(),
		Mounts: []engine.VolumeMount{{Volume: vname, Target: "/volume", ReadOnly: true}}})
	if err != nil {
		return nil, err
	}
	defer j.engine().RemoveContainer(context.WithoutCancel(ctx), id)
	rc, err := j.engine().CopyFrom(ctx, id, "/volume/.")
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	idx := &tarIndex{}
	if err := idx.index(rc, ""); err != nil {
		return nil, err
	}
	return idx.files, nil
}

// dumpContainer returns the container a dump member is loaded into and
// read back from, and the target's tenancy for it: the shared server the
// target uses for the member's service, else the target's own running
// container of that service (running: container IDs by service).
func (j *Job) dumpContainer(ctx context.Context, target string, mb Member, running map[string]string) (string, *deploy.Tenant, error) {
	t, err := j.tenantOf(target, mb)
	if err != nil {
		return "", nil, err
	}
	if t != nil {
		c, err := j.M.ServerContainer(ctx, t.Server)
		if err != nil {
			return "", nil, err
		}
		return c.ID, t, nil
	}
	id, ok := running[mb.Service]
	if !ok {
		return "", nil, fmt.Errorf("database service %s of %s is not running", mb.Service, target)
	}
	return id, nil, nil
}

// tenantOf returns the target's tenancy a dump member is restored into:
// its own database in the shared server it uses for the member's service;
// nil when the target runs that database service itself. A member dumped
// in a shared server cannot go into an instance that runs its own.
func (j *Job) tenantOf(target string, mb Member) (*deploy.Tenant, error) {
	ts, err := j.M.Tenants(target)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if t.Service == mb.Service {
			if mb.Engine != t.Engine {
				return nil, fmt.Errorf("%w: group member %s is a %s dump, %s uses %s (%s) for it", ErrMismatch, mb.Volume, mb.Engine, target, t.Server, t.Engine)
			}
			if mb.Server == "" {
				return nil, fmt.Errorf("%w: group member %s was dumped in the instance's own %s service (with its roles), but %s uses the shared server %s for it; restore it with --as into an instance without --use", ErrMismatch, mb.Volume, mb.Service, target, t.Server)
			}
			return &t, nil
		}
	}
	if mb.Server != "" {
		return nil, fmt.Errorf("%w: group member %s was dumped in the shared server %s, but %s runs its own %s; restore with --as into an instance deployed with --use %s=SERVER", ErrMismatch, mb.Volume, mb.Server, target, mb.Service, mb.Service)
	}
	return nil, nil
}
