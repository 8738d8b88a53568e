// Command benchaudit makes the images of the audit benchmark and scores the
// results of dockerbank and trivy on them. run.sh drives it:
//
//	benchaudit gen planted OUT.tar      leaky image + OUT.tar.truth.json
//	benchaudit gen many N OUT.tar [K]   one layer of N small text files under /app,
//	                                    K of them .env files (candidates)
//	benchaudit report WORKDIR           markdown table from the runs in WORKDIR
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "benchaudit:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch {
	case len(args) == 3 && args[0] == "gen" && args[1] == "planted":
		return genPlanted(args[2])
	case (len(args) == 4 || len(args) == 5) && args[0] == "gen" && args[1] == "many":
		n, err := strconv.Atoi(args[2])
		if err != nil {
			return err
		}
		k := 0
		if len(args) == 5 {
			if k, err = strconv.Atoi(args[4]); err != nil {
				return err
			}
		}
		return genMany(n, k, args[3])
	case len(args) == 2 && args[0] == "report":
		return report(args[1], os.Stdout)
	}
	return fmt.Errorf("usage: benchaudit gen planted OUT.tar | gen many N OUT.tar | report WORKDIR")
}

// artefact is one planted thing and how each tool's output shows it.
type artefact struct {
	ID      string `json:"id"`
	Core    bool   `json:"core"` // one of the 9 of the reference image
	Path    string `json:"path,omitempty"`
	Layer   int    `json:"layer"`
	Deleted bool   `json:"deleted"`
	// Rules are the dockerbank rule IDs that count as finding it.
	Rules []string `json:"rules"`
	// Keyword marks config artefacts in trivy's output (no path).
	Keyword string `json:"keyword,omitempty"`
}

type file struct {
	name    string
	content []byte
	mode    int64
}

const (
	awsKeyID    = "AKIAQ3EGZZXJ7WPLANTD"
	awsSecret   = "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"
	ghToken     = "ghp_Zq9RkT4mWx2bN7cV1pL8sD3fG6hJ0kA5yE2u"
	glToken     = "glpat-Xk29fLm3Qp7Rt8Vw1ZyA"
	envPassword = "S3cr3t-Planted-Passw0rd"
)

var privateKey = "-----BEGIN RSA PRIVATE KEY-----\n" +
	"MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n" +
	"VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n" +
	"-----END RSA PRIVATE KEY-----\n"

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func dicom() []byte {
	b := make([]byte, 128, 160)
	return append(append(b, "DICM"...), 2, 0, 0, 0, 'U', 'L', 4, 0)
}

