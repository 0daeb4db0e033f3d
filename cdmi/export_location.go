package cdmi

import (
	"encoding/json"
	"strings"

	"github.com/occicdmi/occicdmi/internal/web"
)

// exportsOf is a container's "exports" as rendered: as stored, with each
// OCCI export's "location" (the absolute URI of the OCCI entity it is,
// when the ExportHook is an ExportLocator), so that a client goes from the
// CDMI side to the OCCI side without knowing how the server names it. A
// location that cannot be read is left out (logged): the rest of the read
// stands.
func (s *Server) exportsOf(c *call, o *object) map[string]any {
	if o.Exports == "" {
		return nil
	}
	var ex map[string]any
	if json.Unmarshal([]byte(o.Exports), &ex) != nil {
		return nil
	}
	loc, ok := s.cfg.ExportHook.(ExportLocator)
	if !ok {
		return ex
	}
	for key, v := range ex {
		spec, isObject := v.(map[string]any)
		if !isObject || !strings.HasPrefix(strings.ToUpper(key), "OCCI/") {
			continue
		}
		path, err := loc.OCCILocation(c.ctx, o.ObjectID)
		if err != nil {
			s.log.WarnContext(c.ctx, "cdmi: the OCCI location of an export", "container", o.ObjectID, "err", err)
			continue
		}
		base := web.BaseURL(c.r, s.cfg.BaseURL)
		if path != "" {
			spec["location"] = base + path
		}
		s.attachedAsPermissions(c, loc, o.ObjectID, base, spec)
	}
	return ex
}

// attachedAsPermissions renders, in an export without a permissions list
// of its own (OCCI-first storage: ownership decides), the computes the
// volume is attached to as its "permissions" (issue 9 item 2).
func (s *Server) attachedAsPermissions(c *call, loc ExportLocator, containerID, base string, spec map[string]any) {
	computes, shown, err := loc.OCCIAttached(c.ctx, containerID)
	if err != nil {
		s.log.WarnContext(c.ctx, "cdmi: the computes attached to an export", "container", containerID, "err", err)
		return
	}
	if !shown {
		return
	}
	perms := make([]any, 0, len(computes))
	for _, p := range computes {
		if strings.HasPrefix(p, "/") {
			p = base + p
		}
		perms = append(perms, p)
	}
	spec["permissions"] = perms
}
