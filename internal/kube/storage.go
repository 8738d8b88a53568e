package kube

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/instance/label"
)

type volumeKind int

const (
	volEmptyDir volumeKind = iota // class temp or cache
	volTemplate                   // volumeClaimTemplate of its database's StatefulSet
	volClaim                      // a PersistentVolumeClaim of the instance
	volExisting                   // external: an existing claim
)

type volumePlan struct {
	kind  volumeKind
	claim string // claim name (volClaim, volExisting); template name (volTemplate)
	owner string // the StatefulSet's service (volTemplate)
}

// plan decides what each named volume becomes.
func (c *converter) plan(volume string) volumePlan {
	v := c.p.Volumes[volume]
	meta := c.m.Volumes[volume]
	switch {
	case bool(v.External):
		name := v.Name
		if name == "" {
			name = volume
		}
		return volumePlan{kind: volExisting, claim: dnsLabel(name)}
	case meta.Class == bank.ClassTemp || meta.Class == bank.ClassCache:
		return volumePlan{kind: volEmptyDir}
	}
	if len(meta.Mounts) == 1 {
		for svc := range meta.Mounts {
			if c.isDatabase(svc) {
				return volumePlan{kind: volTemplate, claim: dnsLabel(volume), owner: svc}
			}
		}
	}
	return volumePlan{kind: volClaim, claim: c.objName(volume)}
}

// claimName is the name of the claim that holds a volume's data in the
// cluster (for a template: the claim of pod 0).
func (c *converter) claimName(volume string) string {
	pl := c.plan(volume)
	if pl.kind == volTemplate {
		return pl.claim + "-" + c.objName(pl.owner) + "-0"
	}
	return pl.claim
}

func (c *converter) claimSpec() corev1.PersistentVolumeClaimSpec {
	return corev1.PersistentVolumeClaimSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources: corev1.VolumeResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(c.o.VolumeSize)},
		},
	}
}

// claims emits a PersistentVolumeClaim for each volume that needs one.
func (c *converter) claims() {
	for _, name := range slices.Sorted(maps.Keys(c.p.Volumes)) {
		pl := c.plan(name)
		if pl.kind != volClaim {
			continue
		}
		pvc := &corev1.PersistentVolumeClaim{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
			ObjectMeta: c.meta(pl.claim, c.volumeLabels(name)),
			Spec:       c.claimSpec(),
		}
		pvc.Annotations = map[string]string{label.ComposeVolume: name}
		c.add(30, "", pvc, "persistentvolumeclaim", pl.claim)
	}
}

func (c *converter) meta(name string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: c.o.Namespace, Labels: labels}
}
