package kube

import (
	"fmt"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// HelmValues are the values of the chart: what a cluster operator changes.
type HelmValues struct {
	// Namespace overrides the release namespace.
	Namespace string `json:"namespace"`
	// ToolImage waits for dependencies and archives file volumes.
	ToolImage string `json:"toolImage"`
	// Services holds image, replicas and resources per compose service.
	Services map[string]HelmService `json:"services"`
	Storage  HelmStorage            `json:"storage"`
	Backup   HelmBackup             `json:"backup"`
}

// HelmService is the values of one service.
type HelmService struct {
	Image     string                      `json:"image"`
	Replicas  int32                       `json:"replicas"`
	Resources corev1.ResourceRequirements `json:"resources"`
}

// HelmStorage is the size and class of every claim.
type HelmStorage struct {
	Size         string `json:"size"`
	StorageClass string `json:"storageClass"`
}

// HelmBackup is the schedule of the backup jobs.
type HelmBackup struct {
	Schedule string `json:"schedule"`
}

// helmSub replaces one field of a generic object with a template.
type helmSub struct {
	token string
	expr  string
	block bool // a mapping: rendered with toYaml | nindent
}

type helmDoc struct {
	subs []helmSub
}

func (d *helmDoc) set(m map[string]any, key, expr string, block bool) {
	tok := fmt.Sprintf("HELMTOKEN%dX", len(d.subs))
	m[key] = tok
	d.subs = append(d.subs, helmSub{token: tok, expr: expr, block: block})
}

func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func svcValue(service, field string) string {
	return fmt.Sprintf("(index .Values.services %q).%s", service, field)
}

// Helm renders the manifests as a Helm chart: Chart.yaml, values.yaml with
// images, replicas, resources, namespace, storage and backup schedule, and
// one template per object using those values.
func (man *Manifests) Helm() ([]File, error) {
	o := man.Options
	values := HelmValues{ToolImage: o.ToolImage, Services: map[string]HelmService{},
		Storage: HelmStorage{Size: o.VolumeSize}, Backup: HelmBackup{Schedule: o.BackupSchedule}}
	chartVersion := "0.1.0"
	if regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(o.Version) {
		chartVersion = o.Version
	} else if regexp.MustCompile(`^\d+\.\d+$`).MatchString(o.Version) {
		chartVersion = o.Version + ".0"
	}
	chart := fmt.Sprintf(`apiVersion: v2
name: %s
description: %s (%s %s) exported by dockerbank
type: application
version: %s
appVersion: %q
`, dnsLabel(o.Instance), o.Instance, o.Entry, o.Version, chartVersion, o.Version)
	files := []File{{Path: "Chart.yaml", Data: []byte(chart)}}
	h := fmt.Sprintf(header, o.Instance, o.Entry, o.Version)
	imageOf := map[string]string{} // image -> service, for the backup jobs
	for _, ob := range man.Objects {
		m, err := generic(ob.Object)
		if err != nil {
			return nil, err
		}
		kind, _ := m["kind"].(string)
		if kind == "Namespace" {
			continue
		}
		d := &helmDoc{}
		if md := asMap(m["metadata"]); md != nil {
			d.set(md, "namespace", ".Values.namespace | default .Release.Namespace | quote", false)
		}
		switch kind {
		case "Deployment", "StatefulSet":
			spec := asMap(m["spec"])
			ctr := asMap(dig(spec, "template", "spec", "containers", 0))
			sv := HelmService{Image: ctr["image"].(string), Replicas: 1}
			if r, ok := spec["replicas"].(float64); ok {
				sv.Replicas = int32(r)
			}
			sv.Resources = resourcesOf(ob)
			values.Services[ob.Service] = sv
			imageOf[sv.Image] = ob.Service
			d.set(spec, "replicas", svcValue(ob.Service, "replicas"), false)
			d.set(ctr, "image", svcValue(ob.Service, "image")+" | quote", false)
			d.set(ctr, "resources", svcValue(ob.Service, "resources"), true)
			for _, ic := range asSlice(dig(spec, "template", "spec", "initContainers")) {
				d.set(asMap(ic), "image", ".Values.toolImage | quote", false)
			}
			for _, vct := range asSlice(spec["volumeClaimTemplates"]) {
				d.claim(asMap(dig(vct, "spec")))
			}
		case "PersistentVolumeClaim":
			d.claim(asMap(m["spec"]))
		case "CronJob":
			spec := asMap(m["spec"])
			d.set(spec, "schedule", ".Values.backup.schedule | quote", false)
			for _, ic := range asSlice(dig(spec, "jobTemplate", "spec", "template", "spec", "initContainers")) {
				d.set(asMap(ic), "image", ".Values.toolImage | quote", false)
			}
			ctr := asMap(dig(spec, "jobTemplate", "spec", "template", "spec", "containers", 0))
			if img, _ := ctr["image"].(string); img == o.ToolImage {
				d.set(ctr, "image", ".Values.toolImage | quote", false)
			} else if svc, ok := imageOf[img]; ok {
				d.set(ctr, "image", svcValue(svc, "image")+" | quote", false)
			}
		}
		data, err := yaml.Marshal(m)
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: "templates/" + ob.File, Data: append([]byte(h), d.apply(string(data))...)})
	}
	vdata, err := yaml.Marshal(values)
	if err != nil {
		return nil, err
	}
	files = append(files, File{Path: "values.yaml", Data: append([]byte("# Values of the chart exported by dockerbank; the defaults reproduce the plain manifests.\n"), vdata...)})
	files = append(files, File{Path: "templates/NOTES.txt", Data: man.readme("helm install " + dnsLabel(o.Instance) + " . -n " + o.Namespace + " --create-namespace")})
	return files, nil
}

func resourcesOf(ob Object) corev1.ResourceRequirements {
	switch w := ob.Object.(type) {
	case *appsv1.Deployment:
		return w.Spec.Template.Spec.Containers[0].Resources
	case *appsv1.StatefulSet:
		return w.Spec.Template.Spec.Containers[0].Resources
	}
	return corev1.ResourceRequirements{}
}

// claim templates the size and class of a claim spec.
func (d *helmDoc) claim(spec map[string]any) {
	if req := asMap(dig(spec, "resources", "requests")); req != nil {
		d.set(req, "storage", ".Values.storage.size | quote", false)
	}
	d.set(spec, "storageClassName", ".Values.storage.storageClass", false)
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// apply replaces the tokens of a marshalled document with templates.
func (d *helmDoc) apply(doc string) string {
	lines := strings.Split(doc, "\n")
	for i, line := range lines {
		for _, s := range d.subs {
			if !strings.Contains(line, s.token) {
				continue
			}
			key, _, _ := strings.Cut(line, ":")
			indent := len(key) - len(strings.TrimLeft(key, " -"))
			switch {
			case s.block:
				lines[i] = key + ": {{- toYaml " + s.expr + " | nindent " + fmt.Sprint(indent+2) + " }}"
			case strings.HasSuffix(key, "storageClassName"):
				lines[i] = strings.Repeat(" ", indent) + "{{- with " + s.expr + " }}\n" + key + ": {{ . | quote }}\n" + strings.Repeat(" ", indent) + "{{- end }}"
			default:
				lines[i] = key + ": {{ " + s.expr + " }}"
			}
		}
	}
	return strings.Join(lines, "\n")
}
