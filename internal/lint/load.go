package lint

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// project is a loaded compose project: compose-go's model plus the raw
// files for positions.
type project struct {
	dir   string
	files []*composeFile          // the files given, in load order
	extra map[string]*composeFile // files reached through extends, by absolute path; nil entry: unreadable
	env   map[string]string
	model *types.Project
	// loadFindings are findings made while loading (v1 format, missing extends...).
	loadFindings []Finding
	now          time.Time
	// partial is set when extends, include or env_file could not be followed.
	partial bool
	// placeholders is set when unset variables without default were
	// replaced by "0" so that compose-go could type and split the values.
	placeholders bool
	// missingEnvFiles is set when an env_file does not exist; environment
	// is then analysed as written.
	missingEnvFiles bool
	// missingIncludes is set when an include file does not exist; the
	// project is then analysed without includes.
	missingIncludes bool
	// includeFiles are the include targets that exist.
	includeFiles []string
	// awaited names the services another waits for to complete
	// (depends_on condition service_completed_successfully); see isJob.
	awaited map[string]bool
}

// FindComposeFiles returns the compose file and its override file in dir, the way compose finds them.
func FindComposeFiles(dir string) ([]string, error) {
	var files []string
	for _, n := range cli.DefaultFileNames {
		p := filepath.Join(dir, n)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			files = append(files, p)
			break
		}
	}
	if len(files) == 0 {
		return nil, &UsageError{Err: fmt.Errorf("find compose file in %s: none of %s exists; name the files to lint", dir, strings.Join(cli.DefaultFileNames, ", "))}
	}
	for _, n := range cli.DefaultOverrideFileNames {
		p := filepath.Join(dir, n)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			files = append(files, p)
			break
		}
	}
	return files, nil
}

func load(ctx context.Context, opts Options) (*project, error) {
	files := opts.Files
	dir := opts.ProjectDir
	if len(files) == 0 {
		if dir == "" {
			dir = "."
		}
		found, err := FindComposeFiles(dir)
		if err != nil {
			return nil, err
		}
		files = found
	}
	if dir == "" {
		dir = filepath.Dir(files[0])
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, &UsageError{Err: fmt.Errorf("resolve project directory %s: %w", dir, err)}
	}
	p := &project{dir: dir, extra: map[string]*composeFile{}, now: opts.Now}
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, &UsageError{Err: fmt.Errorf("resolve compose file %s: %w", f, err)}
		}
		data, err := readBounded(abs)
		if err != nil {
			return nil, &AnalysisError{Pos: Position{File: p.displayPath(abs)}, Err: fmt.Errorf("read compose file: %w", err)}
		}
		cf, err := parseFile(abs, data)
		if err != nil {
			var ae *AnalysisError
			if errors.As(err, &ae) {
				ae.Pos = p.display(ae.Pos)
			}
			return nil, err
		}
		p.files = append(p.files, cf)
	}
	if err := p.loadEnv(opts); err != nil {
		return nil, err
	}
	if err := p.loadModel(ctx, opts); err != nil {
		var ae *AnalysisError
		if errors.As(err, &ae) {
			ae.Pos = p.display(ae.Pos)
		}
		return nil, err
	}
	return p, nil
}

func (p *project) loadEnv(opts Options) error {
	envFiles := opts.EnvFiles
	explicit := len(envFiles) > 0
	if !explicit {
		def := filepath.Join(p.dir, ".env")
		if st, err := os.Stat(def); err == nil && !st.IsDir() {
			envFiles = []string{def}
		}
	}
	for i, f := range envFiles {
		if !filepath.IsAbs(f) {
			envFiles[i] = filepath.Join(p.dir, f)
		}
	}
	env, err := dotenv.GetEnvFromFile(maps.Clone(opts.Environment), envFiles)
	if err != nil {
		return &UsageError{Err: fmt.Errorf("read env files: %w", err)}
	}
	maps.Copy(env, opts.Environment)
	p.env = env
	return nil
}

