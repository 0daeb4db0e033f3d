package libvirt

import (
	"context"
	"strings"

	golibvirt "github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"
)

// descriptionPrefix and descriptionSuffix frame the OCCI id in the
// description of every domain this backend defines (domainSkeleton): the
// name may be a hash of the id, the description gives it back.
const (
	descriptionPrefix = "OCCI compute "
	descriptionSuffix = " (occicdmi)"
)

// Machines implements computebackends.Lister: the domains occicdmi
// defined (named occi-..., described with their id) with this backend's
// image folder (their console file is in it), running or not. A libvirtd
// shared with another deployment that keeps its images elsewhere does not
// have its machines listed here.
func (b *Backend) Machines(ctx context.Context, fn func(id string) error) error {
	var ids []string
	err := b.call(ctx, "list machines", "", func(l *golibvirt.Libvirt) error {
		doms, _, err := l.ConnectListAllDomains(1, golibvirt.ConnectListDomainsActive|golibvirt.ConnectListDomainsInactive)
		if err != nil {
			return err
		}
		for _, d := range doms {
			if !strings.HasPrefix(d.Name, "occi-") {
				continue
			}
			doc, err := l.DomainGetXMLDesc(d, 0)
			if err != nil {
				continue // undefined meanwhile
			}
			var dom libvirtxml.Domain
			if dom.Unmarshal(doc) != nil {
				continue
			}
			if !b.consoleIn(&dom) {
				continue
			}
			id, ok := strings.CutPrefix(dom.Description, descriptionPrefix)
			if id, ok2 := strings.CutSuffix(id, descriptionSuffix); ok && ok2 && DomainName(id) == d.Name {
				ids = append(ids, id)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := fn(id); err != nil {
			return err
		}
	}
	return nil
}

// consoleIn tells whether dom writes its serial console where this
// backend puts it.
func (b *Backend) consoleIn(dom *libvirtxml.Domain) bool {
	if dom.Devices == nil {
		return false
	}
	for _, s := range dom.Devices.Serials {
		if s.Source != nil && s.Source.File != nil && s.Source.File.Path == b.consolePath(dom.Name) {
			return true
		}
	}
	return false
}
