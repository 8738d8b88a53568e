package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/backup"
	"github.com/dockerbank/dockerbank/internal/dicom"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/site"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// orthancVersion is the entry version built from Debian's packages, which
// runs here without a registry.
const orthancVersion = "1.10.1"

// orthancInst is a deployed Orthanc instance under test.
type orthancInst struct {
	name string
	ctr  string // the orthanc container's name
	api  *dicom.Orthanc
}

func freeTCPPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// deployOrthanc deploys orthanc 1.10.1 on free host ports and returns a
// REST client that authenticates with the instance's generated password.
func deployOrthanc(t *testing.T, h *harness, name string) *orthancInst {
	t.Helper()
	h.cleanup(name)
	port := freeTCPPort(t)
	h.ok("deploy", "orthanc", "--name", name, "--version", orthancVersion,
		"--set", "HTTP_PORT="+port, "--set", "DICOM_PORT="+freeTCPPort(t))
	pw, err := os.ReadFile(filepath.Join(h.site, "instances", name, "secrets", "admin_password"))
	if err != nil {
		t.Fatal(err)
	}
	in := &orthancInst{name: name, ctr: name + "-orthanc-1",
		api: &dicom.Orthanc{URL: "http://127.0.0.1:" + port, User: "admin", Password: strings.TrimSpace(string(pw))}}
	in.waitREST(t)
	return in
}