// lookup resolves a variable from the project environment.
func (p *project) lookup(key string) (string, bool) {
	v, ok := p.env[key]
	return v, ok
}

// interpolate substitutes variables in s the way compose does; on a bad
// template it returns s unchanged.
func (p *project) interpolate(s string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	out, err := template.SubstituteWithOptions(s, func(k string) (string, bool) {
		v, ok := p.env[k]
		return v, ok
	}, template.WithoutLogging)
	if err != nil {
		return s
	}
	return out
}

// fillUnset replaces references to unset variables without default
// ($VAR, ${VAR}, ${VAR:?msg}) by "0", leaving $$ escapes and defaults alone.
func (p *project) fillUnset(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' {
			b.WriteByte(s[i])
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			b.WriteString("$$")
			i += 2
			continue
		}
		loc := varRE.FindStringSubmatchIndex(s[i:])
		if loc == nil || loc[0] != 0 {
			b.WriteByte(s[i])
			i++
			continue
		}
		m := varRE.FindStringSubmatch(s[i:])
		name, op := m[1], m[3]
		if name == "" {
			name = m[2]
		}
		if _, set := p.env[name]; !set && (op == "" || op == "?" || op == ":?") {
			b.WriteString(placeholder(s, i, i+loc[1]))
		} else {
			b.WriteString(m[0])
		}
		i += loc[1]
	}
	return b.String()
}

// placeholder chooses what stands for an unset variable at s[start:end]
// so that compose-go can type the value: "0" for a whole value (a number
// or a flag) or a leading host port ("${PORT}:80"), "/0" for a leading
// bind source ("${DIR}:/data"), and otherwise the empty string compose
// itself would substitute ("${ROOT}/data" stays "/data").
func placeholder(s string, start, end int) string {
	if start == 0 && end == len(s) {
		return "0"
	}
	if start == 0 && end < len(s) && s[end] == ':' {
		if end+1 < len(s) && s[end+1] >= '0' && s[end+1] <= '9' {
			return "0"
		}
		return "/0"
	}
	return ""
}

var pathInErrRE = regexp.MustCompile(`(services(?:\.[A-Za-z0-9_.\-]+)?)`)

// loadModel runs compose-go on the files. It tries hard to produce a model:
// a v1 file is lifted under `services:`, extends of missing files are cut
// (with a finding), and if strict loading fails it retries without schema
// validation, then without extends and include, recording why.
func (p *project) loadModel(ctx context.Context, opts Options) error {
	var configs []types.ConfigFile
	for _, f := range p.files {
		content, err := p.prepare(f)
		if err != nil {
			return err
		}
		configs = append(configs, types.ConfigFile{Filename: f.path, Content: content})
	}
	name := loader.NormalizeProjectName(filepath.Base(p.dir))
	if name == "" {
		name = "project"
	}
	details := types.ConfigDetails{WorkingDir: p.dir, ConfigFiles: configs, Environment: types.Mapping(p.env)}
	profiles := opts.Profiles
	if len(profiles) == 0 {
		profiles = []string{"*"}
	}
	base := func(o *loader.Options) {
		o.SetProjectName(name, true)
		o.Profiles = profiles
		o.Interpolate.LookupValue = p.lookup
		o.Interpolate.Substitute = func(s string, m template.Mapping) (string, error) {
			if p.placeholders {
				s = p.fillUnset(s)
			}
			return template.SubstituteWithOptions(s, m, template.WithoutLogging)
		}
		o.ResolvePaths = true
	}
	relaxed := func(o *loader.Options) {
		o.SkipValidation = true
		o.SkipConsistencyCheck = true
	}
	partial := func(o *loader.Options) {
		o.SkipExtends = true
		o.SkipInclude = true
	}
	if p.missingEnvFiles {
		base = withSkipEnv(base)
	}
	if p.missingIncludes {
		base = withSkipInclude(base)
	}
	model, strictErr := safeLoad(ctx, details, base)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("load compose project: %w", err)
	}
	if strictErr == nil {
		p.model = model
		return nil
	}
	if len(p.unsetNames()) > 0 {
		// An empty string where compose wants a number or a path part
		// ("${HOST_DIR}:/data", cpus: ${CPUS}) stops the loader; DB032
		// reports the unset variables, and lint analyses the rest.
		p.placeholders = true
		if model, err := safeLoad(ctx, details, base); err == nil {
			p.model = model
			p.loadFindings = append(p.loadFindings, p.rejected(strictErr))
			return nil
		}
	}
	if model, err := safeLoad(ctx, details, base, relaxed); err == nil {
		p.model = model
		p.loadFindings = append(p.loadFindings, p.rejected(strictErr))
		return nil
	}
	model, partialErr := safeLoad(ctx, details, base, relaxed, partial)
	if partialErr == nil {
		p.model = model
		p.partial = true
		p.loadFindings = append(p.loadFindings, Finding{
			Rule: ruleIncomplete, Severity: SeverityMedium, Position: p.errPosition(strictErr),
			Message: fmt.Sprintf("extends/include could not be followed, services were analysed without what they inherit: %v", oneLine(strictErr)),
			Fix:     "provide the referenced files next to the compose file",
		})
		return nil
	}
	return &AnalysisError{Pos: p.errPosition(strictErr), Err: fmt.Errorf("load compose project: %w", partialErr)}
}

