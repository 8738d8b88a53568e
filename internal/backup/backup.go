package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/fingerprint"
	"github.com/dockerbank/dockerbank/internal/site"
)

// HelperImage is the local image helper containers are created from.
const HelperImage = "dockerbank/busybox:1.36"

// Capture modes of file volumes.
const (
	ModeDir = "dir" // the volume's host mountpoint, read by restic directly
	ModeTar = "tar" // a tar stream from a helper container's archive API
)

// Job runs backups, restores and drills of one site on one engine.
type Job struct {
	M *deploy.Manager
	// Via forces the capture mode of file volumes: "" (mountpoint when
	// readable, else helper), ModeDir or ModeTar.
	Via         string
	HelperImage string
	// Progress receives progress lines with throughput; may be nil.
	Progress func(msg string)
	// OnStatus, if set, sees the progress of each file volume's capture
	// a few times a second (for a progress bar).
	OnStatus func(volume string, s Status)
	// From, if set, is the repository restores, drills and listings
	// read instead of the site's (an off-site copy).
	From *Restic
	// LimitUpload and LimitDownload (KiB/s) override the site's limits
	// for this run.
	LimitUpload, LimitDownload int
	// OnTransfer, if set, sees the progress of copies to off-site
	// repositories.
	OnTransfer func(copy string, t Transfer)
}

func (j *Job) statusOf(volume string) func(Status) {
	if j.OnStatus == nil {
		return nil
	}
	return func(s Status) { j.OnStatus(volume, s) }
}

func (j *Job) step(format string, args ...any) {
	if j.Progress != nil {
		j.Progress(fmt.Sprintf(format, args...))
	} else if j.M.Report != nil {
		j.M.Report.Step(fmt.Sprintf(format, args...))
	}
}

func (j *Job) helperImage() string {
	if j.HelperImage != "" {
		return j.HelperImage
	}
	return HelperImage
}

// Tags of the snapshots of a group.
func groupTags(m *Manifest, volume, kind string) []string {
	return []string{"dockerbank", "instance=" + m.Instance, "group=" + m.Group, "volume=" + volume,
		"kind=" + kind, "entry=" + m.Entry, "version=" + m.Version}
}

