// Package deploy_test checks what deploy/ ships, since no container engine
// or cluster runs here: every Kubernetes manifest decodes strictly into the
// Kubernetes API types (an unknown or misspelt field is an error) and holds
// together (selectors, ports, volumes, roles); the pipeline configs pass
// syncline's own config validation; the Prometheus rules load in promtool
// and fire at the thresholds they claim; and every metric the rules and the
// Grafana dashboard use is one syncline exports.
package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8syaml "sigs.k8s.io/yaml"

	"syncline/internal/config"
	"syncline/internal/metrics"
)

// object is one decoded manifest document.
type object struct {
	file string
	obj  any
	name string
}

var docSplit = regexp.MustCompile(`(?m)^---[ \t]*$`)

func loadManifests(t *testing.T) []object {
	t.Helper()
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/k8s: %v", err)
	}
	var out []object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range docSplit.Split(string(data), -1) {
			var tm metav1.TypeMeta
			if err := k8syaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s document %d: %v", f, i+1, err)
			}
			if tm.Kind == "" && strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			var obj any
			switch tm.APIVersion + "/" + tm.Kind {
			case "v1/Namespace":
				obj = &corev1.Namespace{}
			case "v1/ConfigMap":
				obj = &corev1.ConfigMap{}
			case "v1/Secret":
				obj = &corev1.Secret{}
			case "v1/Service":
				obj = &corev1.Service{}
			case "apps/v1/Deployment":
				obj = &appsv1.Deployment{}
			case "apps/v1/StatefulSet":
				obj = &appsv1.StatefulSet{}
			case "policy/v1/PodDisruptionBudget":
				obj = &policyv1.PodDisruptionBudget{}
			case "monitoring.coreos.com/v1/ServiceMonitor":
				obj = &monitoringv1.ServiceMonitor{}
			default:
				t.Fatalf("%s document %d: unexpected %s %s", f, i+1, tm.APIVersion, tm.Kind)
			}
			if err := k8syaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s document %d (%s): %v", f, i+1, tm.Kind, err)
			}
			m := reflect.ValueOf(obj).Elem().FieldByName("ObjectMeta").Interface().(metav1.ObjectMeta)
			if m.Name == "" || (tm.Kind != "Namespace" && m.Namespace != "syncline") {
				t.Errorf("%s document %d (%s): name %q namespace %q; want a name in namespace syncline", f, i+1, tm.Kind, m.Name, m.Namespace)
			}
			out = append(out, object{file: f, obj: obj, name: tm.Kind + "/" + m.Name})
		}
	}
	return out
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// workload is a Deployment or StatefulSet's pod template.
type workload struct {
	name     string
	selector map[string]string
	pod      corev1.PodTemplateSpec
}

