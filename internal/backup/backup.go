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
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/fingerprint"
	"github.com/dockerbank/dockerbank/internal/progress"
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
	// From, if set, is the repository restores, drills and listings
	// read instead of the site's (an off-site copy).
	From *Restic
	// LimitUpload and LimitDownload (KiB/s) override the site's limits
	// for this run.
	LimitUpload, LimitDownload int
	// trash tracks the background deletion of a restore's replaced volume
	// contents (emptyDir); nil outside a restore.
	trash *sync.WaitGroup
}

// Progress goes to the manager's reporter (j.M.Report): steps, and
// progress.Capture events a few times a second while a file volume is
// captured, progress.Copy events while a copy runs, and the sizes and
// times of what was stored.

// report sends e to the manager's reporter.
func (j *Job) report(e progress.Event) { progress.Send(j.M.Report, e) }

// step reports one step of the job.
func (j *Job) step(format string, args ...any) {
	progress.Stepf(j.M.Report, "", format, args...)
}

// statusOf passes restic's status of a volume capture on as
// progress.Capture events (nil without a reporter: restic is then not
// asked for status).
func (j *Job) statusOf(instance, volume string) func(Status) {
	if j.M.Report == nil {
		return nil
	}
	return func(s Status) {
		j.report(progress.Event{Phase: progress.Capture, Instance: instance, Volume: volume,
			Done: s.BytesDone, Total: s.TotalBytes, Items: s.FilesDone, Seconds: s.Seconds})
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
	if _, err := resumePending(ctx, j.M.Site, j.engine(), j.M.Command); err != nil {
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
		Version: in.Version, Variant: in.Variant, Params: in.Params, Scale: in.Scale, Uses: in.Uses, Started: time.Now().UTC()}
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
	detail := fmt.Sprintf("backup group %s complete: %d members, %s", m.Group, len(m.Members), progress.Bytes(m.Bytes()))
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

// observe reads what a group plan is made from.
func (j *Job) observe(ctx context.Context, in *site.Instance) (PlanFacts, error) {
	p, err := j.M.Project(ctx, in.Name)
	if err != nil {
		return PlanFacts{}, err
	}
	model, err := bank.Model(p)
	if err != nil {
		return PlanFacts{}, err
	}
	ctrs, err := j.engine().Containers(ctx, map[string]string{engine.LabelProject: in.Name})
	if err != nil {
		return PlanFacts{}, err
	}
	names := map[string]string{}
	for v, cfg := range p.Volumes {
		names[v] = cfg.Name
	}
	f := PlanFacts{Instance: in.Name, Entry: in.Entry, Model: model, VolumeNames: names, Containers: ctrs, Via: j.Via}
	ts, err := j.M.Tenants(in.Name)
	if err != nil {
		return PlanFacts{}, err
	}
	for _, t := range ts {
		c, err := j.M.ServerContainer(ctx, t.Server)
		if err != nil {
			return PlanFacts{}, err
		}
		f.Shared = append(f.Shared, SharedDB{Service: t.Service, Server: t.Server, Engine: t.Engine, Database: t.Database, Role: t.Role, Container: c})
	}
	users, err := j.M.TenantsOf(in.Name)
	if err != nil {
		return PlanFacts{}, err
	}
	for _, t := range users {
		f.Exclude = append(f.Exclude, t.Database)
	}
	return f, nil
}

// backup observes the instance, plans the group and applies the plan.
func (j *Job) backup(ctx context.Context, repo *Restic, in *site.Instance, m *Manifest, o BackupOptions) error {
	facts, err := j.observe(ctx, in)
	if err != nil {
		return err
	}
	plan, err := PlanGroup(facts)
	if err != nil {
		return err
	}
	return j.apply(ctx, repo, in, m, plan, o)
}

// apply captures a planned group: the instance record and the dumps run
// concurrently; the file captures start once every dump's snapshot is
// fixed (a row that names a file was written after its file, so every
// file the dumps reference is in the group), quiesced for as long as they
// run; the manifest is stored last.
func (j *Job) apply(ctx context.Context, repo *Restic, in *site.Instance, m *Manifest, p *GroupPlan, o BackupOptions) (err error) {
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
	meta := goMember(func() (Member, error) {
		mb, err := j.storeMeta(ctx, repo, in, m)
		crashPoint("meta-stored")
		return mb, err
	})
	dumps := j.startDumps(ctx, repo, m, p, fpc)
	finish := func() error {
		_, merr := meta.wait()
		return errors.Join(dumps.wait(), merr)
	}
	// Dumps run hot; the capture waits until every snapshot is fixed.
	if !dumps.snapshotsFixed() { // a dumper failed already
		return finish()
	}
	captureCtx := dumps.ctx
	if p.DumpsFirst {
		if err := dumps.wait(); err != nil { // wait also ends dumps.ctx
			return finish()
		}
		captureCtx = ctx
	}
	var captured []Member
	err = j.whileQuiesced(ctx, in, m, p, func() error {
		for _, f := range p.Files {
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
		metaMember, _ := meta.wait()
		m.Members = append(append(append(m.Members, metaMember), dumps.members...), captured...)
		var err error
		m.Fingerprint, err = fpc.finish()
		return err
	}, finish)
	if err != nil {
		return err
	}
	crashPoint("before-manifest")
	return j.storeManifest(ctx, repo, m, staging, o)
}

// whileQuiesced runs capture with the plan's containers stopped or paused
// and starts them again however it ends (also when the context is
// cancelled); their journal records let Resume finish the job after a
// crash. A failed quiesce returns with onFail's error joined.
func (j *Job) whileQuiesced(ctx context.Context, in *site.Instance, m *Manifest, p *GroupPlan, capture, onFail func() error) (err error) {
	q := &quiescer{e: j.engine(), s: j.M.Site, command: j.M.Command, inst: in.Name, op: m.Group, crash: crashPoint}
	defer func() {
		held, rerr := q.resume()
		if held > 0 {
			m.QuiesceSecs = held.Seconds()
			j.step("%s running again after %.1fs", strings.Join(m.Quiesced, ", "), held.Seconds())
		}
		if rerr != nil {
			err = errors.Join(err, fmt.Errorf("restart quiesced containers: %w; run `dockerbank recover`", rerr))
		}
	}()
	if len(p.Quiesce) > 0 {
		m.Quiesced, m.QuiesceMode = p.QuiesceNames(), p.QuiesceMode
		j.step("%s %s for the capture", p.QuiesceMode, strings.Join(m.Quiesced, ", "))
		if err := q.quiesce(ctx, p.QuiesceIDs(), p.QuiesceMode, j.M.StopTimeout); err != nil {
			return errors.Join(err, onFail())
		}
	}
	return capture()
}

// storeManifest writes the manifest beside the volume indexes in staging
// and stores them as the group's last snapshot: only now is the group
// complete.
func (j *Job) storeManifest(ctx context.Context, repo *Restic, m *Manifest, staging string, o BackupOptions) error {
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
	j.report(progress.Event{Phase: progress.Group, Instance: m.Instance, Target: m.Group, Items: int64(len(m.Members)), Done: m.Bytes()})
	return nil
}

// pendingMember is a Member being stored by a goroutine.
type pendingMember struct {
	done chan struct{}
	mb   Member
	err  error
}

func goMember(fn func() (Member, error)) *pendingMember {
	f := &pendingMember{done: make(chan struct{})}
	go func() {
		defer close(f.done)
		f.mb, f.err = fn()
	}()
	return f
}

// wait returns the member once stored; it may be called any number of
// times.
func (f *pendingMember) wait() (Member, error) {
	<-f.done
	return f.mb, f.err
}

// runningDumps are the dumps of a group in progress.
type runningDumps struct {
	ctx     context.Context // ends when a dump fails or all are done
	g       *errgroup.Group
	ready   sync.WaitGroup
	members []Member // in the plan's order, once wait returns nil
}

// startDumps starts every dump of the plan, hot and concurrently.
func (j *Job) startDumps(ctx context.Context, repo *Restic, m *Manifest, p *GroupPlan, fpc *fpCapture) *runningDumps {
	r := &runningDumps{members: make([]Member, len(p.Dumps))}
	r.g, r.ctx = errgroup.WithContext(ctx)
	r.ready.Add(len(p.Dumps))
	for i, d := range p.Dumps {
		r.g.Go(func() error {
			var once sync.Once
			ready := func() { once.Do(r.ready.Done) }
			defer ready() // a failed dumper must not hold the capture back
			mb, err := j.dump(r.ctx, repo, m, d, ready, fpc.atSnapshot(d.Service))
			if err != nil {
				return err
			}
			r.members[i] = mb
			crashPoint("dump-stored")
			return nil
		})
	}
	return r
}

// snapshotsFixed waits until every dump has fixed its snapshot (or
// failed) and reports whether all are still running or done.
func (r *runningDumps) snapshotsFixed() bool {
	r.ready.Wait()
	return r.ctx.Err() == nil
}

// wait waits for every dump to finish.
func (r *runningDumps) wait() error { return r.g.Wait() }

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

// streamFile is the file name of a dump stream in its snapshot.
func streamFile(volume, stream string) string { return volume + "_" + stream }

// engine is the engine under the job's manager. Backups and restores
// stream through helper containers and pause, stop and exec into
// containers, beyond the lifecycle seam deploy.Engine declares (which the
// in-memory engine of internal/enginetest implements for unit tests): a
// Job runs on a real *engine.Engine, anything else is a programming error.
func (j *Job) engine() *engine.Engine {
	e, ok := j.M.Engine.(*engine.Engine)
	if !ok {
		panic(fmt.Sprintf("backup.Job needs a *engine.Engine, the manager has %T", j.M.Engine))
	}
	return e
}