func withSkipInclude(base func(*loader.Options)) func(*loader.Options) {
	return func(o *loader.Options) {
		base(o)
		o.SkipInclude = true
	}
}

func withSkipEnv(base func(*loader.Options)) func(*loader.Options) {
	return func(o *loader.Options) {
		base(o)
		o.SkipResolveEnvironment = true
	}
}

// rejected is the DB090 finding for the error of the strict load.
func (p *project) rejected(err error) Finding {
	f := Finding{Rule: ruleSchema, Severity: SeverityHigh, Position: p.errPosition(err),
		Message: fmt.Sprintf("compose rejects this project: %v", oneLine(err)),
		Fix:     "correct the attribute named in the message; `docker compose config` must accept the project"}
	if p.placeholders {
		names := p.unsetNames()
		if len(names) > 6 {
			names = append(names[:6], "...")
		}
		f.Severity = SeverityMedium
		// compose-go's first error depends on map order; the unset
		// variables are the cause and are stable.
		f.Position = Position{File: p.files[0].path, Line: 1, Col: 1}
		verb := "are"
		if len(names) == 1 {
			verb = "is"
		}
		f.Message = fmt.Sprintf("compose rejects this project while %s %s unset (a required ${VAR:?} variable, or an empty value where a volume, port or number is needed)", strings.Join(names, ", "), verb)
		f.Fix = "set the variables in .env, or give them defaults"
	}
	return f
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// errPosition guesses where a compose-go error points: a `services.x.y`
// path in the message, else the first file.
func (p *project) errPosition(err error) Position {
	first := Position{File: p.files[0].path, Line: 1, Col: 1}
	for _, m := range pathInErrRE.FindAllString(err.Error(), -1) {
		parts := strings.Split(strings.TrimSuffix(m, "."), ".")
		if len(parts) >= 2 && parts[0] == "services" {
			if pos, ok := p.find(parts[1], parts[2:]); ok {
				return pos
			}
			if pos, ok := p.find(parts[1], nil); ok {
				return pos
			}
		}
	}
	return first
}

// prepare returns the content given to compose-go for f: the file as is,
// or rewritten when it is a v1 file or extends a file that does not exist.
func (p *project) prepare(f *composeFile) ([]byte, error) {
	data, err := readBounded(f.path)
	if err != nil {
		return nil, &AnalysisError{Pos: Position{File: f.path}, Err: fmt.Errorf("read compose file: %w", err)}
	}
	var cuts []string
	if f.services != nil {
		for _, svc := range mapKeys(f.services) {
			_, s := mapGet(f.services, svc)
			ek, ev := mapGet(s, "extends")
			if ek == nil {
				continue
			}
			_, fileNode := mapGet(ev, "file")
			file := p.interpolate(scalar(fileNode))
			if file == "" {
				continue
			}
			target := file
			if !filepath.IsAbs(target) {
				target = filepath.Join(filepath.Dir(f.path), file)
			}
			if _, err := os.Stat(target); err == nil {
				// compose-go loads it too: the same bounds first.
				if err := checkBounded(target); err != nil {
					return nil, err
				}
				continue
			}
			cuts = append(cuts, svc)
			p.partial = true
			p.loadFindings = append(p.loadFindings, Finding{
				Rule: ruleIncomplete, Severity: SeverityMedium, Service: svc,
				Position: Position{File: f.path, Line: fileNode.Line, Col: fileNode.Column},
				Message:  fmt.Sprintf("extends file %s not found; the service was analysed without what it would inherit, and `docker compose` refuses the project until the file exists", file),
				Fix:      "add the file next to the compose file, or inline the inherited settings",
			})
		}
	}
	p.checkEnvFiles(f)
	p.checkIncludes(f)
	for _, inc := range p.includeFiles {
		if err := checkBounded(inc); err != nil {
			return nil, err
		}
	}
	if !f.v1 && len(cuts) == 0 {
		return data, nil
	}
	// Work on a copy: f keeps the nodes as written for positions.
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &AnalysisError{Pos: Position{File: f.path}, Err: err}
	}
	root := deref(doc.Content[0])
	services := root
	if !f.v1 {
		_, services = mapGet(root, "services")
		services = deref(services)
	}
	for _, svc := range cuts {
		_, s := mapGet(services, svc)
		s = deref(s)
		for i := 0; i+1 < len(s.Content); i += 2 {
			if s.Content[i].Value == "extends" {
				s.Content = append(s.Content[:i], s.Content[i+2:]...)
				break
			}
		}
	}
	if f.v1 {
		root = &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Value: "services"}, root,
		}}
	}
	out, err := yaml.Marshal(root)
	if err != nil {
		return nil, &AnalysisError{Pos: Position{File: f.path}, Err: fmt.Errorf("rewrite compose file: %w", err)}
	}
	return out, nil
}