func genPlanted(out string) error {
	layers := [][]file{
		{ // 0: base
			{name: "etc/os-release", content: []byte("ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n")},
			{name: "bin/sh", content: []byte("\x7fELF\x00")},
		},
		{ // 1: the application, with everything that should not be there
			{name: "app/.env", content: []byte("DB_PASSWORD=" + envPassword + "\nAWS_ACCESS_KEY_ID=" + awsKeyID + "\nAWS_SECRET_ACCESS_KEY=" + awsSecret + "\n")},
			{name: "root/.ssh/id_rsa", content: []byte(privateKey), mode: 0o600},
			{name: "app/data/patients.sqlite", content: append([]byte("SQLite format 3\x00"), make([]byte, 4080)...)},
			{name: "app/export/patients.csv", content: []byte("mrn,dob,icd10,name\n000123,1964-08-12,E11.9,Erika Mustermann\n")},
			{name: "app/scans/ct0001.dcm", content: dicom()},
			{name: "app/backup.sql", content: []byte("CREATE TABLE patients (mrn text, name text);\nINSERT INTO patients VALUES ('000123', 'Erika Mustermann');\n")},
			{name: "var/lib/postgresql/data/PG_VERSION", content: []byte("16\n")},
			{name: "var/lib/postgresql/data/base/1/1259", content: make([]byte, 8192)},
			{name: "app/config/ci.yml", content: []byte("github_token: " + ghToken + "\n")},
			{name: "app/config/gitlab.txt", content: []byte("token=" + glToken + "\n")},
			{name: "app/gcp.json", content: []byte(`{"type": "service_account", "project_id": "p", "private_key_id": "abc", "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----\n", "client_email": "x@p.iam.gserviceaccount.com"}`)},
			{name: "root/.pgpass", content: []byte("db:5432:*:postgres:" + envPassword + "\n")},
			{name: "root/.git-credentials", content: []byte("https://u:" + envPassword + "@example.org\n")},
			{name: "root/.docker/config.json", content: []byte(`{"auths":{"registry.example.org":{"auth":"dTpwbGFudGVk"}}}`)},
			{name: "app/hl7/adt.hl7", content: []byte("MSH|^~\\&|HIS|RAD|||202401011200||ADT^A01|1|P|2.5\rPID|1||000123^^^H^MR||Mustermann^Erika\r")},
			{name: "app/fhir/bundle.json", content: []byte(`{"resourceType":"Bundle","type":"collection","entry":[]}`)},
			{name: "var/lib/mysql/ibdata1", content: make([]byte, 4096)},
			{name: "app/backup.sql.gz", content: gz([]byte("COPY public.visits (id) FROM stdin;\n1\n\\.\n"))},
			{name: "var/www/redcap_v14.0.1/redcap_connect.php", content: []byte("<?php\n")},
		},
		{ // 2: "cleanup" that removes files from view but not from the image
			{name: "root/.ssh/.wh.id_rsa"},
			{name: "app/data/.wh.patients.sqlite"},
			{name: "app/.wh.backup.sql"},
		},
	}
	truth := []artefact{
		{ID: ".env with DB password and AWS key", Core: true, Path: "app/.env", Layer: 1, Rules: []string{"DBK-DATA-001", "DBK-DATA-002"}},
		{ID: "id_rsa, deleted later", Core: true, Path: "root/.ssh/id_rsa", Layer: 1, Deleted: true, Rules: []string{"DBK-DATA-001"}},
		{ID: "patients.sqlite, deleted later", Core: true, Path: "app/data/patients.sqlite", Layer: 1, Deleted: true, Rules: []string{"DBK-DATA-003"}},
		{ID: "patients.csv (MRN, DOB)", Core: true, Path: "app/export/patients.csv", Layer: 1, Rules: []string{"DBK-DATA-006"}},
		{ID: "DICOM file", Core: true, Path: "app/scans/ct0001.dcm", Layer: 1, Rules: []string{"DBK-DATA-005"}},
		{ID: "backup.sql with patient rows, deleted later", Core: true, Path: "app/backup.sql", Layer: 1, Deleted: true, Rules: []string{"DBK-DATA-004"}},
		{ID: "PostgreSQL data directory", Core: true, Path: "var/lib/postgresql/data", Layer: 1, Rules: []string{"DBK-DATA-003"}},
		{ID: "password in a Config.Env URL", Core: true, Layer: -1, Rules: []string{"DBK-DATA-002"}, Keyword: "DATABASE_URL"},
		{ID: "User 0:0", Core: true, Layer: -1, Rules: []string{"DBK-HARD-001"}, Keyword: "DS-0002"},
		{ID: "GitHub token in a config file", Path: "app/config/ci.yml", Layer: 1, Rules: []string{"DBK-DATA-002"}},
		{ID: "GitLab token", Path: "app/config/gitlab.txt", Layer: 1, Rules: []string{"DBK-DATA-002"}},
		{ID: "GCP service account key", Path: "app/gcp.json", Layer: 1, Rules: []string{"DBK-DATA-001", "DBK-DATA-002"}},
		{ID: ".pgpass", Path: "root/.pgpass", Layer: 1, Rules: []string{"DBK-DATA-001"}},
		{ID: ".git-credentials", Path: "root/.git-credentials", Layer: 1, Rules: []string{"DBK-DATA-001"}},
		{ID: "docker config.json with auths", Path: "root/.docker/config.json", Layer: 1, Rules: []string{"DBK-DATA-001"}},
		{ID: "HL7 v2 message", Path: "app/hl7/adt.hl7", Layer: 1, Rules: []string{"DBK-DATA-005"}},
		{ID: "FHIR bundle", Path: "app/fhir/bundle.json", Layer: 1, Rules: []string{"DBK-DATA-005"}},
		{ID: "MySQL data file", Path: "var/lib/mysql", Layer: 1, Rules: []string{"DBK-DATA-003"}},
		{ID: "gzip SQL dump", Path: "app/backup.sql.gz", Layer: 1, Rules: []string{"DBK-DATA-004"}},
		{ID: "REDCap source", Path: "var/www/redcap_v14.0.1/redcap_connect.php", Layer: 1, Rules: []string{"DBK-LIC-001"}},
		{ID: "token in a build ARG", Layer: -1, Rules: []string{"DBK-DATA-002"}, Keyword: "API_TOKEN"},
	}
	history := []string{"ADD file:base in /", "COPY . /", "|1 API_TOKEN=planted-arg-token-9f8e7d /bin/sh -c rm -f /root/.ssh/id_rsa /app/data/patients.sqlite /app/backup.sql"}
	cfg := v1.Config{
		User: "0:0",
		Env:  []string{"PATH=/usr/bin:/bin", "DATABASE_URL=postgres://app:UrlPlantedPw77@db:5432/app"},
	}
	if err := writeImage(out, "bench/planted:1", layers, history, cfg); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(truth, "", "  ")
	return os.WriteFile(out+".truth.json", b, 0o644)
}

