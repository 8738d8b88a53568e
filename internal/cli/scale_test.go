package cli

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/dicom"
	"github.com/dockerbank/dockerbank/internal/site"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// TestScaleOrthanc proves issue 14 item 2 on the real engine: Orthanc
// 1.10.1 scaled to three replicas on one PostgreSQL index and one storage
// volume behind dockerbank's proxy. 200 DICOM uploads through the published
// port, four at a time, are spread over the replicas (the proxy's per-server
// answers), while one replica is killed: the client retries what failed and
// every one of the 200 is then stored, readable byte for byte through every
// replica directly (its container address); a backup of the scaled instance
// restores into a new instance with the same replicas and the same files;
// scaling back to one replica restores the plain service; and `scale` of an
// unmarked service (demo's app) is refused with its reason, exit 6.
func TestScaleOrthanc(t *testing.T) {
	testenv.RequireImages(t, "dockerbank/orthanc:"+orthancVersion, "dockerbank/postgres:15", "dockerbank/busybox:1.36", deploy.ProxyImage)
	testenv.RequireCommand(t, "restic")
	h := newHarness(t)
	name := uniqueName("sc5")
	o := deployOrthanc(t, h, name)
	ctx := t.Context()

	begin := time.Now()
	out := h.ok("scale", name, "orthanc=3")
	t.Logf("scale orthanc=3: %.1fs", time.Since(begin).Seconds())
	for _, want := range []string{"orthanc#1", "orthanc#2", "orthanc#3", deploy.ProxyService} {
		if !strings.Contains(out, want) {
			t.Errorf("scale output lacks %s:\n%s", want, out)
		}
	}
	s, err := site.Open(h.site)
	if err != nil {
		t.Fatal(err)
	}
	if in, err := s.Instance(name); err != nil || in.Scale["orthanc"] != 3 {
		t.Fatalf("instance record scale %v (%v), want orthanc: 3", in.Scale, err)
	}
	o.waitREST(t)
	replicas := map[string]string{} // container address -> container name
	for i := 1; i <= 3; i++ {
		ctr := fmt.Sprintf("%s-orthanc-%d", name, i)
		replicas[containerIP(t, ctr)] = ctr
	}
	proxyIP := containerIP(t, name+"-"+deploy.ProxyService+"-1")
	before := proxyAnswers(t, proxyIP)

	// 200 uploads, four at a time, through the published port; replica 2
	// is killed after the 50th. Every failed upload is retried.
	set := dicom.Set{Seed: time.Now().UnixNano(), StudiesPerPatient: 2, SeriesPerStudy: 5, InstancesPerSeries: 10}
	const total = 200
	var (
		mu      sync.Mutex
		done    int
		retries int
		killed  = make(chan struct{})
		once    sync.Once
		wg      sync.WaitGroup
		failed  []error
	)
	jobs := make(chan dicom.Instance)
	begin = time.Now()
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for in := range jobs {
				err := storeRetrying(ctx, o.api, in, func() { mu.Lock(); retries++; mu.Unlock() })
				mu.Lock()
				if err != nil {
					failed = append(failed, err)
				}
				done++
				if done == 50 {
					once.Do(func() { close(killed) })
				}
				mu.Unlock()
			}
		}()
	}
	killErr := make(chan error, 1)
	go func() {
		<-killed
		out, err := exec.Command("docker", "kill", name+"-orthanc-2").CombinedOutput()
		if err != nil {
			err = fmt.Errorf("docker kill: %v: %s", err, out)
		}
		killErr <- err
	}()
	insts := make([]dicom.Instance, total)
	for i := range insts {
		insts[i] = set.Instance(i)
		jobs <- insts[i]
	}
	close(jobs)
	wg.Wait()
	if err := <-killErr; err != nil {
		t.Fatal(err)
	}
	t.Logf("200 uploads through the proxy with replica 2 killed after 50: %.1fs, %d retries", time.Since(begin).Seconds(), retries)
	for _, err := range failed {
		t.Errorf("upload lost after retries: %v", err)
	}
	after := proxyAnswers(t, proxyIP)
	spread := map[string]int{}
	sum := 0
	for slot, a := range after {
		n := a.answers - before[slot].answers
		who := replicas[before[slot].addr]
		if n > 0 && who == "" {
			who = "proxy slot " + slot
		}
		if n > 0 {
			spread[who] += n
			sum += n
		}
	}
	t.Logf("2xx answers per replica during the uploads (proxy statistics): %v", spread)
	for _, ctr := range replicas {
		if spread[ctr] < 10 {
			t.Errorf("replica %s answered %d uploads, want a share of the 200 (%v)", ctr, spread[ctr], spread)
		}
	}
	if sum < total {
		t.Errorf("the proxy counted %d successful answers, want at least %d", sum, total)
	}

	// A killed container stays down (the engine's restart policy leaves
	// what was killed); start brings the instance's three replicas up
	// again. Every instance is readable through every replica, byte for
	// byte.
	h.ok("start", name)
	for i := 1; i <= 3; i++ {
		waitHealthy(t, fmt.Sprintf("%s-orthanc-%d", name, i))
	}
	want := map[string]string{}
	for _, in := range insts {
		want[in.OrthancID()] = sha(in.Data)
	}
	for i := 1; i <= 3; i++ {
		ctr := fmt.Sprintf("%s-orthanc-%d", name, i)
		direct := &orthancInst{name: name, ctr: ctr, api: &dicom.Orthanc{URL: "http://" + containerIP(t, ctr) + ":8042", User: o.api.User, Password: o.api.Password}}
		if got := direct.contents(t); !sameContents(got, want) {
			t.Errorf("replica %s serves %d instances, want the %d uploaded, byte for byte", ctr, len(got), len(want))
		}
	}
	ps := h.ok("ps", name)
	for _, w := range []string{"orthanc#1", "orthanc#2", "orthanc#3", deploy.ProxyService} {
		if !strings.Contains(ps, w) {
			t.Errorf("ps lacks %s:\n%s", w, ps)
		}
	}

	// A backup of the scaled instance restores identical into a new
	// instance, which runs the same replicas.
	begin = time.Now()
	h.ok("backup", name)
	t.Logf("backup of the scaled instance: %.1fs", time.Since(begin).Seconds())
	h.ok("stop", name) // the copy publishes the entry's ports, which the live one holds
	cp := name + "-r"
	h.cleanup(cp)
	begin = time.Now()
	h.ok("restore", name, "--as", cp)
	t.Logf("restore --as: %.1fs", time.Since(begin).Seconds())
	if in, err := s.Instance(cp); err != nil || in.Scale["orthanc"] != 3 {
		t.Errorf("restored instance scale %v (%v), want orthanc: 3", in.Scale, err)
	}
	c := *o
	c.name, c.ctr = cp, cp+"-orthanc-1"
	c.waitREST(t)
	if got := c.contents(t); !sameContents(got, want) {
		t.Errorf("the restored copy serves %d instances, want the %d uploaded, byte for byte", len(got), len(want))
	}
	c.checkIndexAndStorage(t)
	h.ok("rm", cp, "--purge-data", "--confirm", cp, "--force")
	if left := projectObjects(t, cp); len(left) > 0 {
		t.Errorf("rm of the copy left %v", left)
	}
	h.ok("start", name)

	// One replica: the plain service publishes its ports again.
	h.ok("scale", name, "orthanc=1")
	o.waitREST(t)
	if got := docker(t, "ps", "-aq", "--filter", "label=com.docker.compose.project="+name); len(strings.Fields(got)) != 2 {
		t.Errorf("after orthanc=1 the instance runs %d containers, want db and orthanc", len(strings.Fields(got)))
	}
	if got := o.contents(t); !sameContents(got, want) {
		t.Errorf("after orthanc=1 Orthanc serves %d instances, want %d", len(got), len(want))
	}

	// Refusals: an unmarked service, a count above the maximum.
	r := h.run("scale", name, "orthanc=5")
	if r.code != ExitRefused || !strings.Contains(r.err, "above the maximum of 4") {
		t.Errorf("scale orthanc=5: exit %d, stderr %q; want 6 naming the maximum", r.code, r.err)
	}
	demo := uniqueName("sc5d")
	h.cleanup(demo)
	h.ok("deploy", "demo", "--name", demo)
	r = h.run("scale", demo, "app=2")
	if r.code != ExitRefused || !strings.Contains(r.err, "service app of entry demo is not marked scalable") {
		t.Errorf("scale of demo's app: exit %d, stderr %q; want 6 with the reason", r.code, r.err)
	}
	if got := docker(t, "ps", "-aq", "--filter", "label=com.docker.compose.project="+demo, "--filter", "label=com.docker.compose.service=app"); len(strings.Fields(got)) != 1 {
		t.Errorf("the refused scale changed demo's app: %d containers", len(strings.Fields(got)))
	}
	if rec, err := os.ReadFile(filepath.Join(h.site, "instances", demo, "instance.yaml")); err != nil || strings.Contains(string(rec), "scale") {
		t.Errorf("the refused scale was recorded: %s (%v)", rec, err)
	}
}

