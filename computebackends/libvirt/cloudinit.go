package libvirt

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"libvirt.org/go/libvirtxml"

	cb "github.com/occicdmi/occicdmi/computebackends"
)

// A cloud-init NoCloud seed: an ISO 9660 image labelled "cidata" holding
// user-data and meta-data, which cloud-init finds on any block device with
// that label. It is how the guest receives occi.compute.userdata and
// occi.credentials.ssh.publickey without a metadata server.

// isoTool is the program that writes the seed image (Debian: genisoimage).
var isoTool = "genisoimage"

// seedPath is where a machine's seed image lives; it goes with the machine.
func (b *Backend) seedPath(name string) string {
	return filepath.Join(b.imageDir, "machines", name+".seed.iso")
}

// userData is what the guest gets as user-data: occi.compute.userdata
// decoded when it is base64 of text or gzip (GFD.224 §3.5.2 carries it so),
// else as given;
// with only an SSH key, a #cloud-config that authorizes it.
func userData(m cb.Machine) []byte {
	if m.UserData != "" {
		compact := strings.Join(strings.Fields(m.UserData), "")
		// A short plain word ("true") can also be valid base64; its decoding
		// is then binary noise. Only text or gzip (which cloud-init
		// unpacks) counts as decoded user data.
		if raw, err := base64.StdEncoding.DecodeString(compact); err == nil && len(raw) > 0 &&
			(utf8.Valid(raw) || bytes.HasPrefix(raw, []byte{0x1f, 0x8b})) {
			return raw
		}
		return []byte(m.UserData)
	}
	keys := sshKeys(m.SSHKey)
	if len(keys) == 0 {
		return nil
	}
	var sb strings.Builder
	sb.WriteString("#cloud-config\nssh_authorized_keys:\n")
	for _, k := range keys {
		q, _ := json.Marshal(k) // a JSON string is a YAML flow scalar
		sb.WriteString("  - " + string(q) + "\n")
	}
	return []byte(sb.String())
}

func sshKeys(s string) []string {
	var keys []string
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			keys = append(keys, line)
		}
	}
	return keys
}

// metaData is the NoCloud meta-data: instance-id (a new id makes cloud-init
// run its per-instance modules), local-hostname, and the SSH keys as
// public-keys, which cloud-init authorizes whatever the user data is (so a
// key and a shell script together both take effect).
func metaData(m cb.Machine) []byte {
	host := m.Hostname
	if host == "" {
		host = DomainName(m.ID)
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	var sb strings.Builder
	sb.WriteString("instance-id: " + q(domainUUID(m.ID)) + "\n")
	sb.WriteString("local-hostname: " + q(host) + "\n")
	if keys := sshKeys(m.SSHKey); len(keys) > 0 {
		sb.WriteString("public-keys:\n")
		for _, k := range keys {
			sb.WriteString("  - " + q(k) + "\n")
		}
	}
	return []byte(sb.String())
}

// checkSeedTool fails with ErrUnavailable when the ISO tool is missing, before
// anything is created.
func checkSeedTool() error {
	if _, err := exec.LookPath(isoTool); err != nil {
		return fmt.Errorf("user data and SSH keys are given to the guest on a cloud-init seed image, made with %s, which is not installed here (Debian: apt-get install genisoimage): %w", isoTool, cb.ErrUnavailable)
	}
	return nil
}

// writeSeed builds the seed image of m at path.
func writeSeed(ctx context.Context, m cb.Machine, path string) error {
	if err := checkSeedTool(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "occicdmi-seed-")
	if err != nil {
		return fmt.Errorf("seed image: %w: %v", cb.ErrUnavailable, err)
	}
	defer os.RemoveAll(dir)
	ud, md := filepath.Join(dir, "user-data"), filepath.Join(dir, "meta-data")
	if err := os.WriteFile(ud, userData(m), 0o600); err != nil {
		return fmt.Errorf("seed image: %w: %v", cb.ErrUnavailable, err)
	}
	if err := os.WriteFile(md, metaData(m), 0o600); err != nil {
		return fmt.Errorf("seed image: %w: %v", cb.ErrUnavailable, err)
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("seed image %s is left from an earlier machine: %w", filepath.Base(path), cb.ErrExists)
	}
	// -J -r: Joliet and Rock Ridge keep the names "user-data" and
	// "meta-data" as they are (plain ISO 9660 would upper-case them).
	out, err := exec.CommandContext(ctx, isoTool, "-quiet", "-output", path, "-volid", "cidata", "-joliet", "-rock", ud, md).CombinedOutput()
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("seed image: %s: %w: %v: %s", isoTool, cb.ErrUnavailable, err, toolOutput(out))
	}
	_ = os.Chmod(path, 0o644)
	return nil
}

// seedDisk is the read-only CD-ROM that carries the seed image.
func seedDisk(path string) libvirtxml.DomainDisk {
	return libvirtxml.DomainDisk{
		Device:   "cdrom",
		Driver:   &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
		Source:   &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: path}},
		Target:   &libvirtxml.DomainDiskTarget{Dev: "hdc", Bus: "ide"},
		ReadOnly: &libvirtxml.DomainDiskReadOnly{},
	}
}