// genMany writes one layer of n small text files outside /usr (trivy skips
// /usr), plus one AWS key among them, so both tools read content.
func genMany(n, candidates int, out string) error {
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("patient visit record status value unit sample result report clinic ward note data code form event site study arm dose")
	var files []file
	for i := range n {
		var b strings.Builder
		for b.Len() < 1000 {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(' ')
		}
		b.WriteByte('\n')
		files = append(files, file{name: fmt.Sprintf("app/data/d%03d/f%06d.txt", i%1000, i), content: []byte(b.String())})
	}
	files[n/2].content = []byte("aws_access_key_id = " + awsKeyID + "\n")
	for i := range candidates {
		j := (i * 7919) % n
		if j == n/2 {
			continue
		}
		files[j].name = fmt.Sprintf("app/data/d%03d/e%06d/.env", j%1000, j)
		files[j].content = []byte("DB_PASSWORD=" + envPassword + "\n")
	}
	return writeImage(out, "bench/many:1", [][]file{files}, []string{"COPY data /app/data"}, v1.Config{User: "1000"})
}

// writeImage writes a tarball in the layout `docker save` of Docker 20.10
// produces: <id>/layer.tar (uncompressed), <config>.json, manifest.json.
func writeImage(out, tag string, layers [][]file, history []string, cfg v1.Config) error {
	created := v1.Time{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cf := v1.ConfigFile{Architecture: "amd64", OS: "linux", Created: created, Config: cfg, RootFS: v1.RootFS{Type: "layers"}}
	var blobs [][]byte
	for i, files := range layers {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, f := range files {
			mode := f.mode
			if mode == 0 {
				mode = 0o644
			}
			if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: mode, Size: int64(len(f.content)), Typeflag: tar.TypeReg, ModTime: created.Time}); err != nil {
				return err
			}
			tw.Write(f.content)
		}
		if err := tw.Close(); err != nil {
			return err
		}
		h, _, err := v1.SHA256(bytes.NewReader(buf.Bytes()))
		if err != nil {
			return err
		}
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, h)
		cf.History = append(cf.History, v1.History{CreatedBy: history[i], Created: created})
		blobs = append(blobs, buf.Bytes())
	}
	rawCfg, err := json.Marshal(cf)
	if err != nil {
		return err
	}
	cfgHash, _, _ := v1.SHA256(bytes.NewReader(rawCfg))
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg, ModTime: created.Time}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	var layerNames []string
	for i, b := range blobs {
		n := cf.RootFS.DiffIDs[i].Hex + "/layer.tar"
		layerNames = append(layerNames, n)
		if err := add(n, b); err != nil {
			return err
		}
	}
	if err := add(cfgHash.Hex+".json", rawCfg); err != nil {
		return err
	}
	m, _ := json.Marshal([]map[string]any{{"Config": cfgHash.Hex + ".json", "RepoTags": []string{tag}, "Layers": layerNames}})
	if err := add("manifest.json", m); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// run is one measured run, read from /usr/bin/time -v output.