func newGroupID(now time.Time) string {
	b := make([]byte, 3)
	rand.Read(b)
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// BackupOptions controls Backup.
type BackupOptions struct {
	// Tag is an extra plain tag on the group, e.g. pre-restore.
	Tag string
}

// Backup stores one consistency group of an instance: its instance record
// and secrets, every dump-backed database and every userdata file volume,
// captured at one quiesce point; the manifest last. When the application
// reported data as damaged at the capture (its fingerprint's Damage), the
// group is stored all the same and returned with a
// *fingerprint.DamageError (errors.Is fingerprint.ErrDamaged).
func (j *Job) Backup(ctx context.Context, name string, o BackupOptions) (*Manifest, error) {
	l, err := j.M.Site.Lock(ctx, 2*time.Minute)
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	crashPoint("locked")
	if _, err := resumePending(ctx, j.M.Site, j.M.Engine, j.M.Command); err != nil {
		return nil, fmt.Errorf("resume containers of an interrupted backup: %w", err)
	}
	in, err := j.M.Site.Instance(name)
	if err != nil {
		return nil, err
	}
	repo, err := j.primary(ctx, true)
	if err != nil {
		return nil, err
	}
	_ = repo.Unlock(ctx) // only stale locks of killed runs go
	m := &Manifest{Format: ManifestVersion, Group: newGroupID(time.Now()), Instance: in.Name, Entry: in.Entry,
		Version: in.Version, Variant: in.Variant, Params: in.Params, Started: time.Now().UTC()}
	if err := j.M.Site.Append(site.Record{Command: j.M.Command, Instance: name, Outcome: "started", Op: m.Group, Detail: "backup group " + m.Group}); err != nil {
		return nil, err
	}
	err = j.backup(ctx, repo, in, m, o)
	if err != nil {
		if jerr := j.M.Site.Append(site.Record{Command: j.M.Command, Instance: name, Outcome: "failed", Op: m.Group, Detail: err.Error()}); jerr != nil {
			err = errors.Join(err, jerr)
		}
		return nil, err
	}
	in.LastBackup = m.Finished
	in.LastBackupBytes, in.LastBackupSeconds = m.Bytes(), m.Finished.Sub(m.Started).Seconds()
	if err := j.M.Site.Save(in); err != nil {
		return nil, err
	}
	crashPoint("saved-instance")
	detail := fmt.Sprintf("backup group %s complete: %d members, %s", m.Group, len(m.Members), humanBytes(m.Bytes()))
	if dmg := damaged(m); dmg != nil {
		if err := j.M.Site.Append(site.Record{Command: j.M.Command, Instance: name, Outcome: "damaged", Op: m.Group, Detail: detail + "; " + dmg.Error()}); err != nil {
			return m, errors.Join(dmg, err)
		}
		return m, dmg
	}
	return m, j.M.Site.Append(site.Record{Command: j.M.Command, Instance: name, Outcome: "ok", Op: m.Group, Detail: detail})
}

// damaged returns a *fingerprint.DamageError when the application reported
// data of the group's capture as damaged: the group keeps it as it was
// (a backup never repairs or drops data), but it is no sound copy of it.
func damaged(m *Manifest) error {
	d := m.Fingerprint.Damaged()
	if len(d) == 0 {
		return nil
	}
	return &fingerprint.DamageError{Instance: m.Instance, Where: fmt.Sprintf("its data at the capture of backup group %s (the group is stored, holding it as it was)", m.Group),
		Damaged: d, Advice: fmt.Sprintf("the damage predates this backup: restore those objects from an older group (`dockerbank snapshots %s`) or store them again; restores and drills of this group report it too", m.Instance)}
}

type filePlan struct {
	volume, name, quiesce string
}

type dumpPlan struct {
	volume, method, service, engine string
}

func (j *Job) backup(ctx context.Context, repo *Restic, in *site.Instance, m *Manifest, o BackupOptions) (err error) {
	p, err := j.M.Project(ctx, in.Name)
	if err != nil {
		return err
	}
	model, err := bank.Model(p)
	if err != nil {
		return err
	}
	ctrs, err := j.M.Engine.Containers(ctx, map[string]string{engine.LabelProject: in.Name})
	if err != nil {
		return err
	}
	byService := map[string][]engine.Container{}
	for _, c := range ctrs {
		byService[c.Service] = append(byService[c.Service], c)
	}
	var dumps []dumpPlan
	var files []filePlan
	quiesceIDs := map[string]string{}
	vols := make([]string, 0, len(model.Volumes))
	for v := range model.Volumes {
		vols = append(vols, v)
	}
	sort.Strings(vols)
	for _, v := range vols {
		meta := model.Volumes[v]
		if meta.Class != bank.ClassUserdata || meta.Backup == bank.BackupNone {
			continue
		}
		switch meta.Backup {
		case bank.BackupPostgresDump, bank.BackupMySQLDump, bank.BackupMongoDump:
			svc, ok := model.DatabaseFor(v)
			if !ok {
				return fmt.Errorf("volume %s is backed up by %s but no service of role database mounts it; fix the entry %s", v, meta.Backup, in.Entry)
			}
			dumps = append(dumps, dumpPlan{volume: v, method: meta.Backup, service: svc, engine: model.Services[svc].Engine})
		default:
			files = append(files, filePlan{volume: v, name: volumeName(p.Volumes[v].Name, in.Name, v), quiesce: meta.Quiesce})
			if meta.Quiesce == bank.QuiesceStop || meta.Quiesce == bank.QuiescePause || meta.Quiesce == bank.QuiesceReadonly {
				for svc := range meta.Mounts {
					for _, c := range byService[svc] {
						if c.State == "running" {
							mode := "pause"
							if meta.Quiesce == bank.QuiesceStop {
								mode = "stop"
							}
							if quiesceIDs[c.ID] != "stop" {
								quiesceIDs[c.ID] = mode
							}
						}
					}
				}
			}
		}
	}
	if len(dumps) == 0 && len(files) == 0 {
		return fmt.Errorf("instance %s has no userdata volume with a backup method; nothing to back up", in.Name)
	}
	// The fingerprint: database parts at each dump's snapshot, the others
	// (files, application APIs) now, before any snapshot is fixed, so that
	// everything they list is in the group.
	fpc, err := j.startFingerprint(ctx, in)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			j.discard(repo, m)
		}
	}()
	// Volume indexes and the manifest are written to a staging directory
	// (the same path every time, so restic finds the last one as parent)
	// and stored together last.
	staging := filepath.Join(j.cacheDir(in.Name), "staging")
	if err := os.RemoveAll(staging); err != nil {
		return fmt.Errorf("clear backup staging %s: %w", staging, err)
	}
	if err := os.MkdirAll(staging, 0o700); err != nil {
		return fmt.Errorf("create backup staging: %w", err)
	}
	// The instance record, rendered project and secrets (a restore on a
	// new host needs them) are stored beside the dumps.
	var meta Member
	metaErr := make(chan error, 1)
	go func() {
		var err error
		meta, err = j.storeMeta(ctx, repo, in, m)
		crashPoint("meta-stored")
		metaErr <- err
	}()
	// Databases are dumped hot (each at one transaction snapshot), and the
	// file volumes are captured once every database's snapshot is fixed:
	// a row that names a file was written after its file, so every file
	// the dumps reference is in the group. The capture runs beside the
	// rest of the dumps; only the capture is quiesced.
	dumped := make([]Member, len(dumps))
	var readyWG sync.WaitGroup
	readyWG.Add(len(dumps))
	dg, dctx := errgroup.WithContext(ctx)
	for i, d := range dumps {
		dg.Go(func() error {
			var once sync.Once
			ready := func() { once.Do(readyWG.Done) }
			defer ready() // a failed dumper must not hold the capture back
			mb, err := j.dump(dctx, repo, m, d, byService[d.service], ready, fpc.atSnapshot(d.service))
			if err != nil {
				return err
			}
			dumped[i] = mb
			crashPoint("dump-stored")
			return nil
		})
	}
	readyWG.Wait()
	finish := func() error {
		return errors.Join(dg.Wait(), <-metaErr)
	}
	if dctx.Err() != nil { // a dumper failed already
		return finish()
	}
	// A database container that the capture stops or pauses (it mounts a
	// quiesced file volume too) must finish its dump first.
	quiescesDB := false
	for _, d := range dumps {
		for _, c := range byService[d.service] {
			if _, ok := quiesceIDs[c.ID]; ok {
				quiescesDB = true
			}
		}
	}
	captureCtx := dctx
	if quiescesDB {
		if err := dg.Wait(); err != nil { // Wait also ends dctx
			return errors.Join(err, <-metaErr)
		}
		captureCtx = ctx
	}
	q := &quiescer{e: j.M.Engine, s: j.M.Site, command: j.M.Command, inst: in.Name, op: m.Group, crash: crashPoint}
	defer func() {
		held, rerr := q.resume()
		if held > 0 {
			m.QuiesceSecs = held.Seconds()
			j.step("containers running again after %.1fs", held.Seconds())
		}
		if rerr != nil {
			err = errors.Join(err, fmt.Errorf("restart quiesced containers: %w; run `dockerbank recover`", rerr))
		}
	}()
	if len(quiesceIDs) > 0 {
		var ids []string
		mode := "pause"
		for id, md := range quiesceIDs {
			ids = append(ids, id)
			if md == "stop" {
				mode = "stop"
			}
		}
		sort.Strings(ids)
		for _, c := range ctrs {
			if _, ok := quiesceIDs[c.ID]; ok {
				m.Quiesced = append(m.Quiesced, c.Name)
			}
		}
		m.QuiesceMode = mode
		j.step("%s %s for the capture", mode, strings.Join(m.Quiesced, ", "))
		if err := q.quiesce(ctx, ids, mode, j.M.StopTimeout); err != nil {
			return errors.Join(err, finish())
		}
	}
	var captured []Member
	for _, f := range files {
		mb, err := j.captureFiles(captureCtx, repo, m, f, staging)
		if err != nil {
			return errors.Join(err, finish())
		}
		captured = append(captured, mb)
		crashPoint("files-stored")
	}
	if err := finish(); err != nil {
		return err
	}
	m.Members = append(append(append(m.Members, meta), dumped...), captured...)
	if m.Fingerprint, err = fpc.finish(); err != nil {
		return err
	}
	held, err := q.resume()
	if err != nil {
		return fmt.Errorf("restart quiesced containers: %w; run `dockerbank recover`", err)
	}
	if held > 0 {
		m.QuiesceSecs = held.Seconds()
		j.step("%s running again after %.1fs", strings.Join(m.Quiesced, ", "), held.Seconds())
	}
	crashPoint("before-manifest")
	m.Finished = time.Now().UTC()
	data, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(staging, "manifest.json"), data, 0o600); err != nil {
		return fmt.Errorf("write manifest of group %s: %w", m.Group, err)
	}
	mtags := append(groupTags(m, "-", "manifest"), fmt.Sprintf("bytes=%d", m.Bytes()))
	if o.Tag != "" {
		mtags = append(mtags, o.Tag)
	}
	sum, err := repo.BackupDir(ctx, staging, mtags, nil)
	if err != nil {
		return fmt.Errorf("store manifest of group %s: %w", m.Group, err)
	}
	m.snapshot, m.repo = sum.SnapshotID, repo
	crashPoint("manifest-stored")
	j.keepIndexes(m, staging)
	j.step("group %s complete: %d members, %s", m.Group, len(m.Members), humanBytes(m.Bytes()))
	return nil
}

