package deploy

import (
	"archive/tar"
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/instance/label"
)

var (
	// ErrNotBuildLocally means the entry's images come from a registry.
	ErrNotBuildLocally = errors.New("entry is not built locally")
	// ErrBadSource means the file the user supplied cannot be built from.
	ErrBadSource = errors.New("unusable source file")
	// ErrNotBuilt means a build-locally image is missing: only the user can
	// build it, from their own copy.
	ErrNotBuilt = errors.New("image not built from your source yet")
)

// BuildSourceOptions says what `dockerbank build` builds.
type BuildSourceOptions struct {
	Entry   string
	Version string // empty: the entry's default version
	Source  string // path of the user's file (for REDCap: the zip)
	// BuildArgs add to or override the entry's build arguments, e.g. a base
	// image from a site mirror.
	BuildArgs map[string]string
	// Tag replaces the image reference of the version (a private registry
	// name, or a throw-away tag in tests). Only for versions that build one image.
	Tag string
}

// BuiltImage is one image built from the source.
type BuiltImage struct {
	Image    string            `json:"image"`
	Services []string          `json:"services"`
	Labels   map[string]string `json:"labels"`
}

// BuildSourceResult reports a build from a user's source.
type BuildSourceResult struct {
	Entry         string       `json:"entry"`
	Version       string       `json:"version"`
	Source        string       `json:"source"`
	SourceSHA256  string       `json:"sourceSha256"`
	SourceVersion string       `json:"sourceVersion,omitempty"`
	Licence       string       `json:"licence"`
	Images        []BuiltImage `json:"images"`
}

// SourceInfo is what a source check learnt from the user's file.
type SourceInfo struct {
	Version string // release found in the file, if it says
}

// sourceCheck validates the user's file for one entry before any build.
type sourceCheck func(r io.ReaderAt, size int64) (SourceInfo, error)

// sourceChecks implements the checks an entry names in
// distribution.sourceCheck (bank.SourceChecks). An entry without one gets
// only the generic checks (the file exists, is a readable regular file).
var sourceChecks = map[string]sourceCheck{
	"redcap-zip": CheckREDCapZip,
}

// SourceName is the fixed name the user's file has in the build context:
// "source" plus the file's archive extension (source.zip for REDCap). The
// entry's Dockerfile copies it by that name.
func SourceName(file string) string {
	lower := strings.ToLower(file)
	for _, ext := range []string{".tar.gz", ".tgz", ".tar", ".zip"} {
		if strings.HasSuffix(lower, ext) {
			return "source" + ext
		}
	}
	return "source"
}

// BuildSource builds the images of a build-locally entry version from the
// entry's build context plus the user's own file, and labels them as not
// redistributable. The journal records the build.
func (m *Manager) BuildSource(ctx context.Context, o BuildSourceOptions) (*BuildSourceResult, error) {
	res, err := m.buildSource(ctx, o)
	detail := ""
	if res != nil {
		var refs []string
		for _, im := range res.Images {
			refs = append(refs, im.Image)
		}
		detail = fmt.Sprintf("built %s from %s (sha256 %s)", strings.Join(refs, ", "), filepath.Base(res.Source), res.SourceSHA256)
	}
	if m.Site == nil {
		return res, err
	}
	return res, m.finish("", err, detail)
}