type measured struct {
	seconds float64 // wall clock
	cpu     float64 // user + system
	rssKB   int64
}

func readTime(p string) (measured, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return measured{}, err
	}
	var m measured
	for line := range strings.SplitSeq(string(b), "\n") {
		line = strings.TrimSpace(line)
		for _, prefix := range []string{"User time (seconds): ", "System time (seconds): "} {
			if v, ok := strings.CutPrefix(line, prefix); ok {
				f, _ := strconv.ParseFloat(v, 64)
				m.cpu += f
			}
		}
		if v, ok := strings.CutPrefix(line, "Maximum resident set size (kbytes): "); ok {
			m.rssKB, _ = strconv.ParseInt(v, 10, 64)
		}
		if v, ok := strings.CutPrefix(line, "Elapsed (wall clock) time (h:mm:ss or m:ss): "); ok {
			parts := strings.Split(v, ":")
			mult := 1.0
			for i := len(parts) - 1; i >= 0; i-- {
				f, _ := strconv.ParseFloat(parts[i], 64)
				m.seconds += f * mult
				mult *= 60
			}
		}
	}
	return m, nil
}

// median of the runs' wall and CPU times, and the largest peak RSS.
func summarise(work, prefix string) (measured, int, error) {
	paths, _ := filepath.Glob(filepath.Join(work, prefix+".*.time"))
	if len(paths) == 0 {
		return measured{}, 0, fmt.Errorf("no runs %s.*.time in %s", prefix, work)
	}
	var secs, cpus []float64
	var out measured
	for _, p := range paths {
		m, err := readTime(p)
		if err != nil {
			return measured{}, 0, err
		}
		secs = append(secs, m.seconds)
		cpus = append(cpus, m.cpu)
		out.rssKB = max(out.rssKB, m.rssKB)
	}
	out.seconds, out.cpu = median(secs), median(cpus)
	return out, len(paths), nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

type ourReport struct {
	Findings []struct {
		Rule           string `json:"rule"`
		Layer          int    `json:"layer"`
		Path           string `json:"path"`
		DeletedInLayer int    `json:"deletedInLayer"`
		Message        string `json:"message"`
		History        string `json:"history"`
	} `json:"findings"`
}

type trivyReport struct {
	Results []struct {
		Target  string `json:"Target"`
		Class   string `json:"Class"`
		Secrets []struct {
			RuleID string `json:"RuleID"`
			Title  string `json:"Title"`
			Match  string `json:"Match"`
		} `json:"Secrets"`
		Misconfigurations []struct {
			ID string `json:"ID"`
		} `json:"Misconfigurations"`
	} `json:"Results"`
}

func oursFound(r ourReport, a artefact) bool {
	for _, f := range r.Findings {
		ruleOK := false
		for _, id := range a.Rules {
			ruleOK = ruleOK || f.Rule == id
		}
		if !ruleOK {
			continue
		}
		if a.Path == "" {
			if strings.Contains(f.Message, a.Keyword) || strings.Contains(f.History, a.Keyword) || a.Keyword == "DS-0002" {
				return true
			}
			continue
		}
		if f.Path == a.Path && f.Layer == a.Layer && (f.DeletedInLayer >= 0) == a.Deleted {
			return true
		}
	}
	return false
}

func trivyFound(r trivyReport, a artefact) bool {
	for _, res := range r.Results {
		target := strings.TrimPrefix(res.Target, "/")
		if a.Path != "" && (target == a.Path || strings.HasPrefix(target, a.Path+"/")) && len(res.Secrets) > 0 {
			return true
		}
		if a.Path == "" {
			for _, s := range res.Secrets {
				if strings.Contains(s.Match, a.Keyword) || strings.Contains(s.Title, a.Keyword) {
					return true
				}
			}
			for _, m := range res.Misconfigurations {
				if m.ID == a.Keyword {
					return true
				}
			}
		}
	}
	return false
}

func readJSON(p string, v any) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", p, err)
	}
	return nil
}