// volumeName is the engine name of a project volume.
func volumeName(declared, project, volume string) string {
	if declared != "" {
		return declared
	}
	return project + "_" + volume
}

// discard forgets the snapshots of a failed group, so that it never shows
// up; a crash leaves them behind, but without a manifest the group is
// incomplete and is listed as such (and removed by forget).
func (j *Job) discard(repo *Restic, m *Manifest) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	snaps, err := repo.Snapshots(ctx, "group="+m.Group)
	if err != nil {
		return
	}
	var ids []string
	for _, s := range snaps {
		ids = append(ids, s.ID)
	}
	_ = repo.Forget(ctx, ids)
}

// storeMeta stores instance.yaml, the rendered compose file and the
// secrets as one tar stream (encrypted by the repository).
func (j *Job) storeMeta(ctx context.Context, repo *Restic, in *site.Instance, m *Manifest) (Member, error) {
	dir := j.M.Site.InstanceDir(in.Name)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			if rel == "entry" {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: 0o600, Size: int64(len(data)), ModTime: time.Now()}); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		return Member{}, fmt.Errorf("pack instance record of %s: %w", in.Name, err)
	}
	st, sum, err := storeBytes(ctx, repo, buf.Bytes(), "instance.tar", groupTags(m, "-", KindMeta))
	if err != nil {
		return Member{}, fmt.Errorf("store instance record: %w", err)
	}
	return Member{Volume: "-", Kind: KindMeta, Snapshot: sum.SnapshotID, Bytes: st.Size, Added: sum.DataAdded,
		Streams: []Stream{st}}, nil
}

