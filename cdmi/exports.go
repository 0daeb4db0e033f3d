package cdmi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/occicdmi/occicdmi/internal/kind"
	"gorm.io/gorm"
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
// occiProtocols are the OCCI export protocols accepted (the export hook's,
// by lower-case name), nil without a hook.
func parseExports(raw json.RawMessage, containerID string, occiProtocols map[string]string) (map[string]any, []OCCIExport, error) {
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
		if kind == "OCCI" && occiProtocols != nil {
			canonical, ok := occiProtocols[strings.ToLower(proto)]
			if !ok {
				return nil, nil, invalidf("exports: %q: protocol %q is not served to OCCI here; the OCCI export protocols are %s", key, proto, protocolList(occiProtocols))
			}
			proto = canonical
		} else if !knownExportProtocols[strings.ToLower(proto)] {
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

// protocolList names the OCCI export protocols for a message:
// "OCCI/NBD, OCCI/RBD".
func protocolList(protocols map[string]string) string {
	names := make([]string, 0, len(protocols))
	for _, p := range protocols {
		names = append(names, "OCCI/"+p)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
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

// exports is the container's exports as stored.
func (o *object) exports() map[string]any {
	ex := map[string]any{}
	if o.Exports != "" {
		_ = json.Unmarshal([]byte(o.Exports), &ex)
	}
	return ex
}

// mergeExports applies given exports to the current ones (§9.5, update):
// exports not named are preserved, null removes one. It returns the JSON
// to store.
func mergeExports(current, given map[string]any) string {
	for k, v := range given {
		if v == nil {
			delete(current, k)
		} else {
			current[k] = v
		}
	}
	b, _ := json.Marshal(current)
	return string(b)
}

// occiExports are the OCCI exports among a container's stored exports.
func occiExports(ex map[string]any, containerID string) []OCCIExport {
	var out []OCCIExport
	for k, v := range ex {
		proto, ok := strings.CutPrefix(k, "OCCI/")
		if !ok || v == nil {
			continue
		}
		spec, _ := v.(map[string]any)
		perms, _ := stringOrList(spec["permissions"])
		out = append(out, OCCIExport{Protocol: proto, Identifier: containerID, Permissions: perms})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Protocol < out[j].Protocol })
	return out
}

// removedOCCIExports are the current OCCI exports that given sets to null.
func removedOCCIExports(current, given map[string]any, containerID string) []OCCIExport {
	gone := map[string]any{}
	for k, v := range given {
		if v == nil && current[k] != nil {
			gone[k] = current[k]
		}
	}
	return occiExports(gone, containerID)
}

// exportChange is what a write or delete does to a container's OCCI
// exports, driven through the ExportHook's two phases.
type exportChange struct {
	given  map[string]any // the exports field as given (nil values remove)
	add    []OCCIExport   // OCCI exports set
	remove []OCCIExport   // OCCI exports removed
	undos  []Undo         // of the prepare phases that succeeded
	// refused is the kind of a hook error that has none: Invalid (400) for
	// a write, Conflict (409) for a delete.
	refused kind.Kind
}

func (x *exportChange) any() bool { return len(x.add) > 0 || len(x.remove) > 0 }

// prepare runs the hook's prepare phase for every export that comes or
// goes, outside the transaction; on a failure, what was prepared is undone.
func (x *exportChange) prepare(ctx context.Context, hook ExportHook, c Container, log *slog.Logger) error {
	for _, e := range x.remove {
		undo, err := hook.PrepareUnexport(ctx, c, e)
		if err != nil {
			x.undo(ctx, log)
			return hookError(err, x.refused, "exports: removing OCCI/%s", e.Protocol)
		}
		x.undos = append(x.undos, undo)
	}
	for _, e := range x.add {
		undo, err := hook.PrepareExport(ctx, c, e)
		if err != nil {
			x.undo(ctx, log)
			return hookError(err, x.refused, "exports: OCCI/%s", e.Protocol)
		}
		x.undos = append(x.undos, undo)
	}
	return nil
}

// commit runs the hook's commit phase inside tx, where the row changes.
func (x *exportChange) commit(ctx context.Context, tx *gorm.DB, hook ExportHook, c Container) error {
	for _, e := range x.remove {
		if err := hook.CommitUnexport(ctx, tx, c, e); err != nil {
			return hookError(err, x.refused, "exports: removing OCCI/%s", e.Protocol)
		}
	}
	for _, e := range x.add {
		if err := hook.CommitExport(ctx, tx, c, e); err != nil {
			return hookError(err, x.refused, "exports: OCCI/%s", e.Protocol)
		}
	}
	return nil
}

// undo reverses the prepare phases that ran, last first, with a context
// the request's end does not cancel. Failures are logged: the change is
// refused either way.
func (x *exportChange) undo(ctx context.Context, log *slog.Logger) {
	ctx = context.WithoutCancel(ctx)
	for i := len(x.undos) - 1; i >= 0; i-- {
		if x.undos[i] == nil {
			continue
		}
		if err := x.undos[i](ctx); err != nil {
			log.Error("cdmi: undo of a prepared export change failed", "err", err)
		}
	}
	x.undos = nil
}

// hookError names what the hook failed at, keeping the hook's kind (an
// unavailable backend answers 503); an error without a kind gets fallback.
func hookError(err error, fallback kind.Kind, format string, a ...any) error {
	msg := fmt.Sprintf(format, a...)
	if kind.Of(err) == kind.Internal {
		return kind.Errorf(fallback, "%s: %w", msg, err)
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// occiProtocols are the hook's OCCI export protocols by lower-case name,
// nil without a hook.
func (s *Service) occiProtocols() map[string]string {
	if s.cfg.ExportHook == nil {
		return nil
	}
	out := map[string]string{}
	for _, p := range s.cfg.ExportHook.OCCIProtocols() {
		out[strings.ToLower(p)] = p
	}
	return out
}
