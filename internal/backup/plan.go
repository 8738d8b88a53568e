package backup

import (
	"fmt"
	"sort"
	"strings"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/engine"
)

// PlanFacts is what a group plan is made from, observed before anything is
// touched: the instance's compose model, the engine names of its volumes
// and its containers.
type PlanFacts struct {
	Instance string
	Entry    string
	Model    *bank.ComposeModel
	// VolumeNames maps a project volume to the name declared in the
	// compose file ("" or absent: the compose default <instance>_<volume>).
	VolumeNames map[string]string
	// Containers are the instance's containers as the engine lists them.
	Containers []engine.Container
	// Via is the forced capture mode of file volumes ("", ModeDir, ModeTar).
	Via string
	// Shared are the databases the instance has in shared servers: each
	// is dumped inside its server's container, alone.
	Shared []SharedDB
	// Exclude lists databases of a shared server that belong to its
	// tenants (their groups hold them): the server's own group leaves
	// them out.
	Exclude []string
}

// SharedDB is an instance's database in a shared server.
type SharedDB struct {
	Service   string // the entry's service the server replaces
	Server    string // the server instance
	Engine    string
	Database  string
	Role      string
	Container engine.Container // the server's running database container
}

// GroupPlan is what one backup group captures and in what order:
//
//  1. the instance record, beside everything else;
//  2. every dump, hot, each at one transaction snapshot, concurrently;
//  3. once every dump's snapshot is fixed (and, when a quiesced container
//     runs a database, once every dump has finished) the quiesce;
//  4. the file captures, one after the other;
//  5. the containers run again, then the manifest is stored.
type GroupPlan struct {
	Instance string
	Dumps    []DumpStep
	Files    []FileStep
	// Quiesce lists the containers the file captures stop or pause, in
	// the engine's order; QuiesceMode is stop when any volume asks for
	// stop, else pause.
	Quiesce     []engine.Container
	QuiesceMode string
	// DumpsFirst: a quiesced container runs a database, so every dump
	// must finish before the capture starts.
	DumpsFirst bool
	Via        string
}

// DumpStep is one database dump.
type DumpStep struct {
	Volume  string
	Method  string
	Service string
	Engine  string
	// Container is the running container the dump runs in.
	Container engine.Container
	// Server and Database: the instance's own database in a shared
	// server, dumped alone (no globals, no owners).
	Server   string
	Database string
	// Exclude lists databases left out (a server's tenants').
	Exclude []string
}

// FileStep is one file volume capture.
type FileStep struct {
	Volume  string
	Name    string // the engine's volume name
	Quiesce string
	// Replicas lists, for a volume that replicas of a scaled service
	// (`dockerbank scale`) write, those running containers: each is
	// quiesced like a single container would be, or, live, writes on
	// during the capture.
	Replicas []string
}

// Live reports whether the volume is captured while its users write.
func (f FileStep) Live() bool { return f.Quiesce == "" || f.Quiesce == bank.QuiesceNone }

// QuiesceIDs returns the IDs of the containers to quiesce, sorted.
func (p *GroupPlan) QuiesceIDs() []string {
	ids := make([]string, 0, len(p.Quiesce))
	for _, c := range p.Quiesce {
		ids = append(ids, c.ID)
	}
	sort.Strings(ids)
	return ids
}

// QuiesceNames returns the names of the containers to quiesce.
func (p *GroupPlan) QuiesceNames() []string {
	var names []string
	for _, c := range p.Quiesce {
		names = append(names, c.Name)
	}
	return names
}