// storeBytes stores a small stream held in memory as one snapshot.
func storeBytes(ctx context.Context, repo *Restic, data []byte, name string, tags []string) (Stream, BackupSummary, error) {
	sum, err := repo.BackupStdin(ctx, bytes.NewReader(data), name, tags)
	if err != nil {
		return Stream{}, sum, err
	}
	h := sha256.Sum256(data)
	return Stream{Name: name, Size: int64(len(data)), SHA256: hex.EncodeToString(h[:])}, sum, nil
}

func (j *Job) dump(ctx context.Context, repo *Restic, m *Manifest, d dumpPlan, ctrs []engine.Container, ready func(), atSnapshot SnapshotFunc) (Member, error) {
	var ctr *engine.Container
	for i := range ctrs {
		if ctrs[i].State == "running" {
			ctr = &ctrs[i]
		}
	}
	if ctr == nil {
		return Member{}, fmt.Errorf("database service %s of %s is not running: a dump needs it; start it with `dockerbank start %s`", d.service, m.Instance, m.Instance)
	}
	dumper, err := NewDumper(ctx, j.M.Engine, ctr.ID, d.engine)
	if err != nil {
		return Member{}, fmt.Errorf("volume %s: %w", d.volume, err)
	}
	if pg, ok := dumper.(*Postgres); ok {
		pg.atSnapshot = atSnapshot
	}
	mb := Member{Volume: d.volume, Kind: KindDump, Method: d.method, Service: d.service, Engine: d.engine}
	snapOf := map[string]string{} // stream name -> snapshot
	start := time.Now()
	var mu sync.Mutex // dumpers may store several streams at once
	store := func(ctx context.Context, name string, r io.Reader) error {
		cr := &cancelReader{r: r}
		sum, err := repo.backupStdinCancel(ctx, cr, streamFile(d.volume, name), groupTags(m, d.volume, KindDump))
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		snapOf[name] = sum.SnapshotID
		mb.Added += sum.DataAdded
		crashPoint("dump-stream-stored")
		return nil
	}
	j.step("dump %s (%s in service %s)", d.volume, d.engine, d.service)
	streams, err := dumper.Dump(ctx, store, ready)
	if err != nil {
		return Member{}, fmt.Errorf("volume %s: %w", d.volume, err)
	}
	mb.Streams = streams
	snaps := make([]string, len(streams)) // in the order of Streams
	for i, st := range streams {
		snaps[i] = snapOf[st.Name]
	}
	mb.Snapshot = strings.Join(snaps, ",")
	for _, s := range streams {
		mb.Bytes += s.Size
		mb.Count++
	}
	j.step("  %s: %d stream(s), %s in %s (%s), %s new in the repository", d.volume, len(streams), humanBytes(mb.Bytes),
		time.Since(start).Round(10*time.Millisecond), rate(mb.Bytes, time.Since(start)), humanBytes(mb.Added))
	return mb, nil
}