func selects(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestKubernetesManifestsAreValidAndConsistent(t *testing.T) {
	objs := loadManifests(t)
	var workloads []workload
	var services []*corev1.Service
	var secrets []*corev1.Secret
	var configMaps []*corev1.ConfigMap
	roles := map[string]string{} // role -> workload
	for _, o := range objs {
		switch x := o.obj.(type) {
		case *appsv1.Deployment:
			workloads = append(workloads, workload{o.name, x.Spec.Selector.MatchLabels, x.Spec.Template})
			if role := roleOf(t, o.name, x.Spec.Template.Spec); role == "capture" {
				roles[role] = o.name
				// One replication stream per slot: never two captures.
				if x.Spec.Replicas == nil || *x.Spec.Replicas != 1 || x.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
					t.Errorf("%s: capture must run one replica with the Recreate strategy", o.name)
				}
				if !slices.Contains(x.Spec.Template.Spec.Containers[0].Args, "--instance-id") {
					t.Errorf("%s: capture needs a fixed --instance-id (a stable transactional id fences its predecessor)", o.name)
				}
			} else if role != "" {
				roles[role] = o.name
			}
		case *appsv1.StatefulSet:
			workloads = append(workloads, workload{o.name, x.Spec.Selector.MatchLabels, x.Spec.Template})
			role := roleOf(t, o.name, x.Spec.Template.Spec)
			roles[role] = o.name
			if role == "transform" {
				claims := map[string]bool{}
				for _, c := range x.Spec.VolumeClaimTemplates {
					claims[c.Name] = true
				}
				if !claims["data"] {
					t.Errorf("%s: the transform workers need a volume claim template for their state (data)", o.name)
				}
			}
			found := false
			for _, o2 := range objs {
				if s, ok := o2.obj.(*corev1.Service); ok && s.Name == x.Spec.ServiceName && s.Spec.ClusterIP == corev1.ClusterIPNone {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: serviceName %q is not a headless Service of the manifests", o.name, x.Spec.ServiceName)
			}
		case *corev1.Service:
			services = append(services, x)
		case *corev1.Secret:
			secrets = append(secrets, x)
		case *corev1.ConfigMap:
			configMaps = append(configMaps, x)
		}
	}
	for _, role := range []string{"capture", "transform", "sink"} {
		if roles[role] == "" {
			t.Errorf("no workload runs --role %s", role)
		}
	}
	for _, w := range workloads {
		if !selects(w.selector, w.pod.Labels) {
			t.Errorf("%s: selector %v does not match its pod labels %v", w.name, w.selector, w.pod.Labels)
		}
		checkPod(t, w.name, w.pod.Spec, configMaps, secrets)
	}
	for _, s := range services {
		var matched []workload
		for _, w := range workloads {
			if selects(s.Spec.Selector, w.pod.Labels) {
				matched = append(matched, w)
			}
		}
		if len(matched) == 0 {
			t.Errorf("Service %s: selector %v matches no workload", s.Name, s.Spec.Selector)
		}
		for _, p := range s.Spec.Ports {
			for _, w := range matched {
				if !hasPort(w.pod.Spec, p.TargetPort.String()) {
					t.Errorf("Service %s port %s: target %s is not a container port of %s", s.Name, p.Name, p.TargetPort.String(), w.name)
				}
			}
		}
	}
	for _, o := range objs {
		switch x := o.obj.(type) {
		case *policyv1.PodDisruptionBudget:
			n := 0
			for _, w := range workloads {
				if selects(x.Spec.Selector.MatchLabels, w.pod.Labels) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s: selects %d workloads, want 1", o.name, n)
			}
		case *monitoringv1.ServiceMonitor:
			scraped := 0
			for _, s := range services {
				if selects(x.Spec.Selector.MatchLabels, s.Labels) {
					for _, e := range x.Spec.Endpoints {
						if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == e.Port }) {
							t.Errorf("%s: Service %s has no port %q", o.name, s.Name, e.Port)
						}
					}
					scraped++
				}
			}
			if scraped < 3 {
				t.Errorf("%s: scrapes %d Services, want every syncline role's", o.name, scraped)
			}
		}
	}
}

// roleOf returns the --role of a syncline container, "" for other images.
func roleOf(t *testing.T, name string, spec corev1.PodSpec) string {
	for _, c := range spec.Containers {
		if c.Name != "syncline" {
			continue
		}
		i := slices.Index(c.Args, "--role")
		if len(c.Args) < 1 || c.Args[0] != "run" || i < 0 || i+1 >= len(c.Args) {
			t.Errorf("%s: syncline container args %v lack run ... --role R", name, c.Args)
			return ""
		}
		role := c.Args[i+1]
		if !slices.Contains([]string{"capture", "transform", "sink"}, role) {
			t.Errorf("%s: unknown role %q", name, role)
		}
		return role
	}
	return ""
}

func hasPort(spec corev1.PodSpec, port string) bool {
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			if p.Name == port || fmt.Sprint(p.ContainerPort) == port {
				return true
			}
		}
	}
	return false
}

