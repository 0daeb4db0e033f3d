package occi

import (
	"context"

	"gorm.io/gorm"

	"github.com/occicdmi/occicdmi/internal/kind"
)

// Caller is who a service call acts for, as OCCI sees it: the project
// (tenant) whose entities it sees and touches, and whether it is an
// administrator, who sees and touches every project's. The server maps its
// authenticated principal to a Caller (WithCaller); OCCI knows nothing of
// how the principal was found.
//
// Entities and user mixins belong to a project: a resource or user mixin
// to the project of the caller that made it, a link to the project of its
// source resource (so that a link an administrator adds to a tenant's
// compute is the tenant's). Another project's entity or mixin is, for a
// caller who is not an administrator, as if it did not exist: NotFound
// where it is named, absent from listings and from the query interface.
//
// Locations, ids and mixin type identifiers are one namespace for the
// whole server: a client-chosen one that another project already uses is
// refused (Conflict) as one of the caller's own would be, without showing
// anything of it.
type Caller struct {
	Project string
	Admin   bool
}

type callerKey struct{}

// WithCaller returns a context under which service calls act for c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom answers the Caller of ctx (WithCaller), and false when there
// is none.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// callerOf is whom a call acts for: a context without a Caller is the
// server itself (the linkage, tools, tests of the service), an
// administrator in no project.
func callerOf(ctx context.Context) Caller {
	if c, ok := CallerFrom(ctx); ok {
		return c
	}
	return Caller{Admin: true}
}

// check refuses a caller that is in no project and not an administrator:
// it owns nothing and could make nothing anyone could find.
func (c Caller) check() error {
	if !c.Admin && c.Project == "" {
		return kind.New(kind.Forbidden, "OCCI needs credentials scoped to a project")
	}
	return nil
}

// ownMixins refuses user mixins of another project than project on an
// entity of project: its owners would not see them. Only an administrator
// sees other projects' mixins, so only its requests get here.
func (o *op) ownMixins(project string, mixins []string) error {
	for _, id := range mixins {
		if c := o.m.user[id]; c != nil && c.project != project {
			return kind.Errorf(kind.Invalid, "mixin %s belongs to another project than the entity (%q)", id, project)
		}
	}
	return nil
}

// scope is whose entities a store read sees.
type scope struct {
	all     bool   // every project's (an administrator, or the server's own bookkeeping)
	project string // else this project's only
}

// everyone sees every project's rows: uniqueness checks and the links that
// go with a deleted resource.
var everyone = scope{all: true}

func (c Caller) scope() scope { return scope{all: c.Admin, project: c.Project} }

// where narrows a query on a table with a project column.
func (sc scope) where(q *gorm.DB) *gorm.DB {
	if sc.all {
		return q
	}
	return q.Where("project = ?", sc.project)
}
