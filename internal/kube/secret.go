package kube

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/dockerbank/dockerbank/internal/instance/label"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// secretName is the Secret that holds a compose secret.
func (c *converter) secretName(name string) string {
	if s, ok := c.p.Secrets[name]; ok && bool(s.External) {
		if s.Name != "" {
			return dnsLabel(s.Name)
		}
		return dnsLabel(name)
	}
	return c.objName(name)
}

func (c *converter) configName(name string) string {
	if s, ok := c.p.Configs[name]; ok && bool(s.External) {
		if s.Name != "" {
			return dnsLabel(s.Name)
		}
		return dnsLabel(name)
	}
	return c.objName("config", name)
}

// secrets emits the Secrets of the compose secrets, with values only under
// SecretsInclude, and notes how to create them otherwise.
func (c *converter) secrets() {
	var missing []string
	for _, name := range slices.Sorted(maps.Keys(c.p.Secrets)) {
		s := c.p.Secrets[name]
		if bool(s.External) {
			c.notes = append(c.notes, fmt.Sprintf("secret %s is external: create Secret %s with key %s in namespace %s", name, c.secretName(name), secretKey(name), c.o.Namespace))
			continue
		}
		sname := c.secretName(name)
		how := fmt.Sprintf("kubectl -n %s create secret generic %s --from-file=%s=FILE", c.o.Namespace, sname, secretKey(name))
		if meta, ok := c.m.Secrets[name]; ok {
			how = fmt.Sprintf("kubectl -n %s create secret generic %s --from-literal=%s=\"$(head -c 48 /dev/urandom | base64 | tr -dc A-Za-z0-9 | head -c %d)\"",
				c.o.Namespace, sname, secretKey(name), meta.Length)
		}
		labels := merge(c.instanceLabels(), map[string]string{label.Secret: dnsLabel(name)})
		for k, v := range s.Labels {
			if validLabelKey(k) && validLabelValue(v) {
				labels[k] = v
			}
		}
		sec := &corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: c.meta(sname, labels),
			Type:       corev1.SecretTypeOpaque,
		}
		switch c.o.Secrets {
		case SecretsExisting:
			c.notes = append(c.notes, fmt.Sprintf("secret %s is not exported (pass --include-secrets to export the site's value); create it from the site's file before applying:\n    %s",
				name, fmt.Sprintf("kubectl -n %s create secret generic %s --from-file=%s=SITE/instances/%s/secrets/%s", c.o.Namespace, sname, secretKey(name), c.o.Instance, name)))
			continue
		case SecretsInclude:
			v, ok := c.o.SecretValues[name]
			if !ok {
				missing = append(missing, name)
				continue
			}
			sec.Data = map[string][]byte{secretKey(name): []byte(v)}
		default:
			sec.Annotations = map[string]string{label.FillIn: how}
			c.notes = append(c.notes, fmt.Sprintf("secret %s is exported empty: fill it before the workloads can start, e.g.\n    %s --dry-run=client -o yaml | kubectl apply -f -", name, how))
		}
		c.add(10, "", sec, "secret", sname)
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		c.refuse("secrets", "environment", "no value for secret(s) %v in the site", missing)
	}
}

// configs emits a ConfigMap for each compose config.
func (c *converter) configs() {
	for _, name := range slices.Sorted(maps.Keys(c.p.Configs)) {
		cf := c.p.Configs[name]
		if bool(cf.External) {
			continue
		}
		var data string
		switch {
		case cf.Content != "":
			data = cf.Content
		case cf.Environment != "":
			data = c.p.Environment[cf.Environment]
		case cf.File != "":
			b, err := c.o.ReadFile(cf.File)
			if err != nil {
				c.refuse("configs "+name, "file", "read %s: %v", cf.File, err)
				continue
			}
			data = string(b)
		}
		cname := c.configName(name)
		labels := c.instanceLabels()
		for k, v := range cf.Labels {
			if validLabelKey(k) && validLabelValue(v) {
				labels[k] = v
			}
		}
		cm := &corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: c.meta(cname, labels),
			Data:       map[string]string{configKey(name): data},
		}
		c.add(20, "", cm, "configmap", cname)
	}
}
