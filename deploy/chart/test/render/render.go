// Package render renders the chart as `helm template` does, with Helm as a library, and decodes every
// rendered object strictly into the Kubernetes API's Go types: a field the type lacks is an error. The
// chart's tests and the kubelet test read the chart through it.
package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// KubeVersion is the oldest Kubernetes the chart says it supports (Chart.yaml's kubeVersion).
var KubeVersion = &common.KubeVersion{Version: "v1.25.0", Major: "1", Minor: "25"}

// Rendered is one rendering of the chart: its objects, decoded into their API types, its manifest as
// `helm template` prints it, and its notes.
type Rendered struct {
	Objects  []Object
	Manifest string
	Notes    string
	// Undecoded are the rendered documents that did not decode strictly, each with its error.
	Undecoded []error
}

// Object is one rendered object: its kind, name and the typed value it decoded into; Hook says it is a
// hook's (a `helm test` pod).
type Object struct {
	Kind, Name string
	Hook       bool
	Value      any
}

// Of returns the objects of kind.
func (r Rendered) Of(kind string) []any {
	var found []any
	for _, o := range r.Objects {
		if o.Kind == kind {
			found = append(found, o.Value)
		}
	}
	return found
}

// One returns the one object of kind, or an error when there is not exactly one.
func (r Rendered) One(kind string) (any, error) {
	found := r.Of(kind)
	if len(found) != 1 {
		return nil, fmt.Errorf("%d objects of kind %s, want 1", len(found), kind)
	}
	return found[0], nil
}

// Kinds counts the rendered objects by kind.
func (r Rendered) Kinds() map[string]int {
	kinds := map[string]int{}
	for _, o := range r.Objects {
		kinds[o.Kind]++
	}
	return kinds
}

// ServiceMonitor is the part of the Prometheus operator's ServiceMonitor (monitoring.coreos.com/v1) that
// the chart renders; its Go types are not pulled in for one object, so this mirrors the fields used.
type ServiceMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			Authorization *struct {
				Type        string                   `json:"type"`
				Credentials corev1.SecretKeySelector `json:"credentials"`
			} `json:"authorization,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// typed returns a new value of the API type of apiVersion and kind.
func typed(apiVersion, kind string) (any, bool) {
	switch apiVersion + " " + kind {
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, true
	case "v1 Service":
		return &corev1.Service{}, true
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, true
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, true
	case "v1 Pod":
		return &corev1.Pod{}, true
	case "networking.k8s.io/v1 Ingress":
		return &networkingv1.Ingress{}, true
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, true
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}, true
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &ServiceMonitor{}, true
	}
	return nil, false
}

// Decode decodes one YAML document into its API type; a field the type lacks is an error.
func Decode(doc string) (Object, error) {
	data, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		return Object{}, err
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return Object{}, err
	}
	v, ok := typed(head.APIVersion, head.Kind)
	if !ok {
		return Object{}, fmt.Errorf("%s %s: no API type known to this package", head.APIVersion, head.Kind)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Object{}, fmt.Errorf("%s %s: %w", head.Kind, head.Metadata.Name, err)
	}
	return Object{Kind: head.Kind, Name: head.Metadata.Name, Value: v}, nil
}

// Load loads the chart from its folder.
func Load(dir string) (*chart.Chart, error) {
	return loader.Load(dir)
}

// ReadValues reads a values file.
func ReadValues(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	vals := map[string]any{}
	if err := yaml.Unmarshal(data, &vals); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return vals, nil
}

// Chart renders the chart as `helm template` renders a release of name in namespace (the values checked
// against values.schema.json first), and decodes its objects and hooks. Helm's error comes back as is;
// the documents that do not decode strictly are in Undecoded.
func Chart(ch *chart.Chart, name, namespace string, vals map[string]any) (Rendered, error) {
	install := action.NewInstall(action.NewConfiguration())
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = name
	install.Namespace = namespace
	install.KubeVersion = KubeVersion
	rel, err := install.Run(ch, vals)
	if err != nil {
		return Rendered{}, err
	}
	r, ok := rel.(*release.Release)
	if !ok {
		return Rendered{}, fmt.Errorf("helm returned a %T", rel)
	}
	out := Rendered{Manifest: r.Manifest, Notes: r.Info.Notes}
	add := func(manifest string, hook bool) {
		for _, doc := range strings.Split(manifest, "\n---") {
			if strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(doc), "---")) == "" {
				continue
			}
			o, err := Decode(doc)
			if err != nil {
				out.Undecoded = append(out.Undecoded, fmt.Errorf("%w\n%s", err, doc))
				continue
			}
			o.Hook = hook
			out.Objects = append(out.Objects, o)
		}
	}
	add(r.Manifest, false)
	for _, h := range r.Hooks {
		out.Manifest += "\n---\n# hook " + h.Name + "\n" + h.Manifest
		add(h.Manifest, true)
	}
	return out, nil
}