// checkPod: non-root, probes, resources, and every volume and mount
// resolves (config maps and secrets of the manifests; the syncline config
// file and the secret files it names are mounted).
func checkPod(t *testing.T, name string, spec corev1.PodSpec, cms []*corev1.ConfigMap, secrets []*corev1.Secret) {
	if sc := spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("%s: pod does not set runAsNonRoot", name)
	}
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
		if v.ConfigMap != nil && !slices.ContainsFunc(cms, func(c *corev1.ConfigMap) bool { return c.Name == v.ConfigMap.Name }) {
			t.Errorf("%s: volume %s: no ConfigMap %s in the manifests", name, v.Name, v.ConfigMap.Name)
		}
		if v.Secret != nil && !slices.ContainsFunc(secrets, func(s *corev1.Secret) bool { return s.Name == v.Secret.SecretName }) {
			t.Errorf("%s: volume %s: no Secret %s in the manifests", name, v.Name, v.Secret.SecretName)
		}
	}
	for _, c := range spec.Containers {
		if c.ReadinessProbe == nil || c.Resources.Requests == nil || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s container %s: needs a readiness probe, resource requests and a memory limit", name, c.Name)
		}
		if c.SecurityContext == nil || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
			t.Errorf("%s container %s: allowPrivilegeEscalation must be false", name, c.Name)
		}
		mounts := map[string]bool{}
		for _, m := range c.VolumeMounts {
			mounts[m.MountPath] = true
			if _, ok := vols[m.Name]; !ok && !strings.HasPrefix(name, "StatefulSet/") {
				t.Errorf("%s container %s: mount %s names no volume %s", name, c.Name, m.MountPath, m.Name)
			}
		}
		if c.Name == "syncline" {
			for _, p := range []string{"/etc/syncline/pipeline.yaml", "/etc/syncline/secrets", "/var/lib/syncline"} {
				if !mounts[p] {
					t.Errorf("%s: syncline container does not mount %s", name, p)
				}
			}
		}
	}
}

