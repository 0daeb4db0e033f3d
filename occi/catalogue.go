package occi

import (
	"encoding/json"
	"fmt"
	"os"
)

// Catalogue lists the templates the provider offers: os_tpl mixins (images)
// and resource_tpl mixins (sizes). It is read from Config.Catalogue, a JSON
// file of this shape, or defaults to DefaultCatalogue.
type Catalogue struct {
	OSTemplates       []OSTemplate            `json:"os_templates"`
	ResourceTemplates []ResourceTemplateEntry `json:"resource_templates"`
}

// OSTemplate is one image offered as an os_tpl.
type OSTemplate struct {
	Term   string `json:"term"`
	Title  string `json:"title"`
	Source string `json:"source"` // where the compute backend finds the image
}

// ResourceTemplateEntry is one size offered as a resource_tpl.
type ResourceTemplateEntry struct {
	Term   string  `json:"term"`
	Title  string  `json:"title"`
	Cores  int     `json:"cores"`
	Memory float64 `json:"memory"` // GiB
	Disk   float64 `json:"disk"`   // GiB, 0 for the image's own size
}

// DefaultCatalogue is used when no catalogue file is configured: a small
// Linux image and three sizes.
//
// Its titles hold no comma: text/occi puts every Category in one
// comma-separated header, and rOCCI-core splits header values at every
// comma, inside quoted strings too, so a title with a comma breaks its
// text/occi exchanges (its text/plain ones are unaffected). Catalogue
// files should keep to the same rule; the server renders their titles as
// given.
var DefaultCatalogue = Catalogue{
	OSTemplates: []OSTemplate{
		{Term: "cirros", Title: "CirrOS 0.6.2 (small test Linux)", Source: "https://download.cirros-cloud.net/0.6.2/cirros-0.6.2-x86_64-disk.img"},
		{Term: "debian12", Title: "Debian 12 generic cloud image", Source: "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2"},
	},
	ResourceTemplates: []ResourceTemplateEntry{
		{Term: "small", Title: "Small: 1 core and 1 GiB", Cores: 1, Memory: 1, Disk: 10},
		{Term: "medium", Title: "Medium: 2 cores and 4 GiB", Cores: 2, Memory: 4, Disk: 20},
		{Term: "large", Title: "Large: 4 cores and 8 GiB", Cores: 4, Memory: 8, Disk: 40},
	},
}

// LoadCatalogue reads a catalogue file; "" gives the default.
func LoadCatalogue(path string) (Catalogue, error) {
	if path == "" {
		return DefaultCatalogue, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return Catalogue{}, fmt.Errorf("read catalogue: %w", err)
	}
	var c Catalogue
	if err := json.Unmarshal(raw, &c); err != nil {
		return Catalogue{}, fmt.Errorf("parse catalogue %s: %w", path, err)
	}
	return c, c.validate()
}

func (c Catalogue) validate() error {
	seen := map[string]bool{}
	for _, t := range c.OSTemplates {
		if !validTerm(t.Term) || seen["os:"+t.Term] {
			return fmt.Errorf("catalogue: os template term %q is invalid or repeated", t.Term)
		}
		seen["os:"+t.Term] = true
	}
	for _, t := range c.ResourceTemplates {
		if !validTerm(t.Term) || seen["res:"+t.Term] {
			return fmt.Errorf("catalogue: resource template term %q is invalid or repeated", t.Term)
		}
		if t.Cores < 1 || t.Memory <= 0 || t.Disk < 0 {
			return fmt.Errorf("catalogue: resource template %q needs cores >= 1 and memory > 0", t.Term)
		}
		seen["res:"+t.Term] = true
	}
	return nil
}

// osTemplateLocation is where os_tpl mixin collections live.
func osTemplateLocation(term string) string { return "/templates/os/" + term + "/" }

// categories turns the catalogue into mixins that depend on os_tpl or
// resource_tpl (GFD.224 §3.6).
func (c Catalogue) categories(kinds map[string]*Category) []*Category {
	var out []*Category
	for _, t := range c.OSTemplates {
		out = append(out, &Category{Scheme: SchemeOSTemplate, Term: t.Term, Title: t.Title, Class: ClassMixin,
			Depends: []string{MixinOSTpl}, Applies: []string{KindCompute},
			Location: osTemplateLocation(t.Term), Image: t.Source})
	}
	compute := kinds[KindCompute]
	for _, t := range c.ResourceTemplates {
		cores := *compute.Attr("occi.compute.cores")
		cores.Default = float64(t.Cores)
		memory := *compute.Attr("occi.compute.memory")
		memory.Default = t.Memory
		out = append(out, &Category{Scheme: SchemeResourceTplate, Term: t.Term, Title: t.Title, Class: ClassMixin,
			Depends: []string{MixinResourceTpl}, Applies: []string{KindCompute},
			Location:   "/templates/resource/" + t.Term + "/",
			Attributes: []Attribute{cores, memory},
			Template:   &ResourceTemplate{Cores: t.Cores, Memory: t.Memory, Disk: t.Disk}})
	}
	return out
}
