package cdmi

import (
	"context"
	"encoding/json"
	"io"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// Domain membership (CDMI 1.1.1 §10.1.3, §10.1.4). A domain's member
// records are the data objects in its cdmi_domain_members container (and
// in containers below it), each a JSON object:
//
//	{"cdmi_member_enabled": "true", "cdmi_member_type": "user",
//	 "cdmi_member_name": "alice", ...}
//
// A user acting on an object that belongs to a domain is a member of it
// when at least one record matches it and none of those is disabled
// (§10.1.4): a "user" record naming the user, a "group" record naming one
// of its groups (a role, or "project:<name>"), or a "delegation" record
// whose cdmi_delegation_URI names another domain (or its membership
// container) where it is a member. A domain with no records of its own
// takes its parent domain's (§10.1: a sub-domain inherits membership);
// one with none up to cdmi_domains/ admits everyone: membership is not
// set up. Anyone else gets 403. Administrators are not held to
// membership.
//
// What is not done: the server authenticates users itself, so
// cdmi_member_credentials is not checked, and the principal ACLs see is
// the authenticated one (cdmi_member_principal and cdmi_member_groups do
// not rename it or add groups); cdmi_member_privileges confer nothing;
// external delegations (ldap://, ad://) match no one.

// memberRecord is one member record's fields (§10.1.3 Tables).
type memberRecord struct {
	Enabled       string `json:"cdmi_member_enabled"`
	Type          string `json:"cdmi_member_type"`
	Name          string `json:"cdmi_member_name"`
	DelegationURI string `json:"cdmi_delegation_URI"`
}

// maxMemberRecord bounds what is read of one record.
const maxMemberRecord = 64 << 10

// maxDelegations bounds how deep delegations are followed.
const maxDelegations = 8

// checkMembership refuses who on an object of domain d unless it is a
// member (§10.1.4).
func (s *Service) checkMembership(ctx context.Context, who Principal, d *object) error {
	member, err := s.memberOf(ctx, who, d, 0)
	if err != nil {
		return err
	}
	if !member {
		return kind.Errorf(kind.Forbidden, "you are not a member of the domain this object belongs to (CDMI §10.1.4)")
	}
	return nil
}

// memberOf tells whether who is a member of domain d: by its records,
// else by its parent domain's.
func (s *Service) memberOf(ctx context.Context, who Principal, d *object, depth int) (bool, error) {
	for up := 0; d != nil && d.Type == typeDomain && d.ObjectID != s.domainsID; up++ {
		if up > 4096 {
			return false, nil
		}
		records, err := s.memberRecords(ctx, d)
		if err != nil {
			return false, err
		}
		if records != nil {
			return s.matchRecords(ctx, who, records, depth)
		}
		if d, err = s.byID(ctx, s.db, d.ParentID); err != nil {
			return false, err
		}
	}
	return true, nil // no records anywhere up: membership is not set up
}

// memberRecords reads d's records; nil when it has none (an unreadable
// record counts as one that matches no one).
func (s *Service) memberRecords(ctx context.Context, d *object) ([]memberRecord, error) {
	mc, err := s.child(ctx, s.db, d.ObjectID, membersName)
	if err != nil {
		if kind.Of(err) == kind.NotFound {
			return nil, nil
		}
		return nil, err
	}
	rows, err := s.subtree(ctx, s.db, mc.ObjectID)
	if err != nil {
		return nil, err
	}
	var out []memberRecord
	for _, r := range rows {
		if r.Type != typeDataObject {
			continue
		}
		var rec memberRecord
		if r.ValueKey != "" && r.Size <= maxMemberRecord {
			if err := s.readRecord(ctx, r.ValueKey, r.Size, &rec); err != nil {
				return nil, err
			}
		}
		out = append(out, rec)
	}
	return out, nil
}

// readRecord decodes one record's value; a value that is no record leaves
// rec empty (it matches no one). A backend failure is an error.
func (s *Service) readRecord(ctx context.Context, key string, size int64, rec *memberRecord) error {
	if size == 0 {
		return nil
	}
	rc, err := s.openRange(ctx, key, Range{First: 0, Last: size - 1})
	if err != nil {
		return err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxMemberRecord))
	if err != nil {
		return err
	}
	_ = json.Unmarshal(b, rec)
	return nil
}

// matchRecords applies §10.1.4: delegations first, then user and group
// records; a member has at least one matching record and no disabled one.
func (s *Service) matchRecords(ctx context.Context, who Principal, records []memberRecord, depth int) (bool, error) {
	matched := false
	for _, r := range records {
		if r.Type != "delegation" || r.DelegationURI == "" || depth >= maxDelegations {
			continue
		}
		d, err := s.delegatedDomain(ctx, r.DelegationURI)
		if err != nil || d == nil {
			continue // an external or broken delegation resolves no one
		}
		ok, err := s.memberOf(ctx, who, d, depth+1)
		if err != nil {
			return false, err
		}
		if ok {
			if r.Enabled != "true" {
				return false, nil
			}
			matched = true
		}
	}
	for _, r := range records {
		if r.Type == "user" && r.Name == who.Name || r.Type == "group" && who.inGroup(r.Name) {
			if r.Enabled != "true" {
				return false, nil
			}
			matched = true
		}
	}
	return matched, nil
}

// delegatedDomain is the domain a delegation URI names (the domain or its
// membership container); nil for anything else.
func (s *Service) delegatedDomain(ctx context.Context, uri string) (*object, error) {
	ctx = withoutViewer(ctx) // the server resolves delegations, whoever asks
	id, err := s.domainID(ctx, uri)
	if err != nil {
		mc, err2 := s.resolveURI(ctx, uri)
		if err2 != nil || mc.obj.Name != membersName || mc.parent == nil || mc.parent.Type != typeDomain {
			return nil, err
		}
		return mc.parent, nil
	}
	if id == "" {
		return nil, nil // the default domain has no members
	}
	return s.byID(ctx, s.db, id)
}
