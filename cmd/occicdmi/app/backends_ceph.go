//go:build ceph

package app

// The Ceph backends (--volumes rbd, --objects rados) need cgo and
// librados/librbd, so they are in the build only with -tags ceph (and
// pacific for Debian 12's Ceph): go build -tags ceph,pacific ./cmd/occicdmi
import _ "github.com/occicdmi/occicdmi/storagebackends/rbd"
