package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/dicom"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

var screenshots = flag.String("screenshots", "", "save the viewer test's screenshots in this directory (e.g. ../../docs/screenshots)")

// ohifImage is the viewer image of the orthanc entry's variant viewer.
const ohifImage = "dockerbank/ohif:3.13.2"

// viewerClient speaks HTTP to the viewer's port: the OHIF app and the
// DICOMweb proxy in front of Orthanc.
type viewerClient struct {
	base           string
	user, password string
	hc             *http.Client
}

func (v *viewerClient) do(ctx context.Context, method, path, ctype, accept string, body []byte, auth bool) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, v.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if auth {
		req.SetBasicAuth(v.user, v.password)
	}
	resp, err := v.hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp, data, err
}

// stow stores DICOM files with one STOW-RS request (PS3.18 10.5).
func (v *viewerClient) stow(ctx context.Context, insts []dicom.Instance) error {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, in := range insts {
		pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		if err != nil {
			return err
		}
		pw.Write(in.Data)
	}
	mw.Close()
	ctype := `multipart/related; type="application/dicom"; boundary=` + mw.Boundary()
	resp, data, err := v.do(ctx, http.MethodPost, "/dicom-web/studies", ctype, "application/dicom+json", body.Bytes(), true)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("STOW-RS: HTTP %d: %s", resp.StatusCode, data)
	}
	// A stored instance is listed under 00081199 (Referenced SOP
	// Sequence), a refused one under 00081198 (Failed SOP Sequence).
	var res map[string]struct {
		Value []json.RawMessage
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return fmt.Errorf("STOW-RS answer: %w: %s", err, data)
	}
	if n := len(res["00081198"].Value); n > 0 {
		return fmt.Errorf("STOW-RS refused %d instances: %s", n, data)
	}
	if n := len(res["00081199"].Value); n != len(insts) {
		return fmt.Errorf("STOW-RS stored %d instances of %d: %s", n, len(insts), data)
	}
	return nil
}