// checkEnvFiles reports env_file entries of f that do not exist (unless
// marked required: false).
func (p *project) checkEnvFiles(f *composeFile) {
	for _, svc := range mapKeys(f.services) {
		_, s := mapGet(f.services, svc)
		_, ef := mapGet(s, "env_file")
		ef = deref(ef)
		if ef == nil {
			continue
		}
		items := []*yaml.Node{ef}
		if ef.Kind == yaml.SequenceNode {
			items = ef.Content
		}
		for _, it := range items {
			it = deref(it)
			file, required := scalar(it), true
			if it.Kind == yaml.MappingNode {
				_, pn := mapGet(it, "path")
				_, rn := mapGet(it, "required")
				file = scalar(pn)
				required = scalar(rn) != "false"
			}
			written := file
			file = p.interpolate(file)
			if file == "" || !required {
				continue
			}
			if !filepath.IsAbs(file) {
				file = filepath.Join(p.dir, file)
			}
			if _, err := os.Stat(file); err == nil {
				continue
			}
			p.missingEnvFiles = true
			p.partial = true
			p.loadFindings = append(p.loadFindings, Finding{
				Rule: ruleIncomplete, Severity: SeverityMedium, Service: svc, Position: posOf(f, it),
				Message: fmt.Sprintf("env_file %s not found: compose refuses to start the service, and lint analysed its environment without the file", written),
				Fix:     "create the file (mode 0600 if it holds secrets), or mark it required: false",
			})
		}
	}
}