// The ConfigMap's pipeline.yaml passes syncline's validation with the
// Secret's values as the files it reads, and every secret it names by
// file is a key of the Secret.
func TestKubernetesPipelineConfigIsValid(t *testing.T) {
	objs := loadManifests(t)
	var pipeline string
	var secret *corev1.Secret
	for _, o := range objs {
		switch x := o.obj.(type) {
		case *corev1.ConfigMap:
			pipeline = x.Data["pipeline.yaml"]
		case *corev1.Secret:
			secret = x
		}
	}
	if pipeline == "" || secret == nil {
		t.Fatal("want a ConfigMap with pipeline.yaml and a Secret")
	}
	dir := t.TempDir()
	for k, v := range secret.StringData {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range regexp.MustCompile(`\$\{file:/etc/syncline/secrets/([^}]+)\}`).FindAllStringSubmatch(pipeline, -1) {
		if _, ok := secret.StringData[m[1]]; !ok {
			t.Errorf("pipeline.yaml reads secret file %s, which the Secret does not hold (keys %v)", m[1], slices.Sorted(maps.Keys(secret.StringData)))
		}
	}
	text := strings.ReplaceAll(pipeline, "/etc/syncline/secrets/", dir+"/")
	if _, err := config.Parse([]byte(text), "/etc/syncline/pipeline.yaml"); err != nil {
		t.Errorf("deploy/k8s ConfigMap pipeline.yaml: %v", err)
	}
}

func TestComposeFileAndPipeline(t *testing.T) {
	t.Setenv("APP_DSN", "postgres://syncline:syncline@postgres:5432/app?sslmode=disable")
	t.Setenv("WAREHOUSE_DSN", "postgres://syncline:syncline@postgres:5432/warehouse?sslmode=disable")
	data, err := os.ReadFile("compose/pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(data, "/etc/syncline/pipeline.yaml")
	if err != nil {
		t.Fatalf("deploy/compose/pipeline.yaml: %v", err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
	}
	raw, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	roles := map[string]int{}
	for name, s := range compose.Services {
		if s.Image != "syncline:dev" {
			continue
		}
		i := slices.Index(s.Command, "--role")
		if i < 0 || i+1 >= len(s.Command) {
			t.Errorf("compose service %s: no --role in %v", name, s.Command)
			continue
		}
		roles[s.Command[i+1]]++
		for _, env := range []string{"APP_DSN", "WAREHOUSE_DSN"} {
			if s.Environment[env] == "" {
				t.Errorf("compose service %s: %s is not set", name, env)
			}
		}
		if !slices.Contains(s.Volumes, "./compose/pipeline.yaml:/etc/syncline/pipeline.yaml:ro") {
			t.Errorf("compose service %s does not mount the pipeline", name)
		}
	}
	if roles["capture"] != 1 || roles["transform"] < 2 || roles["sink"] < 1 {
		t.Errorf("compose roles %v: want one capture, at least two transform workers, a sink", roles)
	}
	for _, svc := range []string{"kafka", "postgres", "schema-registry", "prometheus", "grafana"} {
		if _, ok := compose.Services[svc]; !ok {
			t.Errorf("compose has no %s service", svc)
		}
	}
	for _, b := range cfg.Kafka.Brokers {
		host, _, _ := strings.Cut(b, ":")
		if _, ok := compose.Services[host]; !ok {
			t.Errorf("pipeline broker %s is not a compose service", b)
		}
	}
}

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: `make test` installs it (Debian's prometheus package, scripts/install-deps.sh)")
	}
	return p
}

func TestAlertRulesLoadAndFireAtTheirThresholds(t *testing.T) {
	p := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", "prometheus/alerts.yaml"},
		{"test", "rules", "prometheus/alerts_test.yaml"},
	} {
		out, err := exec.Command(p, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// exported returns the metric names syncline registers (histograms with
// their _bucket, _sum and _count series).
func exported(t *testing.T) map[string]bool {
	m := metrics.New(prometheus.NewRegistry())
	names := map[string]bool{}
	v := reflect.ValueOf(m).Elem()
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	for i := range v.NumField() {
		c, ok := v.Field(i).Interface().(prometheus.Collector)
		if !ok {
			continue
		}
		ch := make(chan *prometheus.Desc, 16)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			n := fq.FindStringSubmatch(d.String())
			if n == nil {
				t.Fatalf("cannot read the name of %s", d)
			}
			names[n[1]] = true
			if _, isHist := c.(*prometheus.HistogramVec); isHist {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					names[n[1]+s] = true
				}
			}
		}
	}
	if len(names) < 10 {
		t.Fatalf("read %d metric names from internal/metrics", len(names))
	}
	return names
}

var metricName = regexp.MustCompile(`\bsyncline_[a-z0-9_]+`)

func TestRulesAndDashboardUseExportedMetrics(t *testing.T) {
	names := exported(t)
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	raw, err := os.ReadFile("prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	exprs := map[string]string{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs["alert "+r.Alert] = r.Expr
		}
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	raw, err = os.ReadFile("grafana/syncline.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&dash); err != nil {
		t.Fatalf("grafana/syncline.json: %v", err)
	}
	for _, p := range dash.Panels {
		for i, tg := range p.Targets {
			exprs[fmt.Sprintf("panel %q query %d", p.Title, i+1)] = tg.Expr
		}
	}
	if len(exprs) < 10 {
		t.Fatalf("found %d expressions", len(exprs))
	}
	used := map[string]bool{}
	for where, e := range exprs {
		found := metricName.FindAllString(e, -1)
		if len(found) == 0 && !strings.Contains(e, "up{") {
			t.Errorf("%s uses no syncline metric: %s", where, e)
		}
		for _, n := range found {
			if !names[n] {
				t.Errorf("%s uses %s, which syncline does not export", where, n)
			}
			used[strings.TrimSuffix(n, "_bucket")] = true
		}
	}
	// The dashboard and rules cover every metric, and the README's metrics
	// table lists every one.
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for n := range names {
		if strings.HasSuffix(n, "_bucket") || strings.HasSuffix(n, "_sum") || strings.HasSuffix(n, "_count") {
			continue
		}
		if !used[n] {
			t.Errorf("no panel or rule shows %s", n)
		}
		if !bytes.Contains(readme, []byte("`"+n)) {
			t.Errorf("README does not document %s", n)
		}
	}
}