// studies lists the Study Instance UIDs QIDO-RS returns, sorted.
func (v *viewerClient) studies(ctx context.Context) ([]string, error) {
	resp, data, err := v.do(ctx, http.MethodGet, "/dicom-web/studies", "", "application/dicom+json", nil, true)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("QIDO-RS: HTTP %d: %s", resp.StatusCode, data)
	}
	var res []struct {
		StudyUID struct {
			Value []string
		} `json:"0020000D"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, fmt.Errorf("QIDO-RS answer: %w: %s", err, data)
	}
	var uids []string
	for _, s := range res {
		uids = append(uids, s.StudyUID.Value...)
	}
	slices.Sort(uids)
	return uids, nil
}

// instance retrieves one instance's file with WADO-RS, in the transfer
// syntax it was stored in (transfer-syntax=*: no transcoding).
func (v *viewerClient) instance(ctx context.Context, in dicom.Instance) ([]byte, error) {
	path := "/dicom-web/studies/" + in.StudyUID + "/series/" + in.SeriesUID + "/instances/" + in.SOPInstanceUID
	resp, data, err := v.do(ctx, http.MethodGet, path, "", `multipart/related; type="application/dicom"; transfer-syntax=*`, nil, true)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("WADO-RS %s: HTTP %d: %s", path, resp.StatusCode, data)
	}
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		return nil, fmt.Errorf("WADO-RS %s: %w", path, err)
	}
	mr := multipart.NewReader(bytes.NewReader(data), params["boundary"])
	p, err := mr.NextPart()
	if err != nil {
		return nil, fmt.Errorf("WADO-RS %s: %w", path, err)
	}
	file, err := io.ReadAll(p)
	if err != nil {
		return nil, err
	}
	if _, err := mr.NextPart(); err != io.EOF {
		return nil, fmt.Errorf("WADO-RS %s: more than one part", path)
	}
	return file, nil
}

// studyUIDs returns the distinct studies of generated instances, sorted.
func studyUIDs(insts []dicom.Instance) []string {
	var uids []string
	for _, in := range insts {
		if !slices.Contains(uids, in.StudyUID) {
			uids = append(uids, in.StudyUID)
		}
	}
	slices.Sort(uids)
	return uids
}

// TestOrthancViewer deploys the orthanc entry's variant viewer (Orthanc
// 1.10.1 behind the OHIF viewer, dockerbank/ohif) and checks what its users
// rely on: no high lint finding, nothing without credentials, DICOMweb through the viewer's port
// (STOW-RS stores files that come back byte-identical, QIDO-RS lists them),
// cache headers, and in a real browser (headless Chromium) a login, the
// study list with exactly the stored studies, and a study's images drawn;
// then the same after a backup, a damage and a restore.
func TestOrthancViewer(t *testing.T) {
	h := newHarness(t)
	testenv.RequireImages(t, "dockerbank/orthanc:1.10.1", ohifImage)
	name := uniqueName("viewer")
	h.cleanup(name)
	port := freeTCPPort(t)
	h.ok("deploy", "orthanc", "--name", name, "--version", orthancVersion, "--variant", "viewer",
		"--set", "HTTP_PORT="+port, "--set", "DICOM_PORT="+freeTCPPort(t))

	for _, c := range []string{name + "-db-1", name + "-orthanc-1", name + "-viewer-1"} {
		if health := docker(t, "inspect", "-f", "{{.State.Health.Status}}", c); health != "healthy" {
			t.Errorf("%s is %s after deploy", c, health)
		}
	}
	if ports := docker(t, "port", name+"-orthanc-1"); strings.Contains(ports, "8042") {
		t.Errorf("the variant viewer publishes Orthanc's HTTP port: %s", ports)
	}
	if user := docker(t, "exec", name+"-viewer-1", "id", "-u"); user == "0" {
		t.Errorf("nginx of the viewer runs as root")
	}
	// The rendered project has no high finding of `dockerbank lint`.
	if r := h.run("lint", name); r.code != 0 {
		t.Errorf("dockerbank lint %s: exit %d\n%s%s", name, r.code, r.out, r.err)
	}
	pw, err := os.ReadFile(filepath.Join(h.site, "instances", name, "secrets", "admin_password"))
	if err != nil {
		t.Fatal(err)
	}
	v := &viewerClient{base: "http://127.0.0.1:" + port, user: "admin", password: strings.TrimSpace(string(pw)),
		hc: &http.Client{Timeout: time.Minute}}
	ctx := t.Context()

	t.Run("no access without credentials", func(t *testing.T) {
		for _, path := range []string{"/dicom-web/studies", "/", "/app-config.js", "/viewer?StudyInstanceUIDs=1.2.3", "/wado?requestType=WADO"} {
			for _, wrong := range []bool{false, true} {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, v.base+path, nil)
				if wrong {
					req.SetBasicAuth("admin", "wrong-"+v.password)
				}
				resp, err := v.hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("GET %s (wrong password: %v): %d, want 401", path, wrong, resp.StatusCode)
				}
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
					t.Errorf("GET %s: 401 without a basic challenge (WWW-Authenticate %q): the browser would show no login", path, resp.Header.Get("WWW-Authenticate"))
				}
				if bytes.Contains(body, []byte("Synthetic")) {
					t.Errorf("GET %s without credentials shows patient data", path)
				}
			}
		}
		resp, _, err := v.do(ctx, http.MethodGet, "/healthz", "", "", nil, false)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("GET /healthz without credentials: %v %v, want 200 (the health check)", resp, err)
		}
	})

	t.Run("app and cache headers", func(t *testing.T) {
		resp, page, err := v.do(ctx, http.MethodGet, "/", "", "", nil, true)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET / as admin: %v %v", resp, err)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("index.html: Cache-Control %q, want no-cache", cc)
		}
		bundle := ""
		for _, f := range strings.Split(string(page), `"`) {
			if strings.HasPrefix(f, "/app.bundle.") && strings.HasSuffix(f, ".js") {
				bundle = f
			}
		}
		if bundle == "" {
			t.Fatalf("index.html names no app bundle:\n%s", page)
		}
		resp, _, err = v.do(ctx, http.MethodGet, bundle, "", "", nil, true)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %v %v", bundle, resp, err)
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") || !strings.Contains(cc, "max-age=31536000") {
			t.Errorf("%s: Cache-Control %q, want a year and immutable", bundle, cc)
		}
		resp, cfg, err := v.do(ctx, http.MethodGet, "/app-config.js", "", "", nil, true)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /app-config.js: %v %v", resp, err)
		}
		if !strings.Contains(string(cfg), "qidoRoot: '/dicom-web'") {
			t.Errorf("app-config.js does not point OHIF at this origin's /dicom-web:\n%s", cfg)
		}
		if strings.Contains(string(cfg), v.password) || strings.Contains(string(page), v.password) {
			t.Errorf("a file the browser downloads holds the admin password")
		}
	})

	// Two studies of two synthetic patients, three images each, 256x256.
	set := dicom.Set{Seed: time.Now().UnixNano() % 1e9, InstancesPerSeries: 3, Rows: 256, Columns: 256}
	var insts []dicom.Instance
	for i := range 6 {
		insts = append(insts, set.Instance(i))
	}
	want := studyUIDs(insts)

	t.Run("STOW-RS through the viewer, byte-identical back", func(t *testing.T) {
		if err := v.stow(ctx, insts); err != nil {
			t.Fatal(err)
		}
		got, err := v.studies(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("QIDO-RS lists studies %v, want %v", got, want)
		}
		for _, in := range insts {
			file, err := v.instance(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(file, in.Data) {
				t.Errorf("instance %d: WADO-RS returns %d bytes that differ from the %d stored", in.Index, len(file), len(in.Data))
			}
		}
	})
	if t.Failed() {
		return
	}

	shots := *screenshots
	t.Run("browser", func(t *testing.T) {
		viewInBrowser(t, testenv.StartBrowser(t, 1400, 900), v, insts, shots, "")
	})

	t.Run("browser after backup, damage and restore", func(t *testing.T) {
		h.ok("backup", name)
		// Damage: every DICOM file gone from the storage volume, and every
		// resource gone from the index in PostgreSQL.
		docker(t, "exec", name+"-orthanc-1", "sh", "-c", "rm -rf /var/lib/orthanc/db/*")
		docker(t, "exec", name+"-db-1", "psql", "-U", "orthanc", "-d", "orthanc", "-c", "delete from resources")
		got, err := v.studies(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Fatalf("after the damage QIDO-RS still lists %v", got)
		}
		h.ok("restore", name)
		waitViewer(t, v)
		got, err = v.studies(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("after the restore QIDO-RS lists studies %v, want %v", got, want)
		}
		for _, in := range insts {
			file, err := v.instance(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(file, in.Data) {
				t.Errorf("instance %d differs after the restore", in.Index)
			}
		}
		// A new browser: the first one keeps the credentials it logged in
		// with until it is closed.
		viewInBrowser(t, testenv.StartBrowser(t, 1400, 900), v, insts, shots, "-restored")
	})
}

// waitViewer polls until QIDO-RS answers through the viewer.
func waitViewer(t *testing.T, v *viewerClient) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		_, err := v.studies(t.Context())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the viewer's DICOMweb does not answer: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// viewInBrowser logs into the viewer in Chromium (answering its login
// dialog), checks that the study list shows exactly the studies of insts,
// opens the first study and checks that its image is drawn, with no
// failed DICOMweb request and no console error on the way. Screenshots go
// to dir as ohif-*SUFFIX.png.
func viewInBrowser(t *testing.T, b *testenv.Browser, v *viewerClient, insts []dicom.Instance, dir, suffix string) {
	var mu syncList
	t.Helper()
	// The login dialog: cancelled first (a visitor without an account),
	// then answered with the admin user's credentials.
	var login atomic.Bool
	b.On("Fetch.authRequired", func(p json.RawMessage) {
		var ev struct{ RequestID string }
		json.Unmarshal(p, &ev)
		answer := map[string]any{"response": "CancelAuth"}
		if login.Load() {
			answer = map[string]any{"response": "ProvideCredentials", "username": v.user, "password": v.password}
		}
		b.Send("Fetch.continueWithAuth", map[string]any{"requestId": ev.RequestID, "authChallengeResponse": answer})
	})
	b.On("Fetch.requestPaused", func(p json.RawMessage) {
		var ev struct{ RequestID string }
		json.Unmarshal(p, &ev)
		b.Send("Fetch.continueRequest", map[string]any{"requestId": ev.RequestID})
	})
	b.On("Runtime.consoleAPICalled", func(p json.RawMessage) {
		var ev struct {
			Type string
			Args []struct {
				Value       any
				Description string
			}
		}
		json.Unmarshal(p, &ev)
		if ev.Type != "error" {
			return
		}
		var parts []string
		for _, a := range ev.Args {
			parts = append(parts, fmt.Sprint(a.Value)+a.Description)
		}
		mu.add("console error: " + strings.Join(parts, " "))
	})
	b.On("Runtime.exceptionThrown", func(p json.RawMessage) {
		mu.add("exception: " + string(p))
	})
	b.On("Network.responseReceived", func(p json.RawMessage) {
		var ev struct {
			Response struct {
				URL    string
				Status int
			}
		}
		json.Unmarshal(p, &ev)
		if ev.Response.Status >= 400 && strings.Contains(ev.Response.URL, "/dicom-web/") {
			mu.add(fmt.Sprintf("HTTP %d for %s", ev.Response.Status, ev.Response.URL))
		}
	})
	b.Call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1400, "height": 900, "deviceScaleFactor": 1, "mobile": false}, nil)
	b.Call("Runtime.enable", nil, nil)
	b.Call("Network.enable", nil, nil)
	b.Call("Fetch.enable", map[string]any{"handleAuthRequests": true, "patterns": []map[string]any{{"urlPattern": "*"}}}, nil)
	// A fresh session: no cached credentials, no cached pages.
	b.Call("Network.clearBrowserCache", nil, nil)
	b.Navigate(v.base + "/")
	b.WaitFor("the refusal without a login", `document.readyState === 'complete' && document.title.includes('401')`, time.Minute)
	if n := b.Eval(`document.querySelectorAll('script').length`); n != 0.0 {
		t.Errorf("without a login the page loads %v scripts, want nginx's 401 page", n)
	}
	login.Store(true)
	b.Navigate(v.base + "/")
	// The list shows one row per study (tr[aria-selected]), with its
	// patient's name as OHIF writes it ("Synthetic, Patient000000") and the
	// accession number.
	var rows []string
	for _, in := range insts {
		study, _ := strings.CutPrefix(in.PatientName, "Synthetic^")
		row := "Synthetic, " + study
		if !slices.Contains(rows, row) {
			rows = append(rows, row)
		}
	}
	slices.Sort(rows)
	b.WaitFor("the study list", `document.querySelectorAll('tbody tr[aria-selected]').length > 0`, 3*time.Minute)
	got := b.Eval(`[...document.querySelectorAll('tbody tr[aria-selected]')].map(r => r.cells[0].innerText.trim()).sort().join('|')`)
	if got != strings.Join(rows, "|") {
		t.Errorf("the study list shows %q, want exactly the stored studies %q", got, strings.Join(rows, "|"))
	}
	dismissNotices(b)
	b.Screenshot(dir, "ohif-studylist"+suffix+".png")

	// Open the first study in the viewer.
	in := insts[0]
	b.Navigate(v.base + "/viewer?StudyInstanceUIDs=" + in.StudyUID)
	b.WaitFor("a viewport canvas", `document.querySelector('.cornerstone-canvas, canvas.cornerstone-canvas, [data-viewport-uid] canvas')`, 3*time.Minute)
	b.WaitFor("the patient in the viewer", `document.body.innerText.includes(`+testenv.JSString(in.PatientID)+`) || document.body.innerText.includes('Patient')`, time.Minute)
	drawn := false
	deadline := time.Now().Add(2 * time.Minute)
	for !drawn && time.Now().Before(deadline) {
		drawn = canvasDrawn(t, b)
		if !drawn {
			time.Sleep(500 * time.Millisecond)
		}
	}
	dismissNotices(b)
	b.Screenshot(dir, "ohif-viewer"+suffix+".png")
	if !drawn {
		t.Errorf("the study's image is not drawn in the viewport")
	}
	for _, e := range mu.all() {
		t.Errorf("%s", e)
	}
	b.Call("Fetch.disable", nil, nil)
}