// unsetNames lists, sorted, the variables that the files use without
// default and that are not set.
func (p *project) unsetNames() []string {
	seen := map[string]bool{}
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		if n == nil || depth > 64 || n.Kind == yaml.AliasNode {
			return
		}
		if n.Kind == yaml.ScalarNode {
			for _, r := range varRefs(n.Value) {
				if _, set := p.env[r.name]; !set && (r.op == "" || r.op == "?" || r.op == ":?") {
					seen[r.name] = true
				}
			}
		}
		for _, c := range n.Content {
			walk(c, depth+1)
		}
	}
	for _, f := range p.files {
		walk(f.root, 0)
	}
	for _, f := range p.extra {
		if f != nil {
			walk(f.root, 0)
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// checkBounded applies the input bounds to a file compose-go will read
// (an extends or include target).
func checkBounded(path string) error {
	data, err := readBounded(path)
	if err != nil {
		return &AnalysisError{Pos: Position{File: path}, Err: fmt.Errorf("read compose file: %w", err)}
	}
	if _, err := parseFile(path, data); err != nil {
		var ae *AnalysisError
		if errors.As(err, &ae) && strings.Contains(ae.Err.Error(), "alias") {
			return err
		}
	}
	return nil
}

// safeLoad runs compose-go's loader and turns a panic into an error:
// FuzzLoad found inputs (a top-level scalar beside an empty services: key,
// with validation off) that make compose-go v2.16.2 panic in normalizeNetworks.
// compose-go does not stop on a cancelled context: the load then runs on
// in its goroutine, and safeLoad returns the context's error at once (the
// process is on its way out).
func safeLoad(ctx context.Context, details types.ConfigDetails, opts ...func(*loader.Options)) (*types.Project, error) {
	type result struct {
		model *types.Project
		err   error
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if rec := recover(); rec != nil {
				r = result{nil, fmt.Errorf("compose-go loader panicked: %v", rec)}
			}
			done <- r
		}()
		r.model, r.err = loader.LoadWithContext(ctx, details, opts...)
	}()
	select {
	case r := <-done:
		return r.model, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// checkIncludes reports include entries of f whose files do not exist.
func (p *project) checkIncludes(f *composeFile) {
	if f.v1 {
		return
	}
	_, inc := mapGet(f.root, "include")
	inc = deref(inc)
	if inc == nil || inc.Kind != yaml.SequenceNode {
		return
	}
	for _, it := range inc.Content {
		it = deref(it)
		var paths []*yaml.Node
		switch it.Kind {
		case yaml.ScalarNode:
			paths = []*yaml.Node{it}
		case yaml.MappingNode:
			_, pn := mapGet(it, "path")
			pn = deref(pn)
			if pn != nil && pn.Kind == yaml.SequenceNode {
				paths = pn.Content
			} else if pn != nil {
				paths = []*yaml.Node{pn}
			}
		}
		for _, pn := range paths {
			written := scalar(pn)
			file := p.interpolate(written)
			if file == "" || strings.Contains(file, "://") || strings.HasPrefix(file, "oci:") {
				continue // remote includes are not fetched by lint
			}
			if !filepath.IsAbs(file) {
				file = filepath.Join(filepath.Dir(f.path), file)
			}
			if _, err := os.Stat(file); err == nil {
				p.includeFiles = append(p.includeFiles, file)
				continue
			}
			p.missingIncludes = true
			p.partial = true
			p.loadFindings = append(p.loadFindings, Finding{
				Rule: ruleIncomplete, Severity: SeverityMedium, Position: posOf(f, pn),
				Message: fmt.Sprintf("include %s not found: compose refuses the project, and lint analysed it without the included services", written),
				Fix:     "add the file, or remove the include",
			})
		}
	}
}
