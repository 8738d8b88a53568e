package bank

import (
	"context"
	"path"
	"strconv"
	"strings"
)

// ImageRecord is what a curator recorded about an image that cannot be read
// where the entry is checked (no registry here): the facts `bank lint`
// checks the entry against, and the upstream file (with its commit or tag)
// each fact comes from. It is written under curation.images in entry.yaml.
type ImageRecord struct {
	// Image is the reference as versions[].images names it.
	Image string `yaml:"image" json:"image"`
	// User is the image's USER ("" or "0" or "root" is root).
	User string `yaml:"user,omitempty" json:"user,omitempty"`
	// Path is the image's PATH; empty means Docker's default.
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// Executables are absolute paths of programs known to be in the image;
	// a health check or check calling anything else is a problem.
	Executables []string `yaml:"executables" json:"executables"`
	// Volumes are the image's VOLUME paths.
	Volumes []string `yaml:"volumes,omitempty" json:"volumes,omitempty"`
	// Writable are directories the image user can write.
	Writable []string `yaml:"writable,omitempty" json:"writable,omitempty"`
	// Source names the upstream files (repository, path, commit or tag) the
	// facts come from.
	Source string `yaml:"source" json:"source"`
}

// FileFact is one path of an image as its layers leave it.
type FileFact struct {
	Dir     bool   `json:"dir,omitempty"`
	Link    string `json:"link,omitempty"` // symlink target, or hard link target (absolute)
	Mode    int64  `json:"mode"`
	UID     int    `json:"uid"`
	GID     int    `json:"gid"`
	Shebang string `json:"shebang,omitempty"` // first line of a script, without "#!"
}

// ImageFacts is what `bank lint` knows of an image: read from the image
// itself (FromImage) or taken from the entry's curation record.
type ImageFacts struct {
	Image     string
	FromImage bool
	Origin    string // where the facts come from: "engine", an archive file, or the record's source
	User      string
	Path      []string
	Volumes   []string
	// Files holds the directories, programs and links of an image read
	// from its layers (nil for recorded facts).
	Files map[string]FileFact
	// Passwd and Group are the image's /etc/passwd and /etc/group.
	Passwd, Group string
	// record is set for recorded facts.
	record *ImageRecord
}

// FactSource reads the facts of images that are available where the entry
// is checked: the local engine, or a `docker save` archive. It returns nil
// (and no error) for an image it does not have.
type FactSource interface {
	ImageFacts(ctx context.Context, ref string) (*ImageFacts, error)
}

// defaultPath is the PATH Docker gives a container whose image sets none.
var defaultPath = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// RecordedFacts turns a curation record into facts.
func RecordedFacts(r ImageRecord) *ImageFacts {
	f := &ImageFacts{Image: r.Image, Origin: r.Source, User: r.User, Volumes: r.Volumes, record: &r}
	if r.Path != "" {
		f.Path = strings.Split(r.Path, ":")
	}
	return f
}

// Record returns the entry's curation record of an image.
func (e *Entry) Record(image string) (ImageRecord, bool) {
	for _, r := range e.Curation.Images {
		if r.Image == image {
			return r, true
		}
	}
	return ImageRecord{}, false
}

func (f *ImageFacts) path() []string {
	if len(f.Path) > 0 {
		return f.Path
	}
	return defaultPath
}

// resolve follows symlinks in every component of an absolute path; ok is
// false when a component does not exist.
func (f *ImageFacts) resolve(p string) (string, FileFact, bool) {
	p = path.Clean("/" + p)
	for range 40 {
		parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
		cur := ""
		changed := false
		for i, part := range parts {
			if part == "" {
				continue
			}
			cur += "/" + part
			ff, ok := f.Files[strings.TrimPrefix(cur, "/")]
			if !ok {
				if i < len(parts)-1 {
					continue // a parent directory the layers did not list
				}
				return p, FileFact{}, false
			}
			if ff.Link != "" {
				target := ff.Link
				if !strings.HasPrefix(target, "/") {
					target = path.Join(path.Dir(cur), target)
				}
				p = path.Clean(target + "/" + strings.Join(parts[i+1:], "/"))
				changed = true
				break
			}
			if i == len(parts)-1 {
				return cur, ff, true
			}
		}
		if !changed {
			return p, FileFact{Dir: true}, p == "/"
		}
	}
	return p, FileFact{}, false
}

