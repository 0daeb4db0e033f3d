package cdmi

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Exports (CDMI 1.1.1 §13, examples in §9.4.9 and §9.3.9) are a JSON object
// keyed by "<kind>/<protocol>": "OCCI/iSCSI", "OCCI/NFSv4", "Network/NFSv4",
// "Network/iSCSI", plus the legacy protocol-only key "nfs" of §13.2.1.5.
// Network exports are validated, recorded and returned: they describe what
// an NFS server or iSCSI target run beside this server should serve (this
// server runs neither). OCCI exports take effect only through
// Config.ExportHook and are refused without one.

// OCCIExport is an OCCI export of a container (§13.6): the protocol after
// "OCCI/", the identifier (the container's objectID) and the OCCI compute
// URIs allowed to attach it.
type OCCIExport struct {
	Protocol    string
	Identifier  string
	Permissions []string
}

// knownExportProtocols are the protocols whose exports are accepted; each
// is announced by a capability (cdmi_export_nfs, cdmi_export_iscsi and
// their container forms, §12.1.1, §12.1.5), as §13.2.1.1 requires.
var knownExportProtocols = map[string]bool{"iscsi": true, "nfsv4": true, "nfsv3": true, "nfs": true}

// parseExports validates an "exports" field. It returns the normalised map
// to store and the OCCI exports in it.
func parseExports(raw json.RawMessage, containerID string) (map[string]any, []OCCIExport, error) {
	var in map[string]json.RawMessage
	if err := json.Unmarshal(raw, &in); err != nil || in == nil {
		return nil, nil, invalidf("exports must be a JSON object keyed by export type, e.g. {\"Network/NFSv4\": {...}}")
	}
	out := map[string]any{}
	var occi []OCCIExport
	for key, v := range in {
		kind, proto, hasKind := strings.Cut(key, "/")
		if !hasKind {
			proto, kind = key, "Network"
		}
		if kind != "OCCI" && kind != "Network" {
			return nil, nil, invalidf("exports: %q: the export type must be OCCI/<protocol> or Network/<protocol>", key)
		}
		if !knownExportProtocols[strings.ToLower(proto)] {
			return nil, nil, invalidf("exports: %q: unknown protocol %q", key, proto)
		}
		if string(v) == "null" {
			out[key] = nil // removes the export on update
			continue
		}
		var spec map[string]any
		if err := json.Unmarshal(v, &spec); err != nil || spec == nil {
			return nil, nil, invalidf("exports: %q must be a JSON object", key)
		}
		for f, fv := range spec {
			switch f {
			case "identifier", "domain":
				if _, ok := fv.(string); !ok {
					return nil, nil, invalidf("exports: %q: %q must be a string", key, f)
				}
			case "permissions", "hosts":
				if _, err := stringOrList(fv); err != nil {
					return nil, nil, invalidf("exports: %q: %q: %v", key, f, err)
				}
				if _, isList := fv.([]any); f == "permissions" && kind == "Network" && strings.EqualFold(proto, "iSCSI") && !isList {
					return nil, nil, invalidf("exports: %q: permissions must be a list of initiator names (§13.7.2)", key)
				}
			case "usermap", "groupmap":
				if err := checkNameMap(fv); err != nil {
					return nil, nil, invalidf("exports: %q: %q: %v", key, f, err)
				}
			default:
				// Other protocol-specific settings are kept as given.
			}
		}
		if kind == "OCCI" {
			id, _ := spec["identifier"].(string)
			if id == "" {
				id = containerID
				spec["identifier"] = id
			}
			if !strings.EqualFold(id, containerID) {
				return nil, nil, invalidf("exports: %q: identifier %q must be this container's objectID %s (§13.6)", key, id, containerID)
			}
			perms, _ := stringOrList(spec["permissions"])
			occi = append(occi, OCCIExport{Protocol: proto, Identifier: containerID, Permissions: perms})
		}
		out[key] = spec
	}
	return out, occi, nil
}

func stringOrList(v any) ([]string, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{t}, nil
	case []any:
		out := make([]string, 0, len(t))
		for _, x := range t {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("must be a string or a list of strings")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("must be a string or a list of strings")
}

func checkNameMap(v any) error {
	rows, ok := v.([]any)
	if !ok {
		return fmt.Errorf("must be a list of [cdmi name, operator, foreign name] triples")
	}
	for _, r := range rows {
		t, ok := r.([]any)
		if !ok || len(t) != 3 {
			return fmt.Errorf("must be a list of [cdmi name, operator, foreign name] triples")
		}
		for _, x := range t {
			if _, ok := x.(string); !ok {
				return fmt.Errorf("triples hold strings")
			}
		}
		switch t[1] {
		case "<-", "->", "<-->", "<mapping_operator>":
		default:
			return fmt.Errorf("operator %v must be <-, -> or <-->", t[1])
		}
	}
	return nil
}
