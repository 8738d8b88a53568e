// Package offsite_test is bench/offsite: the cost of off-site copies over
// real servers on loopback (run by run.sh, not by `go test ./...`).
package offsite_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dockerbank/dockerbank/internal/site"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

func TestOffsiteBench(t *testing.T) {
	if os.Getenv("DOCKERBANK_BENCH_OFFSITE") != "1" {
		t.Skip("a benchmark: run bench/offsite/run.sh")
	}
	testenv.RequireImages(t, "dockerbank/postgres:15", "dockerbank/busybox:1.36")
	root := testenv.RepoRoot(t)
	mb := 256
	if v, err := strconv.Atoi(os.Getenv("BENCH_MB")); err == nil && v > 0 {
		mb = v
	}
	work := t.TempDir()
	bin := filepath.Join(work, "dockerbank")
	build := exec.Command("go", "build", "-o", bin, "./cmd/dockerbank")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v: %s", err, out)
	}
	siteDir := filepath.Join(work, "site")
	// Every restic start is logged (its command and wall time) to show
	// where a copy's time goes.
	starts := filepath.Join(work, "restic-starts")
	wrapper := filepath.Join(work, "restic")
	script := "#!/bin/sh\ns=$(date +%s%N)\nrestic \"$@\"\nrc=$?\necho \"$1 $(( ($(date +%s%N) - s) / 1000000 ))\" >>" + starts + "\nexit $rc\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "DOCKERBANK_HOME="+siteDir, "DOCKERBANK_BANKS="+filepath.Join(root, "bench/backup/bank"), "DOCKERBANK_RESTIC="+wrapper)
	// profile returns the restic starts since the last call: "copy 1.2s,
	// stats 0.3s, ...".
	profile := func() string {
		data, _ := os.ReadFile(starts)
		os.Remove(starts)
		var parts []string
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			op, ms, ok := strings.Cut(l, " ")
			if n, err := strconv.Atoi(ms); ok && err == nil {
				parts = append(parts, fmt.Sprintf("%s %.1f", op, float64(n)/1000))
			}
		}
		return fmt.Sprintf("%d: %s", len(parts), strings.Join(parts, ", "))
	}
	run := func(args ...string) (string, time.Duration) {
		t.Helper()
		start := time.Now()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("dockerbank %s: %v\n%s\n%s", strings.Join(args, " "), err, out.String(), errb.String())
		}
		return out.String(), time.Since(start)
	}
	passFile := func(name string) string {
		p := filepath.Join(work, name+".pass")
		os.WriteFile(p, []byte(rand.Text()+rand.Text()+"\n"), 0o600)
		return p
	}
	sftp := testenv.StartSFTP(t, "")
	rest := testenv.StartREST(t)
	s3 := testenv.StartS3(t)
	if err := os.MkdirAll(siteDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := site.Config{APIVersion: "dockerbank/v1"}
	cfg.Backup.Copies = []site.CopyConfig{
		{Name: "sftp", Repository: sftp.Repository("bench"), PasswordFile: passFile("sftp"), Access: site.Access{SSHConfigFile: sftp.ClientConfig}},
		{Name: "rest", Repository: rest.Repository("bench"), PasswordFile: passFile("rest"), Access: site.Access{CredentialsFile: rest.CredentialsFile, CACertFile: rest.CACert}},
		{Name: "s3", Repository: s3.Repository("bench"), PasswordFile: passFile("s3"), Access: site.Access{CredentialsFile: s3.CredentialsFile}},
	}
	data, _ := yaml.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(siteDir, "site.yaml"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	inst := fmt.Sprintf("offbench-%04x", os.Getpid()&0xffff)
	run("deploy", "bkbench", "--name", inst, "-q")
	t.Cleanup(func() {
		c := exec.Command(bin, "rm", inst, "--purge-data", "--confirm", inst, "--force", "-q")
		c.Env = env
		c.Run()
	})
	mp, err := exec.Command("docker", "volume", "inspect", "-f", "{{.Mountpoint}}", inst+"_data").Output()
	if err != nil {
		t.Fatal(err)
	}
	vol := strings.TrimSpace(string(mp))
	var files []string
	buf := make([]byte, 1<<20)
	for i := 0; i < mb/2; i++ {
		rand.Read(buf)
		p := filepath.Join(vol, fmt.Sprintf("random-%04d.bin", i))
		os.WriteFile(p, buf, 0o644)
		files = append(files, p)
	}
	text := bytes.Repeat([]byte("patient 000000 visit record, lab values and notes\n"), 64<<10/51)
	for i := 0; i < mb*16/2; i++ {
		p := filepath.Join(vol, fmt.Sprintf("text-%05d.txt", i))
		copy(text, fmt.Sprintf("patient %06d", i))
		os.WriteFile(p, text, 0o644)
		files = append(files, p)
	}
	load := func() string {
		b, _ := os.ReadFile("/proc/loadavg")
		return strings.Join(strings.Fields(string(b))[:3], " ")
	}
	type copyRes struct {
		Copy    string  `json:"copy"`
		Bytes   int64   `json:"bytesSent"`
		Seconds float64 `json:"seconds"`
	}
	// What a copy adds off site is measured on the server: the growth of
	// the directory it stores the repository in.
	stores := map[string]string{"sftp": sftp.Root, "rest": rest.Root, "s3": s3.Dir}
	var profiles []string
	copyTo := func(name string) (copyRes, time.Duration) {
		before := dirSize(stores[name])
		profile()
		out, d := run("backup", "copy", inst, "--to", name, "--json", "-q")
		profiles = append(profiles, fmt.Sprintf("- %s copy, %.1f s, restic starts %s", name, d.Seconds(), profile()))
		var rs []copyRes
		if err := json.Unmarshal([]byte(out), &rs); err != nil || len(rs) != 1 {
			t.Fatalf("copy --json: %v: %s", err, out)
		}
		rs[0].Bytes = dirSize(stores[name]) - before
		return rs[0], d
	}
	var lines []string
	add := func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }
	add("bench/offsite: %d files, %d MiB in one volume; load average at start %s (machine shared with other work)", len(files), mb, load())
	add("")
	_, tLocal := run("backup", inst, "--no-copy", "-q")
	add("| step | local backup | sftp copy | rest copy | s3 copy |")
	add("|---|---|---|---|---|")
	first := map[string]copyRes{}
	firstD := map[string]time.Duration{}
	for _, n := range []string{"sftp", "rest", "s3"} {
		first[n], firstD[n] = copyTo(n)
	}
	add("| first backup, then a copy to each (s) | %.1f | %.1f (x%.2f of the backup) | %.1f (x%.2f) | %.1f (x%.2f) |", tLocal.Seconds(),
		firstD["sftp"].Seconds(), firstD["sftp"].Seconds()/tLocal.Seconds(), firstD["rest"].Seconds(), firstD["rest"].Seconds()/tLocal.Seconds(),
		firstD["s3"].Seconds(), firstD["s3"].Seconds()/tLocal.Seconds())
	add("| backup + copy (s) | %.1f | %.1f | %.1f | %.1f |", tLocal.Seconds(), (tLocal + firstD["sftp"]).Seconds(), (tLocal + firstD["rest"]).Seconds(), (tLocal + firstD["s3"]).Seconds())
	// 1% of the files change.
	for i := 0; i < len(files); i += 100 {
		rand.Read(buf[:64<<10])
		os.WriteFile(files[i], buf[:64<<10], 0o644)
	}
	_, tLocal2 := run("backup", inst, "--no-copy", "-q")
	second := map[string]copyRes{}
	secondD := map[string]time.Duration{}
	for _, n := range []string{"sftp", "rest", "s3"} {
		second[n], secondD[n] = copyTo(n)
	}
	add("| after 1%% of the files changed (s) | %.1f | %.1f (%.0f%% of the first copy) | %.1f (%.0f%%) | %.1f (%.0f%%) |", tLocal2.Seconds(),
		secondD["sftp"].Seconds(), 100*secondD["sftp"].Seconds()/firstD["sftp"].Seconds(),
		secondD["rest"].Seconds(), 100*secondD["rest"].Seconds()/firstD["rest"].Seconds(),
		secondD["s3"].Seconds(), 100*secondD["s3"].Seconds()/firstD["s3"].Seconds())
	add("| bytes added on the server, first copy / after 1%% changed (MiB) | - | %.1f / %.1f (%.0f%%) | %.1f / %.1f (%.0f%%) | %.1f / %.1f (%.0f%%) |",
		mib(first["sftp"].Bytes), mib(second["sftp"].Bytes), pct(second["sftp"].Bytes, first["sftp"].Bytes),
		mib(first["rest"].Bytes), mib(second["rest"].Bytes), pct(second["rest"].Bytes, first["rest"].Bytes),
		mib(first["s3"].Bytes), mib(second["s3"].Bytes), pct(second["s3"].Bytes, first["s3"].Bytes))
	add("")
	met := "met"
	for _, n := range []string{"sftp", "rest", "s3"} {
		if secondD[n]*4 > firstD[n] {
			met = "NOT met"
		}
	}
	add("Target (the copy after 1%% changed takes at most 25%% of the first copy's time, on every server): %s.", met)
	add("")
	add("restic starts of each copy (command, wall seconds):")
	add("")
	lines = append(lines, profiles...)
	add("")
	add("load average at the end %s", load())
	for _, l := range lines {
		t.Log("RESULT: " + l)
		fmt.Println("RESULT: " + l)
	}
	for _, n := range []string{"sftp", "rest", "s3"} {
		if second[n].Bytes*4 > first[n].Bytes {
			t.Errorf("the copy to %s after 1%% changed sent %d bytes, more than 25%% of the first copy's %d", n, second[n].Bytes, first[n].Bytes)
		}
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func pct(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