func (j *Job) captureFiles(ctx context.Context, repo *Restic, m *Manifest, f filePlan, staging string) (Member, error) {
	vol, err := j.M.Engine.InspectVolume(ctx, f.name)
	if err != nil {
		return Member{}, fmt.Errorf("volume %s: %w", f.volume, err)
	}
	mode := j.Via
	if mode == "" {
		mode = ModeTar
		if st, err := os.Stat(vol.Mountpoint); err == nil && st.IsDir() && vol.Mountpoint != "" {
			mode = ModeDir
		}
	}
	mb := Member{Volume: f.volume, Kind: KindFiles, Method: bank.BackupFiles, Mode: mode, Live: f.quiesce == "" || f.quiesce == bank.QuiesceNone}
	start := time.Now()
	tags := groupTags(m, f.volume, KindFiles)
	switch mode {
	case ModeDir:
		if empty, err := dirEmpty(vol.Mountpoint); err != nil {
			return Member{}, fmt.Errorf("volume %s: %w", f.volume, err)
		} else if empty {
			// restic refuses to save an empty snapshot: an empty volume
			// is stored as a tar stream of its root directory.
			return j.captureEmpty(ctx, repo, mb, vol.Mountpoint, tags)
		}
		// The manifest's walk (digests of new and changed files) runs
		// beside restic: both read the same files, mostly from the page
		// cache, and restic leaves CPU to spare while it waits for I/O.
		idxPath := filepath.Join(staging, indexName(f.volume))
		iw, err := createIndex(idxPath)
		if err != nil {
			return Member{}, err
		}
		prev, closePrev := j.previousIndex(m.Instance, f.volume)
		defer closePrev()
		var root *FileRecord
		walked := make(chan error, 1)
		go func() {
			var err error
			root, err = walkVolume(vol.Mountpoint, prev, iw.add)
			err = errors.Join(err, iw.close())
			crashPoint("files-walked")
			walked <- err
		}()
		sum, err := repo.BackupDir(ctx, vol.Mountpoint, tags, j.statusOf(f.volume))
		if werr := <-walked; werr != nil {
			return Member{}, werr
		}
		if err != nil {
			return Member{}, fmt.Errorf("volume %s: %w", f.volume, err)
		}
		if mb.Live {
			n, err := settleIndex(vol.Mountpoint, idxPath)
			if err != nil {
				return Member{}, err
			}
			if n > 0 {
				j.step("  %s: %d file(s) changed during the live capture; their digests are not recorded", f.volume, n)
			}
		}
		mb.Index, mb.Root, mb.Snapshot, mb.Added = indexName(f.volume), root, sum.SnapshotID, sum.DataAdded
		mb.Count, mb.Bytes = iw.count, iw.bytes
		j.step("  %s: restic read %d new, %d changed, %d unchanged files", f.volume, sum.FilesNew, sum.FilesChanged, sum.FilesUnchanged)
	case ModeTar:
		id, err := j.M.Engine.CreateHelper(ctx, engine.HelperOptions{Image: j.helperImage(),
			Mounts: []engine.VolumeMount{{Volume: f.name, Target: "/volume", ReadOnly: true}},
			Labels: map[string]string{deploy.LabelInstance + ".helper": m.Instance}})
		if err != nil {
			return Member{}, fmt.Errorf("volume %s: %w; build it with scripts/images.sh", f.volume, err)
		}
		defer j.M.Engine.RemoveContainer(context.Background(), id)
		rc, err := j.M.Engine.CopyFrom(ctx, id, "/volume/.")
		if err != nil {
			return Member{}, fmt.Errorf("volume %s: %w", f.volume, err)
		}
		defer rc.Close()
		d := newDigest()
		pr, pw := io.Pipe()
		idx := &tarIndex{}
		idxErr := make(chan error, 1)
		go func() {
			err := idx.index(pr, "")
			pr.CloseWithError(err)
			idxErr <- err
		}()
		src := &cancelReader{r: io.TeeReader(io.TeeReader(rc, d), pw)}
		sum, err := repo.backupStdinCancel(ctx, src, f.volume+".tar", tags)
		pw.Close()
		ierr := <-idxErr
		if err != nil {
			return Member{}, fmt.Errorf("volume %s: %w", f.volume, err)
		}
		if ierr != nil {
			return Member{}, fmt.Errorf("volume %s: %w", f.volume, ierr)
		}
		// The archive API gives no order to walk beside: this index is
		// built in memory (tar mode is for engines on other hosts).
		iw, err := createIndex(filepath.Join(staging, indexName(f.volume)))
		if err != nil {
			return Member{}, err
		}
		for i := range idx.files {
			if err := iw.add(&idx.files[i]); err != nil {
				iw.close()
				return Member{}, err
			}
		}
		if err := iw.close(); err != nil {
			return Member{}, err
		}
		mb.Index, mb.Root, mb.Snapshot, mb.Added = indexName(f.volume), idx.root, sum.SnapshotID, sum.DataAdded
		mb.Count, mb.Bytes = iw.count, iw.bytes
		mb.Streams = []Stream{{Name: f.volume + ".tar", Size: d.n, SHA256: d.Sum()}}
	default:
		return Member{}, fmt.Errorf("unknown capture mode %q: use dir or tar", mode)
	}
	el := time.Since(start)
	j.step("  %s: %d entries, %s in %s (%s, %s), %s new in the repository", f.volume, mb.Count, humanBytes(mb.Bytes),
		el.Round(10*time.Millisecond), rate(mb.Bytes, el), mode, humanBytes(mb.Added))
	return mb, nil
}

