package deploy_test

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The Kubernetes objects deploy/k8s/spotter.yaml uses, with only the fields
// it sets. Documents are decoded with KnownFields, so a misspelt or
// misplaced field (readinesProbe, a probe under the pod) fails here instead
// of being dropped by the API server's pruning.
type (
	k8sObject struct {
		APIVersion                   string     `yaml:"apiVersion"`
		Kind                         string     `yaml:"kind"`
		Metadata                     objectMeta `yaml:"metadata"`
		AutomountServiceAccountToken *bool      `yaml:"automountServiceAccountToken"`
		Spec                         yaml.Node  `yaml:"spec"`
	}
	objectMeta struct {
		Name        string            `yaml:"name"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	}
	labelSelector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	deploymentSpec struct {
		Replicas int           `yaml:"replicas"`
		Selector labelSelector `yaml:"selector"`
		Strategy struct {
			Type          string `yaml:"type"`
			RollingUpdate struct {
				MaxUnavailable int `yaml:"maxUnavailable"`
				MaxSurge       int `yaml:"maxSurge"`
			} `yaml:"rollingUpdate"`
		} `yaml:"strategy"`
		Template struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     podSpec    `yaml:"spec"`
		} `yaml:"template"`
	}
	podSpec struct {
		ServiceAccountName            string `yaml:"serviceAccountName"`
		AutomountServiceAccountToken  *bool  `yaml:"automountServiceAccountToken"`
		TerminationGracePeriodSeconds int    `yaml:"terminationGracePeriodSeconds"`
		SecurityContext               struct {
			RunAsNonRoot   *bool `yaml:"runAsNonRoot"`
			RunAsUser      int   `yaml:"runAsUser"`
			RunAsGroup     int   `yaml:"runAsGroup"`
			FSGroup        int   `yaml:"fsGroup"`
			SeccompProfile struct {
				Type string `yaml:"type"`
			} `yaml:"seccompProfile"`
		} `yaml:"securityContext"`
		TopologySpreadConstraints []struct {
			MaxSkew           int           `yaml:"maxSkew"`
			TopologyKey       string        `yaml:"topologyKey"`
			WhenUnsatisfiable string        `yaml:"whenUnsatisfiable"`
			LabelSelector     labelSelector `yaml:"labelSelector"`
		} `yaml:"topologySpreadConstraints"`
		Containers []container `yaml:"containers"`
		Volumes    []volume    `yaml:"volumes"`
	}
	container struct {
		Name            string   `yaml:"name"`
		Image           string   `yaml:"image"`
		ImagePullPolicy string   `yaml:"imagePullPolicy"`
		Args            []string `yaml:"args"`
		Env             []struct {
			Name      string `yaml:"name"`
			Value     string `yaml:"value"`
			ValueFrom *struct {
				SecretKeyRef *struct {
					Name string `yaml:"name"`
					Key  string `yaml:"key"`
				} `yaml:"secretKeyRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
			Protocol      string `yaml:"protocol"`
		} `yaml:"ports"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
		Resources      struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		SecurityContext struct {
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			ReadOnly  bool   `yaml:"readOnly"`
		} `yaml:"volumeMounts"`
	}
	probe struct {
		HTTPGet struct {
			Path   string `yaml:"path"`
			Port   string `yaml:"port"`
			Scheme string `yaml:"scheme"`
		} `yaml:"httpGet"`
		PeriodSeconds    int `yaml:"periodSeconds"`
		TimeoutSeconds   int `yaml:"timeoutSeconds"`
		FailureThreshold int `yaml:"failureThreshold"`
	}
	volume struct {
		Name     string `yaml:"name"`
		EmptyDir *struct {
			SizeLimit string `yaml:"sizeLimit"`
		} `yaml:"emptyDir"`
		Secret *struct {
			SecretName  string `yaml:"secretName"`
			DefaultMode int    `yaml:"defaultMode"`
			Items       []struct {
				Key  string `yaml:"key"`
				Path string `yaml:"path"`
			} `yaml:"items"`
		} `yaml:"secret"`
	}
	serviceSpec struct {
		Type     string            `yaml:"type"`
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
			Protocol   string `yaml:"protocol"`
		} `yaml:"ports"`
	}
	pdbSpec struct {
		MinAvailable int           `yaml:"minAvailable"`
		Selector     labelSelector `yaml:"selector"`
	}
)

// strict decodes node into v, refusing fields v does not name.
func strict(t *testing.T, what string, node *yaml.Node, v any) {
	t.Helper()
	var buf bytes.Buffer
	if err := yaml.NewEncoder(&buf).Encode(node); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	dec := yaml.NewDecoder(&buf)
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// readManifest decodes every document of a multi-document YAML file.
func readManifest(t *testing.T, path string) map[string]k8sObject {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	objs := map[string]k8sObject{}
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if _, dup := objs[o.Kind]; dup {
			t.Fatalf("%s: two %s documents", path, o.Kind)
		}
		objs[o.Kind] = o
	}
}

func TestKubernetesManifest(t *testing.T) {
	objs := readManifest(t, "k8s/spotter.yaml")
	app := map[string]string{"app.kubernetes.io/name": "spotter"}
	wantAPI := map[string]string{"ServiceAccount": "v1", "Deployment": "apps/v1", "Service": "v1", "PodDisruptionBudget": "policy/v1"}
	for kind, api := range wantAPI {
		o, ok := objs[kind]
		if !ok {
			t.Errorf("no %s", kind)
			continue
		}
		if o.APIVersion != api || o.Metadata.Name != "spotter" {
			t.Errorf("%s: apiVersion %q name %q; want %q spotter", kind, o.APIVersion, o.Metadata.Name, api)
		}
	}
	if len(objs) != len(wantAPI) {
		t.Errorf("%d kinds of object; want %d (a Secret with values does not belong in the repo)", len(objs), len(wantAPI))
	}
	if sa := objs["ServiceAccount"]; sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Error("the service account mounts an API token spotter never uses")
	}

	var d deploymentSpec
	spec := objs["Deployment"].Spec
	strict(t, "Deployment spec", &spec, &d)
	pod := d.Template.Spec
	if d.Replicas != 3 {
		t.Errorf("replicas = %d; want 3", d.Replicas)
	}
	if !maps.Equal(d.Selector.MatchLabels, app) || !maps.Equal(d.Template.Metadata.Labels, app) {
		t.Errorf("selector %v / pod labels %v; want %v", d.Selector.MatchLabels, d.Template.Metadata.Labels, app)
	}
	if d.Strategy.RollingUpdate.MaxUnavailable != 0 {
		t.Error("a rollout may take a replica away before its successor is ready")
	}
	sc := pod.SecurityContext
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == 0 || sc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("pod security context %+v: want non-root, a uid, RuntimeDefault seccomp", sc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the pod mounts a service account token")
	}
	if pod.TerminationGracePeriodSeconds <= 20 {
		t.Errorf("terminationGracePeriodSeconds %d; serve's shutdown grace is 20 s", pod.TerminationGracePeriodSeconds)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers; want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	csc := c.SecurityContext
	if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem || csc.AllowPrivilegeEscalation == nil ||
		*csc.AllowPrivilegeEscalation || !slices.Equal(csc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("container security context %+v: want a read-only root, no escalation, all capabilities dropped", csc)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "https" {
		t.Fatalf("ports %+v; want one named https", c.Ports)
	}
	for name, tt := range map[string]struct {
		p    *probe
		path string
	}{"readiness": {c.ReadinessProbe, "/readyz"}, "liveness": {c.LivenessProbe, "/healthz"}} {
		if tt.p == nil || tt.p.HTTPGet.Path != tt.path || tt.p.HTTPGet.Port != "https" || tt.p.HTTPGet.Scheme != "HTTPS" {
			t.Errorf("%s probe %+v; want HTTPS GET %s on https", name, tt.p, tt.path)
		}
	}
	if c.Resources.Limits["memory"] == "" {
		t.Error("no memory limit")
	}

	env := map[string]string{}
	secretEnv := map[string]string{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("env %s set twice", e.Name)
		}
		env[e.Name] = e.Value
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			secretEnv[e.Name] = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	for _, name := range []string{"VAULT_ROLE_ID", "VAULT_SECRET_ID", "SPOTTER_ADMIN_TOKEN"} {
		if secretEnv[name] == "" || env[name] != "" {
			t.Errorf("%s: want it from a Secret (secretKeyRef), never a literal", name)
		}
	}
	if _, ok := env["VAULT_TOKEN"]; ok {
		t.Error("VAULT_TOKEN is set: replicas log in with AppRole, whose tokens renew and expire")
	}
	for _, name := range []string{"VAULT_ADDR", "SPOTTER_VAULT_ADDRS", "VAULT_CACERT", "SPOTTER_PUBLIC_URL", "SPOTTER_DATA_DIR"} {
		if env[name] == "" {
			t.Errorf("env %s is not set", name)
		}
	}
	if !strings.HasPrefix(env["SPOTTER_ADDR"], "0.0.0.0:") || !strings.HasSuffix(env["SPOTTER_ADDR"], ":8443") {
		t.Errorf("SPOTTER_ADDR %q: want all interfaces on the container port 8443", env["SPOTTER_ADDR"])
	}

	// Every mount has a volume, the data dir lies on a writable one, and the
	// files the args and env name lie on mounted volumes.
	vols := map[string]volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	mounted := func(path string) (string, bool) {
		for _, m := range c.VolumeMounts {
			if strings.HasPrefix(path, m.MountPath+"/") {
				return m.Name, m.ReadOnly
			}
		}
		return "", false
	}
	for _, m := range c.VolumeMounts {
		if _, ok := vols[m.Name]; !ok {
			t.Errorf("mount %s has no volume", m.Name)
		}
	}
	if name, ro := mounted(env["SPOTTER_DATA_DIR"]); name == "" || ro || vols[name].EmptyDir == nil {
		t.Errorf("SPOTTER_DATA_DIR %s is not on a writable emptyDir (the root filesystem is read-only)", env["SPOTTER_DATA_DIR"])
	}
	files := []string{env["VAULT_CACERT"]}
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--tls-cert="); ok {
			files = append(files, v)
		}
		if v, ok := strings.CutPrefix(a, "--tls-key="); ok {
			files = append(files, v)
		}
	}
	if len(files) != 3 || c.Args[0] != "serve" {
		t.Errorf("args %v: want serve with --tls-cert= and --tls-key=", c.Args)
	}
	for _, f := range files {
		name, _ := mounted(f)
		if name == "" || vols[name].Secret == nil {
			t.Errorf("%s is not on a Secret volume", f)
			continue
		}
		if mode := vols[name].Secret.DefaultMode; mode&0o007 != 0 {
			t.Errorf("Secret volume %s has mode %04o: others can read it", name, mode)
		}
	}

	var svc serviceSpec
	spec = objs["Service"].Spec
	strict(t, "Service spec", &spec, &svc)
	if !maps.Equal(svc.Selector, app) || len(svc.Ports) != 1 || svc.Ports[0].Port != 443 || svc.Ports[0].TargetPort != "https" {
		t.Errorf("Service %+v: want 443 to the pods' https port", svc)
	}
	var pdb pdbSpec
	spec = objs["PodDisruptionBudget"].Spec
	strict(t, "PodDisruptionBudget spec", &spec, &pdb)
	if pdb.MinAvailable < 2 || pdb.MinAvailable >= d.Replicas || !maps.Equal(pdb.Selector.MatchLabels, app) {
		t.Errorf("PodDisruptionBudget %+v: want 2 of the 3 replicas kept, and a drain still possible", pdb)
	}
}
