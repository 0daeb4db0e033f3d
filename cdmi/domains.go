package cdmi

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// Domains (CDMI 1.1.1 clause 10): objects of type domain below
// <root>/cdmi_domains/, made by a PUT of application/cdmi-domain (§10.2),
// read (§10.3), updated (§10.4) and deleted (§10.5). The server's own
// cdmi_domains/ and default/ are system objects. Every domain is made
// with a cdmi_domain_members/ container (§10.1.3) in which member records
// are data objects. An object belongs to the domain its domainURI named
// when it was written, else to its parent's (DomainID, "" for the default
// domain). A disabled domain (cdmi_domain_enabled not "true", §10.1.1)
// refuses every operation on what belongs to it with 403, but to
// administrators, who manage it; an enabled one admits its members
// (members.go).

// membersName is the membership container every domain holds (§10.1.3).
const membersName = "cdmi_domain_members"

// Domain metadata items of §10.1.1.
const (
	mdDomainEnabled  = "cdmi_domain_enabled"
	mdDomainReassign = "cdmi_domain_delete_reassign"
)

// bodyDomain reads a body's domainURI (§8.2.5, §9.2.5, §11.2.5): the
// objectID of the existing domain it names ("" for the default domain),
// nil when the body has none.
func (s *Server) bodyDomain(c *call, b *cdmiBody) (*string, error) {
	var uri string
	ok, err := b.field("domainURI", &uri)
	if err != nil || !ok {
		return nil, err
	}
	id, err := s.svc.domainID(c.ctx, uri)
	if err != nil {
		return nil, err
	}
	return &id, nil
}

// domainID resolves a domainURI to its domain's objectID, "" for the
// default domain. A URI naming no domain, or one the context's principal
// cannot see, is 400.
func (s *Service) domainID(ctx context.Context, uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", invalidf("domainURI %q is not a URI", uri)
	}
	p := u.EscapedPath()
	if !strings.HasPrefix(p, s.root+"/cdmi_domains/") {
		p = s.root + p
	}
	if !strings.HasPrefix(p, s.root+"/cdmi_domains/") {
		return "", invalidf("domainURI %q: a domain's URI starts with %s/cdmi_domains/ (§10.1)", uri, s.root)
	}
	t, err := s.locate(ctx, p, true)
	if err == nil && (t.obj == nil || t.obj.Type != typeDomain || t.obj.ObjectID == s.domainsID) {
		err = kind.Errorf(kind.NotFound, "no such domain")
	}
	if err != nil {
		if kind.Of(err) == kind.NotFound {
			return "", invalidf("domainURI %q names no domain", uri)
		}
		return "", err
	}
	if t.obj.ObjectID == s.defaultDomainID {
		return "", nil
	}
	if err := s.mayJoin(ctx, t.obj); err != nil {
		return "", err
	}
	return t.obj.ObjectID, nil
}

// mayJoin refuses to put objects in a domain the context's principal could
// not then use: a disabled one, or one it is no member of (§10.1.1,
// §10.1.4). Administrators may.
func (s *Service) mayJoin(ctx context.Context, d *object) error {
	who, ok := ctx.Value(viewerKey{}).(Principal)
	if !ok || who.System || who.Admin {
		return nil
	}
	if d.metadata()[mdDomainEnabled] != "true" {
		return kind.Errorf(kind.Forbidden, "the domain is disabled (CDMI §10.1.1 cdmi_domain_enabled)")
	}
	return s.checkMembership(ctx, who, d)
}

// domainURIOf is the domainURI field of o: its domain's path; a domain is
// its own (§10.2.6: "A domain object is always owned by itself").
func (s *Service) domainURIOf(ctx context.Context, o *object) (string, error) {
	switch {
	case o.Type == typeDomain:
		return s.uriOf(ctx, s.db, o)
	case o.DomainID == "":
		return s.root + "/cdmi_domains/default/", nil
	}
	d, err := s.byID(ctx, s.db, o.DomainID)
	if err != nil {
		return "", err
	}
	return s.uriOf(ctx, s.db, d)
}

