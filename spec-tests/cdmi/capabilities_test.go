package cdmi_test

import (
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/occicdmi/occicdmi/spec-tests/harness"
)

// standardCaps are the capability names CDMI 1.1.1 clause 12 (Tables
// 100-108) and CDMI 2.0 (cdmi_advanced/cdmi_capability_object.txt and the
// extensions) define. A name starting with "cdmi_" that is not here is a
// vendor name squatting the standard prefix.
var standardCaps = strings.Fields(`
cdmi_RPO cdmi_RTO cdmi_acl cdmi_acount cdmi_assignedsize cdmi_atime
cdmi_authentication_methods cdmi_copy_container cdmi_copy_dataobject
cdmi_copy_dataobject_by_ID cdmi_copy_dataobject_from_queue cdmi_copy_domain cdmi_copy_queue
cdmi_copy_queue_by_ID cdmi_create_container cdmi_create_dataobject cdmi_create_domain
cdmi_create_queue cdmi_create_reference cdmi_create_reference_by_ID cdmi_create_value_range
cdmi_create_value_range_by_ID cdmi_ctime cdmi_data_autodelete cdmi_data_dispersion cdmi_data_holds
cdmi_data_redundancy cdmi_data_retention cdmi_dataobjects cdmi_delete_container
cdmi_delete_dataobject cdmi_delete_domain cdmi_delete_queue cdmi_deserialize_container
cdmi_deserialize_dataobject cdmi_deserialize_dataobject_by_ID cdmi_deserialize_domain
cdmi_deserialize_queue cdmi_deserialize_queue_by_ID cdmi_domain_members cdmi_domain_summary
cdmi_domains cdmi_encryption cdmi_export_cifs cdmi_export_container_cifs
cdmi_export_container_iscsi cdmi_export_container_nfs cdmi_export_container_occi
cdmi_export_container_webdav cdmi_export_container_smb cdmi_export_iscsi cdmi_export_nfs
cdmi_export_occi_iscsi cdmi_export_webdav cdmi_export_smb cdmi_geographic_placement cdmi_hold_id
cdmi_immediate_redundancy cdmi_infrastructure_redundancy cdmi_latency cdmi_list_children
cdmi_list_children_range cdmi_logging cdmi_mcount cdmi_metadata_maxitems cdmi_metadata_maxsize
cdmi_metadata_maxtotalsize cdmi_modify_deserialize_container cdmi_modify_deserialize_dataobject
cdmi_modify_deserialize_domain cdmi_modify_deserialize_queue cdmi_modify_metadata
cdmi_modify_value cdmi_modify_value_range cdmi_move_container cdmi_move_dataobject
cdmi_move_domain cdmi_move_queue cdmi_mtime cdmi_multipart_mime cdmi_notification
cdmi_object_access_by_ID cdmi_object_copy_from_local cdmi_object_copy_from_remote
cdmi_object_move_from_ID cdmi_object_move_from_local cdmi_object_move_from_remote
cdmi_object_move_to_ID cdmi_post_dataobject cdmi_post_dataobject_by_ID cdmi_post_queue
cdmi_post_queue_by_ID cdmi_query cdmi_query_contains cdmi_query_regex cdmi_query_tags
cdmi_query_value cdmi_queues cdmi_read_metadata cdmi_read_value cdmi_read_value_range
cdmi_reference_queue cdmi_references cdmi_retention_id cdmi_retention_period
cdmi_sanitization_method cdmi_security_access_control cdmi_security_audit
cdmi_security_data_integrity cdmi_security_encryption cdmi_security_immutability
cdmi_security_sanitization cdmi_serialization_json cdmi_serialize_container
cdmi_serialize_container_to_ID cdmi_serialize_dataobject cdmi_serialize_dataobject_to_ID
cdmi_serialize_domain cdmi_serialize_domain_to_ID cdmi_serialize_queue cdmi_serialize_queue_to_ID
cdmi_size cdmi_snapshot cdmi_snapshots cdmi_throughput cdmi_value_hash
cdmi_versioning cdmi_version_age cdmi_versions_count cdmi_versions_size
cdmi_dac cdmi_dac_methods cdmi_dac_certificate cdmi_dac_uri
cdmi_enc_access cdmi_enc_cms cdmi_enc_inplace cdmi_enc_jwe cdmi_jwe_alg cdmi_jwe_enc cdmi_jws_alg
cdmi_cms_digest cdmi_cms_encryption cdmi_cms_signature
`)