// storeRetrying stores one instance, retrying (up to a minute) what fails
// as a client of a balanced service would.
func storeRetrying(ctx context.Context, api *dicom.Orthanc, in dicom.Instance, retried func()) error {
	deadline := time.Now().Add(time.Minute)
	for {
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		st, err := api.Store(c, in.Data)
		cancel()
		if err == nil && st.ID != in.OrthancID() {
			return fmt.Errorf("instance %d stored as %s, want %s", in.Index, st.ID, in.OrthancID())
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || errors.Is(ctx.Err(), context.Canceled) {
			return fmt.Errorf("instance %d: %w", in.Index, err)
		}
		retried()
		time.Sleep(200 * time.Millisecond)
	}
}

func sameContents(got, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for id, sum := range want {
		if got[id] != sum {
			return false
		}
	}
	return true
}

// containerIP is a container's address on its (one) network.
func containerIP(t *testing.T, ctr string) string {
	t.Helper()
	ip := docker(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", ctr)
	if ip == "" {
		t.Fatalf("container %s has no address", ctr)
	}
	return ip
}

// slotAnswers is one server slot of the proxy's HTTP backend: the replica
// address it holds and the 2xx answers it counted.
type slotAnswers struct {
	addr    string
	answers int
}

// proxyAnswers reads the proxy's statistics (CSV): per server slot of the
// Orthanc HTTP backend, its replica's address and its 2xx answers (a slot
// keeps its counters when its replica goes away, not its address).
func proxyAnswers(t *testing.T, proxyIP string) map[string]slotAnswers {
	t.Helper()
	resp, err := http.Get("http://" + proxyIP + ":" + strconv.Itoa(deploy.ProxyStatsPort) + "/stats;csv")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := csv.NewReader(resp.Body)
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("proxy statistics: %v (%d rows)", err, len(rows))
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[strings.TrimPrefix(h, "# ")] = i
	}
	for _, k := range []string{"pxname", "svname", "hrsp_2xx", "addr"} {
		if _, ok := col[k]; !ok {
			t.Fatalf("proxy statistics have no column %s: %v", k, rows[0])
		}
	}
	out := map[string]slotAnswers{}
	for _, row := range rows[1:] {
		if len(row) <= col["addr"] || row[col["pxname"]] != "orthanc-8042" || !strings.HasPrefix(row[col["svname"]], "replica") {
			continue
		}
		addr, _, _ := strings.Cut(row[col["addr"]], ":")
		n, _ := strconv.Atoi(row[col["hrsp_2xx"]])
		out[row[col["svname"]]] = slotAnswers{addr: addr, answers: n}
	}
	return out
}