func (m *Manager) buildSource(ctx context.Context, o BuildSourceOptions) (*BuildSourceResult, error) {
	e, err := m.Bank.Get(o.Entry)
	if err != nil {
		return nil, err
	}
	if e.Distribution.Mode != bank.BuildLocally {
		return nil, fmt.Errorf("%w: %s is %s; `dockerbank deploy %s` takes its images from their registry",
			ErrNotBuildLocally, e.ID, e.Distribution.Mode, e.ID)
	}
	r, err := e.Resolve(o.Version, "", nil)
	if err != nil {
		return nil, err
	}
	ver := r.Version
	if len(ver.Build) == 0 {
		return nil, fmt.Errorf("entry %s version %s builds no image", e.ID, ver.Version)
	}
	sum, info, err := inspectSource(o.Source, e)
	if err != nil {
		return nil, err
	}
	if info.Version != "" && !versionMatches(ver.Version, info.Version) {
		fix := "download the matching release"
		for _, v := range e.Versions {
			if versionMatches(v.Version, info.Version) {
				fix = "pass --version " + v.Version
			}
		}
		return nil, fmt.Errorf("%w: %s holds %s %s, but version %s of entry %s was asked for; %s",
			ErrBadSource, o.Source, e.ID, info.Version, ver.Version, e.ID, fix)
	}
	fsys, dir, err := m.Bank.Files(e.ID)
	if err != nil {
		return nil, err
	}
	res := &BuildSourceResult{Entry: e.ID, Version: ver.Version, Source: o.Source, SourceSHA256: sum,
		SourceVersion: info.Version, Licence: e.Licence}

	// Services sharing an image reference (REDCap's web and cron) build once.
	byRef := map[string][]string{}
	var refs []string
	for _, svc := range slices.Sorted(maps.Keys(ver.Build)) {
		ref := ver.Images[svc]
		if _, seen := byRef[ref]; !seen {
			refs = append(refs, ref)
		}
		byRef[ref] = append(byRef[ref], svc)
	}
	if o.Tag != "" && len(refs) > 1 {
		return nil, fmt.Errorf("entry %s version %s builds %d images (%s); --tag names only one", e.ID, ver.Version, len(refs), strings.Join(refs, ", "))
	}
	for _, ref := range refs {
		svcs := byRef[ref]
		b := ver.Build[svcs[0]]
		tag := ref
		if o.Tag != "" {
			tag = o.Tag
		}
		labels := map[string]string{
			label.Entry:                         e.ID,
			label.Version:                       ver.Version,
			label.Redistributable:               "false",
			label.Licence:                       e.Licence,
			label.SourceSHA256:                  sum,
			"org.opencontainers.image.licenses": e.Licence,
			"org.opencontainers.image.title":    e.Title,
			"org.opencontainers.image.url":      e.Upstream,
		}
		if info.Version != "" {
			labels[label.SourceVersion] = info.Version
		}
		args := map[string]string{}
		for k, v := range b.Args {
			args[k] = v
		}
		for k, v := range o.BuildArgs {
			args[k] = v
		}
		m.step("build image %s for %s from %s", tag, strings.Join(svcs, ", "), filepath.Base(o.Source))
		ctxDir := path.Join(dir, b.Context)
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(WriteBuildContext(pw, fsys, ctxDir, o.Source)) }()
		err := m.Engine.BuildImage(ctx, pr, engine.BuildOptions{
			Tag: tag, Dockerfile: b.Dockerfile, Args: args, Labels: labels,
			Report: m.Report,
		})
		pr.Close()
		if err != nil {
			return res, fmt.Errorf("%w; the context is %s of entry %s plus your file as %s", err, b.Context, e.ID, SourceName(o.Source))
		}
		res.Images = append(res.Images, BuiltImage{Image: tag, Services: svcs, Labels: labels})
	}
	return res, nil
}

// inspectSource checks the user's file and returns its sha256.
func inspectSource(file string, e *bank.Entry) (string, SourceInfo, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", SourceInfo{}, fmt.Errorf("%w: %v; %s needs %s", ErrBadSource, err, e.ID, e.Distribution.Source)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", SourceInfo{}, fmt.Errorf("%w: %v", ErrBadSource, err)
	}
	if !st.Mode().IsRegular() {
		return "", SourceInfo{}, fmt.Errorf("%w: %s is not a regular file; %s needs %s", ErrBadSource, file, e.ID, e.Distribution.Source)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", SourceInfo{}, fmt.Errorf("%w: read %s: %v", ErrBadSource, file, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	check, ok := sourceChecks[e.Distribution.SourceCheck]
	if !ok {
		return sum, SourceInfo{}, nil
	}
	info, err := check(f, st.Size())
	if err != nil {
		return "", SourceInfo{}, fmt.Errorf("%w: %s: %v; %s needs %s", ErrBadSource, file, err, e.ID, e.Distribution.Source)
	}
	return sum, info, nil
}

// versionMatches reports whether a release (15.0.3) belongs to an entry
// version naming it or its line (15, 15.0, 15.0.3).
func versionMatches(entryVersion, release string) bool {
	return release == entryVersion || strings.HasPrefix(release, entryVersion+".")
}

var redcapVersionDir = regexp.MustCompile(`^redcap_v(\d+)\.(\d+)\.(\d+)$`)

// redcapInstallFiles are the files of REDCap's web root that a new
// instance needs and only the installation package has: the entry page,
// the installer, and the cron job.
var redcapInstallFiles = []string{"index.php", "install.php", "cron.php"}

// redcapInstallZip says which zip a new instance needs.
const redcapInstallZip = "use the installation package redcapX.Y.Z.zip (it holds redcap/ with index.php, install.php and cron.php) from the REDCap Consortium community site"

