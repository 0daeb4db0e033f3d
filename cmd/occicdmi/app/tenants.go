package app

// Tenants in OCCI: the authenticated principal becomes OCCI's caller, and
// the quota options become OCCI's per-project limits.

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/occicdmi/occicdmi/internal/auth"
	"github.com/occicdmi/occicdmi/occi"
)

// occiCaller is whom an OCCI call of the principal acts for. The project
// is the principal's stable key: Keystone's project ID when there is one
// (a project name is unique only within its domain, and may be renamed),
// else the project name the users file or the X.509 mapping gives. The
// administrator role sees every project.
func occiCaller(p *auth.Principal) occi.Caller {
	if p == nil {
		return occi.Caller{} // no project, not admin: OCCI refuses it
	}
	project := p.ProjectID
	if project == "" {
		project = p.Project
	}
	return occi.Caller{Project: project, Admin: p.Admin}
}

// checkQuotas reads the --quota-* options into c.quotas (fill calls it).
func (c *Config) checkQuotas() error {
	c.quotas = occi.Quotas{}
	def := occi.Limits{}
	for name, v := range map[string]string{occi.QuotaCores: c.QuotaCores, occi.QuotaMemory: c.QuotaMemory,
		occi.QuotaStorage: c.QuotaStorage, occi.QuotaInstances: c.QuotaInstances} {
		if strings.TrimSpace(v) == "" {
			continue
		}
		n, err := quotaLimit(name, v)
		if err != nil {
			return fmt.Errorf("--quota-%s: %w", name, err)
		}
		def[name] = n
	}
	if len(def) > 0 {
		c.quotas.Default = def
	}
	projects, err := parseProjectQuotas(c.QuotaProjects)
	if err != nil {
		return fmt.Errorf("--quota-projects: %w", err)
	}
	c.quotas.Projects = projects
	return nil
}

// parseProjectQuotas reads "project:name=limit,name=limit;project:...".
func parseProjectQuotas(s string) (map[string]occi.Limits, error) {
	out := map[string]occi.Limits{}
	for _, entry := range strings.Split(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		i := strings.LastIndex(entry, ":")
		if i <= 0 {
			return nil, fmt.Errorf("%q: want project:quota=limit[,quota=limit...]", entry)
		}
		project, list := strings.TrimSpace(entry[:i]), entry[i+1:]
		if out[project] != nil {
			return nil, fmt.Errorf("project %q is given twice", project)
		}
		limits := occi.Limits{}
		for _, kv := range strings.Split(list, ",") {
			name, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok {
				return nil, fmt.Errorf("%q of project %q: want quota=limit", kv, project)
			}
			n, err := quotaLimit(strings.TrimSpace(name), v)
			if err != nil {
				return nil, fmt.Errorf("project %q: %w", project, err)
			}
			limits[strings.TrimSpace(name)] = n
		}
		out[project] = limits
	}
	return out, nil
}

// quotaLimit reads one limit of the quota name: a number at least 0,
// whole for cores and instances.
func quotaLimit(name, v string) (float64, error) {
	known := false
	for _, q := range occi.QuotaNames {
		known = known || q == name
	}
	if !known {
		return 0, fmt.Errorf("unknown quota %q (want one of %s)", name, strings.Join(occi.QuotaNames, ", "))
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	switch {
	case err != nil || math.IsNaN(n) || math.IsInf(n, 0):
		return 0, fmt.Errorf("quota %s: %q is not a number", name, v)
	case n < 0:
		return 0, fmt.Errorf("quota %s: %q is negative", name, v)
	case (name == occi.QuotaCores || name == occi.QuotaInstances) && n != math.Trunc(n):
		return 0, fmt.Errorf("quota %s: %q is not a whole number", name, v)
	}
	return n, nil
}
