package computebackends_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	cb "github.com/occicdmi/occicdmi/computebackends"
)

func TestVolumeSourceValidate(t *testing.T) {
	for what, src := range map[string]cb.VolumeSource{
		"file":      {Type: "file", Path: "/var/lib/occicdmi/vol.raw"},
		"qcow2":     {Type: "file", Path: "/var/lib/occicdmi/vol.qcow2", Format: "qcow2"},
		"rbd":       {Type: "rbd", Pool: "rbd", Image: "vol", Monitors: []string{"10.0.0.1:6789"}},
		"rbd conf":  {Type: "rbd", Pool: "rbd", Image: "vol", ConfigFile: "/etc/ceph/ceph.conf"},
		"nbd":       {Type: "nbd", Path: "/run/occicdmi/nbd/vol.sock", Image: "vol", Format: "raw"},
		"nbd qcow2": {Type: "nbd", Path: "/run/occicdmi/nbd/vol.sock", Image: "vol", Format: "qcow2"},
	} {
		assert.NoError(t, src.Validate(), what)
	}
	for what, src := range map[string]cb.VolumeSource{
		"no type":           {Path: "/x"},
		"unknown type":      {Type: "iscsi", Path: "/x"},
		"relative file":     {Type: "file", Path: "vol.raw"},
		"bad format":        {Type: "file", Path: "/x.vmdk", Format: "vmdk"},
		"rbd no pool":       {Type: "rbd", Image: "vol", Monitors: []string{"10.0.0.1:6789"}},
		"rbd no monitors":   {Type: "rbd", Pool: "rbd", Image: "vol"},
		"nbd no socket":     {Type: "nbd", Image: "vol"},
		"nbd relative":      {Type: "nbd", Path: "nbd/vol.sock", Image: "vol"},
		"nbd no export":     {Type: "nbd", Path: "/run/occicdmi/nbd/vol.sock"},
		"nbd bad format":    {Type: "nbd", Path: "/run/occicdmi/nbd/vol.sock", Image: "vol", Format: "vmdk"},
		"nbd host, no path": {Type: "nbd", Image: "vol", Monitors: []string{"10.0.0.1:10809"}},
	} {
		assert.ErrorIs(t, src.Validate(), cb.ErrInvalid, what)
	}
}
