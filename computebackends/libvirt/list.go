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
// defined (named occi-..., described with their id), running or not.
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
