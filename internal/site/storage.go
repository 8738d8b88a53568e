package site

import (
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// StorageConfig maps instances' volumes to where their data lives: a
// directory of the engine's host, an NFS or CIFS share, or any volume
// driver. A volume not mapped is created with the engine's default
// (local driver, under the engine's data root).
type StorageConfig struct {
	// Classes map a volume class (userdata, config, cache, temp: the
	// x-dockerbank class of an entry's volume) for every instance.
	Classes map[string]Storage `yaml:"classes,omitempty"`
	// Volumes map one instance's volume, keyed INSTANCE/VOLUME (the
	// volume's name in the entry's compose file); they win over Classes.
	Volumes map[string]Storage `yaml:"volumes,omitempty"`
}

// Storage is where one class or volume lives: either HostPath, or a
// volume Driver with Options.
type Storage struct {
	// HostPath is a base directory on the engine's host: the volume is a
	// bind of <HostPath>/<instance>/<volume>, a directory dockerbank
	// creates. The base must exist.
	HostPath string `yaml:"hostPath,omitempty"`
	// Driver is the volume driver; default local when Options are given.
	Driver string `yaml:"driver,omitempty"`
	// Options are the driver's options (local: type, o, device).
	Options map[string]string `yaml:"options,omitempty"`
	// PasswordFile holds the password of a CIFS share (mode 0600); it is
	// added to the mount options when the volume is created, and never
	// written to site.yaml or the instance record.
	PasswordFile string `yaml:"passwordFile,omitempty"`
}

// VolumeStorage is the mapping of one volume as the instance record keeps
// it, so that every later operation (upgrade, start, restore in place)
// creates the volume the same way even when site.yaml changed since.
type VolumeStorage struct {
	// Key is the site.yaml key the mapping came from, e.g.
	// storage.classes.userdata.
	Key string `yaml:"key" json:"key"`
	// Base and Dir are set for a host directory: the base that must
	// exist, and the volume's own directory <base>/<instance>/<volume>.
	Base string `yaml:"base,omitempty" json:"base,omitempty"`
	Dir  string `yaml:"dir,omitempty" json:"dir,omitempty"`
	// Driver and Options are set for any other mapping.
	Driver       string            `yaml:"driver,omitempty" json:"driver,omitempty"`
	Options      map[string]string `yaml:"options,omitempty" json:"options,omitempty"`
	PasswordFile string            `yaml:"passwordFile,omitempty" json:"passwordFile,omitempty"`
}

// knownClasses are the volume classes of the bank's entries (bank.Class*).
var knownClasses = []string{"userdata", "config", "cache", "temp"}

// Resolve says where the volume vol (of class class) of instance lives;
// false when it is not mapped (the engine's default).
func (c StorageConfig) Resolve(instance, vol, class string) (VolumeStorage, bool) {
	key := instance + "/" + vol
	if s, ok := c.Volumes[key]; ok {
		return s.resolve("storage.volumes."+key, instance, vol), true
	}
	if s, ok := c.Classes[class]; ok && class != "" {
		return s.resolve("storage.classes."+class, instance, vol), true
	}
	return VolumeStorage{}, false
}

func (s Storage) resolve(key, instance, vol string) VolumeStorage {
	if s.HostPath != "" {
		base := filepath.Clean(s.HostPath)
		return VolumeStorage{Key: key, Base: base, Dir: filepath.Join(base, instance, vol)}
	}
	driver := s.Driver
	if driver == "" {
		driver = "local"
	}
	return VolumeStorage{Key: key, Driver: driver, Options: maps.Clone(s.Options), PasswordFile: s.PasswordFile}
}

// DriverOptions is the volume driver and its options for the engine.
// readFile reads the CIFS password file; its content never leaves this
// function but in the options.
func (v VolumeStorage) DriverOptions(readFile func(string) ([]byte, error)) (string, map[string]string, error) {
	if v.Dir != "" {
		return "local", map[string]string{"type": "none", "o": "bind", "device": v.Dir}, nil
	}
	opts := maps.Clone(v.Options)
	if v.PasswordFile != "" {
		data, err := readFile(v.PasswordFile)
		if err != nil {
			return "", nil, fmt.Errorf("read the share password of %s: %w; create the file (mode 0600) or change the key in site.yaml", v.Key, err)
		}
		pw := strings.TrimRight(string(data), "\r\n")
		if pw == "" || strings.ContainsAny(pw, ",\n") {
			return "", nil, fmt.Errorf("share password in %s (%s): empty, or has a comma or a line break, which mount options cannot carry", v.PasswordFile, v.Key)
		}
		if opts == nil {
			opts = map[string]string{}
		}
		if opts["o"] != "" {
			opts["o"] += ","
		}
		opts["o"] += "password=" + pw
	}
	return v.Driver, opts, nil
}

// Where says in a few words where the volume lives (no secrets).
func (v VolumeStorage) Where() string {
	if v.Dir != "" {
		return "host directory " + v.Dir
	}
	return DescribeDriver(v.Driver, v.Options)
}

// DescribeDriver says where a volume of that driver and options lives, for
// people: "nfs 10.0.0.5:/export/o1", "bind /srv/x", "engine default".
// Passwords in the options are never shown.
func DescribeDriver(driver string, opts map[string]string) string {
	if (driver == "" || driver == "local") && len(opts) == 0 {
		return "engine default"
	}
	t, dev := opts["type"], opts["device"]
	switch {
	case (driver == "" || driver == "local") && t == "none" && hasOpt(opts["o"], "bind"):
		return "bind " + dev
	case (driver == "" || driver == "local") && (t == "nfs" || t == "nfs4"):
		return t + " " + optValue(opts["o"], "addr") + dev
	case (driver == "" || driver == "local") && t == "cifs":
		return "cifs " + dev
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		parts = append(parts, k+"="+MaskPassword(opts[k]))
	}
	return strings.TrimSpace(driver + " " + strings.Join(parts, " "))
}

// MaskPassword hides the value of password= in mount options.
func MaskPassword(o string) string {
	parts := strings.Split(o, ",")
	for i, p := range parts {
		if k, _, ok := strings.Cut(p, "="); ok && (k == "password" || k == "pass") {
			parts[i] = k + "=***"
		}
	}
	return strings.Join(parts, ",")
}

func hasOpt(o, name string) bool {
	return slices.Contains(strings.Split(o, ","), name)
}

func optValue(o, name string) string {
	for _, p := range strings.Split(o, ",") {
		if k, v, ok := strings.Cut(p, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// validateStorage returns every problem of the storage section, at
// file:line.
func (c *Config) validateStorage(file string, root *yaml.Node) []error {
	var errs []error
	add := func(msg string, keys ...string) {
		errs = append(errs, fmt.Errorf("%s:%d: %s: %s (see docs/storage.md)", file, nodeLine(root, keys...), strings.Join(keys, "."), msg))
	}
	shares := map[string]string{} // driver+options -> key
	check := func(s Storage, keys ...string) {
		at := func(k string) []string { return append(append([]string{}, keys...), k) }
		key := strings.Join(keys, ".")
		if s.HostPath != "" && (s.Driver != "" || len(s.Options) > 0 || s.PasswordFile != "") {
			add("hostPath and driver/options/passwordFile conflict: write either hostPath (a host directory) or driver and options (a share or another volume driver)", keys...)
			return
		}
		if s.HostPath == "" && s.Driver == "" && len(s.Options) == 0 {
			add("says nowhere: write hostPath: /srv/dockerbank, or driver and options", keys...)
			return
		}
		if s.HostPath != "" {
			if !path.IsAbs(s.HostPath) {
				add(fmt.Sprintf("hostPath %q is not absolute: write the full path of a directory on the engine's host", s.HostPath), at("hostPath")...)
			} else if filepath.Clean(s.HostPath) == "/" {
				add("hostPath / would put volumes at the root of the host: name a directory for them", at("hostPath")...)
			}
			return
		}
		driver := s.Driver
		if driver == "" {
			driver = "local"
		}
		o := s.Options["o"]
		if hasOpt(o, "password") || optValue(o, "password") != "" || optValue(o, "pass") != "" {
			add("a password in the mount options would stay in site.yaml: put it in a file (mode 0600) named by passwordFile", at("options")...)
		}
		if driver == "local" {
			for _, k := range slices.Sorted(maps.Keys(s.Options)) {
				if k != "type" && k != "o" && k != "device" {
					add(fmt.Sprintf("unknown option %q of the local driver: it takes type, o and device", k), append(at("options"), k)...)
				}
			}
			t, dev := s.Options["type"], s.Options["device"]
			switch t {
			case "":
				add("the local driver needs options.type (nfs, nfs4, cifs, none, or a file system type)", at("options")...)
			case "nfs", "nfs4":
				if optValue(o, "addr") == "" {
					add("an NFS share needs the server in options.o: addr=10.0.0.5,rw,nfsvers=4", at("options")...)
				}
				if !strings.HasPrefix(dev, ":/") {
					add(fmt.Sprintf("an NFS share's device is :/EXPORT (the server goes in o: addr=), not %q", dev), at("options")...)
				}
			case "cifs":
				if !strings.HasPrefix(dev, "//") {
					add(fmt.Sprintf("a CIFS share's device is //SERVER/SHARE, not %q", dev), at("options")...)
				}
				if optValue(o, "addr") == "" {
					add("a CIFS share needs the server's address in options.o (addr=SERVER): the engine mounts without the mount.cifs helper", at("options")...)
				}
			case "none":
				if hasOpt(o, "bind") && !path.IsAbs(dev) {
					add(fmt.Sprintf("a bind needs an absolute device, not %q; or use hostPath", dev), at("options")...)
				}
			}
			if s.PasswordFile != "" && t != "cifs" {
				add("passwordFile is for CIFS shares (options.type: cifs)", at("passwordFile")...)
			}
		}
		if s.PasswordFile != "" {
			if !path.IsAbs(s.PasswordFile) {
				add(fmt.Sprintf("passwordFile %q is not absolute", s.PasswordFile), at("passwordFile")...)
			} else if err := checkMode(s.PasswordFile); err != nil {
				add(err.Error(), at("passwordFile")...)
			}
		}
		if keys[1] == "volumes" {
			// One share mapped for two volumes: both would write the same files.
			id := driver + "\x00" + fmt.Sprint(s.Options)
			if prev, ok := shares[id]; ok {
				add(fmt.Sprintf("the same share as %s: two volumes would write the same files; give each volume its own device", prev), keys...)
			}
			shares[id] = key
		}
	}
	for _, class := range slices.Sorted(maps.Keys(c.Storage.Classes)) {
		if !slices.Contains(knownClasses, class) {
			add(fmt.Sprintf("unknown volume class %q: use one of %s", class, strings.Join(knownClasses, ", ")), "storage", "classes", class)
			continue
		}
		s := c.Storage.Classes[class]
		if s.HostPath == "" && (s.Driver == "" || s.Driver == "local") && len(s.Options) > 0 {
			add("the local driver's options name one device, which every volume of the class would share: map a class to a hostPath, and a share to one INSTANCE/VOLUME under storage.volumes", "storage", "classes", class)
			continue
		}
		check(s, "storage", "classes", class)
	}
	for _, key := range slices.Sorted(maps.Keys(c.Storage.Volumes)) {
		inst, vol, ok := strings.Cut(key, "/")
		if !ok || ValidName(inst) != nil || vol == "" || strings.Contains(vol, "/") {
			add(fmt.Sprintf("key %q is not INSTANCE/VOLUME (an instance name and the volume's name in its entry)", key), "storage", "volumes", key)
			continue
		}
		check(c.Storage.Volumes[key], "storage", "volumes", key)
	}
	return errs
}
