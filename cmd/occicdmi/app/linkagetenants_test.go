package app

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An export's permissions (CDMI 1.1.1 §13.6: the compute URIs that may
// attach the container) are read in the storage's project: alice (project
// alpha) naming bob's computes (project beta) in her container's
// permissions lets neither bob attach it by deviceid ("Linking to CDMI
// Managed Storage"), at start or hot-plugged, nor alice attach it to a
// compute she cannot see. Bob gets 404, as for a container that does not
// exist, whether or not his compute is listed: nothing of it leaks. Carol,
// in alpha, attaches it to her listed compute; the administrator is not
// held to projects.
func TestLinkageExportPermissionsInTheStoragesProject(t *testing.T) {
	alice, bob, carol, boss := cdmiUsers(t)
	compute := `Category: compute; scheme="` + occiInfra + `"; class="kind"`
	start := `Category: start; scheme="http://schemas.ogf.org/occi/infrastructure/compute/action#"; class="action"`
	linkBody := func(vm, storage, deviceID string) string {
		return `Category: storagelink; scheme="` + occiInfra + `"; class="kind"` +
			"\nX-OCCI-Attribute: occi.core.source=\"" + vm + "\"\nX-OCCI-Attribute: occi.core.target=\"" + storage + "\"" +
			"\nX-OCCI-Attribute: occi.storagelink.deviceid=\"" + deviceID + "\""
	}
	bobVM := bob.occiCreate("/compute/", compute)
	bobHot := bob.occiCreate("/compute/", compute)
	bobUnlisted := bob.occiCreate("/compute/", compute)
	carolVM := carol.occiCreate("/compute/", compute)
	bossVM := boss.occiCreate("/compute/", compute)
	perms := ""
	for _, vm := range []string{bobVM, bobHot, carolVM, bossVM} {
		if perms != "" {
			perms += ","
		}
		perms += `"` + alice.srv.URL + vm + `"`
	}
	r := alice.cdmi("PUT", "/cdmi/alicevol/", ctContainer,
		`{"metadata":{"cdmi_assignedsize":"1048576"},"exports":{"OCCI/NBD":{"permissions":[`+perms+`]}}}`)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	aliceVol := r.object(t)["objectID"].(string)
	aliceStorage := "/storage/" + aliceVol
	bobStorage := bob.occiCreate("/storage/", `Category: storage; scheme="`+occiInfra+`"; class="kind"`+"\nX-OCCI-Attribute: occi.storage.size=0.001")

	// Bob's listed compute, linked to his own storage with alice's
	// container as deviceid: the start is refused, the VM stays inactive.
	bob.occiCreate("/storagelink/", linkBody(bobVM, bobStorage, aliceVol))
	r = bob.occi("POST", bobVM+"?action=start", start)
	assert.Equal(t, http.StatusNotFound, r.status, r.body)
	assert.NotContains(t, r.body, "alicevol", "nothing of alice's container leaks")
	assert.Contains(t, bob.occi("GET", bobVM, "").body, `occi.compute.state="inactive"`)
	// An unlisted compute is answered the same (not 403 naming the container).
	bob.occiCreate("/storagelink/", linkBody(bobUnlisted, bobStorage, aliceVol))
	r = bob.occi("POST", bobUnlisted+"?action=start", start)
	assert.Equal(t, http.StatusNotFound, r.status, r.body)
	assert.NotContains(t, r.body, "alicevol")
	// Hot-plugged into his running compute: the link is refused.
	r = bob.occi("POST", bobHot+"?action=start", start)
	require.Equal(t, http.StatusOK, r.status, r.body)
	r = bob.occi("POST", "/storagelink/", linkBody(bobHot, bobStorage, aliceVol))
	assert.Equal(t, http.StatusNotFound, r.status, r.body)
	r = bob.occi("GET", bobHot, "")
	assert.NotContains(t, r.body, bobStorage, "no link was made")
	// Nor can he link alice's storage itself: it is not there for him.
	r = bob.occi("POST", "/storagelink/", linkBody(bobVM, aliceStorage, aliceVol))
	assert.Equal(t, http.StatusNotFound, r.status, r.body)

	// Alice cannot attach her container to bob's compute: she cannot see it.
	r = alice.occi("POST", "/storagelink/", linkBody(bobVM, aliceStorage, aliceVol))
	assert.Equal(t, http.StatusNotFound, r.status, r.body)

	// Carol, of alice's project, attaches it to her listed compute.
	carol.occiCreate("/storagelink/", linkBody(carolVM, aliceStorage, aliceVol))
	r = carol.occi("POST", carolVM+"?action=start", start)
	assert.Equal(t, http.StatusOK, r.status, r.body)
	r = carol.occi("POST", carolVM+"?action=stop", `Category: stop; scheme="http://schemas.ogf.org/occi/infrastructure/compute/action#"; class="action"`)
	require.Equal(t, http.StatusOK, r.status, r.body)

	// The administrator's listed compute (project ops) attaches it.
	boss.occiCreate("/storagelink/", linkBody(bossVM, aliceStorage, aliceVol))
	r = boss.occi("POST", bossVM+"?action=start", start)
	assert.Equal(t, http.StatusOK, r.status, r.body)
}