// checkDomainEnabled refuses, for anyone but an administrator, an
// operation on what belongs to a disabled domain: the object the path
// names, or the container a new object would go into (§10.1.1).
func (s *Service) checkDomainEnabled(ctx context.Context, t *target) error {
	o := t.obj
	if o == nil {
		o = t.parent
	}
	if o == nil || o.DomainID == "" || o.Type == typeDomain {
		return nil
	}
	who, ok := ctx.Value(viewerKey{}).(Principal)
	if !ok || who.System || who.Admin {
		return nil
	}
	d, err := s.byID(ctx, s.db, o.DomainID)
	if err != nil {
		return err
	}
	if d.metadata()[mdDomainEnabled] != "true" {
		return kind.Errorf(kind.Forbidden, "the domain this object belongs to is disabled (CDMI §10.1.1 cdmi_domain_enabled)")
	}
	return s.checkMembership(ctx, who, d)
}

// handleDomainPut is a PUT below cdmi_domains/: a domain (§10.2, §10.4)
// for application/cdmi-domain, else an ordinary write (member records in
// a membership container), which the ordinary checks confine there.
func (s *Server) handleDomainPut(c *call) error {
	if mediaType(c.r) != ctDomain {
		return s.put(c, false)
	}
	t, err := s.svc.locate(c.ctx, c.r.URL.EscapedPath(), false)
	if err != nil {
		return err
	}
	switch {
	case t.obj != nil && t.obj.Type == typeDomain && !t.slash && !t.byID:
		return s.toSlash(c, t)
	case !t.slash:
		return invalidf("a domain's URI ends in '/' (§10.1); PUT %s/", t.path)
	case t.obj != nil && t.obj.Type != typeDomain:
		return invalidf("%s is a %s, not a domain", t.path, t.obj.Type)
	case t.obj != nil && t.obj.System:
		return invalidf("%s is maintained by the server and cannot be changed", t.path)
	case t.obj == nil && (t.parent == nil || t.parent.Type != typeDomain || t.parent.ObjectID == s.svc.defaultDomainID):
		return invalidf("domains are created in %s/cdmi_domains/ or in another domain (§10.2)", s.root)
	}
	b, err := s.readBody(c, 0)
	if err != nil {
		return err
	}
	defer b.Close()
	for _, f := range []string{"copy", "move", "deserialize", "deserializevalue"} {
		if b.has(f) {
			return s.svc.unsupported(typeDomain, "cdmi_"+f+"_domain")
		}
	}
	meta, err := domainMetadata(b)
	if err != nil {
		return err
	}
	o, created, err := s.svc.writeDomain(c.ctx, c.who, t, meta, c.q.args("metadata"))
	if err != nil {
		return err
	}
	if !created {
		c.w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return s.answerWrite(c, o, true) // §10.2.6
}

// domainMetadata reads a domain body's metadata: §10.1.1's items checked,
// the rest as on any object.
func domainMetadata(b *cdmiBody) (map[string]any, error) {
	meta, err := givenMetadata(b)
	if meta == nil || err != nil {
		return nil, err
	}
	rest := map[string]any{}
	for k, v := range meta {
		switch k {
		case mdDomainEnabled:
			if v != "true" && v != "false" {
				return nil, invalidf("metadata %s: want \"true\" or \"false\" (§10.1.1)", k)
			}
		case mdDomainReassign:
			if _, ok := v.(string); !ok {
				return nil, invalidf("metadata %s: want the URI of a domain (§10.1.1)", k)
			}
		default:
			rest[k] = v
		}
	}
	return meta, checkMetadata(rest)
}

// writeDomain creates the domain t names, with its membership container,
// or updates its metadata. Creating one needs ADD_SUBCONTAINER on the
// parent (§16.1.5): on cdmi_domains/, a system object, administrators
// only; on a domain, what its ACL grants.
func (s *Service) writeDomain(ctx context.Context, who Principal, t *target, meta map[string]any, metaNames []string) (*object, bool, error) {
	created := t.obj == nil
	if created {
		if err := s.require(typeDomain, "cdmi_create_domain"); err != nil {
			return nil, false, err
		}
		if err := s.allowed(who, t.parent, maskAppend); err != nil {
			return nil, false, err
		}
	} else {
		if err := s.require(typeDomain, "cdmi_modify_metadata"); err != nil {
			return nil, false, err
		}
		if err := s.allowed(who, t.obj, writeMask(false, meta)); err != nil {
			return nil, false, err
		}
	}
	var id string
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		var err error
		if created {
			id, err = s.createDomain(ctx, tx, who, t, meta)
			return err
		}
		id = t.obj.ObjectID
		cur, err := s.byID(ctx, tx, id)
		if err != nil {
			return err
		}
		if meta != nil {
			cur.setMetadata(mergeMetadata(cur.metadata(), meta, metaNames))
		}
		now := time.Now().UTC()
		cur.MTime, cur.ATime, cur.MCount, cur.ACount = now, now, cur.MCount+1, cur.ACount+1 // a write is an access (§16.3)
		return tx.Save(cur).Error
	})
	if err != nil {
		if kind.Of(err) == kind.Exists || kind.Of(err) == kind.Conflict {
			return nil, false, kind.Errorf(kind.Conflict, "%s exists already", t.path)
		}
		return nil, false, err
	}
	o, err := s.byID(ctx, s.db, id)
	return o, created, err
}

