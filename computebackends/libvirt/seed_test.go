package libvirt

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"libvirt.org/go/libvirtxml"

	cb "github.com/occicdmi/occicdmi/computebackends"
)

// isoFile extracts one file of an ISO image with isoinfo (Rock Ridge names).
func isoFile(t *testing.T, iso, name string) string {
	t.Helper()
	out, err := exec.Command("isoinfo", "-R", "-i", iso, "-x", "/"+name).Output()
	require.NoError(t, err, "isoinfo -x /%s", name)
	return string(out)
}

func inactiveXML(t *testing.T, id string) *libvirtxml.Domain {
	t.Helper()
	dom := &libvirtxml.Domain{}
	require.NoError(t, dom.Unmarshal(virsh(t, "dumpxml", "--inactive", DomainName(id))))
	return dom
}

// TestSeedImage: user data (GFD.224 §3.5.2, base64) and an SSH key reach the
// guest on a cloud-init NoCloud seed, an ISO labelled cidata attached as a
// read-only CD-ROM, removed with the machine.
func TestSeedImage(t *testing.T) {
	if _, err := exec.LookPath("isoinfo"); err != nil {
		t.Skip("isoinfo (genisoimage) is not installed: scripts/testenv.sh up libvirt installs it")
	}
	b := openTest(t)
	ctx := context.Background()
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBy8Y0b5oYh4bW8t1kq test@example"

	// base64 user data is decoded; the key also goes in meta-data.
	id := newID("seed")
	machine(t, b, cb.Machine{ID: id, Hostname: "seedy", Memory: 0.0625,
		UserData: "I2Nsb3VkLWNvbmZpZwpydW5jbWQ6IFtbdHJ1ZV1dCg==", SSHKey: key})
	iso := b.seedPath(DomainName(id))
	vol, err := exec.Command("isoinfo", "-d", "-i", iso).Output()
	require.NoError(t, err)
	assert.Contains(t, string(vol), "Volume id: cidata")
	assert.Equal(t, "#cloud-config\nruncmd: [[true]]\n", isoFile(t, iso, "user-data"))
	md := isoFile(t, iso, "meta-data")
	assert.Contains(t, md, `instance-id: "`+domainUUID(id)+`"`)
	assert.Contains(t, md, `local-hostname: "seedy"`)
	assert.Contains(t, md, "public-keys:\n  - \""+key+"\"")

	var cd *libvirtxml.DomainDisk
	for _, d := range inactiveXML(t, id).Devices.Disks {
		if d.Device == "cdrom" {
			cd = &d
		}
	}
	require.NotNil(t, cd, "the domain has a cdrom")
	assert.Equal(t, iso, cd.Source.File.File)
	assert.NotNil(t, cd.ReadOnly, "read-only")

	// It boots with the seed attached, and goes with the machine.
	require.NoError(t, b.Start(ctx, id))
	assert.Equal(t, "running", domstate(t, id))
	require.NoError(t, b.DeleteMachine(ctx, id))
	assert.NoFileExists(t, iso)

	// Only a key: a #cloud-config that authorizes it. Plain text user data
	// (not base64) is kept as given.
	id2 := newID("seed")
	machine(t, b, cb.Machine{ID: id2, Memory: 0.0625, SSHKey: key})
	keyJSON, _ := json.Marshal(key)
	assert.Equal(t, "#cloud-config\nssh_authorized_keys:\n  - "+string(keyJSON)+"\n", isoFile(t, b.seedPath(DomainName(id2)), "user-data"))
	id3 := newID("seed")
	script := `#!/bin/sh; echo "hello, world"; exit 0`
	machine(t, b, cb.Machine{ID: id3, Memory: 0.0625, UserData: script})
	assert.Equal(t, script, isoFile(t, b.seedPath(DomainName(id3)), "user-data"))
	assert.Contains(t, isoFile(t, b.seedPath(DomainName(id3)), "meta-data"), `local-hostname: "`+DomainName(id3)+`"`)

	// Without the ISO tool: a clear ErrUnavailable, nothing created.
	saved := isoTool
	isoTool = "no-such-genisoimage"
	t.Cleanup(func() { isoTool = saved })
	id4 := newID("seed")
	err = b.CreateMachine(ctx, cb.Machine{ID: id4, UserData: "x"})
	require.ErrorIs(t, err, cb.ErrUnavailable)
	assert.Contains(t, err.Error(), "genisoimage")
	_, err = b.MachineStatus(ctx, id4)
	require.ErrorIs(t, err, cb.ErrNotFound)
	assert.NoFileExists(t, b.overlayPath(DomainName(id4)))
}

// TestBlankRootDisk: a machine without an os_tpl gets an empty sparse qcow2
// root disk (DiskSize, else DefaultBlankDisk) and can be saved like any other.
func TestBlankRootDisk(t *testing.T) {
	b := openTest(t)
	ctx := context.Background()
	id := newID("blank")
	machine(t, b, cb.Machine{ID: id, Memory: 0.0625, DiskSize: 2})
	disk := b.overlayPath(DomainName(id))
	info, err := inspect(ctx, disk)
	require.NoError(t, err)
	assert.Equal(t, "qcow2", info.Format)
	assert.Equal(t, int64(2*gib), info.VirtualSize)
	fi, err := os.Stat(disk)
	require.NoError(t, err)
	assert.Less(t, fi.Size(), int64(10<<20), "sparse")

	img, err := b.Save(ctx, id, cb.SaveDeferred, "blank saved")
	require.NoError(t, err)
	saved := b.ImageDir() + "/" + img.Source
	t.Cleanup(func() { _ = os.Remove(saved) })
	info, err = inspect(ctx, saved)
	require.NoError(t, err)
	assert.Equal(t, int64(2*gib), info.VirtualSize)

	id2 := newID("blank")
	machine(t, b, cb.Machine{ID: id2, Memory: 0.0625})
	info, err = inspect(ctx, b.overlayPath(DomainName(id2)))
	require.NoError(t, err)
	assert.Equal(t, int64(DefaultBlankDisk*gib), info.VirtualSize)
	require.NoError(t, b.DeleteMachine(ctx, id2))
	assert.NoFileExists(t, b.overlayPath(DomainName(id2)))
}

func TestUserDataDecoding(t *testing.T) {
	// GFD.224 §3.5.2: userdata is base64; text that is not stays as given.
	assert.Equal(t, "#cloud-config\n", string(userData(cb.Machine{UserData: "I2Nsb3VkLWNvbmZp\nZwo="})))
	assert.Equal(t, "true", string(userData(cb.Machine{UserData: "true"})), "valid base64 of binary noise is not decoded")
	assert.Equal(t, "\x1f\x8b\x08\x00", string(userData(cb.Machine{UserData: "H4sIAA=="})), "gzip is decoded")
	assert.Nil(t, userData(cb.Machine{}))
	assert.Equal(t, "#cloud-config\nssh_authorized_keys:\n  - \"ssh-rsa A a\"\n  - \"ssh-ed25519 B b\"\n",
		string(userData(cb.Machine{SSHKey: "ssh-rsa A a\n\n ssh-ed25519 B b \n"})))
}