// waitREST polls until the REST API answers with the credentials.
func (o *orthancInst) waitREST(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		err := o.api.Ping(t.Context())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Orthanc %s does not answer: %v", o.name, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// storeREST uploads instances over REST and checks that Orthanc gives
// each the identifier computed from its UIDs.
func (o *orthancInst) storeREST(t *testing.T, insts []dicom.Instance) {
	t.Helper()
	for _, in := range insts {
		st, err := o.api.Store(t.Context(), in.Data)
		if err != nil {
			t.Fatalf("store instance %d over REST: %v", in.Index, err)
		}
		if st.ID != in.OrthancID() {
			t.Fatalf("Orthanc stored instance %d as %s, want %s", in.Index, st.ID, in.OrthancID())
		}
	}
}

// storeCSTORE sends instances with DICOM C-STORE: dcmtk's storescu inside
// the Orthanc container, fed through the engine's archive API.
func (o *orthancInst) storeCSTORE(t *testing.T, e *engine.Engine, insts []dicom.Instance) {
	t.Helper()
	ctx := t.Context()
	dir := "dockerbank-cstore-" + strings.ToLower(rand6())
	var tarBuf bytes.Buffer
	if err := dicom.WriteTar(&tarBuf, dir, insts); err != nil {
		t.Fatal(err)
	}
	if err := e.CopyTo(ctx, o.ctr, "/tmp", &tarBuf); err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, in := range insts {
		files = append(files, "/tmp/"+dir+"/"+dicom.TarName(in))
	}
	var out bytes.Buffer
	err := e.Exec(ctx, o.ctr, dicom.StoreSCU("127.0.0.1", 4242, "ORTHANC", files...), engine.ExecOptions{Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatalf("storescu: %v\n%s", err, out.String())
	}
	// The archive API extracts as root.
	if err := e.Exec(ctx, o.ctr, []string{"rm", "-rf", "/tmp/" + dir}, engine.ExecOptions{User: "root"}); err != nil {
		t.Fatal(err)
	}
}

// sameDataset checks that a file Orthanc returns holds the generated
// instance's data set, element for element.
func sameDataset(t *testing.T, in dicom.Instance, data []byte) {
	t.Helper()
	got, err := dicom.Parse(data)
	if err != nil {
		t.Errorf("instance %d as Orthanc returns it: %v", in.Index, err)
		return
	}
	want, err := dicom.Parse(in.Data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Dataset) != len(want.Dataset) {
		t.Errorf("instance %d: Orthanc returns %d data elements, %d were sent", in.Index, len(got.Dataset), len(want.Dataset))
		return
	}
	for i, w := range want.Dataset {
		if g := got.Dataset[i]; g.Tag != w.Tag || g.VR != w.VR || !bytes.Equal(g.Value, w.Value) {
			t.Errorf("instance %d: element %s differs after C-STORE (%s %d bytes, sent %s %d bytes)", in.Index, w.Tag, g.VR, len(g.Value), w.VR, len(w.Value))
		}
	}
}

func rand6() string { return uniqueName("x")[2:] }

// contents returns the SHA-256 of every stored instance's file, fetched
// through GET /instances/ID/file.
func (o *orthancInst) contents(t *testing.T) map[string]string {
	t.Helper()
	ids, err := o.api.Instances(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, id := range ids {
		data, err := o.api.File(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		out[id] = hex.EncodeToString(sum[:])
	}
	return out
}

func sha(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// upload is one REST upload of the background writer.
type upload struct {
	inst       dicom.Instance
	start, end time.Time
	err        error
}

// uploader stores instances of set from index first on, one after the
// other, until stop is closed.
func uploader(o *orthancInst, set dicom.Set, first int, stop <-chan struct{}) (<-chan []upload, func() int) {
	done := make(chan []upload, 1)
	var mu sync.Mutex
	n := 0
	go func() {
		var ups []upload
		for i := first; ; i++ {
			select {
			case <-stop:
				done <- ups
				return
			default:
			}
			in := set.Instance(i)
			u := upload{inst: in, start: time.Now()}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_, u.err = o.api.Store(ctx, in.Data)
			cancel()
			u.end = time.Now()
			ups = append(ups, u)
			mu.Lock()
			n++
			mu.Unlock()
		}
	}()
	return done, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// storageFiles returns the regular files of a group's storage volume.
func storageFiles(t *testing.T, h *harness, instance, group string) []backup.FileRecord {
	t.Helper()
	s, err := site.Open(h.site)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	repo, err := backup.OpenRepo(ctx, s, false)
	if err != nil {
		t.Fatal(err)
	}
	g, err := backup.FindGroup(ctx, repo, instance, group)
	if err != nil {
		t.Fatal(err)
	}
	man, err := backup.LoadManifest(ctx, repo, g)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := man.VolumeFiles(ctx, "storage")
	if err != nil {
		t.Fatal(err)
	}
	var files []backup.FileRecord
	for _, r := range recs {
		if r.Type == "file" {
			files = append(files, r)
		}
	}
	return files
}

// attachmentUUIDs lists the storage UUIDs the PostgreSQL index of the
// instance references.
func attachmentUUIDs(t *testing.T, instance string) map[string]bool {
	t.Helper()
	out := docker(t, "exec", instance+"-db-1", "psql", "-U", "orthanc", "-d", "orthanc", "-tAc", "select uuid from attachedfiles")
	m := map[string]bool{}
	for _, u := range strings.Fields(out) {
		m[u] = true
	}
	return m
}

// checkIndexAndStorage proves that Orthanc's index and its storage area
// agree: every attachment's file is there and matches the MD5 Orthanc
// recorded (verify-md5), and Orthanc's counts are those of the index.
// It returns the index's attachment UUIDs.
func (o *orthancInst) checkIndexAndStorage(t *testing.T) map[string]bool {
	t.Helper()
	ctx := t.Context()
	ids, err := o.api.Instances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := o.api.VerifyMD5(ctx, id); err != nil {
			t.Errorf("instance %s: %v", id, err)
		}
	}
	st, err := o.api.Statistics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	uuids := attachmentUUIDs(t, o.name)
	if st.CountInstances != len(ids) || len(uuids) != len(ids) {
		t.Errorf("Orthanc counts %d instances, lists %d, its index holds %d attachments", st.CountInstances, len(ids), len(uuids))
	}
	return uuids
}

// TestOrthancEndToEnd proves a real DICOM archive's data through backup and
// restore: files stored over REST and C-STORE, a backup while uploads go
// on, changes after it, an in-place restore, verify and dr drill.
func TestOrthancEndToEnd(t *testing.T) {
	testenv.RequireImages(t, "dockerbank/orthanc:"+orthancVersion, "dockerbank/postgres:15", "dockerbank/busybox:1.36")
	testenv.RequireCommand(t, "restic")
	h := newHarness(t)
	e, err := engine.Connect(t.Context(), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	name := uniqueName("orth")
	o := deployOrthanc(t, h, name)
	set := dicom.Set{Seed: time.Now().UnixNano(), StudiesPerPatient: 2, SeriesPerStudy: 2, InstancesPerSeries: 5}
	want := map[string]dicom.Instance{} // stored before the backup, by Orthanc ID

	// 30 instances over REST, 10 over C-STORE; Orthanc returns each file
	// byte for byte.
	var rest, cstore []dicom.Instance
	for i := 0; i < 40; i++ {
		in := set.Instance(i)
		want[in.OrthancID()] = in
		if i < 30 {
			rest = append(rest, in)
		} else {
			cstore = append(cstore, in)
		}
	}
	o.storeREST(t, rest)
	o.storeCSTORE(t, e, cstore)
	got := o.contents(t)
	if len(got) != 40 {
		t.Fatalf("Orthanc holds %d instances after 30 REST and 10 C-STORE uploads", len(got))
	}
	wantSum := map[string]string{} // what Orthanc returned before the backup
	for _, in := range rest {
		if got[in.OrthancID()] != sha(in.Data) {
			t.Errorf("instance %d (%s), stored over REST, is not returned byte for byte", in.Index, in.OrthancID())
		}
		wantSum[in.OrthancID()] = sha(in.Data)
	}
	// C-STORE carries the data set, not the file: Orthanc writes its own
	// file meta group, so the data sets must be equal element by element.
	for _, in := range cstore {
		data, err := o.api.File(t.Context(), in.OrthancID())
		if err != nil {
			t.Fatal(err)
		}
		sameDataset(t, in, data)
		wantSum[in.OrthancID()] = sha(data)
	}
	o.checkIndexAndStorage(t)

	// The backup runs while a client keeps uploading: hot, nothing fails.
	stop := make(chan struct{})
	results, count := uploader(o, set, 100, stop)
	waitFor(t, "3 uploads before the backup", func() bool { return count() >= 3 })
	bStart := time.Now()
	r := h.run("backup", name, "--json")
	bEnd := time.Now()
	n := count()
	waitFor(t, "3 uploads after the backup", func() bool { return count() >= n+3 })
	close(stop)
	ups := <-results
	if r.code != 0 {
		t.Fatalf("backup during uploads: exit %d\n%s\n%s", r.code, r.out, r.err)
	}
	var sums []struct {
		Group    string
		Quiesced []string
		Members  []struct {
			Volume string
			Count  int64
		}
	}
	if err := json.Unmarshal([]byte(r.out), &sums); err != nil || len(sums) != 1 {
		t.Fatalf("backup --json: %v\n%s", err, r.out)
	}
	if len(sums[0].Quiesced) > 0 {
		t.Errorf("the backup quiesced %v; Orthanc must stay up", sums[0].Quiesced)
	}
	group := sums[0].Group
	var before, during, after []dicom.Instance
	for _, u := range ups {
		if u.err != nil {
			t.Errorf("upload of instance %d during the backup failed: %v", u.inst.Index, u.err)
		}
		switch {
		case u.end.Before(bStart):
			before = append(before, u.inst)
			want[u.inst.OrthancID()] = u.inst
			wantSum[u.inst.OrthancID()] = sha(u.inst.Data)
		case u.start.After(bEnd):
			after = append(after, u.inst)
		default:
			during = append(during, u.inst)
		}
	}
	t.Logf("backup took %s; uploads: %d before, %d during, %d after it", bEnd.Sub(bStart).Round(10*time.Millisecond), len(before), len(during), len(after))
	if len(during) == 0 {
		t.Fatal("no upload ran during the backup: the test proved nothing about a hot backup")
	}

	// Changes after the backup: 3 instances deleted, 5 added.
	for _, in := range rest[:3] { // in want: they must come back
		if err := o.api.Delete(t.Context(), in.OrthancID()); err != nil {
			t.Fatal(err)
		}
	}
	var later []dicom.Instance
	for i := 0; i < 5; i++ {
		later = append(later, set.Instance(5000+i))
	}
	o.storeREST(t, later)
	later = append(later, after...)

	// In-place restore: the staging copy runs beside the live instance.
	out := h.ok("restore", name)
	t.Logf("restore: %s", strings.TrimSpace(out))
	o.waitREST(t)
	got = o.contents(t)
	for id, in := range want {
		if got[id] != wantSum[id] {
			t.Errorf("instance %d (%s), stored before the backup, is missing or differs after the restore", in.Index, id)
		}
	}
	for _, in := range later {
		if _, ok := got[in.OrthancID()]; ok {
			t.Errorf("instance %d, stored after the backup, is still there after the restore", in.Index)
		}
	}
	inFlight := 0
	for _, in := range during {
		if h, ok := got[in.OrthancID()]; ok {
			inFlight++
			if h != sha(in.Data) {
				t.Errorf("instance %d, stored during the backup, differs after the restore", in.Index)
			}
		}
	}
	if len(got) != len(want)+inFlight {
		t.Errorf("Orthanc holds %d instances after the restore, want %d (+%d stored during the backup)", len(got), len(want), inFlight)
	}
	t.Logf("of %d uploads during the backup, %d are in the group", len(during), inFlight)

	// The index and the storage volume agree. The index is dumped first
	// and the storage read after, so the group may hold files of instances
	// uploaded in between, which no restored index references; no file the
	// index references may be missing.
	uuids := o.checkIndexAndStorage(t)
	inManifest := map[string]bool{}
	for _, f := range storageFiles(t, h, name, group) {
		inManifest[filepath.Base(f.Path)] = true
	}
	// The restored volume also holds files created while the live volume
	// was read, which the manifest does not list (Member.Live).
	orphans := map[string]bool{}
	for _, f := range strings.Fields(docker(t, "exec", o.ctr, "find", "/var/lib/orthanc/db", "-type", "f")) {
		orphans[filepath.Base(f)] = true
	}
	for u := range inManifest {
		if !orphans[u] {
			t.Errorf("storage file %s of the group's manifest is not in the restored volume", u)
		}
	}
	for u := range uuids {
		if !inManifest[u] {
			t.Errorf("attachment %s of the restored index is not in the group's manifest", u)
		}
		delete(orphans, u)
	}
	if len(orphans) > len(during)-inFlight {
		t.Errorf("the group's storage holds %d files no index references, but only %d uploads fell between dump and capture", len(orphans), len(during)-inFlight)
	}
	t.Logf("the hot group's storage holds %d files of instances stored after the index dump", len(orphans))

	// A quiet backup: Orthanc's counts and disk size equal the manifest's
	// files, apart from the unreferenced files the hot group brought back.
	r = h.run("backup", name, "--json")
	if r.code != 0 || json.Unmarshal([]byte(r.out), &sums) != nil {
		t.Fatalf("quiet backup: exit %d\n%s\n%s", r.code, r.out, r.err)
	}
	st, err := o.api.Statistics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	uuids = attachmentUUIDs(t, name)
	var total int64
	referenced := 0
	for _, f := range storageFiles(t, h, name, sums[0].Group) {
		switch u := filepath.Base(f.Path); {
		case uuids[u]:
			referenced++
			total += f.Size
		case !orphans[u]:
			t.Errorf("quiet backup: storage file %s (%d bytes, mtime %s) is neither referenced by the index nor one the hot group brought back", f.Path, f.Size, f.MTime)
		}
	}
	if referenced != st.CountInstances || st.TotalDiskSize.String() != strconv.FormatInt(total, 10) {
		t.Errorf("quiet backup: the manifest has %d referenced storage files, %d bytes; Orthanc counts %d instances, %s bytes", referenced, total, st.CountInstances, st.TotalDiskSize)
	}

	// verify and dr drill restore into throwaway instances beside the live
	// one (its host ports are taken) and pass.
	h.ok("verify", name)
	prefix := uniqueName("odr") + "-"
	t.Cleanup(func() { removeProjects(t, prefix+name) })
	h.ok("dr", "drill", "--prefix", prefix)
	if got := o.contents(t); len(got) != st.CountInstances {
		t.Errorf("the live instance holds %d instances after verify and drill, had %d", len(got), st.CountInstances)
	}
}

// stepWatch is a stderr that closes seen once a progress line holding
// want was written.
type stepWatch struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *stepWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *stepWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// attachmentPath returns the storage path (inside the Orthanc container)
// of an instance's DICOM file, from the PostgreSQL index.
func attachmentPath(t *testing.T, instance, orthancID string) string {
	t.Helper()
	u := docker(t, "exec", instance+"-db-1", "psql", "-U", "orthanc", "-d", "orthanc", "-tAc",
		"select a.uuid from attachedfiles a join resources r on r.internalid = a.id where r.publicid = '"+orthancID+"' and a.filetype = 1")
	if len(u) < 4 {
		t.Fatalf("no DICOM attachment of %s in the index: %q", orthancID, u)
	}
	return "/var/lib/orthanc/db/" + u[0:2] + "/" + u[2:4] + "/" + u
}

func completeGroups(t *testing.T, h *harness, instance string) []string {
	t.Helper()
	var groups []struct {
		ID       string
		Complete bool
	}
	if err := json.Unmarshal([]byte(h.ok("snapshots", instance, "--json")), &groups); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, g := range groups {
		if g.Complete {
			ids = append(ids, g.ID)
		}
	}
	return ids
}

func waitHealthy(t *testing.T, ctr string) {
	t.Helper()
	waitFor(t, ctr+" running and healthy", func() bool {
		out, _ := exec.Command("docker", "inspect", "-f", "{{.State.Status}} {{.State.Health.Status}}", ctr).Output()
		return strings.TrimSpace(string(out)) == "running healthy"
	})
}

// TestOrthancBadInput: a broken upload during a backup, a stored file
// corrupted before a backup, Orthanc killed during the backup's
// fingerprint and during its capture, a damaged repository.
func TestOrthancBadInput(t *testing.T) {
	testenv.RequireImages(t, "dockerbank/orthanc:"+orthancVersion, "dockerbank/postgres:15", "dockerbank/busybox:1.36")
	testenv.RequireCommand(t, "restic")
	h := newHarness(t)
	name := uniqueName("obad")
	o := deployOrthanc(t, h, name)
	set := dicom.Set{Seed: time.Now().UnixNano(), InstancesPerSeries: 10}
	var insts []dicom.Instance
	for i := 0; i < 20; i++ {
		insts = append(insts, set.Instance(i))
	}
	o.storeREST(t, insts)

	t.Run("broken upload during a backup", func(t *testing.T) {
		done := make(chan result, 1)
		go func() { done <- h.run("backup", name) }()
		bad := append([]byte(nil), set.Instance(999).Data...)
		copy(bad[128:], "DUCK") // no DICM marker: not a DICOM file
		_, err := o.api.Store(t.Context(), bad)
		var he *dicom.HTTPError
		if !errors.As(err, &he) || he.Status != 400 {
			t.Errorf("Orthanc accepted or mis-answered a non-DICOM upload: %v", err)
		}
		if r := <-done; r.code != 0 {
			t.Fatalf("backup beside a refused upload: exit %d: %s", r.code, r.err)
		}
		if st, _ := o.api.Statistics(t.Context()); st.CountInstances != 20 {
			t.Errorf("Orthanc counts %d instances, want 20", st.CountInstances)
		}
	})

	t.Run("stored file corrupted before a backup", func(t *testing.T) {
		victim := insts[7].OrthancID()
		p := attachmentPath(t, name, victim)
		docker(t, "exec", "-u", "root", o.ctr, "sh", "-c", "printf 'XXXXXXXX' | dd of="+p+" bs=1 seek=400 conv=notrunc 2>/dev/null")
		// On disk the file no longer has the MD5 Orthanc recorded (its
		// storage cache may still answer verify-md5 from memory).
		recorded, err := o.api.MD5(t.Context(), victim)
		if err != nil {
			t.Fatal(err)
		}
		if onDisk, _, _ := strings.Cut(docker(t, "exec", "-u", "root", o.ctr, "md5sum", p), " "); onDisk == recorded {
			t.Fatal("the flipped bytes did not change the stored file: the test proves nothing")
		}
		// The backup keeps the file as it is (it never "repairs" or drops
		// data) and stores the group, but fails loudly, naming the
		// instance.
		before := completeGroups(t, h, name)
		r := h.run("backup", name)
		if r.code != ExitError || !strings.Contains(r.err, victim) || !strings.Contains(r.err, "damaged") || !strings.Contains(r.err, name) {
			t.Errorf("backup of a damaged stored file: exit %d, stderr %q; want exit 1 naming %s and instance %s", r.code, r.err, name, victim)
		}
		if after := completeGroups(t, h, name); len(after) != len(before)+1 {
			t.Fatalf("the backup of data with a damaged file did not store its group: complete groups %d -> %d", len(before), len(after))
		}
		// dr drill and verify restore the group faithfully and fail on
		// it. The drill first: it restores the newest verified group, else
		// the newest complete one, and no group of this site is verified
		// yet (this subtest runs before any verify).
		prefix := uniqueName("odd") + "-"
		t.Cleanup(func() { removeProjects(t, prefix+name) })
		r = h.run("dr", "drill", "--prefix", prefix)
		if r.code == 0 || !strings.Contains(r.err, victim) {
			t.Errorf("dr drill of a group holding a damaged file: exit %d, stderr %q; want a failure naming %s", r.code, r.err, victim)
		}
		if left := projectObjects(t, prefix+name); len(left) > 0 {
			t.Errorf("the failed drill left %v", left)
		}
		r = h.run("verify", name)
		if r.code == 0 || !strings.Contains(r.err, victim) || !strings.Contains(r.err, "damaged already at the capture") {
			t.Errorf("verify of a group holding a damaged file: exit %d, stderr %q; want a failure naming %s", r.code, r.err, victim)
		}
		// A restore brings the data back as it was, warns, and shows
		// Orthanc the same damage: nothing hidden, every other instance
		// intact.
		h.ok("stop", name) // restore --as keeps the entry's ports, which the live one holds
		cp := name + "-c"
		h.cleanup(cp)
		r = h.run("restore", name, "--as", cp)
		if r.code != 0 || !strings.Contains(r.err+r.out, "WARNING") || !strings.Contains(r.err+r.out, victim) {
			t.Errorf("restore --as of a group holding a damaged file: exit %d, want 0 with a warning naming %s:\n%s\n%s", r.code, victim, r.out, r.err)
		}
		c := *o
		c.name, c.ctr = cp, cp+"-orthanc-1"
		c.waitREST(t)
		ids, err := c.api.Instances(t.Context())
		if err != nil || len(ids) != 20 {
			t.Fatalf("restored copy lists %d instances (%v), want 20", len(ids), err)
		}
		for _, id := range ids {
			err := c.api.VerifyMD5(t.Context(), id)
			if (err != nil) != (id == victim) {
				t.Errorf("restored copy: verify-md5 of %s: %v (the damaged one is %s)", id, err, victim)
			}
		}
		h.ok("rm", cp, "--purge-data", "--confirm", cp, "--force")
		h.ok("start", name)
		o.waitREST(t)
		// Repair the live instance for the next subtest: store the file again.
		if err := o.api.Delete(t.Context(), victim); err != nil {
			t.Fatal(err)
		}
		o.storeREST(t, insts[7:8])
	})

	// A crash, not an operator's stop: SIGKILL to Orthanc's process
	// (`docker kill` would count as a manual stop, which the restart
	// policy respects), at a step of the backup: while the fingerprint
	// asks Orthanc, or once it is taken, while the index is dumped and the
	// storage volume captured (neither needs Orthanc).
	for _, c := range []struct{ name, step string }{
		{"Orthanc crashes during the fingerprint", "as the application sees it"},
		{"Orthanc crashes during the capture", "dump index"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := completeGroups(t, h, name)
			pid := docker(t, "inspect", "-f", "{{.State.Pid}}", o.ctr) // looked up first: the kill follows the step at once
			w := &stepWatch{want: c.step, seen: make(chan struct{})}
			done := make(chan result, 1)
			go func() {
				var out bytes.Buffer
				code := Main(append(append([]string{"--site", h.site}, h.extra...), "backup", name), Streams{In: strings.NewReader(""), Out: &out, Err: w})
				done <- result{out.String(), w.String(), code}
			}()
			var r result
			select {
			case <-w.seen:
				if out, err := exec.Command("kill", "-KILL", pid).CombinedOutput(); err != nil {
					t.Fatalf("kill Orthanc (pid %s): %v %s", pid, err, out)
				}
				r = <-done
			case r = <-done:
				t.Fatalf("the backup ended before its step %q: exit %d\n%s", c.step, r.code, r.err)
			}
			var errLines []string // what Main printed as the error, not the progress
			for _, l := range strings.Split(r.err, "\n") {
				if strings.HasPrefix(l, "dockerbank: ") {
					errLines = append(errLines, l)
				}
			}
			t.Logf("backup with Orthanc killed at %q: exit %d %s", c.step, r.code, strings.Join(errLines, "; "))
			after := completeGroups(t, h, name)
			switch {
			case r.code == 0 && len(after) != len(before)+1:
				t.Errorf("backup succeeded but complete groups went from %d to %d", len(before), len(after))
			case r.code != 0 && len(after) != len(before):
				t.Errorf("backup failed but a complete group was added:\n%s", r.err)
			case r.code != 0 && !strings.Contains(strings.Join(errLines, "\n"), name):
				t.Errorf("the error does not name the instance:\n%s", r.err)
			case c.step == "dump index" && r.code != 0:
				t.Errorf("Orthanc killed after the fingerprint failed the backup, which needs only the database and the volume from then on:\n%s", r.err)
			}
			// The restart policy brings Orthanc back; nothing dockerbank
			// did may keep it down.
			waitHealthy(t, o.ctr)
			o.waitREST(t)
			if st, _ := o.api.Statistics(t.Context()); st.CountInstances != 20 {
				t.Errorf("Orthanc counts %d instances after the kill, want 20", st.CountInstances)
			}
			if r.code == 0 { // the group made while Orthanc died must restore whole
				h.ok("verify", name)
			}
		})
	}

	t.Run("damaged repository", func(t *testing.T) {
		h.ok("backup", name)
		packs, err := filepath.Glob(filepath.Join(h.site, "backups", "data", "*", "*"))
		if err != nil || len(packs) == 0 {
			t.Fatalf("no pack files in the repository: %v", err)
		}
		for _, p := range packs { // flip bytes in the middle of every pack
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := f.Stat()
			f.WriteAt([]byte("dockerbank-damage"), fi.Size()/2)
			f.Close()
		}
		r := h.run("verify", name, "--read-data-subset", "100%")
		if r.code == 0 || !strings.Contains(r.err, "check") {
			t.Errorf("verify of a damaged repository: exit %d, stderr %q; want a failed restic check", r.code, r.err)
		}
		prefix := uniqueName("obd") + "-"
		t.Cleanup(func() { removeProjects(t, prefix+name) })
		r = h.run("dr", "drill", "--prefix", prefix)
		if r.code == 0 {
			t.Errorf("dr drill from a damaged repository passed:\n%s", r.out)
		}
		if left := projectObjects(t, prefix+name); len(left) > 0 {
			t.Errorf("the failed drill left %v", left)
		}
		waitHealthy(t, o.ctr)
		if st, _ := o.api.Statistics(t.Context()); st.CountInstances != 20 {
			t.Errorf("the live instance counts %d instances after the failed drill, want 20", st.CountInstances)
		}
	})
}
