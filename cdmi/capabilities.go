package cdmi

import "strconv"

// Capabilities (CDMI 1.1.1 §12) list exactly what this server does. They are
// also what the handlers consult before an operation (require), so the two
// cannot drift apart: an operation whose capability is absent gets 400.

// valueHashes are the cdmi_value_hash algorithms computed (§16.4).
var valueHashes = []string{"MD5", "SHA1", "SHA224", "SHA256", "SHA384", "SHA512"}

// Metadata limits, advertised and enforced.
const (
	maxMetadataItems = 1024
	maxMetadataSize  = 64 << 10 // bytes per item (name + JSON value)
)

// storageSystemMetadata are the capabilities of Table 101 (§12.1.2) for the
// §16.3 items maintained on every object. cdmi_owner and cdmi_hash are
// maintained too but have no capability name in Table 101.
var storageSystemMetadata = map[string]any{
	"cdmi_size": "true", "cdmi_ctime": "true", "cdmi_atime": "true", "cdmi_mtime": "true",
	"cdmi_acount": "true", "cdmi_mcount": "true",
}

// systemCapabilities is the root capability object (Table 100).
func systemCapabilities(occiProtocols map[string]string) map[string]any {
	c := map[string]any{
		"cdmi_domains":                 "true",
		"cdmi_dataobjects":             "true",
		"cdmi_queues":                  "true",
		"cdmi_metadata_maxitems":       itoa(maxMetadataItems),
		"cdmi_metadata_maxsize":        itoa(maxMetadataSize),
		"cdmi_security_access_control": "true",
		"cdmi_security_data_integrity": "true",
		"cdmi_object_move_from_local":  "true",
		"cdmi_object_copy_from_local":  "true",
		"cdmi_object_access_by_ID":     "true",
		"cdmi_post_dataobject_by_ID":   "true",
		"cdmi_post_queue_by_ID":        "true",
		"cdmi_create_reference_by_ID":  "true",
		"cdmi_copy_dataobject_by_ID":   "true",
		// Data and queue objects are written and read with multi-part MIME
		// (multipart.go: §8.2.4, §8.3.5, §8.4.3, §9.6.4, §11.3.5, §11.6.3).
		"cdmi_multipart_mime": "true",
		// Network exports are recorded on containers and returned
		// (§13.4, §13.7); the NFS server or iSCSI target that serves them
		// is run outside this server.
		"cdmi_export_nfs":   "true",
		"cdmi_export_iscsi": "true",
	}
	// §13.2.1.1: each OCCI export protocol the linkage serves end to end.
	for lower := range occiProtocols {
		c["cdmi_export_occi_"+lower] = "true"
	}
	return c
}

func withDSM(c map[string]any) map[string]any {
	for k, v := range storageSystemMetadata {
		c[k] = v
	}
	c["cdmi_acl"] = "true"
	c["cdmi_value_hash"] = valueHashes
	return c
}

// dataObjectCapabilities is Table 103.
func dataObjectCapabilities() map[string]any {
	return withDSM(map[string]any{
		"cdmi_read_value":         "true",
		"cdmi_read_value_range":   "true",
		"cdmi_read_metadata":      "true",
		"cdmi_modify_value":       "true",
		"cdmi_modify_value_range": "true",
		"cdmi_modify_metadata":    "true",
		"cdmi_delete_dataobject":  "true",
	})
}

// containerCapabilities is Table 104.
func containerCapabilities(exportOCCI bool) map[string]any {
	c := withDSM(map[string]any{
		"cdmi_list_children":          "true",
		"cdmi_list_children_range":    "true",
		"cdmi_read_metadata":          "true",
		"cdmi_modify_metadata":        "true",
		"cdmi_create_dataobject":      "true",
		"cdmi_post_dataobject":        "true",
		"cdmi_post_queue":             "true",
		"cdmi_create_container":       "true",
		"cdmi_create_queue":           "true",
		"cdmi_create_reference":       "true",
		"cdmi_delete_container":       "true",
		"cdmi_move_container":         "true",
		"cdmi_copy_container":         "true",
		"cdmi_export_container_nfs":   "true",
		"cdmi_export_container_iscsi": "true",
		"cdmi_copy_dataobject":        "true",
		"cdmi_move_dataobject":        "true",
		"cdmi_assignedsize":           "true",
	})
	if exportOCCI {
		c["cdmi_export_container_occi"] = "true"
	}
	return c
}

// queueCapabilities is Table 106.
func queueCapabilities() map[string]any {
	return withDSM(map[string]any{
		"cdmi_read_value":      "true",
		"cdmi_read_metadata":   "true",
		"cdmi_modify_value":    "true",
		"cdmi_modify_metadata": "true",
		"cdmi_delete_queue":    "true",
	})
}

// domainCapabilities is Table 105 (domains.go): domains are created,
// read, changed and deleted, each with its membership container whose
// records admit users (cdmi_domain_members, members.go). No summaries,
// copies or serialization.
func domainCapabilities() map[string]any {
	return map[string]any{
		"cdmi_domain_members":  "true",
		"cdmi_create_domain":   "true",
		"cdmi_delete_domain":   "true",
		"cdmi_read_metadata":   "true",
		"cdmi_modify_metadata": "true",
		"cdmi_list_children":   "true",
	}
}

func (s *Service) capabilitiesFor(typ string) map[string]any {
	switch typ {
	case typeContainer:
		return containerCapabilities(s.cfg.ExportHook != nil)
	case typeDataObject:
		return dataObjectCapabilities()
	case typeQueue:
		return queueCapabilities()
	case typeDomain:
		return domainCapabilities()
	}
	return nil
}

// require answers whether the capability object of objects of type typ
// grants name; it returns the 400 to send when it does not. It asks the
// maps built once (Service.granted): every request asks it, and what the
// capability objects say depends on the configuration only.
func (s *Service) require(typ, name string) error {
	if v, ok := s.granted[typ][name]; ok && v == "true" {
		return nil
	}
	return invalidf("the %s capability object does not grant %s", typ, name)
}

func itoa(n int) string { return strconv.Itoa(n) }

// unsupported answers a request for an operation this server does not
// implement: the 400 naming the capability it lacks.
func (s *Service) unsupported(typ, name string) error {
	if err := s.require(typ, name); err != nil {
		return err
	}
	return invalidf("%s is not supported", name)
}

func (s *Service) capabilityObject(o *object) map[string]any {
	if o.ObjectID == s.capsID {
		c := systemCapabilities(s.occiProtocols())
		if s.cfg.Snapshots != nil && s.cfg.Disks != nil {
			c["cdmi_snapshots"] = "true" // clause 14, on containers exported to OCCI
		}
		return c
	}
	if o.Name == occiCapabilities && o.ParentID == s.capIDs[typeContainer] {
		if s.cfg.Snapshots == nil || s.cfg.Disks == nil {
			return containerCapabilities(s.cfg.ExportHook != nil)
		}
		return occiContainerCapabilities()
	}
	return s.capabilitiesFor(o.Name)
}
