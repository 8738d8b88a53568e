package kube

import (
	"fmt"
	"maps"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/instance/label"
)

// dumpScripts run in the database's own image, with its environment and
// secrets, against its headless Service. $HOST, $OUT and $KEEP are set.
var dumpScripts = map[string]struct{ ext, script string }{
	bank.BackupPostgresDump: {"dump", `PGPASSWORD="${POSTGRES_PASSWORD:-}"
if [ -z "$PGPASSWORD" ] && [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then PGPASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")"; fi
export PGPASSWORD
user="${POSTGRES_USER:-postgres}"
pg_dump -h "$HOST" -U "$user" -d "${POSTGRES_DB:-$user}" -Fc -f "$OUT.partial"`},
	bank.BackupMySQLDump: {"sql", `pw="${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}"
f="${MARIADB_ROOT_PASSWORD_FILE:-${MYSQL_ROOT_PASSWORD_FILE:-}}"
if [ -z "$pw" ] && [ -n "$f" ]; then pw="$(cat "$f")"; fi
dump="$(command -v mariadb-dump || command -v mysqldump)"
MYSQL_PWD="$pw" "$dump" -h "$HOST" -u root --all-databases --single-transaction --routines --events > "$OUT.partial"`},
	bank.BackupMongoDump: {"archive", `u="${MONGO_INITDB_ROOT_USERNAME:-}"
p="${MONGO_INITDB_ROOT_PASSWORD:-}"
if [ -z "$p" ] && [ -n "${MONGO_INITDB_ROOT_PASSWORD_FILE:-}" ]; then p="$(cat "$MONGO_INITDB_ROOT_PASSWORD_FILE")"; fi
mongodump --host "$HOST" ${u:+--username "$u" --password "$p" --authenticationDatabase admin} --gzip --archive="$OUT.partial"`},
	bank.BackupFiles: {"tar.gz", `tar -czf "$OUT.partial" -C /data .`},
}

// rotate keeps the newest $KEEP files of the volume's backup directory.
const rotate = `
mv "$OUT.partial" "$OUT"
ls -1t "$DIR"/*.* | grep -v '\.partial$' | tail -n +$((KEEP + 1)) | xargs -r rm -f --
echo "backup written: $OUT"`

// backups emits a backup claim and, per userdata volume with a backup
// method, a CronJob that dumps the database or archives the files to it.
func (c *converter) backups() {
	var jobs []string
	for _, v := range slices.Sorted(maps.Keys(c.m.Volumes)) {
		meta := c.m.Volumes[v]
		if meta.Class == bank.ClassUserdata && meta.Backup != "" && meta.Backup != bank.BackupNone {
			jobs = append(jobs, v)
		}
	}
	if len(jobs) == 0 {
		return
	}
	claim := c.objName("backup")
	pvc := &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: c.meta(claim, merge(c.instanceLabels(), map[string]string{LabelComponent: "backup", label.Class: "backup"})),
		Spec:       c.claimSpec(),
	}
	c.add(30, "", pvc, "persistentvolumeclaim", claim)
	for _, v := range jobs {
		c.backupJob(v, c.m.Volumes[v], claim)
	}
}