// Executable reports whether the image has the program name (a bare name is
// looked up in PATH), and where.
func (f *ImageFacts) Executable(name string) (string, bool) {
	var candidates []string
	if strings.Contains(name, "/") {
		if !strings.HasPrefix(name, "/") {
			return name, true // relative to the working directory: not judged
		}
		candidates = []string{path.Clean(name)}
	} else {
		for _, d := range f.path() {
			candidates = append(candidates, path.Join(d, name))
		}
	}
	for _, c := range candidates {
		if f.record != nil {
			for _, x := range f.record.Executables {
				if x == c || (!strings.Contains(name, "/") && path.Base(x) == name && inPath(path.Dir(x), f.path())) {
					return x, true
				}
			}
			continue
		}
		if _, ff, ok := f.resolve(c); ok && !ff.Dir && ff.Mode&0o111 != 0 {
			return c, true
		}
	}
	return "", false
}

func inPath(dir string, dirs []string) bool {
	for _, d := range dirs {
		if d == dir {
			return true
		}
	}
	return false
}

// Interpreter returns the interpreter a script names in its #! line
// ("" for binaries, and for recorded facts, which do not say).
func (f *ImageFacts) Interpreter(p string) string {
	if f.record != nil {
		return ""
	}
	_, ff, ok := f.resolve(p)
	if !ok {
		return ""
	}
	return ff.Shebang
}

// userIDs resolves a user spec ("", "name", "uid", "name:group", "uid:gid")
// with the image's passwd and group; known is false when a name is not found.
func (f *ImageFacts) userIDs(spec string) (uid, gid int, known bool) {
	u, g, _ := strings.Cut(spec, ":")
	if u == "" {
		return 0, 0, true
	}
	uid, gid = -1, -1
	if n, err := strconv.Atoi(u); err == nil {
		uid = n
		gid = lookupID(f.Passwd, u, 0, 3) // primary group of the uid
		if gid < 0 {
			gid = n
		}
	} else {
		uid = lookupID(f.Passwd, u, 2, -1)
		gid = lookupID(f.Passwd, u, 3, -1)
	}
	if g != "" {
		if n, err := strconv.Atoi(g); err == nil {
			gid = n
		} else {
			gid = lookupID(f.Group, g, 2, -1)
		}
	}
	return uid, gid, uid >= 0
}

// lookupID finds the line of a passwd-style file whose field 0 is name (or,
// with byField >= 0, whose field byField is name) and returns field idx.
func lookupID(file, name string, idx, byField int) int {
	for _, line := range strings.Split(file, "\n") {
		fields := strings.Split(line, ":")
		if len(fields) <= max(idx, byField, 0) {
			continue
		}
		key := fields[0]
		if byField >= 0 {
			key = fields[byField]
		}
		if key != name {
			continue
		}
		if n, err := strconv.Atoi(fields[idx]); err == nil {
			return n
		}
	}
	return -1
}

// isRoot reports whether a user spec is root.
func isRoot(spec string) bool {
	u, _, _ := strings.Cut(spec, ":")
	return u == "" || u == "0" || u == "root"
}

// Writable reports whether user (a compose or image user spec) can write
// the directory dir of a fresh volume mounted there: Docker copies the
// image's directory (owner and mode) into an empty named volume, and
// creates a root-owned 0755 directory when the image has none. why says
// what decided it.
func (f *ImageFacts) Writable(user, dir string) (ok bool, why string) {
	if isRoot(user) {
		return true, "root"
	}
	dir = path.Clean(dir)
	if f.record != nil {
		for _, w := range f.record.Writable {
			if path.Clean(w) == dir {
				return true, "recorded"
			}
		}
		return false, "the curation record does not list " + dir + " as writable by user " + user
	}
	uid, gid, known := f.userIDs(user)
	if !known {
		return false, "user " + user + " is not in the image's /etc/passwd"
	}
	_, ff, exists := f.resolve(dir)
	if !exists {
		return false, "the image has no " + dir + ", so a fresh volume there belongs to root (mode 0755)"
	}
	switch {
	case ff.UID == uid && ff.Mode&0o200 != 0,
		ff.GID == gid && ff.Mode&0o020 != 0,
		ff.Mode&0o002 != 0:
		return true, "owner and mode"
	}
	return false, dirText(dir, ff) + " and user " + user + " is uid " + strconv.Itoa(uid)
}

func dirText(dir string, ff FileFact) string {
	return dir + " belongs to " + strconv.Itoa(ff.UID) + ":" + strconv.Itoa(ff.GID) + " with mode " + strconv.FormatInt(ff.Mode&0o7777, 8)
}