// PlanGroup decides what a backup group of an instance captures. It
// refuses an instance with nothing to back up, a dump-backed volume that no
// database service mounts and a database that is not running.
func PlanGroup(f PlanFacts) (*GroupPlan, error) {
	byService := map[string][]engine.Container{}
	for _, c := range f.Containers {
		byService[c.Service] = append(byService[c.Service], c)
	}
	p := &GroupPlan{Instance: f.Instance, Via: f.Via}
	quiesce := map[string]string{} // container ID -> stop or pause
	vols := make([]string, 0, len(f.Model.Volumes))
	for v := range f.Model.Volumes {
		vols = append(vols, v)
	}
	sort.Strings(vols)
	for _, v := range vols {
		meta := f.Model.Volumes[v]
		if meta.Class != bank.ClassUserdata || meta.Backup == bank.BackupNone {
			continue
		}
		switch meta.Backup {
		case bank.BackupPostgresDump, bank.BackupMySQLDump, bank.BackupMongoDump:
			svc, ok := f.Model.DatabaseFor(v)
			if !ok {
				return nil, fmt.Errorf("volume %s is backed up by %s but no service of role database mounts it; fix the entry %s", v, meta.Backup, f.Entry)
			}
			d := DumpStep{Volume: v, Method: meta.Backup, Service: svc, Engine: f.Model.Services[svc].Engine}
			running := false
			for _, c := range byService[svc] {
				if c.State == "running" {
					d.Container, running = c, true
				}
			}
			if !running {
				return nil, fmt.Errorf("database service %s of %s is not running: a dump needs it; start it with `dockerbank start %s`", svc, f.Instance, f.Instance)
			}
			p.Dumps = append(p.Dumps, d)
		default:
			step := FileStep{Volume: v, Name: volumeName(f.VolumeNames[v], f.Instance, v), Quiesce: meta.Quiesce}
			for _, svc := range sortedKeys(meta.Mounts) {
				for _, c := range byService[svc] {
					if c.Replica > 0 && c.State == "running" {
						step.Replicas = append(step.Replicas, c.Name)
					}
				}
			}
			p.Files = append(p.Files, step)
			if meta.Quiesce != bank.QuiesceStop && meta.Quiesce != bank.QuiescePause && meta.Quiesce != bank.QuiesceReadonly {
				continue
			}
			mode := "pause"
			if meta.Quiesce == bank.QuiesceStop {
				mode = "stop"
			}
			for svc := range meta.Mounts {
				for _, c := range byService[svc] {
					if c.State == "running" && quiesce[c.ID] != "stop" {
						quiesce[c.ID] = mode
					}
				}
			}
		}
	}
	for _, sh := range f.Shared {
		if sh.Container.State != "running" {
			return nil, fmt.Errorf("database server %s that %s uses is not running: a dump needs it; start it with `dockerbank start %s`", sh.Server, f.Instance, sh.Server)
		}
		p.Dumps = append(p.Dumps, DumpStep{Volume: sh.Service, Method: bank.BackupPostgresDump, Service: sh.Service, Engine: sh.Engine,
			Container: sh.Container, Server: sh.Server, Database: sh.Database})
	}
	for i := range p.Dumps {
		if p.Dumps[i].Server == "" {
			p.Dumps[i].Exclude = f.Exclude
		}
	}
	if len(p.Dumps) == 0 && len(p.Files) == 0 {
		return nil, fmt.Errorf("instance %s has no userdata volume with a backup method; nothing to back up", f.Instance)
	}
	for _, c := range f.Containers {
		md, ok := quiesce[c.ID]
		if !ok {
			continue
		}
		p.Quiesce = append(p.Quiesce, c)
		if md == "stop" || p.QuiesceMode == "" {
			p.QuiesceMode = md
		}
	}
	for _, d := range p.Dumps {
		if _, ok := quiesce[d.Container.ID]; ok {
			p.DumpsFirst = true
		}
	}
	return p, nil
}

// String renders the plan as text, one step a line, for tests and
// debugging.
func (p *GroupPlan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "backup group of %s\n", p.Instance)
	fmt.Fprintf(&b, "1. store the instance record (beside the dumps)\n")
	if len(p.Dumps) == 0 {
		fmt.Fprintf(&b, "2. dump: nothing\n")
	} else {
		fmt.Fprintf(&b, "2. dump, hot, each at one transaction snapshot:\n")
		for _, d := range p.Dumps {
			switch {
			case d.Server != "":
				fmt.Fprintf(&b, "   %s: %s of database %s only in %s (shared server %s, engine %s)\n", d.Volume, d.Method, d.Database, d.Container.Name, d.Server, orDash(d.Engine))
			case len(d.Exclude) > 0:
				fmt.Fprintf(&b, "   %s: %s in %s (service %s, engine %s), without the tenants' databases %s\n", d.Volume, d.Method, d.Container.Name, d.Service, orDash(d.Engine), strings.Join(d.Exclude, ", "))
			default:
				fmt.Fprintf(&b, "   %s: %s in %s (service %s, engine %s)\n", d.Volume, d.Method, d.Container.Name, d.Service, orDash(d.Engine))
			}
		}
	}
	after := "every dump's snapshot is fixed"
	if p.DumpsFirst {
		after = "every dump has finished (a quiesced container runs a database)"
	}
	if len(p.Quiesce) == 0 {
		fmt.Fprintf(&b, "3. quiesce: nothing\n")
	} else {
		fmt.Fprintf(&b, "3. %s %s, once %s\n", p.QuiesceMode, strings.Join(p.QuiesceNames(), ", "), after)
	}
	if len(p.Files) == 0 {
		fmt.Fprintf(&b, "4. capture files: nothing\n")
	} else {
		via := "the host mountpoint when readable, else a helper's archive"
		switch p.Via {
		case ModeDir:
			via = "the host mountpoint"
		case ModeTar:
			via = "a helper's archive"
		}
		fmt.Fprintf(&b, "4. capture files, one after the other, through %s, once %s:\n", via, after)
		for _, f := range p.Files {
			q := "live"
			if !f.Live() {
				q = "quiesce " + f.Quiesce
			}
			fmt.Fprintf(&b, "   %s: volume %s, %s\n", f.Volume, f.Name, q)
			if len(f.Replicas) > 0 {
				how := "write on during the capture (files they finish later are in the next group)"
				switch f.Quiesce {
				case bank.QuiesceStop:
					how = "every one stopped (step 3)"
				case bank.QuiescePause, bank.QuiesceReadonly:
					how = "every one paused (step 3)"
				}
				fmt.Fprintf(&b, "      replicas %s: %s\n", strings.Join(f.Replicas, ", "), how)
			}
		}
	}
	if len(p.Quiesce) > 0 {
		fmt.Fprintf(&b, "5. start %s again, store the manifest\n", strings.Join(p.QuiesceNames(), ", "))
	} else {
		fmt.Fprintf(&b, "5. store the manifest\n")
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
