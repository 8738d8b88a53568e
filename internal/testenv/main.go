package testenv

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MissingFileEnv names a file to which Missing appends one line per
// prerequisite it reports; `make test` sets it and prints the file as the
// suite's summary.
const MissingFileEnv = "DOCKERBANK_TEST_MISSING"

var missing struct {
	sync.Mutex
	lines []string
}

// record remembers a missing prerequisite for the package's summary and
// the suite's (MissingFileEnv).
func record(t testing.TB, msg string) {
	line := fmt.Sprintf("%s %s: %s", pkgName(), t.Name(), msg)
	missing.Lock()
	missing.lines = append(missing.lines, line)
	missing.Unlock()
	if path := os.Getenv(MissingFileEnv); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintln(f, line)
			f.Close()
		}
	}
}

// pkgName is the package directory relative to the repository, as go test
// runs a package's tests in its directory.
func pkgName() string {
	wd, err := os.Getwd()
	if err != nil {
		return "?"
	}
	for dir := wd; filepath.Dir(dir) != dir; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			rel, _ := filepath.Rel(dir, wd)
			return "./" + filepath.ToSlash(rel)
		}
	}
	return wd
}

// Main runs a package's tests for its TestMain: it stops the package's
// shared private engine afterwards, prints the prerequisites that were
// missing, and checks that the containers which ran before the tests
// (a user's instances) are as healthy after them as before, and still
// resolve their services' names (see HostCheck). A damaged container
// fails the package.
//
// The test binary, and every process it starts (restic, dockerbank,
// servers), ignores SIGHUP: rootful Podman's netavark sends SIGHUP to
// whatever process has the pid written in aardvark-dns's pid file
// (/run/containers/networks/aardvark-dns/aardvark.pid) when it sets up a
// network with DNS, and a pid file left by an aardvark-dns that was
// killed names, once pids wrap (pid_max is 32768 on our machines), some
// other process: a CI run lost the whole internal/cli test binary to it
// ("signal: hangup"). scripts/podman.sh removes such a stale file before
// a service starts; this covers one going stale during the run.
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	signal.Ignore(syscall.SIGHUP)
	flag.Parse()
	mainSocket = MainSocket()
	shared.Lock()
	shared.main = true
	shared.Unlock()
	var hc *HostCheck
	if !testing.Short() {
		hc = StartHostCheck()
	}
	code := m.Run()
	if err := stopShared(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		code = 1
	}
	if hc != nil {
		problems := hc.Finish(time.Minute)
		for _, p := range problems {
			fmt.Fprintf(os.Stderr, "host check: %s\n", p)
		}
		if len(problems) > 0 {
			code = 1
		}
		if testing.Verbose() {
			fmt.Println(hc.Summary())
		}
	}
	missing.Lock()
	if len(missing.lines) > 0 {
		fmt.Printf("prerequisites missing (%d tests did not run; CI=true fails them):\n  %s\n", len(missing.lines), strings.Join(missing.lines, "\n  "))
	}
	missing.Unlock()
	os.Exit(code)
}