// createDomain inserts a new domain and its membership container in tx.
// A domain made without cdmi_domain_enabled is disabled (§10.1.1).
func (s *Service) createDomain(ctx context.Context, tx *gorm.DB, who Principal, t *target, meta map[string]any) (string, error) {
	now := time.Now().UTC()
	ids := [2]string{}
	for i := range ids {
		var err error
		if ids[i], err = newObjectID(s.cfg.EnterpriseNumber); err != nil {
			return "", err
		}
	}
	d := object{ObjectID: ids[0], ParentID: t.parent.ObjectID, Name: t.name, Type: typeDomain, Owner: who.Name,
		Completion: "Complete", CTime: now, MTime: now, ATime: now}
	md := map[string]any{"cdmi_acl": s.inheritedACL(ctx, tx, t.parent, true), mdDomainEnabled: "false"}
	d.setMetadata(mergeMetadata(md, meta, nil))
	if err := tx.Create(&d).Error; err != nil {
		return "", err
	}
	m := object{ObjectID: ids[1], ParentID: d.ObjectID, Name: membersName, Type: typeContainer, Owner: who.Name,
		Completion: "Complete", CTime: now, MTime: now, ATime: now, DomainID: d.ObjectID}
	m.setMetadata(map[string]any{"cdmi_acl": s.inheritedACL(ctx, tx, &d, true)})
	return d.ObjectID, tx.Create(&m).Error
}

// domainDelete is what deleting a domain does to the objects that belong
// to it or to a domain below it (§10.5, cdmi_domain_delete_reassign).
type domainDelete struct {
	ids      []string // the domains deleted
	to       string   // the domain their objects go to
	reassign bool     // cdmi_domain_delete_reassign names one
}

// prepareDomainDelete finds, outside the transaction, the domains a
// delete of o removes and where their objects go.
func (s *Service) prepareDomainDelete(ctx context.Context, o *object) (*domainDelete, error) {
	if o.Type != typeDomain {
		return nil, nil
	}
	rows, err := s.subtree(ctx, s.db, o.ObjectID)
	if err != nil {
		return nil, err
	}
	dd := &domainDelete{}
	for _, r := range rows {
		if r.Type == typeDomain {
			dd.ids = append(dd.ids, r.ObjectID)
		}
	}
	uri, _ := o.metadata()[mdDomainReassign].(string)
	if uri == "" {
		return dd, nil
	}
	if dd.to, err = s.domainID(ctx, uri); err != nil {
		return nil, invalidf("%s: %v", mdDomainReassign, err)
	}
	for _, id := range dd.ids {
		if id == dd.to {
			return nil, invalidf("%s %q names a domain this delete removes", mdDomainReassign, uri)
		}
	}
	dd.reassign = true
	return dd, nil
}

// apply moves, in tx, once the domains' own rows are gone, the objects
// that belonged to them to the reassignment domain; without one, a domain
// that holds objects is not deleted (§10.1.1: 400).
func (dd *domainDelete) apply(tx *gorm.DB) error {
	if dd == nil || len(dd.ids) == 0 {
		return nil
	}
	var n int64
	if err := tx.Model(&object{}).Where("domain_id IN ?", dd.ids).Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	if !dd.reassign {
		return invalidf("the domain holds %d objects: set its metadata %s to the URI of the domain they go to (CDMI §10.1.1)", n, mdDomainReassign)
	}
	return tx.Model(&object{}).Where("domain_id IN ?", dd.ids).Update("domain_id", dd.to).Error
}