// walkCaps reads the capability tree from the root capability object
// (CDMI 1.1.1 §12.1, §12.2) and returns every capability object by URL.
func walkCaps(t *testing.T) map[string]obj {
	t.Helper()
	out := map[string]obj{}
	var walk func(u string)
	walk = func(u string) {
		resp, o := get(t, u, ctCapability)
		assert.Equal(t, ctCapability, mediaType(resp), u)
		assert.Equal(t, ctCapability, o.str("objectType"), u)
		assert.NoError(t, checkID(o.str("objectID")), u)
		_, ok := o["capabilities"].(map[string]any)
		assert.True(t, ok, "%s: capabilities must be a JSON object", u)
		out[u] = o
		for _, ch := range o.list("children") {
			name, _ := ch.(string)
			require.True(t, strings.HasSuffix(name, "/"), "%s: capability child %q must end in /", u, name)
			if len(out) < 64 {
				walk(u + escapeName(name))
			}
		}
	}
	walk(rootURL(t) + "cdmi_capabilities/")
	return out
}

// CDMI 1.1.1 §12.1: the system-wide capability object has children for
// containers and data objects; every name with the cdmi_ prefix is a
// standard one; values are JSON strings ("true", numbers as strings) or,
// for cdmi_value_hash and friends, arrays of strings.
func TestCapabilityTree(t *testing.T) {
	root := rootURL(t) + "cdmi_capabilities/"
	all := walkCaps(t)
	require.Contains(t, all, root+"container/")
	require.Contains(t, all, root+"dataobject/")
	std := map[string]bool{}
	for _, n := range standardCaps {
		std[n] = true
	}
	var bad []string
	for u, o := range all {
		caps, _ := o["capabilities"].(map[string]any)
		for name, v := range caps {
			// §13.2: foreign protocols are announced as cdmi_export_*;
			// OCCI's follow §12.1.1's cdmi_export_occi_iscsi.
			occiExport := regexp.MustCompile(`^cdmi_export_occi_[a-z0-9]+$`).MatchString(name)
			if strings.HasPrefix(name, "cdmi_") && !std[name] && !occiExport {
				bad = append(bad, u+" "+name)
			}
			switch v.(type) {
			case string:
			case []any:
			default:
				t.Errorf("%s: capability %s has a %T value; CDMI capabilities are JSON strings (or arrays of them)", u, name, v)
			}
		}
	}
	sort.Strings(bad)
	assert.Empty(t, bad, "non-standard names under the standard cdmi_ prefix")

	// §12.1.1: the root capabilities name what the rest of the suite uses.
	sys, _ := all[root]["capabilities"].(map[string]any)
	for _, name := range []string{"cdmi_dataobjects", "cdmi_object_access_by_ID", "cdmi_domains", "cdmi_queues"} {
		assert.Equal(t, "true", sys[name], "system-wide %s", name)
	}
	dobj, _ := all[root+"dataobject/"]["capabilities"].(map[string]any)
	for _, name := range []string{"cdmi_read_value", "cdmi_read_value_range", "cdmi_read_metadata", "cdmi_modify_value", "cdmi_modify_metadata", "cdmi_delete_dataobject"} {
		assert.Equal(t, "true", dobj[name], "data object %s", name)
	}
	cont, _ := all[root+"container/"]["capabilities"].(map[string]any)
	for _, name := range []string{"cdmi_list_children", "cdmi_create_dataobject", "cdmi_create_container", "cdmi_delete_container", "cdmi_modify_metadata"} {
		assert.Equal(t, "true", cont[name], "container %s", name)
	}
}