// CheckREDCapZip checks that a file is a REDCap installation package: a
// zip holding redcap/ with index.php, install.php and cron.php, with no
// path leaving the unpack directory. An upgrade package (only
// redcap_vX.Y.Z/) is refused: an image built from it has no entry page,
// installer or cron job, yet its health check would pass; dockerbank
// upgrades an instance by building the new version from its installation
// package. It returns the newest REDCap release found in the zip.
func CheckREDCapZip(r io.ReaderAt, size int64) (SourceInfo, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return SourceInfo{}, fmt.Errorf("not a zip archive (%v)", err)
	}
	hasRoot := false
	var versions [][3]int
	var topVersionDirs []string
	seen := map[string]bool{}
	rootFiles := map[string]bool{}
	for _, f := range zr.File {
		name := strings.TrimPrefix(strings.ReplaceAll(f.Name, `\`, "/"), "./")
		parts := strings.Split(name, "/")
		if path.IsAbs(name) || slices.Contains(parts, "..") {
			return SourceInfo{}, fmt.Errorf("entry %q leaves the archive", f.Name)
		}
		dir := ""
		switch {
		case parts[0] == "redcap" && len(parts) > 1:
			hasRoot = true
			if len(parts) == 2 {
				rootFiles[parts[1]] = true
			}
			if len(parts) > 2 {
				dir = parts[1]
			}
		case len(parts) > 1:
			dir = parts[0]
			if redcapVersionDir.MatchString(dir) && !seen["top/"+dir] {
				seen["top/"+dir] = true
				topVersionDirs = append(topVersionDirs, dir+"/")
			}
		}
		if m := redcapVersionDir.FindStringSubmatch(dir); m != nil && !seen[dir] {
			seen[dir] = true
			var v [3]int
			for i := range v {
				v[i], _ = strconv.Atoi(m[i+1])
			}
			versions = append(versions, v)
		}
	}
	if !hasRoot && len(versions) == 0 {
		return SourceInfo{}, errors.New("it holds neither redcap/ nor redcap_vX.Y.Z/, so it is not a REDCap download")
	}
	var missing []string
	for _, f := range redcapInstallFiles {
		if !rootFiles[f] {
			missing = append(missing, "redcap/"+f)
		}
	}
	if !hasRoot {
		return SourceInfo{}, fmt.Errorf("it is a REDCap upgrade package (it holds only %s, without %s): a new instance cannot be built from it; %s. An upgrade package is not accepted for existing instances either: build the new version from its installation package, then run `dockerbank upgrade`",
			strings.Join(topVersionDirs, ", "), strings.Join(missing, ", "), redcapInstallZip)
	}
	if len(missing) > 0 {
		return SourceInfo{}, fmt.Errorf("its redcap/ lacks %s, so the image would have no entry page, installer or cron job; %s", strings.Join(missing, ", "), redcapInstallZip)
	}
	if len(versions) == 0 {
		return SourceInfo{}, nil
	}
	sort.Slice(versions, func(i, j int) bool {
		a, b := versions[i], versions[j]
		if a[0] != b[0] {
			return a[0] > b[0]
		}
		if a[1] != b[1] {
			return a[1] > b[1]
		}
		return a[2] > b[2]
	})
	v := versions[0]
	return SourceInfo{Version: fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2])}, nil
}

// WriteBuildContext writes a docker build context as a tar stream: the files
// of dir in fsys (the entry's build directory) plus the user's source file
// under SourceName(source). The source is streamed, never held in memory.
func WriteBuildContext(w io.Writer, fsys fs.FS, dir, source string) error {
	name := SourceName(source)
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		return fmt.Errorf("pack build context %s: %w", dir, err)
	}
	if _, err := fs.Stat(sub, name); err == nil {
		return fmt.Errorf("pack build context %s: it already holds a file %s, the name reserved for your source", dir, name)
	}
	tw := tar.NewWriter(w)
	if err := tw.AddFS(sub); err != nil {
		return fmt.Errorf("pack build context %s: %w", dir, err)
	}
	f, err := os.Open(source)
	if err != nil {
		return fmt.Errorf("pack source %s: %w", source, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("pack source %s: %w", source, err)
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: st.Size(), ModTime: st.ModTime()}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("pack source %s: %w", source, err)
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("pack source %s: %w", source, err)
	}
	return tw.Close()
}

// checkBuilt refuses, before anything is recorded, to deploy a build-locally
// version whose images the user has not built yet.
func (m *Manager) checkBuilt(ctx context.Context, e *bank.Entry, ver bank.Version) error {
	if e.Distribution.Mode != bank.BuildLocally {
		return nil
	}
	for _, svc := range slices.Sorted(maps.Keys(ver.Build)) {
		ok, err := m.Engine.ImageExists(ctx, ver.Images[svc])
		if err != nil {
			return err
		}
		if !ok {
			return needsSource(e, ver, ver.Images[svc])
		}
	}
	return nil
}

// needsSource is the error of a deploy whose build-locally image is missing.
func needsSource(e *bank.Entry, ver bank.Version, ref string) error {
	return fmt.Errorf("%w: %s of entry %s is built from your own copy (%s); run `dockerbank build %s --version %s --source FILE` first",
		ErrNotBuilt, ref, e.ID, e.Distribution.Source, e.ID, ver.Version)
}
