package linkage_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/internal/testsupport"
)

// The guest the libvirt test environment boots (scripts/guest-image.sh):
// its init answers the in-guest check on every data disk.
const (
	guestTemplate = `Category: tiny-linux; scheme="https://occicdmi.org/occi/infrastructure/os_tpl#"; class="mixin"`
	checkRegion   = 4096      // the bytes the guest hashes: 4096-69631
	checkLen      = 16 * 4096 //
	replyAt       = 1024      // where the guest writes its answer
)

// needGuest skips unless the server offers the tiny Linux guest (the
// libvirt backend with the test catalogue); under CI on libvirt it must.
func needGuest(t *testing.T) {
	t.Helper()
	_, body := occi(t, http.MethodGet, "/-/", "")
	offered := strings.Contains(body, "tiny-linux;")
	if os.Getenv("OCCICDMI_COMPUTE") == "libvirt" {
		testsupport.NeedService(t, "the tiny-linux guest in the OCCI catalogue (OCCICDMI_CATALOGUE)", offered)
	}
	if !offered {
		t.Skip("no real guest here (the tiny-linux os_tpl is offered on libvirt with the test catalogue)")
	}
}

// Issue 9 item 6, CDMI 1.1.1 §13.1 and OCCI Infrastructure 3.4.2: bytes
// written through CDMI into the disk of an exported container are read
// inside the booted guest, and the bytes the guest writes are read back
// through CDMI. The guest (its init, scripts/guest-image.sh) finds the
// line "OCCICDMI-CHECK <token>" at the start of its data disk, hashes 64
// KiB at 4096 and writes "OCCICDMI-READ <token> <sha256>" at 1024. Over
// every advertised transport (NBD from this server, RBD by QEMU itself).
func TestGuestSeesTheCDMIDisk(t *testing.T) {
	needGuest(t)
	for _, proto := range protocols(t) {
		t.Run(proto, func(t *testing.T) { guestSeesTheDisk(t, proto) })
	}
}

func guestSeesTheDisk(t *testing.T, proto string) {
	path, id := exportedOver(t, 8*diskMiB, proto)
	disk := path + diskName
	token := uniq("check")
	data := make([]byte, checkLen)
	_, _ = rand.Read(data)
	sum := sha256.Sum256(data)
	writeRange(t, disk, checkRegion, data)
	writeRange(t, disk, 0, []byte("OCCICDMI-CHECK "+token+"\n"))

	vm := post(t, "/compute/", `Category: compute; scheme="`+infra+`"; class="kind"`+"\n"+guestTemplate+
		"\nX-OCCI-Attribute: occi.compute.memory=0.125")
	t.Cleanup(func() { occi(t, http.MethodDelete, vm, "") })
	resp, body := newLink(t, vm, "/storage/"+id, "")
	link := created(t, resp, body)
	resp, body = occi(t, http.MethodPost, vm+"?action=start", startAction)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	t.Cleanup(func() {
		occi(t, http.MethodPost, vm+"?action=stop", stopAction+"\nX-OCCI-Attribute: method=\"poweroff\"")
		occi(t, http.MethodDelete, link, "")
	})

	want := "OCCICDMI-READ " + token + " " + hex.EncodeToString(sum[:]) + "\n"
	var got []byte
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(time.Second) {
		got = readRange(t, disk, replyAt, len(want))
		if bytes.HasPrefix(got, []byte("OCCICDMI-READ ")) || time.Now().After(deadline) {
			break
		}
	}
	assert.Equal(t, want, string(got), "the guest read the bytes CDMI wrote (its hash) and CDMI reads the guest's answer")
}