func report(work string, w io.Writer) error {
	var truth []artefact
	if err := readJSON(filepath.Join(work, "planted.tar.truth.json"), &truth); err != nil {
		return err
	}
	var ours ourReport
	var trivy trivyReport
	if err := readJSON(filepath.Join(work, "planted.ours.json"), &ours); err != nil {
		return err
	}
	if err := readJSON(filepath.Join(work, "planted.trivy.json"), &trivy); err != nil {
		return err
	}
	fmt.Fprintf(w, "Planted artefacts (\"core\" = the 9 of the issue's reference image):\n\n")
	fmt.Fprintf(w, "| artefact | core | deleted later | dockerbank | trivy |\n|---|---|---|---|---|\n")
	type count struct{ ours, trivy, n int }
	var all, core count
	mark := func(b bool) string {
		if b {
			return "found"
		}
		return "missed"
	}
	for _, a := range truth {
		o, t := oursFound(ours, a), trivyFound(trivy, a)
		fmt.Fprintf(w, "| %s | %v | %v | %s | %s |\n", a.ID, a.Core, a.Deleted, mark(o), mark(t))
		for _, c := range []*count{&all, &core} {
			if c == &core && !a.Core {
				continue
			}
			c.n++
			if o {
				c.ours++
			}
			if t {
				c.trivy++
			}
		}
	}
	pct := func(a, n int) string { return fmt.Sprintf("%d/%d (%.0f%%)", a, n, 100*float64(a)/float64(n)) }
	fmt.Fprintf(w, "\n| image | tool | recall (all) | recall (core 9) | wall time (median) | CPU time user+sys (median) | peak RSS | runs |\n|---|---|---|---|---|---|---|---|\n")
	for _, img := range []string{"planted", "many"} {
		o, on, err := summarise(work, img+".ours")
		if err != nil {
			return err
		}
		t, tn, err := summarise(work, img+".trivy")
		if err != nil {
			return err
		}
		ro, rt, rc, rtc := "", "", "", ""
		if img == "planted" {
			ro, rt, rc, rtc = pct(all.ours, all.n), pct(all.trivy, all.n), pct(core.ours, core.n), pct(core.trivy, core.n)
		} else {
			ro, rt = manyRecall(work, "ours"), manyRecall(work, "trivy")
		}
		fmt.Fprintf(w, "| %s | dockerbank | %s | %s | %.2f s | %.2f s | %.0f MB | %d |\n", img, ro, rc, o.seconds, o.cpu, float64(o.rssKB)/1024, on)
		fmt.Fprintf(w, "| %s | trivy | %s | %s | %.2f s | %.2f s | %.0f MB | %d |\n", img, rt, rtc, t.seconds, t.cpu, float64(t.rssKB)/1024, tn)
		fmt.Fprintf(w, "| %s | ratio dockerbank/trivy | | | %.3fx | %.3fx | %.2fx | |\n", img, o.seconds/t.seconds, ratio(o.cpu, t.cpu), float64(o.rssKB)/float64(t.rssKB))
	}
	if o, on, err := summarise(work, "cand.ours"); err == nil {
		var r ourReport
		readJSON(filepath.Join(work, "cand.ours.json"), &r)
		fmt.Fprintf(w, "\nMemory against candidates: the same 100,000-file image with 20,000 of its files turned into .env files (candidates), dockerbank only:\n\n")
		fmt.Fprintf(w, "| image | candidates | findings | wall time (median) | CPU time (median) | peak RSS | runs |\n|---|---|---|---|---|---|---|\n")
		m, mn, _ := summarise(work, "many.ours")
		fmt.Fprintf(w, "| many | 1 | - | %.2f s | %.2f s | %.0f MB | %d |\n", m.seconds, m.cpu, float64(m.rssKB)/1024, mn)
		fmt.Fprintf(w, "| many, 20,000 candidates | 20,000 | %d | %.2f s | %.2f s | %.0f MB | %d |\n", len(r.Findings), o.seconds, o.cpu, float64(o.rssKB)/1024, on)
	}
	return nil
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// manyRecall reports whether the one AWS key among the many files was found.
func manyRecall(work, tool string) string {
	b, err := os.ReadFile(filepath.Join(work, "many."+tool+".json"))
	if err != nil {
		return "?"
	}
	if bytes.Contains(b, []byte("f050000.txt")) {
		return "1/1 (AWS key)"
	}
	return "0/1 (AWS key)"
}
