package testenv

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// S3 is a SeaweedFS server (master, volume, filer and S3 gateway in one
// process) on loopback, with an access key of its own.
type S3 struct {
	*Server
	AccessKey, SecretKey string
	// CredentialsFile holds AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
	// (mode 0600).
	CredentialsFile string
}

// WeedBinary finds SeaweedFS's weed: $DOCKERBANK_WEED, PATH, or the
// cache scripts/deps.sh builds it into.
func WeedBinary() string {
	if p := os.Getenv("DOCKERBANK_WEED"); p != "" {
		return p
	}
	if p, err := exec.LookPath("weed"); err == nil {
		return p
	}
	for _, dir := range []string{os.Getenv("XDG_CACHE_HOME"), filepath.Join(os.Getenv("HOME"), ".cache")} {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, "dockerbank", "bin", "weed")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// StartS3 starts `weed server -s3` on free loopback ports.
func StartS3(t testing.TB) *S3 {
	t.Helper()
	weed := WeedBinary()
	if weed == "" {
		Missing(t, "SeaweedFS's weed is not built; run scripts/deps.sh")
	}
	dir := t.TempDir()
	access, secret := "dockerbank", "s3-"+rand.Text()
	cfg := filepath.Join(dir, "s3.json")
	creds := filepath.Join(dir, "s3.credentials")
	files := map[string]string{
		cfg:   fmt.Sprintf(`{"identities":[{"name":"dockerbank","credentials":[{"accessKey":%q,"secretKey":%q}],"actions":["Admin","Read","List","Tagging","Write"]}]}`, access, secret),
		creds: "AWS_ACCESS_KEY_ID=" + access + "\nAWS_SECRET_ACCESS_KEY=" + secret + "\n",
	}
	for p, data := range files {
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	p := func() string { return fmt.Sprint(FreePort(t)) }
	args := []string{weed, "server", "-dir=" + data, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.port=" + p(), "-master.port.grpc=" + p(), "-volume.port=" + p(), "-volume.port.grpc=" + p(),
		"-volume.max=0", "-master.volumeSizeLimitMB=64",
		"-filer", "-filer.port=" + p(), "-filer.port.grpc=" + p(),
		"-s3", fmt.Sprintf("-s3.port=%d", port), "-s3.port.grpc=" + p(), "-s3.config=" + cfg}
	s := startServer(t, "weed", port, dir, nil, args...)
	return &S3{Server: s, AccessKey: access, SecretKey: secret, CredentialsFile: creds}
}

// Repository is the restic URL of a repository (a bucket) on the server.
func (s *S3) Repository(name string) string {
	return fmt.Sprintf("s3:http://127.0.0.1:%d/%s", s.Port, name)
}
