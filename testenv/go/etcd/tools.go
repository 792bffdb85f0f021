//go:build tools

// Keeps the etcd server module in go.mod; the binary is built with
// `go build go.etcd.io/etcd/server/v3` from this module (no source copied).
package tools

import _ "go.etcd.io/etcd/server/v3/etcdmain"