func dirEmpty(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return len(names) == 0, err
}

func (j *Job) captureEmpty(ctx context.Context, repo *Restic, mb Member, dir string, tags []string) (Member, error) {
	fi, err := os.Lstat(dir)
	if err != nil {
		return Member{}, fmt.Errorf("volume %s: %w", mb.Volume, err)
	}
	root := recordOf(".", fi)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err = tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: int64(fi.Mode().Perm()), Uid: root.UID, Gid: root.GID, ModTime: root.MTime})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		return Member{}, fmt.Errorf("volume %s: %w", mb.Volume, err)
	}
	st, sum, err := storeBytes(ctx, repo, buf.Bytes(), mb.Volume+".tar", tags)
	if err != nil {
		return Member{}, fmt.Errorf("volume %s: %w", mb.Volume, err)
	}
	mb.Mode, mb.Root, mb.Snapshot, mb.Added = ModeTar, &root, sum.SnapshotID, sum.DataAdded
	mb.Streams = []Stream{st}
	j.step("  %s: empty volume", mb.Volume)
	return mb, nil
}

func (j *Job) cacheDir(instance string) string {
	return filepath.Join(j.M.Site.Dir, "cache", "backup", instance)
}

// previousIndex opens the index of a volume kept from the last backup; a
// missing one means every file is hashed. It is only a hint: a digest is
// reused only for a file whose size, mtime, ctime and inode still match.
func (j *Job) previousIndex(instance, volume string) (*indexReader, func()) {
	f, err := os.Open(filepath.Join(j.cacheDir(instance), indexName(volume)))
	if err != nil {
		return nil, func() {}
	}
	return newIndexReader(bufio.NewReaderSize(f, 256<<10)), func() { f.Close() }
}

