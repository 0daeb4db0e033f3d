package app

import (
	"context"
	"net/http"

	"github.com/occicdmi/occicdmi/cdmi"
	"github.com/occicdmi/occicdmi/internal/auth"
)

// ProjectGroupPrefix starts the CDMI group name of a principal's project:
// an ACE with IDENTIFIER_GROUP and identifier "project:demo" names every
// user acting in project demo (CDMI 1.1.1 §16.1.3, §16.1.4). Roles are
// groups under their own names ("member", "reader"); the prefix keeps a
// project and a role of the same name ("admin") apart.
const ProjectGroupPrefix = "project:"

// cdmiPrincipal is who a CDMI request acts for, from the principal the
// authentication middleware put in its context: the user's name (what
// OWNER@ and named-user ACEs match; cdmi_owner of what it creates), its
// roles and its project as groups, and Admin for the administrator role
// (ADMINISTRATOR@; an administrator is not held to ACLs). A request
// without a principal is anonymous (ANONYMOUS@); with authentication on,
// none reaches CDMI, and development mode gives every request the
// administrator.
func cdmiPrincipal(r *http.Request) cdmi.Principal { return cdmiPrincipalOf(r.Context()) }

// cdmiPrincipalOf is cdmiPrincipal for a request's context: the linkage
// asks it for OCCI requests.
func cdmiPrincipalOf(ctx context.Context) cdmi.Principal {
	p, ok := auth.FromContext(ctx)
	if !ok {
		return cdmi.Principal{Anon: true}
	}
	if p == devPrincipal {
		return devCDMIPrincipal // every request of development mode: made once
	}
	return cdmiPrincipalFor(p)
}

// devCDMIPrincipal is development mode's administrator in CDMI (its groups
// are only read).
var devCDMIPrincipal = cdmiPrincipalFor(devPrincipal)

func cdmiPrincipalFor(p *auth.Principal) cdmi.Principal {
	groups := append([]string(nil), p.Roles...)
	if p.Project != "" {
		groups = append(groups, ProjectGroupPrefix+p.Project)
	}
	return cdmi.Principal{Name: p.User, Groups: groups, Admin: p.Admin}
}