// dismissNotices closes OHIF's "investigational use" banner and its
// first-visit tour, which cover part of the page in screenshots.
func dismissNotices(b *testenv.Browser) {
	b.Eval(`(() => {
		for (const el of document.querySelectorAll('button, a, .shepherd-button')) {
			const t = el.innerText.trim();
			if (t === 'Confirm and hide' || t === 'Skip all') el.click();
		}
		return true;
	})()`)
	time.Sleep(300 * time.Millisecond) // the banner fades out
}

// canvasDrawn reports whether the viewport's canvas shows an image: the
// generated images are a gradient with a bright disc, so a drawn one has
// many distinct grey levels where an empty viewport has one.
func canvasDrawn(t *testing.T, b *testenv.Browser) bool {
	v := b.Eval(`(() => {
		const c = document.querySelector('canvas.cornerstone-canvas') || document.querySelector('[data-viewport-uid] canvas');
		if (!c || c.width === 0) return 0;
		const probe = document.createElement('canvas');
		probe.width = c.width; probe.height = c.height;
		const ctx = probe.getContext('2d');
		ctx.drawImage(c, 0, 0);
		const d = ctx.getImageData(0, 0, c.width, c.height).data;
		const levels = new Set();
		for (let i = 0; i < d.length; i += 4 * 7) levels.add(d[i]);
		return levels.size;
	})()`)
	n, _ := v.(float64)
	return n > 20
}

func jsAll(ss []string) string {
	q, _ := json.Marshal(ss)
	return string(q)
}

// syncList collects messages from the browser's reading goroutine.
type syncList struct {
	mu   sync.Mutex
	msgs []string
}

func (l *syncList) add(s string) {
	l.mu.Lock()
	l.msgs = append(l.msgs, s)
	l.mu.Unlock()
}

func (l *syncList) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.msgs)
}
