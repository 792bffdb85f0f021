//go:build tools

// Keeps the Kubernetes commands in go.mod; the binaries are built with
// `go build k8s.io/kubernetes/cmd/<name>` from this module (no source copied).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)
