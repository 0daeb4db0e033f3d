//go:build ceph

package rbd

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseMonHost(t *testing.T) {
	for in, want := range map[string][]string{
		"[v2:127.0.0.1:3300,v1:127.0.0.1:6789]":                                       {"127.0.0.1:6789"},
		"[v2:10.0.0.1:3300/0,v1:10.0.0.1:6789/0] [v2:10.0.0.2:3300,v1:10.0.0.2:6789]": {"10.0.0.1:6789", "10.0.0.2:6789"},
		"10.0.0.1,10.0.0.2:6790":                                                      {"10.0.0.1:6789", "10.0.0.2:6790"},
		"[v2:10.0.0.1:3300]":                                                          {"10.0.0.1:3300"},
	} {
		assert.Equal(t, want, parseMonHost(in), in)
	}
}