// keepIndexes moves the stored group's volume indexes out of staging, to
// be the next backup's previous indexes. Only dir-mode indexes carry the
// inodes and ctimes that make a digest reusable: a tar-mode backup in
// between leaves the last dir-mode index in place.
func (j *Job) keepIndexes(m *Manifest, staging string) {
	for _, mb := range m.Members {
		if mb.Index != "" && mb.Mode == ModeDir {
			_ = os.Rename(filepath.Join(staging, mb.Index), filepath.Join(j.cacheDir(m.Instance), mb.Index))
		}
	}
}

// cancelReader lets the store kill restic before restic sees EOF when the
// source fails: a failing dump must never become a complete-looking
// snapshot.
type cancelReader struct {
	r      io.Reader
	cancel func()
}

func (c *cancelReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && c.cancel != nil {
		c.cancel()
	}
	return n, err
}

func (r *Restic) backupStdinCancel(ctx context.Context, cr *cancelReader, filename string, tags []string) (BackupSummary, error) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cr.cancel = cancel
	sum, err := r.BackupStdin(cctx, cr, filename, tags)
	if cctx.Err() != nil && ctx.Err() == nil {
		return sum, fmt.Errorf("source of %s failed; its partial snapshot is discarded", filename)
	}
	return sum, err
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for x := n / unit; x >= unit; x /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func rate(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return humanBytes(int64(float64(n)/d.Seconds())) + "/s"
}

// streamFile is the file name of a dump stream in its snapshot.
func streamFile(volume, stream string) string { return volume + "_" + stream }