// CDMI 1.1.1 §12.1: every object's capabilitiesURI names a capability
// object that exists (checked for containers, data objects, queues and
// the root).
func TestCapabilitiesURIResolves(t *testing.T) {
	c := testContainer(t)
	putRaw(t, c+"o", "text/plain", []byte("x"))
	mkqueue(t, c+"q")
	for u, accept := range map[string]string{rootURL(t): ctContainer, c: ctContainer, c + "o": ctObject, c + "q": ctQueue, rootURL(t) + "cdmi_domains/": ctDomain} {
		_, o := get(t, u, accept)
		cu := o.str("capabilitiesURI")
		if assert.NotEmpty(t, cu, u) {
			_, capObj := get(t, resolve(t, cu), ctCapability)
			assert.Equal(t, ctCapability, capObj.str("objectType"))
		}
	}
}

// CDMI 1.1.1 §12.1 ("If present and true ... shall support"): an
// operation the object's capabilities do not grant is refused with 400
// and changes nothing, and one they grant works. Checked for every
// optional operation this suite can drive.
func TestCapabilitiesGate(t *testing.T) {
	c := testContainer(t)
	putObject(t, c+"src", map[string]any{"value": "0123456789"})
	putObject(t, c+"movable", map[string]any{"value": "m"})
	mkcontainer(t, c+"sub/", nil)
	src := pathOf(t, c+"src")
	sub := pathOf(t, c+"sub/")
	type op struct {
		capName, method, url, ctype string
		body                        map[string]any
		ok                          []int
		on                          string // whose capabilities: the container or the object
	}
	ops := []op{
		{"cdmi_copy_dataobject", http.MethodPut, c + "copied", ctObject, map[string]any{"copy": src}, []int{201}, c},
		{"cdmi_create_reference", http.MethodPut, c + "refd", ctObject, map[string]any{"reference": src}, []int{201}, c},
		{"cdmi_copy_container", http.MethodPut, c + "subcopy/", ctContainer, map[string]any{"copy": sub}, []int{201}, c},
		{"cdmi_create_queue", http.MethodPut, c + "qq", ctQueue, map[string]any{}, []int{201}, c},
		{"cdmi_create_container", http.MethodPut, c + "made/", ctContainer, map[string]any{}, []int{201}, c},
		{"cdmi_create_dataobject", http.MethodPut, c + "made.txt", ctObject, map[string]any{"value": "x"}, []int{201}, c},
		{"cdmi_move_dataobject", http.MethodPut, c + "moved", ctObject, map[string]any{"move": pathOf(t, c+"movable")}, []int{201}, c},
		{"cdmi_post_dataobject", http.MethodPost, c, ctObject, map[string]any{"value": "p"}, []int{201}, c},
		{"cdmi_post_queue", http.MethodPost, c, ctQueue, map[string]any{}, []int{201}, c},
		{"cdmi_list_children_range", http.MethodGet, c + "?children:0-0", "", nil, []int{200}, c},
		{"cdmi_read_value_range", http.MethodGet, c + "src?value:0-1", "", nil, []int{200}, c + "src"},
		{"cdmi_modify_value_range", http.MethodPut, c + "src?value:0-1", ctObject, map[string]any{"value": "QUI=", "valuetransferencoding": "base64"}, []int{204, 200}, c + "src"},
	}
	for _, o := range ops {
		t.Run(o.capName, func(t *testing.T) {
			h := hdr(o.ctype, o.ctype)
			accept := ctObject
			if strings.HasSuffix(o.url, "/") || strings.Contains(o.url, "?children") {
				accept = ctContainer
			}
			if o.method == http.MethodGet {
				h = hdr("", accept)
			}
			var resp *http.Response
			var body []byte
			if o.body != nil {
				resp, body = harness.Do(t, o.method, o.url, h, jsonBody(t, o.body))
			} else {
				resp, body = harness.Do(t, o.method, o.url, h, nil)
			}
			if granted(t, o.on, o.capName) {
				expect(t, resp, body, o.ok...)
				return
			}
			expect4xx(t, resp, body, http.StatusBadRequest)
			if o.method == http.MethodPut && !strings.Contains(o.url, "?") {
				assert.Equal(t, http.StatusNotFound, status(t, o.url, hdr("", accept)), "refused %s must create nothing", o.capName)
			}
		})
	}
}