func (c *converter) backupJob(volume string, meta bank.VolumeMeta, claim string) {
	method, ok := dumpScripts[meta.Backup]
	if !ok {
		c.refuse("volumes "+volume, "x-dockerbank.backup", "backup method %s has no job", meta.Backup)
		return
	}
	dir := "/backup/" + dnsLabel(volume)
	env := []corev1.EnvVar{
		{Name: "DIR", Value: dir},
		{Name: "KEEP", Value: fmt.Sprint(c.o.BackupKeep)},
	}
	script := "set -eu\nOUT=\"$DIR/$(date -u +%Y%m%dT%H%M%SZ)." + method.ext + "\"\n" + method.script + rotate
	var ctr corev1.Container
	var volumes []corev1.Volume
	var labels map[string]string
	var affinity *corev1.Affinity
	if meta.Backup == bank.BackupFiles {
		var owner string
		for _, svc := range slices.Sorted(maps.Keys(meta.Mounts)) {
			owner = svc
			break
		}
		ctr = c.toolContainer("backup", []string{"sh", "-c", script})
		// Root with only DAC_READ_SEARCH reads every file of the volume.
		ctr.SecurityContext.RunAsUser, ctr.SecurityContext.RunAsNonRoot = nil, nil
		ctr.SecurityContext.Capabilities.Add = []corev1.Capability{"DAC_READ_SEARCH"}
		ctr.Env = append(ctr.Env, env...)
		ctr.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data", ReadOnly: true}}
		volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
			ClaimName: c.claimName(volume), ReadOnly: true}}}}
		if owner != "" {
			// A ReadWriteOnce claim is attached to one node: run there.
			affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: c.selector(owner)},
				TopologyKey:   "kubernetes.io/hostname",
			}}}}
		}
		labels = map[string]string{}
	} else {
		db, ok := c.m.DatabaseFor(volume)
		if !ok {
			c.refuse("volumes "+volume, "x-dockerbank.backup", "%s needs a service of role database mounting the volume", meta.Backup)
			return
		}
		s := c.p.Services[db]
		ctr = corev1.Container{Name: "backup", Image: s.Image, Command: []string{"sh", "-c", script}}
		// The database's own environment and secrets give the dump its credentials.
		dbParts := c.pods[db]
		dbc := dbParts.spec.Containers[0]
		ctr.Env = append(append([]corev1.EnvVar{{Name: "HOST", Value: dnsLabel(db)}}, env...), dbc.Env...)
		for _, m := range dbc.VolumeMounts {
			if m.Name == "files" || len(m.Name) > 7 && (m.Name[:7] == "secret-" || m.Name[:7] == "config-") {
				ctr.VolumeMounts = append(ctr.VolumeMounts, m)
			}
		}
		for _, vol := range dbParts.spec.Volumes {
			if vol.Secret != nil || vol.ConfigMap != nil {
				volumes = append(volumes, vol)
			}
		}
		ctr.SecurityContext = dbc.SecurityContext
		labels = c.networkLabels(s)
	}
	ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: "backup", MountPath: "/backup"})
	volumes = append(volumes, corev1.Volume{Name: "backup", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
	// The dump runs as the database image's user: open the directory to it.
	prepare := c.toolContainer("prepare", []string{"sh", "-c", `mkdir -p "$DIR" && chmod 1777 "$DIR"`})
	prepare.SecurityContext.RunAsUser, prepare.SecurityContext.RunAsNonRoot = ptr(int64(0)), nil
	prepare.Env = append(prepare.Env, env[0])
	prepare.VolumeMounts = []corev1.VolumeMount{{Name: "backup", MountPath: "/backup"}}
	jobLabels := merge(c.instanceLabels(), map[string]string{LabelComponent: "backup", label.Volume: dnsLabel(volume), label.Backup: meta.Backup})
	name := c.objName("backup", volume)
	cj := &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: c.meta(name, jobLabels),
		Spec: batchv1.CronJobSpec{
			Schedule:                   c.o.BackupSchedule,
			ConcurrencyPolicy:          batchv1.ForbidConcurrent,
			SuccessfulJobsHistoryLimit: ptr(int32(3)),
			FailedJobsHistoryLimit:     ptr(int32(3)),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: jobLabels},
				Spec: batchv1.JobSpec{
					BackoffLimit: ptr(int32(2)),
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: merge(jobLabels, labels)},
						Spec: corev1.PodSpec{
							RestartPolicy:                corev1.RestartPolicyOnFailure,
							EnableServiceLinks:           ptr(false),
							AutomountServiceAccountToken: ptr(false),
							SecurityContext:              &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
							InitContainers:               []corev1.Container{prepare},
							Containers:                   []corev1.Container{ctr},
							Volumes:                      volumes,
							Affinity:                     affinity,
						},
					},
				},
			},
		},
	}
	c.add(70, "", cj, "cronjob", name)
}
