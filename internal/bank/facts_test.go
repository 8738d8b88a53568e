package bank

import (
	"slices"
	"strings"
	"testing"
)

// debianLike is a merged-/usr image as a reader of its layers sees it.
func debianLike() *ImageFacts {
	return &ImageFacts{
		FromImage: true, User: "app",
		Path:   []string{"/usr/local/bin", "/usr/bin", "/bin"},
		Passwd: "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
		Group:  "root:x:0:\nstaff:x:50:app\n",
		Files: map[string]FileFact{
			"bin":                  {Link: "usr/bin"},
			"usr":                  {Dir: true, Mode: 0o755},
			"usr/bin":              {Dir: true, Mode: 0o755},
			"usr/bin/dash":         {Mode: 0o755},
			"usr/bin/sh":           {Link: "dash"},
			"usr/bin/grep":         {Mode: 0o755},
			"usr/local/bin":        {Dir: true, Mode: 0o755},
			"usr/local/bin/probe":  {Mode: 0o755, Shebang: "/usr/bin/env python3"},
			"usr/local/bin/check":  {Mode: 0o755, Shebang: "/bin/sh -e"},
			"usr/local/bin/notexe": {Mode: 0o644},
			"data":                 {Dir: true, Mode: 0o750, UID: 1000, GID: 1000},
			"shared":               {Dir: true, Mode: 0o770, UID: 0, GID: 50},
			"rootonly":             {Dir: true, Mode: 0o755},
			"tmpdir":               {Dir: true, Mode: 0o1777},
			"srv":                  {Link: "/data"},
		},
	}
}

func TestImageFactsExecutable(t *testing.T) {
	f := debianLike()
	tests := map[string]bool{
		"sh":                   true, // PATH, through the /bin -> usr/bin link and sh -> dash
		"/bin/sh":              true,
		"grep":                 true,
		"curl":                 false,
		"/usr/local/bin/probe": true,
		"notexe":               false, // not executable
		"/opt/app/run":         false,
	}
	for name, want := range tests {
		if _, got := f.Executable(name); got != want {
			t.Errorf("Executable(%q) = %v, want %v", name, got, want)
		}
	}
	if got := f.Interpreter("/usr/local/bin/probe"); got != "/usr/bin/env python3" {
		t.Errorf("interpreter = %q", got)
	}
}

func TestImageFactsWritable(t *testing.T) {
	f := debianLike()
	tests := []struct {
		user, dir string
		want      bool
		why       string
	}{
		{"app", "/data", true, ""},
		{"1000", "/data", true, ""},
		{"app", "/srv", true, ""}, // symlink to /data
		{"app:staff", "/shared", true, ""},
		{"app", "/rootonly", false, "/rootonly belongs to 0:0 with mode 755"},
		{"app", "/tmpdir", true, ""},
		{"app", "/nowhere", false, "the image has no /nowhere, so a fresh volume there belongs to root"},
		{"root", "/nowhere", true, ""},
		{"", "/rootonly", true, ""},
		{"ghost", "/data", false, "user ghost is not in the image's /etc/passwd"},
	}
	for _, tt := range tests {
		got, why := f.Writable(tt.user, tt.dir)
		if got != tt.want || !strings.Contains(why, tt.why) {
			t.Errorf("Writable(%q, %q) = %v %q, want %v %q", tt.user, tt.dir, got, why, tt.want, tt.why)
		}
	}
}

func TestRecordedFacts(t *testing.T) {
	f := RecordedFacts(ImageRecord{Image: "x:1", User: "101", Executables: []string{"/bin/bash", "/usr/local/openjdk-8/bin/java"},
		Path: "/usr/local/openjdk-8/bin:/usr/bin:/bin", Writable: []string{"/data"}, Source: "x Dockerfile @abc"})
	for name, want := range map[string]bool{"bash": true, "java": true, "/bin/bash": true, "curl": false, "/usr/bin/bash": false} {
		if _, got := f.Executable(name); got != want {
			t.Errorf("recorded Executable(%q) = %v, want %v", name, got, want)
		}
	}
	if ok, _ := f.Writable("101", "/data/"); !ok {
		t.Error("recorded writable /data not writable")
	}
	if ok, why := f.Writable("101", "/other"); ok || !strings.Contains(why, "does not list /other") {
		t.Errorf("recorded /other: %v %q", ok, why)
	}
}

func TestProbePrograms(t *testing.T) {
	tests := []struct {
		argv []string
		want []string
	}{
		{[]string{"curl", "-f", "http://x"}, []string{"curl"}},
		{[]string{"/bin/sh", "-c", `test -n "$(find /tmp/x -mmin -3)" && exec /opt/app/bin/run --x`}, []string{"/bin/sh", "find", "/opt/app/bin/run"}},
		{[]string{"bash", "-c", "{ printf 'HEAD / HTTP/1.0\\r\\n\\r\\n' >&0; grep -q '^HTTP/1.[01] 200'; } 0<>/dev/tcp/localhost/9000"}, []string{"bash", "grep"}},
		{[]string{"sh", "-ec", "X=1 psql -c 'select 1' | head -1"}, []string{"sh", "psql", "head"}},
	}
	for _, tt := range tests {
		got := probe{argv: tt.argv}.programs()
		if !slices.Equal(got, tt.want) {
			t.Errorf("programs(%q) = %q, want %q", tt.argv, got, tt.want)
		}
	}
}

func TestAlwaysPasses(t *testing.T) {
	tests := map[string]bool{
		"true":                                      true,
		"exit 0":                                    true,
		"curl -f http://x || true":                  true,
		"curl -f http://x || exit 1":                false,
		"curl -fsS http://x":                        false,
		"curl -sS http://x":                         true,
		"wget -qO- http://x/health | grep -q UP":    true,
		`wget -qO- http://x | grep -q '"UP"'`:       true,
		"grep -q '^HTTP/1.[01] 200' </dev/null":     false,
		"pg_isready -h 127.0.0.1; exit 0":           true,
		"test -s /audit/audit.log && echo ok":       false,
		`[ -f /tmp/healthy ] && psql -c 'select 1'`: false,
	}
	for script, want := range tests {
		why := alwaysPasses(probe{argv: []string{"/bin/sh", "-c", script}})
		if (why != "") != want {
			t.Errorf("alwaysPasses(%q) = %q, want %v", script, why, want)
		}
	}
}

// FuzzProbe: any health check or check script is parsed without a panic.
func FuzzProbe(f *testing.F) {
	f.Add("exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '^HTTP/1.[01] 200' <&3")
	f.Add(`test -n "$(find /tmp/x -mmin -3 2>/dev/null)" || exit 0`)
	f.Add("{ a; b | c; } 0<>x; $(")
	f.Fuzz(func(t *testing.T, script string) {
		p := probe{argv: []string{"/bin/sh", "-c", script}}
		p.programs()
		alwaysPasses(p)
	})
}
