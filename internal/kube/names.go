package kube

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/instance/label"
)

// Label keys on every object.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelVersion   = "app.kubernetes.io/version"
	LabelComponent = "app.kubernetes.io/component"
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelManagedBy = "app.kubernetes.io/managed-by"
)

// dnsLabel turns a compose name into a DNS-1123 label: lower case, '_' and
// '.' become '-', at most 63 characters.
func dnsLabel(s string) string {
	s = strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(s))
	s = strings.Trim(s, "-")
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	return s
}

// objName is the name of an object of the instance: INSTANCE-PART.
func (c *converter) objName(parts ...string) string {
	return dnsLabel(c.o.Instance + "-" + strings.Join(parts, "-"))
}

// instanceLabels are on every object of the instance.
func (c *converter) instanceLabels() map[string]string {
	l := map[string]string{
		LabelInstance:  c.o.Instance,
		LabelPartOf:    c.o.Entry,
		LabelManagedBy: "dockerbank",
		label.Instance: c.o.Instance,
		label.Entry:    c.o.Entry,
	}
	if validLabelValue(c.o.Version) {
		l[LabelVersion] = c.o.Version
		l[label.Version] = c.o.Version
	}
	return l
}

// selector selects the pods of one service.
func (c *converter) selector(service string) map[string]string {
	return map[string]string{LabelInstance: c.o.Instance, LabelName: dnsLabel(service)}
}

// serviceLabels are on a service's workload and pods.
func (c *converter) serviceLabels(service string) map[string]string {
	l := c.instanceLabels()
	role := c.m.Services[service].Role
	l[LabelName] = dnsLabel(service)
	l[label.Service] = dnsLabel(service)
	if role != "" {
		l[LabelComponent] = role
		l[label.Role] = role
	} else {
		l[LabelComponent] = dnsLabel(service)
	}
	return l
}

func validLabelValue(v string) bool {
	return len(validation.IsValidLabelValue(v)) == 0
}

func validLabelKey(k string) bool {
	return len(validation.IsQualifiedName(k)) == 0
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// volumeLabels are on the claim of a compose volume.
func (c *converter) volumeLabels(volume string) map[string]string {
	l := c.instanceLabels()
	meta := c.m.Volumes[volume]
	l[label.Volume] = dnsLabel(volume)
	l[LabelComponent] = "storage"
	if meta.Class != "" {
		l[label.Class] = meta.Class
	}
	if meta.Backup != "" {
		l[label.Backup] = meta.Backup
	}
	for k, v := range c.p.Volumes[volume].Labels {
		if validLabelKey(k) && validLabelValue(v) && !strings.HasPrefix(k, "com.docker.compose.") {
			l[k] = v
		}
	}
	return l
}

// isDatabase says whether a service is a database of the entry.
func (c *converter) isDatabase(service string) bool {
	return c.m.Services[service].Role == bank.RoleDatabase
}
